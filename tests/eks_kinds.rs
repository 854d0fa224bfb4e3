//! The EKS kinds against moto with kprov's EKS extension (`scripts/moto_ext`): a cluster's whole
//! life — create → read → logging and endpoint updates in place → 1.30 → 1.31 in place →
//! 1.31 → 1.33 refused before any call → node group create → scaling / labels / taints /
//! version in place → add-on with configuration values and pod identity → pod identity
//! association → access entry + policy association → find_owned → deletes in reverse → all
//! gone. Every step is checked through an independent SDK client, not kprov's own reads.
//! A second test covers adoption of an interrupted create and refusal of a foreign conflict.
//! Each test works in its own region (moto keeps regions apart).

// The shared harness spawns moto detached on purpose (a watchdog shell reaps it).
#[allow(clippy::zombie_processes)]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Once};

use aws_sdk_eks::types::{AccessScopeType, LogType};
use kprov::aws;
use kprov::resource::{Address, Attrs, Cx, Observed, Owner, Registry, ResourceError, ResourceKind, Spec};
use serde_json::{json, Value};

const STACK: &str = "kprov-test";
const ACCOUNT: &str = "123456789012";

struct Env {
    reg: Registry,
    eks: aws_sdk_eks::Client,
    ec2: aws_sdk_ec2::Client,
    cx: Cx,
}

/// Export moto's endpoint and dummy credentials once, before any test builds a config.
fn init_env() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        for (k, v) in support::aws_env() {
            std::env::set_var(k, v);
        }
    });
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

impl Env {
    async fn new(region: &'static str) -> Env {
        init_env();
        let sdk = aws::sdk_config(region, None).await;
        let independent = support::sdk_config(region).await;
        Env {
            reg: aws::registry(&sdk),
            eks: aws_sdk_eks::Client::new(&independent),
            ec2: aws_sdk_ec2::Client::new(&independent),
            cx: Cx::new(Owner { stack: STACK.into(), env: region.into() }),
        }
    }

    fn kind(&self, kind: &str) -> &Arc<dyn ResourceKind> {
        self.reg.get(kind).unwrap_or_else(|| panic!("kind {kind} not registered"))
    }

    /// A spec as the plan layer hands it over: schema defaults applied.
    fn spec(&self, kind: &str, name: &str, attrs: Value) -> Spec {
        let mut a: Attrs = attrs.as_object().cloned().unwrap_or_default().into_iter().collect();
        for s in &self.kind(kind).schema().attrs {
            if let Some(d) = &s.default {
                a.entry(s.name.to_string()).or_insert_with(|| d.clone());
            }
        }
        Spec { address: Address::new(kind, name, None), attrs: a, client_token: uuid::Uuid::new_v4().to_string() }
    }

    async fn create(&self, spec: &Spec) -> Observed {
        let kind = spec.address.kind.as_str();
        let o = self.kind(kind).create(&self.cx, spec).await.unwrap_or_else(|e| panic!("create {kind}: {e}"));
        if self.kind(kind).schema().get("tags").is_some() {
            assert_eq!(o.owner_address.as_deref(), Some(spec.address.to_string().as_str()), "{o:?}");
        }
        o
    }

    async fn update(&self, prior: &Observed, spec: &Spec) -> Observed {
        let kind = spec.address.kind.as_str();
        let o = self.kind(kind).update(&self.cx, prior, spec).await.unwrap_or_else(|e| panic!("update {kind}: {e}"));
        assert_eq!(o.id, prior.id, "an in-place update keeps the resource");
        o
    }

    async fn read(&self, kind: &str, ids: &[&str]) -> Vec<Observed> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        self.kind(kind).read_many(&self.cx, &ids).await.unwrap_or_else(|e| panic!("read {kind}: {e}"))
    }

    async fn delete_twice(&self, kind: &str, o: &Observed) {
        self.kind(kind).delete(&self.cx, o).await.unwrap_or_else(|e| panic!("delete {kind}: {e}"));
        self.kind(kind).delete(&self.cx, o).await.unwrap_or_else(|e| panic!("delete {kind} again: {e}"));
        assert!(self.read(kind, &[&o.id]).await.is_empty(), "{kind} {} still readable", o.id);
    }

    /// A VPC with two subnets in two AZs, made with the SDK (not under test here).
    async fn subnets(&self, region: &str) -> Vec<String> {
        let vpc = self.ec2.create_vpc().cidr_block("10.40.0.0/16").send().await.expect("vpc");
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
        let mut ids = Vec::new();
        for (i, az) in ["a", "b"].iter().enumerate() {
            let s = self
                .ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(format!("10.40.{i}.0/24"))
                .availability_zone(format!("{region}{az}"))
                .send()
                .await
                .expect("subnet");
            ids.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        ids
    }

    async fn cluster(&self, name: &str) -> aws_sdk_eks::types::Cluster {
        self.eks.describe_cluster().name(name).send().await.expect("describe cluster").cluster.expect("cluster")
    }

    async fn update_ids(&self, cluster: &str) -> Vec<String> {
        self.eks.list_updates().name(cluster).send().await.expect("list updates").update_ids.unwrap_or_default()
    }

    /// The type of the newest update on `cluster`, as DescribeUpdate reports it.
    async fn last_update_type(&self, cluster: &str) -> String {
        let ids = self.update_ids(cluster).await;
        let id = ids.last().expect("an update");
        let u = self.eks.describe_update().name(cluster).update_id(id).send().await.expect("describe update");
        let u = u.update.expect("update");
        assert_eq!(u.status().map(|s| s.as_str()), Some("Successful"));
        u.r#type().map(|t| t.as_str().to_string()).unwrap_or_default()
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn enabled_logs(c: &aws_sdk_eks::types::Cluster) -> Vec<String> {
    let setups = c.logging().map(|l| l.cluster_logging()).unwrap_or_default();
    sorted(
        setups
            .iter()
            .filter(|s| s.enabled() == Some(true))
            .flat_map(|s| s.types())
            .map(LogType::as_str)
            .map(str::to_string)
            .collect(),
    )
}

#[tokio::test]
async fn eks_platform_lifecycle() {
    const REGION: &str = "ap-south-1";
    let env = Env::new(REGION).await;
    let subnets = env.subnets(REGION).await;
    let kms = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555");

    // --- cluster: create and read -------------------------------------------------------
    let mut cluster_attrs = json!({
        "name": "platform", "version": "1.30", "role_arn": role("eks-cluster"), "subnet_ids": subnets,
        "endpoint_private_access": true, "endpoint_public_access": true, "public_access_cidrs": ["203.0.113.0/24"],
        "enabled_log_types": ["audit", "api"], "encryption_kms_key_arn": kms, "authentication_mode": "API",
        "tags": {"team": "platform"}
    });
    let spec = env.spec("eks_cluster", "main", cluster_attrs.clone());
    let cluster = env.create(&spec).await;
    assert_eq!(cluster.id, "platform");
    for computed in ["arn", "endpoint", "oidc_issuer_url", "certificate_authority", "cluster_security_group_id"] {
        assert!(cluster.attrs.get(computed).and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "{computed}");
    }
    let c = env.cluster("platform").await;
    assert_eq!(c.version(), Some("1.30"));
    assert_eq!(enabled_logs(&c), ["api", "audit"]);
    assert_eq!(c.access_config().and_then(|a| a.authentication_mode()).map(|m| m.as_str()), Some("API"));
    assert_eq!(c.encryption_config()[0].provider().and_then(|p| p.key_arn()), Some(kms.as_str()));
    let vpc = c.resources_vpc_config().expect("vpc config");
    assert!(vpc.endpoint_private_access() && vpc.endpoint_public_access());
    assert_eq!(vpc.public_access_cidrs(), ["203.0.113.0/24"]);
    let tags = c.tags().expect("tags");
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(tags.get("kprov:address").map(String::as_str), Some("eks_cluster.main"));
    assert_eq!(tags.get("kprov:stack").map(String::as_str), Some(STACK));
    let read = env.read("eks_cluster", &["platform", "no-such-cluster"]).await;
    assert_eq!(read.len(), 1, "a missing cluster is absent, not an error");
    assert_eq!(read[0].attrs["enabled_log_types"], json!(["api", "audit"]));

    // --- cluster: logging, endpoint and tags in place ------------------------------------
    cluster_attrs["enabled_log_types"] = json!(["api", "audit", "authenticator", "controllerManager", "scheduler"]);
    cluster_attrs["tags"] = json!({"team": "platform", "tier": "core"});
    let spec = env.spec("eks_cluster", "main", cluster_attrs.clone());
    let cluster = env.update(&cluster, &spec).await;
    let c = env.cluster("platform").await;
    assert_eq!(enabled_logs(&c), ["api", "audit", "authenticator", "controllerManager", "scheduler"]);
    assert_eq!(env.last_update_type("platform").await, "LoggingUpdate");
    assert_eq!(c.tags().and_then(|t| t.get("tier")).map(String::as_str), Some("core"));

    cluster_attrs["public_access_cidrs"] = json!(["198.51.100.0/24", "203.0.113.0/24"]);
    let spec = env.spec("eks_cluster", "main", cluster_attrs.clone());
    let cluster = env.update(&cluster, &spec).await;
    let c = env.cluster("platform").await;
    let vpc = c.resources_vpc_config().expect("vpc config");
    assert_eq!(sorted(vpc.public_access_cidrs().to_vec()), ["198.51.100.0/24", "203.0.113.0/24"]);
    assert_eq!(vpc.subnet_ids(), subnets.as_slice(), "an endpoint update keeps the subnets");
    assert_eq!(env.last_update_type("platform").await, "EndpointAccessUpdate");

    // --- cluster: 1.30 → 1.31 in place; 1.31 → 1.33 refused before any call ---------------
    cluster_attrs["version"] = json!("1.31");
    let spec = env.spec("eks_cluster", "main", cluster_attrs.clone());
    let cluster = env.update(&cluster, &spec).await;
    assert_eq!(env.cluster("platform").await.version(), Some("1.31"));
    assert_eq!(env.last_update_type("platform").await, "VersionUpdate");
    let updates_before = env.update_ids("platform").await.len();
    cluster_attrs["version"] = json!("1.33");
    let skip = env.spec("eks_cluster", "main", cluster_attrs.clone());
    // The engine's check before an update (kinds do not validate inside update).
    let err =
        kprov::resource::check_resolved(env.kind("eks_cluster").as_ref(), None, &skip.attrs, Some(&cluster.attrs))
            .expect_err("a skip is refused");
    assert!(matches!(err, ResourceError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("one minor version at a time"), "{err}");
    assert_eq!(env.cluster("platform").await.version(), Some("1.31"));
    assert_eq!(env.update_ids("platform").await.len(), updates_before, "no update was started");
    cluster_attrs["version"] = json!("1.31");

    // --- node group: Graviton with the ARM AMI, then scaling / labels / taints / version --
    let mut ng_attrs = json!({
        "cluster_name": "platform", "name": "application", "node_role_arn": role("eks-node"),
        "subnet_ids": subnets, "instance_types": ["t4g.large"], "ami_type": "AL2023_ARM_64_STANDARD",
        "version": "1.30", "min_size": 1, "max_size": 3, "desired_size": 2,
        "labels": {"workload": "apps", "old": "x"},
        "taints": [{"key": "dedicated", "value": "apps", "effect": "NO_SCHEDULE"}],
        "max_unavailable": 1, "tags": {"pool": "application"}
    });
    let ng = env.create(&env.spec("eks_nodegroup", "application", ng_attrs.clone())).await;
    assert_eq!(ng.id, "platform/application");
    let arn_before = ng.attrs["arn"].clone();
    let d = env.eks.describe_nodegroup().cluster_name("platform").nodegroup_name("application").send().await;
    let d = d.expect("describe nodegroup").nodegroup.expect("nodegroup");
    assert_eq!(d.ami_type().map(|a| a.as_str()), Some("AL2023_ARM_64_STANDARD"));
    assert_eq!(d.instance_types(), ["t4g.large"]);
    assert_eq!(d.version(), Some("1.30"));
    assert_eq!(d.tags().and_then(|t| t.get("kprov:address")).map(String::as_str), Some("eks_nodegroup.application"));

    ng_attrs["min_size"] = json!(2);
    ng_attrs["max_size"] = json!(5);
    ng_attrs["desired_size"] = json!(3);
    ng_attrs["labels"] = json!({"workload": "web", "team": "a"});
    ng_attrs["taints"] = json!([
        {"key": "dedicated", "value": "web", "effect": "NO_SCHEDULE"},
        {"key": "spot", "effect": "PREFER_NO_SCHEDULE"}
    ]);
    ng_attrs["version"] = json!("1.31");
    let ng = env.update(&ng, &env.spec("eks_nodegroup", "application", ng_attrs.clone())).await;
    assert_eq!(ng.attrs["arn"], arn_before, "same node group: updated in place");
    let d = env.eks.describe_nodegroup().cluster_name("platform").nodegroup_name("application").send().await;
    let d = d.expect("describe nodegroup").nodegroup.expect("nodegroup");
    let s = d.scaling_config().expect("scaling");
    assert_eq!((s.min_size(), s.max_size(), s.desired_size()), (Some(2), Some(5), Some(3)));
    let labels: HashMap<&str, &str> =
        d.labels().expect("labels").iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(labels, HashMap::from([("workload", "web"), ("team", "a")]));
    let mut taints: Vec<(String, Option<String>, String)> = d
        .taints()
        .iter()
        .map(|t| {
            let effect = t.effect().map(|e| e.as_str().to_string()).unwrap_or_default();
            (t.key().unwrap_or_default().to_string(), t.value().map(str::to_string), effect)
        })
        .collect();
    taints.sort();
    assert_eq!(
        taints,
        [
            ("dedicated".to_string(), Some("web".to_string()), "NO_SCHEDULE".to_string()),
            ("spot".to_string(), None, "PREFER_NO_SCHEDULE".to_string())
        ]
    );
    assert_eq!(d.version(), Some("1.31"));
    let ng_updates = env.eks.list_updates().name("platform").nodegroup_name("application").send().await;
    assert_eq!(ng_updates.expect("list updates").update_ids().len(), 2, "one config update, one version update");
    // Read back equals what the plan asks for: the next plan has nothing to do.
    let again = env.read("eks_nodegroup", &["platform/application", "platform/nope", "nope/nope"]).await;
    assert_eq!(again.len(), 1);
    for (k, v) in ng_attrs.as_object().expect("attrs") {
        if k != "taints" && k != "tags" {
            assert_eq!(again[0].attrs.get(k), Some(v), "{k}");
        }
    }

    // --- add-on with configuration values and pod identity ------------------------------
    let cni_config = r#"{"env":{"ENABLE_PREFIX_DELEGATION":"true"}}"#;
    let mut addon_attrs = json!({
        "cluster_name": "platform", "addon_name": "vpc-cni", "addon_version": "v1.19.2-eksbuild.1",
        "configuration_values": cni_config,
        "pod_identity_associations": [{"service_account": "aws-node", "role_arn": role("vpc-cni")}],
        "tags": {"addon": "cni"}
    });
    let bad = env.spec(
        "eks_addon",
        "vpc_cni",
        json!({"cluster_name": "platform", "addon_name": "vpc-cni",
        "addon_version": "v0.0.1-eksbuild.1"}),
    );
    let err = env.kind("eks_addon").create(&env.cx, &bad).await.expect_err("unknown version refused");
    assert!(err.to_string().contains("available: v1.20.4-eksbuild.2, v1.19.2-eksbuild.1"), "{err}");
    let addon = env.create(&env.spec("eks_addon", "vpc_cni", addon_attrs.clone())).await;
    assert_eq!(addon.id, "platform/vpc-cni");
    assert_eq!(addon.attrs["resolve_conflicts"], json!("OVERWRITE"));
    let a = env.eks.describe_addon().cluster_name("platform").addon_name("vpc-cni").send().await;
    let a = a.expect("describe addon").addon.expect("addon");
    assert_eq!(a.configuration_values(), Some(cni_config));
    assert_eq!(a.addon_version(), Some("v1.19.2-eksbuild.1"));
    assert_eq!(a.pod_identity_associations().len(), 1);
    let pias = env.eks.list_pod_identity_associations().cluster_name("platform").send().await.expect("list pias");
    let owned: Vec<_> = pias.associations().iter().filter(|p| p.owner_arn() == a.addon_arn()).collect();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].service_account(), Some("aws-node"));

    addon_attrs["addon_version"] = json!("v1.20.4-eksbuild.2");
    addon_attrs["configuration_values"] =
        json!(r#"{"env":{"ENABLE_PREFIX_DELEGATION":"true","WARM_PREFIX_TARGET":"1"}}"#);
    let addon = env.update(&addon, &env.spec("eks_addon", "vpc_cni", addon_attrs.clone())).await;
    let a = env.eks.describe_addon().cluster_name("platform").addon_name("vpc-cni").send().await;
    let a = a.expect("describe addon").addon.expect("addon");
    assert_eq!(a.addon_version(), Some("v1.20.4-eksbuild.2"));
    assert_eq!(a.configuration_values(), addon_attrs["configuration_values"].as_str());
    let addon_updates = env.eks.list_updates().name("platform").addon_name("vpc-cni").send().await;
    assert_eq!(addon_updates.expect("list updates").update_ids().len(), 1);

    // --- pod identity association -------------------------------------------------------
    let mut pia_attrs = json!({"cluster_name": "platform", "namespace": "kube-system",
        "service_account": "ebs-csi-controller-sa", "role_arn": role("ebs-csi"), "tags": {"for": "ebs"}});
    let pia = env.create(&env.spec("eks_pod_identity_association", "ebs", pia_attrs.clone())).await;
    let aid = pia.attrs["association_id"].as_str().expect("association id").to_string();
    assert_eq!(pia.id, format!("platform/{aid}"));
    pia_attrs["role_arn"] = json!(role("ebs-csi-v2"));
    let pia = env.update(&pia, &env.spec("eks_pod_identity_association", "ebs", pia_attrs.clone())).await;
    let p = env.eks.describe_pod_identity_association().cluster_name("platform").association_id(&aid).send().await;
    let p = p.expect("describe association").association.expect("association");
    assert_eq!(p.role_arn(), Some(role("ebs-csi-v2").as_str()));
    assert_eq!(
        p.tags().and_then(|t| t.get("kprov:address")).map(String::as_str),
        Some("eks_pod_identity_association.ebs")
    );

    // --- access entry and policy association --------------------------------------------
    let admin = format!("arn:aws:iam::{ACCOUNT}:role/platform/admin");
    let mut entry_attrs = json!({"cluster_name": "platform", "principal_arn": admin, "kubernetes_groups": ["ops"]});
    let entry = env.create(&env.spec("eks_access_entry", "admin", entry_attrs.clone())).await;
    assert_eq!(entry.id, format!("platform/{admin}"));
    entry_attrs["kubernetes_groups"] = json!(["ops", "auditors"]);
    let entry = env.update(&entry, &env.spec("eks_access_entry", "admin", entry_attrs.clone())).await;
    let e = env.eks.describe_access_entry().cluster_name("platform").principal_arn(&admin).send().await;
    let e = e.expect("describe access entry").access_entry.expect("entry");
    assert_eq!(sorted(e.kubernetes_groups().to_vec()), ["auditors", "ops"]);
    assert_eq!(e.r#type(), Some("STANDARD"));

    let view = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
    let mut pol_attrs = json!({"cluster_name": "platform", "principal_arn": admin, "policy_arn": view,
        "access_scope": "namespace", "namespaces": ["apps", "web"]});
    let pol = env.create(&env.spec("eks_access_policy_association", "admin_view", pol_attrs.clone())).await;
    assert_eq!(pol.id, format!("platform/{admin}#{view}"));
    pol_attrs["access_scope"] = json!("cluster");
    pol_attrs["namespaces"] = json!([]);
    let pol = env.update(&pol, &env.spec("eks_access_policy_association", "admin_view", pol_attrs.clone())).await;
    let listed = env.eks.list_associated_access_policies().cluster_name("platform").principal_arn(&admin).send().await;
    let listed = listed.expect("list associated policies");
    let ap = &listed.associated_access_policies()[0];
    assert_eq!(ap.policy_arn(), Some(view));
    assert_eq!(ap.access_scope().and_then(|s| s.r#type()), Some(&AccessScopeType::Cluster));

    // --- find_owned sees what kprov created, by its ownership tags ----------------------
    for (kind, id) in [
        ("eks_cluster", "platform".to_string()),
        ("eks_nodegroup", "platform/application".to_string()),
        ("eks_addon", "platform/vpc-cni".to_string()),
        ("eks_pod_identity_association", pia.id.clone()),
        ("eks_access_entry", entry.id.clone()),
    ] {
        let owned = env.kind(kind).find_owned(&env.cx).await.unwrap_or_else(|e| panic!("find_owned {kind}: {e}"));
        let ids: Vec<&str> = owned.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, [id.as_str()], "{kind}");
    }

    // --- deletes, in reverse order; then nothing is left --------------------------------
    env.delete_twice("eks_access_policy_association", &pol).await;
    env.delete_twice("eks_access_entry", &entry).await;
    env.delete_twice("eks_pod_identity_association", &pia).await;
    env.delete_twice("eks_addon", &addon).await;
    env.delete_twice("eks_nodegroup", &ng).await;
    let sg = cluster.attrs["cluster_security_group_id"].as_str().expect("cluster sg").to_string();
    env.delete_twice("eks_cluster", &cluster).await;
    let clusters = env.eks.list_clusters().send().await.expect("list clusters");
    assert!(clusters.clusters().is_empty(), "{:?}", clusters.clusters());
    let err = env.eks.describe_cluster().name("platform").send().await.expect_err("cluster gone");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let sgs = env.ec2.describe_security_groups().group_ids(&sg).send().await;
    assert!(sgs.is_err(), "the cluster security group goes with the cluster");
}

#[tokio::test]
async fn interrupted_creates_are_adopted_and_foreign_conflicts_refused() {
    const REGION: &str = "ap-northeast-2";
    let env = Env::new(REGION).await;
    let subnets = env.subnets(REGION).await;
    let attrs = |name: &str| {
        json!({"name": name, "version": "1.30", "role_arn": role("eks-cluster"), "subnet_ids": subnets,
               "authentication_mode": "API_AND_CONFIG_MAP"})
    };

    // A cluster created by an earlier, interrupted kprov run: it carries this resource's
    // ownership tags. The create is adopted, not duplicated and not refused.
    let spec = env.spec("eks_cluster", "main", attrs("mine"));
    let mut tags = HashMap::new();
    for (k, v) in env.cx.ownership_tags(&spec.address) {
        tags.insert(k, v);
    }
    let vpc = aws_sdk_eks::types::VpcConfigRequest::builder().set_subnet_ids(Some(subnets.clone())).build();
    env.eks
        .create_cluster()
        .name("mine")
        .version("1.30")
        .role_arn(role("eks-cluster"))
        .resources_vpc_config(vpc.clone())
        .set_tags(Some(tags))
        .send()
        .await
        .expect("earlier create");
    let arn = env.cluster("mine").await.arn().map(str::to_string);
    let adopted = env.create(&spec).await;
    assert_eq!(adopted.attrs["arn"].as_str(), arn.as_deref(), "the same cluster, adopted");
    let found = env.kind("eks_cluster").find_owned(&env.cx).await.expect("find_owned");
    assert_eq!(found.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["mine"]);

    // Somebody else's cluster with the name kprov wants: AWS's conflict stands.
    env.eks
        .create_cluster()
        .name("theirs")
        .role_arn(role("eks-cluster"))
        .resources_vpc_config(vpc)
        .send()
        .await
        .expect("foreign cluster");
    let spec = env.spec("eks_cluster", "other", attrs("theirs"));
    let err = env.kind("eks_cluster").create(&env.cx, &spec).await.expect_err("conflict");
    assert_eq!(err.code(), Some("ResourceInUseException"), "{err}");
    let found = env.kind("eks_cluster").find_owned(&env.cx).await.expect("find_owned");
    assert_eq!(found.len(), 1, "a foreign cluster is never owned");

    for name in ["mine", "theirs"] {
        env.eks.delete_cluster().name(name).send().await.expect("cleanup");
    }
}
