//! `eks_nodegroup`: an EKS managed node group. Id: `cluster/nodegroup`.
//!
//! Create: CreateNodegroup with `clientRequestToken = spec.client_token` and tags at creation,
//! then wait (without holding an engine slot) until ACTIVE — about 5 minutes on AWS, given up
//! after 20. A name conflict with a node group carrying this resource's ownership tags is our
//! own interrupted create: adopted and waited for.
//! Read: DescribeNodegroup per id, concurrently; missing or DELETING node groups are absent.
//! Update, in place: scaling, labels, taints and the update config in one UpdateNodegroupConfig
//! (labels and taints as add/remove payloads computed from the difference), then the
//! Kubernetes version (UpdateNodegroupVersion), each followed with DescribeUpdate until it
//! succeeds and the node group is ACTIVE; then tags. Everything else forces a new node group.
//! `desired_size` is only managed when the plan sets it (the cluster autoscaler moves it);
//! a new node group starts at `min_size` otherwise.
//! Delete: DeleteNodegroup, then wait until it is gone.
//!
//! Checked before any call ([`ResourceKind::validate`]): known instance type families and
//! sizes, one architecture across instance types, an AMI type for that architecture (ARM AMI
//! types with Graviton families only), scaling bounds, taints, versions never going down.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, NodegroupScalingConfig, NodegroupStatus, NodegroupUpdateConfig, Taint, TaintEffect,
    UpdateLabelsPayload, UpdateTaintsPayload,
};
use serde_json::{json, Value};

use super::common::{
    self, changed, health_text, spec_list, spec_map, str_list, str_map, wait_ready, Client, Settled, UpdateWait,
};
use super::rules::{self, list_attr, str_attr};
use crate::aws::ec2::common::{put_str, tags_attr, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Fact, Observed, ResourceError, ResourceKind, Schema, Spec,
};

/// The plan's name of a node group whose EKS name carries a replacement suffix.
const TAG_NAME: &str = "kprov:name";

/// The EKS name of a node group that replaces the one named `old_name` while that one still
/// exists (create before destroy, kprov's default for node groups, as eksctl replaces a node
/// group: "create a new nodegroup … delete the old nodegroup", eksctl user guide, unmanaged
/// nodegroups / EKS user guide, "Migrate applications to a new node group"). Names are unique
/// in a cluster, so the new group alternates between `<name>` and `<name>-<6 hex of the
/// client token>` — stable across retries, as the token is recorded before the create.
fn replacement_name(planned: &str, old_name: &str, token: &str) -> String {
    if old_name != planned {
        return planned.to_string();
    }
    let suffix: String = token.chars().filter(char::is_ascii_hexdigit).take(6).collect();
    // EKS node group names are at most 63 characters.
    let keep = planned.len().min(63 - suffix.len() - 1);
    let base = planned.get(..keep).unwrap_or(planned);
    format!("{base}-{suffix}")
}

/// Node groups take ~5 minutes to create or delete, but a big one or a slow drain takes much
/// longer: terraform-provider-aws's aws_eks_node_group timeouts are 60 min for create, update
/// and delete. A version update rolls every node.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const CONFIG_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const VERSION_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const POLL: Duration = Duration::from_secs(15);

pub struct Nodegroup {
    client: Client,
    schema: Schema,
}

impl Nodegroup {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parent: "If you have managed node groups or Fargate profiles attached to the
            // cluster, you must delete them first" (EKS API reference, DeleteCluster): a replaced
            // cluster's node groups are deleted before it and made again after the new one.
            AttrSchema::required("cluster_name", AttrType::String).force_new().parent(),
            AttrSchema::required("name", AttrType::String).force_new().doc(
                "The node group's name. A replacement is created first under `<name>-<6 hex>` (names are unique \
                 in a cluster and the old group still exists), and reads back as `name`; `nodegroup_name` is the \
                 name in EKS.",
            ),
            AttrSchema::required("node_role_arn", AttrType::String).force_new(),
            AttrSchema::required("subnet_ids", AttrType::StringList).force_new().unordered(),
            AttrSchema::required("instance_types", AttrType::StringList)
                .force_new()
                .constraint(Constraint::Exists(Fact::InstanceType))
                .doc("e.g. [\"t4g.large\"]; all of one architecture."),
            AttrSchema::optional("ami_type", AttrType::String).force_new().doc(
                "e.g. AL2023_x86_64_STANDARD, AL2023_ARM_64_STANDARD (Graviton), BOTTLEROCKET_ARM_64. Unset: EKS \
                 picks one for the instance types.",
            ),
            AttrSchema::optional("capacity_type", AttrType::String).default(json!("ON_DEMAND")).force_new(),
            AttrSchema::optional("disk_size", AttrType::Int).default(json!(20)).force_new().doc("GiB per node."),
            // UpdateNodegroupConfig scalingConfig: minSize ≥ 0, maxSize ≥ 1 (EKS API Reference);
            // min ≤ desired ≤ max is the kind's check.
            AttrSchema::required("min_size", AttrType::Int).range(0, 100_000),
            AttrSchema::required("max_size", AttrType::Int).range(1, 100_000),
            AttrSchema::optional("desired_size", AttrType::Int)
                .doc("Managed only when set (leave unset when the cluster autoscaler sizes the group)."),
            AttrSchema::optional("labels", AttrType::StringMap).default(json!({})).doc("Kubernetes node labels."),
            AttrSchema::optional("taints", AttrType::Any)
                .default(json!([]))
                .unordered()
                .doc("[{ key, value, effect = NO_SCHEDULE | NO_EXECUTE | PREFER_NO_SCHEDULE }]"),
            AttrSchema::optional("max_unavailable", AttrType::Int).doc("Nodes replaced at once during updates."),
            AttrSchema::optional("max_unavailable_percentage", AttrType::Int),
            AttrSchema::optional("version", AttrType::String)
                .constraint(Constraint::Exists(Fact::KubernetesVersion))
                .doc("Kubernetes version of the nodes; unset: the cluster's at creation."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("nodegroup_name", AttrType::String).doc("The name in EKS (see `name`)."),
            AttrSchema::computed("release_version", AttrType::String),
        ])
        .stateful()
        .create_before_destroy();
        Nodegroup { client, schema }
    }

    async fn describe(&self, id: &str) -> Result<Option<aws_sdk_eks::types::Nodegroup>, ResourceError> {
        let (cluster, name) = common::split_id(self.kind(), id)?;
        let out = not_found_as_none(
            self.client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await
                .or_aws("DescribeNodegroup"),
        )?;
        Ok(out.and_then(|o| o.nodegroup))
    }

    async fn read_one(&self, id: String) -> Result<Option<Found>, ResourceError> {
        Ok(self.describe(&id).await?.as_ref().and_then(to_found))
    }

    async fn read_back(&self, id: &str) -> Result<Observed, ResourceError> {
        self.read_one(id.to_string())
            .await?
            .map(|f| f.obs)
            .ok_or_else(|| ResourceError::unexpected("DescribeNodegroup", format!("node group {id} vanished")))
    }

    async fn wait_active(&self, cx: &Cx, id: &str, timeout: Duration, operation: &str) -> Result<(), ResourceError> {
        let what = format!("EKS node group {id} to become ACTIVE");
        let settled = |ng: &aws_sdk_eks::types::Nodegroup| match ng.status() {
            Some(NodegroupStatus::Active) => Settled::Ready,
            Some(
                s @ (NodegroupStatus::CreateFailed
                | NodegroupStatus::Degraded
                | NodegroupStatus::Deleting
                | NodegroupStatus::DeleteFailed),
            ) => Settled::Failed {
                status: s.as_str().to_string(),
                message: health_message(ng).unwrap_or_else(|| format!("node group {id} is {}", s.as_str())),
            },
            _ => Settled::Pending,
        };
        wait_ready(cx, &what, timeout, POLL, operation, "Nodegroup", || self.describe(id), settled).await
    }

    async fn wait_gone(&self, cx: &Cx, id: &str) -> Result<(), ResourceError> {
        let what = format!("EKS node group {id} to be deleted");
        common::wait_gone(cx, &what, DELETE_TIMEOUT, POLL, || self.describe(id)).await
    }

    /// Follow an update of this node group to the end.
    async fn finish_update(
        &self,
        cx: &Cx,
        id: &str,
        operation: &str,
        timeout: Duration,
        update: Option<&aws_sdk_eks::types::Update>,
    ) -> Result<(), ResourceError> {
        let (cluster, name) = common::split_id(self.kind(), id)?;
        let w = UpdateWait { cluster, nodegroup: Some(name), addon: None, operation, timeout, interval: POLL };
        common::wait_update(cx, &self.client, &w, update).await?;
        self.wait_active(cx, id, timeout, operation).await
    }
}

fn health_message(ng: &aws_sdk_eks::types::Nodegroup) -> Option<String> {
    health_text(
        ng.health().map(|h| h.issues()).unwrap_or_default().iter().map(|i| (i.code().map(|c| c.as_str()), i.message())),
    )
}

/// A taint as an attribute value: `{ key, value, effect }`, `value` only when set.
fn taint_value(t: &Taint) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("key".into(), json!(t.key().unwrap_or_default()));
    if let Some(v) = t.value().filter(|v| !v.is_empty()) {
        m.insert("value".into(), json!(v));
    }
    m.insert("effect".into(), json!(t.effect().map(TaintEffect::as_str).unwrap_or_default()));
    Value::Object(m)
}

fn taint_of(v: &Value) -> Taint {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Taint::builder()
        .set_key(s("key"))
        .set_value(s("value"))
        .set_effect(s("effect").map(|e| TaintEffect::from(e.as_str())))
        .build()
}

fn to_found(ng: &aws_sdk_eks::types::Nodegroup) -> Option<Found> {
    if ng.status() == Some(&NodegroupStatus::Deleting) {
        return None;
    }
    let (cluster, name) = (ng.cluster_name()?, ng.nodegroup_name()?);
    let mut attrs = Attrs::new();
    put_str(&mut attrs, "cluster_name", Some(cluster));
    // A replacement made before its predecessor was deleted has a suffixed name in EKS and
    // the plan's name in a tag.
    let planned = ng.tags().and_then(|t| t.get(TAG_NAME)).map(String::as_str);
    put_str(&mut attrs, "name", Some(planned.unwrap_or(name)));
    put_str(&mut attrs, "nodegroup_name", Some(name));
    put_str(&mut attrs, "node_role_arn", ng.node_role());
    attrs.insert("subnet_ids".into(), str_list(ng.subnets()));
    attrs.insert("instance_types".into(), str_list(ng.instance_types()));
    put_str(&mut attrs, "ami_type", ng.ami_type().map(AmiTypes::as_str));
    put_str(&mut attrs, "capacity_type", ng.capacity_type().map(CapacityTypes::as_str));
    if let Some(d) = ng.disk_size() {
        attrs.insert("disk_size".into(), json!(d));
    }
    if let Some(s) = ng.scaling_config() {
        for (k, v) in [("min_size", s.min_size()), ("max_size", s.max_size()), ("desired_size", s.desired_size())] {
            if let Some(v) = v {
                attrs.insert(k.into(), json!(v));
            }
        }
    }
    attrs.insert("labels".into(), str_map(ng.labels()));
    let mut taints: Vec<Value> = ng.taints().iter().map(taint_value).collect();
    taints.sort_by_key(Value::to_string);
    attrs.insert("taints".into(), Value::Array(taints));
    if let Some(u) = ng.update_config() {
        if let Some(n) = u.max_unavailable() {
            attrs.insert("max_unavailable".into(), json!(n));
        }
        if let Some(p) = u.max_unavailable_percentage() {
            attrs.insert("max_unavailable_percentage".into(), json!(p));
        }
    }
    put_str(&mut attrs, "version", ng.version());
    put_str(&mut attrs, "release_version", ng.release_version());
    put_str(&mut attrs, "arn", ng.nodegroup_arn());
    Some(common::found(common::join_id(cluster, name), attrs, ng.tags()))
}

fn int(attrs: &Attrs, name: &str) -> Option<i64> {
    attrs.get(name).and_then(Value::as_i64)
}

fn check(desired: &Attrs, prior: Option<&Attrs>) -> Result<(), String> {
    if desired.contains_key("instance_types") {
        rules::check_instances(&list_attr(desired, "instance_types"), str_attr(desired, "ami_type"))?;
    } else if let Some(ami) = str_attr(desired, "ami_type") {
        rules::one_of("ami_type", ami, &rules::ami_types())?;
    }
    if let Some(c) = str_attr(desired, "capacity_type") {
        rules::check_capacity_type(c)?;
    }
    if let Some(role) = str_attr(desired, "node_role_arn") {
        rules::check_iam_arn("node_role_arn", role, false)?;
    }
    if desired.contains_key("subnet_ids") && list_attr(desired, "subnet_ids").is_empty() {
        return Err("`subnet_ids` needs at least one subnet".into());
    }
    if let Some(d) = int(desired, "disk_size") {
        if !(1..=16384).contains(&d) {
            return Err(format!("`disk_size` must be between 1 and 16384 GiB, not {d}"));
        }
    }
    let (lo, hi, want) = (int(desired, "min_size"), int(desired, "max_size"), int(desired, "desired_size"));
    if let Some(lo) = lo.filter(|n| *n < 0) {
        return Err(format!("`min_size` must be 0 or more, not {lo}"));
    }
    if let Some(hi) = hi.filter(|n| *n < 1) {
        return Err(format!("`max_size` must be at least 1, not {hi}"));
    }
    if let (Some(lo), Some(hi)) = (lo, hi) {
        if lo > hi {
            return Err(format!("`min_size` ({lo}) is greater than `max_size` ({hi})"));
        }
    }
    if let Some(want) = want {
        if lo.is_some_and(|lo| want < lo) || hi.is_some_and(|hi| want > hi) {
            return Err(format!(
                "`desired_size` ({want}) must lie between `min_size` ({}) and `max_size` ({})",
                lo.map_or("?".into(), |n| n.to_string()),
                hi.map_or("?".into(), |n| n.to_string())
            ));
        }
    }
    if let Some(t) = desired.get("taints") {
        rules::check_taints(t)?;
    }
    match (int(desired, "max_unavailable"), int(desired, "max_unavailable_percentage")) {
        (Some(_), Some(_)) => {
            return Err("set `max_unavailable` or `max_unavailable_percentage`, not both".into());
        }
        (Some(n), None) if !(1..=100).contains(&n) => {
            return Err(format!("`max_unavailable` must be between 1 and 100, not {n}"));
        }
        (None, Some(p)) if !(1..=100).contains(&p) => {
            return Err(format!("`max_unavailable_percentage` must be between 1 and 100, not {p}"));
        }
        _ => {}
    }
    if let Some(v) = str_attr(desired, "version") {
        rules::parse_version("version", v)?;
        if let Some(from) = prior.and_then(|p| str_attr(p, "version")) {
            rules::check_nodegroup_upgrade("version", from, v)?;
        }
    }
    Ok(())
}

fn to_i32(spec: &Spec, name: &str) -> Result<Option<i32>, ResourceError> {
    spec.i64(name)
        .map(|n| i32::try_from(n).map_err(|_| ResourceError::invalid(format!("`{name}` is out of range: {n}"))))
        .transpose()
}

fn update_config(spec: &Spec) -> Result<Option<NodegroupUpdateConfig>, ResourceError> {
    let (n, p) = (to_i32(spec, "max_unavailable")?, to_i32(spec, "max_unavailable_percentage")?);
    Ok((n.is_some() || p.is_some())
        .then(|| NodegroupUpdateConfig::builder().set_max_unavailable(n).set_max_unavailable_percentage(p).build()))
}

/// Labels to add or change, and to remove, to go from `prior` to `spec`.
fn label_changes(spec: &Spec, prior: &Observed) -> UpdateLabelsPayload {
    let want = spec_map(spec, "labels");
    let have: HashMap<String, String> = prior
        .attrs
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    let add: HashMap<String, String> =
        want.iter().filter(|(k, v)| have.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove: Vec<String> = have.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
    UpdateLabelsPayload::builder()
        .set_add_or_update_labels((!add.is_empty()).then_some(add))
        .set_remove_labels((!remove.is_empty()).then_some(remove))
        .build()
}

/// Taints to add or change, and to remove (by key and effect, EKS's identity of a taint).
fn taint_changes(spec: &Spec, prior: &Observed) -> UpdateTaintsPayload {
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let (want, have) = (list(spec.attrs.get("taints")), list(prior.attrs.get("taints")));
    let ident = |t: &Value| (t.get("key").cloned(), t.get("effect").cloned());
    let add: Vec<Taint> = want.iter().filter(|t| !have.contains(t)).map(taint_of).collect();
    let remove: Vec<Taint> = have.iter().filter(|h| !want.iter().any(|w| ident(w) == ident(h))).map(taint_of).collect();
    UpdateTaintsPayload::builder()
        .set_add_or_update_taints((!add.is_empty()).then_some(add))
        .set_remove_taints((!remove.is_empty()).then_some(remove))
        .build()
}

#[async_trait::async_trait]
impl ResourceKind for Nodegroup {
    fn kind(&self) -> &'static str {
        "eks_nodegroup"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, desired: &Attrs, prior: Option<&Attrs>) -> Result<(), String> {
        check(desired, prior)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(common::observed(common::read_each(ids, |id| self.read_one(id)).await?))
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        self.create_as(cx, spec, spec.req_str("name")?).await
    }

    async fn create_replacement(&self, cx: &Cx, spec: &Spec, old: &Observed) -> Result<Observed, ResourceError> {
        let (_, old_name) = common::split_id(self.kind(), &old.id)?;
        let name = replacement_name(spec.req_str("name")?, old_name, &spec.client_token);
        self.create_as(cx, spec, &name).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.update_in_place(cx, prior, spec).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        self.delete_group(cx, prior).await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        self.find_owned_groups(cx).await
    }
}

impl Nodegroup {
    /// Create the node group of `spec` under the EKS name `name` (the plan's, or a
    /// replacement's, see [`replacement_name`]).
    async fn create_as(&self, cx: &Cx, spec: &Spec, name: &str) -> Result<Observed, ResourceError> {
        let cluster = spec.req_str("cluster_name")?;
        let id = common::join_id(cluster, name);
        let mut tags = common::creation_tags(cx, spec)?;
        if name != spec.req_str("name")? {
            tags.insert(TAG_NAME.to_string(), spec.req_str("name")?.to_string());
        }
        let min = to_i32(spec, "min_size")?.unwrap_or(0);
        let scaling = NodegroupScalingConfig::builder()
            .min_size(min)
            .set_max_size(to_i32(spec, "max_size")?)
            .desired_size(to_i32(spec, "desired_size")?.unwrap_or(min))
            .build();
        let labels = spec_map(spec, "labels");
        let taints: Vec<Taint> = spec
            .attrs
            .get("taints")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(taint_of).collect())
            .unwrap_or_default();
        let req = self
            .client
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .node_role(spec.req_str("node_role_arn")?)
            .set_subnets(Some(spec_list(spec, "subnet_ids")))
            .set_instance_types(Some(spec_list(spec, "instance_types")))
            .set_ami_type(spec.str("ami_type").map(AmiTypes::from))
            .set_capacity_type(spec.str("capacity_type").map(CapacityTypes::from))
            .set_disk_size(to_i32(spec, "disk_size")?)
            .scaling_config(scaling)
            .set_labels((!labels.is_empty()).then_some(labels))
            .set_taints((!taints.is_empty()).then_some(taints))
            .set_update_config(update_config(spec)?)
            .set_version(spec.str("version").map(str::to_string))
            .client_request_token(&spec.client_token)
            .set_tags(Some(tags));
        match req.send().await.or_aws("CreateNodegroup") {
            Ok(_) => {}
            Err(e) if common::is_conflict(&e) => {
                common::adopt_or(cx, spec, e, self.read_one(id.clone()).await?)?;
            }
            Err(e) => return Err(e),
        }
        self.wait_active(cx, &id, CREATE_TIMEOUT, "CreateNodegroup").await?;
        self.read_back(&id).await
    }

    async fn update_in_place(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let id = prior.id.as_str();
        let (cluster, name) = common::split_id(self.kind(), id)?;

        let mut req = self.client.update_nodegroup_config().cluster_name(cluster).nodegroup_name(name);
        let mut any = false;
        if ["min_size", "max_size", "desired_size"].iter().any(|n| changed(spec, prior, n, false)) {
            let (min, max) = (to_i32(spec, "min_size")?.unwrap_or(0), to_i32(spec, "max_size")?.unwrap_or(1));
            // Unmanaged desired size: keep the current one, moved inside the new bounds.
            let current = prior.attrs.get("desired_size").and_then(Value::as_i64).unwrap_or(i64::from(min));
            let desired = match to_i32(spec, "desired_size")? {
                Some(d) => d,
                None => i32::try_from(current).unwrap_or(min).clamp(min, max.max(min)),
            };
            req = req.scaling_config(
                NodegroupScalingConfig::builder().min_size(min).max_size(max).desired_size(desired).build(),
            );
            any = true;
        }
        if changed(spec, prior, "labels", false) {
            req = req.labels(label_changes(spec, prior));
            any = true;
        }
        if changed(spec, prior, "taints", true) {
            req = req.taints(taint_changes(spec, prior));
            any = true;
        }
        if changed(spec, prior, "max_unavailable", false) || changed(spec, prior, "max_unavailable_percentage", false) {
            req = req.set_update_config(update_config(spec)?);
            any = true;
        }
        if any {
            let out = req.send().await.or_aws("UpdateNodegroupConfig")?;
            self.finish_update(cx, id, "UpdateNodegroupConfig", CONFIG_TIMEOUT, out.update()).await?;
        }
        if changed(spec, prior, "version", false) {
            let out = self
                .client
                .update_nodegroup_version()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .version(spec.req_str("version")?)
                .send()
                .await
                .or_aws("UpdateNodegroupVersion")?;
            self.finish_update(cx, id, "UpdateNodegroupVersion", VERSION_TIMEOUT, out.update()).await?;
        }
        if let Some(arn) = prior.attrs.get("arn").and_then(Value::as_str) {
            common::reconcile_tags(&self.client, arn, prior, spec).await?;
        }
        self.read_back(id).await
    }

    async fn delete_group(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let id = prior.id.as_str();
        let (cluster, name) = common::split_id(self.kind(), id)?;
        match self.describe(id).await? {
            None => return Ok(()),
            Some(ng) if ng.status() == Some(&NodegroupStatus::Deleting) => {}
            Some(_) => {
                not_found_as_none(
                    self.client
                        .delete_nodegroup()
                        .cluster_name(cluster)
                        .nodegroup_name(name)
                        .send()
                        .await
                        .or_aws("DeleteNodegroup"),
                )?;
            }
        }
        self.wait_gone(cx, id).await
    }

    async fn find_owned_groups(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let mut ids = Vec::new();
        for cluster in common::cluster_names(&self.client).await? {
            let names: Vec<String> = not_found_as_none(
                self.client
                    .list_nodegroups()
                    .cluster_name(&cluster)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .or_aws("ListNodegroups"),
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
    fn scaling_and_update_config_are_checked() {
        assert!(check(&attrs(json!({"min_size": 1, "max_size": 3, "desired_size": 2})), None).is_ok());
        let e = check(&attrs(json!({"min_size": 4, "max_size": 3})), None).unwrap_err();
        assert!(e.contains("`min_size` (4) is greater than `max_size` (3)"), "{e}");
        let e = check(&attrs(json!({"min_size": 1, "max_size": 3, "desired_size": 5})), None).unwrap_err();
        assert!(e.contains("`desired_size` (5)"), "{e}");
        assert!(check(&attrs(json!({"max_unavailable": 1, "max_unavailable_percentage": 10})), None).is_err());
        assert!(check(&attrs(json!({"version": "1.29"})), Some(&attrs(json!({"version": "1.30"})))).is_err());
        assert!(check(&attrs(json!({"version": "1.31"})), Some(&attrs(json!({"version": "1.29"})))).is_ok());
    }

    #[test]
    fn a_replacement_alternates_between_the_plain_and_a_suffixed_name() {
        let token = "3f9a1c0e-7b2d-4e8f-9a6b-1c2d3e4f5a6b";
        assert_eq!(replacement_name("system", "system", token), "system-3f9a1c");
        // Back to the plain name once the suffixed one is the old group.
        assert_eq!(replacement_name("system", "system-3f9a1c", token), "system");
        // Within EKS's 63 characters.
        let long = "n".repeat(63);
        let r = replacement_name(&long, &long, token);
        assert_eq!(r.len(), 63);
        assert!(r.ends_with("-3f9a1c"), "{r}");
    }

    #[test]
    fn arm_ami_types_need_graviton_instances() {
        let ok = attrs(json!({"instance_types": ["t4g.large"], "ami_type": "AL2023_ARM_64_STANDARD"}));
        assert!(check(&ok, None).is_ok());
        let bad = attrs(json!({"instance_types": ["c5.large"], "ami_type": "AL2023_ARM_64_STANDARD"}));
        let e = check(&bad, None).unwrap_err();
        assert!(e.contains("`ami_type` AL2023_ARM_64_STANDARD is built for ARM (Graviton)"), "{e}");
    }

    #[test]
    fn label_and_taint_payloads_hold_only_the_difference() {
        let prior = Observed {
            id: "c/ng".into(),
            attrs: attrs(json!({
                "labels": {"keep": "1", "change": "a", "drop": "x"},
                "taints": [{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "b", "value": "1", "effect": "NO_EXECUTE"}]
            })),
            owner_address: None,
        };
        let spec = Spec {
            address: crate::resource::Address::new("eks_nodegroup", "ng", None),
            attrs: attrs(json!({
                "labels": {"keep": "1", "change": "b", "new": "n"},
                "taints": [{"key": "b", "value": "2", "effect": "NO_EXECUTE"}]
            })),
            client_token: "t".into(),
        };
        let l = label_changes(&spec, &prior);
        let mut add: Vec<_> = l.add_or_update_labels().expect("adds").keys().cloned().collect();
        add.sort();
        assert_eq!(add, ["change", "new"]);
        assert_eq!(l.remove_labels(), ["drop"]);
        let t = taint_changes(&spec, &prior);
        assert_eq!(t.add_or_update_taints().len(), 1);
        assert_eq!(t.add_or_update_taints()[0].value(), Some("2"));
        // `b` changes value (same key and effect: an update, not a removal); `a` goes.
        assert_eq!(t.remove_taints().iter().map(|t| t.key().unwrap_or_default()).collect::<Vec<_>>(), ["a"]);
    }
}
