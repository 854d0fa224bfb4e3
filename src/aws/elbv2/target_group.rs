//! `elbv2_target_group`: where a listener or rule forwards traffic.
//!
//! - Create: look the name up first (adopt only our own); CreateTargetGroup tagged at
//!   creation with the health check; then the deregistration delay attribute.
//! - Read: DescribeTargetGroups by ARN, DescribeTags, DescribeTargetGroupAttributes.
//! - Update: health check (ModifyTargetGroup), deregistration delay
//!   (ModifyTargetGroupAttributes) and tags in place; name, port, protocol, VPC and target
//!   type force a new group.
//! - Delete: DeleteTargetGroup, retried while a listener or rule being deleted still uses it
//!   (`ResourceInUse`).

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup as Item, TargetGroupAttribute, TargetTypeEnum,
};
use serde_json::json;

use super::{Client, Elbv2Kind, Tagger};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags;
use crate::aws::shared::{self, invalid, put_str};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value};

const PROTOCOLS: &[&str] = &["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"];
const TARGET_TYPES: &[&str] = &["instance", "ip", "lambda", "alb"];
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
/// Health-check settings ModifyTargetGroup can change: (attribute, is an integer).
const HEALTH: &[(&str, bool)] = &[
    ("health_check_path", false),
    ("health_check_protocol", false),
    ("health_check_port", false),
    ("health_check_interval_seconds", true),
    ("health_check_timeout_seconds", true),
    ("healthy_threshold_count", true),
    ("unhealthy_threshold_count", true),
    ("matcher", false),
];

pub struct TargetGroup {
    client: Client,
    schema: Schema,
}

impl TargetGroup {
    pub fn new(client: Client) -> Self {
        let mut attrs = vec![
            super::name_attr(AttrSchema::required("name", AttrType::String).force_new()),
            AttrSchema::required("port", AttrType::Int).force_new().range(1, 65535),
            AttrSchema::required("protocol", AttrType::String).force_new().one_of(PROTOCOLS),
            AttrSchema::required("vpc_id", AttrType::String).force_new(),
            AttrSchema::optional("target_type", AttrType::String)
                .default(json!("instance"))
                .force_new()
                .one_of(TARGET_TYPES),
            // ELB API Reference, TargetGroupAttribute: deregistration_delay.timeout_seconds 0–3600.
            AttrSchema::optional("deregistration_delay", AttrType::Int)
                .range(0, 3600)
                .doc("Seconds to drain a target."),
        ];
        for (name, int) in HEALTH {
            attrs.push(AttrSchema::optional(name, if *int { AttrType::Int } else { AttrType::String }));
        }
        attrs.push(shared::tags_attr());
        attrs.push(AttrSchema::computed("arn", AttrType::String));
        attrs.push(AttrSchema::computed("arn_suffix", AttrType::String));
        TargetGroup { client, schema: Schema::new(attrs) }
    }

    fn int(spec: &Spec, name: &str) -> Option<i32> {
        spec.i64(name).and_then(|v| i32::try_from(v).ok())
    }

    async fn set_delay(&self, arn: &str, seconds: i64) -> Result<(), ResourceError> {
        let attr = TargetGroupAttribute::builder().key(DEREGISTRATION_DELAY).value(seconds.to_string()).build();
        self.client
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(attr)
            .send()
            .await
            .or_aws("ModifyTargetGroupAttributes")?;
        Ok(())
    }

    async fn converge(&self, prior: &Observed, spec: &Spec) -> Result<(), ResourceError> {
        let arn = &prior.id;
        let health_differs = HEALTH
            .iter()
            .any(|(name, _)| spec.attrs.get(*name).is_some_and(|want| prior.attrs.get(*name) != Some(want)));
        if health_differs {
            self.client
                .modify_target_group()
                .target_group_arn(arn)
                .set_health_check_path(spec.str("health_check_path").map(str::to_string))
                .set_health_check_protocol(spec.str("health_check_protocol").map(ProtocolEnum::from))
                .set_health_check_port(spec.str("health_check_port").map(str::to_string))
                .set_health_check_interval_seconds(Self::int(spec, "health_check_interval_seconds"))
                .set_health_check_timeout_seconds(Self::int(spec, "health_check_timeout_seconds"))
                .set_healthy_threshold_count(Self::int(spec, "healthy_threshold_count"))
                .set_unhealthy_threshold_count(Self::int(spec, "unhealthy_threshold_count"))
                .set_matcher(spec.str("matcher").map(|m| Matcher::builder().http_code(m).build()))
                .send()
                .await
                .or_aws("ModifyTargetGroup")?;
        }
        if let Some(d) = spec.i64("deregistration_delay") {
            if prior.attrs.get("deregistration_delay").and_then(Value::as_i64) != Some(d) {
                self.set_delay(arn, d).await?;
            }
        }
        tags::reconcile(&Tagger(&self.client), arn, prior, spec, &[]).await
    }
}

#[async_trait::async_trait]
impl Elbv2Kind for TargetGroup {
    type Item = Item;
    fn client(&self) -> &Client {
        &self.client
    }
    async fn describe(&self, arns: Vec<String>) -> Result<Vec<Item>, ResourceError> {
        let out = self
            .client
            .describe_target_groups()
            .set_target_group_arns(Some(arns))
            .send()
            .await
            .or_aws("DescribeTargetGroups")?;
        Ok(out.target_groups().to_vec())
    }
    fn arn(item: &Item) -> Option<&str> {
        item.target_group_arn()
    }
    async fn attrs(&self, tg: &Item) -> Result<Option<Attrs>, ResourceError> {
        let Some(arn) = tg.target_group_arn() else { return Ok(None) };
        let r = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .or_aws("DescribeTargetGroupAttributes");
        let Some(tg_attrs) = not_found_as_none(r)? else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "name", tg.target_group_name());
        if let Some(p) = tg.port() {
            attrs.insert("port".into(), json!(p));
        }
        put_str(&mut attrs, "protocol", tg.protocol().map(ProtocolEnum::as_str));
        put_str(&mut attrs, "vpc_id", tg.vpc_id());
        put_str(&mut attrs, "target_type", tg.target_type().map(TargetTypeEnum::as_str));
        let delay = tg_attrs.attributes().iter().find(|a| a.key() == Some(DEREGISTRATION_DELAY));
        if let Some(d) = delay.and_then(|a| a.value()?.parse::<i64>().ok()) {
            attrs.insert("deregistration_delay".into(), json!(d));
        }
        put_str(&mut attrs, "health_check_path", tg.health_check_path());
        put_str(&mut attrs, "health_check_protocol", tg.health_check_protocol().map(ProtocolEnum::as_str));
        put_str(&mut attrs, "health_check_port", tg.health_check_port());
        for (name, v) in [
            ("health_check_interval_seconds", tg.health_check_interval_seconds()),
            ("health_check_timeout_seconds", tg.health_check_timeout_seconds()),
            ("healthy_threshold_count", tg.healthy_threshold_count()),
            ("unhealthy_threshold_count", tg.unhealthy_threshold_count()),
        ] {
            if let Some(v) = v {
                attrs.insert(name.into(), json!(v));
            }
        }
        put_str(&mut attrs, "matcher", tg.matcher().and_then(|m| m.http_code()));
        put_str(&mut attrs, "arn", Some(arn));
        // "targetgroup/<name>/<id>": what CloudWatch metrics name the group by.
        put_str(&mut attrs, "arn_suffix", arn.rsplit_once(':').map(|(_, s)| s));
        Ok(Some(attrs))
    }
}

#[async_trait::async_trait]
impl ResourceKind for TargetGroup {
    fn kind(&self) -> &'static str {
        "elbv2_target_group"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(super::read(self, ids).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let r = self.client.describe_target_groups().names(name).send().await.or_aws("DescribeTargetGroups");
        let existing = not_found_as_none(r)?.map(|o| o.target_groups().to_vec()).unwrap_or_default();
        let arn = if let Some(f) = super::found_for(self, existing).await?.into_iter().next() {
            if !f.is_resource(cx, spec) {
                return Err(invalid(
                    spec,
                    format!("a target group named {name:?} exists already and is not this resource"),
                ));
            }
            f.obs.id
        } else {
            let out = self
                .client
                .create_target_group()
                .name(name)
                .set_port(Self::int(spec, "port"))
                .set_protocol(spec.str("protocol").map(ProtocolEnum::from))
                .set_vpc_id(spec.str("vpc_id").map(str::to_string))
                .target_type(TargetTypeEnum::from(spec.str("target_type").unwrap_or("instance")))
                .set_health_check_path(spec.str("health_check_path").map(str::to_string))
                .set_health_check_protocol(spec.str("health_check_protocol").map(ProtocolEnum::from))
                .set_health_check_port(spec.str("health_check_port").map(str::to_string))
                .set_health_check_interval_seconds(Self::int(spec, "health_check_interval_seconds"))
                .set_health_check_timeout_seconds(Self::int(spec, "health_check_timeout_seconds"))
                .set_healthy_threshold_count(Self::int(spec, "healthy_threshold_count"))
                .set_unhealthy_threshold_count(Self::int(spec, "unhealthy_threshold_count"))
                .set_matcher(spec.str("matcher").map(|m| Matcher::builder().http_code(m).build()))
                .set_tags(Some(super::to_tags(tags::creation_tags(cx, spec, &[])?)))
                .send()
                .await
                .or_aws("CreateTargetGroup")?;
            let tg = out.target_groups().first().and_then(|t| t.target_group_arn());
            shared::required(tg, "CreateTargetGroup", "target group ARN")?.to_string()
        };
        let created = shared::read_back(self, cx, &arn).await?;
        self.converge(&created, spec).await?;
        shared::read_back(self, cx, &arn).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.converge(prior, spec).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Still used by a listener being deleted (ResourceInUse): waited out by the connector
        // (`aws::consistency`).
        not_found_as_none(
            self.client.delete_target_group().target_group_arn(&prior.id).send().await.or_aws("DeleteTargetGroup"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let all: Vec<Item> = self
            .client
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeTargetGroups")?;
        let found = super::found_for(self, all).await?;
        Ok(found.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect())
    }
}
