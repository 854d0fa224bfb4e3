//! Shared by the `state_*` tests: a tiny plans directory with a region of its own, a
//! bootstrapped bucket + lock table with unique names, SDK clients for independent checks, and
//! kprov processes that hold the state lock at the confirmation prompt (a pseudo-terminal from
//! `script(1)`), so that overlapping runs are staged deterministically rather than by timing.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support;

/// A globally unique, valid bucket name (moto, like S3, shares bucket names across regions).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A plans directory for stack `name` in `region` with one VPC (and, with `sg`, a security
/// group in it), an empty `dev` overlay, and an empty `state/` directory.
pub fn tiny_plans(name: &str, region: &str, sg: bool, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(plans.join("env")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("state")).expect("mkdir");
    let mut text = format!(
        "[stack]\nname = \"{name}\"\n\n[variables]\nregion = \"{region}\"\n\n\
         [resource.ec2_vpc.main]\ncidr_block = \"10.42.0.0/16\"\ntags = {{ Name = \"{name}\" }}\n"
    );
    if sg {
        text.push_str(
            "\n[resource.ec2_security_group.app]\nname = \"app\"\ndescription = \"app\"\nvpc_id = \"${ec2_vpc.main.id}\"\n",
        );
    }
    text.push_str(extra);
    std::fs::write(plans.join("stack.toml"), text).expect("write plan");
    std::fs::write(plans.join("env/dev.toml"), "[variables]\n").expect("write overlay");
    dir
}

/// The S3 backend settings for kprov, as environment variables.
pub fn backend_env(bucket: &str, region: &str, table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("KPROV_STATE_BUCKET", bucket.to_string()),
        ("KPROV_STATE_REGION", region.to_string()),
        ("KPROV_LOCK_TABLE", table.to_string()),
    ]
}

/// `kprov` in `dir` against moto with the S3 backend.
pub fn kprov_s3(dir: &Path, bucket: &str, region: &str, table: &str) -> assert_cmd::Command {
    let mut c = support::kprov(dir);
    c.envs(backend_env(bucket, region, table));
    c
}

pub async fn s3(region: &str) -> aws_sdk_s3::Client {
    let sdk = support::sdk_config(region).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
}

pub async fn ddb(region: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&support::sdk_config(region).await)
}

/// Create the bucket and table with `kprov state bootstrap`, then remove the TLS-only bucket
/// policy: moto applies a bucket policy's Deny to object requests without evaluating its
/// Condition, so with the policy every state read and write over moto's plain HTTP is denied.
/// (`state_bootstrap.rs` checks the policy itself.)
pub async fn bootstrap(dir: &Path, bucket: &str, region: &str, table: &str) {
    kprov_s3(dir, bucket, region, table).args(["state", "bootstrap"]).assert().success();
    s3(region).await.delete_bucket_policy().bucket(bucket).send().await.expect("delete policy");
}

/// The state object's body, read through the SDK.
pub async fn object(region: &str, bucket: &str, key: &str) -> Option<String> {
    match s3(region).await.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Some(String::from_utf8(o.body.collect().await.expect("body").into_bytes().to_vec()).expect("utf-8")),
        Err(_) => None,
    }
}

/// The serial of every stored version of the object, sorted (the bucket is versioned).
pub async fn version_serials(region: &str, bucket: &str, key: &str) -> Vec<u64> {
    let c = s3(region).await;
    let out = c.list_object_versions().bucket(bucket).prefix(key).send().await.expect("list versions");
    let versions: Vec<_> = out.versions().iter().filter(|v| v.key() == Some(key)).collect();
    let mut serials = Vec::new();
    for v in versions {
        let o = c
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(v.version_id().expect("version id"))
            .send()
            .await
            .expect("get version");
        let body = o.body.collect().await.expect("body").into_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("json");
        serials.push(doc["serial"].as_u64().expect("serial"));
    }
    serials.sort();
    serials
}

/// The lock item of `bucket/key`, read through the SDK: (Info.id, Info.who, Info.operation).
pub async fn lock_item(region: &str, table: &str, bucket: &str, key: &str) -> Option<(String, String, String)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let out = ddb(region)
        .await
        .get_item()
        .table_name(table)
        .key("LockID", AttributeValue::S(format!("{bucket}/{key}")))
        .consistent_read(true)
        .send()
        .await
        .expect("get item");
    let item = out.item()?;
    let info = item.get("Info")?.as_m().ok()?;
    let s = |k: &str| info.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    Some((s("id"), s("who"), s("operation")))
}

/// A kprov process whose output is collected as it comes.
pub struct Proc {
    pub child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<String>,
    pub output: String,
}

impl Proc {
    /// Run `kprov ARGS` in `dir` under a pseudo-terminal (so it asks for confirmation and,
    /// holding the lock, waits for our answer), with `env` added.
    pub fn on_terminal(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Proc {
        let bin = assert_cmd::cargo::cargo_bin("kprov");
        let mut cmd = format!("exec '{}'", bin.display());
        for a in args {
            cmd.push_str(&format!(" '{a}'"));
        }
        let mut c = Command::new("script");
        c.args(["-qefc", &cmd, "/dev/null"]);
        Self::spawn(c, dir, env)
    }

    /// Run `kprov ARGS` in `dir` with piped output.
    pub fn piped(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Proc {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("kprov"));
        c.args(args);
        Self::spawn(c, dir, env)
    }

    fn spawn(mut c: Command, dir: &Path, env: &[(&str, String)]) -> Proc {
        c.current_dir(dir)
            .envs(support::aws_env())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("AWS_REGION")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        let (tx, rx) = mpsc::channel();
        for mut stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Proc { child, stdin, rx, output: String::new() }
    }

    /// Wait until the output contains `text` (panics after 60 s, showing the output).
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.output.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.output.push_str(&chunk),
                Err(_) => panic!("no `{text}` within 60s; output so far:\n{}", self.output),
            }
        }
    }

    /// The value after `lock id ` in the output.
    pub fn lock_id(&self) -> String {
        let at = self.output.find("lock id ").expect("a lock id in the output") + "lock id ".len();
        self.output[at..].chars().take_while(|c| c.is_ascii_hexdigit() || *c == '-').collect()
    }

    pub fn answer(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(format!("{line}\n").as_bytes()).expect("write stdin");
        stdin.flush().expect("flush");
    }

    /// Wait for the exit (at most 120 s) and collect the rest of the output.
    pub fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "still running after 120s:\n{}", self.output);
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(chunk) = self.rx.recv_timeout(Duration::from_secs(2)) {
            self.output.push_str(&chunk);
        }
        (status.code().unwrap_or(-1), self.output)
    }

    /// The pid of kprov itself (under `script`, its only child).
    pub fn kprov_pid(&self) -> u32 {
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        match children.split_whitespace().next() {
            Some(c) => c.parse().expect("pid"),
            None => pid, // not under script: the child is kprov
        }
    }
}

/// Every stored version of the object as (serial, lineage), sorted by serial (the bucket is
/// versioned; moto, like S3, keeps every write).
pub async fn versions(region: &str, bucket: &str, key: &str) -> Vec<(u64, String)> {
    let c = s3(region).await;
    let out = c.list_object_versions().bucket(bucket).prefix(key).send().await.expect("list versions");
    assert!(!out.is_truncated().unwrap_or(false), "more versions than one page holds");
    let mut docs = Vec::new();
    for v in out.versions().iter().filter(|v| v.key() == Some(key)) {
        let o = c
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(v.version_id().expect("version id"))
            .send()
            .await
            .expect("get version");
        let body = o.body.collect().await.expect("body").into_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("every version is JSON");
        docs.push((doc["serial"].as_u64().expect("serial"), doc["lineage"].as_str().expect("lineage").to_string()));
    }
    docs.sort();
    docs
}

/// The serials a `--progress json` run reports as saved (`state_saved` events), in order.
pub fn saved_serials(output: &str) -> Vec<u64> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(|v| v["event"] == "state_saved")
        .filter_map(|v| v["serial"].as_u64())
        .collect()
}
