//! `ec2_vpc`: a VPC with its DNS attributes.
//!
//! Create: CreateVpc (tagged at creation), wait until `available`, then ModifyVpcAttribute for
//! each DNS attribute that differs from AWS's default (one attribute per call is all the API
//! takes). Read: one DescribeVpcs for all ids, plus — batched across all VPCs — the main route
//! table (DescribeRouteTables `association.main=true`) and the `default` security group
//! (DescribeSecurityGroups `group-name=default`). The two DNS attributes are only available
//! through DescribeVpcAttribute, one VPC and one attribute per call; those calls run
//! concurrently.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Tenancy, VpcAttributeName, VpcState};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;

use super::common::{self, filter, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::SdkResultExt;
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

/// DescribeVpcAttribute calls in flight at once during a refresh.
const ATTRIBUTE_CONCURRENCY: usize = 4;
const AVAILABLE_TIMEOUT: Duration = Duration::from_secs(300);
const ATTRIBUTE_TIMEOUT: Duration = Duration::from_secs(300);
const ATTRIBUTE_INTERVAL: Duration = Duration::from_secs(2);
const AVAILABLE_INTERVAL: Duration = Duration::from_secs(3);

pub struct Vpc {
    client: Client,
    schema: Schema,
}

impl Vpc {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // "The allowed block size is between a /16 netmask (65,536 IP addresses) and /28
            // netmask (16 IP addresses)" (Amazon VPC User Guide, "VPC CIDR blocks").
            AttrSchema::required("cidr_block", AttrType::String)
                .force_new()
                .constraint(Constraint::Cidr { min_prefix: 16, max_prefix: 28 })
                .doc("IPv4 CIDR block, e.g. 10.0.0.0/16."),
            AttrSchema::optional("enable_dns_support", AttrType::Bool)
                .default(json!(true))
                .doc("Amazon DNS resolution in the VPC."),
            AttrSchema::optional("enable_dns_hostnames", AttrType::Bool)
                .default(json!(false))
                .doc("Public DNS hostnames for instances with public IPs (EKS needs it)."),
            // CreateVpc InstanceTenancy: `default | dedicated | host`, and `host` is refused for
            // a VPC (EC2 API Reference, CreateVpc).
            AttrSchema::optional("instance_tenancy", AttrType::String)
                .force_new()
                .one_of(&["default", "dedicated"])
                .doc("`default` or `dedicated`."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("main_route_table_id", AttrType::String),
            AttrSchema::computed("default_security_group_id", AttrType::String),
        ]);
        Vpc { client, schema }
    }

    async fn dns_attribute(&self, vpc_id: &str, name: VpcAttributeName) -> Result<Option<bool>, ResourceError> {
        let out = self
            .client
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(name.clone())
            .send()
            .await
            .or_aws("DescribeVpcAttribute")?;
        let value = match name {
            VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
            _ => out.enable_dns_support(),
        };
        Ok(value.and_then(AttributeBooleanValue::value))
    }

    /// Set one DNS attribute, then read it back until the new value shows: right after
    /// ModifyVpcAttribute, DescribeVpcAttribute may still answer the old value, which would be
    /// recorded and planned as a change again (EC2 API reference, "Eventual consistency";
    /// terraform-provider-aws internal/service/ec2/vpc_.go waits for the new value,
    /// vpcAttributePropagationTimeout, 5 min).
    async fn set_dns_attribute(&self, cx: &Cx, vpc_id: &str, name: &str, value: bool) -> Result<(), ResourceError> {
        let v = AttributeBooleanValue::builder().value(value).build();
        let req = self.client.modify_vpc_attribute().vpc_id(vpc_id);
        let (req, attribute) = if name == "enable_dns_hostnames" {
            (req.enable_dns_hostnames(v), VpcAttributeName::EnableDnsHostnames)
        } else {
            (req.enable_dns_support(v), VpcAttributeName::EnableDnsSupport)
        };
        req.send().await.or_aws("ModifyVpcAttribute")?;
        let what = format!("VPC {vpc_id} {name} to read back as {value}");
        cx.poll_until(&what, ATTRIBUTE_TIMEOUT, ATTRIBUTE_INTERVAL, || async {
            Ok((self.dns_attribute(vpc_id, attribute.clone()).await? == Some(value)).then_some(()))
        })
        .await
    }

    /// Bring the DNS attributes to what `spec` asks, comparing with `current` (AWS's values).
    async fn apply_dns(&self, cx: &Cx, vpc_id: &str, current: &Attrs, spec: &Spec) -> Result<(), ResourceError> {
        // enable_dns_hostnames can only be true while enable_dns_support is: turn support on
        // first and hostnames off first.
        let order = if spec.bool("enable_dns_support") == Some(false) {
            ["enable_dns_hostnames", "enable_dns_support"]
        } else {
            ["enable_dns_support", "enable_dns_hostnames"]
        };
        for name in order {
            if let Some(want) = spec.bool(name) {
                if current.get(name).and_then(Value::as_bool) != Some(want) {
                    self.set_dns_attribute(cx, vpc_id, name, want).await?;
                }
            }
        }
        Ok(())
    }

    /// `(vpc id → id)` for the main route tables / default security groups of `vpc_ids`.
    async fn main_route_tables(&self, vpc_ids: &[String]) -> Result<HashMap<String, String>, ResourceError> {
        let tables: Vec<_> = self
            .client
            .describe_route_tables()
            .filters(filter("vpc-id", vpc_ids.iter().cloned()))
            .filters(filter("association.main", ["true"]))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeRouteTables")?;
        Ok(tables.iter().filter_map(|t| Some((t.vpc_id()?.to_string(), t.route_table_id()?.to_string()))).collect())
    }

    async fn default_security_groups(&self, vpc_ids: &[String]) -> Result<HashMap<String, String>, ResourceError> {
        let groups: Vec<_> = self
            .client
            .describe_security_groups()
            .filters(filter("vpc-id", vpc_ids.iter().cloned()))
            .filters(filter("group-name", ["default"]))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeSecurityGroups")?;
        Ok(groups.iter().filter_map(|g| Some((g.vpc_id()?.to_string(), g.group_id()?.to_string()))).collect())
    }

    async fn wait_available(&self, cx: &Cx, vpc_id: &str) -> Result<(), ResourceError> {
        cx.poll_until(&format!("VPC {vpc_id} to become available"), AVAILABLE_TIMEOUT, AVAILABLE_INTERVAL, || async {
            let vpcs: Vec<_> = self
                .client
                .describe_vpcs()
                .filters(filter("vpc-id", [vpc_id]))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_aws("DescribeVpcs")?;
            // Not visible yet (eventual consistency) counts as not available yet.
            Ok(vpcs.iter().any(|v| v.state() == Some(&VpcState::Available)).then_some(()))
        })
        .await
    }
}

#[async_trait::async_trait]
impl Describe for Vpc {
    const ID_FILTER: &'static str = "vpc-id";

    async fn describe(&self, filters: Vec<aws_sdk_ec2::types::Filter>) -> Result<Vec<Found>, ResourceError> {
        let vpcs: Vec<_> = self
            .client
            .describe_vpcs()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeVpcs")?;
        let ids: Vec<String> = vpcs.iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // find_owned can match more VPCs than one filter takes.
        let (mut main_rtbs, mut default_sgs) = (HashMap::new(), HashMap::new());
        for chunk in ids.chunks(common::FILTER_VALUES_MAX) {
            let (rtbs, sgs) = futures::try_join!(self.main_route_tables(chunk), self.default_security_groups(chunk))?;
            main_rtbs.extend(rtbs);
            default_sgs.extend(sgs);
        }
        let dns: HashMap<String, (Option<bool>, Option<bool>)> = stream::iter(ids.iter().cloned())
            .map(|id: String| async move {
                let support = self.dns_attribute(&id, VpcAttributeName::EnableDnsSupport).await?;
                let hostnames = self.dns_attribute(&id, VpcAttributeName::EnableDnsHostnames).await?;
                Ok::<_, ResourceError>((id, (support, hostnames)))
            })
            .buffer_unordered(ATTRIBUTE_CONCURRENCY)
            .try_collect()
            .await?;

        let mut out = Vec::new();
        for v in &vpcs {
            let Some(id) = v.vpc_id() else { continue };
            let mut attrs = Attrs::new();
            put_str(&mut attrs, "cidr_block", v.cidr_block());
            put_str(&mut attrs, "instance_tenancy", v.instance_tenancy().map(Tenancy::as_str));
            put_str(&mut attrs, "arn", common::ec2_arn(&self.client, v.owner_id(), "vpc", id).as_deref());
            put_str(&mut attrs, "main_route_table_id", main_rtbs.get(id).map(String::as_str));
            put_str(&mut attrs, "default_security_group_id", default_sgs.get(id).map(String::as_str));
            if let Some((support, hostnames)) = dns.get(id) {
                if let Some(b) = support {
                    attrs.insert("enable_dns_support".into(), Value::Bool(*b));
                }
                if let Some(b) = hostnames {
                    attrs.insert("enable_dns_hostnames".into(), Value::Bool(*b));
                }
            }
            out.push(found(id, attrs, v.tags()));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ResourceKind for Vpc {
    fn kind(&self) -> &'static str {
        "ec2_vpc"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        // CreateVpc takes no client token: a create interrupted after AWS accepted it is
        // resolved by the engine through find_owned (the VPC is tagged at creation).
        let out = self
            .client
            .create_vpc()
            .cidr_block(spec.req_str("cidr_block")?)
            .set_instance_tenancy(spec.str("instance_tenancy").map(Tenancy::from))
            .tag_specifications(common::tag_spec(ResourceType::Vpc, cx, spec)?)
            .send()
            .await
            .or_aws("CreateVpc")?;
        let id = common::required(out.vpc().and_then(|v| v.vpc_id()), "CreateVpc", "VPC id")?.to_string();
        self.wait_available(cx, &id).await?;
        // A new VPC has DNS support on and hostnames off.
        let defaults: Attrs =
            [("enable_dns_support".to_string(), json!(true)), ("enable_dns_hostnames".to_string(), json!(false))]
                .into_iter()
                .collect();
        self.apply_dns(cx, &id, &defaults, spec).await?;
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.apply_dns(cx, &prior.id, &prior.attrs, spec).await?;
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // DependencyViolation while its last network interfaces go: waited out by the
        // connector (`aws::consistency`).
        common::delete_ok_if_gone(async { self.client.delete_vpc().vpc_id(&prior.id).send().await.or_aws("DeleteVpc") })
            .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
