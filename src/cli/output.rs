//! Standard output that never panics: `println!` panics when stdout is a closed pipe
//! (`kprov state list | head -1`: `head` exits, the next write fails with EPIPE; Rust ignores
//! SIGPIPE, so the write returns an error instead of killing the process). Here a closed pipe
//! ends the output quietly and the command carries on — an apply must finish and save its state
//! even if nobody reads what it prints.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `text` to stdout; once stdout is closed (or failing), write nothing more.
pub fn print(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// [`print`] with a final newline.
pub fn println(text: &str) {
    print(&format!("{text}\n"));
}
