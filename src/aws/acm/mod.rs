//! ACM kinds: a public certificate validated through DNS in a Route53 zone, and an imported
//! certificate (its private key is a sensitive, write-only attribute).

pub mod certificate;
pub mod imported;
mod tags;

use std::sync::Arc;

use crate::aws::error::SdkResultExt;
use crate::aws::route53::Dns;
use crate::resource::{Registry, ResourceError};

pub type Client = aws_sdk_acm::Client;

/// Every certificate ARN of the region (ListCertificates, paginated).
pub async fn certificate_arns(client: &Client) -> Result<Vec<String>, ResourceError> {
    let summaries: Vec<_> =
        client.list_certificates().into_paginator().items().send().try_collect().await.or_aws("ListCertificates")?;
    Ok(summaries.iter().filter_map(|s| s.certificate_arn().map(str::to_string)).collect())
}

/// Register every ACM kind in `reg`; `dns` writes the validation records.
pub fn register(reg: &mut Registry, client: Client, dns: Dns) {
    reg.register(Arc::new(certificate::Certificate::new(client.clone(), dns)));
    reg.register(Arc::new(imported::ImportedCertificate::new(client)));
}
