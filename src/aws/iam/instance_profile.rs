//! `iam_instance_profile`: the container EC2 instances use to carry a role.
//!
//! Create: CreateInstanceProfile tagged at creation (no client token: a taken name is adopted
//! only when its `kprov:address` tag names this resource), then AddRoleToInstanceProfile.
//! Read: GetInstanceProfile (role and tags in one call). Update: the role is swapped in place
//! (a profile holds at most one role: remove the old, add the new); tags in place.
//! Delete: remove the role (IAM refuses otherwise), then DeleteInstanceProfile.

use serde_json::json;

use super::{split, to_tags, Client};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, put_str, Found, ReadOne};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

pub struct InstanceProfile {
    client: Client,
    schema: Schema,
}

impl InstanceProfile {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // CreateInstanceProfile InstanceProfileName: 1–128 of `[\w+=,.@-]` (IAM API Reference).
            AttrSchema::required("name", AttrType::String).force_new().constraint(Constraint::Name {
                min: 1,
                max: 128,
                chars: |c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c),
                chars_doc: "letters, digits and +=,.@_-",
            }),
            AttrSchema::optional("path", AttrType::String).default(json!("/")).force_new(),
            AttrSchema::optional("role", AttrType::String)
                .constraint(Constraint::check_fn("a role name, not an ARN", |v| match v.as_str() {
                    Some(r) if r.starts_with("arn:") => Err("takes the role's name, not its ARN".into()),
                    _ => Ok(()),
                }))
                .doc("Name of the role the profile carries."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("unique_id", AttrType::String),
        ]);
        InstanceProfile { client, schema }
    }

    /// Make `desired` the profile's only role; `current` is what it has now.
    async fn set_role(&self, name: &str, current: Option<&str>, desired: Option<&str>) -> Result<(), ResourceError> {
        if current == desired {
            return Ok(());
        }
        if let Some(old) = current {
            not_found_as_none(
                self.client
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(old)
                    .send()
                    .await
                    .or_aws("RemoveRoleFromInstanceProfile"),
            )?;
        }
        if let Some(new) = desired {
            self.client
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(new)
                .send()
                .await
                .or_aws("AddRoleToInstanceProfile")?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl TagApi for InstanceProfile {
    async fn tag(&self, id: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.client
            .tag_instance_profile()
            .instance_profile_name(id)
            .set_tags(Some(to_tags(tags)?))
            .send()
            .await
            .or_aws("TagInstanceProfile")?;
        Ok(())
    }
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        self.client
            .untag_instance_profile()
            .instance_profile_name(id)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .or_aws("UntagInstanceProfile")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ReadOne for InstanceProfile {
    async fn read_one(&self, name: &str) -> Result<Option<Found>, ResourceError> {
        let out = not_found_as_none(
            self.client.get_instance_profile().instance_profile_name(name).send().await.or_aws("GetInstanceProfile"),
        )?;
        let Some(p) = out.as_ref().and_then(|o| o.instance_profile()) else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "name", Some(p.instance_profile_name()));
        put_str(&mut attrs, "path", Some(p.path()));
        put_str(&mut attrs, "arn", Some(p.arn()));
        put_str(&mut attrs, "unique_id", Some(p.instance_profile_id()));
        put_str(&mut attrs, "role", p.roles().first().map(|r| r.role_name()));
        Ok(Some(split(p.tags()).found(name, attrs)))
    }
}

#[async_trait::async_trait]
impl ResourceKind for InstanceProfile {
    fn kind(&self) -> &'static str {
        "iam_instance_profile"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        shared::read_observed(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let r = self
            .client
            .create_instance_profile()
            .instance_profile_name(name)
            .path(spec.str("path").unwrap_or("/"))
            .set_tags(Some(to_tags(tags::creation_tags(cx, spec, &[])?)?))
            .send()
            .await
            .or_aws("CreateInstanceProfile");
        if let Err(e) = r {
            if !shared::is_already_exists(&e) {
                return Err(e);
            }
            shared::adopt_or(self.read_one(name).await?, cx, spec, e)?;
        }
        let created = shared::read_back(self, cx, name).await?;
        self.set_role(name, created.attrs.get("role").and_then(Value::as_str), spec.str("role")).await?;
        shared::read_back(self, cx, name).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.set_role(&prior.id, prior.attrs.get("role").and_then(Value::as_str), spec.str("role")).await?;
        tags::reconcile(self, &prior.id, prior, spec, &[]).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // What IAM says now, not what was read at plan time.
        let Some(current) = self.read_one(&prior.id).await? else { return Ok(()) };
        self.set_role(&prior.id, current.obs.attrs.get("role").and_then(Value::as_str), None).await?;
        not_found_as_none(
            self.client
                .delete_instance_profile()
                .instance_profile_name(&prior.id)
                .send()
                .await
                .or_aws("DeleteInstanceProfile"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let profiles: Vec<_> = self
            .client
            .list_instance_profiles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("ListInstanceProfiles")?;
        let names: Vec<String> = profiles.iter().map(|p| p.instance_profile_name().to_string()).collect();
        // GetInstanceProfile is one call with the tags: no cheaper tag-only filter exists.
        shared::owned_among(self, &names, &cx.owner).await
    }
}
