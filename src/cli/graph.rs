//! `kprov graph`: print the dependency graph (no AWS access).

use super::{context, CliError, Global, Outcome};
use crate::graph::render::{render, Format};
use crate::graph::ResourceGraph;

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
}

pub async fn run(g: &Global, a: GraphArgs) -> Result<Outcome, CliError> {
    let stack = context::load_stack(g)?;
    let graph = ResourceGraph::build(&stack)?;
    super::output::print(&render(&graph, a.format));
    Ok(Outcome::Ok)
}
