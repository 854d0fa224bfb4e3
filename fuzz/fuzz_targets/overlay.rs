//! Overlay merge: the repository's reference plans as the base, the fuzz input as the
//! environment overlay. Never a panic; an error is located in the overlay or the base.
#![no_main]

mod common;

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (base, _) = common::reference_plans();
    let overlay = (PathBuf::from("plans/env/fuzz.toml"), text.to_string());
    let r = kprov::config::load_texts(base, overlay.clone(), "fuzz", common::registry());
    let mut files = base.clone();
    files.push(overlay);
    common::check_located(r, &files);
});
