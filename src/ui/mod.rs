//! Rendering engine events: indicatif bars on a terminal, one plain line per event otherwise,
//! or JSON lines on request. The engine only sends [`Event`]s; this is the only place that
//! draws them ([`summary`] renders the end-of-run report the same way).
//!
//! - Bars (`--progress auto` on a terminal): one line per in-flight resource with its phase
//!   (calling AWS, or waiting — for AWS to finish, for a rate-limit token, out a throttling
//!   backoff) and its elapsed time, above an overall bar with done/total.
//! - Plain (`--progress plain`, or no terminal): one line per event, prefixed with the time
//!   since the run started, for logs.
//! - JSON (`--progress json`): one JSON object per event, with `t` = seconds since the start.

pub mod summary;

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    Plain,
    Json,
}

/// Consume events until the engine ends, drawing them on stderr.
pub async fn render(mut rx: UnboundedReceiver<Event>, mode: ProgressMode) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    match mode {
        ProgressMode::Json => {
            while let Some(e) = rx.recv().await {
                if let Some(line) = json_line(&e, start.elapsed()) {
                    eprintln!("{line}");
                }
            }
        }
        ProgressMode::Auto if tty => bars(rx).await,
        _ => {
            while let Some(e) = rx.recv().await {
                if let Some(line) = plain_line(&e) {
                    eprintln!("[{:>7.1}s] {line}", start.elapsed().as_secs_f64());
                }
            }
        }
    }
}

/// One JSON object for an event, with `t`: seconds since the run started.
pub fn json_line(e: &Event, t: Duration) -> Option<String> {
    let mut v = serde_json::to_value(e).ok()?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("t".into(), serde_json::json!((t.as_secs_f64() * 1000.0).round() / 1000.0));
    }
    serde_json::to_string(&v).ok()
}

/// One log line for an event (None for events not worth a line).
pub fn plain_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::Begin { total } => format!("starting {total} operations"),
        Event::Started { address, op } => format!("{address}: {}...", op.verb()),
        Event::Calling { address, op } => format!("{address}: {} (calling AWS)", op.verb()),
        Event::Waiting { address, what, .. } => format!("{address}: waiting for {what}"),
        Event::Done { address, op, id, elapsed } => format!(
            "{address}: {} {}[{:.1}s]",
            op.past(),
            id.as_ref().map(|i| format!("({i}) ")).unwrap_or_default(),
            elapsed.as_secs_f64()
        ),
        Event::Failed { address, op, error, .. } => format!("{address}: {} failed: {error}", op.verb()),
        Event::Skipped { address, because, .. } => format!("{address}: skipped because {because} failed"),
        Event::Cancelled { address, .. } => format!("{address}: not started (interrupted)"),
        _ => return None,
    })
}

async fn bars(mut rx: UnboundedReceiver<Event>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let overall = multi.add(ProgressBar::new(0));
    overall.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} done  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    overall.enable_steady_tick(Duration::from_millis(200));
    let line_style = ProgressStyle::with_template("  {spinner} {prefix} {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut lines: HashMap<String, ProgressBar> = HashMap::new();
    let mut hidden: HashSet<String> = HashSet::new();
    // One line per in-flight resource, up to what fits on a usual terminal above the overall
    // bar (500 rules queued for a rate limit would otherwise scroll the screen away).
    let max_lines = 20;
    while let Some(e) = rx.recv().await {
        match &e {
            Event::Begin { total } => overall.set_length(*total as u64),
            Event::Started { address, op } => {
                if lines.len() >= max_lines {
                    // A terminal shows only so much: the rest is counted on the overall bar.
                    hidden.insert(address.to_string());
                    overall.set_message(format!("{} more in flight", hidden.len()));
                    continue;
                }
                // Styled and labelled before it is added, so its first frame is complete.
                let pb = ProgressBar::new_spinner()
                    .with_style(line_style.clone())
                    .with_prefix(address.to_string())
                    .with_message(format!("{} (calling AWS)", op.verb()));
                let pb = multi.insert_before(&overall, pb);
                pb.enable_steady_tick(Duration::from_millis(120));
                lines.insert(address.to_string(), pb);
            }
            Event::Calling { address, op } => {
                if let Some(pb) = lines.get(&address.to_string()) {
                    pb.set_message(format!("{} (calling AWS)", op.verb()));
                }
            }
            Event::Waiting { address, what, .. } => {
                if let Some(pb) = lines.get(&address.to_string()) {
                    pb.set_message(format!("waiting for {what}"));
                }
            }
            Event::Done { address, .. } | Event::Failed { address, .. } | Event::Cancelled { address, .. } => {
                if let Some(pb) = lines.remove(&address.to_string()) {
                    pb.finish_and_clear();
                }
                if hidden.remove(&address.to_string()) {
                    overall.set_message(if hidden.is_empty() {
                        String::new()
                    } else {
                        format!("{} more in flight", hidden.len())
                    });
                }
                overall.inc(1);
                if let Some(l) = plain_line(&e) {
                    let _ = multi.println(l);
                }
            }
            Event::Skipped { .. } => {
                overall.inc(1);
                if let Some(l) = plain_line(&e) {
                    let _ = multi.println(l);
                }
            }
            Event::StateSaved { .. } => {}
            Event::End => break,
        }
    }
    overall.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::OpKind;

    fn addr() -> crate::resource::Address {
        "ec2_nat_gateway.main[\"a\"]".parse().expect("address")
    }

    #[test]
    fn plain_lines_name_the_resource_and_the_phase() {
        let w = Event::Waiting {
            address: addr(),
            op: OpKind::Create,
            what: "NAT gateway nat-1 to become available".into(),
        };
        assert_eq!(
            plain_line(&w).as_deref(),
            Some("ec2_nat_gateway.main[\"a\"]: waiting for NAT gateway nat-1 to become available")
        );
        let d = Event::Done {
            address: addr(),
            op: OpKind::Create,
            id: Some("nat-1".into()),
            elapsed: Duration::from_millis(105_000),
        };
        assert_eq!(plain_line(&d).as_deref(), Some("ec2_nat_gateway.main[\"a\"]: created (nat-1) [105.0s]"));
        assert_eq!(plain_line(&Event::StateSaved { serial: 3 }), None);
    }

    #[test]
    fn json_lines_carry_the_event_and_the_time() {
        let line = json_line(&Event::Started { address: addr(), op: OpKind::Create }, Duration::from_millis(1500))
            .expect("json");
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["event"], "started");
        assert_eq!(v["address"], "ec2_nat_gateway.main[\"a\"]");
        assert_eq!(v["op"], "create");
        assert_eq!(v["t"], 1.5);
    }
}
