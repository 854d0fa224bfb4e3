//! JSON policy documents (IAM trust and inline policies, KMS key policies): parsing,
//! validation, and the one canonical form used to compare them.
//!
//! A plan may give a document as a table or as JSON text; AWS hands it back as text (IAM
//! URL-encodes it), in the key order and spacing it was sent in. Comparing text would report
//! changes that are none, so both sides go through [`normalize`]: parsed, keys sorted (serde
//! JSON maps are ordered), and the spellings IAM treats as equal made equal — a single
//! `Statement` object or a one-element list; `"Action": "x"` or `["x"]`; the order of actions,
//! resources, principals and condition values. The kinds register [`normalize`] on their
//! document attributes (the diff applies it to the desired value) and apply it to what they
//! read.
//!
//! Validation happens before any AWS call because the emulator accepts anything as a trust
//! policy: [`validate`] checks the structure IAM requires of each sort of document.

use serde_json::{Map, Value};

use crate::resource::{Constraint, ResourceError, Spec};

/// Which rules a document must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A role's trust (assume-role) policy: every statement names a `Principal`.
    Trust,
    /// An identity policy (inline or managed): no `Principal`, every statement a resource.
    Identity,
    /// A resource policy (KMS key policy): every statement names a `Principal`.
    Resource,
}

/// Policy language versions IAM accepts.
const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];
/// Statement members whose value is a string or a list of strings with set semantics.
const LIST_MEMBERS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// The document as a JSON object: a table as is, JSON text parsed (URL-decoded first when it
/// is IAM's URL-encoded form).
pub fn parse(v: &Value) -> Result<Value, String> {
    let parsed = match v {
        Value::Object(_) => v.clone(),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(doc) => doc,
            Err(first) => match percent_decode(text).and_then(|t| serde_json::from_str(&t).ok()) {
                Some(doc) => doc,
                None => return Err(format!("not valid JSON: {first}")),
            },
        },
        other => return Err(format!("must be a table or JSON text, not {other}")),
    };
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err("must be a JSON object".to_string())
    }
}

/// The canonical form of a document (see the module docs); a value that is not a document is
/// returned as is, for [`validate`] to report.
pub fn normalize(v: &Value) -> Value {
    match parse(v) {
        Ok(doc) => canonical(doc),
        Err(_) => v.clone(),
    }
}

/// The canonical form of a map of name → document (inline policies).
pub fn normalize_map(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, d)| (k.clone(), normalize(d))).collect()),
        other => other.clone(),
    }
}

/// Compact JSON text of the document, to send to AWS.
pub fn to_text(v: &Value) -> Result<String, String> {
    parse(v).map(|d| d.to_string())
}

/// The document of `spec`'s attribute `attr` as JSON text (validated before, by the
/// attribute's [`constraint`]).
pub fn text_of(spec: &Spec, attr: &str) -> Result<String, ResourceError> {
    let v = spec.attrs.get(attr).ok_or_else(|| super::invalid(spec, format!("`{attr}` is required")))?;
    to_text(v).map_err(|m| super::invalid(spec, format!("`{attr}`: {m}")))
}

/// The schema constraint of a `kind` document attribute: [`validate`], as a structural check
/// (it looks at the document's shape, not at the ARNs inside, so it runs at plan time even
/// when those are references not known yet).
pub fn constraint(kind: PolicyKind) -> Constraint {
    match kind {
        PolicyKind::Trust => Constraint::structure(
            "an IAM trust policy document: `Version`, and statements with `Effect` `Allow`/`Deny`, `Action` and a `Principal`",
            |v| validate(v, PolicyKind::Trust),
        ),
        PolicyKind::Identity => Constraint::structure(
            "an IAM policy document: `Version`, and statements with `Effect` `Allow`/`Deny`, `Action` and `Resource`",
            |v| validate(v, PolicyKind::Identity),
        ),
        PolicyKind::Resource => Constraint::structure(
            "a resource policy document: `Version`, and statements with `Effect` `Allow`/`Deny`, `Action` and a `Principal`",
            |v| validate(v, PolicyKind::Resource),
        ),
    }
}

fn canonical(mut doc: Value) -> Value {
    let Some(obj) = doc.as_object_mut() else { return doc };
    if let Some(st) = obj.get_mut("Statement") {
        if st.is_object() {
            *st = Value::Array(vec![st.take()]);
        }
        if let Some(items) = st.as_array_mut() {
            for s in items.iter_mut().filter_map(Value::as_object_mut) {
                canonical_statement(s);
            }
        }
    }
    doc
}

fn canonical_statement(s: &mut Map<String, Value>) {
    for key in LIST_MEMBERS {
        if let Some(v) = s.get_mut(*key) {
            string_set(v);
        }
    }
    for key in ["Principal", "NotPrincipal"] {
        if let Some(Value::Object(p)) = s.get_mut(key) {
            p.values_mut().for_each(string_set);
        }
    }
    if let Some(Value::Object(cond)) = s.get_mut("Condition") {
        for per_key in cond.values_mut().filter_map(Value::as_object_mut) {
            per_key.values_mut().for_each(string_set);
        }
    }
}

/// `"x"` → `["x"]`; a list of strings sorted and deduplicated; anything else unchanged.
fn string_set(v: &mut Value) {
    match v {
        Value::String(s) => *v = Value::Array(vec![Value::String(std::mem::take(s))]),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            items.dedup();
        }
        _ => {}
    }
}

/// Check the structure IAM requires of a `kind` document; the message says what is wrong.
pub fn validate(v: &Value, kind: PolicyKind) -> Result<(), String> {
    let doc = parse(v)?;
    // IAM defaults a missing Version to 2008-10-17 (no policy variables), which surprises;
    // some endpoints refuse it outright. Asking for it keeps behaviour the same everywhere.
    match doc.get("Version") {
        Some(v) if v.as_str().is_some_and(|s| VERSIONS.contains(&s)) => {}
        Some(v) => return Err(format!("`Version` must be one of {VERSIONS:?}, not {v}")),
        None => return Err(format!("needs a `Version` (\"{}\")", VERSIONS[0])),
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return Err("needs a non-empty `Statement`".to_string()),
    };
    for (i, s) in statements.iter().enumerate() {
        let at = |m: &str| format!("statement {}: {m}", i + 1);
        let Some(s) = s.as_object() else { return Err(at("must be a table")) };
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            _ => return Err(at("`Effect` must be \"Allow\" or \"Deny\"")),
        }
        if !s.contains_key("Action") && !s.contains_key("NotAction") {
            return Err(at("needs `Action` or `NotAction`"));
        }
        for key in LIST_MEMBERS {
            if let Some(v) = s.get(*key) {
                let ok = v.is_string() || v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
                if !ok {
                    return Err(at(&format!("`{key}` must be a string or a non-empty list of strings")));
                }
            }
        }
        let has_principal = s.contains_key("Principal") || s.contains_key("NotPrincipal");
        match kind {
            PolicyKind::Trust | PolicyKind::Resource if !has_principal => {
                return Err(at("needs a `Principal` (who may use it)"))
            }
            PolicyKind::Identity if has_principal => {
                return Err(at("an identity policy cannot name a `Principal`"));
            }
            PolicyKind::Identity if !s.contains_key("Resource") && !s.contains_key("NotResource") => {
                return Err(at("needs `Resource` or `NotResource`"));
            }
            _ => {}
        }
        if let Some(c) = s.get("Condition") {
            if !c.as_object().is_some_and(|m| m.values().all(Value::is_object)) {
                return Err(at("`Condition` must map operators to tables of keys and values"));
            }
        }
    }
    Ok(())
}

/// Decode RFC 3986 percent-encoding (IAM's form for documents); `None` if malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trust() -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        })
    }

    #[test]
    fn key_order_spacing_and_encoding_do_not_matter() {
        let text = r#"{"Statement":{"Action":["sts:AssumeRole"],"Principal":{"Service":["eks.amazonaws.com"]},
                       "Effect":"Allow"},   "Version":"2012-10-17"}"#;
        assert_eq!(normalize(&json!(text)), normalize(&trust()));
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C\
                       %22Principal%22%3A%7B%22Service%22%3A%22eks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        assert_eq!(normalize(&json!(encoded)), normalize(&trust()));
    }

    #[test]
    fn real_differences_remain() {
        let mut other = trust();
        other["Statement"][0]["Principal"]["Service"] = json!("ec2.amazonaws.com");
        assert_ne!(normalize(&other), normalize(&trust()));
        let two = json!({"Statement": [{"Effect": "Allow", "Action": ["b", "a"], "Resource": "*"}]});
        // (normalisation does not need a valid document)
        let two_sorted = json!({"Statement": [{"Effect": "Allow", "Action": ["a", "b", "a"], "Resource": ["*"]}]});
        assert_eq!(normalize(&two), normalize(&two_sorted));
    }

    #[test]
    fn validation_refuses_what_iam_refuses() {
        assert!(validate(&trust(), PolicyKind::Trust).is_ok());
        assert!(validate(&json!("{not json"), PolicyKind::Trust).unwrap_err().contains("not valid JSON"));
        assert!(validate(&json!({"Version": "2012-10-17", "Statement": []}), PolicyKind::Trust).is_err());
        let no_version = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        assert!(validate(&no_version, PolicyKind::Identity).unwrap_err().contains("Version"));
        let no_principal =
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]});
        assert!(validate(&no_principal, PolicyKind::Trust).unwrap_err().contains("Principal"));
        assert!(validate(&trust(), PolicyKind::Identity).unwrap_err().contains("Principal"));
        let bad_effect =
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]});
        assert!(validate(&bad_effect, PolicyKind::Identity).unwrap_err().contains("Effect"));
        let bad_version =
            json!({"Version": "2020-01-01", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        assert!(validate(&bad_version, PolicyKind::Identity).unwrap_err().contains("Version"));
        let identity =
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        assert!(validate(&identity, PolicyKind::Identity).is_ok());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("bad%2"), None);
    }
}
