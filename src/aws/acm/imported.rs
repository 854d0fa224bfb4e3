//! `acm_imported_certificate`: a certificate and private key obtained elsewhere (a corporate
//! CA, an existing wildcard), imported into ACM for the load balancers.
//!
//! - Create: ImportCertificate with the PEM certificate, key and optional chain, tagged at
//!   creation. ImportCertificate has no idempotency token: an interrupted create is adopted
//!   through the ownership tags (`find_owned`).
//! - Update: a new certificate, key or chain is re-imported *in place* (ImportCertificate with
//!   the ARN), so listeners keep using the same ARN — a certificate renewal is an update, not a
//!   replace. Tags are reconciled separately (a re-import cannot carry tags).
//! - Read: DescribeCertificate + GetCertificate (body and chain) + tags. ACM never gives the
//!   private key back, so `private_key` is *write-only*: the read leaves it out, refresh keeps
//!   the marker recorded in state (see `resource::sensitive`), and create/update return the
//!   value they imported so that the state writer seals it.
//!
//! `private_key` is `sensitive`: it never appears in state, plan output, plan files, drift
//! reports or error messages. The certificate body and chain are public by nature (every TLS
//! client receives them) and are kept in clear so that drift can show them.

use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{CertificateStatus, CertificateType};
use serde_json::json;

use super::Client;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, put_str, Found, ReadOne};
use crate::resource::{
    sensitive, AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

pub struct ImportedCertificate {
    client: Client,
    schema: Schema,
}

/// PEM text compares without surrounding whitespace.
fn trim_pem(v: &Value) -> Value {
    v.as_str().map(|s| json!(s.trim())).unwrap_or_else(|| v.clone())
}

impl ImportedCertificate {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("certificate_body", AttrType::String)
                .normalize(trim_pem)
                .constraint(Constraint::check_fn("PEM text (-----BEGIN CERTIFICATE…)", |v| pem(v, "CERTIFICATE")))
                .doc("The certificate, PEM. Public: kept in state in clear."),
            AttrSchema::required("private_key", AttrType::String)
                .sensitive()
                .constraint(Constraint::check_fn("PEM text (-----BEGIN … PRIVATE KEY…)", |v| pem(v, "PRIVATE KEY")))
                .doc("The certificate's private key, PEM (unencrypted). Sensitive and write-only."),
            AttrSchema::optional("certificate_chain", AttrType::String)
                .normalize(trim_pem)
                .constraint(Constraint::check_fn("PEM text (-----BEGIN CERTIFICATE…)", |v| pem(v, "CERTIFICATE")))
                .doc("Intermediate certificates, PEM."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("domain_name", AttrType::String),
            AttrSchema::computed("status", AttrType::String),
        ]);
        ImportedCertificate { client, schema }
    }

    /// ImportCertificate; with `arn`, a re-import over an existing certificate.
    async fn import(&self, cx: &Cx, spec: &Spec, arn: Option<&str>) -> Result<String, ResourceError> {
        let mut req = self
            .client
            .import_certificate()
            .certificate(Blob::new(spec.req_str("certificate_body")?.trim().as_bytes()))
            .private_key(Blob::new(spec.req_str("private_key")?.as_bytes()))
            .set_certificate_chain(spec.str("certificate_chain").map(|c| Blob::new(c.trim().as_bytes())))
            .set_certificate_arn(arn.map(str::to_string));
        if arn.is_none() {
            req = req.set_tags(Some(super::tags::to_tags(tags::creation_tags(cx, spec, &[])?)?));
        }
        let out = req.send().await.or_aws("ImportCertificate")?;
        Ok(shared::required(out.certificate_arn(), "ImportCertificate", "certificate ARN")?.to_string())
    }

    /// Read back, plus the key just imported (ACM never returns it; the state writer seals it).
    async fn read_with_key(&self, cx: &Cx, arn: &str, spec: &Spec) -> Result<Observed, ResourceError> {
        let mut obs = shared::read_back(self, cx, arn).await?;
        if let Some(k) = spec.attrs.get("private_key") {
            obs.attrs.insert("private_key".into(), k.clone());
        }
        Ok(obs)
    }

    async fn tag_pairs(&self, arn: &str) -> Result<Option<Vec<(String, String)>>, ResourceError> {
        super::tags::list(&self.client, arn).await
    }
}

#[async_trait::async_trait]
impl TagApi for ImportedCertificate {
    async fn tag(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        super::tags::add(&self.client, arn, tags).await
    }
    async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        super::tags::remove(&self.client, arn, keys).await
    }
}

#[async_trait::async_trait]
impl ReadOne for ImportedCertificate {
    async fn read_one(&self, arn: &str) -> Result<Option<Found>, ResourceError> {
        let r = self.client.describe_certificate().certificate_arn(arn).send().await.or_aws("DescribeCertificate");
        let Some(cert) = not_found_as_none(r)?.and_then(|o| o.certificate().cloned()) else { return Ok(None) };
        // Requested certificates are `acm_certificate`s (find_owned lists every ARN).
        if cert.r#type() != Some(&CertificateType::Imported) {
            return Ok(None);
        }
        let r = self.client.get_certificate().certificate_arn(arn).send().await.or_aws("GetCertificate");
        let Some(body) = not_found_as_none(r)? else { return Ok(None) };
        let Some(tags) = self.tag_pairs(arn).await? else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "certificate_body", body.certificate().map(str::trim));
        put_str(&mut attrs, "certificate_chain", body.certificate_chain().map(str::trim).filter(|c| !c.is_empty()));
        put_str(&mut attrs, "arn", Some(arn));
        put_str(&mut attrs, "domain_name", cert.domain_name());
        put_str(&mut attrs, "status", cert.status().map(CertificateStatus::as_str));
        Ok(Some(tags::split(tags, &[]).found(arn, attrs)))
    }
}

/// `v` is PEM text of a `what` (ImportCertificate takes PEM-encoded blobs, ACM API Reference).
/// The message never repeats the value: a private key is sensitive.
fn pem(v: &Value, what: &str) -> Result<(), String> {
    match v.as_str() {
        Some(s) if !(s.contains("-----BEGIN ") && s.contains(what)) => {
            Err(format!("must be PEM text (-----BEGIN {what}…)"))
        }
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl ResourceKind for ImportedCertificate {
    fn kind(&self) -> &'static str {
        "acm_imported_certificate"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        shared::read_observed(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let arn = self.import(cx, spec, None).await?;
        self.read_with_key(cx, &arn, spec).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let differs = |name: &str| {
            let want = spec.attrs.get(name).map(|v| self.schema.get(name).map_or(v.clone(), |a| a.canonical(v)));
            match (prior.attrs.get(name), want) {
                (Some(have), Some(want)) => !sensitive::same(have, &want),
                (None, None) => false,
                _ => true,
            }
        };
        if ["certificate_body", "private_key", "certificate_chain"].into_iter().any(differs) {
            self.import(cx, spec, Some(&prior.id)).await?;
        }
        tags::reconcile(self, &prior.id, prior, spec, &[]).await?;
        self.read_with_key(cx, &prior.id, spec).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
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
            Ok(self.tag_pairs(&arn).await?.map(|t| tags::split(t, &[])))
        })
        .await?;
        shared::read_observed(self, &owned).await
    }
}
