//! The reference of every resource kind, generated from the schemas: `docs/resources.md`.
//!
//! One table per kind: each attribute with its type, whether the plan must, may or cannot set
//! it (computed by AWS), its default, whether a change replaces the resource, its constraints
//! and its doc line. The schemas are the only source, so the page cannot disagree with what
//! `kprov validate` and `kprov plan` check; a test (`aws::tests::resources_doc_is_current`)
//! fails when the committed page is stale and says how to regenerate it.

use super::{AttrSchema, AttrType, Registry};

/// Where the generated page lives, relative to the crate root.
pub const RESOURCES_MD: &str = "docs/resources.md";

/// The page for every kind in `registry`, grouped by service (the kind's prefix).
pub fn resources_markdown(registry: &Registry) -> String {
    let mut out = String::from(
        "# Resource kinds\n\n\
         <!-- Generated from the schemas by `kprov::resource::docs` — do not edit by hand. Regenerate with\n\
         `KPROV_BLESS=1 cargo test --lib resources_doc_is_current`. -->\n\n\
         Every kind and attribute the plans may use, generated from the resource schemas. *Required*:\n\
         the plan must set it; *optional*: it may (an optional attribute without a default is not\n\
         managed when the plan leaves it unset); *computed*: AWS assigns it, readable as\n\
         `${kind.name.attr}`, never set. *Replace*: changing it replaces the resource. Constraints are\n\
         checked by `kprov validate` and `kprov plan` before any AWS call (a value that refers to a\n\
         resource not created yet: just before its create or update). Every resource also has `id`.\n\
         How each kind calls AWS, waits and recovers: [resource-behaviour.md](resource-behaviour.md).\n",
    );
    let mut service = "";
    for name in registry.names() {
        let Some(schema) = registry.schema(name) else { continue };
        let prefix = name.split('_').next().unwrap_or(name);
        if prefix != service {
            service = prefix;
            out.push_str(&format!("\n## {}\n", service_title(prefix)));
        }
        out.push_str(&format!("\n### `{name}`\n\n"));
        out.push_str("| Attribute | Type | | Default | Change | Constraints | Description |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for a in &schema.attrs {
            out.push_str(&row(a));
        }
    }
    out
}

fn service_title(prefix: &str) -> String {
    match prefix {
        "acm" => "ACM".into(),
        "ec2" => "EC2 / VPC".into(),
        "ecr" => "ECR".into(),
        "eks" => "EKS".into(),
        "elbv2" => "Elastic Load Balancing".into(),
        "iam" => "IAM".into(),
        "kms" => "KMS".into(),
        "logs" => "CloudWatch Logs".into(),
        "route53" => "Route 53".into(),
        other => other.to_string(),
    }
}

fn row(a: &AttrSchema) -> String {
    let ty = match a.ty {
        AttrType::String => "string",
        AttrType::Bool => "bool",
        AttrType::Int => "integer",
        AttrType::StringList if a.unordered => "list of strings (unordered)",
        AttrType::StringList => "list of strings",
        AttrType::StringMap => "table of strings",
        AttrType::Any => "any",
    };
    let presence = if a.computed {
        "computed"
    } else if a.required {
        "required"
    } else {
        "optional"
    };
    let default = a.default.as_ref().map_or_else(String::new, |d| format!("`{d}`"));
    let change = if a.computed {
        ""
    } else if a.force_new {
        "replace"
    } else {
        "in place"
    };
    let mut constraints: Vec<String> = a.constraints.iter().map(|c| c.describe()).collect();
    if a.sensitive {
        constraints.push("sensitive (never shown, sealed in state)".into());
    }
    format!(
        "| `{}` | {ty} | {presence} | {} | {change} | {} | {} |\n",
        a.name,
        cell(&default),
        cell(&constraints.join("; ")),
        cell(a.doc)
    )
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
