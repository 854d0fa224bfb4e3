//! Plans: what `apply` will do, per address, with attribute-level differences.
//!
//! [`refresh`] reads what exists for every resource in state (batched per kind); [`diff`] turns
//! the declarations, the state and the refreshed resources into a [`Plan`]; [`render`] prints it
//! as text or JSON. A plan is a plain serializable value: `plan --out` saves it and `apply PLAN`
//! runs exactly it, refusing when the state moved on since it was made.

pub mod cost;
pub mod diff;
pub mod lifecycle;
pub mod recover;
pub mod refresh;
pub mod render;
pub mod secrets;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Tmpl;
use crate::resource::{Address, Observed, Value};

pub use diff::{destroy_plan, diff, DiffInput};
pub use refresh::{refresh, RefreshError, Refreshed};

/// Saved plan format version.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    /// The plan symbol, as Terraform users know it.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// The value an attribute will have after apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "value")]
pub enum After {
    Known(Value),
    /// Depends on a resource not created yet: "(known after apply)".
    Unknown,
    /// No longer set (only in deletes).
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: After,
    /// Changing this attribute forces a replacement.
    pub force_new: bool,
    pub sensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub kind: String,
    pub action: Action,
    /// Attribute differences (for NoOp: none).
    pub attrs: Vec<AttrChange>,
    /// The desired attributes, defaults applied, references unresolved (create/update/replace/no-op).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub desired: BTreeMap<String, Tmpl>,
    /// Resources this one depends on in the plans (apply ordering).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Address>,
    /// What exists now (update/replace/delete/no-op).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Observed>,
    /// Dependencies recorded in state (delete ordering: dependents are deleted first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_dependencies: Vec<Address>,
    /// Attributes whose values are sensitive (from the schema): never shown, sealed in plan
    /// files (see [`secrets`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Why: "tainted", "deleted outside kprov", "adopted after an interrupted create", …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `prior` was found by its ownership tags after an interrupted create: apply finishes that
    /// create ([`crate::resource::ResourceKind::resume_create`], e.g. waits until it is usable)
    /// before anything that depends on it runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// A replace that creates the new resource before deleting the old one (the kind's default
    /// or the plan's `lifecycle`); dependents move to the new one before the old one goes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// Why a replace is needed: the attributes that force it, `tainted`, or the parent
    /// resource being replaced (`replaced with eks_cluster.main`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forced_by: Vec<String>,
    /// The replacement of a stateful kind (a cluster, a key, a zone…): printed as a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub kprov_version: String,
    pub stack: String,
    pub env: String,
    pub region: String,
    pub destroy: bool,
    /// The state this plan was made from; `apply PLAN` refuses if the state has moved on.
    pub state_lineage: Option<String>,
    pub state_serial: u64,
    /// Every resource, dependencies first (NoOp included: the engine resolves references
    /// through them).
    pub changes: Vec<Change>,
    /// Renames (`[[moved]]`) this plan was made with: applied to the state before refresh and
    /// diff, and again by apply before it runs, so the state records the new addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<crate::state::moves::Move>,
    /// Interrupted creates (pending intents) that refresh found were never made — not by
    /// their tags, nor by their natural key or idempotency token: their records are dropped,
    /// and the plan says so instead of forgetting them silently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmade: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.replace + self.delete > 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} to create, {} to update, {} to replace, {} to delete, {} unchanged",
            self.create, self.update, self.replace, self.delete, self.unchanged
        )
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::NoOp => s.unchanged += 1,
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
            }
        }
        s
    }
    pub fn has_changes(&self) -> bool {
        self.summary().has_changes()
    }
    /// Does applying this plan change the state even without an AWS change (a rename)?
    pub fn has_state_changes(&self) -> bool {
        !self.moved.is_empty()
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// A kind's own validation refused the declared resource (see [`validate`]).
    #[error("{loc}: {address}: {message}")]
    Invalid { loc: crate::config::SourceLoc, address: Address, message: String },
    /// The plan would delete or replace a resource whose `lifecycle` has `prevent_destroy`.
    #[error(
        "{loc}: {address} has lifecycle.prevent_destroy = true, but this plan would {action} it; \
         remove prevent_destroy (or the change that forces it) to go ahead"
    )]
    PreventDestroy { loc: crate::config::SourceLoc, address: Address, action: &'static str },
    /// A read that checks values against what exists in the region failed.
    #[error("checking {what}: {source}")]
    Lookup { what: &'static str, source: crate::resource::ResourceError },
    /// Several refusals found in one run, one line each (each starting with its location).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<PlanError>),
}

impl PlanError {
    /// One error for a list of them (in file order); `None` for none.
    pub fn from_list(mut errors: Vec<PlanError>) -> Option<PlanError> {
        let loc = |e: &PlanError| match e {
            PlanError::Invalid { loc, .. } => Some((loc.file.clone(), loc.line, loc.col)),
            _ => None,
        };
        errors.sort_by_key(loc);
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(PlanError::Many(errors)),
        }
    }
}

/// Build the graph, refresh what the state records, and diff: the whole of `kprov plan`.
pub async fn make(
    stack: &crate::config::Stack,
    registry: &crate::resource::Registry,
    state: Option<&crate::state::State>,
    cx: &crate::resource::Cx,
    destroy: bool,
) -> Result<Plan, PlanError> {
    let graph = crate::graph::ResourceGraph::build(stack)?;
    let empty = crate::state::State::new(&stack.name, &stack.env);
    let state_or_empty = state.unwrap_or(&empty);
    if !destroy {
        // Before any AWS call: against what the state records.
        let recorded = |a: &Address| state_or_empty.resources.get(&a.to_string());
        let lookup = |a: &Address, attr: &str| {
            let r = recorded(a)?;
            if attr == "id" {
                r.id.clone().map(Value::String)
            } else {
                r.attributes.get(attr).cloned()
            }
        };
        validate::check(stack, registry, &lookup, &|a| recorded(a).filter(|r| r.id.is_some()).map(|r| &r.attributes))?;
    }
    // Reads only, both: the zones, instance types and versions the plans name exist, and what
    // the state records. Run side by side, so the checks add no round trips to a plan.
    let reads = async {
        if destroy {
            Ok(())
        } else {
            validate::reads::check(stack, registry).await
        }
    };
    let (reads, refreshed) = futures::join!(reads, refresh(registry, cx, state_or_empty));
    reads?;
    let refreshed = refreshed?;
    if destroy {
        let plan = destroy_plan(stack, state, &refreshed);
        lifecycle::check_prevent_destroy(stack, &plan)?;
        return Ok(plan);
    }
    // Again against what exists now (it may have changed outside kprov).
    let observed = |a: &Address| refreshed.observed.get(&a.to_string());
    let lookup = |a: &Address, attr: &str| {
        let o = observed(a)?;
        if attr == "id" {
            Some(Value::String(o.id.clone()))
        } else {
            o.attrs.get(attr).cloned()
        }
    };
    validate::check(stack, registry, &lookup, &|a| observed(a).map(|o| &o.attrs))?;
    let order = graph.apply_order();
    let plan = diff(DiffInput { stack, registry, state, refreshed: &refreshed, order: &order });
    lifecycle::check_prevent_destroy(stack, &plan)?;
    Ok(plan)
}
