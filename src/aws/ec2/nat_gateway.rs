//! `ec2_nat_gateway`: a NAT gateway (public with an Elastic IP, or private).
//!
//! Create: CreateNatGateway with `ClientToken = spec.client_token` (a re-run after a crash gets
//! the same gateway back instead of a second one) and tags at creation, then wait — as a
//! bounded poll that does not hold an engine slot — until it is `available`. A gateway that
//! ends up `failed` is an error carrying AWS's failure code and message.
//! Adopted after a crash (found by its tags while the create was pending): the same wait, in
//! `resume_create`, before the routes through it are made.
//! Read: one DescribeNatGateways for all ids. Deleted gateways stay visible for about an hour
//! in `deleting`/`deleted` state; those, and `failed` ones (AWS removes them by itself), count
//! as absent so the plan re-creates them.
//! Delete: DeleteNatGateway, then wait until AWS reports it `deleted` — only then are its
//! network interface and Elastic IP free for the subnet / EIP deletes that follow.

use std::time::Duration;

use aws_sdk_ec2::types::{ConnectivityType, Filter, NatGateway as NatGatewayItem, NatGatewayState, ResourceType};
use serde_json::json;

use super::common::{self, filter, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value};

/// NAT gateways usually take 1–5 minutes either way; AWS's own waiter gives up after ~10.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const WAIT_INTERVAL: Duration = Duration::from_secs(10);

pub struct NatGateway {
    client: Client,
    schema: Schema,
}

impl NatGateway {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("subnet_id", AttrType::String).force_new(),
            AttrSchema::optional("allocation_id", AttrType::String)
                .force_new()
                .doc("The Elastic IP (allocation id) of a public NAT gateway."),
            AttrSchema::optional("connectivity_type", AttrType::String)
                .default(json!("public"))
                .force_new()
                .one_of(&["public", "private"])
                .doc("`public` (needs allocation_id) or `private`."),
            tags_attr(),
            AttrSchema::computed("private_ip", AttrType::String),
            AttrSchema::computed("public_ip", AttrType::String),
        ]);
        NatGateway { client, schema }
    }

    /// The gateway as AWS reports it, whatever its state (None when AWS does not know it).
    async fn raw(&self, id: &str) -> Result<Option<NatGatewayItem>, ResourceError> {
        let items = self.describe_raw(vec![filter(Self::ID_FILTER, [id])]).await?;
        Ok(items.into_iter().find(|n| n.nat_gateway_id() == Some(id)))
    }

    async fn describe_raw(&self, filters: Vec<Filter>) -> Result<Vec<NatGatewayItem>, ResourceError> {
        self.client
            .describe_nat_gateways()
            .set_filter(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeNatGateways")
    }

    async fn wait_available(&self, cx: &Cx, id: &str) -> Result<(), ResourceError> {
        let what = format!("NAT gateway {id} to become available");
        cx.poll_until(&what, WAIT_TIMEOUT, WAIT_INTERVAL, || async {
            let Some(nat) = self.raw(id).await? else {
                // Not visible yet right after CreateNatGateway (eventual consistency).
                return Ok(None);
            };
            match nat.state() {
                Some(NatGatewayState::Available) => Ok(Some(())),
                Some(NatGatewayState::Failed) => Err(ResourceError::Aws {
                    operation: "CreateNatGateway".into(),
                    code: nat.failure_code().unwrap_or("NatGatewayFailed").to_string(),
                    message: nat.failure_message().unwrap_or("the NAT gateway failed").to_string(),
                    request_id: None,
                    retryable: false,
                }),
                Some(NatGatewayState::Deleting | NatGatewayState::Deleted) => Err(ResourceError::unexpected(
                    "CreateNatGateway",
                    format!("NAT gateway {id} is being deleted while waiting for it to become available"),
                )),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn wait_deleted(&self, cx: &Cx, id: &str) -> Result<(), ResourceError> {
        let what = format!("NAT gateway {id} to be deleted");
        cx.poll_until(&what, WAIT_TIMEOUT, WAIT_INTERVAL, || async {
            let gone = match self.raw(id).await? {
                None => true,
                Some(n) => matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Failed)),
            };
            Ok(gone.then_some(()))
        })
        .await
    }
}

/// States in which a NAT gateway is (or is about to be) gone.
fn is_gone(state: Option<&NatGatewayState>) -> bool {
    matches!(state, Some(NatGatewayState::Deleting | NatGatewayState::Deleted | NatGatewayState::Failed))
}

/// What is wrong with the combination of attributes, if anything: a public NAT gateway needs
/// an Elastic IP, a private one takes none (EC2 API Reference, CreateNatGateway). `attrs` is
/// the declared shape (a value not known yet is `null` and counts as set).
fn problem(attrs: &Attrs) -> Result<(), String> {
    match (attrs.get("connectivity_type").and_then(Value::as_str), attrs.contains_key("allocation_id")) {
        (Some("public"), false) => Err("`allocation_id` is needed: a public NAT gateway needs an Elastic IP".into()),
        (Some("private"), true) => Err("`allocation_id`: a private NAT gateway cannot have an Elastic IP".into()),
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl Describe for NatGateway {
    const ID_FILTER: &'static str = "nat-gateway-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let nats = self.describe_raw(filters).await?;
        Ok(nats
            .iter()
            .filter(|n| !is_gone(n.state()))
            .filter_map(|n| {
                let id = n.nat_gateway_id()?;
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "subnet_id", n.subnet_id());
                put_str(&mut attrs, "connectivity_type", n.connectivity_type().map(ConnectivityType::as_str));
                // The primary address carries the EIP of a public gateway.
                let addr = n.nat_gateway_addresses().iter().find(|a| a.is_primary() != Some(false));
                put_str(&mut attrs, "allocation_id", addr.and_then(|a| a.allocation_id()));
                put_str(&mut attrs, "private_ip", addr.and_then(|a| a.private_ip()));
                put_str(&mut attrs, "public_ip", addr.and_then(|a| a.public_ip()));
                Some(found(id, attrs, n.tags()))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for NatGateway {
    fn kind(&self) -> &'static str {
        "ec2_nat_gateway"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        problem(declared)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let out = self
            .client
            .create_nat_gateway()
            .client_token(&spec.client_token)
            .subnet_id(spec.req_str("subnet_id")?)
            .set_allocation_id(spec.str("allocation_id").map(str::to_string))
            .connectivity_type(ConnectivityType::from(spec.str("connectivity_type").unwrap_or("public")))
            .tag_specifications(common::tag_spec(ResourceType::Natgateway, cx, spec)?)
            .send()
            .await
            .or_aws("CreateNatGateway")?;
        let id =
            common::required(out.nat_gateway().and_then(|n| n.nat_gateway_id()), "CreateNatGateway", "NAT gateway id")?
                .to_string();
        self.wait_available(cx, &id).await?;
        common::read_back(self, cx, &id).await
    }

    /// A gateway adopted after a crash may still be `pending` (the crash interrupted the wait
    /// in `create`): wait for it the same way, so its routes are not made towards a gateway
    /// that is not up yet, and a `failed` one is reported instead of being routed to.
    async fn resume_create(&self, cx: &Cx, _spec: &Spec, found: &Observed) -> Result<Observed, ResourceError> {
        self.wait_available(cx, &found.id).await?;
        common::read_back(self, cx, &found.id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        // Everything but tags forces a new gateway.
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Look first: a gateway already deleted (or deleting) needs no call, and a repeated
        // DeleteNatGateway on a deleted one is not something to rely on.
        match self.raw(&prior.id).await? {
            None => return Ok(()),
            Some(n) if matches!(n.state(), Some(NatGatewayState::Deleted)) => return Ok(()),
            Some(n) if matches!(n.state(), Some(NatGatewayState::Deleting)) => {}
            Some(_) => {
                not_found_as_none(
                    self.client.delete_nat_gateway().nat_gateway_id(&prior.id).send().await.or_aws("DeleteNatGateway"),
                )?;
            }
        }
        self.wait_deleted(cx, &prior.id).await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}

#[cfg(test)]
#[path = "nat_gateway_tests.rs"]
mod tests;
