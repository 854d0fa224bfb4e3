//! `kms_key`: a customer-managed KMS key.
//!
//! - Create: CreateKey tagged at creation (KMS has no client token and no unique name, so an
//!   interrupted create is found again by its ownership tags through `find_owned`), then
//!   EnableKeyRotation when asked.
//! - Read: DescribeKey, GetKeyRotationStatus (symmetric keys only: others cannot rotate),
//!   GetKeyPolicy, ListResourceTags. A key pending deletion counts as absent.
//! - Update: description, rotation, policy and tags in place; usage and spec force a new key.
//! - Delete: ScheduleKeyDeletion with the key's deletion window. KMS does not remember the
//!   window asked for at creation, and `delete` only has the key as read from AWS, so the
//!   window rides on the key as a `kprov:deletion_window_in_days` tag.

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use serde_json::json;

use super::{to_tags, Client};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::document::{self, PolicyKind};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, put_str, Found, ReadOne};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value};

/// Attributes kept as `kprov:*` tags (see the module docs).
const SETTINGS: &[&str] = &["deletion_window_in_days"];
const DEFAULT_WINDOW: i64 = 30;
const WINDOW: std::ops::RangeInclusive<i64> = 7..=30;
const KEY_USAGES: &[&str] = &["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"];
const SYMMETRIC: &str = "SYMMETRIC_DEFAULT";
/// The only key policy name KMS has.
const POLICY_NAME: &str = "default";

pub struct Key {
    client: Client,
    schema: Schema,
}

impl Key {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::optional("description", AttrType::String).default(json!("")),
            AttrSchema::optional("key_usage", AttrType::String)
                .default(json!("ENCRYPT_DECRYPT"))
                .force_new()
                .one_of(KEY_USAGES),
            AttrSchema::optional("key_spec", AttrType::String).default(json!(SYMMETRIC)).force_new(),
            AttrSchema::optional("enable_key_rotation", AttrType::Bool)
                .default(json!(false))
                .doc("Yearly automatic rotation (symmetric keys only)."),
            AttrSchema::optional("deletion_window_in_days", AttrType::Int)
                .default(json!(DEFAULT_WINDOW))
                // ScheduleKeyDeletion PendingWindowInDays: 7–30 (KMS API Reference).
                .range(*WINDOW.start(), *WINDOW.end())
                .doc("Days between delete and the key's destruction."),
            AttrSchema::optional("policy", AttrType::Any)
                .normalize(document::normalize)
                .constraint(document::constraint(PolicyKind::Resource))
                .doc("Key policy; when unset, KMS's default policy (the account's root) is kept."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("key_id", AttrType::String),
        ])
        .stateful();
        Key { client, schema }
    }

    async fn set_rotation(&self, id: &str, on: bool) -> Result<(), ResourceError> {
        if on {
            self.client.enable_key_rotation().key_id(id).send().await.or_aws("EnableKeyRotation")?;
        } else {
            self.client.disable_key_rotation().key_id(id).send().await.or_aws("DisableKeyRotation")?;
        }
        Ok(())
    }

    async fn tag_pairs(&self, id: &str) -> Result<Option<Vec<(String, String)>>, ResourceError> {
        let tags: Option<Vec<_>> = not_found_as_none(
            self.client
                .list_resource_tags()
                .key_id(id)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_aws("ListResourceTags"),
        )?;
        Ok(tags.map(|t| t.iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())).collect()))
    }
}

/// States in which a key is gone for kprov's purposes.
fn is_gone(state: Option<&KeyState>) -> bool {
    matches!(state, Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

#[async_trait::async_trait]
impl TagApi for Key {
    async fn tag(&self, id: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.client.tag_resource().key_id(id).set_tags(Some(to_tags(tags)?)).send().await.or_aws("TagResource")?;
        Ok(())
    }
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        self.client.untag_resource().key_id(id).set_tag_keys(Some(keys)).send().await.or_aws("UntagResource")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ReadOne for Key {
    async fn read_one(&self, id: &str) -> Result<Option<Found>, ResourceError> {
        let out = not_found_as_none(self.client.describe_key().key_id(id).send().await.or_aws("DescribeKey"))?;
        let Some(meta) = out.as_ref().and_then(|o| o.key_metadata()) else { return Ok(None) };
        if is_gone(meta.key_state()) {
            return Ok(None);
        }
        let spec = meta.key_spec().map(KeySpec::as_str).unwrap_or(SYMMETRIC);
        let rotation = if spec == SYMMETRIC {
            let r = self.client.get_key_rotation_status().key_id(id).send().await.or_aws("GetKeyRotationStatus");
            match not_found_as_none(r)? {
                Some(r) => r.key_rotation_enabled(),
                None => return Ok(None),
            }
        } else {
            false
        };
        let policy =
            self.client.get_key_policy().key_id(id).policy_name(POLICY_NAME).send().await.or_aws("GetKeyPolicy");
        let Some(policy) = not_found_as_none(policy)? else { return Ok(None) };
        let Some(tags) = self.tag_pairs(id).await? else { return Ok(None) };

        let mut attrs = Attrs::new();
        put_str(&mut attrs, "description", Some(meta.description().unwrap_or_default()));
        put_str(&mut attrs, "key_usage", meta.key_usage().map(KeyUsageType::as_str));
        put_str(&mut attrs, "key_spec", Some(spec));
        attrs.insert("enable_key_rotation".into(), Value::Bool(rotation));
        if let Some(p) = policy.policy() {
            attrs.insert("policy".into(), document::normalize(&json!(p)));
        }
        put_str(&mut attrs, "arn", meta.arn());
        put_str(&mut attrs, "key_id", Some(meta.key_id()));
        Ok(Some(tags::split(tags, SETTINGS).found(meta.key_id(), attrs)))
    }
}

#[async_trait::async_trait]
impl ResourceKind for Key {
    fn kind(&self) -> &'static str {
        "kms_key"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        // KMS: automatic rotation is for symmetric encryption keys only (EnableKeyRotation).
        let symmetric = declared.get("key_spec").and_then(Value::as_str).is_none_or(|s| s == SYMMETRIC);
        if declared.get("enable_key_rotation") == Some(&Value::Bool(true)) && !symmetric {
            return Err("`enable_key_rotation`: only SYMMETRIC_DEFAULT keys can rotate automatically".into());
        }
        Ok(())
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        shared::read_observed(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let policy = if spec.attrs.contains_key("policy") { Some(document::text_of(spec, "policy")?) } else { None };
        let out = self
            .client
            .create_key()
            .set_description(spec.str("description").filter(|d| !d.is_empty()).map(str::to_string))
            .key_usage(KeyUsageType::from(spec.str("key_usage").unwrap_or("ENCRYPT_DECRYPT")))
            .key_spec(KeySpec::from(spec.str("key_spec").unwrap_or(SYMMETRIC)))
            .set_policy(policy)
            .set_tags(Some(to_tags(tags::creation_tags(cx, spec, SETTINGS)?)?))
            .send()
            .await
            .or_aws("CreateKey")?;
        let id = shared::required(out.key_metadata().map(|m| m.key_id()), "CreateKey", "key id")?.to_string();
        if spec.bool("enable_key_rotation") == Some(true) {
            self.set_rotation(&id, true).await?;
        }
        shared::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let id = &prior.id;
        let description = spec.str("description").unwrap_or_default();
        if prior.attrs.get("description").and_then(Value::as_str) != Some(description) {
            self.client
                .update_key_description()
                .key_id(id)
                .description(description)
                .send()
                .await
                .or_aws("UpdateKeyDescription")?;
        }
        if let Some(on) = spec.bool("enable_key_rotation") {
            if prior.attrs.get("enable_key_rotation").and_then(Value::as_bool) != Some(on) {
                self.set_rotation(id, on).await?;
            }
        }
        if spec.attrs.contains_key("policy") {
            let text = document::text_of(spec, "policy")?;
            if prior.attrs.get("policy") != Some(&document::normalize(&json!(text))) {
                self.client
                    .put_key_policy()
                    .key_id(id)
                    .policy_name(POLICY_NAME)
                    .policy(text)
                    .send()
                    .await
                    .or_aws("PutKeyPolicy")?;
            }
        }
        tags::reconcile(self, id, prior, spec, SETTINGS).await?;
        shared::read_back(self, cx, id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        // Already pending deletion (or gone): nothing to do — a second ScheduleKeyDeletion
        // would be refused with KMSInvalidStateException.
        if self.read_one(&prior.id).await?.is_none() {
            return Ok(());
        }
        let window = prior.attrs.get("deletion_window_in_days").and_then(Value::as_i64).unwrap_or(DEFAULT_WINDOW);
        let window = i32::try_from(window.clamp(*WINDOW.start(), *WINDOW.end())).unwrap_or(30);
        let r = self
            .client
            .schedule_key_deletion()
            .key_id(&prior.id)
            .pending_window_in_days(window)
            .send()
            .await
            .or_aws("ScheduleKeyDeletion");
        match not_found_as_none(r) {
            Err(e) if e.code() == Some("KMSInvalidStateException") && self.read_one(&prior.id).await?.is_none() => {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let keys: Vec<_> =
            self.client.list_keys().into_paginator().items().send().try_collect().await.or_aws("ListKeys")?;
        let ids: Vec<String> = keys.iter().filter_map(|k| k.key_id().map(str::to_string)).collect();
        let owned = shared::owned_by_tags(ids, &cx.owner, |id| async move {
            match self.tag_pairs(&id).await {
                Ok(tags) => Ok(tags.map(|t| tags::split(t, SETTINGS))),
                // Keys whose policy does not let us read them (other teams', AWS-managed
                // ones) were not created by this stack's credentials: not ours.
                Err(e) if e.code() == Some("AccessDeniedException") => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        // Pending-deletion keys still carry their tags; the read leaves them out.
        shared::read_observed(self, &owned).await
    }
}
