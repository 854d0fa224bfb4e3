//! `iam_role`: a role with its trust policy, inline policies and managed-policy attachments.
//!
//! The role, its inline policies and its attachments are separate IAM objects; kprov manages
//! them as one resource, as the plan declares them together.
//! - Create: validate every document first (the emulator accepts anything), CreateRole tagged
//!   at creation, then converge inline policies and attachments exactly as `update` does.
//!   CreateRole takes no client token: when the name is taken, the existing role is adopted
//!   only if its `kprov:address` tag names this resource (an interrupted earlier run).
//! - Read: GetRole (tags included), ListRolePolicies + GetRolePolicy each,
//!   ListAttachedRolePolicies. Documents come back URL-encoded text and are normalised
//!   ([`document::normalize`]) so that key order or spelling never shows as a change.
//! - Update: everything but name and path in place: UpdateAssumeRolePolicy, UpdateRole
//!   (session duration, description), Put/DeleteRolePolicy, Attach/DetachRolePolicy,
//!   Tag/UntagRole — each only when it differs.
//! - Delete: IAM refuses to delete a role that still has policies or sits in an instance
//!   profile, so those are removed first (from what IAM lists now, not from the plan).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::{split, to_tags, Client};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::document::{self, PolicyKind};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, invalid, put_str, Found, ReadOne};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec,
};

/// IAM's bounds for MaxSessionDuration, in seconds.
const SESSION_MIN: i64 = 3600;
const SESSION_MAX: i64 = 43200;

pub struct Role {
    client: Client,
    schema: Schema,
}

impl Role {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // IAM API Reference, CreateRole: RoleName 1–64 of `[\w+=,.@-]`; Path 1–512,
            // `/` or `/…/`; MaxSessionDuration 3600–43200 seconds.
            AttrSchema::required("name", AttrType::String).force_new().constraint(Constraint::Name {
                min: 1,
                max: 64,
                chars: |c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c),
                chars_doc: "letters, digits and +=,.@_-",
            }),
            AttrSchema::optional("path", AttrType::String)
                .default(json!("/"))
                .force_new()
                .constraint(Constraint::check_fn("`/` or `/…/`, at most 512 characters", path_problem)),
            AttrSchema::required("assume_role_policy", AttrType::Any)
                .normalize(document::normalize)
                .constraint(document::constraint(PolicyKind::Trust))
                .doc("Trust policy: who may assume the role (a table, or JSON text)."),
            AttrSchema::optional("inline_policies", AttrType::Any)
                .default(json!({}))
                .normalize(document::normalize_map)
                .constraint(Constraint::structure(
                    "a table of policy name (1–128 characters) → IAM policy document",
                    inline_problem,
                ))
                .doc("Inline policies: policy name → document."),
            shared::set_attr("managed_policy_arns")
                .constraint(Constraint::each(Constraint::Arn { service: "iam", resource: "policy/" }))
                .doc("ARNs of managed policies attached to the role."),
            AttrSchema::optional("max_session_duration", AttrType::Int)
                .default(json!(SESSION_MIN))
                .range(SESSION_MIN, SESSION_MAX),
            AttrSchema::optional("description", AttrType::String).default(json!("")),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("unique_id", AttrType::String),
        ]);
        Role { client, schema }
    }

    async fn inline_documents(&self, name: &str) -> Result<Map<String, Value>, ResourceError> {
        let names: Vec<String> = self
            .client
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("ListRolePolicies")?;
        let mut docs = Map::new();
        for p in names {
            let out =
                self.client.get_role_policy().role_name(name).policy_name(&p).send().await.or_aws("GetRolePolicy")?;
            docs.insert(p, document::normalize(&json!(out.policy_document())));
        }
        Ok(docs)
    }

    async fn attached(&self, name: &str) -> Result<Vec<String>, ResourceError> {
        let attached: Vec<_> = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("ListAttachedRolePolicies")?;
        Ok(attached.iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect())
    }

    /// Bring trust policy, settings, inline policies, attachments and tags from `prior` to `spec`.
    async fn converge(&self, prior: &Observed, spec: &Spec) -> Result<(), ResourceError> {
        let name = &prior.id;
        let trust = document::text_of(spec, "assume_role_policy")?;
        if prior.attrs.get("assume_role_policy") != Some(&document::normalize(&json!(trust))) {
            self.client
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(trust)
                .send()
                .await
                .or_aws("UpdateAssumeRolePolicy")?;
        }
        let duration = spec.i64("max_session_duration").unwrap_or(SESSION_MIN);
        let description = spec.str("description").unwrap_or_default();
        if prior.attrs.get("max_session_duration") != Some(&json!(duration))
            || prior.attrs.get("description") != Some(&json!(description))
        {
            let duration =
                i32::try_from(duration).map_err(|_| invalid(spec, "max_session_duration is out of range"))?;
            self.client
                .update_role()
                .role_name(name)
                .max_session_duration(duration)
                .description(description)
                .send()
                .await
                .or_aws("UpdateRole")?;
        }

        let current = prior.attrs.get("inline_policies").and_then(Value::as_object).cloned().unwrap_or_default();
        let desired = inline_policies(spec)?;
        for (policy, text) in &desired {
            if current.get(policy) != Some(&document::normalize(&json!(text))) {
                self.client
                    .put_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .policy_document(text)
                    .send()
                    .await
                    .or_aws("PutRolePolicy")?;
            }
        }
        for policy in current.keys().filter(|p| !desired.contains_key(*p)) {
            not_found_as_none(
                self.client
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .or_aws("DeleteRolePolicy"),
            )?;
        }

        let current: BTreeSet<String> = strings(prior.attrs.get("managed_policy_arns"));
        let desired: BTreeSet<String> = shared::str_list(spec, "managed_policy_arns").into_iter().collect();
        for arn in desired.difference(&current) {
            self.client.attach_role_policy().role_name(name).policy_arn(arn).send().await.or_aws("AttachRolePolicy")?;
        }
        for arn in current.difference(&desired) {
            not_found_as_none(
                self.client
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .or_aws("DetachRolePolicy"),
            )?;
        }
        tags::reconcile(self, name, prior, spec, &[]).await
    }

    /// Take the role out of every instance profile and remove all its policies, so that
    /// DeleteRole can succeed. `Ok(false)` when the role is already gone.
    async fn strip(&self, name: &str) -> Result<bool, ResourceError> {
        let profiles: Option<Vec<_>> = not_found_as_none(
            self.client
                .list_instance_profiles_for_role()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_aws("ListInstanceProfilesForRole"),
        )?;
        let Some(profiles) = profiles else { return Ok(false) };
        for p in profiles {
            not_found_as_none(
                self.client
                    .remove_role_from_instance_profile()
                    .instance_profile_name(p.instance_profile_name())
                    .role_name(name)
                    .send()
                    .await
                    .or_aws("RemoveRoleFromInstanceProfile"),
            )?;
        }
        let Some(attached) = not_found_as_none(self.attached(name).await)? else { return Ok(false) };
        for arn in attached {
            not_found_as_none(
                self.client
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(&arn)
                    .send()
                    .await
                    .or_aws("DetachRolePolicy"),
            )?;
        }
        let Some(inline) = not_found_as_none(self.inline_documents(name).await)? else { return Ok(false) };
        for policy in inline.keys() {
            not_found_as_none(
                self.client
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .or_aws("DeleteRolePolicy"),
            )?;
        }
        Ok(true)
    }
}

/// The strings of a list attribute value.
fn strings(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A role path: `/` or `/a/b/`, at most 512 characters.
fn path_problem(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some(p) if !p.starts_with('/') || !p.ends_with('/') || p.len() > 512 => {
            Err(format!("{p:?} must start and end with `/` (at most 512 characters)"))
        }
        _ => Ok(()),
    }
}

/// `inline_policies`: policy names of 1–128 characters (IAM PutRolePolicy), each an identity
/// policy document.
fn inline_problem(v: &Value) -> Result<(), String> {
    let Some(map) = v.as_object() else { return Err("must be a table of policy name → document".into()) };
    for (name, doc) in map {
        if name.is_empty() || name.chars().count() > 128 {
            return Err(format!("inline policy name {name:?} must be 1–128 characters"));
        }
        document::validate(doc, PolicyKind::Identity).map_err(|m| format!("inline policy `{name}`: {m}"))?;
    }
    Ok(())
}

/// `inline_policies` of `spec` as policy name → JSON text (validated before, by the
/// attribute's constraint).
fn inline_policies(spec: &Spec) -> Result<BTreeMap<String, String>, ResourceError> {
    let Some(v) = spec.attrs.get("inline_policies") else { return Ok(BTreeMap::new()) };
    let Some(map) = v.as_object() else {
        return Err(invalid(spec, "inline_policies must be a table of policy name → document"));
    };
    let mut out = BTreeMap::new();
    for (name, doc) in map {
        let bad = |m: String| invalid(spec, format!("inline policy `{name}`: {m}"));
        out.insert(name.clone(), document::to_text(doc).map_err(bad)?);
    }
    Ok(out)
}

#[async_trait::async_trait]
impl TagApi for Role {
    async fn tag(&self, id: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.client.tag_role().role_name(id).set_tags(Some(to_tags(tags)?)).send().await.or_aws("TagRole")?;
        Ok(())
    }
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        self.client.untag_role().role_name(id).set_tag_keys(Some(keys)).send().await.or_aws("UntagRole")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ReadOne for Role {
    async fn read_one(&self, name: &str) -> Result<Option<Found>, ResourceError> {
        let Some(out) = not_found_as_none(self.client.get_role().role_name(name).send().await.or_aws("GetRole"))?
        else {
            return Ok(None);
        };
        let Some(role) = out.role() else { return Ok(None) };
        // The role can vanish between calls: that is absence too.
        let Some(inline) = not_found_as_none(self.inline_documents(name).await)? else { return Ok(None) };
        let Some(attached) = not_found_as_none(self.attached(name).await)? else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "name", Some(role.role_name()));
        put_str(&mut attrs, "path", Some(role.path()));
        put_str(&mut attrs, "arn", Some(role.arn()));
        put_str(&mut attrs, "unique_id", Some(role.role_id()));
        if let Some(doc) = role.assume_role_policy_document() {
            attrs.insert("assume_role_policy".into(), document::normalize(&json!(doc)));
        }
        attrs.insert("inline_policies".into(), Value::Object(inline));
        attrs.insert("managed_policy_arns".into(), shared::set_value(attached));
        attrs.insert("max_session_duration".into(), json!(role.max_session_duration().unwrap_or(SESSION_MIN as i32)));
        attrs.insert("description".into(), json!(role.description().unwrap_or_default()));
        Ok(Some(split(role.tags()).found(name, attrs)))
    }
}

#[async_trait::async_trait]
impl ResourceKind for Role {
    fn kind(&self) -> &'static str {
        "iam_role"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        shared::read_observed(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let description = spec.str("description").filter(|d| !d.is_empty());
        let duration = spec.i64("max_session_duration").and_then(|d| i32::try_from(d).ok());
        let r = self
            .client
            .create_role()
            .role_name(name)
            .path(spec.str("path").unwrap_or("/"))
            .assume_role_policy_document(document::text_of(spec, "assume_role_policy")?)
            .set_description(description.map(str::to_string))
            .set_max_session_duration(duration)
            .set_tags(Some(to_tags(tags::creation_tags(cx, spec, &[])?)?))
            .send()
            .await
            .or_aws("CreateRole");
        if let Err(e) = r {
            if !shared::is_already_exists(&e) {
                return Err(e);
            }
            shared::adopt_or(self.read_one(name).await?, cx, spec, e)?;
        }
        // Inline policies and attachments (also what an interrupted run left undone).
        let created = shared::read_back(self, cx, name).await?;
        self.update(cx, &created, spec).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.converge(prior, spec).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        if !self.strip(&prior.id).await? {
            return Ok(());
        }
        // DeleteConflict while a detach has not propagated: waited out by the connector
        // (`aws::consistency`).
        not_found_as_none(self.client.delete_role().role_name(&prior.id).send().await.or_aws("DeleteRole"))?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        // ListRoles does not return tags; ListRoleTags is one call per role, cheaper than a
        // full read, so filter on it first and read only the owned roles.
        let roles: Vec<_> =
            self.client.list_roles().into_paginator().items().send().try_collect().await.or_aws("ListRoles")?;
        let names: Vec<String> = roles.iter().map(|r| r.role_name().to_string()).collect();
        let owned = shared::owned_by_tags(names, &cx.owner, |name| async move {
            let tags: Option<Vec<_>> = not_found_as_none(
                self.client
                    .list_role_tags()
                    .role_name(&name)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .or_aws("ListRoleTags"),
            )?;
            Ok(tags.map(|t| split(&t)))
        })
        .await?;
        shared::read_observed(self, &owned).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;

    fn spec(attrs: Value) -> Spec {
        Spec {
            address: Address::new("iam_role", "r", None),
            attrs: attrs.as_object().cloned().unwrap_or_default().into_iter().collect(),
            client_token: "t".into(),
        }
    }

    fn trust() -> Value {
        json!({"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    }

    #[test]
    fn validation_before_any_call() {
        let registry = crate::aws::offline_registry();
        let schema = registry.schema("iam_role").expect("kind");
        let ok = spec(json!({"name": "ok", "assume_role_policy": trust()}));
        assert!(schema.check(&ok.attrs, None).is_empty());
        let bad = [
            json!({"name": "bad name", "assume_role_policy": trust()}),
            json!({"name": "r", "assume_role_policy": "{oops"}),
            json!({"name": "r", "assume_role_policy": trust(), "path": "nope"}),
            json!({"name": "r", "assume_role_policy": trust(), "max_session_duration": 60}),
            json!({"name": "r", "assume_role_policy": trust(), "managed_policy_arns": ["AdministratorAccess"]}),
            json!({"name": "r", "assume_role_policy": trust(), "inline_policies": {"p": trust()}}),
        ];
        for attrs in bad {
            let problems = schema.check(&spec(attrs.clone()).attrs, None);
            assert_eq!(problems.len(), 1, "{attrs}: {problems:?}");
        }
    }
}
