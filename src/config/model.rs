//! What the config layer hands to the rest of kprov: a [`Stack`] of resource declarations whose
//! attribute values are [`Tmpl`]s — values with the variables, locals and `each.*` already
//! substituted, and only references to other resources' attributes left to resolve.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::resource::{Address, Value};

/// A position in a plan file, 1-based, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLoc {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// The loaded plans for one environment.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `[stack] name`; the `kprov:stack` ownership tag.
    pub name: String,
    pub env: String,
    /// The AWS region (the `region` variable).
    pub region: String,
    /// In file order, then declaration order; instances of a repeated resource sorted by key.
    pub resources: Vec<ResourceDecl>,
    /// The `[backend]` table; `None` means the local default (`state/<stack>/<env>.json`).
    pub backend: Option<BackendConfig>,
    /// `[drift] ignore` rules.
    pub drift_ignore: Vec<crate::drift::IgnoreRule>,
    /// `[[moved]]` blocks, in file order: renames applied to the state before planning.
    pub moved: Vec<MovedDecl>,
}

/// One `[[moved]]` block: `from` is recorded in the state under its old address, `to` is
/// declared in the plans (checked at load time; see `config::moved`).
#[derive(Debug, Clone, PartialEq)]
pub struct MovedDecl {
    pub from: Address,
    pub to: Address,
    pub loc: SourceLoc,
}

/// Where the state lives, as the `[backend]` table declares it. Unset values take their
/// defaults (and command-line overrides) in `state::spec`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    pub kind: BackendKind,
    /// S3 only: the bucket holding the state object.
    pub bucket: Option<String>,
    /// S3 only: the object key, `${stack.env}` etc. already substituted.
    pub key: Option<String>,
    /// S3 only: the region of the bucket and the lock table (default: the stack's region).
    pub region: Option<String>,
    /// S3 only: the DynamoDB lock table.
    pub lock_table: Option<String>,
    /// How long a lock lease lasts without a heartbeat.
    pub lock_lease: Option<std::time::Duration>,
    /// Where the `[backend]` table is.
    pub loc: SourceLoc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    S3,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(BackendKind::Local),
            "s3" => Ok(BackendKind::S3),
            other => Err(format!("unknown backend type `{other}`; expected `local` or `s3`")),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Local => "local",
            BackendKind::S3 => "s3",
        })
    }
}

/// One resource instance as declared.
#[derive(Debug, Clone)]
pub struct ResourceDecl {
    pub address: Address,
    /// Attributes set in the plan (schema defaults are applied later, by the plan layer).
    pub attrs: BTreeMap<String, Tmpl>,
    /// Explicit `depends_on`, in addition to the references found in `attrs`.
    pub depends_on: Vec<Address>,
    /// The `lifecycle` table (see `config::lifecycle`).
    pub lifecycle: Lifecycle,
    /// Where the resource's table starts.
    pub loc: SourceLoc,
    /// Where each attribute's value is written (for errors about one attribute, such as a
    /// kind's plan-time check).
    pub attr_locs: BTreeMap<String, SourceLoc>,
}

/// `lifecycle = { create_before_destroy, prevent_destroy, ignore_changes }` of one resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// `None`: the kind's default (see `resource::Schema::create_before_destroy`).
    pub create_before_destroy: Option<bool>,
    /// A plan that would delete or replace this resource fails.
    pub prevent_destroy: bool,
    /// Attributes whose changes are not planned (what exists is kept; a create still uses them).
    pub ignore_changes: Vec<String>,
    /// Where the `lifecycle` table is (for `prevent_destroy` errors); `None` when not declared.
    pub loc: Option<SourceLoc>,
}

impl ResourceDecl {
    /// Every resource this one depends on: references and `depends_on`, sorted, unique.
    pub fn dependencies(&self) -> Vec<Address> {
        let mut deps: Vec<Address> = self.attrs.values().flat_map(|t| t.refs()).map(|(a, _)| a.clone()).collect();
        deps.extend(self.depends_on.iter().cloned());
        deps.sort();
        deps.dedup();
        deps
    }

    /// Where attribute `name` is set, or the resource's table when it is not set there.
    pub fn attr_loc(&self, name: &str) -> &SourceLoc {
        self.attr_locs.get(name).unwrap_or(&self.loc)
    }
}

/// An attribute value that may still refer to other resources' attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tmpl {
    /// A plain value.
    Lit(Value),
    /// `${kind.name.attr}` or `${kind.name["key"].attr}`.
    Ref {
        target: Address,
        attr: String,
    },
    /// A string built from pieces: `"${ec2_vpc.main.id}-suffix"`.
    Concat(Vec<Tmpl>),
    List(Vec<Tmpl>),
    Map(BTreeMap<String, Tmpl>),
}

impl Tmpl {
    /// The (resource, attribute) pairs this value refers to.
    pub fn refs(&self) -> Vec<(&Address, &str)> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs<'a>(&'a self, out: &mut Vec<(&'a Address, &'a str)>) {
        match self {
            Tmpl::Lit(_) => {}
            Tmpl::Ref { target, attr } => out.push((target, attr)),
            Tmpl::Concat(v) | Tmpl::List(v) => v.iter().for_each(|t| t.collect_refs(out)),
            Tmpl::Map(m) => m.values().for_each(|t| t.collect_refs(out)),
        }
    }

    /// Resolve with `lookup(target, attr)`; `None` when any referenced value is not known yet
    /// (the target is still to be created), i.e. "(known after apply)".
    pub fn resolve(&self, lookup: &dyn Fn(&Address, &str) -> Option<Value>) -> Option<Value> {
        Some(match self {
            Tmpl::Lit(v) => v.clone(),
            Tmpl::Ref { target, attr } => lookup(target, attr)?,
            Tmpl::Concat(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p.resolve(lookup)? {
                        Value::String(x) => s.push_str(&x),
                        Value::Null => {}
                        other => s.push_str(&other.to_string()),
                    }
                }
                Value::String(s)
            }
            Tmpl::List(items) => Value::Array(items.iter().map(|t| t.resolve(lookup)).collect::<Option<_>>()?),
            Tmpl::Map(m) => {
                Value::Object(m.iter().map(|(k, t)| Some((k.clone(), t.resolve(lookup)?))).collect::<Option<_>>()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_references_or_reports_unknown() {
        let vpc: Address = "ec2_vpc.main".parse().unwrap();
        let t = Tmpl::Concat(vec![Tmpl::Ref { target: vpc.clone(), attr: "id".into() }, Tmpl::Lit(json!("-x"))]);
        assert_eq!(t.refs(), vec![(&vpc, "id")]);
        let known = |_: &Address, _: &str| Some(json!("vpc-1"));
        assert_eq!(t.resolve(&known), Some(json!("vpc-1-x")));
        let unknown = |_: &Address, _: &str| None;
        assert_eq!(t.resolve(&unknown), None);
    }
}
