//! KMS kinds: customer-managed key and alias.
//!
//! A key cannot be deleted at once: ScheduleKeyDeletion puts it in `PendingDeletion` for a
//! 7–30 day window. kprov counts such a key as gone (it can no longer be used), so a plan
//! creates a new one rather than trying to reuse it.

pub mod alias;
pub mod key;

use std::sync::Arc;

use aws_sdk_kms::types::Tag;

use crate::resource::{Registry, ResourceError};

pub type Client = aws_sdk_kms::Client;

/// Register every KMS kind in `reg`.
pub fn register(reg: &mut Registry, client: Client) {
    reg.register(Arc::new(key::Key::new(client.clone())));
    reg.register(Arc::new(alias::Alias::new(client)));
}

/// (key, value) pairs as KMS tags (`TagKey` / `TagValue`).
fn to_tags(pairs: Vec<(String, String)>) -> Result<Vec<Tag>, ResourceError> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| ResourceError::invalid(e.to_string())))
        .collect()
}
