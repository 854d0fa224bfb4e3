//! `ec2_route_table`: a route table in a VPC. Its routes and subnet associations are separate
//! kinds (`ec2_route`, `ec2_route_table_association`), so each can change on its own.
//!
//! Create: CreateRouteTable with `ClientToken` and tags at creation. Read: one
//! DescribeRouteTables for all ids (`route-table-id` filter). Delete: DeleteRouteTable,
//! retried while associations are still being removed.

use aws_sdk_ec2::types::{Filter, ResourceType, RouteTable as RouteTableItem};

use super::common::{self, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::SdkResultExt;
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

pub struct RouteTable {
    client: Client,
    schema: Schema,
}

impl RouteTable {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![AttrSchema::required("vpc_id", AttrType::String).force_new(), tags_attr()]);
        RouteTable { client, schema }
    }
}

/// Every route table matching `filters` — shared by the three route kinds, which all read
/// through DescribeRouteTables.
pub(super) async fn describe_route_tables(
    client: &Client,
    filters: Vec<Filter>,
) -> Result<Vec<RouteTableItem>, ResourceError> {
    client
        .describe_route_tables()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_aws("DescribeRouteTables")
}

/// The table as a [`Found`] (its ownership tags are also what its associations inherit).
pub(super) fn table_found(t: &RouteTableItem) -> Option<Found> {
    let id = t.route_table_id()?;
    let mut attrs = Attrs::new();
    put_str(&mut attrs, "vpc_id", t.vpc_id());
    Some(found(id, attrs, t.tags()))
}

#[async_trait::async_trait]
impl Describe for RouteTable {
    const ID_FILTER: &'static str = "route-table-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let tables = describe_route_tables(&self.client, filters).await?;
        Ok(tables.iter().filter_map(table_found).collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for RouteTable {
    fn kind(&self) -> &'static str {
        "ec2_route_table"
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
            .create_route_table()
            .client_token(&spec.client_token)
            .vpc_id(spec.req_str("vpc_id")?)
            .tag_specifications(common::tag_spec(ResourceType::RouteTable, cx, spec)?)
            .send()
            .await
            .or_aws("CreateRouteTable")?;
        let id =
            common::required(out.route_table().and_then(|t| t.route_table_id()), "CreateRouteTable", "route table id")?
                .to_string();
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // DependencyViolation while associations go away: waited out by the connector
        // (`aws::consistency`).
        common::delete_ok_if_gone(async {
            self.client.delete_route_table().route_table_id(&prior.id).send().await.or_aws("DeleteRouteTable")
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
