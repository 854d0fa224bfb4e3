//! Plumbing every EC2 kind shares, so each kind file holds only what is specific to it.
//!
//! - Tags: [`tag_spec`] builds the `TagSpecifications` set at creation (ownership tags + the
//!   user's), [`found`] splits tags read back into user tags and ownership, and
//!   [`reconcile_tags`] applies user-tag changes without ever touching `kprov:*`.
//! - Reading: a kind implements [`Describe`] (one paginated Describe call for a set of
//!   filters); [`read_by_ids`] and [`find_by_owner`] turn that into `read_many` and
//!   `find_owned`. Ids are always passed as a *filter* (`vpc-id`, …), never as the explicit
//!   `…Ids` parameter: EC2 fails the whole call with `*.NotFound` when one explicit id is
//!   missing, while a filter simply returns the ones that exist.
//! - Waiting: [`read_back`] absorbs EC2's eventual consistency right after a write, and
//!   [`retry_on_codes`] retries deletes that fail only because a dependency is still going away.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::json;

use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, Owner, ResourceError, ResourceKind, Spec, Value,
    TAG_ADDRESS, TAG_ENV, TAG_STACK,
};

pub type Client = aws_sdk_ec2::Client;

/// AWS accepts at most 200 values per Describe filter.
pub const FILTER_VALUES_MAX: usize = 200;
/// Prefix of kprov's own tags; users may not set tags with it.
const KPROV_PREFIX: &str = "kprov:";

/// The `tags` attribute every taggable kind has: user tags, managed in place.
pub fn tags_attr() -> AttrSchema {
    AttrSchema::optional("tags", AttrType::StringMap)
        .default(json!({}))
        .constraint(Constraint::check_fn(
            "keys 1–128 characters, values at most 256; no `aws:` or `kprov:` prefix",
            tags_problem,
        ))
        .doc("Tags set on the resource, besides kprov's own `kprov:*` ownership tags.")
}

/// The limits every AWS service shares for user tags: a key of 1–128 characters, a value of
/// at most 256, and the `aws:` prefix reserved for AWS (EC2 User Guide, "Tag restrictions";
/// the same in the IAM, EKS, ELB and KMS tagging references). `kprov:` is kprov's own.
fn tags_problem(v: &Value) -> Result<(), String> {
    let Some(tags) = v.as_object() else { return Ok(()) };
    for (k, v) in tags {
        let len = k.chars().count();
        if len == 0 || len > 128 {
            return Err(format!("tag key {k:?} is {len} characters long: must be 1–128"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(format!("tag key {k:?}: the `aws:` prefix is reserved for AWS"));
        }
        if k.starts_with(KPROV_PREFIX) {
            return Err(format!("tag key {k:?}: the `{KPROV_PREFIX}` prefix is reserved for kprov's ownership tags"));
        }
        let vlen = v.as_str().map_or(0, |s| s.chars().count());
        if vlen > 256 {
            return Err(format!("the value of tag {k:?} is {vlen} characters long: must be at most 256"));
        }
    }
    Ok(())
}

/// A Describe filter.
pub fn filter<I, S>(name: &str, values: I) -> Filter
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

/// Filters selecting resources carrying `owner`'s ownership tags.
pub fn owner_filters(owner: &Owner) -> Vec<Filter> {
    vec![
        filter(&format!("tag:{TAG_STACK}"), [owner.stack.as_str()]),
        filter(&format!("tag:{TAG_ENV}"), [owner.env.as_str()]),
    ]
}

/// The user's tags from `spec`, refusing keys kprov reserves for itself (they would clash with
/// the ownership tags and be stripped on read, so the resource would never converge).
pub fn user_tags(spec: &Spec) -> Result<Vec<(String, String)>, ResourceError> {
    let tags = spec.tags();
    if let Some((k, _)) = tags.iter().find(|(k, _)| k.starts_with(KPROV_PREFIX)) {
        return Err(ResourceError::invalid(format!(
            "{}: tag `{k}` uses the reserved `{KPROV_PREFIX}` prefix",
            spec.address
        )));
    }
    Ok(tags)
}

fn to_tags(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<Tag> {
    pairs.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The `TagSpecifications` entry for creating `spec` as a resource of type `rt`: the ownership
/// tags plus the user's, so the resource is never visible untagged (adoption after a crash
/// finds it by these tags).
pub fn tag_spec(rt: ResourceType, cx: &Cx, spec: &Spec) -> Result<TagSpecification, ResourceError> {
    let mut tags = user_tags(spec)?;
    tags.extend(cx.ownership_tags(&spec.address));
    Ok(TagSpecification::builder().resource_type(rt).set_tags(Some(to_tags(tags))).build())
}

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
}

/// Build a [`Found`] for a taggable resource: `attrs` gets a `tags` attribute with the user's
/// tags only; the `kprov:*` tags become ownership fields.
pub fn found(id: impl Into<String>, mut attrs: Attrs, tags: &[Tag]) -> Found {
    let mut user = serde_json::Map::new();
    let (mut stack, mut env, mut address) = (None, None, None);
    for t in tags {
        let (Some(k), v) = (t.key(), t.value().unwrap_or_default()) else {
            continue;
        };
        match k {
            TAG_STACK => stack = Some(v.to_string()),
            TAG_ENV => env = Some(v.to_string()),
            TAG_ADDRESS => address = Some(v.to_string()),
            k if k.starts_with(KPROV_PREFIX) => {}
            k => {
                user.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    attrs.insert("tags".into(), Value::Object(user));
    Found { obs: Observed { id: id.into(), attrs, owner_address: address }, stack, env }
}

/// Build a [`Found`] for a resource that cannot carry tags itself but belongs to one that
/// does (a route-table association inherits its table's ownership).
pub fn found_untagged(id: impl Into<String>, attrs: Attrs, parent: &Found) -> Found {
    Found {
        obs: Observed { id: id.into(), attrs, owner_address: None },
        stack: parent.stack.clone(),
        env: parent.env.clone(),
    }
}

/// Put a string attribute into `attrs` when AWS returned it.
pub fn put_str(attrs: &mut Attrs, name: &str, v: Option<&str>) {
    if let Some(v) = v {
        attrs.insert(name.to_string(), Value::String(v.to_string()));
    }
}

/// Apply the difference between the user tags in `prior` and those in `spec` to `id`:
/// CreateTags for new or changed values, DeleteTags for removed keys. `kprov:*` tags are never
/// touched (they are not in either side).
pub async fn reconcile_tags(client: &Client, id: &str, prior: &Observed, spec: &Spec) -> Result<(), ResourceError> {
    if !spec.attrs.contains_key("tags") {
        // Unmanaged: the plan does not set tags at all.
        return Ok(());
    }
    let desired: BTreeMap<String, String> = user_tags(spec)?.into_iter().collect();
    let current: BTreeMap<String, String> =
        crate::resource::tags_of(&prior.attrs).into_iter().filter(|(k, _)| !k.starts_with(KPROV_PREFIX)).collect();
    let set: Vec<(String, String)> =
        desired.iter().filter(|(k, v)| current.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove: Vec<String> = current.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    if !set.is_empty() {
        client.create_tags().resources(id).set_tags(Some(to_tags(set))).send().await.or_aws("CreateTags")?;
    }
    if !remove.is_empty() {
        // A tag given by key only is deleted whatever its value.
        let keys = remove.into_iter().map(|k| Tag::builder().key(k).build()).collect();
        client.delete_tags().resources(id).set_tags(Some(keys)).send().await.or_aws("DeleteTags")?;
    }
    Ok(())
}

/// A kind that can list its resources with one (paginated) Describe call per set of filters.
#[async_trait::async_trait]
pub trait Describe: Send + Sync {
    /// The Describe filter selecting resources by id, e.g. `vpc-id`.
    const ID_FILTER: &'static str;
    /// Every resource matching all `filters`. Resources in a terminal state (a `deleted` NAT
    /// gateway) must be left out: they are absent as far as kprov is concerned.
    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError>;
}

/// `read_many` for a [`Describe`] kind: the ids as an id filter, in chunks of the filter's
/// value limit. Only the requested ids are returned (a filter can match more, e.g. every
/// association of a route table).
pub async fn read_by_ids<D: Describe>(kind: &D, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let unique: Vec<&str> = wanted.iter().copied().collect();
    for chunk in unique.chunks(FILTER_VALUES_MAX) {
        let found = kind.describe(vec![filter(D::ID_FILTER, chunk.iter().copied())]).await?;
        out.extend(found.into_iter().map(|f| f.obs).filter(|o| wanted.contains(o.id.as_str())));
    }
    Ok(out)
}

/// `find_owned` for a [`Describe`] kind: filter by the ownership tags server-side, and check
/// them again here — an API (or an emulator) that ignores a tag filter must not make kprov
/// adopt somebody else's resources.
pub async fn find_by_owner<D: Describe>(kind: &D, owner: &Owner) -> Result<Vec<Observed>, ResourceError> {
    let found = kind.describe(owner_filters(owner)).await?;
    Ok(found.into_iter().filter(|f| f.owned_by(owner)).map(|f| f.obs).collect())
}

/// How long a just-created resource may stay invisible to Describe (EC2 is eventually
/// consistent: a `Create*` can succeed and the next `Describe*` not see it yet, for minutes:
/// EC2 API reference, "Eventual consistency"; terraform-provider-aws waits
/// ec2PropagationTimeout, 5 min, in its Find*).
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(300);
const READ_BACK_INTERVAL: Duration = Duration::from_secs(2);

/// Read `id` right after a write. The first read is immediate; if the resource is not visible
/// yet, poll (as a wait, not holding an engine slot) until it is.
pub async fn read_back<K: ResourceKind + ?Sized>(kind: &K, cx: &Cx, id: &str) -> Result<Observed, ResourceError> {
    let ids = [id.to_string()];
    if let Some(o) = kind.read_many(cx, &ids).await?.into_iter().next() {
        return Ok(o);
    }
    let what = format!("{} {id} to become visible", kind.kind());
    cx.poll_until(&what, READ_BACK_TIMEOUT, READ_BACK_INTERVAL, || async {
        Ok(kind.read_many(cx, &ids).await?.into_iter().next())
    })
    .await
}

/// A delete call where "already gone" is success.
pub async fn delete_ok_if_gone<T>(r: impl Future<Output = Result<T, ResourceError>>) -> Result<(), ResourceError> {
    not_found_as_none(r.await).map(|_| ())
}

/// The first item of a create response, or an `Unexpected` error naming the operation.
pub fn required<T>(v: Option<T>, operation: &str, what: &str) -> Result<T, ResourceError> {
    v.ok_or_else(|| ResourceError::unexpected(operation, format!("no {what} in the answer")))
}

/// The ARN of an EC2 resource whose API does not return one (`vpc`, `security-group`).
pub fn ec2_arn(client: &Client, owner_id: Option<&str>, resource: &str, id: &str) -> Option<String> {
    let region = client.config().region()?;
    let owner = owner_id?;
    Some(format!("arn:aws:ec2:{region}:{owner}:{resource}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;

    fn spec(tags: Value) -> Spec {
        let mut attrs = Attrs::new();
        attrs.insert("tags".into(), tags);
        Spec { address: Address::new("ec2_vpc", "main", None), attrs, client_token: "t".into() }
    }

    #[test]
    fn found_strips_ownership_tags() {
        let tags = to_tags([
            ("Name".to_string(), "main".to_string()),
            (TAG_STACK.to_string(), "platform".to_string()),
            (TAG_ENV.to_string(), "prod".to_string()),
            (TAG_ADDRESS.to_string(), "ec2_vpc.main".to_string()),
        ]);
        let f = found("vpc-1", Attrs::new(), &tags);
        assert_eq!(f.obs.attrs["tags"], json!({"Name": "main"}));
        assert_eq!(f.obs.owner_address.as_deref(), Some("ec2_vpc.main"));
        assert!(f.owned_by(&Owner { stack: "platform".into(), env: "prod".into() }));
        assert!(!f.owned_by(&Owner { stack: "platform".into(), env: "dev".into() }));
    }

    #[test]
    fn tag_spec_has_ownership_and_user_tags() {
        let cx = Cx::new(Owner { stack: "s".into(), env: "e".into() });
        let ts = tag_spec(ResourceType::Vpc, &cx, &spec(json!({"Name": "x"}))).expect("tag spec");
        let keys: Vec<_> = ts.tags().iter().filter_map(|t| t.key()).collect();
        assert_eq!(keys, ["Name", TAG_STACK, TAG_ENV, TAG_ADDRESS]);
    }

    #[test]
    fn reserved_prefix_is_refused() {
        assert!(user_tags(&spec(json!({"kprov:stack": "x"}))).is_err());
    }
}
