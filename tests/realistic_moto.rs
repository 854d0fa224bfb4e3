//! The emulator's realistic mode (`scripts/moto_ext/kprov_moto_eks/realistic.py`, docs/testing.md
//! "Realistic mode"): each rule triggered through the AWS SDK alone — no kprov code — with the
//! error code AWS sends inside the rule's window and success after it.
//!
//! Isolation: every test enables the mode in region `ap-southeast-6` (no other test uses it) for
//! an account of its own (moto's `x-moto-account-id` header, added to every request by
//! [`Account`]), with the scale that makes its windows a second or a few: a window of W real-AWS
//! seconds lasts between 0.8 × W × scale and W × scale. One test checks that an account (and so a
//! region) where the mode is not enabled sees moto's usual instant answers.

#[path = "support/inventory.rs"]
mod inventory;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use aws_sdk_eks::types::{LogSetup, LogType, Logging, VpcConfigRequest};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

const REGION: &str = "ap-southeast-6";

/// Sends moto's `x-moto-account-id` header: each test has its own account, hence its own state
/// and its own realistic-mode scale.
#[derive(Debug)]
struct Account(String);

impl Intercept for Account {
    fn name(&self) -> &'static str {
        "moto-account"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context.request_mut().headers_mut().insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

struct Aws {
    account: String,
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    kms: aws_sdk_kms::Client,
    eks: aws_sdk_eks::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    acm: aws_sdk_acm::Client,
    r53: aws_sdk_route53::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

macro_rules! client {
    ($krate:ident, $sdk:expr, $account:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk).interceptor(Account($account.to_string())).build(),
        )
    };
}

impl Aws {
    async fn new(account: &str) -> Aws {
        let sdk = support::sdk_config(REGION).await;
        Aws {
            account: account.to_string(),
            ec2: client!(aws_sdk_ec2, &sdk, account),
            iam: client!(aws_sdk_iam, &sdk, account),
            kms: client!(aws_sdk_kms, &sdk, account),
            eks: client!(aws_sdk_eks, &sdk, account),
            elb: client!(aws_sdk_elasticloadbalancingv2, &sdk, account),
            acm: client!(aws_sdk_acm, &sdk, account),
            r53: client!(aws_sdk_route53, &sdk, account),
            logs: client!(aws_sdk_cloudwatchlogs, &sdk, account),
        }
    }

    /// The SDK clients of `account`, with the realistic mode on at `scale` for that account.
    async fn realistic(account: &str, scale: f64) -> Aws {
        let body = format!(r#"{{"region": "{REGION}", "account": "{account}", "scale": {scale}, "seed": 7}}"#);
        let answer = control("POST", &body);
        assert!(answer.contains(account), "realistic mode not enabled: {answer}");
        Aws::new(account).await
    }
}

/// A request to the control endpoint; the answer's body.
fn control(method: &str, body: &str) -> String {
    let addr = support::moto_endpoint().trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect to moto");
    let req = format!(
        "{method} /kprov-api/realistic HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: \
         {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "control endpoint: {answer}");
    answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

/// The AWS error code of a failed call, "OK" for a success.
fn code<T, E: ProvideErrorMetadata, R>(r: Result<T, SdkError<E, R>>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(e) => e.code().map(str::to_string).unwrap_or_else(|| "(no code: not an AWS error)".into()),
    }
}

fn message<T, E: ProvideErrorMetadata, R>(r: Result<T, SdkError<E, R>>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e.message().unwrap_or_default().to_string(),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn sleep_s(s: f64) {
    tokio::time::sleep(Duration::from_secs_f64(s)).await;
}

/// Polls `check` every 50 ms until it is true; the seconds it took. Panics after `limit_s`.
async fn until<F, Fut>(what: &str, limit_s: f64, mut check: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed().as_secs_f64();
        }
        assert!(start.elapsed().as_secs_f64() < limit_s, "{what}: not after {limit_s} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn vpc(aws: &Aws, cidr: &str) -> String {
    let out = aws.ec2.create_vpc().cidr_block(cidr).send().await.expect("CreateVpc");
    out.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string()
}

async fn subnet(aws: &Aws, vpc: &str, cidr: &str, az: &str) -> String {
    let out = aws
        .ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(format!("{REGION}{az}"))
        .send()
        .await
        .expect("CreateSubnet");
    out.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string()
}

async fn group(aws: &Aws, vpc: &str) -> String {
    let out = aws
        .ec2
        .create_security_group()
        .group_name(unique("g"))
        .description("realistic mode test")
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateSecurityGroup");
    out.group_id().expect("group id").to_string()
}

const EKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["eks.amazonaws.com","ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;

async fn role(aws: &Aws) -> String {
    let out = aws
        .iam
        .create_role()
        .role_name(unique("role"))
        .assume_role_policy_document(EKS_TRUST)
        .send()
        .await
        .expect("CreateRole");
    out.role().map(|r| r.arn().to_string()).expect("role arn")
}

fn trusting(arn: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{arn}"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

fn key_policy(arn: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{arn}"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// IAM propagation (window 10 s × 0.15 = 1.2–1.5 s): a role seconds old cannot be assumed by EKS,
/// is an invalid principal in a KMS key policy and in another role's trust policy.
#[tokio::test]
async fn realistic_fresh_role_is_unusable_by_eks_kms_and_trust_policies_then_usable() {
    let aws = Aws::realistic("710000000001", 0.15).await;
    let vpc = vpc(&aws, "10.1.0.0/16").await;
    let subnet = subnet(&aws, &vpc, "10.1.1.0/24", "a").await;
    let role = role(&aws).await;
    let cluster = unique("c");
    let create_cluster = || {
        aws.eks
            .create_cluster()
            .name(&cluster)
            .role_arn(&role)
            .resources_vpc_config(VpcConfigRequest::builder().subnet_ids(&subnet).build())
            .send()
    };

    let r = create_cluster().await;
    assert!(message(create_cluster().await).contains("could not be assumed"), "EKS message");
    assert_eq!(code(r), "InvalidParameterException", "CreateCluster with a fresh role");
    assert_eq!(
        code(aws.kms.create_key().policy(key_policy(&role)).send().await),
        "MalformedPolicyDocumentException",
        "CreateKey naming a fresh role"
    );
    let key = aws.kms.create_key().send().await.expect("CreateKey without policy");
    let key_id = key.key_metadata().map(|m| m.key_id().to_string()).expect("key id");
    assert_eq!(
        code(aws.kms.put_key_policy().key_id(&key_id).policy_name("default").policy(key_policy(&role)).send().await),
        "MalformedPolicyDocumentException",
        "PutKeyPolicy naming a fresh role"
    );
    let trusting_role = unique("trusting");
    let r = aws.iam.create_role().role_name(&trusting_role).assume_role_policy_document(trusting(&role)).send().await;
    assert_eq!(code(r), "MalformedPolicyDocument", "CreateRole trusting a fresh role");

    sleep_s(1.6).await;
    assert_eq!(code(create_cluster().await), "OK", "CreateCluster after the window");
    assert_eq!(code(aws.kms.create_key().policy(key_policy(&role)).send().await), "OK", "CreateKey after the window");
    assert_eq!(
        code(aws.iam.create_role().role_name(&trusting_role).assume_role_policy_document(trusting(&role)).send().await),
        "OK",
        "CreateRole after the window"
    );
}

/// EC2 eventual consistency (window 5 s × 0.3 = 1.2–1.5 s): Describe* by id and the follow-up
/// calls of a create answer the resource's NotFound code, listings by filter leave it out; then
/// all succeed and list it.
#[tokio::test]
async fn realistic_new_ec2_resources_are_not_found_then_found() {
    let aws = Aws::realistic("710000000002", 0.3).await;
    let vpc = vpc(&aws, "10.2.0.0/16").await;
    let subnet = subnet(&aws, &vpc, "10.2.1.0/24", "a").await;
    let rtb = aws.ec2.create_route_table().vpc_id(&vpc).send().await.expect("CreateRouteTable");
    let rtb = rtb.route_table().and_then(|t| t.route_table_id()).expect("rtb").to_string();
    let igw = aws.ec2.create_internet_gateway().send().await.expect("CreateInternetGateway");
    let igw = igw.internet_gateway().and_then(|g| g.internet_gateway_id()).expect("igw").to_string();
    let sg = group(&aws, &vpc).await;
    let ec2 = &aws.ec2;

    let describe = || async {
        [
            code(ec2.describe_subnets().subnet_ids(&subnet).send().await),
            code(ec2.describe_route_tables().route_table_ids(&rtb).send().await),
            code(ec2.describe_internet_gateways().internet_gateway_ids(&igw).send().await),
            code(ec2.describe_security_groups().group_ids(&sg).send().await),
            code(ec2.describe_vpcs().vpc_ids(&vpc).send().await),
        ]
    };
    let modify = || async {
        [
            code(
                ec2.modify_subnet_attribute()
                    .subnet_id(&subnet)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
                    .await,
            ),
            code(ec2.attach_internet_gateway().internet_gateway_id(&igw).vpc_id(&vpc).send().await),
            code(ec2.associate_route_table().route_table_id(&rtb).subnet_id(&subnet).send().await),
            code(
                ec2.create_route()
                    .route_table_id(&rtb)
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id(&igw)
                    .send()
                    .await,
            ),
        ]
    };
    let listed = || async {
        let by_vpc = Filter::builder().name("vpc-id").values(&vpc).build();
        let subnets = ec2.describe_subnets().filters(by_vpc.clone()).send().await.expect("DescribeSubnets by filter");
        let tables = ec2.describe_route_tables().filters(by_vpc).send().await.expect("DescribeRouteTables by filter");
        (
            subnets.subnets().iter().filter_map(|s| s.subnet_id().map(str::to_string)).collect::<Vec<_>>(),
            tables.route_tables().iter().any(|t| t.route_table_id() == Some(rtb.as_str())),
        )
    };
    assert_eq!(listed().await, (vec![], false), "a listing by filter leaves the new subnet and table out");
    assert_eq!(
        describe().await,
        [
            "InvalidSubnetID.NotFound",
            "InvalidRouteTableID.NotFound",
            "InvalidInternetGatewayID.NotFound",
            "InvalidGroup.NotFound",
            "InvalidVpcID.NotFound"
        ],
        "Describe* by id right after the creates"
    );
    assert_eq!(
        modify().await,
        [
            "InvalidSubnetID.NotFound",
            "InvalidInternetGatewayID.NotFound",
            "InvalidRouteTableID.NotFound",
            "InvalidRouteTableID.NotFound"
        ],
        "follow-up calls right after the creates"
    );

    sleep_s(1.6).await;
    assert_eq!(describe().await, ["OK"; 5], "Describe* after the window");
    assert_eq!(listed().await, (vec![subnet.clone()], true), "listed after the window");
    assert_eq!(modify().await, ["OK"; 4], "follow-up calls after the window");
    let subnets = ec2.describe_subnets().subnet_ids(&subnet).send().await.expect("DescribeSubnets");
    assert_eq!(subnets.subnets()[0].map_public_ip_on_launch(), Some(true), "the modification took");
}

/// ModifyVpcAttribute (window 5 s × 0.3): DescribeVpcAttribute reads the old value back, then the
/// new one.
#[tokio::test]
async fn realistic_vpc_attribute_reads_back_the_old_value_then_the_new() {
    let aws = Aws::realistic("710000000003", 0.3).await;
    let vpc = vpc(&aws, "10.3.0.0/16").await;
    let read = || async {
        let out = aws
            .ec2
            .describe_vpc_attribute()
            .vpc_id(&vpc)
            .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .expect("DescribeVpcAttribute");
        out.enable_dns_hostnames().and_then(|v| v.value())
    };
    assert_eq!(read().await, Some(false), "moto's default");
    aws.ec2
        .modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifyVpcAttribute");
    assert_eq!(read().await, Some(false), "right after the change: the old value");
    let took = until("the new value", 5.0, || async { read().await == Some(true) }).await;
    assert!(took > 1.0, "the old value lasted {took:.2} s, the window is 1.2–1.5 s");
}

/// KMS (window 10 s × 0.15): EnableKeyRotation and CreateAlias on a key seconds old answer
/// NotFoundException, then succeed.
#[tokio::test]
async fn realistic_new_kms_key_is_not_found_by_rotation_and_alias_then_found() {
    let aws = Aws::realistic("710000000004", 0.15).await;
    let key = aws.kms.create_key().send().await.expect("CreateKey");
    let key_id = key.key_metadata().map(|m| m.key_id().to_string()).expect("key id");
    let alias = format!("alias/{}", unique("k"));
    let rotate = || aws.kms.enable_key_rotation().key_id(&key_id).send();
    let name = || aws.kms.create_alias().alias_name(&alias).target_key_id(&key_id).send();
    let r = rotate().await;
    assert!(message(rotate().await).contains(&key_id), "the message names the key");
    assert_eq!(code(r), "NotFoundException", "EnableKeyRotation right after CreateKey");
    assert_eq!(code(name().await), "NotFoundException", "CreateAlias right after CreateKey");
    sleep_s(1.6).await;
    assert_eq!(code(rotate().await), "OK", "EnableKeyRotation after the window");
    assert_eq!(code(name().await), "OK", "CreateAlias after the window");
    let status = aws.kms.get_key_rotation_status().key_id(&key_id).send().await.expect("GetKeyRotationStatus");
    assert!(status.key_rotation_enabled(), "rotation on");
}

async fn enis(aws: &Aws, subnets: &[&str]) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
    let filter =
        Filter::builder().name("subnet-id").set_values(Some(subnets.iter().map(|s| s.to_string()).collect())).build();
    let out = aws.ec2.describe_network_interfaces().filters(filter).send().await.expect("DescribeNetworkInterfaces");
    out.network_interfaces().to_vec()
}

/// DeleteLoadBalancer (window 120 s × 0.02 = 1.9–2.4 s): one ENI `ELB app/<name>/<id>` per subnet,
/// in the balancer's group, stays; DeleteSubnet and DeleteSecurityGroup answer
/// DependencyViolation until it is gone.
#[tokio::test]
async fn realistic_deleted_load_balancer_leaves_enis_that_block_subnet_and_group_deletes() {
    let aws = Aws::realistic("710000000005", 0.02).await;
    let vpc = vpc(&aws, "10.5.0.0/16").await;
    let a = subnet(&aws, &vpc, "10.5.1.0/24", "a").await;
    let b = subnet(&aws, &vpc, "10.5.2.0/24", "b").await;
    let sg = group(&aws, &vpc).await;
    sleep_s(0.15).await; // past the EC2 NotFound window (5 s × 0.02)
    let name = unique("lb");
    let lb = aws
        .elb
        .create_load_balancer()
        .name(&name)
        .subnets(&a)
        .subnets(&b)
        .security_groups(&sg)
        .send()
        .await
        .expect("CreateLoadBalancer");
    let arn = lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string();
    aws.elb.delete_load_balancer().load_balancer_arn(&arn).send().await.expect("DeleteLoadBalancer");

    let left = enis(&aws, &[&a, &b]).await;
    let suffix = arn.split(":loadbalancer/").nth(1).expect("arn suffix");
    assert_eq!(left.len(), 2, "one ENI per subnet: {left:?}");
    for eni in &left {
        assert_eq!(eni.description(), Some(format!("ELB {suffix}").as_str()), "AWS's description");
        assert_eq!(eni.groups().iter().filter_map(|g| g.group_id()).collect::<Vec<_>>(), [sg.as_str()], "in the group");
    }
    assert_eq!(code(aws.ec2.delete_subnet().subnet_id(&a).send().await), "DependencyViolation", "DeleteSubnet");
    assert_eq!(
        code(aws.ec2.delete_security_group().group_id(&sg).send().await),
        "DependencyViolation",
        "DeleteSecurityGroup"
    );

    let took = until("the ENIs gone", 6.0, || async { enis(&aws, &[&a, &b]).await.is_empty() }).await;
    assert!(took > 1.5, "the ENIs lasted {took:.2} s, the window is 1.9–2.4 s");
    assert_eq!(code(aws.ec2.delete_subnet().subnet_id(&a).send().await), "OK", "DeleteSubnet after the window");
    assert_eq!(code(aws.ec2.delete_subnet().subnet_id(&b).send().await), "OK", "DeleteSubnet after the window");
    assert_eq!(code(aws.ec2.delete_security_group().group_id(&sg).send().await), "OK", "DeleteSecurityGroup after");
}

/// EKS at scale 0.01: the cluster CREATING for 600 s × 0.01 (4.8–6 s), a node group CREATING,
/// an add-on CREATING then DELETING; DeleteCluster refused while a node group is DELETING; the
/// cluster DELETING for 240 s × 0.01, leaving an ENI `Amazon EKS <name>` per subnet (blocking
/// DeleteSubnet) and, once it is gone, its control-plane log group again, untagged; late logs
/// undo the first DeleteLogGroup of that group.
#[tokio::test]
async fn realistic_eks_waits_leftover_enis_and_recreated_log_group() {
    let aws = Aws::realistic("710000000006", 0.01).await;
    let vpc = vpc(&aws, "10.6.0.0/16").await;
    let a = subnet(&aws, &vpc, "10.6.1.0/24", "a").await;
    let b = subnet(&aws, &vpc, "10.6.2.0/24", "b").await;
    let sg = group(&aws, &vpc).await;
    let role = role(&aws).await;
    sleep_s(0.15).await; // past IAM propagation (10 s × 0.01)
    let name = unique("c");
    let logging =
        Logging::builder().cluster_logging(LogSetup::builder().types(LogType::Api).enabled(true).build()).build();
    aws.eks
        .create_cluster()
        .name(&name)
        .role_arn(&role)
        .logging(logging)
        .resources_vpc_config(VpcConfigRequest::builder().subnet_ids(&a).subnet_ids(&b).security_group_ids(&sg).build())
        .send()
        .await
        .expect("CreateCluster");
    let status = || async {
        match aws.eks.describe_cluster().name(&name).send().await {
            Ok(out) => out.cluster().and_then(|c| c.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    assert_eq!(status().await, "CREATING", "right after CreateCluster");
    let took = until("cluster ACTIVE", 12.0, || async { status().await == "ACTIVE" }).await;
    assert!(took > 4.0, "CREATING lasted {took:.2} s, the window is 4.8–6 s");

    let ng = unique("ng");
    aws.eks
        .create_nodegroup()
        .cluster_name(&name)
        .nodegroup_name(&ng)
        .node_role(&role)
        .subnets(&a)
        .send()
        .await
        .expect("CreateNodegroup");
    let ng_status = || async {
        match aws.eks.describe_nodegroup().cluster_name(&name).nodegroup_name(&ng).send().await {
            Ok(out) => out.nodegroup().and_then(|n| n.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    assert_eq!(ng_status().await, "CREATING", "right after CreateNodegroup");
    until("node group ACTIVE", 6.0, || async { ng_status().await == "ACTIVE" }).await;

    aws.eks.create_addon().cluster_name(&name).addon_name("vpc-cni").send().await.expect("CreateAddon");
    let addon_status = || async {
        match aws.eks.describe_addon().cluster_name(&name).addon_name("vpc-cni").send().await {
            Ok(out) => out.addon().and_then(|a| a.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    assert_eq!(addon_status().await, "CREATING", "right after CreateAddon");
    until("add-on ACTIVE", 3.0, || async { addon_status().await == "ACTIVE" }).await;
    aws.eks.delete_addon().cluster_name(&name).addon_name("vpc-cni").send().await.expect("DeleteAddon");
    assert_eq!(addon_status().await, "DELETING", "right after DeleteAddon");
    until("add-on gone", 3.0, || async { addon_status().await == "ResourceNotFoundException" }).await;

    aws.eks.delete_nodegroup().cluster_name(&name).nodegroup_name(&ng).send().await.expect("DeleteNodegroup");
    assert_eq!(ng_status().await, "DELETING", "right after DeleteNodegroup");
    assert_eq!(
        code(aws.eks.delete_cluster().name(&name).send().await),
        "ResourceInUseException",
        "DeleteCluster while a node group is DELETING"
    );
    until("node group gone", 6.0, || async { ng_status().await == "ResourceNotFoundException" }).await;

    let log_group = format!("/aws/eks/{name}/cluster");
    aws.eks.delete_cluster().name(&name).send().await.expect("DeleteCluster");
    assert_eq!(status().await, "DELETING", "right after DeleteCluster");
    let left = enis(&aws, &[&a, &b]).await;
    assert_eq!(left.len(), 2, "one ENI per subnet: {left:?}");
    assert!(left.iter().all(|e| e.description() == Some(format!("Amazon EKS {name}").as_str())), "{left:?}");
    assert_eq!(code(aws.ec2.delete_subnet().subnet_id(&a).send().await), "DependencyViolation", "DeleteSubnet");
    let groups = || async {
        let out =
            aws.logs.describe_log_groups().log_group_name_prefix(&log_group).send().await.expect("DescribeLogGroups");
        out.log_groups().iter().filter_map(|g| g.log_group_name().map(str::to_string)).collect::<Vec<_>>()
    };
    assert!(groups().await.is_empty(), "no log group while the cluster is DELETING");
    until("cluster gone", 6.0, || async { status().await == "ResourceNotFoundException" }).await;
    until("log group re-created", 6.0, || async { groups().await == [log_group.clone()] }).await;
    let described =
        aws.logs.describe_log_groups().log_group_name_prefix(&log_group).send().await.expect("DescribeLogGroups");
    let group_arn = described.log_groups()[0].arn().expect("log group arn").trim_end_matches(":*").to_string();
    let tags = aws.logs.list_tags_for_resource().resource_arn(&group_arn).send().await.expect("ListTagsForResource");
    assert!(tags.tags().map(|t| t.is_empty()).unwrap_or(true), "re-created without tags: {tags:?}");
    // Late logs: the first DeleteLogGroup is undone (10 s × 0.01 later), the second one holds.
    aws.logs.delete_log_group().log_group_name(&log_group).send().await.expect("DeleteLogGroup");
    until("log group re-created by late logs", 3.0, || async { groups().await == [log_group.clone()] }).await;
    aws.logs.delete_log_group().log_group_name(&log_group).send().await.expect("DeleteLogGroup again");
    sleep_s(0.3).await;
    assert!(groups().await.is_empty(), "deleted for good the second time");
    until("EKS ENIs gone", 8.0, || async { enis(&aws, &[&a, &b]).await.is_empty() }).await;
    assert_eq!(code(aws.ec2.delete_subnet().subnet_id(&a).send().await), "OK", "DeleteSubnet after the window");
}

/// Waits of EC2 and ELBv2 at scale 0.02: a NAT gateway `pending` for 105 s × 0.02 (2.1 s at most),
/// a load balancer `provisioning` for 150 s × 0.02 (3 s at most).
#[tokio::test]
async fn realistic_nat_gateway_pending_and_load_balancer_provisioning() {
    let aws = Aws::realistic("710000000007", 0.02).await;
    let vpc = vpc(&aws, "10.7.0.0/16").await;
    let a = subnet(&aws, &vpc, "10.7.1.0/24", "a").await;
    let b = subnet(&aws, &vpc, "10.7.2.0/24", "b").await;
    sleep_s(0.15).await; // past the EC2 NotFound window
    let eip =
        aws.ec2.allocate_address().domain(aws_sdk_ec2::types::DomainType::Vpc).send().await.expect("AllocateAddress");
    let nat = aws
        .ec2
        .create_nat_gateway()
        .subnet_id(&a)
        .allocation_id(eip.allocation_id().expect("allocation"))
        .send()
        .await
        .expect("CreateNatGateway");
    let nat = nat.nat_gateway().and_then(|n| n.nat_gateway_id()).expect("nat id").to_string();
    let lb = aws
        .elb
        .create_load_balancer()
        .name(unique("lb"))
        .subnets(&a)
        .subnets(&b)
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string();

    assert_eq!(
        code(aws.ec2.describe_nat_gateways().nat_gateway_ids(&nat).send().await),
        "NatGatewayNotFound",
        "DescribeNatGateways by id right after the create"
    );
    let nat_state = || async {
        match aws.ec2.describe_nat_gateways().nat_gateway_ids(&nat).send().await {
            Ok(out) => out.nat_gateways()[0].state().map(|s| s.as_str().to_string()).unwrap_or_default(),
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    let lb_state = || async {
        let out =
            aws.elb.describe_load_balancers().load_balancer_arns(&lb).send().await.expect("DescribeLoadBalancers");
        out.load_balancers()[0].state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default()
    };
    assert_eq!(lb_state().await, "provisioning", "right after CreateLoadBalancer");
    until("NAT found", 2.0, || async { nat_state().await == "pending" }).await;
    let start = Instant::now();
    until("NAT available", 5.0, || async { nat_state().await == "available" }).await;
    until("load balancer active", 5.0, || async { lb_state().await == "active" }).await;
    assert!(start.elapsed().as_secs_f64() > 1.0, "the waits are the model's, scaled");

    aws.ec2.delete_nat_gateway().nat_gateway_id(&nat).send().await.expect("DeleteNatGateway");
    assert_eq!(nat_state().await, "deleting", "right after DeleteNatGateway");
    assert_eq!(
        code(aws.ec2.delete_subnet().subnet_id(&a).send().await),
        "DependencyViolation",
        "subnet of a deleting NAT"
    );
    until("NAT deleted", 4.0, || async { nat_state().await == "deleted" }).await;
    assert_eq!(code(aws.ec2.delete_subnet().subnet_id(&a).send().await), "OK", "the NAT's interface went with it");
}

/// CreateListener (window 30 s × 0.1 = 2.4–3 s): CertificateNotFound for a certificate just
/// ISSUED, then the listener is made.
#[tokio::test]
async fn realistic_listener_refuses_a_just_issued_certificate_then_takes_it() {
    let aws = Aws::realistic("710000000008", 0.1).await;
    let vpc = vpc(&aws, "10.8.0.0/16").await;
    let a = subnet(&aws, &vpc, "10.8.1.0/24", "a").await;
    let b = subnet(&aws, &vpc, "10.8.2.0/24", "b").await;
    sleep_s(0.6).await; // past the EC2 NotFound window (5 s × 0.1)
    let lb = aws
        .elb
        .create_load_balancer()
        .name(unique("lb"))
        .subnets(&a)
        .subnets(&b)
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = lb.load_balancers()[0].load_balancer_arn().expect("arn").to_string();
    let tg = aws
        .elb
        .create_target_group()
        .name(unique("tg"))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg = tg.target_groups()[0].target_group_arn().expect("tg arn").to_string();
    let cert = aws
        .acm
        .request_certificate()
        .domain_name(format!("{}.example.com", unique("app")))
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .expect("RequestCertificate");
    let cert = cert.certificate_arn().expect("certificate arn").to_string();
    // moto issues after MOTO_ACM_VALIDATION_WAIT seconds (1 in the test harness).
    until("certificate ISSUED", 90.0, || async {
        let out = aws.acm.describe_certificate().certificate_arn(&cert).send().await.expect("DescribeCertificate");
        out.certificate().and_then(|c| c.status()) == Some(&aws_sdk_acm::types::CertificateStatus::Issued)
    })
    .await;
    let listen = || {
        aws.elb
            .create_listener()
            .load_balancer_arn(&lb)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Https)
            .port(443)
            .certificates(aws_sdk_elasticloadbalancingv2::types::Certificate::builder().certificate_arn(&cert).build())
            .default_actions(
                aws_sdk_elasticloadbalancingv2::types::Action::builder()
                    .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                    .target_group_arn(&tg)
                    .build(),
            )
            .send()
    };
    assert_eq!(code(listen().await), "CertificateNotFound", "CreateListener right after ISSUED");
    let took = until("listener created", 6.0, || async { code(listen().await) == "OK" }).await;
    assert!(took > 1.5, "CertificateNotFound lasted {took:.2} s, the window is 2.4–3 s");
}

/// Route 53 (scale 0.05): the first GetChange of a change answers NoSuchChange, then PENDING for
/// 60 s × 0.05 (2.4–3 s), then INSYNC.
#[tokio::test]
async fn realistic_route53_change_is_unknown_once_then_pending_then_insync() {
    let aws = Aws::realistic("710000000009", 0.05).await;
    let zone_name = format!("{}.example.com", unique("z"));
    let zone = aws
        .r53
        .create_hosted_zone()
        .name(&zone_name)
        .caller_reference(unique("ref"))
        .send()
        .await
        .expect("CreateHostedZone");
    let zone = zone.hosted_zone().map(|z| z.id().to_string()).expect("zone id");
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    let set = ResourceRecordSet::builder()
        .name(format!("www.{zone_name}"))
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value("10.0.0.1").build().expect("record"))
        .build()
        .expect("record set");
    let batch = ChangeBatch::builder()
        .changes(Change::builder().action(ChangeAction::Create).resource_record_set(set).build().expect("change"))
        .build()
        .expect("batch");
    let out =
        aws.r53.change_resource_record_sets().hosted_zone_id(&zone).change_batch(batch).send().await.expect("change");
    let change = out.change_info().map(|c| c.id().to_string()).expect("change id");
    let get = || async {
        match aws.r53.get_change().id(&change).send().await {
            Ok(out) => out.change_info().map(|c| c.status().as_str().to_string()).unwrap_or_default(),
            Err(e) => e.code().unwrap_or_default().to_string(),
        }
    };
    assert_eq!(get().await, "NoSuchChange", "the first GetChange");
    assert_eq!(get().await, "PENDING", "the second");
    let took = until("INSYNC", 6.0, || async { get().await == "INSYNC" }).await;
    assert!(took > 1.5, "PENDING lasted {took:.2} s, the window is 2.4–3 s");
}

/// Where the mode is not enabled (another account in the same region, and any other region) moto
/// answers as before: at once and consistently.
#[tokio::test]
async fn realistic_mode_changes_nothing_where_it_is_not_enabled() {
    let on = Aws::realistic("710000000010", 1.0).await; // enabled for a neighbour account only
    let aws = Aws::new("710000000011").await;
    let vpc = vpc(&aws, "10.10.0.0/16").await;
    let subnet = subnet(&aws, &vpc, "10.10.1.0/24", "a").await;
    assert_eq!(code(aws.ec2.describe_subnets().subnet_ids(&subnet).send().await), "OK", "DescribeSubnets at once");
    let role = role(&aws).await;
    assert_eq!(code(aws.kms.create_key().policy(key_policy(&role)).send().await), "OK", "a fresh role as principal");
    let key = aws.kms.create_key().send().await.expect("CreateKey");
    let key_id = key.key_metadata().map(|m| m.key_id().to_string()).expect("key id");
    assert_eq!(code(aws.kms.enable_key_rotation().key_id(&key_id).send().await), "OK", "rotation at once");

    // The neighbour, in the same region, with the mode on, sees it (so the check above means something).
    let vpc = self::vpc(&on, "10.11.0.0/16").await;
    let subnet = self::subnet(&on, &vpc, "10.11.1.0/24", "a").await;
    assert_eq!(
        code(on.ec2.describe_subnets().subnet_ids(&subnet).send().await),
        "InvalidSubnetID.NotFound",
        "the enabled account"
    );
    // Turned off, the same account is back to moto's answers.
    let off = format!(r#"{{"region": "{REGION}", "account": "{}", "enabled": false}}"#, on.account);
    assert!(!control("POST", &off).contains(&on.account), "disabled");
    let subnet = self::subnet(&on, &vpc, "10.11.2.0/24", "b").await;
    assert_eq!(code(on.ec2.describe_subnets().subnet_ids(&subnet).send().await), "OK", "after disabling");
}

/// The control endpoint lists the rule table (what docs/testing.md documents) and refuses a
/// request without a region or with a scale out of (0, 1].
#[tokio::test]
async fn realistic_control_endpoint_lists_the_rules() {
    let doc: serde_json::Value = serde_json::from_str(&control("GET", "")).expect("JSON");
    let rules = doc["rules"].as_array().expect("rules");
    let names: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
    for name in [
        "iam-role-eks",
        "iam-role-kms-policy",
        "iam-role-trust-principal",
        "ec2-describe-new",
        "ec2-modify-new",
        "ec2-vpc-attribute-stale",
        "kms-new-key",
        "elb-eni-leftover",
        "eks-eni-leftover",
        "eks-log-group-recreated",
        "elb-certificate-not-found",
        "route53-no-such-change",
        "eks-cluster-creating",
        "nat-pending",
        "lb-provisioning",
    ] {
        assert!(names.contains(&name), "rule {name} listed: {names:?}");
    }
    assert!(rules.iter().all(|r| !r["source"].as_str().unwrap_or_default().is_empty()), "every rule cites a source");
    for bad in [r#"{"scale": 0.1}"#, r#"{"region": "ap-southeast-6", "scale": 2}"#] {
        let addr = support::moto_endpoint().trim_start_matches("http://").to_string();
        let mut s = TcpStream::connect(&addr).expect("connect");
        let req = format!(
            "POST /kprov-api/realistic HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{bad}",
            bad.len()
        );
        s.write_all(req.as_bytes()).expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad}: {answer}");
    }
}

/// An access key of a new IAM user in `account` (moto decides a request's account by its key,
/// so kprov, which sends no `x-moto-account-id`, runs in that account), with the realistic mode
/// on for that account in `region` at `scale`.
async fn runner_in(account: &str, region: &str, scale: f64) -> (String, String) {
    let iam = Aws::new(account).await.iam;
    let user = unique("kprov-runner-");
    iam.create_user().user_name(&user).send().await.expect("user");
    let key = iam.create_access_key().user_name(&user).send().await.expect("key");
    let key = key.access_key().expect("access key");
    let body = format!(r#"{{"region": "{region}", "account": "{account}", "scale": {scale}, "seed": 7}}"#);
    assert!(control("POST", &body).contains(account), "realistic mode enabled");
    (key.access_key_id().to_string(), key.secret_access_key().to_string())
}

/// `kprov ARGS` in `root` with the access key of [`runner_in`]: (exit code, stdout + stderr).
fn kprov_as(root: &std::path::Path, key: &(String, String), args: &[&str]) -> (Option<i32>, String) {
    let out = support::kprov(root)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env_remove("AWS_SESSION_TOKEN")
        .timeout(Duration::from_secs(600))
        .output()
        .expect("kprov");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// ModifyVpcAttribute reads back the old value for a while (`ec2-vpc-attribute-stale`, 5 s of
/// real AWS at scale 1 here): kprov waits for the new value before it records the VPC, so the
/// plan right after the apply is clean. Recording the stale value, it would plan the same
/// change again (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_vpc_dns_attributes_are_recorded_once_they_read_back() {
    const ACCOUNT: &str = "000000000778";
    let key = runner_in(ACCOUNT, "eu-west-2", 1.0).await;
    let dir = support::scratch_plans();
    let root = dir.path();
    std::fs::write(
        root.join("plans/network.toml"),
        "[resource.ec2_vpc.main]\ncidr_block = \"10.60.0.0/16\"\nenable_dns_support = true\nenable_dns_hostnames = true\n",
    )
    .expect("plans");
    std::fs::write(
        root.join("plans/env/dev.toml"),
        "[variables]\nregion = \"eu-west-2\"\navailability_zones = [\"eu-west-2a\", \"eu-west-2b\", \"eu-west-2c\"]\n",
    )
    .expect("overlay");
    let (code, text) = kprov_as(root, &key, &["apply", "--auto-approve", "--progress", "plain"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("enable_dns_hostnames to read back as true"), "it waited for the new value:\n{text}");
    let (code, text) = kprov_as(root, &key, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "the recorded value is the new one:\n{text}");
    let (code, text) = kprov_as(root, &key, &["destroy", "--auto-approve", "--progress", "plain"]);
    assert_eq!(code, Some(0), "{text}");
}

/// The whole dev platform through kprov under the realistic mode, in an account of its own (an
/// access key made by IAM CreateAccessKey in that account: kprov sends no `x-moto-account-id`,
/// and the mode finds a request's account from its key): one `apply` exits 0, an SDK inventory of
/// every kind shows exactly one of each planned resource, `plan --detailed-exitcode` exits 0, one
/// `destroy` exits 0 and leaves nothing of the stack — no network interface either. What makes
/// it pass is kprov's eventual-consistency table (`src/aws/consistency.rs`): without it, the
/// apply fails on AttachInternetGateway, ModifySubnetAttribute, EnableKeyRotation and
/// GetChange, and the destroy on DependencyViolation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_full_dev_platform_applies_plans_clean_and_destroys_in_one_run() {
    const ACCOUNT: &str = "000000000777";
    const KPROV_REGION: &str = "eu-west-2";
    let (key_id, secret) = runner_in(ACCOUNT, KPROV_REGION, 0.01).await;

    let dir = support::scratch_platform_plans();
    let root = dir.path();
    let dev = std::fs::read_to_string(root.join("plans/env/dev.toml")).expect("dev overlay");
    let r = KPROV_REGION;
    std::fs::write(
        root.join("plans/env/dev.toml"),
        format!("{dev}region = \"{r}\"\navailability_zones = [\"{r}a\", \"{r}b\", \"{r}c\"]\n"),
    )
    .expect("overlay");
    let planned = inventory::planned(root, "dev");
    let kinds: Vec<String> = planned.keys().cloned().collect();
    let runner = (key_id.clone(), secret.clone());
    let run = |args: &[&str]| kprov_as(root, &runner, args);
    let creds = aws_sdk_ec2::config::Credentials::new(&key_id, &secret, None, None, "realistic");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(KPROV_REGION))
        .endpoint_url(support::moto_endpoint())
        .credentials_provider(creds)
        .load()
        .await;

    let t = Instant::now();
    let (code, text) = run(&["apply", "--auto-approve", "--progress", "plain"]);
    assert_eq!(code, Some(0), "apply under the realistic mode:\n{text}");
    let applied = t.elapsed();
    let waits = text.lines().filter(|l| l.contains("waiting for the new resource to become visible")).count();
    let inv = inventory::owned_with(&sdk, "platform", "dev", &kinds, Some("dev.platform.example.com.")).await;
    let (details, _) = inventory::compare(&inv, &planned);
    assert!(details.is_empty(), "after the apply, AWS differs from the plan: {details:?}");
    let (code, text) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "plan after the apply:\n{text}");
    let t = Instant::now();
    let (code, text) = run(&["destroy", "--auto-approve", "--progress", "plain"]);
    assert_eq!(code, Some(0), "destroy under the realistic mode:\n{text}");
    let destroyed = t.elapsed();
    let inv = inventory::owned_with(&sdk, "platform", "dev", &kinds, Some("dev.platform.example.com.")).await;
    assert!(inv.is_empty(), "left behind: {inv:?}");
    let enis = aws_sdk_ec2::Client::new(&sdk).describe_network_interfaces().send().await.expect("enis");
    assert!(enis.network_interfaces().is_empty(), "network interfaces left: {:?}", enis.network_interfaces());
    println!(
        "realistic dev platform: apply {applied:.1?} ({waits} waits for visibility), destroy {destroyed:.1?}, {} resources",
        planned.values().map(Vec::len).sum::<usize>()
    );
}
