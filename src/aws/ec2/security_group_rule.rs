//! `ec2_security_group_rule`: one ingress or egress rule of a security group. Id = the rule id
//! (`sgr-…`).
//!
//! Create: AuthorizeSecurityGroupIngress/Egress with one permission and TagSpecifications for
//! the rule; the answer carries the new rule's id. `InvalidPermission.Duplicate` (the rule
//! exists — a re-run after a crash, or created by hand) → find the identical rule and adopt
//! it: tag it as ours and bring its description to the plan's. A duplicate already owned by
//! another kprov address is an error (two declarations of one rule).
//! Update: description via ModifySecurityGroupRules (which needs the whole rule, taken from
//! the prior state since everything else is force_new), tags via Create/DeleteTags.
//! Read: one DescribeSecurityGroupRules for all ids (`security-group-rule-id` filter).
//! Delete: Revoke… by rule id (not by permission, which would need the exact description).

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroupRule as RuleItem, SecurityGroupRuleRequest,
    SecurityGroupRuleUpdate, Tag, UserIdGroupPair,
};

use super::common::{self, filter, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

pub struct SecurityGroupRule {
    client: Client,
    schema: Schema,
}

/// A rule's definition, validated: what Authorize takes and what identifies a duplicate.
#[derive(Debug, Clone, PartialEq)]
struct RuleDef {
    group_id: String,
    egress: bool,
    protocol: String,
    from_port: i32,
    to_port: i32,
    source: Source,
    description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Source {
    Cidr(String),
    Group(String),
}

/// What is wrong with a rule's combination of attributes, if anything (each attribute's own
/// values are schema constraints). `attrs` is the declared shape: a value not known yet is
/// `null` (it counts as set). AWS: AuthorizeSecurityGroupIngress (EC2 API Reference) takes
/// ports for tcp/udp, ICMP type/code for icmp, and none for `-1` (all traffic); one source
/// (a CIDR or a group) per permission entry.
fn rule_problem(attrs: &Attrs) -> Result<(), String> {
    let int = |k: &str| attrs.get(k).and_then(Value::as_i64);
    let set = |k: &str| attrs.get(k).is_some();
    match attrs.get("protocol").and_then(Value::as_str) {
        Some("tcp" | "udp") => {
            for k in ["from_port", "to_port"] {
                if !set(k) {
                    return Err(format!("`{k}` is needed: protocol tcp and udp take from_port and to_port"));
                }
            }
            match (int("from_port"), int("to_port")) {
                (Some(f), _) if f < 0 => return Err(format!("`from_port` {f} must be 0–65535 for tcp and udp")),
                (Some(f), Some(t)) if t < f => {
                    return Err(format!("`to_port` {t} is below from_port {f}: the range is from_port to to_port"))
                }
                _ => {}
            }
        }
        // All traffic: AWS reports the ports as -1 whatever was sent, so anything else would
        // show as a change forever.
        Some("-1") => {
            for k in ["from_port", "to_port"] {
                if int(k).is_some_and(|p| p != -1) {
                    return Err(format!("`{k}`: protocol \"-1\" (all traffic) takes no ports (or -1)"));
                }
            }
        }
        _ => {}
    }
    match (set("cidr_ipv4"), set("source_security_group_id")) {
        (true, false) | (false, true) => Ok(()),
        (true, true) => Err("`source_security_group_id`: set cidr_ipv4 or source_security_group_id, not both".into()),
        (false, false) => {
            Err("set one of cidr_ipv4 and source_security_group_id (where the traffic comes from)".into())
        }
    }
}

impl RuleDef {
    /// The rule of a spec that passed the schema's constraints and [`rule_problem`] (the
    /// engine checks both before calling create).
    fn from_spec(spec: &Spec) -> Result<Self, ResourceError> {
        let egress = spec.req_str("type")? == "egress";
        let protocol = spec.req_str("protocol")?;
        let port = |name: &str| spec.i64(name).and_then(|p| i32::try_from(p).ok()).unwrap_or(-1);
        let (from_port, to_port) = match protocol {
            "-1" => (-1, -1),
            _ => (port("from_port"), port("to_port")),
        };
        let source = match (spec.str("cidr_ipv4"), spec.str("source_security_group_id")) {
            (Some(c), _) => Source::Cidr(c.to_string()),
            (None, Some(g)) => Source::Group(g.to_string()),
            (None, None) => return Err(ResourceError::invalid(format!("{}: the rule has no source", spec.address))),
        };
        Ok(RuleDef {
            group_id: spec.req_str("security_group_id")?.to_string(),
            egress,
            protocol: protocol.to_string(),
            from_port,
            to_port,
            source,
            description: spec.str("description").map(str::to_string),
        })
    }

    fn permission(&self) -> IpPermission {
        let p = IpPermission::builder().ip_protocol(&self.protocol).from_port(self.from_port).to_port(self.to_port);
        match &self.source {
            Source::Cidr(c) => {
                p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(self.description.clone()).build())
            }
            Source::Group(g) => p.user_id_group_pairs(
                UserIdGroupPair::builder().group_id(g).set_description(self.description.clone()).build(),
            ),
        }
        .build()
    }

    /// Is `r` the rule this definition describes (ignoring description and tags)?
    fn matches(&self, r: &RuleItem) -> bool {
        let source = match (r.cidr_ipv4(), r.referenced_group_info().and_then(|g| g.group_id())) {
            (Some(c), _) => Source::Cidr(c.to_string()),
            (None, Some(g)) => Source::Group(g.to_string()),
            _ => return false,
        };
        let ports_match = self.protocol == "-1"
            || (r.from_port().unwrap_or(-1) == self.from_port && r.to_port().unwrap_or(-1) == self.to_port);
        r.group_id() == Some(self.group_id.as_str())
            && r.is_egress() == Some(self.egress)
            && r.ip_protocol() == Some(self.protocol.as_str())
            && ports_match
            && source == self.source
    }
}

impl SecurityGroupRule {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("security_group_id", AttrType::String).force_new(),
            AttrSchema::required("type", AttrType::String)
                .force_new()
                .one_of(&["ingress", "egress"])
                .doc("`ingress` or `egress`."),
            // IpProtocol: a name or number; kprov takes the four the diff understands.
            AttrSchema::required("protocol", AttrType::String)
                .force_new()
                .one_of(&["tcp", "udp", "icmp", "-1"])
                .doc("`tcp`, `udp`, `icmp` or `-1` (all)."),
            // Ports 0–65535, ICMP type/code -1–255, -1 = all (EC2 API Reference, IpPermission).
            AttrSchema::optional("from_port", AttrType::Int).force_new().range(-1, 65535),
            AttrSchema::optional("to_port", AttrType::Int).force_new().range(-1, 65535),
            AttrSchema::optional("cidr_ipv4", AttrType::String)
                .force_new()
                .constraint(Constraint::Cidr { min_prefix: 0, max_prefix: 32 }),
            AttrSchema::optional("source_security_group_id", AttrType::String).force_new(),
            // Rule descriptions: up to 255 characters (EC2 API Reference, IpRange).
            AttrSchema::optional("description", AttrType::String).constraint(Constraint::Name {
                min: 0,
                max: 255,
                chars: |c| !c.is_control(),
                chars_doc: "printable characters",
            }),
            tags_attr(),
        ]);
        SecurityGroupRule { client, schema }
    }

    async fn describe_raw(&self, filters: Vec<Filter>) -> Result<Vec<RuleItem>, ResourceError> {
        self.client
            .describe_security_group_rules()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeSecurityGroupRules")
    }

    /// ModifySecurityGroupRules wants the complete rule; only the description changes.
    async fn set_description(&self, id: &str, attrs: &Attrs, description: &str) -> Result<(), ResourceError> {
        let s = |k: &str| attrs.get(k).and_then(Value::as_str);
        let port = |k: &str| attrs.get(k).and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()).unwrap_or(-1);
        let group_id = s("security_group_id")
            .ok_or_else(|| ResourceError::invalid(format!("security group rule {id}: unknown security group")))?;
        let request = SecurityGroupRuleRequest::builder()
            .set_ip_protocol(s("protocol").map(str::to_string))
            .from_port(port("from_port"))
            .to_port(port("to_port"))
            .set_cidr_ipv4(s("cidr_ipv4").map(str::to_string))
            .set_referenced_group_id(s("source_security_group_id").map(str::to_string))
            .description(description)
            .build();
        self.client
            .modify_security_group_rules()
            .group_id(group_id)
            .security_group_rules(
                SecurityGroupRuleUpdate::builder().security_group_rule_id(id).security_group_rule(request).build(),
            )
            .send()
            .await
            .or_aws("ModifySecurityGroupRules")?;
        Ok(())
    }

    /// After `InvalidPermission.Duplicate`: take over the identical existing rule.
    async fn adopt(&self, cx: &Cx, spec: &Spec, def: &RuleDef, dup: ResourceError) -> Result<String, ResourceError> {
        let rules = self.describe_raw(vec![filter("group-id", [def.group_id.as_str()])]).await?;
        let Some(rule) = rules.iter().find(|r| def.matches(r)) else {
            return Err(dup);
        };
        let Some(id) = rule.security_group_rule_id() else {
            return Err(dup);
        };
        let f =
            to_found(rule).ok_or_else(|| ResourceError::unexpected("DescribeSecurityGroupRules", "rule without id"))?;
        let address = spec.address.to_string();
        if let Some(other) = f.obs.owner_address.as_deref().filter(|a| *a != address) {
            return Err(ResourceError::invalid(format!(
                "{address}: the same rule already exists as {other} ({id}); declare it once"
            )));
        }
        // Make it ours: ownership + user tags (CreateTags overwrites values), then the plan's
        // description.
        let mut tags = common::user_tags(spec)?;
        tags.extend(cx.ownership_tags(&spec.address));
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.client.create_tags().resources(id).set_tags(Some(tags)).send().await.or_aws("CreateTags")?;
        if let Some(d) = &def.description {
            if rule.description() != Some(d.as_str()) {
                self.set_description(id, &f.obs.attrs, d).await?;
            }
        }
        Ok(id.to_string())
    }
}

fn to_found(r: &RuleItem) -> Option<Found> {
    let id = r.security_group_rule_id()?;
    let mut attrs = Attrs::new();
    put_str(&mut attrs, "security_group_id", r.group_id());
    put_str(&mut attrs, "type", r.is_egress().map(|e| if e { "egress" } else { "ingress" }));
    put_str(&mut attrs, "protocol", r.ip_protocol());
    for (name, port) in [("from_port", r.from_port()), ("to_port", r.to_port())] {
        if let Some(p) = port {
            attrs.insert(name.into(), Value::from(p));
        }
    }
    put_str(&mut attrs, "cidr_ipv4", r.cidr_ipv4());
    put_str(&mut attrs, "source_security_group_id", r.referenced_group_info().and_then(|g| g.group_id()));
    put_str(&mut attrs, "description", r.description());
    Some(found(id, attrs, r.tags()))
}

#[async_trait::async_trait]
impl Describe for SecurityGroupRule {
    const ID_FILTER: &'static str = "security-group-rule-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        Ok(self.describe_raw(filters).await?.iter().filter_map(to_found).collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for SecurityGroupRule {
    fn kind(&self) -> &'static str {
        "ec2_security_group_rule"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        rule_problem(declared)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let def = RuleDef::from_spec(spec)?;
        let tags = common::tag_spec(ResourceType::SecurityGroupRule, cx, spec)?;
        let (operation, r) = if def.egress {
            let r = self
                .client
                .authorize_security_group_egress()
                .group_id(&def.group_id)
                .ip_permissions(def.permission())
                .tag_specifications(tags)
                .send()
                .await
                .map(|o| o.security_group_rules().to_vec());
            ("AuthorizeSecurityGroupEgress", r.or_aws("AuthorizeSecurityGroupEgress"))
        } else {
            let r = self
                .client
                .authorize_security_group_ingress()
                .group_id(&def.group_id)
                .ip_permissions(def.permission())
                .tag_specifications(tags)
                .send()
                .await
                .map(|o| o.security_group_rules().to_vec());
            ("AuthorizeSecurityGroupIngress", r.or_aws("AuthorizeSecurityGroupIngress"))
        };
        let id = match r {
            Ok(rules) => {
                let rule = rules.iter().find(|r| def.matches(r)).or(rules.first());
                common::required(rule.and_then(|r| r.security_group_rule_id()), operation, "security group rule id")?
                    .to_string()
            }
            Err(e) if e.code() == Some("InvalidPermission.Duplicate") => self.adopt(cx, spec, &def, e).await?,
            Err(e) => return Err(e),
        };
        let created = common::read_back(self, cx, &id).await?;
        // The description was sent with the permission. Should the rule not show it (moto drops
        // the description of rules that reference a security group), set it explicitly so the
        // next plan does not show a change; on AWS this costs nothing.
        match &def.description {
            Some(d) if created.attrs.get("description").and_then(Value::as_str) != Some(d.as_str()) => {
                self.set_description(&id, &created.attrs, d).await?;
                common::read_back(self, cx, &id).await
            }
            _ => Ok(created),
        }
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        if let Some(d) = spec.str("description") {
            if prior.attrs.get("description").and_then(Value::as_str) != Some(d) {
                self.set_description(&prior.id, &prior.attrs, d).await?;
            }
        }
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // The group and direction come from the prior state; if it lacks them, from AWS.
        let s = |k: &str| prior.attrs.get(k).and_then(Value::as_str).map(str::to_string);
        let (group_id, kind) = match (s("security_group_id"), s("type")) {
            (Some(g), Some(t)) => (g, t),
            _ => match self.describe(vec![filter(Self::ID_FILTER, [prior.id.as_str()])]).await?.into_iter().next() {
                None => return Ok(()),
                Some(f) => {
                    let get = |k: &str| f.obs.attrs.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    (get("security_group_id"), get("type"))
                }
            },
        };
        let r = if kind == "egress" {
            self.client
                .revoke_security_group_egress()
                .group_id(&group_id)
                .security_group_rule_ids(&prior.id)
                .send()
                .await
                .map(|_| ())
                .or_aws("RevokeSecurityGroupEgress")
        } else {
            self.client
                .revoke_security_group_ingress()
                .group_id(&group_id)
                .security_group_rule_ids(&prior.id)
                .send()
                .await
                .map(|_| ())
                .or_aws("RevokeSecurityGroupIngress")
        };
        // Rule or whole group gone (`InvalidSecurityGroupRuleId.NotFound`,
        // `InvalidPermission.NotFound`, `InvalidGroup.NotFound`): nothing left to revoke.
        not_found_as_none(r).map(|_| ())
    }

    /// Rules carrying the stack's tags, and also the untagged rules inside the stack's own
    /// security groups: a rule added to one of them outside kprov changes what the group lets
    /// through, so drift must see it (as unmanaged, `owner_address` None — never adopted).
    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let mut owned = common::find_by_owner(self, &cx.owner).await?;
        let groups: Vec<String> = self
            .client
            .describe_security_groups()
            .set_filters(Some(common::owner_filters(&cx.owner)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeSecurityGroups")?
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        if groups.is_empty() {
            return Ok(owned);
        }
        for f in self.describe_raw(vec![filter("group-id", groups)]).await?.iter().filter_map(to_found) {
            if f.stack.is_none() && !owned.iter().any(|o| o.id == f.obs.id) {
                owned.push(f.obs);
            }
        }
        Ok(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;
    use serde_json::json;

    fn spec(attrs: Value) -> Spec {
        let attrs = attrs.as_object().cloned().unwrap_or_default().into_iter().collect();
        Spec { address: Address::new("ec2_security_group_rule", "r", None), attrs, client_token: "t".into() }
    }

    #[test]
    fn validates_rules() {
        let ok = spec(json!({"security_group_id": "sg-1", "type": "ingress", "protocol": "tcp",
                             "from_port": 443, "to_port": 443, "cidr_ipv4": "10.0.0.0/8"}));
        assert_eq!(rule_problem(&ok.attrs), Ok(()));
        let def = RuleDef::from_spec(&ok).expect("valid");
        assert_eq!((def.from_port, def.to_port), (443, 443));

        let all = spec(json!({"security_group_id": "sg-1", "type": "egress", "protocol": "-1",
                              "source_security_group_id": "sg-2"}));
        assert_eq!(rule_problem(&all.attrs), Ok(()));
        assert_eq!(RuleDef::from_spec(&all).expect("valid").from_port, -1);

        // A source not known until apply is `null` in the declared shape: it counts as set.
        let unknown = json!({"type": "ingress", "protocol": "tcp", "from_port": 1, "to_port": 2, "cidr_ipv4": null});
        assert_eq!(rule_problem(&spec(unknown).attrs), Ok(()));

        for (bad, attr) in [
            (json!({"protocol": "tcp", "cidr_ipv4": "0.0.0.0/0"}), "`from_port`"),
            (json!({"protocol": "tcp", "from_port": 2, "to_port": 1, "cidr_ipv4": "0.0.0.0/0"}), "`to_port`"),
            (json!({"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_ipv4": "0.0.0.0/0"}), "`from_port`"),
            (json!({"protocol": "-1"}), "set one of"),
            (
                json!({"protocol": "-1", "cidr_ipv4": "0.0.0.0/0", "source_security_group_id": "sg-2"}),
                "`source_security_group_id`",
            ),
        ] {
            let m = rule_problem(&spec(bad.clone()).attrs).expect_err("refused");
            assert!(m.starts_with(attr), "{bad}: {m}");
        }
        let registry = crate::aws::offline_registry();
        let schema = registry.schema("ec2_security_group_rule").expect("kind");
        for (attr, v) in [
            ("type", json!("inbound")),
            ("protocol", json!("tpc")),
            ("from_port", json!(70000)),
            ("cidr_ipv4", json!("0.0.0.0/33")),
        ] {
            let got = schema.get(attr).expect("attr").check(&v, None);
            assert_eq!(got.len(), 1, "{attr} = {v}");
        }
    }
}
