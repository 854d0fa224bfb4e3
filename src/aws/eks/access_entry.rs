//! `eks_access_entry`: an IAM principal's access to the cluster's Kubernetes API (clusters in
//! API or API_AND_CONFIG_MAP authentication mode). Id: `cluster/principal_arn`.
//!
//! Create: CreateAccessEntry with `clientRequestToken = spec.client_token` and tags at
//! creation; effective at once. A conflict with an entry carrying this resource's ownership
//! tags is our own interrupted create: adopted. (EKS creates entries itself for the cluster
//! creator and for node roles of managed node groups: declaring one of those conflicts, and
//! the conflict is reported as AWS's error.)
//! Read: DescribeAccessEntry per id, concurrently; missing entries are absent.
//! Update: Kubernetes groups and username in place (UpdateAccessEntry), then tags; the
//! cluster, the principal and the type force a new entry.
//! Delete: DeleteAccessEntry (EKS drops the entry's policy associations with it).

use serde_json::{json, Value};

use super::common::{self, changed, spec_list, str_list, Client};
use super::rules::{self, list_attr, str_attr};
use crate::aws::ec2::common::{put_str, tags_attr, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

const TYPES: &[&str] =
    &["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"];

pub struct AccessEntry {
    client: Client,
    schema: Schema,
}

impl AccessEntry {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: access entries live under the cluster (POST /clusters/{name}/access-entries,
            // EKS API reference) and are gone with it.
            AttrSchema::required("cluster_name", AttrType::String).force_new().parent(),
            AttrSchema::required("principal_arn", AttrType::String).force_new().doc("IAM role or user ARN."),
            AttrSchema::optional("type", AttrType::String)
                .default(json!("STANDARD"))
                .force_new()
                .doc("STANDARD (people, CI), EC2_LINUX / EC2_WINDOWS / FARGATE_LINUX (nodes), …"),
            AttrSchema::optional("kubernetes_groups", AttrType::StringList)
                .default(json!([]))
                .unordered()
                .doc("Kubernetes groups for RBAC bindings (STANDARD entries only)."),
            AttrSchema::optional("username", AttrType::String).doc("Kubernetes user name; unset: EKS's default."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        AccessEntry { client, schema }
    }

    async fn read_one(&self, id: String) -> Result<Option<Found>, ResourceError> {
        let (cluster, principal) = common::split_id(self.kind(), &id)?;
        let out = not_found_as_none(
            self.client
                .describe_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .send()
                .await
                .or_aws("DescribeAccessEntry"),
        )?;
        let Some(e) = out.as_ref().and_then(|o| o.access_entry()) else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "cluster_name", Some(cluster));
        put_str(&mut attrs, "principal_arn", e.principal_arn());
        put_str(&mut attrs, "type", e.r#type());
        let mut groups: Vec<&str> = e.kubernetes_groups().iter().map(String::as_str).collect();
        groups.sort_unstable();
        attrs.insert("kubernetes_groups".into(), str_list(&groups));
        put_str(&mut attrs, "username", e.username());
        put_str(&mut attrs, "arn", e.access_entry_arn());
        Ok(Some(common::found(id.clone(), attrs, e.tags())))
    }

    async fn read_back(&self, id: &str) -> Result<Observed, ResourceError> {
        self.read_one(id.to_string())
            .await?
            .map(|f| f.obs)
            .ok_or_else(|| ResourceError::unexpected("DescribeAccessEntry", format!("access entry {id} vanished")))
    }
}

fn check(desired: &Attrs) -> Result<(), String> {
    if let Some(p) = str_attr(desired, "principal_arn") {
        rules::check_iam_arn("principal_arn", p, true)?;
    }
    let entry_type = str_attr(desired, "type").unwrap_or("STANDARD");
    rules::one_of("type", entry_type, TYPES)?;
    let groups = list_attr(desired, "kubernetes_groups");
    if entry_type != "STANDARD" && (!groups.is_empty() || desired.contains_key("username")) {
        return Err(format!(
            "`kubernetes_groups` and `username` are only for STANDARD access entries; EKS sets them itself for \
             type {entry_type}"
        ));
    }
    if let Some(g) = groups.iter().find(|g| g.starts_with("system:")) {
        return Err(format!(
            "`kubernetes_groups`: {g:?} starts with `system:`, which EKS reserves; bind a policy association instead"
        ));
    }
    Ok(())
}

#[async_trait::async_trait]
impl ResourceKind for AccessEntry {
    fn kind(&self) -> &'static str {
        "eks_access_entry"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, desired: &Attrs, _prior: Option<&Attrs>) -> Result<(), String> {
        check(desired)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(common::observed(common::read_each(ids, |id| self.read_one(id)).await?))
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let (cluster, principal) = (spec.req_str("cluster_name")?, spec.req_str("principal_arn")?);
        let id = common::join_id(cluster, principal);
        let groups = spec_list(spec, "kubernetes_groups");
        let out = self
            .client
            .create_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .set_type(spec.str("type").map(str::to_string))
            .set_kubernetes_groups((!groups.is_empty()).then_some(groups))
            .set_username(spec.str("username").map(str::to_string))
            .client_request_token(&spec.client_token)
            .set_tags(Some(common::creation_tags(cx, spec)?))
            .send()
            .await
            .or_aws("CreateAccessEntry");
        match out {
            Ok(_) => {}
            Err(e) if common::is_conflict(&e) => {
                common::adopt_or(cx, spec, e, self.read_one(id.clone()).await?)?;
            }
            Err(e) => return Err(e),
        }
        self.read_back(&id).await
    }

    async fn update(&self, _cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let (cluster, principal) = common::split_id(self.kind(), &prior.id)?;
        let groups = changed(spec, prior, "kubernetes_groups", true);
        let username = changed(spec, prior, "username", false);
        if groups || username {
            self.client
                .update_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_kubernetes_groups(groups.then(|| spec_list(spec, "kubernetes_groups")))
                .set_username(if username { spec.str("username").map(str::to_string) } else { None })
                .send()
                .await
                .or_aws("UpdateAccessEntry")?;
        }
        if let Some(arn) = prior.attrs.get("arn").and_then(Value::as_str) {
            common::reconcile_tags(&self.client, arn, prior, spec).await?;
        }
        self.read_back(&prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let (cluster, principal) = common::split_id(self.kind(), &prior.id)?;
        not_found_as_none(
            self.client
                .delete_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .send()
                .await
                .or_aws("DeleteAccessEntry"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let mut ids = Vec::new();
        for cluster in common::cluster_names(&self.client).await? {
            let listed: Result<Vec<String>, _> = self
                .client
                .list_access_entries()
                .cluster_name(&cluster)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_aws("ListAccessEntries");
            let principals = match listed {
                Ok(p) => p,
                // CONFIG_MAP clusters have no access entries (EKS refuses the call); a cluster
                // deleted meanwhile has none either.
                Err(e) if e.code() == Some("InvalidRequestException") || crate::aws::error::err_is_not_found(&e) => {
                    continue
                }
                Err(e) => return Err(e),
            };
            ids.extend(principals.iter().map(|p| common::join_id(&cluster, p)));
        }
        Ok(common::owned(cx, common::read_each(&ids, |id| self.read_one(id)).await?))
    }
}
