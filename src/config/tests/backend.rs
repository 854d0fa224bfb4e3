//! The `[backend]` table: values, defaults left unset, and every bad input with its location.

use std::time::Duration;

use super::{fails, ok, plans};
use crate::config::{BackendKind, SourceLoc};

const S3: &str = "[backend]\ntype = \"s3\"\nbucket = \"acme-state\"\nkey = \"${stack.name}/${stack.env}.json\"\n\
                  region = \"eu-west-1\"\nlock_table = \"locks\"\nlock_lease = \"1m30s\"\n";

#[test]
fn no_backend_table_means_the_local_default() {
    assert_eq!(ok(&[]).backend, None);
}

#[test]
fn s3_backend_with_interpolated_key() {
    let p = plans(&[("state.toml", S3)]);
    let s = super::load_dev(&p).unwrap_or_else(|e| panic!("{e}"));
    let b = s.backend.expect("backend");
    assert_eq!(b.kind, BackendKind::S3);
    assert_eq!(b.bucket.as_deref(), Some("acme-state"));
    assert_eq!(b.key.as_deref(), Some("t/dev.json"));
    assert_eq!(b.region.as_deref(), Some("eu-west-1"));
    assert_eq!(b.lock_table.as_deref(), Some("locks"));
    assert_eq!(b.lock_lease, Some(Duration::from_secs(90)));
    assert_eq!(b.loc, SourceLoc { file: p.file("state.toml"), line: 1, col: 1 });
}

#[test]
fn backend_values_may_use_variables_set_by_the_overlay() {
    let p = plans(&[
        ("state.toml", "[backend]\ntype = \"s3\"\nbucket = \"${var.state_bucket}\"\n"),
        ("vars.toml", "[variables]\nstate_bucket = \"base-bucket\"\n"),
        ("env/dev.toml", "[variables]\nstate_bucket = \"dev-bucket\"\n"),
    ]);
    let b = super::load_dev(&p).unwrap_or_else(|e| panic!("{e}")).backend.expect("backend");
    assert_eq!(b.bucket.as_deref(), Some("dev-bucket"));
    assert_eq!((b.key, b.region, b.lock_table, b.lock_lease), (None, None, None, None), "defaults are left unset");
}

#[test]
fn local_backend() {
    let s = ok(&[("state.toml", "[backend]\ntype = \"local\"\nlock_lease = \"10s\"\n")]);
    let b = s.backend.expect("backend");
    assert_eq!((b.kind, b.lock_lease), (BackendKind::Local, Some(Duration::from_secs(10))));
}

#[test]
fn unknown_key_suggests_the_closest() {
    fails(
        &[("state.toml", "[backend]\ntype = \"s3\"\nbuckett = \"x\"\n")],
        "state.toml:3:1",
        "unknown key `buckett` in [backend]; expected `type`, `bucket`, `key`, `region`, `lock_table`, `lock_lease`; did you mean `bucket`?",
    );
}

#[test]
fn missing_or_unknown_type() {
    fails(&[("state.toml", "[backend]\nbucket = \"abc\"\n")], "state.toml:1:1", "[backend] needs `type = \"s3\"`");
    fails(&[("state.toml", "[backend]\ntype = \"gcs\"\n")], "state.toml:2:8", "unknown backend type `gcs`");
}

#[test]
fn s3_needs_a_bucket_and_local_takes_no_s3_keys() {
    fails(&[("state.toml", "[backend]\ntype = \"s3\"\n")], "state.toml:1:1", "an S3 backend needs `bucket");
    fails(
        &[("state.toml", "[backend]\ntype = \"local\"\nbucket = \"abc\"\n")],
        "state.toml:3:1",
        "backend `bucket` only applies to `type = \"s3\"`",
    );
}

#[test]
fn bad_values_are_located() {
    fails(
        &[("state.toml", "[backend]\ntype = \"s3\"\nbucket = \"Bad_Bucket\"\n")],
        "state.toml:3:10",
        "invalid S3 bucket name `Bad_Bucket`",
    );
    fails(
        &[("state.toml", "[backend]\ntype = \"s3\"\nbucket = \"abc\"\nkey = \"/x\"\n")],
        "state.toml:4:7",
        "invalid state key",
    );
    fails(
        &[("state.toml", "[backend]\ntype = \"s3\"\nbucket = \"abc\"\nlock_lease = \"1s\"\n")],
        "state.toml:4:14",
        "lock_lease must be at least 2s",
    );
    fails(
        &[("state.toml", "[backend]\ntype = \"s3\"\nbucket = \"abc\"\nlock_lease = \"soon\"\n")],
        "state.toml:4:14",
        "invalid duration `soon`",
    );
    fails(
        &[("state.toml", "[backend]\ntype = \"s3\"\nbucket = 3\n")],
        "state.toml:3:10",
        "backend `bucket` must be a string, not an integer",
    );
}

#[test]
fn backend_cannot_use_resource_attributes() {
    fails(
        &[
            ("net.toml", "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n"),
            ("state.toml", "[backend]\ntype = \"s3\"\nbucket = \"abc\"\nkey = \"${ec2_vpc.main.id}\"\n"),
        ],
        "state.toml:4:7",
        "backend `key` must be known before apply, but it uses `ec2_vpc.main.id`",
    );
}

#[test]
fn one_backend_table_only_and_not_in_overlays() {
    fails(
        &[("a.toml", "[backend]\ntype = \"local\"\n"), ("b.toml", "[backend]\ntype = \"local\"\n")],
        "b.toml:1:1",
        "[backend] is already defined at",
    );
    fails(
        &[("env/dev.toml", "[backend]\ntype = \"local\"\n")],
        "env/dev.toml:1:2",
        "an environment overlay may only set [variables]",
    );
}
