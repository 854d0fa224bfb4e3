//! Plumbing the EKS kinds share, so each kind file holds only what is specific to it.
//!
//! - Ids: EKS addresses everything by name under its cluster, so ids are `cluster/name`
//!   ([`join_id`] / [`split_id`]); cluster names cannot contain `/`.
//! - Tags: EKS takes a tag map at creation ([`creation_tags`]: ownership + user tags) and
//!   returns it in every Describe; [`found`] splits it into user tags and ownership, and
//!   [`reconcile_tags`] applies user-tag changes by ARN, never touching `kprov:*`.
//! - Reads: EKS has no batch Describe, so [`read_each`] describes ids concurrently (at most
//!   [`READ_CONCURRENCY`] in flight); ids that are gone are simply absent. [`cluster_names`]
//!   lists clusters for the `find_owned` scans.
//! - Creates: a create that fails with `ResourceInUseException` may be our own earlier,
//!   interrupted create; [`adopt_or`] takes the existing resource when it carries this
//!   resource's ownership tags, and returns AWS's error otherwise.
//! - Waits: [`wait_update`] follows an update id with DescribeUpdate until it succeeds (as a
//!   wait, not holding an engine slot); each kind polls its own status with `Cx::poll_until`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::aws::ec2::common::{user_tags, Found};
use crate::aws::error::SdkResultExt;
use crate::resource::{Attrs, Cx, Observed, ResourceError, Spec, TAG_ADDRESS, TAG_ENV, TAG_STACK};

pub type Client = aws_sdk_eks::Client;

/// Describe calls in flight at once during a refresh (EKS's Describe* have generous limits;
/// this keeps a refresh of a few dozen add-ons from bursting).
pub const READ_CONCURRENCY: usize = 8;
/// Prefix of kprov's own tags.
const KPROV_PREFIX: &str = "kprov:";
const CONFLICT: &str = "ResourceInUseException";

/// `cluster/name`.
pub fn join_id(cluster: &str, rest: &str) -> String {
    format!("{cluster}/{rest}")
}

/// `cluster/name` → (`cluster`, `name`); `name` may itself contain `/` (a principal ARN).
pub fn split_id<'a>(kind: &str, id: &'a str) -> Result<(&'a str, &'a str), ResourceError> {
    id.split_once('/')
        .filter(|(c, r)| !c.is_empty() && !r.is_empty())
        .ok_or_else(|| ResourceError::invalid(format!("{kind}: id {id:?} is not of the form CLUSTER/NAME")))
}

/// The tags to create `spec` with: the user's plus the ownership tags, so the resource is never
/// visible untagged (adoption after a crash finds it by them).
pub fn creation_tags(cx: &Cx, spec: &Spec) -> Result<HashMap<String, String>, ResourceError> {
    let mut tags: HashMap<String, String> = user_tags(spec)?.into_iter().collect();
    tags.extend(cx.ownership_tags(&spec.address));
    Ok(tags)
}

/// A resource read from EKS: `attrs` gets a `tags` attribute with the user's tags only; the
/// `kprov:*` tags become ownership fields.
pub fn found(id: impl Into<String>, mut attrs: Attrs, tags: Option<&HashMap<String, String>>) -> Found {
    let mut user = serde_json::Map::new();
    let (mut stack, mut env, mut address) = (None, None, None);
    for (k, v) in tags.into_iter().flatten() {
        match k.as_str() {
            TAG_STACK => stack = Some(v.clone()),
            TAG_ENV => env = Some(v.clone()),
            TAG_ADDRESS => address = Some(v.clone()),
            k if k.starts_with(KPROV_PREFIX) => {}
            _ => {
                user.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    attrs.insert("tags".into(), Value::Object(user));
    Found { obs: Observed { id: id.into(), attrs, owner_address: address }, stack, env }
}

/// Apply the difference between the user tags in `prior` and `spec` to the resource `arn`.
pub async fn reconcile_tags(client: &Client, arn: &str, prior: &Observed, spec: &Spec) -> Result<(), ResourceError> {
    if !spec.attrs.contains_key("tags") {
        return Ok(());
    }
    let desired: BTreeMap<String, String> = user_tags(spec)?.into_iter().collect();
    let current: BTreeMap<String, String> =
        crate::resource::tags_of(&prior.attrs).into_iter().filter(|(k, _)| !k.starts_with(KPROV_PREFIX)).collect();
    let set: HashMap<String, String> =
        desired.iter().filter(|(k, v)| current.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove: Vec<String> = current.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    if !set.is_empty() {
        client.tag_resource().resource_arn(arn).set_tags(Some(set)).send().await.or_aws("TagResource")?;
    }
    if !remove.is_empty() {
        client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.or_aws("UntagResource")?;
    }
    Ok(())
}

/// Describe every id with `describe` (None: gone), at most [`READ_CONCURRENCY`] at a time.
pub async fn read_each<F, Fut>(ids: &[String], describe: F) -> Result<Vec<Found>, ResourceError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Found>, ResourceError>>,
{
    let unique: BTreeSet<&String> = ids.iter().collect();
    let found: Vec<Option<Found>> = futures::stream::iter(unique.into_iter().cloned().map(describe))
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// The `Observed` of resources found, for `read_many`.
pub fn observed(found: Vec<Found>) -> Vec<Observed> {
    found.into_iter().map(|f| f.obs).collect()
}

/// The resources found that carry `cx.owner`'s ownership tags, for `find_owned`.
pub fn owned(cx: &Cx, found: Vec<Found>) -> Vec<Observed> {
    found.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect()
}

/// Every cluster name in the region.
pub async fn cluster_names(client: &Client) -> Result<Vec<String>, ResourceError> {
    client.list_clusters().into_paginator().items().send().try_collect().await.or_aws("ListClusters")
}

/// After a create failed with `err`: if it is a name conflict and `existing` is this very
/// resource (same stack, env and address: our own earlier, interrupted create), take it;
/// otherwise the error stands.
pub fn adopt_or(cx: &Cx, spec: &Spec, err: ResourceError, existing: Option<Found>) -> Result<Found, ResourceError> {
    match existing {
        Some(f) if f.owned_by(&cx.owner) && f.obs.owner_address.as_deref() == Some(&spec.address.to_string()) => Ok(f),
        _ => Err(err),
    }
}

/// Is `err` a name conflict (the resource exists already)?
pub fn is_conflict(err: &ResourceError) -> bool {
    err.code() == Some(CONFLICT)
}

/// Is the value of `name` in `spec` different from `prior`'s? Unset in the plan means "not
/// managed", so never different; lists of `unordered` attributes compare as sets.
pub fn changed(spec: &Spec, prior: &Observed, name: &str, unordered: bool) -> bool {
    let Some(want) = spec.attrs.get(name) else { return false };
    let have = prior.attrs.get(name);
    if have == Some(want) {
        return false;
    }
    if unordered {
        if let Some(have @ Value::Array(_)) = have {
            return !crate::plan::diff::same_elements(have, want);
        }
    }
    // An empty list/map and an absent attribute mean the same to AWS.
    let empty = matches!(want, Value::Array(a) if a.is_empty()) || matches!(want, Value::Object(m) if m.is_empty());
    !(have.is_none() && empty)
}

/// The strings of a list attribute of `spec`.
pub fn spec_list(spec: &Spec, name: &str) -> Vec<String> {
    spec.attrs
        .get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The string map of a map attribute of `spec`.
pub fn spec_map(spec: &Spec, name: &str) -> HashMap<String, String> {
    spec.attrs
        .get(name)
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// A list of strings as an attribute value.
pub fn str_list<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.as_ref().to_string())).collect())
}

/// A string map as an attribute value (sorted: stable state and diffs).
pub fn str_map(m: Option<&HashMap<String, String>>) -> Value {
    let sorted: BTreeMap<&String, &String> = m.into_iter().flatten().collect();
    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// How to wait for one EKS update to finish.
pub struct UpdateWait<'a> {
    pub cluster: &'a str,
    pub nodegroup: Option<&'a str>,
    pub addon: Option<&'a str>,
    /// The operation that started the update, for messages (`UpdateClusterVersion`).
    pub operation: &'a str,
    pub timeout: Duration,
    pub interval: Duration,
}

/// Follow `update` (as returned by an Update* call) with DescribeUpdate until it is
/// `Successful`. A `Failed` or `Cancelled` update is an error carrying EKS's error code and
/// messages. An answer without an update (moto's UpdateClusterConfig) has nothing to follow:
/// the caller then waits for the resource's own status.
pub async fn wait_update(
    cx: &Cx,
    client: &Client,
    w: &UpdateWait<'_>,
    update: Option<&aws_sdk_eks::types::Update>,
) -> Result<(), ResourceError> {
    use aws_sdk_eks::types::UpdateStatus;
    let Some(id) = update.and_then(|u| u.id()) else { return Ok(()) };
    if update.and_then(|u| u.status()) == Some(&UpdateStatus::Successful) {
        return Ok(());
    }
    let what = format!("{} update {id} on cluster {}", w.operation, w.cluster);
    cx.poll_until(&what, w.timeout, w.interval, || async {
        let out = client
            .describe_update()
            .name(w.cluster)
            .update_id(id)
            .set_nodegroup_name(w.nodegroup.map(str::to_string))
            .set_addon_name(w.addon.map(str::to_string))
            .send()
            .await
            .or_aws("DescribeUpdate")?;
        let Some(u) = out.update() else { return Ok(None) };
        match u.status() {
            Some(UpdateStatus::Successful) => Ok(Some(())),
            Some(s @ (UpdateStatus::Failed | UpdateStatus::Cancelled)) => Err(update_failed(w.operation, id, s, u)),
            _ => Ok(None),
        }
    })
    .await
}

fn update_failed(
    operation: &str,
    id: &str,
    status: &aws_sdk_eks::types::UpdateStatus,
    u: &aws_sdk_eks::types::Update,
) -> ResourceError {
    let code = u.errors().iter().find_map(|e| e.error_code()).map(|c| c.as_str().to_string());
    let messages: Vec<&str> = u.errors().iter().filter_map(|e| e.error_message()).collect();
    ResourceError::Aws {
        operation: operation.to_string(),
        code: code.unwrap_or_else(|| format!("Update{}", status.as_str())),
        message: if messages.is_empty() {
            format!("update {id} ended {}", status.as_str())
        } else {
            format!("update {id} ended {}: {}", status.as_str(), messages.join("; "))
        },
        request_id: None,
        retryable: false,
    }
}

/// "code: message; …" of an EKS health report (cluster, node group and add-on issues have
/// different types, the same two fields), or `None` when it lists nothing.
pub fn health_text<'a>(issues: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Option<String> {
    let issues: Vec<String> = issues
        .into_iter()
        .map(|(code, message)| format!("{}: {}", code.unwrap_or("issue"), message.unwrap_or_default()))
        .collect();
    (!issues.is_empty()).then(|| issues.join("; "))
}

/// What one look at a resource's status says.
pub enum Settled {
    Ready,
    Pending,
    /// A terminal failure: AWS's status word and what it says about it.
    Failed {
        status: String,
        message: String,
    },
}

/// Poll `describe` (as a wait: no engine slot held) until `settled` says ready. A failure
/// becomes an AWS-style error whose code is `code_prefix` + AWS's status (`ClusterFAILED`), so
/// the user sees AWS's own word for it.
#[allow(clippy::too_many_arguments)]
pub async fn wait_ready<T, D, Fut, S>(
    cx: &Cx,
    what: &str,
    timeout: Duration,
    interval: Duration,
    operation: &str,
    code_prefix: &str,
    describe: D,
    settled: S,
) -> Result<(), ResourceError>
where
    D: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, ResourceError>>,
    S: Fn(&T) -> Settled,
{
    let (describe, settled) = (&describe, &settled);
    cx.poll_until(what, timeout, interval, move || async move {
        let Some(x) = describe().await? else { return Ok(None) };
        match settled(&x) {
            Settled::Ready => Ok(Some(())),
            Settled::Pending => Ok(None),
            Settled::Failed { status, message } => Err(ResourceError::Aws {
                operation: operation.to_string(),
                code: format!("{code_prefix}{status}"),
                message,
                request_id: None,
                retryable: false,
            }),
        }
    })
    .await
}

/// Poll `describe` (as a wait) until the resource is gone.
pub async fn wait_gone<T, D, Fut>(
    cx: &Cx,
    what: &str,
    timeout: Duration,
    interval: Duration,
    describe: D,
) -> Result<(), ResourceError>
where
    D: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, ResourceError>>,
{
    let describe = &describe;
    cx.poll_until(what, timeout, interval, move || async move { Ok(describe().await?.is_none().then_some(())) }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Address, Owner};
    use serde_json::json;

    fn spec(attrs: Value) -> Spec {
        let attrs: Attrs = serde_json::from_value(attrs).expect("attrs");
        Spec { address: Address::new("eks_cluster", "main", None), attrs, client_token: "t".into() }
    }

    #[test]
    fn ids_split_at_the_first_slash() {
        assert_eq!(split_id("k", "c/ng").unwrap(), ("c", "ng"));
        assert_eq!(split_id("k", "c/arn:aws:iam::1:role/a/b").unwrap(), ("c", "arn:aws:iam::1:role/a/b"));
        assert!(split_id("k", "c").is_err());
        assert!(split_id("k", "/x").is_err());
    }

    #[test]
    fn ownership_tags_are_set_and_stripped() {
        let cx = Cx::new(Owner { stack: "s".into(), env: "e".into() });
        let s = spec(json!({"tags": {"team": "a"}}));
        let tags = creation_tags(&cx, &s).unwrap();
        assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some("eks_cluster.main"));
        assert_eq!(tags.get("team").map(String::as_str), Some("a"));
        let f = found("c", Attrs::new(), Some(&tags));
        assert_eq!(f.obs.attrs["tags"], json!({"team": "a"}));
        assert!(f.owned_by(&cx.owner));
        assert_eq!(adopt_or(&cx, &s, ResourceError::invalid("x"), Some(f)).unwrap().obs.id, "c");
        let other = spec(json!({}));
        let mut other = other;
        other.address = Address::new("eks_cluster", "other", None);
        let f = found("c", Attrs::new(), Some(&tags));
        assert!(adopt_or(&cx, &other, ResourceError::invalid("x"), Some(f)).is_err());
    }

    #[test]
    fn changed_respects_unmanaged_and_unordered() {
        let prior = Observed {
            id: "x".into(),
            attrs: serde_json::from_value(json!({"l": ["a", "b"]})).unwrap(),
            owner_address: None,
        };
        assert!(!changed(&spec(json!({})), &prior, "l", false));
        assert!(!changed(&spec(json!({"l": ["b", "a"]})), &prior, "l", true));
        assert!(changed(&spec(json!({"l": ["b", "a"]})), &prior, "l", false));
        assert!(changed(&spec(json!({"l": ["a"]})), &prior, "l", true));
        assert!(!changed(&spec(json!({"m": []})), &prior, "m", false));
    }
}
