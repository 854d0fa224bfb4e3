//! `elbv2_listener`: a port on a load balancer with its default action (forward, redirect —
//! e.g. HTTP → HTTPS —, or a fixed response).
//!
//! - Create: look for a listener on the same port of the load balancer first — adopt only
//!   our own, otherwise report the clash (AWS refuses a duplicate port; the emulator does
//!   not) —, then CreateListener tagged at creation.
//! - Read: DescribeListeners by ARN, DescribeTags.
//! - Update: port, protocol, certificate, SSL policy and default action in place
//!   (ModifyListener); only the load balancer forces a new listener.
//!
//! Validated locally: HTTPS needs `certificate_arn` (the emulator creates an HTTPS listener
//! without one), HTTP takes none, the action's shape (see [`super::action`]).

use aws_sdk_elasticloadbalancingv2::types::{Certificate, Listener as Item, ProtocolEnum};

use super::{action, Client, Elbv2Kind, Tagger};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags;
use crate::aws::shared::{self, invalid, put_str};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const PROTOCOLS: &[&str] = &["HTTP", "HTTPS"];

pub struct Listener {
    client: Client,
    schema: Schema,
}

impl Listener {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: "your listener is deleted when you delete the load balancer to which it is
            // attached" (ELBv2 API reference, DeleteListener).
            AttrSchema::required("load_balancer_arn", AttrType::String).force_new().parent(),
            AttrSchema::required("port", AttrType::Int).range(1, 65535),
            AttrSchema::required("protocol", AttrType::String).one_of(PROTOCOLS).doc("HTTP or HTTPS."),
            AttrSchema::optional("certificate_arn", AttrType::String).doc("ACM certificate; required for HTTPS."),
            AttrSchema::optional("ssl_policy", AttrType::String).doc("HTTPS only; AWS's default when unset."),
            AttrSchema::required("default_action", AttrType::Any)
                .normalize(action::canonical)
                .constraint(Constraint::structure(action::DOC, action::validate)),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        Listener { client, schema }
    }

    fn port(spec: &Spec) -> Result<i32, ResourceError> {
        spec.i64("port").and_then(|p| i32::try_from(p).ok()).ok_or_else(|| invalid(spec, "port must be an integer"))
    }

    fn default_action(spec: &Spec) -> Result<aws_sdk_elasticloadbalancingv2::types::Action, ResourceError> {
        let v = spec.attrs.get("default_action").cloned().unwrap_or(Value::Null);
        action::to_sdk(&v).map_err(|m| invalid(spec, format!("default_action: {m}")))
    }

    fn certificates(spec: &Spec) -> Option<Vec<Certificate>> {
        spec.str("certificate_arn").map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
    }

    /// The listener on `spec`'s port of `spec`'s load balancer, if there is one.
    async fn on_port(&self, spec: &Spec) -> Result<Option<Item>, ResourceError> {
        let r = self
            .client
            .describe_listeners()
            .load_balancer_arn(spec.req_str("load_balancer_arn")?)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeListeners");
        let listeners: Vec<Item> = not_found_as_none(r)?.unwrap_or_default();
        let port = Self::port(spec)?;
        Ok(listeners.into_iter().find(|l| l.port() == Some(port)))
    }
}

#[async_trait::async_trait]
impl Elbv2Kind for Listener {
    type Item = Item;
    fn client(&self) -> &Client {
        &self.client
    }
    async fn describe(&self, arns: Vec<String>) -> Result<Vec<Item>, ResourceError> {
        let out =
            self.client.describe_listeners().set_listener_arns(Some(arns)).send().await.or_aws("DescribeListeners")?;
        Ok(out.listeners().to_vec())
    }
    fn arn(item: &Item) -> Option<&str> {
        item.listener_arn()
    }
    async fn attrs(&self, l: &Item) -> Result<Option<Attrs>, ResourceError> {
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "load_balancer_arn", l.load_balancer_arn());
        if let Some(p) = l.port() {
            attrs.insert("port".into(), serde_json::json!(p));
        }
        put_str(&mut attrs, "protocol", l.protocol().map(ProtocolEnum::as_str));
        let cert = l.certificates().iter().find(|c| c.is_default() != Some(false)).and_then(|c| c.certificate_arn());
        put_str(&mut attrs, "certificate_arn", cert);
        put_str(&mut attrs, "ssl_policy", l.ssl_policy());
        if let Some(a) = l.default_actions().first() {
            attrs.insert("default_action".into(), action::from_sdk(a));
        }
        put_str(&mut attrs, "arn", l.listener_arn());
        Ok(Some(attrs))
    }
}

#[async_trait::async_trait]
impl ResourceKind for Listener {
    fn kind(&self) -> &'static str {
        "elbv2_listener"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The certificate is usually `${acm_certificate.x.arn}`, unknown at plan time: what matters
    /// here is whether the plan sets one at all.
    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        let https = declared.get("protocol").and_then(Value::as_str) == Some("HTTPS");
        if https && !declared.contains_key("certificate_arn") {
            return Err("`certificate_arn`: an HTTPS listener needs an ACM certificate".into());
        }
        for k in ["certificate_arn", "ssl_policy"] {
            if !https && declared.contains_key(k) {
                return Err(format!("`{k}` is for HTTPS listeners only"));
            }
        }
        Ok(())
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(super::read(self, ids).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let arn = match self.on_port(spec).await? {
            Some(existing) => {
                let found = super::found_for(self, vec![existing]).await?.into_iter().next();
                match found {
                    Some(f) if f.is_resource(cx, spec) => {
                        // An interrupted earlier run: converge it to the plan.
                        return self.update(cx, &f.obs, spec).await;
                    }
                    _ => {
                        return Err(invalid(
                            spec,
                            format!("the load balancer already has another listener on port {}", Self::port(spec)?),
                        ))
                    }
                }
            }
            None => {
                let out = self
                    .client
                    .create_listener()
                    .load_balancer_arn(spec.req_str("load_balancer_arn")?)
                    .port(Self::port(spec)?)
                    .protocol(ProtocolEnum::from(spec.req_str("protocol")?))
                    .set_certificates(Self::certificates(spec))
                    .set_ssl_policy(spec.str("ssl_policy").map(str::to_string))
                    .default_actions(Self::default_action(spec)?)
                    .set_tags(Some(super::to_tags(tags::creation_tags(cx, spec, &[])?)))
                    .send()
                    .await
                    .or_aws("CreateListener")?;
                let l = out.listeners().first().and_then(|l| l.listener_arn());
                shared::required(l, "CreateListener", "listener ARN")?.to_string()
            }
        };
        shared::read_back(self, cx, &arn).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let same = ["port", "protocol", "certificate_arn", "ssl_policy"]
            .iter()
            .all(|a| spec.attrs.get(*a).is_none_or(|v| prior.attrs.get(*a) == Some(v)))
            && prior.attrs.get("default_action") == spec.attrs.get("default_action").map(action::canonical).as_ref();
        if !same {
            self.client
                .modify_listener()
                .listener_arn(&prior.id)
                .port(Self::port(spec)?)
                .protocol(ProtocolEnum::from(spec.req_str("protocol")?))
                .set_certificates(Self::certificates(spec))
                .set_ssl_policy(spec.str("ssl_policy").map(str::to_string))
                .default_actions(Self::default_action(spec)?)
                .send()
                .await
                .or_aws("ModifyListener")?;
        }
        tags::reconcile(&Tagger(&self.client), &prior.id, prior, spec, &[]).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        not_found_as_none(self.client.delete_listener().listener_arn(&prior.id).send().await.or_aws("DeleteListener"))?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let all = super::found_for(self, super::all_listeners(&self.client).await?).await?;
        Ok(all.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect())
    }
}
