//! `acm_certificate`: a public certificate, validated through DNS.
//!
//! Create:
//! 1. RequestCertificate with `IdempotencyToken` (derived from the client token: a re-run
//!    within an hour gets the same certificate back) and tags at creation;
//! 2. wait until ACM publishes the validation CNAMEs (they appear a few seconds later);
//! 3. when `zone_id` is set, write them into that Route53 zone (UPSERT: ACM gives the same
//!    record to every certificate of a domain, so another certificate may have written it)
//!    and wait until the certificate is ISSUED — a bounded poll that holds no engine slot.
//!    Without `zone_id` kprov does not wait: validation is somebody else's job.
//!
//! Read: DescribeCertificate + ListTagsForCertificate per ARN. Everything but tags forces a
//! new certificate (ACM cannot change one). Delete: the validation records (unless another
//! certificate uses the same ones), then DeleteCertificate, retried while a listener being
//! deleted still uses it (`ResourceInUseException`). A certificate adopted after a crash
//! before its records were written gets them (`resume_create`). `zone_id` is not something ACM keeps, so it rides
//! on the certificate as a `kprov:zone_id` tag.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_acm::types::{CertificateStatus, DomainValidation, ValidationMethod};
use aws_sdk_route53::types::{ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
use serde_json::json;

use super::Client;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::route53::{bare_zone_id, canonical_name, Dns};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, put_str, Found, ReadOne};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const SETTINGS: &[&str] = &["zone_id"];
const RECORDS_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const RECORDS_INTERVAL: Duration = Duration::from_secs(3);
/// DNS validation usually takes minutes; ACM itself gives up after 72 hours.
const ISSUED_TIMEOUT: Duration = Duration::from_secs(45 * 60);
const ISSUED_INTERVAL: Duration = Duration::from_secs(5);
const VALIDATION_TTL: i64 = 300;

pub struct Certificate {
    client: Client,
    dns: Dns,
    schema: Schema,
}

/// A validation CNAME: (name, value).
type Validation = (String, String);

impl Certificate {
    pub fn new(client: Client, dns: Dns) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("domain_name", AttrType::String)
                .force_new()
                .constraint(Constraint::check_fn(DOMAIN_DOC, domain_problem)),
            shared::set_attr("subject_alternative_names")
                .force_new()
                .constraint(Constraint::each(Constraint::check_fn(DOMAIN_DOC, domain_problem))),
            AttrSchema::optional("validation_method", AttrType::String)
                .default(json!("DNS"))
                .force_new()
                .one_of(&["DNS"])
                .doc("Only DNS validation is supported."),
            AttrSchema::optional("zone_id", AttrType::String)
                .force_new()
                .normalize(|v| v.as_str().map(|s| json!(bare_zone_id(s))).unwrap_or_else(|| v.clone()))
                .doc("Route53 zone for the validation records; when set, create waits until ISSUED."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("status", AttrType::String),
        ]);
        Certificate { client, dns, schema }
    }

    /// `IdempotencyToken`: at most 32 word characters.
    fn idempotency_token(spec: &Spec) -> String {
        spec.client_token.chars().filter(char::is_ascii_alphanumeric).take(32).collect()
    }

    async fn describe(&self, arn: &str) -> Result<Option<aws_sdk_acm::types::CertificateDetail>, ResourceError> {
        let r = self.client.describe_certificate().certificate_arn(arn).send().await.or_aws("DescribeCertificate");
        Ok(not_found_as_none(r)?.and_then(|o| o.certificate().cloned()))
    }

    /// The validation CNAMEs once ACM has published one for every domain (deduplicated:
    /// a wildcard and its apex share one).
    async fn wait_records(&self, cx: &Cx, arn: &str) -> Result<Vec<Validation>, ResourceError> {
        cx.poll_until(&format!("certificate {arn} validation records"), RECORDS_TIMEOUT, RECORDS_INTERVAL, || async {
            let Some(cert) = self.describe(arn).await? else { return Ok(None) };
            Ok(validation_records(cert.domain_validation_options()))
        })
        .await
    }

    async fn wait_issued(&self, cx: &Cx, arn: &str) -> Result<(), ResourceError> {
        cx.poll_until(&format!("certificate {arn} to be issued"), ISSUED_TIMEOUT, ISSUED_INTERVAL, || async {
            let cert = self.describe(arn).await?;
            match cert.as_ref().and_then(|c| c.status()) {
                Some(CertificateStatus::Issued) => Ok(Some(())),
                Some(CertificateStatus::PendingValidation) | None => Ok(None),
                Some(other) => Err(ResourceError::Aws {
                    operation: "RequestCertificate".into(),
                    code: other.as_str().to_string(),
                    message: cert
                        .and_then(|c| c.failure_reason().map(|r| r.as_str().to_string()))
                        .unwrap_or_else(|| "the certificate was not issued".into()),
                    request_id: None,
                    retryable: false,
                }),
            }
        })
        .await
    }

    fn record_set(name: &str, value: &str) -> Result<ResourceRecordSet, ResourceError> {
        let rr = ResourceRecord::builder().value(value).build().map_err(|e| ResourceError::invalid(e.to_string()))?;
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .ttl(VALIDATION_TTL)
            .resource_records(rr)
            .build()
            .map_err(|e| ResourceError::invalid(e.to_string()))
    }

    /// Steps 2 and 3 of a create: when `zone_id` is set, write the validation CNAMEs into it
    /// and wait until the certificate is ISSUED. The records are written even for a
    /// certificate already issued: ACM's managed renewal validates through the same records
    /// (ACM User Guide, "Managed renewal": the CNAME must stay in place).
    async fn finish_validation(&self, cx: &Cx, spec: &Spec, arn: &str) -> Result<(), ResourceError> {
        let Some(zone) = spec.str("zone_id").map(bare_zone_id) else { return Ok(()) };
        let records = self.wait_records(cx, arn).await?;
        let changes = records
            .iter()
            .map(|(name, value)| Dns::change_of(ChangeAction::Upsert, Self::record_set(name, value)?))
            .collect::<Result<Vec<_>, _>>()?;
        self.dns.change(cx, zone, changes).await?;
        self.wait_issued(cx, arn).await
    }

    /// Validation record names other certificates of the account still use: ACM gives every
    /// certificate of a domain the same CNAME (ACM User Guide, "DNS validation": "the CNAME
    /// record … is the same for all certificates that include the domain"), and managed
    /// renewal needs it for as long as the certificate lives — so a record goes only with the
    /// last certificate that uses it (a create-before-destroy replacement keeps it).
    async fn records_used_elsewhere(&self, arn: &str) -> Result<std::collections::BTreeSet<String>, ResourceError> {
        let mut used = std::collections::BTreeSet::new();
        for other in super::certificate_arns(&self.client).await?.iter().filter(|a| *a != arn) {
            if let Some(cert) = self.describe(other).await? {
                for (name, _) in validation_records(cert.domain_validation_options()).unwrap_or_default() {
                    used.insert(name);
                }
            }
        }
        Ok(used)
    }

    async fn tag_pairs(&self, arn: &str) -> Result<Option<Vec<(String, String)>>, ResourceError> {
        super::tags::list(&self.client, arn).await
    }
}

/// Every domain's validation CNAME, once all are published.
fn validation_records(options: &[DomainValidation]) -> Option<Vec<Validation>> {
    let mut out = BTreeMap::new();
    for o in options {
        let r = o.resource_record()?;
        out.insert(canonical_name(r.name()), r.value().to_string());
    }
    (!out.is_empty()).then(|| out.into_iter().collect())
}

#[async_trait::async_trait]
impl TagApi for Certificate {
    async fn tag(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        super::tags::add(&self.client, arn, tags).await
    }
    async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        super::tags::remove(&self.client, arn, keys).await
    }
}

#[async_trait::async_trait]
impl ReadOne for Certificate {
    async fn read_one(&self, arn: &str) -> Result<Option<Found>, ResourceError> {
        let Some(cert) = self.describe(arn).await? else { return Ok(None) };
        // Imported certificates are `acm_imported_certificate`s (find_owned lists every ARN).
        if cert.r#type() == Some(&aws_sdk_acm::types::CertificateType::Imported) {
            return Ok(None);
        }
        let Some(tags) = self.tag_pairs(arn).await? else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "domain_name", cert.domain_name());
        // ACM lists the domain itself among the alternative names; the plan does not.
        let sans = cert.subject_alternative_names().iter().filter(|n| Some(n.as_str()) != cert.domain_name());
        attrs.insert("subject_alternative_names".into(), shared::set_value(sans.cloned()));
        let method = cert.domain_validation_options().first().and_then(|o| o.validation_method());
        put_str(&mut attrs, "validation_method", Some(method.map(ValidationMethod::as_str).unwrap_or("DNS")));
        put_str(&mut attrs, "arn", Some(arn));
        put_str(&mut attrs, "status", cert.status().map(CertificateStatus::as_str));
        Ok(Some(tags::split(tags, SETTINGS).found(arn, attrs)))
    }
}

const DOMAIN_DOC: &str = "a domain name, optionally `*.` first; at most 253 characters";

/// A name a certificate can cover (RequestCertificate DomainName, ACM API Reference: up to
/// 253 characters, a wildcard only as the first label).
fn domain_problem(v: &Value) -> Result<(), String> {
    let Some(n) = v.as_str() else { return Ok(()) };
    let bare = n.strip_prefix("*.").unwrap_or(n);
    if n.len() > 253 || !bare.contains('.') || bare.contains('*') || bare.split('.').any(str::is_empty) {
        return Err(format!("{n:?} is not a domain name a certificate can cover"));
    }
    Ok(())
}

#[async_trait::async_trait]
impl ResourceKind for Certificate {
    fn kind(&self) -> &'static str {
        "acm_certificate"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        shared::read_observed(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let sans = shared::str_list(spec, "subject_alternative_names");
        let out = self
            .client
            .request_certificate()
            .domain_name(spec.req_str("domain_name")?)
            .set_subject_alternative_names(Some(sans).filter(|s| !s.is_empty()))
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(Self::idempotency_token(spec))
            .set_tags(Some(super::tags::to_tags(tags::creation_tags(cx, spec, SETTINGS)?)?))
            .send()
            .await
            .or_aws("RequestCertificate")?;
        let arn = shared::required(out.certificate_arn(), "RequestCertificate", "certificate ARN")?.to_string();
        self.finish_validation(cx, spec, &arn).await?;
        shared::read_back(self, cx, &arn).await
    }

    /// A certificate adopted after a crash between RequestCertificate and its validation
    /// records would stay PENDING_VALIDATION for good (and the HTTPS listener that needs it
    /// fail): write the records and wait, as `create` does. UPSERT makes it harmless when the
    /// records are there already.
    async fn resume_create(&self, cx: &Cx, spec: &Spec, found: &Observed) -> Result<Observed, ResourceError> {
        self.finish_validation(cx, spec, &found.id).await?;
        shared::read_back(self, cx, &found.id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        tags::reconcile(self, &prior.id, prior, spec, SETTINGS).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let Some(cert) = self.describe(&prior.id).await? else { return Ok(()) };
        // The validation records first, then the certificate: a destroy killed in between
        // finds the certificate again and finishes; the other way round, the certificate would
        // be gone, forgotten by the next destroy, and its records left in the zone for good.
        if let Some(zone) = prior.attrs.get("zone_id").and_then(Value::as_str).map(bare_zone_id) {
            let records = validation_records(cert.domain_validation_options()).unwrap_or_default();
            let used =
                if records.is_empty() { Default::default() } else { self.records_used_elsewhere(&prior.id).await? };
            let mut changes = Vec::new();
            for (name, _) in records.iter().filter(|(n, _)| !used.contains(n)) {
                // Delete what is there now (a DELETE must match it exactly).
                if let Some(current) = self.dns.find(zone, name, "CNAME").await? {
                    changes.push(Dns::change_of(ChangeAction::Delete, current)?);
                }
            }
            self.dns.change(cx, zone, changes).await?;
        }
        // Still held by a listener being deleted (ResourceInUseException): waited out by the
        // connector (`aws::consistency`).
        not_found_as_none(
            self.client.delete_certificate().certificate_arn(&prior.id).send().await.or_aws("DeleteCertificate"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let arns = super::certificate_arns(&self.client).await?;
        let owned = shared::owned_by_tags(arns, &cx.owner, |arn| async move {
            Ok(self.tag_pairs(&arn).await?.map(|t| tags::split(t, SETTINGS)))
        })
        .await?;
        shared::read_observed(self, &owned).await
    }
}
