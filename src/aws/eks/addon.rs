//! `eks_addon`: an EKS add-on (vpc-cni, coredns, kube-proxy, CSI drivers, …). Id:
//! `cluster/addon_name`.
//!
//! Create: when `addon_version` is set, DescribeAddonVersions first checks that it exists for
//! the cluster's Kubernetes version (a precise refusal instead of a generic AWS one); then
//! CreateAddon with `clientRequestToken = spec.client_token`, tags at creation, configuration
//! values, IAM role or pod identity associations; then wait until ACTIVE (10 minutes at most).
//! DEGRADED counts as created: an add-on such as coredns stays DEGRADED until nodes exist to
//! run it, which is not the add-on's failure. A name conflict with an add-on carrying this
//! resource's ownership tags is our own interrupted create: adopted.
//! Read: DescribeAddon per id, concurrently, plus DescribePodIdentityAssociation for each
//! association the add-on owns (EKS lists only their ARNs). Missing or DELETING: absent.
//! Update, in place: version, configuration values, role, pod identity associations in one
//! UpdateAddon, followed with DescribeUpdate; then tags. Cluster and add-on name force a new one.
//! Delete: DeleteAddon, then wait until it is gone.
//!
//! `resolve_conflicts` is how EKS treats fields someone changed in the cluster (OVERWRITE,
//! NONE, PRESERVE); AWS does not return it, so kprov keeps it in a `kprov:resolve-conflicts`
//! tag on the add-on and reads it back from there.

use std::time::Duration;

use aws_sdk_eks::types::{AddonPodIdentityAssociations, AddonStatus, ResolveConflicts};
use serde_json::{json, Value};

use super::common::{self, changed, health_text, wait_ready, Client, Settled, UpdateWait};
use super::rules::{self, str_attr};
use crate::aws::ec2::common::{put_str, tags_attr, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Fact, Observed, ResourceError, ResourceKind, Schema, Spec,
};

/// terraform-provider-aws's aws_eks_addon timeouts: create and update 20 min, delete 40 min.
const TIMEOUT: Duration = Duration::from_secs(20 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const POLL: Duration = Duration::from_secs(10);
/// Where kprov keeps `resolve_conflicts`, which AWS does not return.
const RESOLVE_TAG: &str = "kprov:resolve-conflicts";
const RESOLVE_VALUES: &[&str] = &["OVERWRITE", "NONE", "PRESERVE"];

pub struct Addon {
    client: Client,
    schema: Schema,
}

impl Addon {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: add-ons are sub-resources of the cluster (POST /clusters/{name}/addons, EKS
            // API reference) and are gone with it; a replaced cluster gets them made again.
            AttrSchema::required("cluster_name", AttrType::String).force_new().parent(),
            AttrSchema::required("addon_name", AttrType::String).force_new().doc("e.g. vpc-cni, coredns."),
            AttrSchema::optional("addon_version", AttrType::String)
                .constraint(Constraint::Exists(Fact::AddonVersion))
                .doc("e.g. v1.19.2-eksbuild.1; unset: EKS's default for the cluster version, not managed."),
            AttrSchema::optional("configuration_values", AttrType::String)
                .doc("JSON object (as a string) validated by EKS against the add-on's schema."),
            AttrSchema::optional("service_account_role_arn", AttrType::String)
                .doc("IAM role for the add-on's service account (IRSA)."),
            AttrSchema::optional("pod_identity_associations", AttrType::Any)
                .default(json!([]))
                .unordered()
                .doc("[{ service_account, role_arn }]: EKS Pod Identity for the add-on's service accounts."),
            AttrSchema::optional("resolve_conflicts", AttrType::String)
                .default(json!("OVERWRITE"))
                .doc("OVERWRITE, NONE or PRESERVE (PRESERVE applies to updates; a create uses NONE)."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        Addon { client, schema }
    }

    async fn describe(&self, id: &str) -> Result<Option<aws_sdk_eks::types::Addon>, ResourceError> {
        let (cluster, name) = common::split_id(self.kind(), id)?;
        let out = not_found_as_none(
            self.client.describe_addon().cluster_name(cluster).addon_name(name).send().await.or_aws("DescribeAddon"),
        )?;
        Ok(out.and_then(|o| o.addon))
    }

    async fn read_one(&self, id: String) -> Result<Option<Found>, ResourceError> {
        let Some(a) = self.describe(&id).await? else { return Ok(None) };
        if a.status() == Some(&AddonStatus::Deleting) {
            return Ok(None);
        }
        let (cluster, name) = common::split_id(self.kind(), &id)?;
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "cluster_name", Some(cluster));
        put_str(&mut attrs, "addon_name", Some(name));
        put_str(&mut attrs, "addon_version", a.addon_version());
        put_str(&mut attrs, "configuration_values", a.configuration_values().filter(|v| !v.is_empty()));
        put_str(&mut attrs, "service_account_role_arn", a.service_account_role_arn());
        put_str(&mut attrs, "arn", a.addon_arn());
        let mut pias = Vec::new();
        for arn in a.pod_identity_associations() {
            let Some(assoc_id) = arn.rsplit('/').next() else { continue };
            let out = not_found_as_none(
                self.client
                    .describe_pod_identity_association()
                    .cluster_name(cluster)
                    .association_id(assoc_id)
                    .send()
                    .await
                    .or_aws("DescribePodIdentityAssociation"),
            )?;
            if let Some(p) = out.as_ref().and_then(|o| o.association()) {
                pias.push(json!({
                    "service_account": p.service_account().unwrap_or_default(),
                    "role_arn": p.role_arn().unwrap_or_default(),
                }));
            }
        }
        pias.sort_by_key(Value::to_string);
        attrs.insert("pod_identity_associations".into(), Value::Array(pias));
        let resolve = a.tags().and_then(|t| t.get(RESOLVE_TAG)).map(String::as_str);
        put_str(&mut attrs, "resolve_conflicts", resolve);
        Ok(Some(common::found(id, attrs, a.tags())))
    }

    async fn read_back(&self, id: &str) -> Result<Observed, ResourceError> {
        self.read_one(id.to_string())
            .await?
            .map(|f| f.obs)
            .ok_or_else(|| ResourceError::unexpected("DescribeAddon", format!("add-on {id} vanished")))
    }

    /// Refuse an `addon_version` that does not exist for the cluster's Kubernetes version,
    /// listing the ones that do.
    async fn check_version_available(&self, cluster: &str, addon: &str, version: &str) -> Result<(), ResourceError> {
        let k8s =
            not_found_as_none(self.client.describe_cluster().name(cluster).send().await.or_aws("DescribeCluster"))?
                .and_then(|o| o.cluster)
                .and_then(|c| c.version)
                .ok_or_else(|| ResourceError::invalid(format!("`cluster_name`: cluster {cluster} does not exist")))?;
        let infos: Vec<aws_sdk_eks::types::AddonInfo> = self
            .client
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(&k8s)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeAddonVersions")?;
        let available: Vec<&str> = infos
            .iter()
            .filter(|i| i.addon_name() == Some(addon))
            .flat_map(|i| i.addon_versions())
            .filter_map(|v| v.addon_version())
            .collect();
        if available.is_empty() {
            return Err(ResourceError::invalid(format!(
                "`addon_name`: EKS offers no add-on {addon:?} for Kubernetes {k8s}"
            )));
        }
        if !available.contains(&version) {
            return Err(ResourceError::invalid(format!(
                "`addon_version` {version} is not available for {addon} on Kubernetes {k8s}; available: {}",
                available.join(", ")
            )));
        }
        Ok(())
    }

    async fn wait_active(&self, cx: &Cx, id: &str, operation: &str) -> Result<(), ResourceError> {
        let what = format!("EKS add-on {id} to become ACTIVE");
        let settled = |a: &aws_sdk_eks::types::Addon| match a.status() {
            // coredns stays DEGRADED until nodes can run it: created, as far as kprov goes.
            Some(AddonStatus::Active | AddonStatus::Degraded) => Settled::Ready,
            Some(
                s @ (AddonStatus::CreateFailed
                | AddonStatus::UpdateFailed
                | AddonStatus::DeleteFailed
                | AddonStatus::Deleting),
            ) => Settled::Failed {
                status: s.as_str().to_string(),
                message: health_text(
                    a.health()
                        .map(|h| h.issues())
                        .unwrap_or_default()
                        .iter()
                        .map(|i| (i.code().map(|c| c.as_str()), i.message())),
                )
                .unwrap_or_else(|| format!("add-on {id} is {}", s.as_str())),
            },
            _ => Settled::Pending,
        };
        wait_ready(cx, &what, TIMEOUT, POLL, operation, "Addon", || self.describe(id), settled).await
    }
}

fn pod_identities(spec: &Spec) -> Result<Vec<AddonPodIdentityAssociations>, ResourceError> {
    let items = spec.attrs.get("pod_identity_associations").and_then(Value::as_array).cloned().unwrap_or_default();
    items
        .iter()
        .map(|p| {
            AddonPodIdentityAssociations::builder()
                .set_service_account(p.get("service_account").and_then(Value::as_str).map(str::to_string))
                .set_role_arn(p.get("role_arn").and_then(Value::as_str).map(str::to_string))
                .build()
                .map_err(|e| ResourceError::invalid(format!("`pod_identity_associations`: {e}")))
        })
        .collect()
}

fn check(desired: &Attrs) -> Result<(), String> {
    if let Some(values) = str_attr(desired, "configuration_values") {
        match serde_json::from_str::<Value>(values) {
            Ok(Value::Object(_)) => {}
            Ok(_) => return Err("`configuration_values` must be a JSON object".into()),
            Err(e) => return Err(format!("`configuration_values` is not valid JSON: {e}")),
        }
    }
    if let Some(role) = str_attr(desired, "service_account_role_arn") {
        rules::check_iam_arn("service_account_role_arn", role, false)?;
    }
    if let Some(r) = str_attr(desired, "resolve_conflicts") {
        rules::one_of("resolve_conflicts", r, RESOLVE_VALUES)?;
    }
    if let Some(v) = desired.get("pod_identity_associations") {
        let Some(items) = v.as_array() else {
            return Err("`pod_identity_associations` must be a list of tables { service_account, role_arn }".into());
        };
        let mut seen = Vec::new();
        for (i, p) in items.iter().enumerate() {
            let field = |k: &str| p.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            let (Some(sa), Some(role)) = (field("service_account"), field("role_arn")) else {
                return Err(format!(
                    "`pod_identity_associations`[{i}] must be a table {{ service_account = \"…\", role_arn = \"…\" }}"
                ));
            };
            if let Some(k) = p.as_object().and_then(|m| m.keys().find(|k| *k != "service_account" && *k != "role_arn"))
            {
                return Err(format!(
                    "`pod_identity_associations`[{i}]: unknown field `{k}` (fields: service_account, role_arn)"
                ));
            }
            rules::check_iam_arn(&format!("pod_identity_associations[{i}].role_arn"), role, false)?;
            if seen.contains(&sa) {
                return Err(format!("`pod_identity_associations` names service account {sa:?} twice"));
            }
            seen.push(sa);
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl ResourceKind for Addon {
    fn kind(&self) -> &'static str {
        "eks_addon"
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
        let (cluster, name) = (spec.req_str("cluster_name")?, spec.req_str("addon_name")?);
        let id = common::join_id(cluster, name);
        if let Some(v) = spec.str("addon_version") {
            self.check_version_available(cluster, name, v).await?;
        }
        let resolve = spec.str("resolve_conflicts").unwrap_or("OVERWRITE");
        let mut tags = common::creation_tags(cx, spec)?;
        tags.insert(RESOLVE_TAG.to_string(), resolve.to_string());
        let pias = pod_identities(spec)?;
        let req = self
            .client
            .create_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .set_addon_version(spec.str("addon_version").map(str::to_string))
            .set_configuration_values(spec.str("configuration_values").map(str::to_string))
            .set_service_account_role_arn(spec.str("service_account_role_arn").map(str::to_string))
            .set_pod_identity_associations((!pias.is_empty()).then_some(pias))
            // PRESERVE exists for updates only.
            .resolve_conflicts(ResolveConflicts::from(if resolve == "PRESERVE" { "NONE" } else { resolve }))
            .client_request_token(&spec.client_token)
            .set_tags(Some(tags));
        match req.send().await.or_aws("CreateAddon") {
            Ok(_) => {}
            Err(e) if common::is_conflict(&e) => {
                common::adopt_or(cx, spec, e, self.read_one(id.clone()).await?)?;
            }
            Err(e) => return Err(e),
        }
        self.wait_active(cx, &id, "CreateAddon").await?;
        self.read_back(&id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let id = prior.id.as_str();
        let (cluster, name) = common::split_id(self.kind(), id)?;
        let resolve = spec.str("resolve_conflicts").unwrap_or("OVERWRITE");
        let mut req = self
            .client
            .update_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .resolve_conflicts(ResolveConflicts::from(resolve));
        let mut any = false;
        if changed(spec, prior, "addon_version", false) {
            let v = spec.req_str("addon_version")?;
            self.check_version_available(cluster, name, v).await?;
            req = req.addon_version(v);
            any = true;
        }
        if changed(spec, prior, "configuration_values", false) {
            req = req.configuration_values(spec.str("configuration_values").unwrap_or_default());
            any = true;
        }
        if changed(spec, prior, "service_account_role_arn", false) {
            req = req.service_account_role_arn(spec.str("service_account_role_arn").unwrap_or_default());
            any = true;
        }
        if changed(spec, prior, "pod_identity_associations", true) {
            // The full list: EKS replaces the add-on's associations with it (empty: none).
            req = req.set_pod_identity_associations(Some(pod_identities(spec)?));
            any = true;
        }
        if any {
            let out = req.send().await.or_aws("UpdateAddon")?;
            let w = UpdateWait {
                cluster,
                nodegroup: None,
                addon: Some(name),
                operation: "UpdateAddon",
                timeout: TIMEOUT,
                interval: POLL,
            };
            common::wait_update(cx, &self.client, &w, out.update()).await?;
            self.wait_active(cx, id, "UpdateAddon").await?;
        }
        if let Some(arn) = prior.attrs.get("arn").and_then(Value::as_str) {
            if changed(spec, prior, "resolve_conflicts", false) {
                self.client
                    .tag_resource()
                    .resource_arn(arn)
                    .tags(RESOLVE_TAG, resolve)
                    .send()
                    .await
                    .or_aws("TagResource")?;
            }
            common::reconcile_tags(&self.client, arn, prior, spec).await?;
        }
        self.read_back(id).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let id = prior.id.as_str();
        let (cluster, name) = common::split_id(self.kind(), id)?;
        not_found_as_none(
            self.client.delete_addon().cluster_name(cluster).addon_name(name).send().await.or_aws("DeleteAddon"),
        )?;
        let what = format!("EKS add-on {id} to be deleted");
        cx.poll_until(&what, DELETE_TIMEOUT, POLL, || async { Ok(self.describe(id).await?.is_none().then_some(())) })
            .await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let mut ids = Vec::new();
        for cluster in common::cluster_names(&self.client).await? {
            let names: Vec<String> = not_found_as_none(
                self.client
                    .list_addons()
                    .cluster_name(&cluster)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .or_aws("ListAddons"),
            )?
            .unwrap_or_default();
            ids.extend(names.iter().map(|n| common::join_id(&cluster, n)));
        }
        Ok(common::owned(cx, common::read_each(&ids, |id| self.read_one(id)).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).expect("attrs")
    }

    #[test]
    fn configuration_values_and_pod_identities_are_checked() {
        assert!(check(&attrs(json!({"configuration_values": "{\"env\":{\"A\":\"1\"}}"}))).is_ok());
        let e = check(&attrs(json!({"configuration_values": "env: {A: 1}"}))).unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        assert!(check(&attrs(json!({"configuration_values": "[1]"}))).is_err());
        let role = "arn:aws:iam::123456789012:role/ebs";
        assert!(
            check(&attrs(json!({"pod_identity_associations": [{"service_account": "a", "role_arn": role}]}))).is_ok()
        );
        let e = check(&attrs(json!({"pod_identity_associations": [{"service_account": "a"}]}))).unwrap_err();
        assert!(e.contains("[0] must be a table"), "{e}");
        let twice = json!({"pod_identity_associations": [
            {"service_account": "a", "role_arn": role}, {"service_account": "a", "role_arn": role}]});
        assert!(check(&attrs(twice)).unwrap_err().contains("twice"));
        assert!(check(&attrs(json!({"resolve_conflicts": "FORCE"}))).is_err());
    }
}
