//! `logs_log_group`: a CloudWatch Logs log group with its retention and encryption key.
//!
//! - Create: CreateLogGroup tagged at creation (no client token: a taken name is adopted only
//!   when its `kprov:address` tag names this resource), then PutRetentionPolicy.
//! - Read: DescribeLogGroups with `logGroupIdentifiers` (up to 50 names per call), keeping
//!   only the names asked for; then ListTagsForResource per group (tags are not in Describe).
//! - Update: retention (Put/DeleteRetentionPolicy), key (Associate/DisassociateKmsKey) and
//!   tags in place; only the name forces a new group.
//! - Retention is checked against the values CloudWatch accepts before any call (the
//!   emulator accepts any number). `0` means "never expire", which is also what a group
//!   without a retention policy reads back as.

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;

use super::Client;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, put_str, Found, READ_CONCURRENCY};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

/// Retention periods CloudWatch Logs accepts (PutRetentionPolicy), plus kprov's 0 = never.
pub const RETENTION_DAYS: &[i64] =
    &[0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
/// DescribeLogGroups takes at most 50 identifiers.
const IDENTIFIERS_MAX: usize = 50;

pub struct LogGroup {
    client: Client,
    schema: Schema,
}

impl LogGroup {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // CreateLogGroup logGroupName (CloudWatch Logs API Reference): 1–512 of `[.\-_/#A-Za-z0-9]+`.
            AttrSchema::required("name", AttrType::String).force_new().constraint(Constraint::Name {
                min: 1,
                max: 512,
                chars: |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
                chars_doc: "letters, digits and ._-/#",
            }),
            AttrSchema::optional("retention_in_days", AttrType::Int)
                .default(json!(0))
                .constraint(Constraint::IntIn(RETENTION_DAYS))
                .doc("Days to keep events; 0 = never expire."),
            // AssociateKmsKey takes the key's ARN only.
            AttrSchema::optional("kms_key_id", AttrType::String)
                .constraint(Constraint::Arn { service: "kms", resource: "key/" })
                .doc("ARN of the KMS key encrypting the group."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ])
        .stateful();
        LogGroup { client, schema }
    }

    /// Log groups matching `request` (all of them when it names none), paginated.
    async fn describe(
        &self,
        names: Option<&[String]>,
    ) -> Result<Vec<aws_sdk_cloudwatchlogs::types::LogGroup>, ResourceError> {
        self.client
            .describe_log_groups()
            .set_log_group_identifiers(names.map(<[String]>::to_vec))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeLogGroups")
    }

    /// Add the tags (one ListTagsForResource per group, concurrently) to described groups.
    async fn with_tags(
        &self,
        groups: Vec<aws_sdk_cloudwatchlogs::types::LogGroup>,
    ) -> Result<Vec<Found>, ResourceError> {
        let found: Vec<Option<Found>> = stream::iter(groups)
            .map(|g| async move {
                let Some(name) = g.log_group_name() else { return Ok(None) };
                let arn = arn_of(&g);
                let out =
                    self.client.list_tags_for_resource().resource_arn(&arn).send().await.or_aws("ListTagsForResource");
                // Deleted between the two calls: absent.
                let Some(out) = not_found_as_none(out)? else { return Ok(None) };
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "name", Some(name));
                put_str(&mut attrs, "arn", Some(&arn));
                attrs.insert("retention_in_days".into(), json!(g.retention_in_days().unwrap_or(0)));
                put_str(&mut attrs, "kms_key_id", g.kms_key_id());
                let pairs = out.tags().map(|t| t.iter().collect::<Vec<_>>()).unwrap_or_default();
                Ok::<_, ResourceError>(Some(tags::split(pairs, &[]).found(name, attrs)))
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn read_back(&self, cx: &Cx, name: &str) -> Result<Observed, ResourceError> {
        shared::read_back(self, cx, name).await
    }

    async fn set_retention(&self, name: &str, days: i64) -> Result<(), ResourceError> {
        if days == 0 {
            not_found_as_none(
                self.client.delete_retention_policy().log_group_name(name).send().await.or_aws("DeleteRetentionPolicy"),
            )?;
        } else {
            let days =
                i32::try_from(days).map_err(|_| ResourceError::invalid(format!("retention {days} is out of range")))?;
            self.client
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(days)
                .send()
                .await
                .or_aws("PutRetentionPolicy")?;
        }
        Ok(())
    }
}

/// The group's ARN without Describe's trailing `:*` (the form the tag APIs take).
fn arn_of(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> String {
    g.log_group_arn()
        .map(str::to_string)
        .unwrap_or_else(|| g.arn().unwrap_or_default().trim_end_matches(":*").to_string())
}

/// The ARN recorded for a group read earlier.
fn recorded_arn(prior: &Observed) -> Result<&str, ResourceError> {
    prior.attrs.get("arn").and_then(Value::as_str).ok_or_else(|| ResourceError::invalid("log group without an ARN"))
}

#[async_trait::async_trait]
impl TagApi for LogGroup {
    async fn tag(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.into_iter().collect()))
            .send()
            .await
            .or_aws("TagResource")?;
        Ok(())
    }
    async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await.or_aws("UntagResource")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceKind for LogGroup {
    fn kind(&self) -> &'static str {
        "logs_log_group"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        let mut groups = Vec::new();
        for chunk in ids.chunks(IDENTIFIERS_MAX) {
            // Keep only exact names: an endpoint that ignores the identifiers (the emulator
            // does) returns every group.
            groups.extend(
                self.describe(Some(chunk))
                    .await?
                    .into_iter()
                    .filter(|g| g.log_group_name().is_some_and(|n| chunk.iter().any(|id| id == n))),
            );
        }
        Ok(self.with_tags(groups).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let r = self
            .client
            .create_log_group()
            .log_group_name(name)
            .set_kms_key_id(spec.str("kms_key_id").map(str::to_string))
            .set_tags(Some(tags::creation_tags(cx, spec, &[])?.into_iter().collect()))
            .send()
            .await
            .or_aws("CreateLogGroup");
        if let Err(e) = r {
            if !shared::is_already_exists(&e) {
                return Err(e);
            }
            let existing = self.describe(Some(&[name.to_string()])).await?;
            let existing = self.with_tags(existing).await?.into_iter().find(|f| f.obs.id == name);
            match existing {
                // EKS writes late control-plane logs after its cluster is deleted and re-creates
                // the group for them, untagged ("EKS automatically creating the log group",
                // terraform-provider-aws website/docs/r/eks_cluster.html.markdown; EKS User
                // Guide, control-plane-logs). It is the group this plan declares, by its exact
                // name: taken over, tagged, and said so — instead of failing every apply after a
                // destroy with ResourceAlreadyExistsException.
                Some(f) if f.stack.is_none() && is_eks_control_plane_group(name) => {
                    tracing::warn!(
                        "{}: adopting the existing log group {name}, which EKS re-created for late control-plane logs \
                         of a deleted cluster",
                        spec.address
                    );
                    self.tag(recorded_arn(&f.obs)?, tags::creation_tags(cx, spec, &[])?).await?;
                }
                existing => {
                    shared::adopt_or(existing, cx, spec, e)?;
                }
            }
        }
        let created = self.read_back(cx, name).await?;
        // Also what an interrupted run left undone.
        self.update(cx, &created, spec).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = &prior.id;
        let days = spec.i64("retention_in_days").unwrap_or(0);
        if prior.attrs.get("retention_in_days").and_then(Value::as_i64) != Some(days) {
            self.set_retention(name, days).await?;
        }
        let key = spec.str("kms_key_id");
        if prior.attrs.get("kms_key_id").and_then(Value::as_str) != key {
            match key {
                Some(k) => {
                    self.client
                        .associate_kms_key()
                        .log_group_name(name)
                        .kms_key_id(k)
                        .send()
                        .await
                        .or_aws("AssociateKmsKey")?;
                }
                None => {
                    self.client
                        .disassociate_kms_key()
                        .log_group_name(name)
                        .send()
                        .await
                        .or_aws("DisassociateKmsKey")?;
                }
            }
        }
        tags::reconcile(self, recorded_arn(prior)?, prior, spec, &[]).await?;
        self.read_back(cx, name).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        not_found_as_none(
            self.client.delete_log_group().log_group_name(&prior.id).send().await.or_aws("DeleteLogGroup"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        // Describe carries no tags and takes no tag filter: every group's tags are read.
        let all = self.with_tags(self.describe(None).await?).await?;
        Ok(all.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect())
    }
}

/// `/aws/eks/<cluster>/cluster`: the group EKS sends control-plane logs to (and re-creates).
fn is_eks_control_plane_group(name: &str) -> bool {
    name.strip_prefix("/aws/eks/")
        .and_then(|rest| rest.strip_suffix("/cluster"))
        .is_some_and(|cluster| !cluster.is_empty() && !cluster.contains('/'))
}
