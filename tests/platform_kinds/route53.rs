//! Route53 zone and record (Route53 is global: unique zone names, own owner env).

use std::collections::{BTreeSet, HashMap};

use aws_sdk_route53::types::TagResourceType;
use serde_json::json;

use super::{assert_invalid, attr, unique, Env};

const REGION: &str = "eu-central-2";
const MISSING_ZONE: &str = "Z0000000000000000000";

pub fn zone_name() -> String {
    format!("{}.example.com", unique("pa"))
}

async fn zone_tags(r53: &aws_sdk_route53::Client, id: &str) -> HashMap<String, String> {
    let out = r53
        .list_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(id)
        .send()
        .await
        .expect("ListTagsForResource");
    let tags = out.resource_tag_set().map(|s| s.tags().to_vec()).unwrap_or_default();
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()
}

/// The record sets of `zone` named `name` (any type), as (type, values, alias target).
async fn records(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
) -> Vec<(String, BTreeSet<String>, Option<String>)> {
    let out = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.expect("ListResourceRecordSets");
    out.resource_record_sets()
        .iter()
        .filter(|r| r.name().trim_end_matches('.') == name)
        .map(|r| {
            let values = r.resource_records().iter().map(|v| v.value().to_string()).collect();
            let alias = r.alias_target().map(|a| a.dns_name().trim_end_matches('.').to_string());
            (r.r#type().as_str().to_string(), values, alias)
        })
        .collect()
}

#[tokio::test]
async fn route53_zone_and_records_lifecycle() {
    let env = Env::new(REGION, "route53").await;
    let r53 = aws_sdk_route53::Client::new(&env.sdk);
    let name = zone_name();
    let spec = env.spec("route53_zone", "public", json!({"name": name, "tags": {"A": "1"}}));
    let zone = env.create(&spec).await;
    assert!(!zone.id.starts_with('/'), "bare zone id: {}", zone.id);
    assert!(!attr(&zone, "name_servers").as_array().expect("list").is_empty());
    let got = r53.get_hosted_zone().id(&zone.id).send().await.expect("GetHostedZone");
    assert_eq!(got.hosted_zone().map(|z| z.name()), Some(format!("{name}.").as_str()));
    let mut want = env.expected_tags("route53_zone.public", &[("A", "1")]);
    want.insert("kprov:force_destroy".into(), "false".into());
    assert_eq!(zone_tags(&r53, &zone.id).await, want);
    let zone = env.assert_reads("route53_zone", &zone, MISSING_ZONE).await;
    // The name as a FQDN with a trailing dot, in capitals, is the same zone.
    let respelled =
        env.spec("route53_zone", "public", json!({"name": format!("{}.", name.to_uppercase()), "tags": {"A": "1"}}));
    env.assert_converged(&respelled, &zone);

    // --- records
    let www = format!("www.{name}");
    let rec = |values: serde_json::Value, ttl: i64| {
        env.spec(
            "route53_record",
            "www",
            json!({"zone_id": zone.id, "name": www, "type": "A", "ttl": ttl, "records": values}),
        )
    };
    let r_spec = rec(json!(["10.0.0.1", "10.0.0.2"]), 60);
    let r = env.create(&r_spec).await;
    assert_eq!(r.id, format!("{}_{www}_A", zone.id));
    let want_values: BTreeSet<String> = ["10.0.0.1", "10.0.0.2"].map(String::from).into();
    assert_eq!(records(&r53, &zone.id, &www).await, vec![("A".to_string(), want_values, None)]);
    let r = env.assert_reads("route53_record", &r, &format!("{}_missing.{name}_A", zone.id)).await;
    env.assert_converged(&rec(json!(["10.0.0.2", "10.0.0.1"]), 60), &r);
    // A re-run of the create takes the identical record as is — moto would add a second one.
    assert_eq!(env.create(&r_spec).await, r);
    assert_eq!(records(&r53, &zone.id, &www).await.len(), 1);
    // The same name and type with other values belongs to somebody else: refused.
    assert_invalid(env.try_create(&rec(json!(["10.9.9.9"]), 60)).await, "exists already");

    let r_spec2 = rec(json!(["10.0.0.3"]), 120);
    let r2 = env.update(&r, &r_spec2).await;
    env.assert_converged(&r_spec2, &r2);
    let want_values: BTreeSet<String> = ["10.0.0.3".to_string()].into();
    assert_eq!(records(&r53, &zone.id, &www).await, vec![("A".to_string(), want_values, None)]);

    // An alias to a load balancer.
    let app = format!("app.{name}");
    let lb_dns = "pa-alb-123.me-south-1.elb.amazonaws.com";
    let alias_spec = env.spec(
        "route53_record",
        "app",
        json!({"zone_id": zone.id, "name": app, "type": "A", "alias": {"name": lb_dns, "zone_id": "ZS929ML54UICD"}}),
    );
    let alias = env.create(&alias_spec).await;
    env.assert_converged(&alias_spec, &alias);
    let got = records(&r53, &zone.id, &app).await;
    assert_eq!(got, vec![("A".to_string(), BTreeSet::new(), Some(lb_dns.to_string()))]);
    assert!(env.find_owned_ids("route53_record").await.is_empty(), "records cannot be tagged");

    env.assert_deletes("route53_record", &r2).await;
    assert!(records(&r53, &zone.id, &www).await.is_empty());

    // A zone still holding a record is refused without force_destroy…
    let err = env.kind("route53_zone").delete(&env.cx, &zone).await.expect_err("not empty");
    assert_eq!(err.code(), Some("HostedZoneNotEmpty"));
    // …in place: comment, tags, force_destroy (kept as a tag).
    let spec2 = env.spec(
        "route53_zone",
        "public",
        json!({"name": name, "comment": "platform", "force_destroy": true, "tags": {"B": "2"}}),
    );
    let zone2 = env.update(&zone, &spec2).await;
    assert_eq!(zone2.id, zone.id);
    env.assert_converged(&spec2, &zone2);
    let got = r53.get_hosted_zone().id(&zone.id).send().await.expect("GetHostedZone");
    assert_eq!(got.hosted_zone().and_then(|z| z.config()).and_then(|c| c.comment()), Some("platform"));
    let mut want = env.expected_tags("route53_zone.public", &[("B", "2")]);
    want.insert("kprov:force_destroy".into(), "true".into());
    assert_eq!(zone_tags(&r53, &zone.id).await, want);

    env.assert_owned("route53_zone", &[&zone.id]).await;
    // …and with it the remaining alias record goes along.
    env.assert_deletes("route53_zone", &zone2).await;
    assert!(r53.get_hosted_zone().id(&zone.id).send().await.is_err());
}

#[tokio::test]
async fn route53_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "route53-invalid").await;
    let z = MISSING_ZONE;
    let cases = [
        ("route53_zone", json!({"name": "localhost"}), "domain name"),
        // moto accepts any value for an A record.
        (
            "route53_record",
            json!({"zone_id": z, "name": "a.example.com", "type": "A", "ttl": 60, "records": ["not-an-ip"]}),
            "A value",
        ),
        (
            "route53_record",
            json!({"zone_id": z, "name": "a.example.com", "type": "AAAA", "ttl": 60, "records": ["10.0.0.1"]}),
            "AAAA",
        ),
        ("route53_record", json!({"zone_id": z, "name": "a.example.com", "type": "A", "records": ["10.0.0.1"]}), "ttl"),
        (
            "route53_record",
            json!({"zone_id": z, "name": "c.example.com", "type": "CNAME", "ttl": 60, "records": ["a.", "b."]}),
            "one value",
        ),
        (
            "route53_record",
            json!({"zone_id": z, "name": "a.example.com", "type": "A", "ttl": 60, "records": ["10.0.0.1"],
                   "alias": {"name": "x", "zone_id": "Z1"}}),
            "not both",
        ),
        ("route53_record", json!({"zone_id": z, "name": "a.example.com", "type": "A"}), "records"),
    ];
    for (kind, attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec(kind, "bad", attrs)).await, needle);
    }
}
