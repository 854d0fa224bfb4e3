//! `ec2_route_table_association`: which route table a subnet uses. Id = the association id
//! (`rtbassoc-…`).
//!
//! Create: AssociateRouteTable; if the subnet is already associated with the same table (a
//! re-run after a crash), that association is adopted. Update: ReplaceRouteTableAssociation
//! moves the subnet to another table in place — AWS gives the association a new id, which the
//! returned `Observed` carries. Read: one DescribeRouteTables filtered by association id.
//!
//! Associations cannot be tagged. `find_owned` therefore returns the subnet associations of
//! the route tables carrying this stack's ownership tags: an association of one of our tables
//! is ours (the association inherits the table's ownership; `owner_address` stays unknown).

use aws_sdk_ec2::types::{Filter, RouteTableAssociationStateCode};

use super::common::{self, filter, found_untagged, put_str, Client, Describe, Found};
use super::route_table::{describe_route_tables, table_found};
use crate::aws::error::SdkResultExt;
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

pub struct RouteTableAssociation {
    client: Client,
    schema: Schema,
}

impl RouteTableAssociation {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("subnet_id", AttrType::String).force_new(),
            // Parent: DeleteRouteTable refuses a table that still has subnet associations ("You
            // must disassociate the route table from any subnets before you can delete it",
            // EC2 API reference, DeleteRouteTable), so when the table itself is replaced the
            // association goes first and is made again with the new table.
            AttrSchema::required("route_table_id", AttrType::String).parent().doc(
                "Changing it to another table moves the subnet in place; replacing the table makes the \
                 association again.",
            ),
        ]);
        RouteTableAssociation { client, schema }
    }

    /// The current association of `subnet_id`, if any.
    async fn of_subnet(&self, subnet_id: &str) -> Result<Option<Observed>, ResourceError> {
        let found = self.describe(vec![filter("association.subnet-id", [subnet_id])]).await?;
        Ok(found
            .into_iter()
            .map(|f| f.obs)
            .find(|o| o.attrs.get("subnet_id").and_then(|v| v.as_str()) == Some(subnet_id)))
    }
}

#[async_trait::async_trait]
impl Describe for RouteTableAssociation {
    const ID_FILTER: &'static str = "association.route-table-association-id";

    /// Every live subnet association of the matching tables (main-table and gateway
    /// associations are not this kind's business).
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let tables = describe_route_tables(&self.client, filters).await?;
        let mut out = Vec::new();
        for t in &tables {
            let Some(table) = table_found(t) else {
                continue;
            };
            for a in t.associations() {
                let live = !matches!(
                    a.association_state().and_then(|s| s.state()),
                    Some(
                        RouteTableAssociationStateCode::Disassociated
                            | RouteTableAssociationStateCode::Disassociating
                            | RouteTableAssociationStateCode::Failed
                    )
                );
                let (Some(id), Some(subnet)) = (a.route_table_association_id(), a.subnet_id()) else {
                    continue;
                };
                if a.main() == Some(true) || !live {
                    continue;
                }
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "subnet_id", Some(subnet));
                put_str(&mut attrs, "route_table_id", a.route_table_id().or(t.route_table_id()));
                out.push(found_untagged(id, attrs, &table));
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ResourceKind for RouteTableAssociation {
    fn kind(&self) -> &'static str {
        "ec2_route_table_association"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let subnet = spec.req_str("subnet_id")?;
        let table = spec.req_str("route_table_id")?;
        let r = self.client.associate_route_table().subnet_id(subnet).route_table_id(table).send().await;
        let id = match r.or_aws("AssociateRouteTable") {
            Ok(out) => common::required(out.association_id(), "AssociateRouteTable", "association id")?.to_string(),
            Err(e) if e.code() == Some("Resource.AlreadyAssociated") => {
                // Adopt only an association with the very table we want; a subnet attached
                // to another table is somebody else's decision.
                match self.of_subnet(subnet).await? {
                    Some(o) if o.attrs.get("route_table_id").and_then(|v| v.as_str()) == Some(table) => o.id,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let table = spec.req_str("route_table_id")?;
        if prior.attrs.get("route_table_id").and_then(|v| v.as_str()) == Some(table) {
            return common::read_back(self, cx, &prior.id).await;
        }
        let out = self
            .client
            .replace_route_table_association()
            .association_id(&prior.id)
            .route_table_id(table)
            .send()
            .await
            .or_aws("ReplaceRouteTableAssociation")?;
        let id = common::required(out.new_association_id(), "ReplaceRouteTableAssociation", "new association id")?;
        common::read_back(self, cx, id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        common::delete_ok_if_gone(async {
            self.client
                .disassociate_route_table()
                .association_id(&prior.id)
                .send()
                .await
                .or_aws("DisassociateRouteTable")
        })
        .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
