//! The critical path of a plan: the longest chain of operations through the operation graph,
//! each weighted by its typical duration (the AWS model). No schedule can finish sooner, so it
//! is the yardstick for an apply's wall time (run summary, benchmark).

use std::time::Duration;

use petgraph::algo::toposort;
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::events::OpKind;
use super::model::Durations;
use super::ops::{self, OpCycle};
use crate::plan::Plan;
use crate::resource::Address;

#[derive(Debug, Clone, PartialEq)]
pub struct CriticalPath {
    pub total: Duration,
    /// The chain, first operation first, with each one's duration.
    pub steps: Vec<(Address, OpKind, Duration)>,
}

/// The critical path of `plan`'s operations under `durations`.
pub fn critical_path(plan: &Plan, durations: &Durations) -> Result<CriticalPath, OpCycle> {
    let g = ops::build(plan)?;
    let order = toposort(&g, None).map_err(|c| OpCycle(g[c.node_id()].address.to_string()))?;
    let weight = |i: petgraph::graph::NodeIndex| durations.of(g[i].kind, &plan.changes[g[i].change].kind);
    // finish[i]: earliest finish of i; via[i]: the predecessor that determines it.
    let mut finish = vec![Duration::ZERO; g.node_count()];
    let mut via = vec![None; g.node_count()];
    for &i in &order {
        let (start, from) = g
            .edges_directed(i, Direction::Incoming)
            .map(|e| (finish[e.source().index()], Some(e.source())))
            .max_by_key(|(f, _)| *f)
            .unwrap_or((Duration::ZERO, None));
        finish[i.index()] = start + weight(i);
        via[i.index()] = from;
    }
    let Some(mut at) = g.node_indices().max_by_key(|i| finish[i.index()]) else {
        return Ok(CriticalPath { total: Duration::ZERO, steps: Vec::new() });
    };
    let total = finish[at.index()];
    let mut steps = vec![(g[at].address.clone(), g[at].kind, weight(at))];
    while let Some(p) = via[at.index()] {
        steps.push((g[p].address.clone(), g[p].kind, weight(p)));
        at = p;
    }
    steps.reverse();
    Ok(CriticalPath { total, steps })
}
