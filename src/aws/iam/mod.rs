//! IAM kinds: role (trust policy, inline policies, managed-policy attachments), instance
//! profile, OpenID Connect provider.
//!
//! IAM is global: one client serves every region. Its resources are read one at a time
//! (there is no batched Get), so each kind implements [`ReadOne`](crate::aws::shared::ReadOne)
//! and the shared helpers turn that into `read_many` / `find_owned`. Names are the ids of
//! roles and instance profiles (as in IAM's own API); an OIDC provider's id is its ARN.
//! IAM is eventually consistent: a just-created role may not be readable for a moment, so
//! creates read back through a bounded poll.

pub mod instance_profile;
pub mod oidc_provider;
pub mod role;

use std::sync::Arc;

use aws_sdk_iam::types::Tag;

use crate::aws::shared::tags::{self, Split};
use crate::resource::{Registry, ResourceError};

pub type Client = aws_sdk_iam::Client;

/// Register every IAM kind in `reg`.
pub fn register(reg: &mut Registry, client: Client) {
    reg.register(Arc::new(role::Role::new(client.clone())));
    reg.register(Arc::new(instance_profile::InstanceProfile::new(client.clone())));
    reg.register(Arc::new(oidc_provider::OidcProvider::new(client)));
}

/// (key, value) pairs as IAM tags.
pub fn to_tags(pairs: Vec<(String, String)>) -> Result<Vec<Tag>, ResourceError> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ResourceError::invalid(e.to_string())))
        .collect()
}

/// IAM tags sorted into ownership, settings and user tags.
pub fn split(tags: &[Tag]) -> Split {
    tags::split(tags.iter().map(|t| (t.key(), t.value())), &[])
}
