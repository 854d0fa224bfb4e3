//! `kprov state bootstrap` against moto: the bucket and the lock table, with every setting
//! checked through the SDK; a second run changes nothing.

mod state_common;
mod support;

use predicates::str::contains;
use state_common::{ddb, kprov_s3, s3, tiny_plans, unique};

const REGION: &str = "eu-south-1"; // no other test uses it

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_creates_a_safe_bucket_and_lock_table_and_is_idempotent() {
    let dir = tiny_plans("boot", REGION, false, "");
    let (bucket, table) = (unique("kprov-boot"), unique("locks"));
    let run = || kprov_s3(dir.path(), &bucket, REGION, &table).args(["state", "bootstrap"]).assert().success();
    run()
        .stdout(contains(format!("+ bucket {bucket}: created in {REGION}")))
        .stdout(contains(format!("+ table {table}: created")));
    let s3 = s3(REGION).await;
    let policy_before = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy().unwrap().to_string();
    run().stdout(contains("Nothing to change"));
    // Nothing was rewritten: the policy is the same document.
    let policy = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap().policy().unwrap().to_string();
    assert_eq!(policy, policy_before);

    // In the backend's region.
    let loc = s3.get_bucket_location().bucket(&bucket).send().await.unwrap();
    assert_eq!(loc.location_constraint().map(|l| l.as_str()), Some(REGION));
    // Default encryption.
    let enc = s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rules = enc.server_side_encryption_configuration().unwrap().rules();
    let alg = rules[0].apply_server_side_encryption_by_default().unwrap().sse_algorithm();
    assert_eq!(alg.as_str(), "AES256");
    // Public access blocked, all four ways.
    let pab = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let c = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        [c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()],
        [Some(true); 4]
    );
    // TLS only: a Deny of everything on the bucket and its objects without SecureTransport.
    let doc: serde_json::Value = serde_json::from_str(&policy).unwrap();
    let st = doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "DenyInsecureTransport").unwrap();
    assert_eq!(st["Effect"], "Deny");
    assert_eq!(st["Principal"], "*");
    assert_eq!(st["Action"], "s3:*");
    assert_eq!(st["Condition"]["Bool"]["aws:SecureTransport"], "false");
    let mut res: Vec<&str> = st["Resource"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
    res.sort();
    assert_eq!(res, [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]);
    // In force: this plain-HTTP request (moto has no TLS) is denied.
    let denied = s3.put_object().bucket(&bucket).key("probe").body(b"x".to_vec().into()).send().await;
    assert_eq!(denied.unwrap_err().raw_response().map(|r| r.status().as_u16()), Some(403));

    // Versioning: two writes leave two versions. (moto's GetBucketVersioning answer does not
    // parse with the Rust SDK, see docs/testing.md, so the behaviour is checked instead.) moto
    // applies the policy's Deny without evaluating its Condition, so it is removed first.
    s3.delete_bucket_policy().bucket(&bucket).send().await.unwrap();
    for body in ["one", "two"] {
        s3.put_object().bucket(&bucket).key("probe").body(body.as_bytes().to_vec().into()).send().await.unwrap();
    }
    let versions = s3.list_object_versions().bucket(&bucket).prefix("probe").send().await.unwrap();
    assert_eq!(versions.versions().len(), 2, "versioning is on");

    // The lock table: key LockID (string), on-demand, TTL on `expires`.
    let ddb = ddb(REGION).await;
    let t = ddb.describe_table().table_name(&table).send().await.unwrap();
    let t = t.table().unwrap();
    assert_eq!(t.key_schema()[0].attribute_name(), "LockID");
    assert_eq!(t.key_schema()[0].key_type().as_str(), "HASH");
    assert_eq!(t.attribute_definitions()[0].attribute_type().as_str(), "S");
    assert_eq!(t.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str()), Some("PAY_PER_REQUEST"));
    let ttl = ddb.describe_time_to_live().table_name(&table).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires"));
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
}

#[test]
fn bootstrap_needs_an_s3_backend() {
    let dir = tiny_plans("boot-local", REGION, false, "");
    support::kprov(dir.path())
        .args(["state", "bootstrap"])
        .assert()
        .code(1)
        .stderr(contains("this stack uses local state"));
}
