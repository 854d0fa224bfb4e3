//! Sensitive values: how a secret is kept out of state, plan files, plan output, drift reports
//! and logs, while kprov can still tell "unchanged" from "changed".
//!
//! A value of an attribute whose schema says `sensitive` is replaced by a *marker* before it
//! is written anywhere:
//!
//! ```json
//! { "sensitive": "pbkdf2-sha256:600000:<salt hex>:<digest hex>" }
//! ```
//!
//! The digest is PBKDF2-HMAC-SHA256 over the value's JSON text with a random 128-bit salt per
//! marker and 600 000 iterations (OWASP's 2023 figure), computed by aws-lc (already linked for
//! TLS). Why this and not a plain or keyed hash: whoever can read the state can test guesses
//! against any digest stored in it — a plain SHA-256 at billions of guesses per second, an
//! HMAC whose key sits in the same state just as fast. A per-marker salt stops precomputed
//! tables and hides that two resources share a secret; the iteration count makes every guess
//! cost ~0.1 s of CPU (~10⁴ guesses/s on a large GPU), which puts random keys, tokens and
//! passwords of 12+ random characters out of reach. A short or dictionary password stays
//! guessable by anyone holding the state: keep the state access-controlled (the S3 bucket is
//! encrypted and private) and use high-entropy secrets. Only a key kept outside the state
//! would close that gap, at the price of a key every run must have; docs/state.md discusses it.
//!
//! Flow:
//! - [`seal_attrs`] turns a resource's sensitive plaintext values into markers, keeping a
//!   prior marker that still matches (so a re-write does not churn the state);
//! - [`same`] compares a wanted plaintext value with a recorded one, either of which may be a
//!   marker (the plan diff and drift use it);
//! - [`redact_tmpl`] / [`REDACTED`] are what output shows instead.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;

use super::{Attrs, Schema, Value};

/// The key of a marker object.
pub const MARKER_KEY: &str = "sensitive";
/// What output shows in place of a sensitive value.
pub const REDACTED: &str = "(sensitive)";
const SCHEME: &str = "pbkdf2-sha256";
const ITERATIONS: u32 = 600_000;
const SALT_LEN: usize = 16;
const DIGEST_LEN: usize = 32;

/// Is `v` a marker (`{"sensitive": "…"}`)?
pub fn is_marker(v: &Value) -> bool {
    marker_text(v).is_some()
}

fn marker_text(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get(MARKER_KEY)?.as_str(),
        _ => None,
    }
}

/// The bytes a value is hashed as: its compact JSON text (a string keeps its quotes, so
/// `"1"` and `1` differ).
fn hash_input(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A new marker for plaintext `v` (a marker is returned unchanged).
pub fn seal(v: &Value) -> Value {
    if is_marker(v) {
        return v.clone();
    }
    let mut salt = [0u8; SALT_LEN];
    // The system RNG failing is not something to recover from; a zero salt would still hide the
    // value (only the per-marker uniqueness is lost).
    let _ = aws_lc_rs::rand::fill(&mut salt);
    let mut digest = [0u8; DIGEST_LEN];
    let iterations = NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, &hash_input(v), &mut digest);
    let text = format!("{SCHEME}:{ITERATIONS}:{}:{}", hex::encode(salt), hex::encode(digest));
    serde_json::json!({ MARKER_KEY: text })
}

/// Does `marker` stand for plaintext `v`? (Constant-time comparison of the digests.) A marker
/// in a form this kprov does not know never matches, so the value is re-applied.
pub fn matches(marker: &Value, v: &Value) -> bool {
    let Some(text) = marker_text(marker) else { return false };
    let mut parts = text.split(':');
    let (Some(SCHEME), Some(iter), Some(salt), Some(digest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(iter), Ok(salt), Ok(digest)) =
        (iter.parse::<u32>().ok().and_then(NonZeroU32::new), hex::decode(salt), hex::decode(digest))
    else {
        return false;
    };
    if digest.is_empty() || digest.len() > DIGEST_LEN {
        return false;
    }
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, iter, &salt, &hash_input(v), &digest).is_ok()
}

/// Are `a` and `b` the same value, where either may be a marker? Two different markers are
/// compared as text only: neither reveals its value.
pub fn same(a: &Value, b: &Value) -> bool {
    match (is_marker(a), is_marker(b)) {
        (false, false) | (true, true) => a == b,
        (true, false) => matches(a, b),
        (false, true) => matches(b, a),
    }
}

/// `v` sealed, reusing `prior` when it is a marker that still stands for `v`.
pub fn seal_reusing(prior: Option<&Value>, v: &Value) -> Value {
    match prior {
        Some(p) if is_marker(p) && same(p, v) => p.clone(),
        _ => seal(v),
    }
}

/// Replace every sensitive plaintext value in `attrs` by a marker (markers stay as they are;
/// a prior marker for the same value is kept). Returns whether anything changed.
pub fn seal_attrs(schema: &Schema, attrs: &mut Attrs, prior: Option<&Attrs>) -> bool {
    let mut changed = false;
    for a in schema.attrs.iter().filter(|a| a.sensitive) {
        let Some(v) = attrs.get(a.name) else { continue };
        if is_marker(v) || v.is_null() {
            continue;
        }
        let sealed = seal_reusing(prior.and_then(|p| p.get(a.name)), v);
        attrs.insert(a.name.to_string(), sealed);
        changed = true;
    }
    changed
}

/// The redacted stand-in for a value in output.
pub fn redacted() -> Value {
    Value::String(REDACTED.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AttrSchema, AttrType};
    use serde_json::json;

    #[test]
    fn a_marker_matches_its_value_only_and_hides_it() {
        let secret = json!("hunter2-canary");
        let m = seal(&secret);
        assert!(is_marker(&m));
        assert!(!m.to_string().contains("hunter2"));
        assert!(matches(&m, &secret));
        assert!(!matches(&m, &json!("hunter3-canary")));
        assert!(same(&secret, &m) && same(&m, &secret));
        // Salted: the same value seals differently each time, yet both match.
        let m2 = seal(&secret);
        assert_ne!(m, m2);
        assert!(matches(&m2, &secret));
        // Reuse keeps a matching prior marker, replaces a stale one.
        assert_eq!(seal_reusing(Some(&m), &secret), m);
        assert_ne!(seal_reusing(Some(&m), &json!("other")), m);
        // Damaged or foreign markers never match.
        for bad in [json!({"sensitive": "md5:1:00:00"}), json!({"sensitive": "pbkdf2-sha256:x:00:00"}), json!({})] {
            assert!(!matches(&bad, &secret));
        }
    }

    #[test]
    fn seal_attrs_touches_sensitive_attributes_only() {
        let schema = Schema::new(vec![
            AttrSchema::required("private_key", AttrType::String).sensitive(),
            AttrSchema::optional("name", AttrType::String),
        ]);
        let mut attrs: Attrs = serde_json::from_value(json!({"private_key": "k1", "name": "n"})).unwrap();
        assert!(seal_attrs(&schema, &mut attrs, None));
        assert!(is_marker(&attrs["private_key"]) && attrs["name"] == json!("n"));
        let first = attrs.clone();
        assert!(!seal_attrs(&schema, &mut attrs, None), "markers are left alone");
        let mut again: Attrs = serde_json::from_value(json!({"private_key": "k1", "name": "n"})).unwrap();
        seal_attrs(&schema, &mut again, Some(&first));
        assert_eq!(again, first, "a matching prior marker is kept: no churn");
    }
}
