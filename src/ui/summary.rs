//! The run summary printed after apply/destroy: what was done, what failed and why, how long
//! it took against the plan's critical path, and how many API calls (and throttling retries)
//! each service saw. Text for people, one JSON object with `--progress json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::engine::{ApiStats, CriticalPath, OpKind, Report};
use crate::state::Status;

/// Everything the summary shows.
pub struct RunSummary<'a> {
    /// "apply" or "destroy".
    pub verb: &'a str,
    pub report: &'a Report,
    /// The plan's critical path under the AWS model, when it could be computed.
    pub critical_path: Option<&'a CriticalPath>,
    pub api: &'a BTreeMap<String, ApiStats>,
    /// Where the state was saved.
    pub state_location: String,
    pub interrupted: bool,
}

/// How many addresses to list before "and N more".
const LIST_MAX: usize = 10;

/// `1h 02m 03s`, `4m 05s`, `12.3s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{:.1}s", d.as_secs_f64()),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m {:02}s", s / 3600, (s % 3600) / 60, s % 60),
    }
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let all: Vec<String> = items.into_iter().collect();
    let mut out = all.iter().take(LIST_MAX).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > LIST_MAX {
        let _ = write!(out, " and {} more", all.len() - LIST_MAX);
    }
    out
}

impl RunSummary<'_> {
    fn pending_intents(&self) -> Vec<String> {
        self.report
            .state
            .resources
            .iter()
            .filter(|(_, r)| r.status == Status::PendingCreate)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The summary as text (several lines, ending with a newline).
    pub fn text(&self) -> String {
        let r = self.report;
        let n = |k| r.done.get(&k).copied().unwrap_or(0);
        let ok = r.ok() && !self.interrupted;
        let mut out = String::new();
        // Problems only when there are some, so a clean run reads in one short line.
        let problems: Vec<String> =
            [(r.failed.len(), "failed"), (r.skipped.len(), "skipped"), (r.cancelled.len(), "not done")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
        let _ = writeln!(
            out,
            "\n{} {} {}: {} created, {} updated, {} deleted in {}{}; state saved to {} (serial {}).",
            if ok { "✔" } else { "✘" },
            self.verb,
            if ok {
                "complete"
            } else if self.interrupted {
                "interrupted"
            } else {
                "incomplete"
            },
            n(OpKind::Create),
            n(OpKind::Update),
            n(OpKind::Delete),
            human(r.elapsed),
            if problems.is_empty() { String::new() } else { format!(" ({})", problems.join(", ")) },
            self.state_location,
            r.state.serial,
        );
        if let Some(cp) = self.critical_path.filter(|cp| !cp.steps.is_empty()) {
            let path = cp.steps.iter().map(|(a, op, _)| format!("{} {a}", op.verb())).collect::<Vec<_>>();
            let _ = writeln!(
                out,
                "  Critical path (typical AWS durations): {} over {} steps: {}",
                human(cp.total),
                cp.steps.len(),
                compact_path(&path)
            );
        }
        if !self.api.is_empty() {
            let per: Vec<String> = self
                .api
                .iter()
                .map(|(svc, s)| {
                    let mut t = format!("{svc} {} calls", s.calls);
                    if s.transient > 0 {
                        let _ = write!(
                            t,
                            " ({} throttled, {} server errors or lost answers, {} retries)",
                            s.throttled, s.transient, s.retries
                        );
                    } else if s.throttled > 0 || s.retries > 0 {
                        let _ = write!(t, " ({} throttled, {} retries)", s.throttled, s.retries);
                    }
                    if s.waited >= Duration::from_millis(100) {
                        let _ = write!(t, " [{} waiting for the rate limit]", human(s.waited));
                    }
                    if s.consistency_waits > 0 {
                        let _ = write!(
                            t,
                            " [{} waiting for eventual consistency, {} times]",
                            human(s.consistency_waited),
                            s.consistency_waits
                        );
                    }
                    t
                })
                .collect();
            let _ = writeln!(out, "  AWS API: {}", per.join("; "));
        }
        for (addr, op, err) in &r.failed {
            let _ = writeln!(out, "Error: {addr}: {} failed: {err}", op.verb());
        }
        if !r.skipped.is_empty() {
            let mut by_cause: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (addr, _, cause) in &r.skipped {
                by_cause.entry(cause.to_string()).or_default().push(addr.to_string());
            }
            for (cause, addrs) in by_cause {
                let _ = writeln!(out, "Skipped because {cause} failed: {}", list(addrs));
            }
        }
        if self.interrupted {
            let _ = writeln!(
                out,
                "Interrupted: {} operations not started or stopped at a safe point: {}.",
                r.cancelled.len(),
                list(r.cancelled.iter().map(|(a, op)| format!("{} {a}", op.verb())))
            );
            let pending = self.pending_intents();
            if !pending.is_empty() {
                let _ = writeln!(
                    out,
                    "  {} creates may have reached AWS; the next run finds and adopts them: {}.",
                    pending.len(),
                    list(pending)
                );
            }
            let _ = writeln!(out, "State is saved. Run `kprov {}` again to continue.", self.verb);
        }
        out
    }

    /// The summary as one JSON object (for `--progress json`).
    pub fn json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Failure<'a> {
            address: String,
            op: OpKind,
            error: &'a str,
        }
        let r = self.report;
        serde_json::json!({
            "event": "summary",
            "verb": self.verb,
            "ok": r.ok() && !self.interrupted,
            "interrupted": self.interrupted,
            "done": r.done,
            "failed": r.failed.iter().map(|(a, op, e)| Failure { address: a.to_string(), op: *op, error: e }).collect::<Vec<_>>(),
            "skipped": r.skipped.iter().map(|(a, _, c)| serde_json::json!({"address": a.to_string(), "because": c.to_string()})).collect::<Vec<_>>(),
            "not_done": r.cancelled.iter().map(|(a, op)| serde_json::json!({"address": a.to_string(), "op": op})).collect::<Vec<_>>(),
            "pending_creates": self.pending_intents(),
            "elapsed_s": r.elapsed.as_secs_f64(),
            "critical_path_s": self.critical_path.map(|c| c.total.as_secs_f64()),
            "api": self.api,
            "state": { "location": self.state_location, "serial": r.state.serial },
        })
    }
}

/// The first and last steps of a long path, the middle elided.
fn compact_path(steps: &[String]) -> String {
    if steps.len() <= 6 {
        return steps.join(" → ");
    }
    format!("{} → … → {}", steps[..3].join(" → "), steps[steps.len() - 2..].join(" → "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;
    use crate::state::State;

    fn report() -> Report {
        let a = |s: &str| s.parse::<Address>().expect("address");
        let mut done = BTreeMap::new();
        done.insert(OpKind::Create, 3);
        Report {
            done,
            failed: vec![(
                a("ec2_vpc.bad"),
                OpKind::Create,
                "CreateVpc failed: InvalidParameterValue: x (request id r-1)".into(),
            )],
            skipped: vec![(a("ec2_subnet.a"), OpKind::Create, a("ec2_vpc.bad"))],
            cancelled: vec![],
            elapsed: Duration::from_secs(125),
            state: State::new("s", "e"),
        }
    }

    #[test]
    fn text_names_root_causes_critical_path_and_api_counts() {
        let r = report();
        let mut api = BTreeMap::new();
        api.insert(
            "ec2".to_string(),
            ApiStats {
                calls: 42,
                throttled: 2,
                transient: 0,
                retries: 2,
                waited: Duration::from_secs(3),
                ..ApiStats::default()
            },
        );
        let cp = CriticalPath {
            total: Duration::from_secs(107),
            steps: vec![(("ec2_vpc.main").parse().expect("a"), OpKind::Create, Duration::from_secs(2))],
        };
        let s = RunSummary {
            verb: "apply",
            report: &r,
            critical_path: Some(&cp),
            api: &api,
            state_location: "state/dev.json".into(),
            interrupted: false,
        };
        let text = s.text();
        assert!(
            text.contains(
                "✘ apply incomplete: 3 created, 0 updated, 0 deleted in 2m 05s (1 failed, 1 skipped); state saved"
            ),
            "{text}"
        );
        assert!(
            text.contains("Critical path (typical AWS durations): 1m 47s over 1 steps: creating ec2_vpc.main"),
            "{text}"
        );
        assert!(text.contains("ec2 42 calls (2 throttled, 2 retries) [3.0s waiting for the rate limit]"), "{text}");
        assert!(
            text.contains("Error: ec2_vpc.bad: creating failed: CreateVpc failed: InvalidParameterValue"),
            "{text}"
        );
        assert!(text.contains("Skipped because ec2_vpc.bad failed: ec2_subnet.a"), "{text}");
        let j = s.json();
        assert_eq!(j["api"]["ec2"]["calls"], 42);
        assert_eq!(j["critical_path_s"], 107.0);
        assert_eq!(j["failed"][0]["address"], "ec2_vpc.bad");
    }

    #[test]
    fn an_interrupted_run_says_what_is_pending() {
        let mut r = report();
        r.failed.clear();
        r.skipped.clear();
        r.cancelled = vec![("ec2_route.x".parse().expect("a"), OpKind::Create)];
        r.state.resources.insert(
            "ec2_nat_gateway.main".into(),
            crate::state::ResourceState {
                kind: "ec2_nat_gateway".into(),
                id: None,
                status: Status::PendingCreate,
                client_token: Some("t".into()),
                attributes: Default::default(),
                dependencies: vec![],
            },
        );
        let api = BTreeMap::new();
        let s = RunSummary {
            verb: "apply",
            report: &r,
            critical_path: None,
            api: &api,
            state_location: "state/dev.json".into(),
            interrupted: true,
        };
        let text = s.text();
        assert!(text.contains("apply interrupted"), "{text}");
        assert!(text.contains("1 operations not started or stopped at a safe point: creating ec2_route.x"), "{text}");
        assert!(text.contains("the next run finds and adopts them: ec2_nat_gateway.main"), "{text}");
        assert!(text.contains("Run `kprov apply` again to continue"), "{text}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(human(Duration::from_secs(245)), "4m 05s");
        assert_eq!(human(Duration::from_secs(3723)), "1h 02m 03s");
    }
}
