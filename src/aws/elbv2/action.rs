//! Listener actions and rule conditions: plan tables ↔ SDK types, in one canonical form.
//!
//! An action in a plan is a table:
//! - `{ type = "forward", target_group_arn = "…" }`
//! - `{ type = "redirect", protocol = "HTTPS", port = 443, status_code = "HTTP_301" }` (host,
//!   path and query default to AWS's "keep" placeholders `#{host}`, `/#{path}`, `#{query}`)
//! - `{ type = "fixed-response", status_code = "404", content_type = "text/plain", message_body = "…" }`
//!
//! AWS reads a redirect back with every placeholder filled in and a port as text, so
//! [`canonical`] fills the same defaults on the plan's side; the diff then compares like with
//! like. A condition is `{ field = "path-pattern" | "host-header", values = [...] }`.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, HostHeaderConditionConfig, PathPatternConditionConfig,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition,
};
use serde_json::{json, Map, Value};

const TYPES: &[&str] = &["forward", "redirect", "fixed-response"];
/// What [`validate`] checks, for docs/resources.md.
pub const DOC: &str = "an action table: `type` `forward` (with `target_group_arn`), `redirect` (with \
                       `status_code` `HTTP_301`/`HTTP_302`) or `fixed-response` (3-digit `status_code`)";
const FIELDS: &[&str] = &["path-pattern", "host-header"];
const REDIRECT_CODES: &[&str] = &["HTTP_301", "HTTP_302"];
/// Redirect parts AWS fills with "keep as in the request" placeholders when not given.
const REDIRECT_DEFAULTS: &[(&str, &str)] = &[
    ("protocol", "#{protocol}"),
    ("port", "#{port}"),
    ("host", "#{host}"),
    ("path", "/#{path}"),
    ("query", "#{query}"),
];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The canonical form of an action table (anything else is returned as is for [`validate`]).
pub fn canonical(v: &Value) -> Value {
    let Some(m) = v.as_object() else { return v.clone() };
    let mut out = Map::new();
    for (k, v) in m {
        // Ports and status codes may be written as numbers.
        out.insert(k.clone(), text(v).map(Value::String).unwrap_or_else(|| v.clone()));
    }
    if out.get("type").and_then(Value::as_str) == Some("redirect") {
        for (k, d) in REDIRECT_DEFAULTS {
            out.entry(k.to_string()).or_insert_with(|| json!(d));
        }
    }
    Value::Object(out)
}

/// The canonical form of a list of conditions: values sorted, conditions sorted by field.
pub fn canonical_conditions(v: &Value) -> Value {
    let Some(items) = v.as_array() else { return v.clone() };
    let mut out: Vec<Value> = items
        .iter()
        .map(|c| match c.as_object() {
            Some(m) => {
                let mut m = m.clone();
                if let Some(values) = m.get("values") {
                    m.insert("values".into(), crate::aws::shared::string_set(values));
                }
                Value::Object(m)
            }
            None => c.clone(),
        })
        .collect();
    out.sort_by_key(|c| c.to_string());
    Value::Array(out)
}

/// What is wrong with an action table, if anything.
pub fn validate(v: &Value) -> Result<(), String> {
    let c = canonical(v);
    let Some(m) = c.as_object() else { return Err("an action must be a table".into()) };
    let get = |k: &str| m.get(k).and_then(Value::as_str);
    match get("type") {
        Some("forward") if get("target_group_arn").is_none() => Err("a forward action needs target_group_arn".into()),
        Some("redirect") if !get("status_code").is_some_and(|s| REDIRECT_CODES.contains(&s)) => {
            Err("a redirect needs status_code \"HTTP_301\" or \"HTTP_302\"".into())
        }
        Some("fixed-response") if get("status_code").is_none_or(|s| s.len() != 3) => {
            Err("a fixed-response action needs a 3-digit status_code".into())
        }
        Some(t) if TYPES.contains(&t) => Ok(()),
        other => Err(format!("action type must be one of {TYPES:?}, not {other:?}")),
    }
}

/// What is wrong with a condition list, if anything.
pub fn validate_conditions(v: &Value) -> Result<(), String> {
    let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
        return Err("conditions must be a non-empty list of tables".into());
    };
    for c in items {
        let field = c.get("field").and_then(Value::as_str);
        if !field.is_some_and(|f| FIELDS.contains(&f)) {
            return Err(format!("condition field must be one of {FIELDS:?}, not {field:?}"));
        }
        let ok =
            c.get("values").and_then(Value::as_array).is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
        if !ok {
            return Err("each condition needs a non-empty list of string values".into());
        }
    }
    Ok(())
}

/// The SDK action for a (validated) action table.
pub fn to_sdk(v: &Value) -> Result<Action, String> {
    validate(v)?;
    let c = canonical(v);
    let get = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let kind = get("type").unwrap_or_default();
    let b = Action::builder().r#type(ActionTypeEnum::from(kind.as_str()));
    Ok(match kind.as_str() {
        "forward" => b.set_target_group_arn(get("target_group_arn")).build(),
        "redirect" => b
            .redirect_config(
                RedirectActionConfig::builder()
                    .set_protocol(get("protocol"))
                    .set_port(get("port"))
                    .set_host(get("host"))
                    .set_path(get("path"))
                    .set_query(get("query"))
                    .set_status_code(get("status_code").map(|s| RedirectActionStatusCodeEnum::from(s.as_str())))
                    .build(),
            )
            .build(),
        _ => b
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .set_status_code(get("status_code"))
                    .set_content_type(get("content_type"))
                    .set_message_body(get("message_body"))
                    .build(),
            )
            .build(),
    })
}

/// An SDK action as a canonical table.
pub fn from_sdk(a: &Action) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            m.insert(k.to_string(), json!(v));
        }
    };
    put("type", a.r#type().map(ActionTypeEnum::as_str));
    put("target_group_arn", a.target_group_arn());
    if let Some(r) = a.redirect_config() {
        put("protocol", r.protocol());
        put("port", r.port());
        put("host", r.host());
        put("path", r.path());
        put("query", r.query());
        put("status_code", r.status_code().map(RedirectActionStatusCodeEnum::as_str));
    }
    if let Some(f) = a.fixed_response_config() {
        put("status_code", f.status_code());
        put("content_type", f.content_type());
        put("message_body", f.message_body());
    }
    canonical(&Value::Object(m))
}

/// The SDK conditions for a (validated) condition list.
pub fn conditions_to_sdk(v: &Value) -> Result<Vec<RuleCondition>, String> {
    validate_conditions(v)?;
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(items
        .iter()
        .map(|c| {
            let field = c.get("field").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<String> = c
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            let b = RuleCondition::builder().field(field);
            if field == "host-header" {
                b.host_header_config(HostHeaderConditionConfig::builder().set_values(Some(values)).build()).build()
            } else {
                b.path_pattern_config(PathPatternConditionConfig::builder().set_values(Some(values)).build()).build()
            }
        })
        .collect())
}

/// SDK conditions as a canonical list (values from the typed config, or the legacy `Values`).
pub fn conditions_from_sdk(conditions: &[RuleCondition]) -> Value {
    let items: Vec<Value> = conditions
        .iter()
        .map(|c| {
            let typed = c
                .path_pattern_config()
                .map(|p| p.values())
                .or_else(|| c.host_header_config().map(|h| h.values()))
                .filter(|v| !v.is_empty());
            let values = typed.unwrap_or(c.values());
            json!({"field": c.field().unwrap_or_default(), "values": values})
        })
        .collect();
    canonical_conditions(&Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_defaults_and_numeric_ports_are_canonical() {
        let plan = json!({"type": "redirect", "protocol": "HTTPS", "port": 443, "status_code": "HTTP_301"});
        let sdk = to_sdk(&plan).expect("valid");
        assert_eq!(from_sdk(&sdk), canonical(&plan));
        assert_eq!(canonical(&plan)["host"], json!("#{host}"));
        assert_eq!(canonical(&plan)["port"], json!("443"));
    }

    #[test]
    fn round_trips() {
        for a in [
            json!({"type": "forward", "target_group_arn": "arn:tg"}),
            json!({"type": "fixed-response", "status_code": 404, "content_type": "text/plain", "message_body": "no"}),
        ] {
            assert_eq!(from_sdk(&to_sdk(&a).expect("valid")), canonical(&a));
        }
        let conds =
            json!([{"field": "path-pattern", "values": ["/b", "/a"]}, {"field": "host-header", "values": ["x"]}]);
        let sdk = conditions_to_sdk(&conds).expect("valid");
        assert_eq!(conditions_from_sdk(&sdk), canonical_conditions(&conds));
    }

    #[test]
    fn invalid_actions_and_conditions() {
        assert!(validate(&json!({"type": "forward"})).is_err());
        assert!(validate(&json!({"type": "redirect", "protocol": "HTTPS"})).is_err());
        assert!(validate(&json!({"type": "teleport"})).is_err());
        assert!(validate_conditions(&json!([])).is_err());
        assert!(validate_conditions(&json!([{"field": "cookie", "values": ["a"]}])).is_err());
    }
}
