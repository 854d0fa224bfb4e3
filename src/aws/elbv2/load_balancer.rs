//! `elbv2_load_balancer`: an application load balancer.
//!
//! - Create: look the name up first (adopt only our own, see [`super`]); CreateLoadBalancer
//!   tagged at creation; wait — as a bounded poll that holds no engine slot — until `active`
//!   (`failed` is an error); then set the attributes (deletion protection).
//! - Read: DescribeLoadBalancers by ARN, DescribeTags, DescribeLoadBalancerAttributes.
//! - Update: subnets (SetSubnets), security groups (SetSecurityGroups), IP address type,
//!   deletion protection and tags in place; name, type and scheme force a new one.
//! - Delete: refused while deletion protection is on (AWS refuses too; the emulator does not,
//!   so kprov checks itself); then DeleteLoadBalancer and wait until it is gone, so the
//!   security groups and subnets deleted after it are free.
//!
//! Validated locally: at least two subnets (AWS needs two AZs; the emulator takes one), the
//! name rules, known scheme / type / IP address type.

use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer as Item, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use serde_json::json;

use super::{Client, Elbv2Kind, Tagger};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags;
use crate::aws::shared::{self, invalid, put_str};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const WAIT_INTERVAL: Duration = Duration::from_secs(10);
const DELETION_PROTECTION: &str = "deletion_protection.enabled";
const SCHEMES: &[&str] = &["internet-facing", "internal"];
const IP_TYPES: &[&str] = &["ipv4", "dualstack"];

pub struct LoadBalancer {
    client: Client,
    schema: Schema,
}

impl LoadBalancer {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            super::name_attr(AttrSchema::required("name", AttrType::String).force_new())
                .constraint(Constraint::NotPrefix("internal-")),
            AttrSchema::optional("type", AttrType::String)
                .default(json!("application"))
                .force_new()
                .one_of(&["application"])
                .doc("Only application load balancers are supported."),
            AttrSchema::optional("scheme", AttrType::String)
                .default(json!("internet-facing"))
                .force_new()
                .one_of(SCHEMES),
            AttrSchema::required("subnets", AttrType::StringList)
                .normalize(shared::string_set)
                .doc("At least two subnets in different availability zones."),
            shared::set_attr("security_groups"),
            AttrSchema::optional("ip_address_type", AttrType::String).default(json!("ipv4")).one_of(IP_TYPES),
            AttrSchema::optional("deletion_protection", AttrType::Bool).default(json!(false)),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("dns_name", AttrType::String),
            AttrSchema::computed("zone_id", AttrType::String).doc("Canonical hosted zone id, for Route53 aliases."),
            AttrSchema::computed("vpc_id", AttrType::String),
        ]);
        LoadBalancer { client, schema }
    }

    async fn by_name(&self, name: &str) -> Result<Vec<Item>, ResourceError> {
        let r = self.client.describe_load_balancers().names(name).send().await.or_aws("DescribeLoadBalancers");
        Ok(not_found_as_none(r)?.map(|o| o.load_balancers().to_vec()).unwrap_or_default())
    }

    async fn state(&self, arn: &str) -> Result<Option<Item>, ResourceError> {
        let r =
            self.client.describe_load_balancers().load_balancer_arns(arn).send().await.or_aws("DescribeLoadBalancers");
        Ok(not_found_as_none(r)?.and_then(|o| o.load_balancers().first().cloned()))
    }

    async fn wait_active(&self, cx: &Cx, arn: &str) -> Result<(), ResourceError> {
        cx.poll_until(&format!("load balancer {arn} to become active"), WAIT_TIMEOUT, WAIT_INTERVAL, || async {
            let lb = self.state(arn).await?;
            match lb.as_ref().and_then(|l| l.state()).and_then(|s| s.code()) {
                Some(LoadBalancerStateEnum::Active) => Ok(Some(())),
                Some(LoadBalancerStateEnum::Failed) => Err(ResourceError::Aws {
                    operation: "CreateLoadBalancer".into(),
                    code: "LoadBalancerFailed".into(),
                    message: lb.and_then(|l| l.state()?.reason().map(str::to_string)).unwrap_or_default(),
                    request_id: None,
                    retryable: false,
                }),
                // Not visible yet, provisioning, active_impaired: keep waiting.
                _ => Ok(None),
            }
        })
        .await
    }

    async fn set_deletion_protection(&self, arn: &str, on: bool) -> Result<(), ResourceError> {
        let attr = LoadBalancerAttribute::builder().key(DELETION_PROTECTION).value(on.to_string()).build();
        self.client
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .attributes(attr)
            .send()
            .await
            .or_aws("ModifyLoadBalancerAttributes")?;
        Ok(())
    }

    /// Converge everything that can change in place from `prior` to `spec`.
    async fn converge(&self, prior: &Observed, spec: &Spec) -> Result<(), ResourceError> {
        let arn = &prior.id;
        let subnets = shared::str_list(spec, "subnets");
        if prior.attrs.get("subnets") != Some(&shared::set_value(subnets.clone())) {
            self.client
                .set_subnets()
                .load_balancer_arn(arn)
                .set_subnets(Some(subnets))
                .send()
                .await
                .or_aws("SetSubnets")?;
        }
        let groups = shared::str_list(spec, "security_groups");
        if prior.attrs.get("security_groups") != Some(&shared::set_value(groups.clone())) {
            self.client
                .set_security_groups()
                .load_balancer_arn(arn)
                .set_security_groups(Some(groups))
                .send()
                .await
                .or_aws("SetSecurityGroups")?;
        }
        if let Some(ip) = spec.str("ip_address_type") {
            if prior.attrs.get("ip_address_type").and_then(Value::as_str) != Some(ip) {
                self.client
                    .set_ip_address_type()
                    .load_balancer_arn(arn)
                    .ip_address_type(IpAddressType::from(ip))
                    .send()
                    .await
                    .or_aws("SetIpAddressType")?;
            }
        }
        if let Some(on) = spec.bool("deletion_protection") {
            if prior.attrs.get("deletion_protection").and_then(Value::as_bool) != Some(on) {
                self.set_deletion_protection(arn, on).await?;
            }
        }
        tags::reconcile(&Tagger(&self.client), arn, prior, spec, &[]).await
    }
}

#[async_trait::async_trait]
impl Elbv2Kind for LoadBalancer {
    type Item = Item;
    fn client(&self) -> &Client {
        &self.client
    }
    async fn describe(&self, arns: Vec<String>) -> Result<Vec<Item>, ResourceError> {
        let out = self
            .client
            .describe_load_balancers()
            .set_load_balancer_arns(Some(arns))
            .send()
            .await
            .or_aws("DescribeLoadBalancers")?;
        Ok(out.load_balancers().to_vec())
    }
    fn arn(item: &Item) -> Option<&str> {
        item.load_balancer_arn()
    }
    async fn attrs(&self, lb: &Item) -> Result<Option<Attrs>, ResourceError> {
        let Some(arn) = lb.load_balancer_arn() else { return Ok(None) };
        let r = self
            .client
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .or_aws("DescribeLoadBalancerAttributes");
        let Some(lb_attrs) = not_found_as_none(r)? else { return Ok(None) };
        let protected =
            lb_attrs.attributes().iter().any(|a| a.key() == Some(DELETION_PROTECTION) && a.value() == Some("true"));
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "name", lb.load_balancer_name());
        put_str(&mut attrs, "type", lb.r#type().map(LoadBalancerTypeEnum::as_str));
        put_str(&mut attrs, "scheme", lb.scheme().map(LoadBalancerSchemeEnum::as_str));
        attrs.insert("subnets".into(), shared::set_value(lb.availability_zones().iter().filter_map(|z| z.subnet_id())));
        attrs.insert("security_groups".into(), shared::set_value(lb.security_groups().iter().cloned()));
        put_str(&mut attrs, "ip_address_type", lb.ip_address_type().map(IpAddressType::as_str));
        attrs.insert("deletion_protection".into(), Value::Bool(protected));
        put_str(&mut attrs, "arn", Some(arn));
        put_str(&mut attrs, "dns_name", lb.dns_name());
        put_str(&mut attrs, "zone_id", lb.canonical_hosted_zone_id());
        put_str(&mut attrs, "vpc_id", lb.vpc_id());
        Ok(Some(attrs))
    }
}

#[async_trait::async_trait]
impl ResourceKind for LoadBalancer {
    fn kind(&self) -> &'static str {
        "elbv2_load_balancer"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// At plan time the subnets are references to subnets not created yet: count them anyway.
    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        // Distinct subnets: a value not known yet (`null`) counts as one of its own.
        let distinct = |list: &Vec<Value>| {
            let known: std::collections::BTreeSet<&str> = list.iter().filter_map(Value::as_str).collect();
            known.len() + list.iter().filter(|v| v.is_null()).count()
        };
        match declared.get("subnets").and_then(Value::as_array) {
            Some(list) if distinct(list) < 2 => Err(format!(
                "`subnets`: an application load balancer needs at least two subnets in different availability \
                 zones, got {}",
                distinct(list)
            )),
            _ => Ok(()),
        }
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(super::read(self, ids).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let existing = super::found_for(self, self.by_name(name).await?).await?;
        let arn = if let Some(f) = existing.into_iter().next() {
            if !f.is_resource(cx, spec) {
                return Err(invalid(
                    spec,
                    format!("a load balancer named {name:?} exists already and is not this resource"),
                ));
            }
            f.obs.id
        } else {
            let out = self
                .client
                .create_load_balancer()
                .name(name)
                .r#type(LoadBalancerTypeEnum::Application)
                .scheme(LoadBalancerSchemeEnum::from(spec.str("scheme").unwrap_or("internet-facing")))
                .ip_address_type(IpAddressType::from(spec.str("ip_address_type").unwrap_or("ipv4")))
                .set_subnets(Some(shared::str_list(spec, "subnets")))
                .set_security_groups(Some(shared::str_list(spec, "security_groups")).filter(|g| !g.is_empty()))
                .set_tags(Some(super::to_tags(tags::creation_tags(cx, spec, &[])?)))
                .send()
                .await
                .or_aws("CreateLoadBalancer")?;
            let lb = out.load_balancers().first().and_then(|l| l.load_balancer_arn());
            shared::required(lb, "CreateLoadBalancer", "load balancer ARN")?.to_string()
        };
        self.wait_active(cx, &arn).await?;
        let created = shared::read_back(self, cx, &arn).await?;
        self.converge(&created, spec).await?;
        shared::read_back(self, cx, &arn).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.converge(prior, spec).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let Some(current) = super::read(self, std::slice::from_ref(&prior.id)).await?.into_iter().next() else {
            return Ok(());
        };
        if current.obs.attrs.get("deletion_protection").and_then(Value::as_bool) == Some(true) {
            return Err(ResourceError::invalid(format!(
                "load balancer {} has deletion protection on: set deletion_protection = false and apply before deleting it",
                prior.id
            )));
        }
        not_found_as_none(
            self.client.delete_load_balancer().load_balancer_arn(&prior.id).send().await.or_aws("DeleteLoadBalancer"),
        )?;
        let what = format!("load balancer {} to be deleted", prior.id);
        cx.poll_until(&what, WAIT_TIMEOUT, WAIT_INTERVAL, || async {
            Ok(self.state(&prior.id).await?.is_none().then_some(()))
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let all = super::found_for(self, super::all_load_balancers(&self.client).await?).await?;
        Ok(all.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect())
    }
}
