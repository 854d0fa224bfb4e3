//! `ec2_security_group`: a VPC security group without inline rules; every rule is an
//! `ec2_security_group_rule` of its own.
//!
//! Create: CreateSecurityGroup (tagged at creation), then revoke the allow-all egress rule AWS
//! adds to every new group — as Terraform does — so the only rules are the declared ones.
//! CreateSecurityGroup has no client token; a re-run that hits `InvalidGroup.Duplicate` looks
//! the group up by name and VPC and adopts it only if its `kprov:address` tag says it is this
//! very resource; a group adopted after a crash gets the revoke too (`resume_create`).
//! Read: one DescribeSecurityGroups for all ids (`group-id` filter).
//! Delete: DeleteSecurityGroup, retried while network interfaces still use the group.

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType};
use serde_json::json;

use super::common::{self, filter, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::SdkResultExt;
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec,
};

pub struct SecurityGroup {
    client: Client,
    schema: Schema,
}

const SG_CHARS: &str = "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*";

fn sg_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

impl SecurityGroup {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // CreateSecurityGroup (EC2 API Reference): GroupName and GroupDescription up to 255
            // characters, in a VPC "a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*"; the
            // name cannot start with `sg-`.
            AttrSchema::required("name", AttrType::String)
                .force_new()
                .constraint(Constraint::Name { min: 1, max: 255, chars: sg_char, chars_doc: SG_CHARS })
                .constraint(Constraint::NotPrefix("sg-")),
            AttrSchema::optional("description", AttrType::String)
                .default(json!("Managed by kprov"))
                .force_new()
                .constraint(Constraint::Name { min: 0, max: 255, chars: sg_char, chars_doc: SG_CHARS }),
            AttrSchema::required("vpc_id", AttrType::String).force_new(),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        SecurityGroup { client, schema }
    }

    /// Remove the `-1 → 0.0.0.0/0` egress rule AWS creates with the group. Already gone (a
    /// re-run) is fine.
    async fn revoke_default_egress(&self, group_id: &str) -> Result<(), ResourceError> {
        let allow_all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let r = self
            .client
            .revoke_security_group_egress()
            .group_id(group_id)
            .ip_permissions(allow_all)
            .send()
            .await
            .or_aws("RevokeSecurityGroupEgress");
        match r {
            Err(e) if e.code() == Some("InvalidPermission.NotFound") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// After `InvalidGroup.Duplicate`: the existing group's id, if it is this resource.
    async fn adoptable(&self, cx: &Cx, spec: &Spec) -> Result<Option<String>, ResourceError> {
        let found = self
            .describe(vec![filter("vpc-id", [spec.req_str("vpc_id")?]), filter("group-name", [spec.req_str("name")?])])
            .await?;
        let address = spec.address.to_string();
        Ok(found
            .into_iter()
            .find(|f| f.owned_by(&cx.owner) && f.obs.owner_address.as_deref() == Some(address.as_str()))
            .map(|f| f.obs.id))
    }
}

#[async_trait::async_trait]
impl Describe for SecurityGroup {
    const ID_FILTER: &'static str = "group-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let groups: Vec<_> = self
            .client
            .describe_security_groups()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeSecurityGroups")?;
        Ok(groups
            .iter()
            .filter_map(|g| {
                let id = g.group_id()?;
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "name", g.group_name());
                put_str(&mut attrs, "description", g.description());
                put_str(&mut attrs, "vpc_id", g.vpc_id());
                let arn = g
                    .security_group_arn()
                    .map(str::to_string)
                    .or_else(|| common::ec2_arn(&self.client, g.owner_id(), "security-group", id));
                put_str(&mut attrs, "arn", arn.as_deref());
                Some(found(id, attrs, g.tags()))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for SecurityGroup {
    fn kind(&self) -> &'static str {
        "ec2_security_group"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let r = self
            .client
            .create_security_group()
            .group_name(spec.req_str("name")?)
            .description(spec.str("description").unwrap_or("Managed by kprov"))
            .vpc_id(spec.req_str("vpc_id")?)
            .tag_specifications(common::tag_spec(ResourceType::SecurityGroup, cx, spec)?)
            .send()
            .await
            .or_aws("CreateSecurityGroup");
        let id = match r {
            Ok(out) => common::required(out.group_id(), "CreateSecurityGroup", "group id")?.to_string(),
            Err(e) if e.code() == Some("InvalidGroup.Duplicate") => match self.adoptable(cx, spec).await? {
                Some(id) => id,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        // Also on adoption: the crash may have come between create and revoke. Right after
        // CreateSecurityGroup the group may not be visible yet: InvalidGroup.NotFound, waited
        // out by the connector (`aws::consistency`).
        self.revoke_default_egress(&id).await?;
        common::read_back(self, cx, &id).await
    }

    /// A group adopted after a crash between CreateSecurityGroup and the revoke still has
    /// AWS's allow-all egress rule, which no plan declares and `plan` cannot see (the rules
    /// are resources of their own): revoke it, as `create` does. Its own rules are created
    /// after this (they depend on the group), so no declared rule is touched.
    ///
    /// Only the *untagged* allow-all egress rule goes, by its rule id: a declared
    /// `ec2_security_group_rule` with the same permission carries ownership tags and stays (a
    /// state rebuilt from scratch can hold the group and its rules as intents at once).
    async fn resume_create(&self, cx: &Cx, _spec: &Spec, found: &Observed) -> Result<Observed, ResourceError> {
        let rules: Vec<_> = self
            .client
            .describe_security_group_rules()
            .filters(filter("group-id", [found.id.as_str()]))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeSecurityGroupRules")?;
        let default_egress: Vec<String> = rules
            .iter()
            .filter(|r| {
                r.is_egress() == Some(true) && r.ip_protocol() == Some("-1") && r.cidr_ipv4() == Some("0.0.0.0/0")
            })
            .filter(|r| !r.tags().iter().any(|t| t.key() == Some(crate::resource::TAG_STACK)))
            .filter_map(|r| r.security_group_rule_id().map(str::to_string))
            .collect();
        if !default_egress.is_empty() {
            let r = self
                .client
                .revoke_security_group_egress()
                .group_id(&found.id)
                .set_security_group_rule_ids(Some(default_egress))
                .send()
                .await
                .or_aws("RevokeSecurityGroupEgress");
            match r {
                Err(e) if e.code() == Some("InvalidPermission.NotFound") => {}
                r => {
                    r?;
                }
            }
        }
        common::read_back(self, cx, &found.id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Network interfaces still using it (DependencyViolation, InvalidGroup.InUse): waited
        // out by the connector (`aws::consistency`).
        common::delete_ok_if_gone(async {
            self.client.delete_security_group().group_id(&prior.id).send().await.or_aws("DeleteSecurityGroup")
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
