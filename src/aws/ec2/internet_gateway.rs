//! `ec2_internet_gateway`: an internet gateway and its attachment to a VPC.
//!
//! The attachment is part of this resource (`vpc_id`), as in Terraform: create makes the
//! gateway tagged and attaches it; changing `vpc_id` detaches from the old VPC and attaches to
//! the new one in place; delete detaches first (AWS refuses to delete an attached gateway).
//! Leaving `vpc_id` unset leaves the attachment unmanaged.
//! Read: one DescribeInternetGateways for all ids (`internet-gateway-id` filter).

use aws_sdk_ec2::types::{Filter, ResourceType};

use super::common::{self, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

pub struct InternetGateway {
    client: Client,
    schema: Schema,
}

impl InternetGateway {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::optional("vpc_id", AttrType::String)
                .doc("The VPC to attach to; changing it moves the gateway in place."),
            tags_attr(),
        ]);
        InternetGateway { client, schema }
    }

    async fn attach(&self, id: &str, vpc_id: &str) -> Result<(), ResourceError> {
        let r = self
            .client
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc_id)
            .send()
            .await
            .or_aws("AttachInternetGateway");
        match r {
            // Re-running an interrupted create/update: already attached to this VPC is the goal.
            Err(e) if e.code() == Some("Resource.AlreadyAssociated") => {
                if self.attached_vpc(id).await?.as_deref() == Some(vpc_id) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            r => r.map(|_| ()),
        }
    }

    async fn detach(&self, id: &str, vpc_id: &str) -> Result<(), ResourceError> {
        // DependencyViolation while addresses are still mapped is waited out by the connector
        // (`aws::consistency`).
        {
            let r = self
                .client
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc_id)
                .send()
                .await
                .or_aws("DetachInternetGateway");
            match r {
                // Already detached (or gone): the goal is reached.
                Err(e) if e.code() == Some("Gateway.NotAttached") => Ok(()),
                r => not_found_as_none(r).map(|_| ()),
            }
        }
    }

    async fn attached_vpc(&self, id: &str) -> Result<Option<String>, ResourceError> {
        let found = self.describe(vec![common::filter(Self::ID_FILTER, [id])]).await?;
        Ok(found
            .into_iter()
            .next()
            .and_then(|f| f.obs.attrs.get("vpc_id").and_then(|v| v.as_str().map(str::to_string))))
    }
}

#[async_trait::async_trait]
impl Describe for InternetGateway {
    const ID_FILTER: &'static str = "internet-gateway-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let igws: Vec<_> = self
            .client
            .describe_internet_gateways()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeInternetGateways")?;
        Ok(igws
            .iter()
            .filter_map(|g| {
                let id = g.internet_gateway_id()?;
                let mut attrs = Attrs::new();
                // AWS reports an attached gateway's state as `available` (not in the SDK's
                // enum), so anything but detaching/detached counts as attached.
                let attached = g
                    .attachments()
                    .iter()
                    .find(|a| !matches!(a.state().map(|s| s.as_str()), Some("detached" | "detaching")));
                put_str(&mut attrs, "vpc_id", attached.and_then(|a| a.vpc_id()));
                Some(found(id, attrs, g.tags()))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for InternetGateway {
    fn kind(&self) -> &'static str {
        "ec2_internet_gateway"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let out = self
            .client
            .create_internet_gateway()
            .tag_specifications(common::tag_spec(ResourceType::InternetGateway, cx, spec)?)
            .send()
            .await
            .or_aws("CreateInternetGateway")?;
        let id = common::required(
            out.internet_gateway().and_then(|g| g.internet_gateway_id()),
            "CreateInternetGateway",
            "internet gateway id",
        )?
        .to_string();
        if let Some(vpc_id) = spec.str("vpc_id") {
            self.attach(&id, vpc_id).await?;
        }
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let current = prior.attrs.get("vpc_id").and_then(|v| v.as_str());
        if let Some(want) = spec.str("vpc_id") {
            if current != Some(want) {
                if let Some(old) = current {
                    self.detach(&prior.id, old).await?;
                }
                self.attach(&prior.id, want).await?;
            }
        }
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Detach from whatever AWS says it is attached to now, not what state remembers.
        if let Some(vpc_id) = self.attached_vpc(&prior.id).await? {
            self.detach(&prior.id, &vpc_id).await?;
        }
        common::delete_ok_if_gone(async {
            self.client
                .delete_internet_gateway()
                .internet_gateway_id(&prior.id)
                .send()
                .await
                .or_aws("DeleteInternetGateway")
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
