//! The operation graph: a plan's changes turned into create / update / delete operations with
//! the order they must run in.
//!
//! - create/update of X runs after the create/update of everything X depends on;
//! - a replace is a delete followed by a create of the same address;
//! - a delete of X runs after the delete of everything recorded as depending on X (dependents
//!   go first), and, when X is going away for good, after the updates that move dependents off X.

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use super::events::OpKind;
use crate::plan::{Action, Plan};
use crate::resource::Address;

#[derive(Debug, Clone)]
pub struct Op {
    pub address: Address,
    pub kind: OpKind,
    /// Index of the change in `plan.changes`.
    pub change: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("internal error: the operation graph has a cycle through {0}")]
pub struct OpCycle(pub String);

pub fn build(plan: &Plan) -> Result<DiGraph<Op, ()>, OpCycle> {
    let mut g: DiGraph<Op, ()> = DiGraph::new();
    let mut apply_op: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut delete_op: HashMap<&Address, NodeIndex> = HashMap::new();
    let mut replaced: HashMap<&Address, bool> = HashMap::new();

    for (i, c) in plan.changes.iter().enumerate() {
        let mut add = |kind| g.add_node(Op { address: c.address.clone(), kind, change: i });
        match c.action {
            Action::NoOp => {}
            Action::Create => {
                apply_op.insert(&c.address, add(OpKind::Create));
            }
            Action::Update => {
                apply_op.insert(&c.address, add(OpKind::Update));
            }
            Action::Delete => {
                delete_op.insert(&c.address, add(OpKind::Delete));
            }
            Action::Replace => {
                let d = add(OpKind::Delete);
                let cr = add(OpKind::Create);
                g.add_edge(d, cr, ());
                delete_op.insert(&c.address, d);
                apply_op.insert(&c.address, cr);
                replaced.insert(&c.address, true);
            }
        }
    }
    for c in &plan.changes {
        if let Some(&me) = apply_op.get(&c.address) {
            for dep in &c.dependencies {
                if let Some(&d) = apply_op.get(dep) {
                    g.update_edge(d, me, ());
                }
            }
        }
        // c was recorded as depending on each of prior_dependencies: c's delete (or its move
        // away, for a pure delete) comes before the dependency's delete.
        for dep in &c.prior_dependencies {
            let Some(&dep_delete) = delete_op.get(dep) else { continue };
            if let Some(&my_delete) = delete_op.get(&c.address) {
                g.update_edge(my_delete, dep_delete, ());
            } else if !replaced.contains_key(dep) {
                if let Some(&my_update) = apply_op.get(&c.address) {
                    g.update_edge(my_update, dep_delete, ());
                }
            }
        }
    }
    if let Err(cycle) = toposort(&g, None) {
        return Err(OpCycle(g[cycle.node_id()].address.to_string()));
    }
    Ok(g)
}
