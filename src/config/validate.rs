//! Checking declared attributes against the kind's [`Schema`]: names (unknown, computed,
//! missing required) once per resource, and value types once per instance (the values of
//! instances differ).

use super::diag::{did_you_mean, ConfigError, Sources};
use super::eval::describe;
use super::funcs;
use super::load::RawResource;
use super::model::Tmpl;
use super::node::Entry;
use crate::resource::{AttrType, Schema, Value};

/// Unknown and computed attributes, missing required ones.
pub(crate) fn check_names(src: &Sources, schema: &Schema, res: &RawResource) -> Result<(), ConfigError> {
    let kind = &res.kind;
    for a in &res.attrs {
        match schema.get(&a.key) {
            Some(s) if s.computed => {
                return Err(src.error(a.key_span, format!("`{}` is computed by AWS and cannot be set on {kind}", a.key)))
            }
            Some(_) => {}
            None if a.key == "id" => {
                return Err(src.error(a.key_span, "`id` is assigned by AWS and cannot be set"));
            }
            None => {
                let inputs: Vec<&str> = schema.inputs().map(|s| s.name).collect();
                let hint = match did_you_mean(&a.key, inputs.iter().copied()) {
                    h if h.is_empty() => format!(" (attributes: {})", inputs.join(", ")),
                    h => h,
                };
                return Err(src.error_labelled(
                    a.key_span,
                    "unknown attribute",
                    format!("unknown attribute `{}` for {kind}{hint}", a.key),
                ));
            }
        }
    }
    let missing: Vec<&str> =
        schema.inputs().filter(|s| s.required && !res.attrs.iter().any(|a| a.key == s.name)).map(|s| s.name).collect();
    if !missing.is_empty() {
        let plural = if missing.len() > 1 { "s" } else { "" };
        let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        return Err(src.error(
            res.loc,
            format!("{kind}.{} is missing required attribute{plural} {}", res.name, names.join(", ")),
        ));
    }
    Ok(())
}

/// The evaluated value of attribute `a` has the schema's type (references are not checked:
/// their type is the target's business).
pub(crate) fn check_value(src: &Sources, schema: &Schema, kind: &str, a: &Entry, t: &Tmpl) -> Result<(), ConfigError> {
    let Some(s) = schema.get(&a.key) else {
        return Ok(());
    };
    match mismatch(&s.ty, t) {
        None => Ok(()),
        Some(got) => Err(src.error_labelled(
            a.value.span,
            "wrong type",
            format!("`{}` of {kind} must be {}, got {got}", a.key, s.ty.describe()),
        )),
    }
}

/// What `t` is, when it is not of type `ty`.
fn mismatch(ty: &AttrType, t: &Tmpl) -> Option<String> {
    let stringish = |t: &Tmpl| matches!(t, Tmpl::Lit(Value::String(_)) | Tmpl::Concat(_) | Tmpl::Ref { .. });
    match (ty, t) {
        (AttrType::Any, _) | (_, Tmpl::Ref { .. }) => None,
        (_, Tmpl::Lit(v)) if ty.accepts(v) => None,
        (AttrType::StringList, Tmpl::Lit(Value::Array(a))) => {
            a.iter().find(|v| !v.is_string()).map(|v| format!("a list holding {}", funcs::describe(v)))
        }
        (AttrType::StringMap, Tmpl::Lit(Value::Object(m))) => {
            m.values().find(|v| !v.is_string()).map(|v| format!("a table holding {}", funcs::describe(v)))
        }
        (AttrType::String, Tmpl::Concat(_)) => None,
        (AttrType::StringList, Tmpl::List(items)) => {
            items.iter().find(|i| !stringish(i)).map(|i| format!("a list holding {}", describe(i)))
        }
        (AttrType::StringMap, Tmpl::Map(m)) => {
            m.values().find(|i| !stringish(i)).map(|i| format!("a table holding {}", describe(i)))
        }
        (_, Tmpl::Concat(_)) => Some("an interpolated string".to_string()),
        (_, other) => Some(describe(other).to_string()),
    }
}
