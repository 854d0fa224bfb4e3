//! `ec2_subnet`: a subnet in one availability zone.
//!
//! Create: CreateSubnet (tagged at creation), then ModifySubnetAttribute when public IPs on
//! launch are wanted (CreateSubnet cannot set it). Read: one DescribeSubnets for all ids
//! (`subnet-id` filter); everything, `map_public_ip_on_launch` included, is in its answer.
//! Update: ModifySubnetAttribute and user tags; everything else forces a new subnet.

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType};
use serde_json::json;

use super::common::{self, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::SdkResultExt;
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Fact, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

pub struct Subnet {
    client: Client,
    schema: Schema,
}

impl Subnet {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("vpc_id", AttrType::String).force_new(),
            // Subnet sizes are /16 to /28 like the VPC's (Amazon VPC User Guide, "Subnet CIDR
            // blocks"); inside the VPC and not overlapping: plan::validate::network.
            AttrSchema::required("cidr_block", AttrType::String)
                .force_new()
                .constraint(Constraint::Cidr { min_prefix: 16, max_prefix: 28 }),
            AttrSchema::required("availability_zone", AttrType::String)
                .force_new()
                .constraint(Constraint::Zone)
                .constraint(Constraint::Exists(Fact::AvailabilityZone))
                .doc("e.g. us-east-1a; `plan` checks that the zone exists in the region."),
            AttrSchema::optional("map_public_ip_on_launch", AttrType::Bool)
                .default(json!(false))
                .doc("Give instances launched here a public IPv4 address (public subnets)."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ])
        .stateful();
        Subnet { client, schema }
    }

    async fn set_map_public_ip(&self, id: &str, value: bool) -> Result<(), ResourceError> {
        self.client
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .or_aws("ModifySubnetAttribute")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Describe for Subnet {
    const ID_FILTER: &'static str = "subnet-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let subnets: Vec<_> = self
            .client
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeSubnets")?;
        Ok(subnets
            .iter()
            .filter_map(|s| {
                let id = s.subnet_id()?;
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "vpc_id", s.vpc_id());
                put_str(&mut attrs, "cidr_block", s.cidr_block());
                put_str(&mut attrs, "availability_zone", s.availability_zone());
                put_str(&mut attrs, "arn", s.subnet_arn());
                if let Some(b) = s.map_public_ip_on_launch() {
                    attrs.insert("map_public_ip_on_launch".into(), Value::Bool(b));
                }
                Some(found(id, attrs, s.tags()))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for Subnet {
    fn kind(&self) -> &'static str {
        "ec2_subnet"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        // No client token on CreateSubnet; an interrupted create is adopted via find_owned.
        let out = self
            .client
            .create_subnet()
            .vpc_id(spec.req_str("vpc_id")?)
            .cidr_block(spec.req_str("cidr_block")?)
            .availability_zone(spec.req_str("availability_zone")?)
            .tag_specifications(common::tag_spec(ResourceType::Subnet, cx, spec)?)
            .send()
            .await
            .or_aws("CreateSubnet")?;
        let id = common::required(out.subnet().and_then(|s| s.subnet_id()), "CreateSubnet", "subnet id")?.to_string();
        // A new subnet does not map public IPs: only a `true` needs a call.
        if spec.bool("map_public_ip_on_launch") == Some(true) {
            self.set_map_public_ip(&id, true).await?;
        }
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        if let Some(want) = spec.bool("map_public_ip_on_launch") {
            if prior.attrs.get("map_public_ip_on_launch").and_then(Value::as_bool) != Some(want) {
                self.set_map_public_ip(&prior.id, want).await?;
            }
        }
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Network interfaces of a just-deleted NAT gateway or load balancer keep the subnet
        // busy for a few minutes: DependencyViolation, waited out by the connector
        // (`aws::consistency`).
        common::delete_ok_if_gone(async {
            self.client.delete_subnet().subnet_id(&prior.id).send().await.or_aws("DeleteSubnet")
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
