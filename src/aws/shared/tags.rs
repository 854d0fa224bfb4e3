//! Tags for services whose tag APIs are not EC2's: one model, many API shapes.
//!
//! Every service keeps tags as (key, value) pairs, but the calls differ: IAM has
//! `TagRole`/`UntagRole` per resource type, KMS `TagResource` with `TagKey`/`TagValue`, Logs a
//! map, ELBv2 `AddTags`/`RemoveTags`, Route53 one `ChangeTagsForResource`. So this module works
//! on plain pairs, and a kind only adapts its service's two calls by implementing [`TagApi`].
//!
//! Three sorts of tags live on a resource kprov creates:
//! - ownership: `kprov:stack`, `kprov:env`, `kprov:address` — set at creation, never changed,
//!   reported as [`Found`] fields and `owner_address`, never as attributes;
//! - settings: `kprov:<attribute>` for attributes AWS does not keep but kprov needs when it
//!   only has the resource in hand — `force_delete` of an ECR repository, the deletion window
//!   of a KMS key. `delete` gets the resource as read from AWS, not the plan, so these ride
//!   on the resource itself (value: the attribute's JSON text) and read back as attributes;
//! - the user's, in the `tags` attribute. Keys starting with `kprov:` are refused there.

use std::collections::BTreeMap;

use serde_json::Map;

use super::Found;
use crate::resource::{Attrs, Cx, Observed, ResourceError, Spec, Value, TAG_ADDRESS, TAG_ENV, TAG_STACK};

/// Prefix of kprov's own tags.
pub const KPROV_PREFIX: &str = "kprov:";

/// A service's two tag-changing calls on the resource `id` (a name or an ARN).
#[async_trait::async_trait]
pub trait TagApi: Send + Sync {
    async fn tag(&self, id: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError>;
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<(), ResourceError>;
}

fn setting_key(attr: &str) -> String {
    format!("{KPROV_PREFIX}{attr}")
}

/// The user's tags of `spec`, refusing keys with kprov's prefix (they would be taken for
/// kprov's own and never converge).
pub fn user_tags(spec: &Spec) -> Result<Vec<(String, String)>, ResourceError> {
    let tags = spec.tags();
    if let Some((k, _)) = tags.iter().find(|(k, _)| k.starts_with(KPROV_PREFIX)) {
        return Err(super::invalid(spec, format!("tag `{k}` uses the reserved `{KPROV_PREFIX}` prefix")));
    }
    Ok(tags)
}

/// The setting tags for `spec`'s values of the `settings` attributes (those it sets).
fn setting_tags(spec: &Spec, settings: &[&str]) -> Vec<(String, String)> {
    settings.iter().filter_map(|a| Some((setting_key(a), spec.attrs.get(*a)?.to_string()))).collect()
}

/// Every tag to set when creating `spec`: the user's, the settings, and ownership — so the
/// resource is never visible without them (adoption after a crash finds it by these tags).
pub fn creation_tags(cx: &Cx, spec: &Spec, settings: &[&str]) -> Result<Vec<(String, String)>, ResourceError> {
    let mut tags = user_tags(spec)?;
    tags.extend(setting_tags(spec, settings));
    tags.extend(cx.ownership_tags(&spec.address));
    Ok(tags)
}

/// Tags read back from AWS, sorted into the three sorts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Split {
    pub user: BTreeMap<String, String>,
    /// Setting attributes by name, values parsed back from their JSON text.
    pub settings: Attrs,
    pub stack: Option<String>,
    pub env: Option<String>,
    pub address: Option<String>,
}

/// Sort `pairs` into ownership, the `settings` attributes, and user tags. Other `kprov:*`
/// tags (from another kprov version) are ignored rather than shown as user tags.
pub fn split<I, K, V>(pairs: I, settings: &[&str]) -> Split
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut out = Split::default();
    for (k, v) in pairs {
        let (k, v) = (k.as_ref(), v.as_ref().to_string());
        match k {
            TAG_STACK => out.stack = Some(v),
            TAG_ENV => out.env = Some(v),
            TAG_ADDRESS => out.address = Some(v),
            k if k.starts_with(KPROV_PREFIX) => {
                let name = &k[KPROV_PREFIX.len()..];
                if let Some(attr) = settings.iter().find(|s| **s == name) {
                    let value = serde_json::from_str(&v).unwrap_or(Value::String(v));
                    out.settings.insert(attr.to_string(), value);
                }
            }
            k => {
                out.user.insert(k.to_string(), v);
            }
        }
    }
    out
}

impl Split {
    /// The [`Found`] for resource `id`: `attrs` plus the `tags` attribute (user tags only) and
    /// the settings.
    pub fn found(self, id: impl Into<String>, mut attrs: Attrs) -> Found {
        let user: Map<String, Value> = self.user.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        attrs.insert("tags".into(), Value::Object(user));
        attrs.extend(self.settings);
        Found { obs: Observed { id: id.into(), attrs, owner_address: self.address }, stack: self.stack, env: self.env }
    }
}

/// Tag changes: (key, value) pairs to set, keys to remove.
#[derive(Debug, Default, PartialEq)]
pub struct Delta {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// What must change to go from `prior`'s tags to `spec`'s. Ownership tags are on neither side, so they are never touched. When the plan
/// does not set `tags` at all, the user's tags are left alone (unmanaged).
pub fn delta(prior: &Observed, spec: &Spec, settings: &[&str]) -> Result<Delta, ResourceError> {
    let mut current: BTreeMap<String, String> =
        crate::resource::tags_of(&prior.attrs).into_iter().filter(|(k, _)| !k.starts_with(KPROV_PREFIX)).collect();
    let mut desired: BTreeMap<String, String> =
        if spec.attrs.contains_key("tags") { user_tags(spec)?.into_iter().collect() } else { current.clone() };
    for attr in settings {
        if let Some(v) = prior.attrs.get(*attr) {
            current.insert(setting_key(attr), v.to_string());
        }
    }
    desired.extend(setting_tags(spec, settings));
    let set = desired.iter().filter(|(k, v)| current.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = current.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    Ok(Delta { set, remove })
}

/// Bring the tags of `id` from `prior`'s to `spec`'s with the service's calls.
pub async fn reconcile<A: TagApi + ?Sized>(
    api: &A,
    id: &str,
    prior: &Observed,
    spec: &Spec,
    settings: &[&str],
) -> Result<(), ResourceError> {
    let Delta { set, remove } = delta(prior, spec, settings)?;
    if !set.is_empty() {
        api.tag(id, set).await?;
    }
    if !remove.is_empty() {
        api.untag(id, remove).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Address, Owner};
    use serde_json::json;

    fn spec(attrs: Value) -> Spec {
        Spec {
            address: Address::new("ecr_repository", "app", None),
            attrs: attrs.as_object().cloned().unwrap_or_default().into_iter().collect(),
            client_token: "t".into(),
        }
    }

    #[test]
    fn split_sorts_ownership_settings_and_user_tags() {
        let s = split(
            [
                ("Team", "web"),
                (TAG_STACK, "platform"),
                (TAG_ENV, "prod"),
                (TAG_ADDRESS, "ecr_repository.app"),
                ("kprov:force_delete", "true"),
                ("kprov:unknown", "x"),
            ],
            &["force_delete"],
        );
        assert_eq!(s.stack.as_deref(), Some("platform"));
        assert_eq!(s.settings.get("force_delete"), Some(&json!(true)));
        let f = s.found("app", Attrs::new());
        assert_eq!(f.obs.attrs["tags"], json!({"Team": "web"}));
        assert_eq!(f.obs.attrs["force_delete"], json!(true));
        assert_eq!(f.obs.owner_address.as_deref(), Some("ecr_repository.app"));
        assert!(f.owned_by(&Owner { stack: "platform".into(), env: "prod".into() }));
    }

    #[test]
    fn creation_tags_include_settings_and_ownership() {
        let cx = Cx::new(Owner { stack: "s".into(), env: "e".into() });
        let tags = creation_tags(&cx, &spec(json!({"tags": {"A": "1"}, "force_delete": false})), &["force_delete"])
            .expect("tags");
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["A", "kprov:force_delete", TAG_STACK, TAG_ENV, TAG_ADDRESS]);
        assert!(creation_tags(&cx, &spec(json!({"tags": {"kprov:x": "1"}})), &[]).is_err());
    }

    #[test]
    fn delta_sets_changed_and_removes_dropped_keys() {
        let prior = Observed {
            id: "app".into(),
            attrs: [("tags".to_string(), json!({"A": "1", "B": "2"})), ("force_delete".to_string(), json!(false))]
                .into_iter()
                .collect(),
            owner_address: None,
        };
        let Delta { set, remove } =
            delta(&prior, &spec(json!({"tags": {"A": "1", "C": "3"}, "force_delete": true})), &["force_delete"])
                .expect("delta");
        assert_eq!(set, vec![("C".into(), "3".into()), ("kprov:force_delete".into(), "true".into())]);
        assert_eq!(remove, vec!["B".to_string()]);
        // Tags not managed by the plan: left alone.
        let d = delta(&prior, &spec(json!({"force_delete": false})), &["force_delete"]).expect("delta");
        assert_eq!(d, Delta::default());
    }
}
