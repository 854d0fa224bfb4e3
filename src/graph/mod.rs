//! The dependency DAG: one node per resource address, an edge per reference or `depends_on`,
//! pointing from a dependency to its dependent (so a topological order is an apply order).
//!
//! Building rejects dangling references and cycles before any AWS call; a cycle error lists every
//! address on the cycle with the place it is declared.

pub mod render;

use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::config::{ResourceDecl, SourceLoc, Stack};
use crate::resource::Address;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("{loc}: {from} refers to {to}, which is not declared")]
    Dangling { loc: SourceLoc, from: Address, to: Address },
    #[error("{}: dependency cycle: {}\n{}", .members[0].1, cycle_path(.members), cycle_places(.members))]
    Cycle { members: Vec<(Address, SourceLoc)> },
}

fn cycle_path(members: &[(Address, SourceLoc)]) -> String {
    let mut s: Vec<String> = members.iter().map(|(a, _)| a.to_string()).collect();
    if let Some(first) = s.first().cloned() {
        s.push(first);
    }
    s.join(" -> ")
}

fn cycle_places(members: &[(Address, SourceLoc)]) -> String {
    members.iter().map(|(a, l)| format!("  {a} declared at {l}")).collect::<Vec<_>>().join("\n")
}

/// The dependency graph of a stack.
pub struct ResourceGraph {
    pub graph: DiGraph<Address, ()>,
    pub index: HashMap<Address, NodeIndex>,
}

impl ResourceGraph {
    pub fn build(stack: &Stack) -> Result<Self, GraphError> {
        Self::from_decls(&stack.resources)
    }

    pub fn from_decls(decls: &[ResourceDecl]) -> Result<Self, GraphError> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for d in decls {
            index.insert(d.address.clone(), graph.add_node(d.address.clone()));
        }
        for d in decls {
            let to = index[&d.address];
            for dep in d.dependencies() {
                let from = *index.get(&dep).ok_or_else(|| GraphError::Dangling {
                    loc: d.loc.clone(),
                    from: d.address.clone(),
                    to: dep.clone(),
                })?;
                graph.update_edge(from, to, ());
            }
        }
        let g = ResourceGraph { graph, index };
        g.check_acyclic(decls)?;
        Ok(g)
    }

    fn check_acyclic(&self, decls: &[ResourceDecl]) -> Result<(), GraphError> {
        if toposort(&self.graph, None).is_ok() {
            return Ok(());
        }
        let locs: HashMap<&Address, &SourceLoc> = decls.iter().map(|d| (&d.address, &d.loc)).collect();
        // A strongly connected component with more than one node (or a self-loop) is a cycle;
        // walk it to print the members in dependency order.
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members = self.order_cycle(&scc);
            return Err(GraphError::Cycle {
                members: members
                    .into_iter()
                    .map(|n| {
                        let a = self.graph[n].clone();
                        let loc = locs.get(&a).map(|l| (*l).clone()).unwrap_or_else(|| SourceLoc {
                            file: "<unknown>".into(),
                            line: 0,
                            col: 0,
                        });
                        (a, loc)
                    })
                    .collect(),
            });
        }
        Ok(())
    }

    /// One simple cycle through the component, starting at its smallest address.
    fn order_cycle(&self, scc: &[NodeIndex]) -> Vec<NodeIndex> {
        let start = *scc.iter().min_by_key(|n| &self.graph[**n]).unwrap_or(&scc[0]);
        let mut path = vec![start];
        let mut cur = start;
        loop {
            // Follow a successor inside the component, preferring the way back to the start.
            let mut succ: Vec<NodeIndex> = self.graph.neighbors(cur).filter(|n| scc.contains(n)).collect();
            succ.sort_by_key(|n| &self.graph[*n]);
            if succ.contains(&start) {
                return path;
            }
            match succ.into_iter().find(|n| !path.contains(n)) {
                Some(n) => {
                    path.push(n);
                    cur = n;
                }
                None => return path,
            }
        }
    }

    /// Addresses in an order where every dependency comes before its dependents; among the
    /// resources that are ready, declaration order first, so plan output follows the files.
    pub fn apply_order(&self) -> Vec<Address> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut indeg: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.neighbors_directed(n, petgraph::Direction::Incoming).count())
            .collect();
        // Node indices are assigned in declaration order by `from_decls`.
        let mut ready: BinaryHeap<Reverse<usize>> =
            self.graph.node_indices().filter(|n| indeg[n.index()] == 0).map(|n| Reverse(n.index())).collect();
        let mut out = Vec::with_capacity(indeg.len());
        while let Some(Reverse(i)) = ready.pop() {
            let n = NodeIndex::new(i);
            out.push(self.graph[n].clone());
            for m in self.graph.neighbors(n) {
                indeg[m.index()] -= 1;
                if indeg[m.index()] == 0 {
                    ready.push(Reverse(m.index()));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Tmpl;
    use std::collections::BTreeMap;

    pub(crate) fn decl(addr: &str, deps: &[&str], line: usize) -> ResourceDecl {
        let mut attrs = BTreeMap::new();
        for (i, d) in deps.iter().enumerate() {
            attrs.insert(format!("a{i}"), Tmpl::Ref { target: d.parse().unwrap(), attr: "id".into() });
        }
        ResourceDecl {
            address: addr.parse().unwrap(),
            attrs,
            depends_on: vec![],
            lifecycle: Default::default(),
            loc: SourceLoc { file: "plans/x.toml".into(), line, col: 1 },
            attr_locs: Default::default(),
        }
    }

    #[test]
    fn orders_dependencies_first() {
        let g = ResourceGraph::from_decls(&[decl("ec2_subnet.a", &["ec2_vpc.main"], 5), decl("ec2_vpc.main", &[], 1)])
            .unwrap();
        let order: Vec<String> = g.apply_order().iter().map(|a| a.to_string()).collect();
        assert_eq!(order, vec!["ec2_vpc.main", "ec2_subnet.a"]);
        let g = ResourceGraph::from_decls(&[
            decl("x.c", &[], 1),
            decl("x.b", &["x.a"], 2),
            decl("x.a", &[], 3),
            decl("x.d", &[], 4),
        ])
        .unwrap();
        let order: Vec<String> = g.apply_order().iter().map(|a| a.to_string()).collect();
        assert_eq!(order, vec!["x.c", "x.a", "x.b", "x.d"], "declaration order among ready resources");
    }

    #[test]
    fn reports_every_address_on_a_cycle_with_its_location() {
        let err = ResourceGraph::from_decls(&[
            decl("x.a", &["x.c"], 1),
            decl("x.b", &["x.a"], 4),
            decl("x.c", &["x.b"], 7),
            decl("x.d", &["x.a"], 10),
        ])
        .err()
        .unwrap();
        let msg = err.to_string();
        assert!(msg.starts_with("plans/x.toml:1:1: dependency cycle: x.a -> x.b -> x.c -> x.a"), "{msg}");
        assert!(msg.contains("x.b declared at plans/x.toml:4:1"), "{msg}");
        assert!(msg.contains("x.c declared at plans/x.toml:7:1"), "{msg}");
        assert!(!msg.contains("x.d"), "{msg}");
    }

    #[test]
    fn rejects_dangling_references() {
        let err = ResourceGraph::from_decls(&[decl("x.a", &["x.missing"], 3)]).err().unwrap();
        assert_eq!(err.to_string(), "plans/x.toml:3:1: x.a refers to x.missing, which is not declared");
    }
}
