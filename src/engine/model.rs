//! The AWS model: how long operations take and how fast AWS lets kprov call it.
//!
//! The built-in model is `aws_model.toml` (compiled in; its header names the sources). An
//! override file of the same shape (`--rate-limits FILE`) is merged over it key by key, so a
//! user can change one bucket without restating the others. The model feeds three things:
//! [`super::rate_limit::RateLimiter`] (token buckets and the throttling retry), the run
//! summary's critical-path estimate ([`super::critical_path`]) and the benchmark.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::events::OpKind;

const BUILTIN: &str = include_str!("aws_model.toml");

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the rate-limit file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A token bucket: `burst` calls at once, then `refill_per_s` per second.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    pub burst: f64,
    pub refill_per_s: f64,
}

/// How throttled calls are retried: attempt `n` (1-based) that was throttled sleeps a random
/// fraction of `min(initial * 2^(n-1), max)` before attempt `n + 1` ("full jitter").
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff_s: f64,
    pub max_backoff_s: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, initial_backoff_s: 0.5, max_backoff_s: 20.0 }
    }
}

impl RetryPolicy {
    /// The sleep after throttled attempt `attempt` (1-based), for a jitter factor in [0, 1).
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let ceiling = (self.initial_backoff_s * exp).min(self.max_backoff_s).max(0.0);
        Duration::from_secs_f64(ceiling * jitter.clamp(0.0, 1.0))
    }
}

/// Typical durations per operation and kind, each table with a `default`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Durations {
    #[serde(default)]
    pub create: BTreeMap<String, f64>,
    #[serde(default)]
    pub update: BTreeMap<String, f64>,
    #[serde(default)]
    pub delete: BTreeMap<String, f64>,
}

impl Durations {
    /// How long `op` on a resource of `kind` typically takes.
    pub fn of(&self, op: OpKind, kind: &str) -> Duration {
        let table = match op {
            OpKind::Create => &self.create,
            OpKind::Update => &self.update,
            OpKind::Delete => &self.delete,
        };
        let secs = table.get(kind).or_else(|| table.get("default")).copied().unwrap_or(1.0);
        Duration::from_secs_f64(secs.max(0.0))
    }
}

/// A service's rate limits: buckets by API class, plus plain numbers (`max_changes_per_batch`)
/// that are documentation for the kinds rather than buckets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum LimitEntry {
    Bucket(BucketSpec),
    Number(f64),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default)]
    pub durations: Durations,
    /// service → API class → bucket.
    #[serde(default)]
    pub rate_limits: BTreeMap<String, BTreeMap<String, LimitEntry>>,
    #[serde(default)]
    pub retry: RetryPolicy,
}

impl Model {
    /// The compiled-in model.
    pub fn builtin() -> Model {
        // The file is part of the binary and covered by a unit test: failing here is a build bug.
        Self::parse(BUILTIN, Path::new("aws_model.toml")).expect("the built-in aws_model.toml is valid")
    }

    /// The built-in model with `path` merged over it, when given.
    pub fn load(path: Option<&Path>) -> Result<Model, ModelError> {
        let Some(path) = path else { return Ok(Self::builtin()) };
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelError::Read { path: path.to_path_buf(), source })?;
        let invalid = |message: String| ModelError::Invalid { path: path.to_path_buf(), message };
        let mut base: toml::Table = BUILTIN.parse().map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let over: toml::Table = text.parse().map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        merge(&mut base, over);
        Self::from_table(base).map_err(invalid)
    }

    fn parse(text: &str, path: &Path) -> Result<Model, ModelError> {
        let invalid = |message: String| ModelError::Invalid { path: path.to_path_buf(), message };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        Self::from_table(table).map_err(invalid)
    }

    fn from_table(table: toml::Table) -> Result<Model, String> {
        let model: Model = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.to_string())?;
        for (service, classes) in &model.rate_limits {
            for (class, entry) in classes {
                if let LimitEntry::Bucket(b) = entry {
                    if !(b.burst >= 1.0 && b.refill_per_s > 0.0 && b.burst.is_finite() && b.refill_per_s.is_finite()) {
                        return Err(format!(
                            "rate_limits.{service}.{class}: burst must be at least 1 and refill_per_s above 0"
                        ));
                    }
                }
            }
        }
        if model.retry.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        Ok(model)
    }

    /// The bucket for `(service, class)`, if the model has one.
    pub fn bucket(&self, service: &str, class: &str) -> Option<BucketSpec> {
        match self.rate_limits.get(service)?.get(class)? {
            LimitEntry::Bucket(b) => Some(*b),
            LimitEntry::Number(_) => None,
        }
    }
}

/// Merge `over` into `base`: tables recursively, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_model_has_the_published_buckets() {
        let m = Model::builtin();
        assert_eq!(m.bucket("ec2", "mutating"), Some(BucketSpec { burst: 50.0, refill_per_s: 5.0 }));
        assert_eq!(m.bucket("ec2", "resource_intensive"), Some(BucketSpec { burst: 50.0, refill_per_s: 5.0 }));
        assert_eq!(m.bucket("ec2", "nat_gateway"), Some(BucketSpec { burst: 10.0, refill_per_s: 1.0 }));
        assert_eq!(m.bucket("route53", "account"), Some(BucketSpec { burst: 5.0, refill_per_s: 5.0 }));
        assert_eq!(m.bucket("iam", "mutating"), None);
        assert_eq!(m.durations.of(OpKind::Create, "eks_cluster"), Duration::from_secs(600));
        assert_eq!(m.durations.of(OpKind::Create, "something_new"), Duration::from_secs(1));
        assert_eq!(m.durations.of(OpKind::Delete, "ec2_vpc"), Duration::from_secs(2));
    }

    #[test]
    fn an_override_file_changes_only_what_it_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("limits.toml");
        std::fs::write(&path, "[rate_limits.ec2]\nmutating = { burst = 10, refill_per_s = 2 }\n[rate_limits.iam]\nall = { burst = 3, refill_per_s = 1 }\n").expect("write");
        let m = Model::load(Some(&path)).expect("load");
        assert_eq!(m.bucket("ec2", "mutating"), Some(BucketSpec { burst: 10.0, refill_per_s: 2.0 }));
        assert_eq!(m.bucket("ec2", "non_mutating"), Some(BucketSpec { burst: 100.0, refill_per_s: 20.0 }));
        assert_eq!(m.bucket("iam", "all"), Some(BucketSpec { burst: 3.0, refill_per_s: 1.0 }));
    }

    #[test]
    fn a_bad_override_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("limits.toml");
        std::fs::write(&path, "[rate_limits.ec2]\nmutating = { burst = 0, refill_per_s = 2 }\n").expect("write");
        let e = Model::load(Some(&path)).expect_err("refused").to_string();
        assert!(e.contains("limits.toml") && e.contains("rate_limits.ec2.mutating"), "{e}");
        std::fs::write(&path, "[rate_limits.ec2]\nmutating = { burst = 5, refil_per_s = 2 }\n").expect("write");
        assert!(Model::load(Some(&path)).is_err(), "a misspelt key is not silently ignored");
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy { max_attempts: 8, initial_backoff_s: 0.5, max_backoff_s: 20.0 };
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(4, 1.0), Duration::from_secs(4));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(20));
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(1));
    }
}
