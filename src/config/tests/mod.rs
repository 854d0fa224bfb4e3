//! Tests of [`load`](super::load) on small plan directories: one test per kind of bad input
//! (checking the message and the exact `file:line:col`), the happy paths of the language, and
//! the reference plans in `plans/`.

mod backend;
mod errors;
mod language;
mod lifecycle;
mod moved;
mod reference;

use super::testkit::{registry, Plans};
use super::{load, ConfigError, Stack};

/// The smallest valid base: a stack name and the region.
const BASE: &str = "[stack]\nname = \"t\"\n\n[variables]\nregion = \"us-east-1\"\n";

/// A plans directory with `stack.toml` = [`BASE`], an empty `dev` overlay, and `files`.
fn plans(files: &[(&str, &str)]) -> Plans {
    let mut all = vec![("stack.toml", BASE), ("env/dev.toml", "[variables]\n")];
    all.extend_from_slice(files);
    Plans::new(&all)
}

fn load_dev(p: &Plans) -> Result<Stack, ConfigError> {
    load(p.path(), "dev", &registry())
}

/// Load `files` (see [`plans`]) for `dev`, which must succeed.
fn ok(files: &[(&str, &str)]) -> Stack {
    let p = plans(files);
    match load_dev(&p) {
        Ok(s) => s,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Load `files` for `dev`, which must fail at `loc` (`file:line:col`, the file relative to
/// the plans directory) with a message containing `message`.
fn fails(files: &[(&str, &str)], loc: &str, message: &str) {
    let p = plans(files);
    fails_in(&p, "dev", loc, message);
}

fn fails_in(p: &Plans, env: &str, loc: &str, message: &str) {
    let e = match load(p.path(), env, &registry()) {
        Ok(_) => panic!("expected an error at {loc}: {message}"),
        Err(e) => e,
    };
    let text = e.to_string();
    let want = format!("{}: ", p.file(loc).display());
    assert!(text.starts_with(&want), "error at the wrong place:\n  got:  {text}\n  want: {want}…");
    assert!(text.contains(message), "unexpected message:\n  got:  {text}\n  want: …{message}…");
}
