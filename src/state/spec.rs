//! Which backend and lock a command uses: the plans' `[backend]` table, then command-line /
//! environment overrides, then defaults.
//!
//! Precedence for each setting: `--flag` (or its `KPROV_*` variable) > `[backend]` > default.
//! The backend type is `--backend` if given, else local when `--state-file` is given, else S3
//! when a bucket is given on the command line, else the table's `type`, else local. Local
//! default: `<state dir>/<stack>/<env>.json` (`--state-file` names another file). S3 defaults:
//! key `<stack>/<env>.json`, the stack's region, lock table `kprov-locks`. Both defaults include the stack, so two stacks never share
//! a state by default; when they do share one on purpose or by mistake, `state::binding`
//! refuses the second.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::lock::dynamodb::DynamoLockStore;
use super::lock::file::FileLockStore;
use super::lock::{LockStore, DEFAULT_LEASE};
use super::{Backend, LocalBackend, S3Backend};
use crate::config::{BackendConfig, BackendKind, Stack};

pub const DEFAULT_LOCK_TABLE: &str = "kprov-locks";

/// Settings given outside the plans (flags and environment variables).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub kind: Option<BackendKind>,
    /// The local state file, instead of `<state dir>/<stack>/<env>.json`.
    pub file: Option<PathBuf>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub region: Option<String>,
    pub lock_table: Option<String>,
    pub lock_lease: Option<Duration>,
}

/// A fully resolved backend.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSpec {
    /// `<dir>/<stack>/<env>.json` (or `--state-file`), locked by the `.lock` file beside it.
    Local {
        file: PathBuf,
    },
    S3 {
        bucket: String,
        key: String,
        region: String,
        lock_table: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub spec: BackendSpec,
    pub lease: Duration,
}

/// Resolve the backend of `stack` (its `[backend]`, then `o`). `state_dir` is where local
/// state lives. Fails only when S3 is chosen without a bucket.
pub fn resolve(stack: &Stack, o: &Overrides, state_dir: &Path) -> Result<Resolved, String> {
    let cfg: Option<&BackendConfig> = stack.backend.as_ref();
    let kind = o
        .kind
        .or(o.file.as_ref().map(|_| BackendKind::Local))
        .or(o.bucket.as_ref().map(|_| BackendKind::S3))
        .or(cfg.map(|c| c.kind))
        .unwrap_or(BackendKind::Local);
    let from_cfg = |f: fn(&BackendConfig) -> Option<&String>| cfg.and_then(f).cloned();
    let lease = o.lock_lease.or(cfg.and_then(|c| c.lock_lease)).unwrap_or(DEFAULT_LEASE);
    let spec = match kind {
        BackendKind::Local => {
            BackendSpec::Local { file: o.file.clone().unwrap_or_else(|| default_local_file(state_dir, stack)) }
        }
        BackendKind::S3 => {
            let bucket = o.bucket.clone().or(from_cfg(|c| c.bucket.as_ref())).ok_or_else(|| {
                "the S3 backend needs a bucket: set `bucket` in the plans' [backend] table, or pass --state-bucket \
                 (KPROV_STATE_BUCKET)"
                    .to_string()
            })?;
            BackendSpec::S3 {
                bucket,
                key: o
                    .key
                    .clone()
                    .or(from_cfg(|c| c.key.as_ref()))
                    .unwrap_or_else(|| format!("{}/{}.json", stack.name, stack.env)),
                region: o.region.clone().or(from_cfg(|c| c.region.as_ref())).unwrap_or_else(|| stack.region.clone()),
                lock_table: o
                    .lock_table
                    .clone()
                    .or(from_cfg(|c| c.lock_table.as_ref()))
                    .unwrap_or_else(|| DEFAULT_LOCK_TABLE.to_string()),
            }
        }
    };
    Ok(Resolved { spec, lease })
}

/// The default local state file of `stack`: `<dir>/<stack>/<env>.json`.
pub fn default_local_file(state_dir: &Path, stack: &Stack) -> PathBuf {
    state_dir.join(&stack.name).join(format!("{}.json", stack.env))
}

/// The backend and its lock store. `endpoint_url` overrides the AWS endpoint (emulators).
pub async fn open(spec: &BackendSpec, endpoint_url: Option<&str>) -> (Arc<dyn Backend>, Arc<dyn LockStore>) {
    match spec {
        BackendSpec::Local { file } => {
            let b = LocalBackend::new(file);
            let lock = FileLockStore::new(b.lock_path(), file);
            (Arc::new(b), Arc::new(lock))
        }
        BackendSpec::S3 { bucket, key, region, lock_table } => {
            let sdk = crate::aws::sdk_config(region, endpoint_url).await;
            let s3 = S3Backend::new(S3Backend::client(&sdk), bucket, key, region);
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            let lock = DynamoLockStore::new(ddb, lock_table, region, bucket, key);
            (Arc::new(s3), Arc::new(lock))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceLoc;

    fn stack(backend: Option<BackendConfig>) -> Stack {
        Stack {
            name: "platform".into(),
            env: "prod".into(),
            region: "eu-west-1".into(),
            resources: vec![],
            backend,
            drift_ignore: vec![],
            moved: vec![],
        }
    }

    fn s3_cfg() -> BackendConfig {
        BackendConfig {
            kind: BackendKind::S3,
            bucket: Some("cfg-bucket".into()),
            key: Some("cfg/prod.json".into()),
            region: None,
            lock_table: None,
            lock_lease: Some(Duration::from_secs(30)),
            loc: SourceLoc { file: "plans/stack.toml".into(), line: 1, col: 1 },
        }
    }

    #[test]
    fn local_is_the_default() {
        let r = resolve(&stack(None), &Overrides::default(), Path::new("state")).unwrap();
        assert_eq!(r.spec, BackendSpec::Local { file: PathBuf::from("state/platform/prod.json") });
        assert_eq!(r.lease, DEFAULT_LEASE);
        let o = Overrides { file: Some("elsewhere/s.json".into()), ..Default::default() };
        let r = resolve(&stack(None), &o, Path::new("state")).unwrap();
        assert_eq!(r.spec, BackendSpec::Local { file: PathBuf::from("elsewhere/s.json") });
    }

    #[test]
    fn table_then_overrides_then_defaults() {
        let r = resolve(&stack(Some(s3_cfg())), &Overrides::default(), Path::new("state")).unwrap();
        assert_eq!(
            r.spec,
            BackendSpec::S3 {
                bucket: "cfg-bucket".into(),
                key: "cfg/prod.json".into(),
                region: "eu-west-1".into(),
                lock_table: DEFAULT_LOCK_TABLE.into()
            }
        );
        assert_eq!(r.lease, Duration::from_secs(30));

        let o = Overrides {
            bucket: Some("flag-bucket".into()),
            lock_table: Some("flag-locks".into()),
            lock_lease: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let r = resolve(&stack(Some(s3_cfg())), &o, Path::new("state")).unwrap();
        assert!(matches!(&r.spec, BackendSpec::S3 { bucket, key, lock_table, .. }
            if bucket == "flag-bucket" && key == "cfg/prod.json" && lock_table == "flag-locks"));
        assert_eq!(r.lease, Duration::from_secs(5));

        let local = Overrides { kind: Some(BackendKind::Local), ..Default::default() };
        assert!(matches!(
            resolve(&stack(Some(s3_cfg())), &local, Path::new("s")).unwrap().spec,
            BackendSpec::Local { .. }
        ));
    }

    #[test]
    fn a_bucket_flag_selects_s3_and_s3_needs_a_bucket() {
        let o = Overrides { bucket: Some("b-1".into()), ..Default::default() };
        let r = resolve(&stack(None), &o, Path::new("state")).unwrap();
        assert!(
            matches!(&r.spec, BackendSpec::S3 { key, region, .. } if key == "platform/prod.json" && region == "eu-west-1")
        );
        let o = Overrides { kind: Some(BackendKind::S3), ..Default::default() };
        assert!(resolve(&stack(None), &o, Path::new("state")).unwrap_err().contains("--state-bucket"));
    }
}
