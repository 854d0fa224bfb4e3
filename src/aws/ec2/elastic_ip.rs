//! `ec2_elastic_ip`: an Elastic IP address; its id is the allocation id (`eipalloc-…`).
//!
//! Create: AllocateAddress, tagged at creation (the API has no client token; an interrupted
//! create is adopted through find_owned). Read: DescribeAddresses with an `allocation-id`
//! filter — the one EC2 Describe that is not paginated, so one call per chunk of ids.
//! Delete: ReleaseAddress, retried while the address is still in use by a NAT gateway that is
//! being deleted.

use aws_sdk_ec2::types::{DomainType, Filter, ResourceType};
use serde_json::json;

use super::common::{self, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::SdkResultExt;
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

pub struct ElasticIp {
    client: Client,
    schema: Schema,
}

impl ElasticIp {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::optional("domain", AttrType::String).default(json!("vpc")).force_new(),
            tags_attr(),
            AttrSchema::computed("public_ip", AttrType::String),
        ]);
        ElasticIp { client, schema }
    }
}

#[async_trait::async_trait]
impl Describe for ElasticIp {
    const ID_FILTER: &'static str = "allocation-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let out =
            self.client.describe_addresses().set_filters(Some(filters)).send().await.or_aws("DescribeAddresses")?;
        Ok(out
            .addresses()
            .iter()
            .filter_map(|a| {
                let id = a.allocation_id()?;
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "domain", a.domain().map(DomainType::as_str));
                put_str(&mut attrs, "public_ip", a.public_ip());
                Some(found(id, attrs, a.tags()))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for ElasticIp {
    fn kind(&self) -> &'static str {
        "ec2_elastic_ip"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let domain = spec.str("domain").unwrap_or("vpc");
        if !matches!(domain, "vpc" | "standard") {
            return Err(ResourceError::invalid(format!(
                "{}: domain must be \"vpc\" or \"standard\", not {domain:?}",
                spec.address
            )));
        }
        let out = self
            .client
            .allocate_address()
            .domain(DomainType::from(domain))
            .tag_specifications(common::tag_spec(ResourceType::ElasticIp, cx, spec)?)
            .send()
            .await
            .or_aws("AllocateAddress")?;
        let id = common::required(out.allocation_id(), "AllocateAddress", "allocation id")?.to_string();
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Still in use by a NAT gateway being deleted: waited out by the connector
        // (`aws::consistency`).
        common::delete_ok_if_gone(async {
            self.client.release_address().allocation_id(&prior.id).send().await.or_aws("ReleaseAddress")
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
