//! `kprov graph`: the DAG as Graphviz dot or Mermaid, nodes sorted so output is stable.

use super::ResourceGraph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

fn sorted_edges(g: &ResourceGraph) -> Vec<(String, String)> {
    let mut edges: Vec<(String, String)> = g
        .graph
        .edge_indices()
        .filter_map(|e| g.graph.edge_endpoints(e))
        .map(|(a, b)| (g.graph[a].to_string(), g.graph[b].to_string()))
        .collect();
    edges.sort();
    edges
}

fn sorted_nodes(g: &ResourceGraph) -> Vec<String> {
    let mut nodes: Vec<String> = g.graph.node_weights().map(|a| a.to_string()).collect();
    nodes.sort();
    nodes
}

pub fn render(g: &ResourceGraph, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Dot => {
            out.push_str("digraph kprov {\n  rankdir=LR;\n  node [shape=box];\n");
            for n in sorted_nodes(g) {
                out.push_str(&format!("  {};\n", dot_quote(&n)));
            }
            for (a, b) in sorted_edges(g) {
                out.push_str(&format!("  {} -> {};\n", dot_quote(&a), dot_quote(&b)));
            }
            out.push_str("}\n");
        }
        Format::Mermaid => {
            out.push_str("graph LR\n");
            let nodes = sorted_nodes(g);
            let id = |n: &str| format!("n{}", nodes.iter().position(|x| x == n).unwrap_or(0));
            for n in &nodes {
                out.push_str(&format!("  {}[\"{}\"]\n", id(n), n.replace('"', "#quot;")));
            }
            for (a, b) in sorted_edges(g) {
                out.push_str(&format!("  {} --> {}\n", id(&a), id(&b)));
            }
        }
    }
    out
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::decl;

    #[test]
    fn renders_dot_and_mermaid() {
        let g = ResourceGraph::from_decls(&[
            decl("ec2_vpc.main", &[], 1),
            decl("ec2_subnet.a[\"us-east-1a\"]", &["ec2_vpc.main"], 2),
        ])
        .unwrap();
        let dot = render(&g, Format::Dot);
        assert!(dot.contains("\"ec2_vpc.main\" -> \"ec2_subnet.a[\\\"us-east-1a\\\"]\";"), "{dot}");
        let mm = render(&g, Format::Mermaid);
        assert!(mm.contains("n1[\"ec2_vpc.main\"]"), "{mm}");
        assert!(mm.contains("n1 --> n0"), "{mm}");
    }
}
