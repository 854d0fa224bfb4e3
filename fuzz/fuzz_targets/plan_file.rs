//! One plan file from the fuzz input, loaded with an empty `dev` overlay: parse, structural
//! checks, evaluation, expansion, validation. Never a panic; an error is located in the input.
#![no_main]

mod common;

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader reads files as UTF-8 and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let files = vec![
        (PathBuf::from("plans/main.toml"), text.to_string()),
        (PathBuf::from("plans/env/dev.toml"), String::new()),
    ];
    let r = kprov::config::load_texts(&files[..1], files[1].clone(), "dev", common::registry());
    common::check_located(r, &files);
});
