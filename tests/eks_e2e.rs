//! End to end through the kprov binary against moto + kprov's EKS extension: the network plans
//! plus a cluster, two node groups (x86 system pool with a taint, Graviton application pool),
//! add-ons, pod identity, an access entry and its policy. Apply → checked through the SDK →
//! plan again: no changes (every EKS attribute reads back as planned) → a node-group scaling
//! change in the overlay plans as an in-place update and applies → destroy leaves no cluster.
//! Runs in its own region through its own overlay (`plans/env/ekse2e.toml` in a scratch copy).

mod support;

use predicates::prelude::*;
use predicates::str::contains;

const REGION: &str = "eu-south-1";
const ENV: &str = "ekse2e";

const OVERLAY: &str = r#"
[variables]
region = "eu-south-1"
availability_zones = ["eu-south-1a", "eu-south-1b", "eu-south-1c"]
az_count = 2
nat_mode = "single"
system_max = 3
"#;

const EKS: &str = r#"
[variables]
system_max = 2

[locals]
private_a = "${ec2_subnet.private[\"eu-south-1a\"].id}"
private_b = "${ec2_subnet.private[\"eu-south-1b\"].id}"

[resource.eks_cluster.main]
name = "${local.name_prefix}"
version = "1.30"
role_arn = "arn:aws:iam::123456789012:role/eks-cluster"
subnet_ids = ["${local.private_a}", "${local.private_b}"]
endpoint_private_access = true
public_access_cidrs = ["203.0.113.0/24"]
enabled_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
encryption_kms_key_arn = "arn:aws:kms:eu-south-1:123456789012:key/11111111-2222-3333-4444-555555555555"
authentication_mode = "API"

[resource.eks_nodegroup.system]
cluster_name = "${eks_cluster.main.name}"
name = "system"
node_role_arn = "arn:aws:iam::123456789012:role/eks-node"
subnet_ids = ["${local.private_a}", "${local.private_b}"]
instance_types = ["m6i.large"]
min_size = 1
max_size = "${var.system_max}"
labels = { role = "system" }
taints = [{ key = "CriticalAddonsOnly", value = "true", effect = "NO_SCHEDULE" }]

[resource.eks_nodegroup.application]
cluster_name = "${eks_cluster.main.name}"
name = "application"
node_role_arn = "arn:aws:iam::123456789012:role/eks-node"
subnet_ids = ["${local.private_b}", "${local.private_a}"]
instance_types = ["t4g.large", "t4g.xlarge"]
ami_type = "AL2023_ARM_64_STANDARD"
min_size = 2
max_size = 6
max_unavailable_percentage = 25

[resource.eks_addon.vpc_cni]
cluster_name = "${eks_cluster.main.name}"
addon_name = "vpc-cni"
configuration_values = '{"env":{"ENABLE_PREFIX_DELEGATION":"true"}}'
pod_identity_associations = [{ service_account = "aws-node", role_arn = "arn:aws:iam::123456789012:role/vpc-cni" }]

[resource.eks_addon.coredns]
cluster_name = "${eks_cluster.main.name}"
addon_name = "coredns"
depends_on = ["eks_nodegroup.system"]

[resource.eks_pod_identity_association.ebs_csi]
cluster_name = "${eks_cluster.main.name}"
namespace = "kube-system"
service_account = "ebs-csi-controller-sa"
role_arn = "arn:aws:iam::123456789012:role/ebs-csi"

[resource.eks_access_entry.admin]
cluster_name = "${eks_cluster.main.name}"
principal_arn = "arn:aws:iam::123456789012:role/platform-admin"

[resource.eks_access_policy_association.admin]
cluster_name = "${eks_cluster.main.name}"
principal_arn = "${eks_access_entry.admin.principal_arn}"
policy_arn = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn eks_plan_applies_replans_clean_scales_in_place_and_destroys() {
    let dir = support::scratch_plans();
    let root = dir.path();
    std::fs::write(root.join("plans/eks.toml"), EKS).expect("write plans");
    std::fs::write(root.join(format!("plans/env/{ENV}.toml")), OVERLAY).expect("write overlay");
    let eks = aws_sdk_eks::Client::new(&support::sdk_config(REGION).await);
    let cluster_name = format!("platform-{ENV}");

    support::kprov(root)
        .args(["apply", "--env", ENV, "--auto-approve", "--progress", "plain"])
        .assert()
        .success()
        .stderr(contains("apply complete"));

    // ---- independent checks through the SDK ----
    let c = eks.describe_cluster().name(&cluster_name).send().await.expect("cluster").cluster.expect("cluster");
    let tags = c.tags().expect("tags");
    assert_eq!(tags.get("kprov:env").map(String::as_str), Some(ENV));
    assert_eq!(tags.get("ManagedBy").map(String::as_str), Some("kprov"), "default_tags reach EKS resources");
    assert_eq!(c.resources_vpc_config().map(|v| v.subnet_ids().len()), Some(2));
    let mut ngs =
        eks.list_nodegroups().cluster_name(&cluster_name).send().await.expect("nodegroups").nodegroups.unwrap();
    ngs.sort();
    assert_eq!(ngs, ["application", "system"]);
    let app = eks.describe_nodegroup().cluster_name(&cluster_name).nodegroup_name("application").send().await;
    let app = app.expect("application").nodegroup.expect("nodegroup");
    assert_eq!(app.ami_type().map(|a| a.as_str()), Some("AL2023_ARM_64_STANDARD"));
    assert_eq!(app.update_config().and_then(|u| u.max_unavailable_percentage()), Some(25));
    let mut addons = eks.list_addons().cluster_name(&cluster_name).send().await.expect("addons").addons.unwrap();
    addons.sort();
    assert_eq!(addons, ["coredns", "vpc-cni"]);
    let entries = eks.list_access_entries().cluster_name(&cluster_name).send().await.expect("entries");
    assert_eq!(entries.access_entries(), ["arn:aws:iam::123456789012:role/platform-admin"]);
    let pias = eks.list_pod_identity_associations().cluster_name(&cluster_name).send().await.expect("pias");
    assert_eq!(pias.associations().len(), 2, "one for the vpc-cni add-on, one standalone");

    // Every attribute reads back as planned: nothing to do.
    support::kprov(root).args(["plan", "--env", ENV, "--detailed-exitcode"]).assert().code(0);

    // A scaling change in the overlay is an in-place update of that node group only.
    let overlay = OVERLAY.replace("system_max = 3", "system_max = 5");
    std::fs::write(root.join(format!("plans/env/{ENV}.toml")), overlay).expect("write overlay");
    support::kprov(root)
        .args(["plan", "--env", ENV, "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(contains("~ eks_nodegroup.system will be updated in place"))
        .stdout(contains("1 to update, 0 to replace"))
        .stdout(contains("must be replaced").not());
    support::kprov(root).args(["apply", "--env", ENV, "--auto-approve", "--progress", "plain"]).assert().success();
    let sys = eks.describe_nodegroup().cluster_name(&cluster_name).nodegroup_name("system").send().await;
    let sys = sys.expect("system").nodegroup.expect("nodegroup");
    assert_eq!(sys.scaling_config().and_then(|s| s.max_size()), Some(5));
    support::kprov(root).args(["plan", "--env", ENV, "--detailed-exitcode"]).assert().code(0);

    // What the AWS Load Balancer Controller makes for an Ingress: a group and a load balancer
    // tagged with the cluster, a rule in kprov's group letting the balancer in. A destroy that
    // started would stall on them: it refuses first, naming them, and deletes nothing.
    let sdk = support::sdk_config(REGION).await;
    let (ec2, elb) = (aws_sdk_ec2::Client::new(&sdk), aws_sdk_elasticloadbalancingv2::Client::new(&sdk));
    let vpc = c.resources_vpc_config().expect("vpc config");
    let (vpc_id, subnets) = (vpc.vpc_id().expect("vpc").to_string(), vpc.subnet_ids().to_vec());
    let owned_groups = ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(&vpc_id).build())
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:kprov:env").values(ENV).build())
        .send()
        .await
        .expect("kprov's groups");
    let kprov_group =
        owned_groups.security_groups().first().and_then(|g| g.group_id()).expect("a kprov group").to_string();
    let lbc_tag = aws_sdk_ec2::types::Tag::builder().key("elbv2.k8s.aws/cluster").value(&cluster_name).build();
    let k8s_group = ec2
        .create_security_group()
        .group_name("k8s-default-web")
        .description("[k8s] Managed SecurityGroup for LoadBalancer")
        .vpc_id(&vpc_id)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(lbc_tag)
                .build(),
        )
        .send()
        .await
        .expect("controller group")
        .group_id()
        .expect("id")
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&kprov_group)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(8080)
                .to_port(8080)
                .user_id_group_pairs(aws_sdk_ec2::types::UserIdGroupPair::builder().group_id(&k8s_group).build())
                .build(),
        )
        .send()
        .await
        .expect("controller rule in kprov's group");
    let lb = elb
        .create_load_balancer()
        .name("k8s-default-web-0123456789")
        .set_subnets(Some(subnets))
        .security_groups(&k8s_group)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("elbv2.k8s.aws/cluster")
                .value(&cluster_name)
                .build(),
        )
        .send()
        .await
        .expect("controller load balancer");
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string();
    support::kprov(root)
        .args(["destroy", "--env", ENV, "--auto-approve", "--progress", "plain"])
        .assert()
        .code(1)
        .stderr(contains("made by in-cluster controllers"))
        .stderr(contains(lb_arn.as_str()))
        .stderr(contains(k8s_group.as_str()))
        .stderr(contains("--delete-controller-resources"));
    assert!(eks.describe_cluster().name(&cluster_name).send().await.is_ok(), "nothing was deleted");

    support::kprov(root)
        .args(["destroy", "--env", ENV, "--auto-approve", "--progress", "plain", "--delete-controller-resources"])
        .assert()
        .success();
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    assert!(lbs.load_balancers().iter().all(|l| l.load_balancer_arn() != Some(lb_arn.as_str())), "balancer deleted");
    let groups = ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(&vpc_id).build())
        .send()
        .await
        .expect("groups");
    assert!(
        groups.security_groups().iter().all(|g| g.group_id() != Some(k8s_group.as_str())),
        "controller group deleted"
    );
    let clusters = eks.list_clusters().send().await.expect("clusters");
    assert!(clusters.clusters().is_empty(), "{:?}", clusters.clusters());
}
