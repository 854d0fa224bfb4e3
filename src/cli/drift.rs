//! `kprov drift`: read-only drift detection for scheduled jobs.
//!
//! Loads the plans and the state, refreshes every recorded resource with one batched read per
//! kind, asks every kind in use for what carries the stack's ownership tags, diffs against the
//! plan files, and reports. Takes no lock and writes nothing unless `--update-state` is given
//! (then it takes the lock and records what it found). Exit 0 no drift, 2 drift, 1 error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::try_join_all;

use super::context::Context;
use super::{CliError, Global, Outcome};
use crate::drift::report::{self, Format};
use crate::drift::{detect, DriftInput, DriftReport, SCHEMA_VERSION};
use crate::plan::{self, DiffInput};

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Record what was found in the state (takes the state lock)
    #[arg(long)]
    pub update_state: bool,
    /// Print the API calls made, per service, on stderr
    #[arg(long)]
    pub stats: bool,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub async fn run(g: &Global, a: DriftArgs) -> Result<Outcome, CliError> {
    let result = detect_drift(g, &a).await;
    match result {
        Ok(r) => {
            super::output::print(&report::render(&r, a.format, true));
            if a.stats {
                eprintln!("API calls: {}", stats_line(&r.api_calls));
            }
            Ok(if r.has_drift() { Outcome::Changes } else { Outcome::Ok })
        }
        Err(e) => {
            // A scheduled job's metrics must say the run failed, not go stale.
            if a.format == Format::Prometheus {
                let failed = DriftReport {
                    schema_version: SCHEMA_VERSION,
                    stack: String::new(),
                    env: g.env.clone(),
                    generated_at: now(),
                    changed: vec![],
                    missing: vec![],
                    unmanaged: vec![],
                    differs_from_plan: vec![],
                    api_calls: BTreeMap::new(),
                };
                super::output::print(&report::prometheus(&failed, false));
            }
            Err(e)
        }
    }
}

fn stats_line(calls: &BTreeMap<String, u64>) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    calls.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", ")
}

async fn detect_drift(g: &Global, a: &DriftArgs) -> Result<DriftReport, CliError> {
    let ctx =
        if a.update_state { Context::load_locked(g, "drift --update-state").await? } else { Context::load(g).await? };
    let result = detect_with(&ctx, a).await.map(|mut r| {
        // Every AWS call of this process went through the context's limiter: these are drift's.
        r.api_calls = ctx.limiter.stats().into_iter().map(|(service, s)| (service, s.calls)).collect();
        r
    });
    // Release the lock (when held) whatever happened.
    match ctx.finish(result.as_ref().map(|_| Outcome::Ok).map_err(|e| CliError::Refused(e.to_string()))).await {
        Ok(_) => result,
        Err(e) => match result {
            Ok(_) => Err(e),
            Err(orig) => Err(orig),
        },
    }
}

async fn detect_with(ctx: &Context, a: &DriftArgs) -> Result<DriftReport, CliError> {
    let Some(mut state) = ctx.load_state(true).await? else {
        return Err(CliError::Refused(format!(
            "no state at {}: nothing has been applied for env {}, so there is nothing to check",
            ctx.backend.describe(),
            ctx.stack.env
        )));
    };
    let cx = ctx.cx();
    let refreshed = plan::refresh(&ctx.registry, &cx, &state).await.map_err(plan::PlanError::from)?;

    // Every kind the state or the plans use: each is asked once for what it owns.
    let kinds: BTreeSet<&str> = state
        .resources
        .values()
        .map(|r| r.kind.as_str())
        .chain(ctx.stack.resources.iter().map(|d| d.address.kind.as_str()))
        .collect();
    let owned = try_join_all(kinds.iter().filter_map(|k| ctx.registry.get(k)).map(|k| {
        let cx = &cx;
        async move {
            k.find_owned(cx)
                .await
                .map(|list| (k.kind().to_string(), list))
                .map_err(|source| plan::RefreshError::Read { kind: k.kind().to_string(), source })
        }
    }))
    .await
    .map_err(plan::PlanError::from)?;
    let owned: BTreeMap<String, _> = owned.into_iter().collect();

    let graph = crate::graph::ResourceGraph::build(&ctx.stack)?;
    let order = graph.apply_order();
    let plan = plan::diff(DiffInput {
        stack: &ctx.stack,
        registry: &ctx.registry,
        state: Some(&state),
        refreshed: &refreshed,
        order: &order,
    });
    let report = detect(DriftInput {
        state: &state,
        refreshed: &refreshed,
        owned: &owned,
        plan: Some(&plan),
        ignore: &ctx.stack.drift_ignore,
        generated_at: now(),
    });

    if a.update_state && report.has_drift() {
        for c in &report.changed {
            if let (Some(r), Some(live)) = (state.resources.get_mut(&c.address), refreshed.observed.get(&c.address)) {
                r.attributes = live.attrs.clone();
            }
        }
        for m in &report.missing {
            state.resources.remove(&m.address);
        }
        state.serial += 1;
        ctx.backend.save(&state).await?;
        eprintln!("Recorded what was found in {} (serial {}).", ctx.backend.describe(), state.serial);
    }
    Ok(report)
}
