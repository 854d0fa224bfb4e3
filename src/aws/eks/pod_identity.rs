//! `eks_pod_identity_association`: EKS Pod Identity — an IAM role for a Kubernetes service
//! account. Id: `cluster/association_id` (EKS assigns the id, `a-…`).
//!
//! Create: CreatePodIdentityAssociation with `clientRequestToken = spec.client_token` and tags
//! at creation; it takes effect at once (no status to wait for). A conflict (the service
//! account already has an association) is adopted when that association carries this
//! resource's ownership tags (our own interrupted create), refused otherwise.
//! Read: DescribePodIdentityAssociation per id, concurrently; missing ones are absent.
//! Update: the role in place (UpdatePodIdentityAssociation), then tags; cluster, namespace and
//! service account force a new association.
//! Delete: DeletePodIdentityAssociation (already gone is success).

use serde_json::Value;

use super::common::{self, changed, Client};
use super::rules::{self, str_attr};
use crate::aws::ec2::common::{put_str, tags_attr, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

pub struct PodIdentityAssociation {
    client: Client,
    schema: Schema,
}

impl PodIdentityAssociation {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: associations live under the cluster
            // (POST /clusters/{name}/pod-identity-associations, EKS API reference) and go with it.
            AttrSchema::required("cluster_name", AttrType::String).force_new().parent(),
            AttrSchema::required("namespace", AttrType::String).force_new(),
            AttrSchema::required("service_account", AttrType::String).force_new(),
            AttrSchema::required("role_arn", AttrType::String).doc("The IAM role the service account's pods assume."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("association_id", AttrType::String),
        ]);
        PodIdentityAssociation { client, schema }
    }

    async fn read_one(&self, id: String) -> Result<Option<Found>, ResourceError> {
        let (cluster, aid) = common::split_id(self.kind(), &id)?;
        let out = not_found_as_none(
            self.client
                .describe_pod_identity_association()
                .cluster_name(cluster)
                .association_id(aid)
                .send()
                .await
                .or_aws("DescribePodIdentityAssociation"),
        )?;
        Ok(out.as_ref().and_then(|o| o.association()).map(|a| to_found(cluster, a)))
    }

    /// The association of `namespace`/`service_account`, if there is one (after a conflict).
    async fn find_by_account(&self, cluster: &str, namespace: &str, sa: &str) -> Result<Option<Found>, ResourceError> {
        let summaries: Vec<_> = self
            .client
            .list_pod_identity_associations()
            .cluster_name(cluster)
            .namespace(namespace)
            .service_account(sa)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("ListPodIdentityAssociations")?;
        match summaries.iter().find_map(|s| s.association_id()) {
            Some(aid) => self.read_one(common::join_id(cluster, aid)).await,
            None => Ok(None),
        }
    }

    async fn read_back(&self, id: &str) -> Result<Observed, ResourceError> {
        self.read_one(id.to_string()).await?.map(|f| f.obs).ok_or_else(|| {
            ResourceError::unexpected("DescribePodIdentityAssociation", format!("association {id} vanished"))
        })
    }
}

fn to_found(cluster: &str, a: &aws_sdk_eks::types::PodIdentityAssociation) -> Found {
    let aid = a.association_id().unwrap_or_default();
    let mut attrs = Attrs::new();
    put_str(&mut attrs, "cluster_name", Some(cluster));
    put_str(&mut attrs, "namespace", a.namespace());
    put_str(&mut attrs, "service_account", a.service_account());
    put_str(&mut attrs, "role_arn", a.role_arn());
    put_str(&mut attrs, "arn", a.association_arn());
    put_str(&mut attrs, "association_id", Some(aid));
    common::found(common::join_id(cluster, aid), attrs, a.tags())
}

#[async_trait::async_trait]
impl ResourceKind for PodIdentityAssociation {
    fn kind(&self) -> &'static str {
        "eks_pod_identity_association"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, desired: &Attrs, _prior: Option<&Attrs>) -> Result<(), String> {
        match str_attr(desired, "role_arn") {
            Some(role) => rules::check_iam_arn("role_arn", role, false),
            None => Ok(()),
        }
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(common::observed(common::read_each(ids, |id| self.read_one(id)).await?))
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let cluster = spec.req_str("cluster_name")?;
        let (namespace, sa) = (spec.req_str("namespace")?, spec.req_str("service_account")?);
        let out = self
            .client
            .create_pod_identity_association()
            .cluster_name(cluster)
            .namespace(namespace)
            .service_account(sa)
            .role_arn(spec.req_str("role_arn")?)
            .client_request_token(&spec.client_token)
            .set_tags(Some(common::creation_tags(cx, spec)?))
            .send()
            .await
            .or_aws("CreatePodIdentityAssociation");
        let id = match out {
            Ok(o) => {
                let aid = o.association().and_then(|a| a.association_id());
                common::join_id(cluster, required(aid)?)
            }
            Err(e) if common::is_conflict(&e) => {
                common::adopt_or(cx, spec, e, self.find_by_account(cluster, namespace, sa).await?)?.obs.id
            }
            Err(e) => return Err(e),
        };
        self.read_back(&id).await
    }

    async fn update(&self, _cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let (cluster, aid) = common::split_id(self.kind(), &prior.id)?;
        if changed(spec, prior, "role_arn", false) {
            self.client
                .update_pod_identity_association()
                .cluster_name(cluster)
                .association_id(aid)
                .role_arn(spec.req_str("role_arn")?)
                .send()
                .await
                .or_aws("UpdatePodIdentityAssociation")?;
        }
        if let Some(arn) = prior.attrs.get("arn").and_then(Value::as_str) {
            common::reconcile_tags(&self.client, arn, prior, spec).await?;
        }
        self.read_back(&prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let (cluster, aid) = common::split_id(self.kind(), &prior.id)?;
        not_found_as_none(
            self.client
                .delete_pod_identity_association()
                .cluster_name(cluster)
                .association_id(aid)
                .send()
                .await
                .or_aws("DeletePodIdentityAssociation"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let mut ids = Vec::new();
        for cluster in common::cluster_names(&self.client).await? {
            let summaries: Vec<_> = not_found_as_none(
                self.client
                    .list_pod_identity_associations()
                    .cluster_name(&cluster)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .or_aws("ListPodIdentityAssociations"),
            )?
            .unwrap_or_default();
            // Associations an add-on owns belong to that add-on, not to this kind.
            ids.extend(
                summaries
                    .iter()
                    .filter(|s| s.owner_arn().is_none())
                    .filter_map(|s| s.association_id())
                    .map(|aid| common::join_id(&cluster, aid)),
            );
        }
        Ok(common::owned(cx, common::read_each(&ids, |id| self.read_one(id)).await?))
    }
}

fn required(aid: Option<&str>) -> Result<&str, ResourceError> {
    aid.ok_or_else(|| ResourceError::unexpected("CreatePodIdentityAssociation", "no association id in the answer"))
}
