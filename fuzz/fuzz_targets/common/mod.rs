//! Shared by the fuzz targets: the offline registry (built once) and the property every config
//! target checks — a failure is a `ConfigError` whose `file:line:col` lies inside one of the
//! files that were loaded.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kprov::config::{ConfigError, Stack};
use kprov::resource::Registry;

/// Every real resource kind, without credentials or network (schemas only).
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(kprov::aws::offline_registry)
}

/// The repository's reference plans: (path, text) of `plans/*.toml` and of `plans/env/*.toml`.
pub fn reference_plans() -> &'static (Vec<(PathBuf, String)>, Vec<(PathBuf, String)>) {
    static PLANS: OnceLock<(Vec<(PathBuf, String)>, Vec<(PathBuf, String)>)> = OnceLock::new();
    PLANS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans");
        (toml_files(&dir), toml_files(&dir.join("env")))
    })
}

fn toml_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the reference plans directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).expect("a reference plan"))).collect()
}

/// Panics (a fuzz finding) unless `result` is a stack or an error located inside `files`.
pub fn check_located(result: Result<Stack, ConfigError>, files: &[(PathBuf, String)]) {
    let Err(e) = result else { return };
    let loc = e.loc();
    let msg = e.to_string();
    assert!(msg.starts_with(&loc.to_string()), "message does not start with its location: {msg}");
    if let ConfigError::Io { .. } | ConfigError::UnknownEnv { .. } = e {
        return; // located at a path, line 1 column 1
    }
    let Some((_, text)) = files.iter().find(|(p, _)| *p == loc.file) else {
        panic!("error located in a file that was not loaded: {msg}");
    };
    assert!(loc.line >= 1 && loc.col >= 1, "{msg}");
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(line) = lines.get(loc.line - 1) else {
        panic!("line {} is past the end of the file ({} lines): {msg}", loc.line, lines.len());
    };
    let width = line.chars().count() + 1;
    assert!(loc.col <= width, "column {} is past the end of line {} ({width}): {msg}", loc.col, loc.line);
}
