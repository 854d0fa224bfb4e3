//! Shared test support: the moto server (a real AWS API emulator on 127.0.0.1) and SDK clients
//! that check AWS independently of kprov's own state.
//!
//! `scripts/test.sh` starts one moto server for the whole run and exports
//! `KPROV_MOTO_ENDPOINT`. When a test binary runs without it (plain `cargo test`), the first test
//! that needs moto starts a private server from the repo's virtualenv (`scripts/moto.sh install`
//! creates it); a watchdog stops that server when the test process exits.
//! Tests isolate themselves from each other by region: moto keeps each region's state apart.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The endpoint of a running moto server (starting one if needed).
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("KPROV_MOTO_ENDPOINT") {
            return e;
        }
        let bin = repo_root().join(".venv/bin/moto_server");
        assert!(bin.exists(), "moto is not installed: run `scripts/moto.sh install` (or use scripts/test.sh)");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // moto's server with kprov's EKS extension (scripts/moto_ext; see docs/testing.md).
        // The watchdog shell stops moto when this test process is gone.
        let script = format!(
            "MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ACM_VALIDATION_WAIT=1 PYTHONPATH='{}' '{}' -m kprov_moto_eks -H 127.0.0.1 -p {port} \
             >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
            repo_root().join("scripts/moto_ext").display(),
            repo_root().join(".venv/bin/python").display(),
            std::process::id()
        );
        // Not waited for on purpose: the watchdog outlives this process by design.
        #[allow(clippy::zombie_processes)]
        Command::new("sh").arg("-c").arg(script).spawn().expect("start moto");
        let endpoint = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        endpoint
    })
}

/// Environment for running kprov or the SDK against moto with dummy credentials.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto_endpoint().to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        // Never read a developer's real AWS configuration.
        ("AWS_CONFIG_FILE", "/nonexistent/kprov-tests/config".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kprov-tests/credentials".into()),
        ("AWS_PROFILE", "default".into()),
    ]
}

/// An SDK configuration pointed at moto, for independent checks.
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    use aws_config::BehaviorVersion;
    let creds = aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "kprov-tests");
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(moto_endpoint())
        .credentials_provider(creds)
        .load()
        .await
}

pub async fn ec2(region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(region).await)
}

/// A scratch directory with a copy of the repo's *network* plans (`stack.toml`, `network.toml`
/// and the overlays; tests may edit them or add files) and an empty state directory. The rest
/// of the platform is left out so that tests of the network or of one kind stay small and
/// declare their own resources without clashing with the reference platform's addresses.
pub fn scratch_plans() -> tempfile::TempDir {
    let dir = scratch_platform_plans();
    for e in std::fs::read_dir(dir.path().join("plans")).expect("read plans") {
        let e = e.expect("entry");
        let name = e.file_name();
        if e.file_type().expect("type").is_file() && name != "stack.toml" && name != "network.toml" {
            std::fs::remove_file(e.path()).expect("remove");
        }
    }
    dir
}

/// A scratch directory with a copy of all the repo's plans (the whole reference platform) and
/// an empty state directory.
pub fn scratch_platform_plans() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo_root().join("plans"), &dir.path().join("plans"));
    std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read plans") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// The kprov binary, run in `dir` against moto.
pub fn kprov(dir: &std::path::Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kprov").expect("kprov binary");
    c.current_dir(dir).envs(aws_env()).env_remove("AWS_REGION").env("NO_COLOR", "1");
    c
}
