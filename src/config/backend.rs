//! The `[backend]` table: where the state lives.
//!
//! ```toml
//! [backend]
//! type = "s3"                              # or "local" (the default when there is no table)
//! bucket = "acme-kprov-state"
//! key = "platform/${stack.env}.json"       # default: <stack>/<env>.json
//! region = "eu-west-1"                     # default: the stack's region
//! lock_table = "kprov-locks"               # default: kprov-locks
//! lock_lease = "60s"                       # default: 60s
//! ```
//!
//! Values are evaluated like locals (`${stack.env}`, `${var.x}`, functions) and must be plain
//! strings known before apply. Every mistake is a located error. Defaults and command-line
//! overrides are applied later, in `state::spec`, so that `--state-bucket` works without a table.

use super::diag::{did_you_mean, ticks, ConfigError, Sources, Span};
use super::eval::{Evaluator, Scope};
use super::model::{BackendConfig, BackendKind};
use super::node::{Entry, NodeKind};
use crate::resource::Value;

const KEYS: [&str; 6] = ["type", "bucket", "key", "region", "lock_table", "lock_lease"];
/// Keys that only mean something for the S3 backend.
const S3_ONLY: [&str; 4] = ["bucket", "key", "region", "lock_table"];
/// Shorter leases make the heartbeat (a third of the lease) too tight to survive a slow call.
pub const MIN_LEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// Evaluate and check the `[backend]` table.
pub(crate) fn evaluate(src: &Sources, ev: &mut Evaluator, table: &Entry) -> Result<BackendConfig, ConfigError> {
    let entries = table.value.entries().unwrap_or_default();
    let mut values: Vec<(&Entry, String)> = Vec::new();
    for e in entries {
        if !KEYS.contains(&e.key.as_str()) {
            return Err(src.error(
                e.key_span,
                format!("unknown key `{}` in [backend]; expected {}{}", e.key, ticks(KEYS), did_you_mean(&e.key, KEYS)),
            ));
        }
        if !matches!(e.value.kind, NodeKind::Str { .. }) {
            return Err(
                src.error(e.value.span, format!("backend `{}` must be a string, not {}", e.key, e.value.describe()))
            );
        }
        let t = ev.eval_node(&e.value, Scope::stack())?;
        match ev.known(t, e.value.span, &format!("backend `{}`", e.key))? {
            Value::String(s) => values.push((e, s)),
            other => {
                let got = super::funcs::describe(&other);
                return Err(src.error(e.value.span, format!("backend `{}` must be a string, got {got}", e.key)));
            }
        }
    }
    let get = |k: &str| values.iter().find(|(e, _)| e.key == k);

    let Some((type_entry, kind)) = get("type") else {
        return Err(src.error(table.value.span, "[backend] needs `type = \"s3\"` or `type = \"local\"`"));
    };
    let kind: BackendKind = kind.parse().map_err(|m: String| src.error(type_entry.value.span, m))?;
    let mut cfg = BackendConfig {
        kind,
        bucket: None,
        key: None,
        region: None,
        lock_table: None,
        lock_lease: None,
        loc: src.loc(table.value.span),
    };
    for (e, v) in &values {
        let at = e.value.span;
        if kind == BackendKind::Local && S3_ONLY.contains(&e.key.as_str()) {
            return Err(src.error(e.key_span, format!("backend `{}` only applies to `type = \"s3\"`", e.key)));
        }
        match e.key.as_str() {
            "bucket" => cfg.bucket = Some(checked(src, at, v, check_bucket)?),
            "key" => cfg.key = Some(checked(src, at, v, check_key)?),
            "region" => cfg.region = Some(checked(src, at, v, check_region)?),
            "lock_table" => cfg.lock_table = Some(checked(src, at, v, check_table)?),
            "lock_lease" => {
                let d = crate::state::duration::parse(v).map_err(|m| src.error(at, m))?;
                if d < MIN_LEASE {
                    return Err(src.error(at, "lock_lease must be at least 2s (the heartbeat renews it every third)"));
                }
                cfg.lock_lease = Some(d);
            }
            _ => {}
        }
    }
    if kind == BackendKind::S3 && cfg.bucket.is_none() {
        return Err(src.error(table.value.span, "an S3 backend needs `bucket = \"...\"`"));
    }
    Ok(cfg)
}

fn checked(src: &Sources, at: Span, v: &str, check: fn(&str) -> Result<(), String>) -> Result<String, ConfigError> {
    check(v).map_err(|m| src.error(at, m))?;
    Ok(v.to_string())
}

/// S3's bucket naming rules, the ones a typo breaks.
pub fn check_bucket(b: &str) -> Result<(), String> {
    let ok_chars = b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok =
        b.starts_with(|c: char| c.is_ascii_alphanumeric()) && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&b.len()) && ok_chars && ends_ok && !b.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "invalid S3 bucket name `{b}`: 3 to 63 lowercase letters, digits, `-` and `.`, starting and ending \
             with a letter or digit"
        ))
    }
}

pub fn check_key(k: &str) -> Result<(), String> {
    if k.is_empty() || k.starts_with('/') || k.ends_with('/') || k.len() > 1024 {
        Err(format!("invalid state key `{k}`: a non-empty S3 object key that does not start or end with `/`"))
    } else {
        Ok(())
    }
}

fn check_region(r: &str) -> Result<(), String> {
    if !r.is_empty() && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        Ok(())
    } else {
        Err(format!("invalid region `{r}`; expected e.g. `us-east-1`"))
    }
}

/// DynamoDB's table naming rules.
pub fn check_table(t: &str) -> Result<(), String> {
    let ok = (3..=255).contains(&t.len())
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid DynamoDB table name `{t}`: 3 to 255 letters, digits, `_`, `-` and `.`"))
    }
}
