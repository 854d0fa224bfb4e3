//! `kprov iam-policy` against IAM enforcement: the dev platform is applied and destroyed by a
//! principal holding only the printed policy, and a policy missing one action fails clearly.
//!
//! Runs on its OWN moto server (scripts/moto.sh on a free port, stopped at the end): IAM checks
//! are switched on for the whole server (`POST /moto-api/reset-auth` with `0`), which would break
//! every other test on the shared one. Flow: with moto's default (unchecked) credentials, create
//! an admin user (`*`, for the independent checks), the runner user with the policy from
//! `kprov iam-policy --env dev`, and a user whose policy lacks `ec2:CreateVpc`; turn checks on;
//! apply as the runner → every kind checked through the SDK as admin; destroy as the runner →
//! nothing of the stack left; apply as the crippled user → fails naming the resource, the AWS
//! error code, the denied action and the request id.
//!
//! moto checks each request's `service:Operation` against the caller's policies (Resource `*`
//! only: it passes `*` as the resource for every service but S3 and some IAM role calls, and it
//! ignores conditions). Actions AWS checks on the side (`iam:PassRole`,
//! `iam:CreateServiceLinkedRole`, ELB's EC2 reads, KMS grants) are not checked by moto at all;
//! see docs/reliability.md.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use predicates::prelude::*;
use predicates::str::contains;

const REGION: &str = "ca-central-1";
const ENV: &str = "dev";

/// A moto server of this test's own, stopped when dropped.
struct OwnMoto {
    port: u16,
}

impl OwnMoto {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let out = Command::new(support::repo_root().join("scripts/moto.sh"))
            .args(["start", &port.to_string()])
            .output()
            .expect("run scripts/moto.sh");
        assert!(out.status.success(), "moto did not start: {}", String::from_utf8_lossy(&out.stderr));
        OwnMoto { port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `POST /moto-api/reset-auth` with `body`: `0` checks every request from now on, `inf` none.
    fn reset_auth(&self, body: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let req = format!(
            "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\nContent-Length: \
             {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(req.as_bytes()).expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "reset-auth: {answer}");
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        let _ =
            Command::new(support::repo_root().join("scripts/moto.sh")).args(["stop", &self.port.to_string()]).status();
    }
}

#[derive(Clone)]
struct Keys {
    id: String,
    secret: String,
}

async fn sdk(endpoint: &str, keys: &Keys) -> aws_config::SdkConfig {
    use aws_config::BehaviorVersion;
    let creds = aws_sdk_ec2::config::Credentials::new(&keys.id, &keys.secret, None, None, "kprov-iam-test");
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .load()
        .await
}

/// The kprov binary in `dir` against `endpoint` as `keys` — no session token: moto takes a
/// request with one for an assumed role, not an IAM user.
fn kprov(dir: &Path, endpoint: &str, keys: &Keys) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kprov").expect("kprov binary");
    c.current_dir(dir)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", &keys.id)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Never read a developer's real AWS configuration.
        .env("AWS_CONFIG_FILE", "/nonexistent/kprov-tests/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kprov-tests/credentials")
        .env("AWS_PROFILE", "default")
        .env("NO_COLOR", "1");
    c
}

/// A scratch copy of the reference platform pinned to this test's region.
fn platform() -> tempfile::TempDir {
    let dir = support::scratch_platform_plans();
    let p = dir.path().join("plans/env/dev.toml");
    let base = std::fs::read_to_string(&p).expect("overlay");
    let text =
        format!("{base}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}d\"]\n");
    std::fs::write(p, text).expect("write overlay");
    dir
}

/// An IAM user with `policy` attached as a managed policy, and its access keys.
async fn user(iam: &aws_sdk_iam::Client, name: &str, policy: &str) -> Keys {
    iam.create_user().user_name(name).send().await.expect("create user");
    let arn = iam
        .create_policy()
        .policy_name(format!("{name}-policy"))
        .policy_document(policy)
        .send()
        .await
        .expect("create policy")
        .policy()
        .and_then(|p| p.arn())
        .expect("policy arn")
        .to_string();
    iam.attach_user_policy().user_name(name).policy_arn(arn).send().await.expect("attach policy");
    let key = iam.create_access_key().user_name(name).send().await.expect("access key");
    let key = key.access_key().expect("key");
    Keys { id: key.access_key_id().to_string(), secret: key.secret_access_key().to_string() }
}

/// `policy` without `action` (the statement holding it keeps its other actions).
fn without(policy: &serde_json::Value, action: &str) -> serde_json::Value {
    let mut p = policy.clone();
    for s in p["Statement"].as_array_mut().expect("statements") {
        if let Some(list) = s["Action"].as_array_mut() {
            list.retain(|a| a != action);
        }
    }
    p
}

fn owned(env: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name("tag:kprov:env").values(env).build()
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_platform_applies_and_destroys_with_only_the_printed_policy() {
    let moto = OwnMoto::start();
    let endpoint = moto.endpoint();
    let dir = platform();
    let root = dir.path();

    // The policy, from the same plans (no AWS access needed).
    let out = kprov(root, &endpoint, &Keys { id: "testing".into(), secret: "testing".into() })
        .args(["iam-policy", "--env", ENV])
        .output()
        .expect("iam-policy");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the policy is JSON");
    assert!(policy["Statement"].to_string().contains("ec2:CreateVpc"));

    // Users, while moto still takes any credentials.
    let root_keys = Keys { id: "testing".into(), secret: "testing".into() };
    let iam_root = aws_sdk_iam::Client::new(&sdk(&endpoint, &root_keys).await);
    let admin_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let admin = user(&iam_root, "kprov-test-admin", admin_policy).await;
    let runner = user(&iam_root, "kprov-runner", &policy.to_string()).await;
    let other = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:ListQueues","Resource":"*"}]}"#;
    let nobody = user(&iam_root, "kprov-nobody", other).await;
    let crippled = user(&iam_root, "kprov-runner-no-createvpc", &without(&policy, "ec2:CreateVpc").to_string()).await;

    moto.reset_auth("0");

    // Checks are on: a principal without the policy is refused (so a pass below means something).
    let denied = aws_sdk_ec2::Client::new(&sdk(&endpoint, &nobody).await).describe_vpcs().send().await;
    let code = denied.as_ref().err().and_then(aws_sdk_ec2::error::ProvideErrorMetadata::code);
    assert_eq!(code, Some("AccessDenied"), "moto enforces IAM: {denied:?}");
    let iam_admin = aws_sdk_iam::Client::new(&sdk(&endpoint, &admin).await);

    // ---- apply as the runner ----
    kprov(root, &endpoint, &runner)
        .args(["apply", "--env", ENV, "--auto-approve", "--progress", "plain"])
        .assert()
        .success()
        .stderr(contains("apply complete"));

    // ---- independent checks, as admin ----
    let cfg = sdk(&endpoint, &admin).await;
    let ec2 = aws_sdk_ec2::Client::new(&cfg);
    let vpcs = ec2.describe_vpcs().filters(owned(ENV)).send().await.expect("vpcs");
    assert_eq!(vpcs.vpcs().len(), 1);
    let subnets = ec2.describe_subnets().filters(owned(ENV)).send().await.expect("subnets");
    assert_eq!(subnets.subnets().len(), 9);
    let nats = ec2.describe_nat_gateways().filter(owned(ENV)).send().await.expect("nats");
    assert_eq!(nats.nat_gateways().iter().filter(|n| n.state().map(|s| s.as_str()) == Some("available")).count(), 1);
    let eks = aws_sdk_eks::Client::new(&cfg);
    let cluster = eks.describe_cluster().name("platform-dev").send().await.expect("cluster");
    assert_eq!(cluster.cluster().and_then(|c| c.status()).map(|s| s.as_str()), Some("ACTIVE"));
    let groups = eks.list_nodegroups().cluster_name("platform-dev").send().await.expect("node groups");
    assert_eq!(groups.nodegroups().len(), 4);
    let roles = iam_admin.list_roles().max_items(1000).send().await.expect("roles");
    assert!(roles.roles().iter().any(|r| r.role_name() == "platform-dev-eks-cluster"));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&cfg);
    let lbs = elb.describe_load_balancers().names("platform-dev").send().await.expect("load balancer");
    assert_eq!(lbs.load_balancers().len(), 1);
    let r53 = aws_sdk_route53::Client::new(&cfg);
    let zones = r53.list_hosted_zones_by_name().dns_name("dev.platform.example.com").send().await.expect("zones");
    assert!(zones.hosted_zones().iter().any(|z| z.name() == "dev.platform.example.com."));
    let ecr = aws_sdk_ecr::Client::new(&cfg);
    let repos = ecr.describe_repositories().send().await.expect("repositories");
    assert!(!repos.repositories().is_empty());
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let groups = logs.describe_log_groups().log_group_name_prefix("/aws/").send().await.expect("log groups");
    assert!(groups.log_groups().iter().any(|g| g.log_group_name() == Some("/aws/vpc/platform-dev/flow-logs")));

    // ---- destroy as the runner: nothing of the stack left ----
    kprov(root, &endpoint, &runner)
        .args(["destroy", "--env", ENV, "--auto-approve", "--progress", "plain"])
        .assert()
        .success();
    assert!(ec2.describe_vpcs().filters(owned(ENV)).send().await.expect("vpcs").vpcs().is_empty());
    assert!(ec2.describe_subnets().filters(owned(ENV)).send().await.expect("subnets").subnets().is_empty());
    assert!(eks.list_clusters().send().await.expect("clusters").clusters().is_empty());
    let roles = iam_admin.list_roles().max_items(1000).send().await.expect("roles");
    let left: Vec<&str> =
        roles.roles().iter().map(|r| r.role_name()).filter(|n| n.starts_with("platform-dev-")).collect();
    assert!(left.is_empty(), "roles left: {left:?}");
    assert!(elb.describe_load_balancers().send().await.expect("lbs").load_balancers().is_empty());
    let zones = r53.list_hosted_zones().send().await.expect("zones");
    assert!(zones.hosted_zones().iter().all(|z| z.name() != "dev.platform.example.com."));
    assert!(ecr.describe_repositories().send().await.expect("repositories").repositories().is_empty());

    // ---- negative control: the same policy without ec2:CreateVpc ----
    let dir2 = platform();
    kprov(dir2.path(), &endpoint, &crippled)
        .args(["apply", "--env", ENV, "--auto-approve", "--progress", "plain"])
        .assert()
        .failure()
        .stderr(
            contains("ec2_vpc.main")
                .and(contains("CreateVpc failed: AccessDenied"))
                .and(contains("ec2:CreateVpc"))
                .and(contains("request id")),
        );
    assert!(ec2.describe_vpcs().filters(owned(ENV)).send().await.expect("vpcs").vpcs().is_empty());
    moto.reset_auth("inf");
}
