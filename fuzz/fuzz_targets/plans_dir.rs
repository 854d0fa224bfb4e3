//! A whole plans directory written from the fuzz input: the input is split at NUL bytes into
//! up to four base files (`a.toml`, `b.toml`, …) and the `dev` overlay (the last piece), written
//! to a temporary directory and loaded with `kprov::config::load` as the CLI does.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut pieces: Vec<&str> = text.split('\0').take(5).collect();
    let overlay = if pieces.len() > 1 { pieces.pop().unwrap_or_default() } else { "" };
    let dir = tempfile::tempdir().expect("tempdir");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(plans.join("env")).expect("mkdir");
    let mut files = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let path = plans.join(format!("{}.toml", (b'a' + i as u8) as char));
        std::fs::write(&path, piece).expect("write");
        files.push((path, piece.to_string()));
    }
    let path = plans.join("env/dev.toml");
    std::fs::write(&path, overlay).expect("write");
    files.push((path, overlay.to_string()));
    let r = kprov::config::load(&plans, "dev", common::registry());
    common::check_located(r, &files);
});
