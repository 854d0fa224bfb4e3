//! The emulator's own fidelity: each behaviour moto 5.2.5 got wrong and kprov's extension fixes
//! (`scripts/moto_ext/kprov_moto_eks/{route53,acm,ec2}_fixes.py`, listed in docs/testing.md), checked
//! through the SDK alone — no kprov code — so each test fails on unpatched moto and passes with the
//! extension. They keep the kill -9 soak and the crash sweeps faithful to AWS.
//!
//! Isolation: Route 53 is global (random zone names and caller references); EC2 and ACM run in a
//! region no other test uses.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::route53::zone_name;
use super::Env;

const REGION: &str = "ap-southeast-7";

async fn clients(owner_env: &str) -> (aws_sdk_ec2::Client, aws_sdk_route53::Client, aws_sdk_acm::Client) {
    let env = Env::new(REGION, owner_env).await;
    (aws_sdk_ec2::Client::new(&env.sdk), aws_sdk_route53::Client::new(&env.sdk), aws_sdk_acm::Client::new(&env.sdk))
}

fn a_record(action: ChangeAction, name: &str, value: &str) -> Change {
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(value).build().expect("record"))
        .build()
        .expect("record set");
    Change::builder().action(action).resource_record_set(set).build().expect("change")
}

async fn change(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    changes: Vec<Change>,
) -> Result<
    (),
    aws_sdk_route53::error::SdkError<
        aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError,
    >,
> {
    let batch = ChangeBatch::builder().set_changes(Some(changes)).build().expect("batch");
    r53.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send().await.map(|_| ())
}

/// The A record sets of `zone` named `name`, with their values.
async fn a_records(r53: &aws_sdk_route53::Client, zone: &str, name: &str) -> Vec<BTreeSet<String>> {
    let out = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.expect("ListResourceRecordSets");
    out.resource_record_sets()
        .iter()
        .filter(|r| r.r#type() == &RrType::A && r.name().trim_end_matches('.') == name.trim_end_matches('.'))
        .map(|r| r.resource_records().iter().map(|v| v.value().to_string()).collect())
        .collect()
}

async fn new_zone(r53: &aws_sdk_route53::Client, name: &str, caller_reference: &str) -> String {
    let out =
        r53.create_hosted_zone().name(name).caller_reference(caller_reference).send().await.expect("CreateHostedZone");
    out.hosted_zone().expect("zone").id().trim_start_matches("/hostedzone/").to_string()
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// AWS refuses a CREATE exactly when the record set (name, type) exists; a batch applies in order.
/// moto refused an identical apex record for ever after its deletion (its test listed the records
/// *from* that name on, which always includes the zone's NS and SOA), and accepted a CREATE with
/// other values for an existing record as a second record set.
#[tokio::test]
async fn emulator_route53_record_create_is_refused_exactly_when_the_record_exists() {
    let (_, r53, _) = clients("emulator-r53-records").await;
    let apex = zone_name();
    let zone = new_zone(&r53, &apex, &uuid::Uuid::new_v4().to_string()).await;

    change(&r53, &zone, vec![a_record(ChangeAction::Create, &apex, "10.0.0.1")]).await.expect("CREATE apex");
    change(&r53, &zone, vec![a_record(ChangeAction::Delete, &apex, "10.0.0.1")]).await.expect("DELETE apex");
    assert!(a_records(&r53, &zone, &apex).await.is_empty());
    // The same record again, as a create resumed after its deletion does.
    change(&r53, &zone, vec![a_record(ChangeAction::Create, &apex, "10.0.0.1")]).await.expect("CREATE apex again");
    assert_eq!(a_records(&r53, &zone, &apex).await, vec![set(&["10.0.0.1"])]);

    // A CREATE of an existing record with other values is refused, and changes nothing.
    let err = change(&r53, &zone, vec![a_record(ChangeAction::Create, &apex, "10.0.0.2")]).await.expect_err("exists");
    assert_eq!(err.code(), Some("InvalidChangeBatch"), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("already exists"), "{err:?}");
    assert_eq!(a_records(&r53, &zone, &apex).await, vec![set(&["10.0.0.1"])]);

    // DELETE then CREATE in one batch replaces the record (changes apply in order).
    let replace =
        vec![a_record(ChangeAction::Delete, &apex, "10.0.0.1"), a_record(ChangeAction::Create, &apex, "10.0.0.3")];
    change(&r53, &zone, replace).await.expect("DELETE + CREATE");
    assert_eq!(a_records(&r53, &zone, &apex).await, vec![set(&["10.0.0.3"])]);
    // A batch refused part-way changes nothing (all or none).
    let www = format!("www.{apex}");
    let refused =
        vec![a_record(ChangeAction::Create, &www, "10.0.1.1"), a_record(ChangeAction::Create, &apex, "10.0.0.4")];
    change(&r53, &zone, refused).await.expect_err("second change exists");
    assert!(a_records(&r53, &zone, &www).await.is_empty(), "the first change of a refused batch was applied");

    change(&r53, &zone, vec![a_record(ChangeAction::Delete, &apex, "10.0.0.3")]).await.expect("cleanup");
    r53.delete_hosted_zone().id(&zone).send().await.expect("DeleteHostedZone");
}

/// AWS: HostedZoneAlreadyExists "when a hosted zone has already been created with the specified
/// CallerReference". moto ignored the reference and made a second zone.
#[tokio::test]
async fn emulator_route53_caller_reference_is_unique() {
    let (_, r53, _) = clients("emulator-r53-ref").await;
    let reference = uuid::Uuid::new_v4().to_string();
    let zone = new_zone(&r53, &zone_name(), &reference).await;

    let second = zone_name();
    let err = r53
        .create_hosted_zone()
        .name(&second)
        .caller_reference(&reference)
        .send()
        .await
        .expect_err("a second zone with the same caller reference");
    assert_eq!(err.code(), Some("HostedZoneAlreadyExists"), "{err:?}");
    // Exactly one zone carries the reference (every page: Route 53 is shared by all tests).
    let zones: Vec<_> =
        r53.list_hosted_zones().into_paginator().items().send().try_collect().await.expect("ListHostedZones");
    let with_ref: Vec<&str> = zones.iter().filter(|z| z.caller_reference() == reference).map(|z| z.id()).collect();
    assert_eq!(with_ref.len(), 1, "{with_ref:?}");
    assert!(with_ref[0].ends_with(&zone), "{with_ref:?} vs {zone}");
    assert!(!zones.iter().any(|z| z.name().trim_end_matches('.') == second), "a zone {second} was made");

    r53.delete_hosted_zone().id(&zone).send().await.expect("DeleteHostedZone");
}

/// RequestCertificate with the idempotency token of a deleted certificate is answered (a new
/// certificate); moto answered HTTP 500. The token of a live certificate still returns it.
#[tokio::test]
async fn emulator_acm_token_of_a_deleted_certificate_is_answered() {
    let (_, _, acm) = clients("emulator-acm").await;
    let domain = zone_name();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let request = || async {
        let out = acm
            .request_certificate()
            .domain_name(&domain)
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .idempotency_token(&token)
            .send()
            .await
            .expect("RequestCertificate");
        out.certificate_arn().expect("arn").to_string()
    };
    let first = request().await;
    assert_eq!(request().await, first, "the same token within the hour is the same certificate");

    acm.delete_certificate().certificate_arn(&first).send().await.expect("DeleteCertificate");
    let second = request().await;
    assert_ne!(second, first);
    let got = acm.describe_certificate().certificate_arn(&second).send().await.expect("DescribeCertificate");
    assert_eq!(got.certificate().and_then(|c| c.domain_name()), Some(domain.as_str()));
    let gone = acm.describe_certificate().certificate_arn(&first).send().await.expect_err("deleted");
    assert_eq!(gone.code(), Some("ResourceNotFoundException"), "{gone:?}");
    assert_eq!(request().await, second, "the token now names the new certificate");

    acm.delete_certificate().certificate_arn(&second).send().await.expect("DeleteCertificate");
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
}

async fn vpc_with_subnets(ec2: &aws_sdk_ec2::Client, cidr: &str, subnets: &[&str]) -> (String, Vec<String>) {
    let vpc = ec2.create_vpc().cidr_block(cidr).send().await.expect("CreateVpc");
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    let mut ids = Vec::new();
    for c in subnets {
        let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(*c).send().await.expect("CreateSubnet");
        ids.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
    }
    (vpc, ids)
}

async fn route_table(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    let rt = ec2.create_route_table().vpc_id(vpc).send().await.expect("CreateRouteTable");
    rt.route_table().and_then(|r| r.route_table_id()).expect("route table id").to_string()
}

async fn tables(ec2: &aws_sdk_ec2::Client, filters: Vec<Filter>) -> Vec<String> {
    let out = ec2.describe_route_tables().set_filters(Some(filters)).send().await.expect("DescribeRouteTables");
    out.route_tables().iter().filter_map(|r| r.route_table_id().map(str::to_string)).collect()
}

/// AWS: several values of one filter are OR-ed, several filters AND-ed. For an attribute with
/// several values (a table's associated subnets) moto matched only a subset or a superset of the
/// filter's values.
#[tokio::test]
async fn emulator_ec2_filter_values_match_any_of() {
    let (ec2, _, _) = clients("emulator-ec2-filters").await;
    let (vpc, s) = vpc_with_subnets(&ec2, "10.71.0.0/16", &["10.71.1.0/24", "10.71.2.0/24", "10.71.3.0/24"]).await;
    let rt = route_table(&ec2, &vpc).await;
    for subnet in &s[..2] {
        ec2.associate_route_table().route_table_id(&rt).subnet_id(subnet).send().await.expect("AssociateRouteTable");
    }
    let assoc = "association.subnet-id";
    // Table on {A, B}; the filter [A, C] overlaps without being a subset or a superset.
    assert_eq!(tables(&ec2, vec![filter(assoc, &[&s[0], &s[2]])]).await, vec![rt.clone()]);
    assert_eq!(tables(&ec2, vec![filter(assoc, &[&s[2], "subnet-00000000000000000"])]).await, Vec::<String>::new());
    // Wildcards among several values.
    assert_eq!(
        tables(&ec2, vec![filter(assoc, &["subnet-00000000000000000", &format!("{}*", &s[1][..10])])]).await,
        vec![rt.clone()]
    );
    // Filters are AND-ed: a match on one and not the other is no match.
    assert_eq!(
        tables(&ec2, vec![filter(assoc, &[&s[0], &s[2]]), filter("vpc-id", &["vpc-00000000000000000"])]).await,
        Vec::<String>::new()
    );
    assert_eq!(tables(&ec2, vec![filter(assoc, &[&s[0], &s[2]]), filter("vpc-id", &[&vpc])]).await, vec![rt.clone()]);
}

/// AWS removes a subnet's route-table associations with the subnet. moto kept them, so the table
/// still listed an association to a subnet that is gone and DeleteRouteTable was refused.
#[tokio::test]
async fn emulator_ec2_delete_subnet_removes_its_route_table_associations() {
    let (ec2, _, _) = clients("emulator-ec2-subnet").await;
    let (vpc, s) = vpc_with_subnets(&ec2, "10.72.0.0/16", &["10.72.1.0/24", "10.72.2.0/24"]).await;
    let rt = route_table(&ec2, &vpc).await;
    for subnet in &s {
        ec2.associate_route_table().route_table_id(&rt).subnet_id(subnet).send().await.expect("AssociateRouteTable");
    }
    ec2.delete_subnet().subnet_id(&s[0]).send().await.expect("DeleteSubnet");

    let out = ec2.describe_route_tables().route_table_ids(&rt).send().await.expect("DescribeRouteTables");
    let subnets: Vec<&str> = out.route_tables()[0].associations().iter().filter_map(|a| a.subnet_id()).collect();
    assert_eq!(subnets, vec![s[1].as_str()], "only the live subnet's association is left");
    assert!(tables(&ec2, vec![filter("association.subnet-id", &[&s[0]])]).await.is_empty());

    ec2.delete_subnet().subnet_id(&s[1]).send().await.expect("DeleteSubnet");
    // Nothing holds the table any more: it can be deleted, as on AWS after its subnets are gone.
    ec2.delete_route_table().route_table_id(&rt).send().await.expect("DeleteRouteTable");
    ec2.delete_vpc().vpc_id(&vpc).send().await.expect("DeleteVpc");
}
