//! `ecr_repository`: a private image repository, immutable tags and scan-on-push by default.
//!
//! - Create: CreateRepository tagged at creation (no client token: a taken name is adopted
//!   only when its `kprov:address` tag names this resource).
//! - Read: one DescribeRepositories for all names. ECR fails the whole call when one name is
//!   missing, so on `RepositoryNotFoundException` kprov lists every repository instead and
//!   keeps the ones asked for. Tags: ListTagsForResource per repository.
//! - Update: tag mutability (PutImageTagMutability), scan on push
//!   (PutImageScanningConfiguration) and tags in place; encryption forces a new repository.
//! - Delete: DeleteRepository, with `force` when `force_delete` is set (it deletes the images
//!   too). `delete` only has the repository as read from AWS, so `force_delete` is kept on it
//!   as a `kprov:force_delete` tag.

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag,
};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;

use super::Client;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, invalid, put_str, Found, READ_CONCURRENCY};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

/// Attributes kept as `kprov:*` tags (see the module docs).
const SETTINGS: &[&str] = &["force_delete"];
const MUTABILITY: &[&str] = &["IMMUTABLE", "MUTABLE"];
const ENCRYPTION: &[&str] = &["AES256", "KMS"];
/// DescribeRepositories takes at most 100 names.
const NAMES_MAX: usize = 100;

pub struct Repository {
    client: Client,
    schema: Schema,
}

impl Repository {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // CreateRepository repositoryName (ECR API Reference): 2–256 characters,
            // `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`.
            AttrSchema::required("name", AttrType::String)
                .force_new()
                .constraint(Constraint::Name {
                    min: 2,
                    max: 256,
                    chars: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c),
                    chars_doc: "lowercase letters, digits and ._-/",
                })
                .constraint(Constraint::check_fn("starts and ends with a letter or digit", |v| match v.as_str() {
                    Some(s)
                        if !s.starts_with(|c: char| c.is_ascii_alphanumeric())
                            || !s.ends_with(|c: char| c.is_ascii_alphanumeric()) =>
                    {
                        Err(format!("{s:?} must start and end with a letter or digit"))
                    }
                    _ => Ok(()),
                })),
            AttrSchema::optional("image_tag_mutability", AttrType::String)
                .default(json!("IMMUTABLE"))
                .one_of(MUTABILITY),
            AttrSchema::optional("scan_on_push", AttrType::Bool).default(json!(true)),
            AttrSchema::optional("encryption_type", AttrType::String)
                .default(json!("AES256"))
                .force_new()
                .one_of(ENCRYPTION),
            AttrSchema::optional("kms_key", AttrType::String)
                .force_new()
                .doc("KMS key ARN when encryption_type is KMS."),
            AttrSchema::optional("force_delete", AttrType::Bool)
                .default(json!(false))
                .doc("Delete the repository even when it still holds images."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("registry_id", AttrType::String),
            AttrSchema::computed("repository_url", AttrType::String),
        ])
        .stateful();
        Repository { client, schema }
    }

    async fn describe(&self, names: Option<&[String]>) -> Result<Vec<aws_sdk_ecr::types::Repository>, ResourceError> {
        self.client
            .describe_repositories()
            .set_repository_names(names.map(<[String]>::to_vec))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeRepositories")
    }

    /// Repositories among `names` that exist.
    async fn existing(&self, names: &[String]) -> Result<Vec<aws_sdk_ecr::types::Repository>, ResourceError> {
        let mut out = Vec::new();
        for chunk in names.chunks(NAMES_MAX) {
            match self.describe(Some(chunk)).await {
                Ok(repos) => out.extend(repos),
                Err(e) if e.code() == Some("RepositoryNotFoundException") => {
                    let all = self.describe(None).await?;
                    out.extend(
                        all.into_iter().filter(|r| r.repository_name().is_some_and(|n| chunk.iter().any(|c| c == n))),
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Add the tags (one ListTagsForResource per repository, concurrently).
    async fn with_tags(&self, repos: Vec<aws_sdk_ecr::types::Repository>) -> Result<Vec<Found>, ResourceError> {
        let found: Vec<Option<Found>> = stream::iter(repos)
            .map(|r| async move {
                let (Some(name), Some(arn)) = (r.repository_name(), r.repository_arn()) else { return Ok(None) };
                let out =
                    self.client.list_tags_for_resource().resource_arn(arn).send().await.or_aws("ListTagsForResource");
                let Some(out) = not_found_as_none(out)? else { return Ok(None) };
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "name", Some(name));
                put_str(&mut attrs, "arn", Some(arn));
                put_str(&mut attrs, "registry_id", r.registry_id());
                put_str(&mut attrs, "repository_url", r.repository_uri());
                put_str(&mut attrs, "image_tag_mutability", r.image_tag_mutability().map(ImageTagMutability::as_str));
                let scan = r.image_scanning_configuration().map(|c| c.scan_on_push()).unwrap_or(false);
                attrs.insert("scan_on_push".into(), Value::Bool(scan));
                let enc = r.encryption_configuration();
                put_str(
                    &mut attrs,
                    "encryption_type",
                    Some(enc.map(|e| e.encryption_type().as_str()).unwrap_or("AES256")),
                );
                put_str(&mut attrs, "kms_key", enc.and_then(|e| e.kms_key()));
                let pairs: Vec<(&str, &str)> = out.tags().iter().map(|t| (t.key(), t.value())).collect();
                Ok::<_, ResourceError>(Some(tags::split(pairs, SETTINGS).found(name, attrs)))
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }
}

fn to_tags(pairs: Vec<(String, String)>) -> Result<Vec<Tag>, ResourceError> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ResourceError::invalid(e.to_string())))
        .collect()
}

#[async_trait::async_trait]
impl TagApi for Repository {
    async fn tag(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(to_tags(tags)?))
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
impl ResourceKind for Repository {
    fn kind(&self) -> &'static str {
        "ecr_repository"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        // CreateRepository: a KMS key only with KMS encryption (ECR API Reference,
        // EncryptionConfiguration).
        if declared.contains_key("kms_key") && declared.get("encryption_type").and_then(Value::as_str) != Some("KMS") {
            return Err("`kms_key` needs encryption_type = \"KMS\"".into());
        }
        Ok(())
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.with_tags(self.existing(ids).await?).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let encryption = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(spec.str("encryption_type").unwrap_or("AES256")))
            .set_kms_key(spec.str("kms_key").map(str::to_string))
            .build()
            .map_err(|e| invalid(spec, e))?;
        let r = self
            .client
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(ImageTagMutability::from(spec.str("image_tag_mutability").unwrap_or("IMMUTABLE")))
            .image_scanning_configuration(
                ImageScanningConfiguration::builder().scan_on_push(spec.bool("scan_on_push").unwrap_or(true)).build(),
            )
            .encryption_configuration(encryption)
            .set_tags(Some(to_tags(tags::creation_tags(cx, spec, SETTINGS)?)?))
            .send()
            .await
            .or_aws("CreateRepository");
        if let Err(e) = r {
            if !shared::is_already_exists(&e) {
                return Err(e);
            }
            let existing = self.with_tags(self.existing(&[name.to_string()]).await?).await?.into_iter().next();
            let found = shared::adopt_or(existing, cx, spec, e)?;
            // Converge what may differ after an interrupted run.
            return self.update(cx, &found.obs, spec).await;
        }
        shared::read_back(self, cx, name).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = &prior.id;
        if let Some(m) = spec.str("image_tag_mutability") {
            if prior.attrs.get("image_tag_mutability").and_then(Value::as_str) != Some(m) {
                self.client
                    .put_image_tag_mutability()
                    .repository_name(name)
                    .image_tag_mutability(ImageTagMutability::from(m))
                    .send()
                    .await
                    .or_aws("PutImageTagMutability")?;
            }
        }
        if let Some(scan) = spec.bool("scan_on_push") {
            if prior.attrs.get("scan_on_push").and_then(Value::as_bool) != Some(scan) {
                self.client
                    .put_image_scanning_configuration()
                    .repository_name(name)
                    .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build())
                    .send()
                    .await
                    .or_aws("PutImageScanningConfiguration")?;
            }
        }
        let arn =
            prior.attrs.get("arn").and_then(Value::as_str).ok_or_else(|| invalid(spec, "repository without an ARN"))?;
        tags::reconcile(self, arn, prior, spec, SETTINGS).await?;
        shared::read_back(self, cx, name).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let force = prior.attrs.get("force_delete").and_then(Value::as_bool).unwrap_or(false);
        not_found_as_none(
            self.client
                .delete_repository()
                .repository_name(&prior.id)
                .force(force)
                .send()
                .await
                .or_aws("DeleteRepository"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let all = self.with_tags(self.describe(None).await?).await?;
        Ok(all.into_iter().filter(|f| f.owned_by(&cx.owner)).map(|f| f.obs).collect())
    }
}
