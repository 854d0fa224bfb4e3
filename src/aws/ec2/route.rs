//! `ec2_route`: one route (destination CIDR → internet gateway or NAT gateway) in a route table.
//!
//! Routes have no id and cannot be tagged, so the id is derived from the natural key:
//! `"{route_table_id}_{destination_cidr_block}"`. That makes adoption work without tags: a
//! create interrupted after AWS accepted it is found under the same id (`find_intent`), and
//! `find_owned` returns nothing.
//! Create: CreateRoute; `RouteAlreadyExists` with the same target is success (idempotent
//! re-run), with another target it is an error (the route is not ours to take over).
//! Update: ReplaceRoute switches the target in place. Read: one DescribeRouteTables for every
//! table the requested routes live in.

use std::collections::{BTreeMap, BTreeSet};

use super::common::{self, filter, put_str, Client};
use super::route_table::describe_route_tables;
use crate::aws::error::SdkResultExt;
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec,
};

pub struct Route {
    client: Client,
    schema: Schema,
}

/// Where a route sends traffic.
#[derive(Debug, PartialEq, Clone, Copy)]
enum Target<'a> {
    Gateway(&'a str),
    Nat(&'a str),
}

impl<'a> Target<'a> {
    /// Exactly one of `gateway_id` / `nat_gateway_id` must be set.
    fn of(spec: &'a Spec) -> Result<Self, ResourceError> {
        match (spec.str("gateway_id"), spec.str("nat_gateway_id")) {
            (Some(g), None) => Ok(Target::Gateway(g)),
            (None, Some(n)) => Ok(Target::Nat(n)),
            _ => Err(ResourceError::invalid(format!(
                "{}: set exactly one of gateway_id and nat_gateway_id",
                spec.address
            ))),
        }
    }

    fn of_observed(o: &'a Observed) -> Option<Self> {
        let get = |k: &str| o.attrs.get(k).and_then(|v| v.as_str());
        get("nat_gateway_id").map(Target::Nat).or_else(|| get("gateway_id").map(Target::Gateway))
    }
}

/// The id of the route to `cidr` in `table`.
pub fn route_id(table: &str, cidr: &str) -> String {
    format!("{table}_{cidr}")
}

/// `(route table id, destination CIDR)` from a route id. Route table ids (`rtb-…`) contain no
/// underscore, so the first one separates the two.
fn parse_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('_').filter(|(t, c)| !t.is_empty() && !c.is_empty())
}

impl Route {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: a route is part of its table and goes with it (DeleteRouteTable, EC2 API
            // reference: the table and its routes are deleted; only associations block it).
            AttrSchema::required("route_table_id", AttrType::String).force_new().parent(),
            AttrSchema::required("destination_cidr_block", AttrType::String)
                .force_new()
                .constraint(Constraint::Cidr { min_prefix: 0, max_prefix: 32 }),
            AttrSchema::optional("gateway_id", AttrType::String).doc("An internet gateway id (igw-…)."),
            AttrSchema::optional("nat_gateway_id", AttrType::String).doc("A NAT gateway id (nat-…)."),
        ]);
        Route { client, schema }
    }

    async fn read_one(&self, cx: &Cx, id: &str) -> Result<Option<Observed>, ResourceError> {
        Ok(self.read_many(cx, &[id.to_string()]).await?.into_iter().next())
    }
}

#[async_trait::async_trait]
impl ResourceKind for Route {
    fn kind(&self) -> &'static str {
        "ec2_route"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        // table → destinations wanted in it; malformed ids cannot exist in AWS, so are absent.
        let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (table, cidr) in ids.iter().filter_map(|id| parse_id(id)) {
            wanted.entry(table).or_default().insert(cidr);
        }
        let tables: Vec<&str> = wanted.keys().copied().collect();
        let mut out = Vec::new();
        for chunk in tables.chunks(common::FILTER_VALUES_MAX) {
            for t in describe_route_tables(&self.client, vec![filter("route-table-id", chunk.iter().copied())]).await? {
                let Some(table_id) = t.route_table_id() else {
                    continue;
                };
                let Some(cidrs) = wanted.get(table_id) else {
                    continue;
                };
                for r in t.routes() {
                    let Some(cidr) = r.destination_cidr_block().filter(|c| cidrs.contains(c)) else {
                        continue;
                    };
                    let mut attrs = Attrs::new();
                    put_str(&mut attrs, "route_table_id", Some(table_id));
                    put_str(&mut attrs, "destination_cidr_block", Some(cidr));
                    put_str(&mut attrs, "gateway_id", r.gateway_id());
                    put_str(&mut attrs, "nat_gateway_id", r.nat_gateway_id());
                    out.push(Observed { id: route_id(table_id, cidr), attrs, owner_address: None });
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let target = Target::of(spec)?;
        let table = spec.req_str("route_table_id")?;
        let cidr = spec.req_str("destination_cidr_block")?;
        let id = route_id(table, cidr);
        let req = self.client.create_route().route_table_id(table).destination_cidr_block(cidr);
        let req = match target {
            Target::Gateway(g) => req.gateway_id(g),
            Target::Nat(n) => req.nat_gateway_id(n),
        };
        if let Err(e) = req.send().await.or_aws("CreateRoute") {
            if e.code() != Some("RouteAlreadyExists") {
                return Err(e);
            }
            // A re-run of a create that went through: the same route is success.
            let existing = self.read_one(cx, &id).await?;
            if existing.as_ref().and_then(Target::of_observed) != Some(target) {
                return Err(e);
            }
        }
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let target = Target::of(spec)?;
        if Target::of_observed(prior) != Some(target) {
            let req = self
                .client
                .replace_route()
                .route_table_id(spec.req_str("route_table_id")?)
                .destination_cidr_block(spec.req_str("destination_cidr_block")?);
            let req = match target {
                Target::Gateway(g) => req.gateway_id(g),
                Target::Nat(n) => req.nat_gateway_id(n),
            };
            req.send().await.or_aws("ReplaceRoute")?;
        }
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let Some((table, cidr)) = parse_id(&prior.id) else {
            return Err(ResourceError::invalid(format!("`{}` is not a route id (rtb-…_CIDR)", prior.id)));
        };
        common::delete_ok_if_gone(async {
            self.client
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .or_aws("DeleteRoute")
        })
        .await
    }

    /// Routes cannot be tagged; adoption works through the deterministic id instead.
    async fn find_owned(&self, _cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        Ok(Vec::new())
    }

    /// A create whose answer was lost is found by its natural key, table + destination (a
    /// table holds one route per destination: CreateRoute answers `RouteAlreadyExists`
    /// otherwise). The table is this stack's (the intent names it), so whatever route holds
    /// the destination is adopted, whatever its target: one left pointing at a deleted NAT
    /// gateway (a blackhole) would otherwise block every later create of it; adopted, it is
    /// re-pointed (ReplaceRoute) or deleted with the rest.
    async fn find_intent(&self, cx: &Cx, intent: &Spec) -> Result<Option<Observed>, ResourceError> {
        let (Some(table), Some(cidr)) = (intent.str("route_table_id"), intent.str("destination_cidr_block")) else {
            return Ok(None);
        };
        self.read_one(cx, &route_id(table, cidr)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = route_id("rtb-0abc", "0.0.0.0/0");
        assert_eq!(id, "rtb-0abc_0.0.0.0/0");
        assert_eq!(parse_id(&id), Some(("rtb-0abc", "0.0.0.0/0")));
        assert_eq!(parse_id("rtb-0abc"), None);
        assert_eq!(parse_id("_10.0.0.0/8"), None);
    }
}
