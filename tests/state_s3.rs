//! The S3 state backend against moto: conditional writes (a stale writer gets a conflict and
//! the newer state is intact), refused lineages, corrupt / truncated / future objects refused
//! with nothing written, missing bucket and table named with the fix, and `state migrate`
//! local → S3 → local round-tripping byte for byte. Checked through the SDK.

mod state_common;
mod support;

use kprov::state::{Backend, S3Backend, State, StateError};
use predicates::prelude::*;
use predicates::str::contains;
use state_common::{bootstrap, kprov_s3, object, s3, tiny_plans, unique, version_serials};

const REGION: &str = "ap-south-1"; // no other test uses it

async fn backend(bucket: &str, key: &str) -> S3Backend {
    S3Backend::new(state_common::s3(REGION).await, bucket, key, REGION)
}

/// A versioned bucket made through the SDK (no TLS-only policy: see `state_common::bootstrap`).
async fn bucket() -> String {
    let name = unique("kprov-s3");
    let c = s3(REGION).await;
    c.create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    c.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    name
}

fn next(s: &State) -> State {
    let mut n = s.clone();
    n.serial += 1;
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_with_a_stale_etag_gets_a_conflict_and_the_newer_state_is_intact() {
    let bucket = bucket().await;
    let key = "stack/dev.json";
    let first = backend(&bucket, key).await;
    assert_eq!(first.load().await.unwrap(), None);
    let mut s = State::new("stack", "dev");
    s.serial = 1;
    first.save(&s).await.unwrap();

    // Two writers read serial 1 (same ETag).
    let (a, b) = (backend(&bucket, key).await, backend(&bucket, key).await);
    let s_a = a.load().await.unwrap().unwrap();
    let s_b = b.load().await.unwrap().unwrap();
    assert_eq!((s_a.serial, s_b.serial), (1, 1));

    // A writes serial 2 and goes on to 3: its own ETags chain.
    let mut newer = next(&s_a);
    newer.outputs.insert("writer".into(), "a".into());
    a.save(&newer).await.unwrap();
    let newer = next(&newer);
    a.save(&newer).await.unwrap();

    // B, still holding the ETag of serial 1, writes what it believes is serial 2: refused.
    let mut stale = next(&s_b);
    stale.outputs.insert("writer".into(), "b".into());
    let e = b.save(&stale).await.unwrap_err();
    assert!(matches!(e, StateError::Conflict { stored: Some(3), expected: 1, .. }), "{e}");
    assert!(e.to_string().contains("changed by another writer"), "{e}");
    assert!(e.to_string().contains("nothing was overwritten"), "{e}");

    // Independent read: the newer state, byte for byte, and no version from B.
    assert_eq!(object(REGION, &bucket, key).await.as_deref(), Some(newer.to_json().as_str()));
    let serials = version_serials(REGION, &bucket, key).await;
    assert_eq!(serials, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_first_writers_one_wins_and_other_lineages_are_refused() {
    let bucket = bucket().await;
    let key = "stack/dev.json";
    let (a, b) = (backend(&bucket, key).await, backend(&bucket, key).await);
    assert_eq!(a.load().await.unwrap(), None);
    assert_eq!(b.load().await.unwrap(), None);
    let mut sa = State::new("stack", "dev");
    sa.serial = 1;
    let mut sb = State::new("stack", "dev");
    sb.serial = 1;
    a.save(&sa).await.unwrap();
    // B believed there was no object: If-None-Match: * refuses.
    let e = b.save(&sb).await.unwrap_err();
    assert!(matches!(e, StateError::Conflict { stored: Some(1), .. }), "{e}");
    assert_eq!(object(REGION, &bucket, key).await.as_deref(), Some(sa.to_json().as_str()));

    // Even after re-reading, a state of another lineage is never written over this one.
    b.load().await.unwrap();
    sb.serial = 2;
    let e = b.save(&sb).await.unwrap_err();
    assert!(matches!(e, StateError::LineageMismatch { .. }), "{e}");
    let e = b.import(&sb).await.unwrap_err();
    assert!(matches!(e, StateError::ImportRefused { .. }), "{e}");
    assert_eq!(object(REGION, &bucket, key).await.as_deref(), Some(sa.to_json().as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_truncated_and_future_objects_are_refused_and_nothing_is_written() {
    let bucket = bucket().await;
    let key = "stack/dev.json";
    let mut s = State::new("stack", "dev");
    s.serial = 4;
    let good = s.to_json();
    let cases = [
        ("not json", "{ this is not json".to_string(), "not valid kprov state"),
        ("truncated", good[..good.len() / 2].to_string(), "not valid kprov state"),
        ("future", good.replace("\"format\": 1", "\"format\": 7"), "newer than this kprov understands"),
    ];
    let c = s3(REGION).await;
    for (what, body, message) in cases {
        c.put_object().bucket(&bucket).key(key).body(body.clone().into_bytes().into()).send().await.unwrap();
        let versions = version_count(&bucket, key).await;
        let b = backend(&bucket, key).await;
        let e = b.load().await.unwrap_err();
        assert!(e.to_string().contains(message), "{what}: {e}");
        assert!(e.to_string().contains(&format!("s3://{bucket}/{key}")), "{what}: {e}");
        // A write after the failed read is refused too: it re-reads, fails the same way.
        assert!(b.save(&next(&s)).await.is_err(), "{what}");
        assert_eq!(object(REGION, &bucket, key).await.as_deref(), Some(body.as_str()), "{what}: nothing written");
        assert_eq!(version_count(&bucket, key).await, versions, "{what}: no new version");
    }
}

async fn version_count(bucket: &str, key: &str) -> usize {
    let out = s3(REGION).await.list_object_versions().bucket(bucket).prefix(key).send().await.unwrap();
    out.versions().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_or_table_is_named_with_the_fix() {
    let missing = unique("kprov-missing");
    let e = backend(&missing, "k.json").await.load().await.unwrap_err();
    assert!(matches!(e, StateError::NoBucket { .. }), "{e}");
    assert!(e.to_string().contains(&format!("state bucket `{missing}` does not exist")), "{e}");
    assert!(e.to_string().contains("kprov state bootstrap"), "{e}");

    // Through the binary: the bucket exists, the lock table does not.
    let bucket = bucket().await;
    let dir = tiny_plans("nolock", REGION, false, "");
    kprov_s3(dir.path(), &bucket, REGION, "no-such-table")
        .args(["apply", "--auto-approve"])
        .assert()
        .code(1)
        .stderr(contains("the lock table `no-such-table` does not exist").and(contains("kprov state bootstrap")));
    kprov_s3(dir.path(), &missing, REGION, "no-such-table")
        .args(["plan"])
        .assert()
        .code(1)
        .stderr(contains(format!("state bucket `{missing}` does not exist")));
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_local_to_s3_and_back_round_trips_exactly() {
    let dir = tiny_plans("migrate", REGION, true, "");
    let root = dir.path();
    let (bucket, table) = (unique("kprov-mig"), unique("locks"));
    bootstrap(root, &bucket, REGION, &table).await;
    let key = "migrate/dev.json";

    // Local state from a real apply (the default backend).
    support::kprov(root).args(["apply", "--auto-approve", "--progress", "plain"]).assert().success();
    let local = root.join("state/migrate/dev.json");
    let original = std::fs::read_to_string(&local).unwrap();

    kprov_s3(root, &bucket, REGION, &table)
        .args(["state", "migrate", "--to", "s3"])
        .assert()
        .success()
        .stdout(contains(format!("to s3://{bucket}/{key}")));
    assert_eq!(object(REGION, &bucket, key).await.as_deref(), Some(original.as_str()), "S3 holds the exact bytes");
    assert_eq!(std::fs::read_to_string(&local).unwrap(), original, "the source is left as a backup");

    // The S3 copy is the state now: nothing to change, and `pull` prints the same bytes.
    kprov_s3(root, &bucket, REGION, &table)
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0)
        .stdout(contains("0 to create"));
    let pulled = kprov_s3(root, &bucket, REGION, &table).args(["state", "pull"]).output().unwrap();
    assert_eq!(String::from_utf8(pulled.stdout).unwrap(), original);

    std::fs::remove_file(&local).unwrap();
    kprov_s3(root, &bucket, REGION, &table).args(["state", "migrate", "--to", "local"]).assert().success();
    assert_eq!(std::fs::read_to_string(&local).unwrap(), original, "local → S3 → local is exact");

    // Migrating onto a different stack's state is refused, and nothing is written.
    // (Its resources in another region: in this one, the first stack's resources would make
    // its apply refuse, as a lost state.)
    let other = tiny_plans("migrate", "me-south-1", false, "");
    support::kprov(other.path()).args(["apply", "--auto-approve", "--progress", "plain"]).assert().success();
    kprov_s3(other.path(), &bucket, REGION, &table)
        .args(["state", "migrate", "--to", "s3"])
        .assert()
        .code(1)
        .stderr(contains("refusing to migrate").and(contains("another state (lineage")));
    assert_eq!(object(REGION, &bucket, key).await.as_deref(), Some(original.as_str()));
    // Both ends' locks were released.
    assert_eq!(state_common::lock_item(REGION, &table, &bucket, key).await, None);
    let lock = std::fs::read_to_string(root.join("state/migrate/dev.lock")).unwrap_or_default();
    assert!(!lock.contains("\"Info\""), "the local lock is free (no holder): {lock}");
}
