//! EC2 network kinds: VPC, subnets, gateways, routing, security groups.
//!
//! One file per kind; [`common`] holds what they share (tagging at creation, stripping and
//! reconciling tags, Describe-by-filter reads, ownership lookups, waiting out EC2's eventual
//! consistency and dependency errors). Every kind works on one shared [`aws_sdk_ec2::Client`]
//! (cheap to clone: it is a handle to shared configuration and connection pool).

pub mod common;
pub mod elastic_ip;
pub mod flow_log;
pub mod internet_gateway;
pub mod nat_gateway;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod security_group_rule;
pub mod subnet;
pub mod vpc;

use std::sync::Arc;

use crate::resource::Registry;

/// Register every EC2 kind in `reg`.
pub fn register(reg: &mut Registry, client: aws_sdk_ec2::Client) {
    reg.register(Arc::new(vpc::Vpc::new(client.clone())));
    reg.register(Arc::new(subnet::Subnet::new(client.clone())));
    reg.register(Arc::new(internet_gateway::InternetGateway::new(client.clone())));
    reg.register(Arc::new(elastic_ip::ElasticIp::new(client.clone())));
    reg.register(Arc::new(nat_gateway::NatGateway::new(client.clone())));
    reg.register(Arc::new(route_table::RouteTable::new(client.clone())));
    reg.register(Arc::new(route::Route::new(client.clone())));
    reg.register(Arc::new(route_table_association::RouteTableAssociation::new(client.clone())));
    reg.register(Arc::new(security_group::SecurityGroup::new(client.clone())));
    reg.register(Arc::new(security_group_rule::SecurityGroupRule::new(client.clone())));
    reg.register(Arc::new(flow_log::FlowLog::new(client)));
}
