//! Rendering engine events: indicatif bars on a terminal, one plain line per event otherwise,
//! or JSON lines on request. The engine only sends [`Event`]s; this is the only place that
//! draws them.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

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
    match mode {
        ProgressMode::Json => {
            while let Some(e) = rx.recv().await {
                if let Ok(line) = serde_json::to_string(&e) {
                    eprintln!("{line}");
                }
            }
        }
        ProgressMode::Auto if tty => bars(rx).await,
        _ => {
            while let Some(e) = rx.recv().await {
                if let Some(line) = plain_line(&e) {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// One log line for an event (None for events not worth a line).
pub fn plain_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::Started { address, op } => format!("{address}: {}...", op.verb()),
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
    while let Some(e) = rx.recv().await {
        match &e {
            Event::Begin { total } => overall.set_length(*total as u64),
            Event::Started { address, op } => {
                let pb = multi.insert_before(&overall, ProgressBar::new_spinner());
                pb.set_style(line_style.clone());
                pb.set_prefix(address.to_string());
                pb.set_message(format!("{} (calling)", op.verb()));
                pb.enable_steady_tick(Duration::from_millis(120));
                lines.insert(address.to_string(), pb);
            }
            Event::Calling { address, op } => {
                if let Some(pb) = lines.get(&address.to_string()) {
                    pb.set_message(format!("{} (calling)", op.verb()));
                }
            }
            Event::Waiting { address, what, .. } => {
                if let Some(pb) = lines.get(&address.to_string()) {
                    pb.set_message(format!("waiting for AWS: {what}"));
                }
            }
            Event::Done { address, .. } | Event::Failed { address, .. } | Event::Cancelled { address, .. } => {
                if let Some(pb) = lines.remove(&address.to_string()) {
                    pb.finish_and_clear();
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
            Event::StateSaved { serial } => overall.set_message(format!("state serial {serial}")),
            Event::End => break,
        }
    }
    overall.finish_and_clear();
}
