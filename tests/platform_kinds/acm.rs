//! ACM certificate with DNS validation in a Route53 zone made by kprov.

use std::collections::HashMap;

use aws_sdk_acm::types::CertificateStatus;
use serde_json::json;

use super::route53::zone_name;
use super::{assert_invalid, s, Env};

const REGION: &str = "af-south-1";
const MISSING: &str = "arn:aws:acm:af-south-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";

async fn cert_tags(acm: &aws_sdk_acm::Client, arn: &str) -> HashMap<String, String> {
    let out = acm.list_tags_for_certificate().certificate_arn(arn).send().await.expect("ListTagsForCertificate");
    out.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect()
}

async fn cname_count(r53: &aws_sdk_route53::Client, zone: &str) -> usize {
    let out = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.expect("ListResourceRecordSets");
    out.resource_record_sets().iter().filter(|r| r.r#type().as_str() == "CNAME").count()
}

#[tokio::test]
async fn acm_certificate_dns_validated_lifecycle() {
    let env = Env::new(REGION, "acm").await;
    let acm = aws_sdk_acm::Client::new(&env.sdk);
    let r53 = aws_sdk_route53::Client::new(&env.sdk);
    let name = zone_name();
    let zone = env.create(&env.spec("route53_zone", "public", json!({"name": name}))).await;

    let spec = env.spec(
        "acm_certificate",
        "web",
        json!({"domain_name": name, "subject_alternative_names": [format!("*.{name}")], "zone_id": zone.id,
               "tags": {"A": "1"}}),
    );
    // Create writes the validation records and returns once the certificate is ISSUED.
    let cert = env.create(&spec).await;
    assert_eq!(s(&cert, "status"), "ISSUED");
    let got = acm.describe_certificate().certificate_arn(&cert.id).send().await.expect("DescribeCertificate");
    let detail = got.certificate().expect("certificate");
    assert_eq!(detail.status(), Some(&CertificateStatus::Issued));
    for o in detail.domain_validation_options() {
        let rr = o.resource_record().expect("validation record");
        let found = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .start_record_name(rr.name())
            .start_record_type(aws_sdk_route53::types::RrType::Cname)
            .send()
            .await
            .expect("ListResourceRecordSets");
        let set = &found.resource_record_sets()[0];
        assert_eq!(set.name().trim_end_matches('.'), rr.name().trim_end_matches('.'));
        assert_eq!(set.resource_records()[0].value(), rr.value());
    }
    assert!(cname_count(&r53, &zone.id).await >= 1);
    let mut want = env.expected_tags("acm_certificate.web", &[("A", "1")]);
    want.insert("kprov:zone_id".into(), format!("\"{}\"", zone.id));
    assert_eq!(cert_tags(&acm, &cert.id).await, want);

    let cert = env.assert_reads("acm_certificate", &cert, MISSING).await;
    env.assert_converged(&spec, &cert);

    // Only tags change in place.
    let spec2 = env.spec(
        "acm_certificate",
        "web",
        json!({"domain_name": name, "subject_alternative_names": [format!("*.{name}")], "zone_id": zone.id,
               "tags": {"B": "2"}}),
    );
    let cert2 = env.update(&cert, &spec2).await;
    env.assert_converged(&spec2, &cert2);
    let mut want = env.expected_tags("acm_certificate.web", &[("B", "2")]);
    want.insert("kprov:zone_id".into(), format!("\"{}\"", zone.id));
    assert_eq!(cert_tags(&acm, &cert.id).await, want);

    env.assert_owned("acm_certificate", &[&cert.id]).await;
    // Delete removes the validation records too, so the zone empties and can go.
    env.assert_deletes("acm_certificate", &cert2).await;
    assert!(acm.describe_certificate().certificate_arn(&cert.id).send().await.is_err());
    assert_eq!(cname_count(&r53, &zone.id).await, 0);
    env.assert_deletes("route53_zone", &zone).await;

    assert_invalid(
        env.try_create(&env.spec("acm_certificate", "bad", json!({"domain_name": "nodot"}))).await,
        "domain name",
    );
    assert_invalid(
        env.try_create(&env.spec("acm_certificate", "bad", json!({"domain_name": name, "validation_method": "EMAIL"})))
            .await,
        "validation_method",
    );
}
