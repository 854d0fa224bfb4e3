//! The full reference platform, prod environment, end to end through the kprov binary against
//! moto + kprov's EKS extension: apply → every kind checked through the SDK (counts, key
//! attributes, ownership tags) → plan again: no changes → a node-group bound change in the
//! overlay plans as an in-place update and applies → destroy is refused while prod's deletion
//! protection is on → turned off, destroy leaves nothing of the stack.
//! Runs in its own region through the prod overlay of a scratch copy of `plans/`. IAM and
//! Route53 are global in moto: the `platform-prod-` names and the prod zone are this test's only.

mod support;

use predicates::prelude::*;
use predicates::str::contains;

const REGION: &str = "eu-west-3";
const ENV: &str = "prod";

fn overlay(dir: &std::path::Path, extra: &str) {
    let p = dir.join("plans/env/prod.toml");
    let base = std::fs::read_to_string(&p).expect("overlay");
    // Only what pins the test to its region is added; prod's own settings stay.
    let text = format!(
        "{base}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}c\"]\n{extra}"
    );
    std::fs::write(p, text).expect("write overlay");
}

fn set_overlay(dir: &std::path::Path, from: &str, to: &str) {
    let p = dir.join("plans/env/prod.toml");
    let text = std::fs::read_to_string(&p).expect("overlay");
    assert!(text.contains(from), "{from:?} not in the prod overlay");
    std::fs::write(p, text.replace(from, to)).expect("write overlay");
}

fn apply(dir: &std::path::Path) -> assert_cmd::assert::Assert {
    support::kprov(dir).args(["apply", "--env", ENV, "--auto-approve", "--progress", "plain"]).assert()
}

#[tokio::test(flavor = "multi_thread")]
async fn prod_platform_applies_verifies_replans_clean_scales_in_place_and_destroys() {
    let dir = support::scratch_platform_plans();
    let root = dir.path();
    overlay(root, "");
    let sdk = support::sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let eks = aws_sdk_eks::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let acm = aws_sdk_acm::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let cluster = "platform-prod";

    apply(root).success().stderr(contains("apply complete"));

    // ---- network: 3 AZs, a NAT gateway per AZ, flow logs ----
    let owned = aws_sdk_ec2::types::Filter::builder().name("tag:kprov:env").values(ENV).build();
    let vpcs = ec2.describe_vpcs().filters(owned.clone()).send().await.expect("vpcs").vpcs.unwrap_or_default();
    assert_eq!(vpcs.len(), 1);
    let vpc_id = vpcs[0].vpc_id().expect("vpc id").to_string();
    let subnets =
        ec2.describe_subnets().filters(owned.clone()).send().await.expect("subnets").subnets.unwrap_or_default();
    assert_eq!(subnets.len(), 9);
    let nats = ec2.describe_nat_gateways().filter(owned.clone()).send().await.expect("nats");
    let live = nats.nat_gateways().iter().filter(|n| n.state().map(|s| s.as_str()) == Some("available")).count();
    assert_eq!(live, 3, "prod: one NAT gateway per AZ");
    let fl = ec2.describe_flow_logs().filter(owned.clone()).send().await.expect("flow logs");
    assert_eq!(fl.flow_logs().len(), 1);
    assert_eq!(fl.flow_logs()[0].resource_id(), Some(vpc_id.as_str()));
    assert_eq!(fl.flow_logs()[0].log_group_name(), Some("/aws/vpc/platform-prod/flow-logs"));

    // ---- IAM: every role, tagged; the deploy role pinned to one repository ----
    let roles = iam.list_roles().max_items(1000).send().await.expect("roles");
    let mut names: Vec<&str> =
        roles.roles().iter().map(|r| r.role_name()).filter(|n| n.starts_with("platform-prod-")).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "platform-prod-cloudwatch-agent",
            "platform-prod-cluster-autoscaler",
            "platform-prod-ebs-csi",
            "platform-prod-efs-csi",
            "platform-prod-eks-admin",
            "platform-prod-eks-cluster",
            "platform-prod-eks-node",
            "platform-prod-eks-readonly",
            "platform-prod-external-dns",
            "platform-prod-github-deploy",
            "platform-prod-lb-controller",
            "platform-prod-vpc-cni",
            "platform-prod-vpc-flow-logs",
        ]
    );
    let deploy = iam.get_role().role_name("platform-prod-github-deploy").send().await.expect("deploy role");
    let deploy = deploy.role().expect("role");
    let trust = urlencoding_decode(deploy.assume_role_policy_document().expect("trust"));
    assert!(trust.contains("repo:acme/platform-apps:ref:refs/heads/main"), "{trust}");
    assert!(trust.contains("token.actions.githubusercontent.com:aud"), "{trust}");
    assert!(deploy.tags().iter().any(|t| t.key() == "kprov:env" && t.value() == ENV));
    let providers = iam.list_open_id_connect_providers().send().await.expect("oidc");
    assert!(
        providers
            .open_id_connect_provider_list()
            .iter()
            .any(|p| p.arn().is_some_and(|a| a.ends_with("oidc-provider/token.actions.githubusercontent.com"))),
        "GitHub OIDC provider"
    );
    let ebs = iam.list_attached_role_policies().role_name("platform-prod-ebs-csi").send().await.expect("ebs");
    assert_eq!(
        ebs.attached_policies().iter().filter_map(|p| p.policy_arn()).collect::<Vec<_>>(),
        ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]
    );

    // ---- Route53 + ACM: the zone, the alias records, an issued certificate ----
    let zones = r53.list_hosted_zones_by_name().dns_name("prod.platform.example.com").send().await.expect("zones");
    let zone = zones.hosted_zones().iter().find(|z| z.name() == "prod.platform.example.com.").expect("prod zone");
    let zone_id = zone.id().trim_start_matches("/hostedzone/").to_string();
    let dns = iam.get_role_policy().role_name("platform-prod-external-dns").policy_name("route53").send().await;
    let dns = urlencoding_decode(dns.expect("external-dns policy").policy_document());
    assert!(dns.contains(&format!("arn:aws:route53:::hostedzone/{zone_id}")), "ExternalDNS limited to the zone: {dns}");
    let records = r53.list_resource_record_sets().hosted_zone_id(&zone_id).send().await.expect("records");
    let aliases: Vec<&str> =
        records.resource_record_sets().iter().filter(|r| r.alias_target().is_some()).map(|r| r.name()).collect();
    assert_eq!(aliases.len(), 2, "{aliases:?}");
    let certs = acm.list_certificates().send().await.expect("certs");
    let cert = certs
        .certificate_summary_list()
        .iter()
        .find(|c| c.domain_name() == Some("prod.platform.example.com"))
        .expect("certificate");
    let cert_arn = cert.certificate_arn().expect("arn").to_string();
    let desc = acm.describe_certificate().certificate_arn(&cert_arn).send().await.expect("describe cert");
    assert_eq!(desc.certificate().and_then(|c| c.status()).map(|s| s.as_str()), Some("ISSUED"));

    // ---- ELBv2: internet-facing ALB in the public subnets, 80 → 443, HTTPS with the cert ----
    let lbs = elb.describe_load_balancers().names(cluster).send().await.expect("lb");
    let lb = &lbs.load_balancers()[0];
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.availability_zones().len(), 3);
    let lb_arn = lb.load_balancer_arn().expect("arn").to_string();
    let attrs = elb.describe_load_balancer_attributes().load_balancer_arn(&lb_arn).send().await.expect("attrs");
    let protection = attrs.attributes().iter().find(|a| a.key() == Some("deletion_protection.enabled"));
    assert_eq!(protection.and_then(|a| a.value()), Some("true"), "prod's ALB is protected");
    let listeners = elb.describe_listeners().load_balancer_arn(&lb_arn).send().await.expect("listeners");
    let mut ports: Vec<i32> = listeners.listeners().iter().filter_map(|l| l.port()).collect();
    ports.sort();
    assert_eq!(ports, [80, 443]);
    for l in listeners.listeners() {
        let action = &l.default_actions()[0];
        if l.port() == Some(80) {
            let redirect = action.redirect_config().expect("80 redirects");
            assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
        } else {
            assert_eq!(l.certificates()[0].certificate_arn(), Some(cert_arn.as_str()));
        }
    }

    // ---- EKS: cluster, node groups, add-ons, pod identity, access entries ----
    let c = eks.describe_cluster().name(cluster).send().await.expect("cluster").cluster.expect("cluster");
    assert_eq!(c.version(), Some("1.30"));
    let vpc_cfg = c.resources_vpc_config().expect("vpc config");
    assert!(vpc_cfg.endpoint_private_access() && vpc_cfg.endpoint_public_access());
    assert_eq!(vpc_cfg.public_access_cidrs(), ["203.0.113.0/24"]);
    assert_eq!(vpc_cfg.subnet_ids().len(), 3);
    let enabled: usize = c
        .logging()
        .map(|l| l.cluster_logging().iter().filter(|s| s.enabled() == Some(true)).map(|s| s.types().len()).sum())
        .unwrap_or(0);
    assert_eq!(enabled, 5, "every control-plane log type");
    let key_arn = c.encryption_config()[0].provider().and_then(|p| p.key_arn()).expect("secrets key").to_string();
    let key = kms.describe_key().key_id(&key_arn).send().await.expect("key");
    let key_id = key.key_metadata().expect("metadata").key_id().to_string();
    let rotation = kms.get_key_rotation_status().key_id(&key_id).send().await.expect("rotation");
    assert!(rotation.key_rotation_enabled());
    assert_eq!(c.tags().and_then(|t| t.get("kprov:env")).map(String::as_str), Some(ENV));

    let mut ngs = eks.list_nodegroups().cluster_name(cluster).send().await.expect("ngs").nodegroups.unwrap_or_default();
    ngs.sort();
    assert_eq!(ngs, ["application", "compute-intensive", "memory-intensive", "system"]);
    let private: std::collections::BTreeSet<String> = subnets
        .iter()
        .filter(|s| {
            s.tags().iter().any(|t| t.key() == Some("Name") && t.value().is_some_and(|v| v.contains("-private-")))
        })
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    assert_eq!(private.len(), 3);
    for name in &ngs {
        let ng = eks.describe_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await;
        let ng = ng.expect("nodegroup").nodegroup.expect("nodegroup");
        let in_private = ng.subnets().iter().all(|s| private.contains(s));
        assert!(in_private && ng.subnets().len() == 3, "{name}: worker nodes only in private subnets");
        let scaling = ng.scaling_config().expect("scaling");
        match name.as_str() {
            "system" => {
                assert_eq!(ng.taints()[0].key(), Some("CriticalAddonsOnly"));
                assert_eq!((scaling.min_size(), scaling.max_size()), (Some(3), Some(6)));
            }
            "application" => {
                assert_eq!(ng.ami_type().map(|a| a.as_str()), Some("AL2023_ARM_64_STANDARD"));
                assert!(ng.instance_types().iter().all(|t| t.starts_with("t4g.")));
            }
            "compute-intensive" => assert!(ng.instance_types().iter().all(|t| t.starts_with("c5."))),
            _ => assert!(ng.instance_types().iter().all(|t| t.starts_with("r5."))),
        }
    }
    let mut addons = eks.list_addons().cluster_name(cluster).send().await.expect("addons").addons.unwrap_or_default();
    addons.sort();
    assert_eq!(
        addons,
        [
            "amazon-cloudwatch-observability",
            "aws-ebs-csi-driver",
            "aws-efs-csi-driver",
            "coredns",
            "eks-pod-identity-agent",
            "kube-proxy",
            "vpc-cni"
        ]
    );
    let cni = eks.describe_addon().cluster_name(cluster).addon_name("vpc-cni").send().await.expect("cni");
    let cni_cfg = cni.addon().and_then(|a| a.configuration_values()).unwrap_or_default().to_string();
    assert!(cni_cfg.contains("\"ENABLE_PREFIX_DELEGATION\":\"true\""), "{cni_cfg}");
    let pias = eks.list_pod_identity_associations().cluster_name(cluster).send().await.expect("pias");
    let mut sas: Vec<&str> = pias.associations().iter().filter_map(|a| a.service_account()).collect();
    sas.sort();
    assert_eq!(
        sas,
        [
            "aws-load-balancer-controller",
            "aws-node",
            "cloudwatch-agent",
            "cluster-autoscaler",
            "ebs-csi-controller-sa",
            "efs-csi-controller-sa",
            "external-dns"
        ]
    );
    let entries = eks.list_access_entries().cluster_name(cluster).send().await.expect("entries");
    let mut entries: Vec<&str> = entries.access_entries().iter().map(String::as_str).collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "arn:aws:iam::123456789012:role/platform-prod-eks-admin",
            "arn:aws:iam::123456789012:role/platform-prod-eks-readonly"
        ]
    );
    let view = eks
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(entries[1])
        .send()
        .await
        .expect("policies");
    assert_eq!(
        view.associated_access_policies().iter().filter_map(|p| p.policy_arn()).collect::<Vec<_>>(),
        ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"]
    );

    // ---- ECR and logs ----
    let repo = ecr.describe_repositories().repository_names("platform-prod/app").send().await.expect("repo");
    let repo = &repo.repositories()[0];
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
    assert_eq!(repo.image_scanning_configuration().map(|s| s.scan_on_push()), Some(true));
    let groups = logs.describe_log_groups().send().await.expect("log groups");
    let mut retained: Vec<(&str, Option<i32>)> =
        groups.log_groups().iter().filter_map(|g| g.log_group_name().map(|n| (n, g.retention_in_days()))).collect();
    retained.sort();
    assert_eq!(
        retained,
        [("/aws/eks/platform-prod/cluster", Some(90)), ("/aws/vpc/platform-prod/flow-logs", Some(90))]
    );

    // Every attribute reads back as planned: nothing to do.
    support::kprov(root).args(["plan", "--env", ENV, "--detailed-exitcode"]).assert().code(0);

    // A bound change of one node group in the prod overlay is an in-place update of that group.
    set_overlay(root, "system = { min = 3, max = 6 }", "system = { min = 3, max = 8 }");
    support::kprov(root)
        .args(["plan", "--env", ENV, "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(contains("~ eks_nodegroup.main[\"system\"] will be updated in place"))
        .stdout(contains("1 to update, 0 to replace"))
        .stdout(contains("must be replaced").not());
    apply(root).success();
    let sys = eks.describe_nodegroup().cluster_name(cluster).nodegroup_name("system").send().await;
    let sys = sys.expect("system").nodegroup.expect("nodegroup");
    assert_eq!(sys.scaling_config().and_then(|s| s.max_size()), Some(8));
    support::kprov(root).args(["plan", "--env", ENV, "--detailed-exitcode"]).assert().code(0);

    // prod's deletion protection holds: the destroy stops at the load balancer.
    support::kprov(root).args(["destroy", "--env", ENV, "--auto-approve", "--progress", "plain"]).assert().failure();
    assert_eq!(elb.describe_load_balancers().names(cluster).send().await.expect("lb").load_balancers().len(), 1);
    // Turned off on purpose, it goes.
    set_overlay(root, "deletion_protection = true", "deletion_protection = false");
    apply(root).success();
    support::kprov(root).args(["destroy", "--env", ENV, "--auto-approve", "--progress", "plain"]).assert().success();

    // ---- nothing of the stack is left ----
    assert!(ec2.describe_vpcs().filters(owned.clone()).send().await.expect("vpcs").vpcs().is_empty());
    assert!(ec2.describe_subnets().filters(owned.clone()).send().await.expect("subnets").subnets().is_empty());
    assert!(eks.list_clusters().send().await.expect("clusters").clusters().is_empty());
    assert!(elb.describe_load_balancers().send().await.expect("lbs").load_balancers().is_empty());
    assert!(elb.describe_target_groups().send().await.expect("tgs").target_groups().is_empty());
    let roles = iam.list_roles().max_items(1000).send().await.expect("roles");
    assert!(!roles.roles().iter().any(|r| r.role_name().starts_with("platform-prod-")));
    let zones = r53.list_hosted_zones_by_name().dns_name("prod.platform.example.com").send().await.expect("zones");
    assert!(!zones.hosted_zones().iter().any(|z| z.name() == "prod.platform.example.com."));
    assert!(ecr.describe_repositories().send().await.expect("repos").repositories().is_empty());
    assert!(logs.describe_log_groups().send().await.expect("groups").log_groups().is_empty());
    let certs = acm.list_certificates().send().await.expect("certs");
    assert!(certs.certificate_summary_list().is_empty());
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
