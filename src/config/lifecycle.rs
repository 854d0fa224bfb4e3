//! A resource's `lifecycle` table: `lifecycle = { create_before_destroy = true, prevent_destroy =
//! true, ignore_changes = ["tags"] }`, or the same as a `[resource.KIND.NAME.lifecycle]`
//! sub-table. Values are literals (as in Terraform: the plan's shape may not depend on
//! expressions); `ignore_changes` names attributes of the kind's schema. What each setting does
//! is decided in `plan::diff` (ignore_changes, the replacement order), `plan::lifecycle`
//! (prevent_destroy) and `engine::ops` (create before destroy).

use super::diag::{did_you_mean, ConfigError, Sources};
use super::load::RawResource;
use super::model::Lifecycle;
use super::node::NodeKind;
use crate::resource::Schema;

const KEYS: [&str; 3] = ["create_before_destroy", "prevent_destroy", "ignore_changes"];

pub(crate) fn parse(src: &Sources, schema: &Schema, res: &RawResource) -> Result<Lifecycle, ConfigError> {
    let Some(entry) = &res.lifecycle else {
        return Ok(Lifecycle::default());
    };
    let Some(entries) = entry.value.entries() else {
        return Err(src.error(
            entry.value.span,
            format!("lifecycle must be a table such as {{ prevent_destroy = true }}, not {}", entry.value.describe()),
        ));
    };
    let mut out = Lifecycle { loc: Some(src.loc(entry.key_span)), ..Lifecycle::default() };
    for e in entries {
        let flag = || match e.value.kind {
            NodeKind::Bool(b) => Ok(b),
            _ => Err(src.error(
                e.value.span,
                format!("lifecycle `{}` must be true or false, not {}", e.key, e.value.describe()),
            )),
        };
        match e.key.as_str() {
            "create_before_destroy" => out.create_before_destroy = Some(flag()?),
            "prevent_destroy" => out.prevent_destroy = flag()?,
            "ignore_changes" => {
                let NodeKind::List(items) = &e.value.kind else {
                    return Err(src.error(
                        e.value.span,
                        format!(
                            "lifecycle `ignore_changes` must be a list of attribute names, not {}",
                            e.value.describe()
                        ),
                    ));
                };
                for item in items {
                    let NodeKind::Str { value, .. } = &item.kind else {
                        return Err(src.error(
                            item.span,
                            format!("`ignore_changes` entries are attribute names, not {}", item.describe()),
                        ));
                    };
                    match schema.get(value) {
                        Some(a) if a.computed => {
                            return Err(src.error(
                                item.span,
                                format!("`{value}` is computed by AWS: there are no changes of it to ignore"),
                            ))
                        }
                        Some(_) => out.ignore_changes.push(value.clone()),
                        None => {
                            let inputs: Vec<&str> = schema.inputs().map(|a| a.name).collect();
                            let hint = match did_you_mean(value, inputs.iter().copied()) {
                                h if h.is_empty() => format!(" (attributes: {})", inputs.join(", ")),
                                h => h,
                            };
                            return Err(src.error_labelled(
                                item.span,
                                "unknown attribute",
                                format!("`ignore_changes` names `{value}`, which {} does not have{hint}", res.kind),
                            ));
                        }
                    }
                }
            }
            other => {
                return Err(src.error_labelled(
                    e.key_span,
                    "unknown lifecycle setting",
                    format!(
                        "unknown lifecycle setting `{other}`{} (settings: {})",
                        did_you_mean(other, KEYS),
                        KEYS.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(out)
}
