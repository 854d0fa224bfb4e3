//! The operation graph: a plan's changes turned into create / update / delete operations with
//! the order they must run in.
//!
//! - create/update of X runs after the create/update of everything X depends on;
//! - a replace is a delete followed by a create of the same address; a create-before-destroy
//!   replace (`Change::create_before_destroy`) is the create, then the delete of the old
//!   resource, and the creates and updates of everything that depends on it run between the
//!   two (dependents move to the new resource before the old one goes);
//! - a resource adopted after an interrupted create (a no-op in the plan) gets a create that
//!   only finishes that create (`resume_create`), so that its dependents wait for it;
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
    // Replaced resources: true when the new one is created before the old one is deleted.
    let mut replaced: HashMap<&Address, bool> = HashMap::new();

    for (i, c) in plan.changes.iter().enumerate() {
        let mut add = |kind| g.add_node(Op { address: c.address.clone(), kind, change: i });
        match c.action {
            // An adopted resource's interrupted create is finished before its dependents run.
            Action::NoOp if c.adopted => {
                apply_op.insert(&c.address, add(OpKind::Create));
            }
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
            Action::Replace if c.create_before_destroy => {
                let cr = add(OpKind::Create);
                let d = add(OpKind::Delete);
                g.add_edge(cr, d, ());
                delete_op.insert(&c.address, d);
                apply_op.insert(&c.address, cr);
                replaced.insert(&c.address, true);
            }
            Action::Replace => {
                let d = add(OpKind::Delete);
                let cr = add(OpKind::Create);
                g.add_edge(d, cr, ());
                delete_op.insert(&c.address, d);
                apply_op.insert(&c.address, cr);
                replaced.insert(&c.address, false);
            }
        }
    }
    for c in &plan.changes {
        if let Some(&me) = apply_op.get(&c.address) {
            for dep in &c.dependencies {
                if let Some(&d) = apply_op.get(dep) {
                    g.update_edge(d, me, ());
                }
                // A dependency replaced create-before-destroy: its old resource goes once
                // everything that uses it has been created or updated on the new one.
                if replaced.get(dep) == Some(&true) {
                    if let Some(&old) = delete_op.get(dep) {
                        g.update_edge(me, old, ());
                    }
                }
            }
        }
        // c was recorded as depending on each of prior_dependencies: c's delete (or its move
        // away, for a pure delete or a create-before-destroy replace of the dependency) comes
        // before the dependency's delete. (A destroy-first replaced dependency is deleted
        // before its replacement exists: a dependent only updated moves to it afterwards.)
        for dep in &c.prior_dependencies {
            let Some(&dep_delete) = delete_op.get(dep) else { continue };
            if let Some(&my_delete) = delete_op.get(&c.address) {
                g.update_edge(my_delete, dep_delete, ());
            } else if replaced.get(dep).copied().unwrap_or(true) {
                // `dep` goes for good, or its replacement exists before it goes.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;
    use crate::resource::Observed;

    fn change(address: &str, action: Action, deps: &[&str], adopted: bool) -> Change {
        let address: Address = address.parse().expect("address");
        Change {
            kind: address.kind.clone(),
            address,
            action,
            attrs: Vec::new(),
            desired: Default::default(),
            dependencies: deps.iter().map(|d| d.parse().expect("address")).collect(),
            prior: (action != Action::Create).then(|| Observed {
                id: "id-1".into(),
                attrs: Default::default(),
                owner_address: None,
            }),
            prior_dependencies: Vec::new(),
            sensitive: Vec::new(),
            note: None,
            adopted,
            create_before_destroy: false,
            forced_by: Vec::new(),
            warning: None,
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format: crate::plan::PLAN_FORMAT,
            kprov_version: "0".into(),
            stack: "s".into(),
            env: "e".into(),
            region: "eu-west-1".into(),
            destroy: false,
            state_lineage: None,
            state_serial: 0,
            changes,
            moved: Vec::new(),
            unmade: vec![],
        }
    }

    #[test]
    fn an_adopted_no_op_is_finished_before_its_dependents_run() {
        let p = plan(vec![
            change("ec2_nat_gateway.main", Action::NoOp, &[], true),
            change("ec2_route.out", Action::Create, &["ec2_nat_gateway.main"], false),
            change("ec2_vpc.main", Action::NoOp, &[], false),
        ]);
        let g = build(&p).expect("graph");
        let ops: Vec<(String, OpKind)> = g.node_weights().map(|o| (o.address.to_string(), o.kind)).collect();
        assert_eq!(
            ops,
            [("ec2_nat_gateway.main".to_string(), OpKind::Create), ("ec2_route.out".to_string(), OpKind::Create)],
            "the adopted gateway gets an operation; a plain no-op does not"
        );
        let nat = g.node_indices().find(|&i| g[i].address.name == "main").expect("nat op");
        let route = g.node_indices().find(|&i| g[i].address.name == "out").expect("route op");
        assert!(g.contains_edge(nat, route), "the route waits for the adopted gateway");
    }
}
