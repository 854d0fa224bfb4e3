//! `elbv2_listener_rule`: a rule on a listener — conditions (path pattern, host header), an
//! action, a priority.
//!
//! - Create: look for a rule with the same priority on the listener first — adopt only our
//!   own, otherwise report the clash —, then CreateRule tagged at creation.
//! - Read: DescribeRules by ARN, DescribeTags.
//! - Update: conditions and action (ModifyRule), priority (SetRulePriorities) and tags in
//!   place; only the listener forces a new rule.

use aws_sdk_elasticloadbalancingv2::types::{Rule as Item, RulePriorityPair};
use serde_json::json;

use super::{action, Client, Elbv2Kind, Tagger};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags;
use crate::aws::shared::{self, invalid, put_str};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

pub struct ListenerRule {
    client: Client,
    schema: Schema,
}

impl ListenerRule {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: rules belong to one listener (DescribeRules is per ListenerArn) and go
            // with it, as the listener goes with its load balancer (ELBv2 API reference,
            // DeleteListener).
            AttrSchema::required("listener_arn", AttrType::String).force_new().parent(),
            AttrSchema::required("priority", AttrType::Int).range(1, 50000).doc("Lower is evaluated first."),
            AttrSchema::required("conditions", AttrType::Any)
                .normalize(action::canonical_conditions)
                .constraint(Constraint::structure(
                    "a non-empty list of { field, values }; field `path-pattern` or `host-header`",
                    action::validate_conditions,
                ))
                .doc("List of { field = \"path-pattern\" | \"host-header\", values = [...] }."),
            AttrSchema::required("action", AttrType::Any)
                .normalize(action::canonical)
                .constraint(Constraint::structure(action::DOC, action::validate)),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        ListenerRule { client, schema }
    }

    fn priority(spec: &Spec) -> Result<i32, ResourceError> {
        spec.i64("priority")
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| invalid(spec, "priority must be an integer"))
    }

    fn parts(
        spec: &Spec,
    ) -> Result<
        (Vec<aws_sdk_elasticloadbalancingv2::types::RuleCondition>, aws_sdk_elasticloadbalancingv2::types::Action),
        ResourceError,
    > {
        let get = |a: &str| spec.attrs.get(a).cloned().unwrap_or(Value::Null);
        let conditions = action::conditions_to_sdk(&get("conditions")).map_err(|m| invalid(spec, m))?;
        let act = action::to_sdk(&get("action")).map_err(|m| invalid(spec, m))?;
        Ok((conditions, act))
    }

    async fn with_priority(&self, spec: &Spec) -> Result<Option<Item>, ResourceError> {
        let r = self
            .client
            .describe_rules()
            .listener_arn(spec.req_str("listener_arn")?)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeRules");
        let rules: Vec<Item> = not_found_as_none(r)?.unwrap_or_default();
        let priority = Self::priority(spec)?.to_string();
        Ok(rules.into_iter().find(|r| r.priority() == Some(priority.as_str())))
    }
}

#[async_trait::async_trait]
impl Elbv2Kind for ListenerRule {
    type Item = Item;
    fn client(&self) -> &Client {
        &self.client
    }
    async fn describe(&self, arns: Vec<String>) -> Result<Vec<Item>, ResourceError> {
        let out = self.client.describe_rules().set_rule_arns(Some(arns)).send().await.or_aws("DescribeRules")?;
        Ok(out.rules().to_vec())
    }
    fn arn(item: &Item) -> Option<&str> {
        item.rule_arn()
    }
    async fn attrs(&self, r: &Item) -> Result<Option<Attrs>, ResourceError> {
        let Some(arn) = r.rule_arn() else { return Ok(None) };
        let mut attrs = Attrs::new();
        // A rule ARN is its listener's ARN with `listener-rule/` and a rule id appended.
        let listener = arn.replacen(":listener-rule/", ":listener/", 1);
        put_str(&mut attrs, "listener_arn", listener.rsplit_once('/').map(|(l, _)| l));
        if let Some(p) = r.priority().and_then(|p| p.parse::<i64>().ok()) {
            attrs.insert("priority".into(), json!(p));
        }
        attrs.insert("conditions".into(), action::conditions_from_sdk(r.conditions()));
        if let Some(a) = r.actions().first() {
            attrs.insert("action".into(), action::from_sdk(a));
        }
        put_str(&mut attrs, "arn", Some(arn));
        Ok(Some(attrs))
    }
}

#[async_trait::async_trait]
impl ResourceKind for ListenerRule {
    fn kind(&self) -> &'static str {
        "elbv2_listener_rule"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(super::read(self, ids).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        if let Some(existing) = self.with_priority(spec).await? {
            return match super::found_for(self, vec![existing]).await?.into_iter().next() {
                Some(f) if f.is_resource(cx, spec) => self.update(cx, &f.obs, spec).await,
                _ => Err(invalid(
                    spec,
                    format!("the listener already has a rule with priority {}", Self::priority(spec)?),
                )),
            };
        }
        let (conditions, act) = Self::parts(spec)?;
        let out = self
            .client
            .create_rule()
            .listener_arn(spec.req_str("listener_arn")?)
            .priority(Self::priority(spec)?)
            .set_conditions(Some(conditions))
            .actions(act)
            .set_tags(Some(super::to_tags(tags::creation_tags(cx, spec, &[])?)))
            .send()
            .await
            .or_aws("CreateRule")?;
        let arn =
            shared::required(out.rules().first().and_then(|r| r.rule_arn()), "CreateRule", "rule ARN")?.to_string();
        shared::read_back(self, cx, &arn).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let canonical = |a: &str, f: fn(&Value) -> Value| spec.attrs.get(a).map(f);
        if prior.attrs.get("conditions") != canonical("conditions", action::canonical_conditions).as_ref()
            || prior.attrs.get("action") != canonical("action", action::canonical).as_ref()
        {
            let (conditions, act) = Self::parts(spec)?;
            self.client
                .modify_rule()
                .rule_arn(&prior.id)
                .set_conditions(Some(conditions))
                .actions(act)
                .send()
                .await
                .or_aws("ModifyRule")?;
        }
        let priority = Self::priority(spec)?;
        if prior.attrs.get("priority").and_then(Value::as_i64) != Some(i64::from(priority)) {
            let pair = RulePriorityPair::builder().rule_arn(&prior.id).priority(priority).build();
            self.client.set_rule_priorities().rule_priorities(pair).send().await.or_aws("SetRulePriorities")?;
        }
        tags::reconcile(&Tagger(&self.client), &prior.id, prior, spec, &[]).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        not_found_as_none(self.client.delete_rule().rule_arn(&prior.id).send().await.or_aws("DeleteRule"))?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let mut rules = Vec::new();
        for l in super::all_listeners(&self.client).await? {
            let Some(arn) = l.listener_arn() else { continue };
            let r = self.client.describe_rules().listener_arn(arn).into_paginator().items().send().try_collect().await;
            match not_found_as_none(r.or_aws("DescribeRules"))? {
                // The default rule belongs to the listener, not to a rule resource.
                Some(found) => rules.extend(found.into_iter().filter(|r: &Item| r.is_default() != Some(true))),
                None => continue,
            }
        }
        let all = super::found_for(self, rules).await?;
        Ok(all.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect())
    }
}
