//! ACM's tag calls, shared by both certificate kinds (requested and imported): building ACM
//! `Tag`s, adding, removing and listing them on a certificate ARN.

use aws_sdk_acm::types::Tag;

use super::Client;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::ResourceError;

/// (key, value) pairs as ACM tags.
pub fn to_tags(pairs: Vec<(String, String)>) -> Result<Vec<Tag>, ResourceError> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ResourceError::invalid(e.to_string())))
        .collect()
}

pub async fn add(client: &Client, arn: &str, pairs: Vec<(String, String)>) -> Result<(), ResourceError> {
    client
        .add_tags_to_certificate()
        .certificate_arn(arn)
        .set_tags(Some(to_tags(pairs)?))
        .send()
        .await
        .or_aws("AddTagsToCertificate")?;
    Ok(())
}

pub async fn remove(client: &Client, arn: &str, keys: Vec<String>) -> Result<(), ResourceError> {
    // ACM removes by key when a tag is given without a value.
    let tags = keys
        .into_iter()
        .map(|k| Tag::builder().key(k).build().map_err(|e| ResourceError::invalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    client
        .remove_tags_from_certificate()
        .certificate_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .or_aws("RemoveTagsFromCertificate")?;
    Ok(())
}

/// The certificate's tags; `None` when the certificate is gone.
pub async fn list(client: &Client, arn: &str) -> Result<Option<Vec<(String, String)>>, ResourceError> {
    let r = client.list_tags_for_certificate().certificate_arn(arn).send().await.or_aws("ListTagsForCertificate");
    Ok(not_found_as_none(r)?
        .map(|o| o.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect()))
}
