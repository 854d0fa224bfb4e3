//! Plumbing the non-EC2 kinds share (IAM, KMS, CloudWatch Logs, ECR, ELBv2, ACM, Route53).
//!
//! Most of these services have no "describe many by id with a filter" call like EC2: a
//! resource is read with one or a few calls per id. The pattern every such kind follows:
//! - it implements [`ReadOne`] (the resource with that id, or `None` when it does not exist,
//!   with its ownership tags split off by [`tags::split`]);
//! - `read_many` is [`read_each`]: the ids read concurrently (bounded), missing ones absent;
//! - `find_owned` lists candidate ids with the service's List call and keeps those
//!   [`owned_among`] them (their tags carry this stack and env);
//! - `create` tags at creation ([`tags::creation_tags`]) and, when the name is already taken,
//!   [`adopt_or`] takes the existing resource over only if its `kprov:address` tag says it is
//!   this very resource (an earlier, interrupted run created it);
//! - `update` changes tags through [`tags::reconcile`] over the service's own tag API.
//!
//! [`document`] holds the one JSON-document normalisation (policies) used by every kind.
//! Service-agnostic helpers that already exist for EC2 (`read_back`, `retry_on_codes`, …) are
//! re-exported rather than copied.

pub mod document;
pub mod tags;

use std::collections::BTreeSet;
use std::future::Future;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;

use self::tags::Split;
pub use crate::aws::ec2::common::{put_str, read_back, required, tags_attr};
use crate::resource::{AttrSchema, AttrType, Cx, Observed, Owner, ResourceError, Spec, Value};

/// Per-id reads in flight at once during a refresh. IAM and KMS throttle early (IAM: ~20
/// requests/s per account for reads), so this stays small.
pub const READ_CONCURRENCY: usize = 4;

/// One resource as read from AWS, with the ownership tags it carries.
#[derive(Debug, Clone)]
pub struct Found {
    pub obs: Observed,
    pub stack: Option<String>,
    pub env: Option<String>,
}

impl Found {
    pub fn owned_by(&self, owner: &Owner) -> bool {
        self.stack.as_deref() == Some(owner.stack.as_str()) && self.env.as_deref() == Some(owner.env.as_str())
    }
    /// Owned by `cx.owner` and recorded as `spec`'s address.
    pub fn is_resource(&self, cx: &Cx, spec: &Spec) -> bool {
        self.owned_by(&cx.owner) && self.obs.owner_address.as_deref() == Some(spec.address.to_string().as_str())
    }
}

/// A kind that reads one resource at a time.
#[async_trait::async_trait]
pub trait ReadOne: Send + Sync {
    /// The resource `id`, or `None` when AWS does not know it (or it is on its way out, e.g.
    /// a KMS key pending deletion).
    async fn read_one(&self, id: &str) -> Result<Option<Found>, ResourceError>;
}

/// Read every id (deduplicated) concurrently; missing ones are absent from the result.
pub async fn read_each<R: ReadOne + ?Sized>(r: &R, ids: &[String]) -> Result<Vec<Found>, ResourceError> {
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    // Owned ids: a closure over borrowed ones trips async-trait's lifetime inference.
    let found: Vec<Option<Found>> = stream::iter(unique)
        .map(|id| async move { r.read_one(&id).await })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// `read_many` over [`read_each`].
pub async fn read_observed<R: ReadOne + ?Sized>(r: &R, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
    Ok(read_each(r, ids).await?.into_iter().map(|f| f.obs).collect())
}

/// Of `candidates` (every id a List call returned), those owned by `owner`.
pub async fn owned_among<R: ReadOne + ?Sized>(
    r: &R,
    candidates: &[String],
    owner: &Owner,
) -> Result<Vec<Observed>, ResourceError> {
    Ok(read_each(r, candidates).await?.into_iter().filter(|f| f.owned_by(owner)).map(|f| f.obs).collect())
}

/// Of `candidates`, the ids whose tags (`tags_of`: `None` when the resource is gone) carry
/// `owner`'s ownership — for services where listing tags is cheaper than a full read.
pub async fn owned_by_tags<F, Fut>(
    candidates: Vec<String>,
    owner: &Owner,
    tags_of: F,
) -> Result<Vec<String>, ResourceError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Split>, ResourceError>>,
{
    let hits: Vec<Option<String>> = stream::iter(candidates)
        .map(|id| {
            let tags = tags_of(id.clone());
            async move {
                let owned = tags.await?.is_some_and(|s| {
                    s.stack.as_deref() == Some(owner.stack.as_str()) && s.env.as_deref() == Some(owner.env.as_str())
                });
                Ok::<_, ResourceError>(owned.then_some(id))
            }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(hits.into_iter().flatten().collect())
}

/// After a create failed with `err` because the name is taken: the existing resource if it is
/// this very one (owned by this stack and tagged with `spec`'s address — an earlier run
/// created it and was interrupted before recording it), else `err`.
pub fn adopt_or(existing: Option<Found>, cx: &Cx, spec: &Spec, err: ResourceError) -> Result<Found, ResourceError> {
    match existing {
        Some(f) if f.is_resource(cx, spec) => Ok(f),
        _ => Err(err),
    }
}

/// Is `err` one of AWS's "already exists" answers?
pub fn is_already_exists(err: &ResourceError) -> bool {
    err.code().is_some_and(|c| c.contains("AlreadyExists") || c == "EntityAlreadyExists")
}

/// A list of strings with set semantics (order and duplicates do not matter to AWS): sorted,
/// deduplicated. Anything else is returned as is, for validation to report.
pub fn string_set(v: &Value) -> Value {
    match v.as_array() {
        Some(items) if items.iter().all(Value::is_string) => {
            let set: BTreeSet<&str> = items.iter().filter_map(Value::as_str).collect();
            json!(set)
        }
        _ => v.clone(),
    }
}

/// A string-list input with set semantics, empty by default.
pub fn set_attr(name: &'static str) -> AttrSchema {
    AttrSchema::optional(name, AttrType::StringList).default(json!([])).normalize(string_set)
}

/// The strings of a list attribute of `spec` (absent → empty).
pub fn str_list(spec: &Spec, name: &str) -> Vec<String> {
    spec.attrs
        .get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A string set as an attribute value (sorted, deduplicated).
pub fn set_value<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let set: BTreeSet<String> = items.into_iter().map(Into::into).collect();
    json!(set)
}

/// `ResourceError::Invalid` prefixed with the resource's address.
pub fn invalid(spec: &Spec, message: impl std::fmt::Display) -> ResourceError {
    ResourceError::invalid(format!("{}: {message}", spec.address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_sets_are_sorted_and_deduplicated() {
        assert_eq!(string_set(&json!(["b", "a", "b"])), json!(["a", "b"]));
        assert_eq!(string_set(&json!("x")), json!("x"));
        assert_eq!(set_value(["z", "y"]), json!(["y", "z"]));
    }
}
