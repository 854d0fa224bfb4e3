//! KMS key and alias.

use std::collections::HashMap;

use aws_sdk_kms::types::KeyState;
use serde_json::{json, Value};

use super::{assert_invalid, attr, s, unique, Env};

const REGION: &str = "ap-southeast-3";
/// moto's default account.
const ROOT: &str = "arn:aws:iam::123456789012:root";

fn policy(extra_sid: Option<&str>) -> Value {
    let mut statements = vec![json!({
        "Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"
    })];
    if let Some(sid) = extra_sid {
        statements.push(json!({
            "Sid": sid, "Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
            "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

async fn kms_tags(kms: &aws_sdk_kms::Client, id: &str) -> HashMap<String, String> {
    let out = kms.list_resource_tags().key_id(id).send().await.expect("ListResourceTags");
    out.tags().iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())).collect()
}

async fn kms_policy(kms: &aws_sdk_kms::Client, id: &str) -> Value {
    let out = kms.get_key_policy().key_id(id).policy_name("default").send().await.expect("GetKeyPolicy");
    serde_json::from_str(out.policy().expect("policy")).expect("json")
}

#[tokio::test]
async fn kms_key_lifecycle() {
    let env = Env::new(REGION, "kms-key").await;
    let kms = aws_sdk_kms::Client::new(&env.sdk);
    let spec = env.spec(
        "kms_key",
        "secrets",
        json!({
            "description": "EKS secrets",
            "enable_key_rotation": true,
            "deletion_window_in_days": 7,
            "policy": policy(None),
            "tags": {"Team": "platform"},
        }),
    );
    let key = env.create(&spec).await;
    assert_eq!(s(&key, "key_id"), key.id);
    assert!(s(&key, "arn").ends_with(&format!(":key/{}", key.id)));
    assert_eq!(attr(&key, "deletion_window_in_days"), &json!(7), "the window reads back from its tag");

    let meta = kms.describe_key().key_id(&key.id).send().await.expect("DescribeKey");
    assert_eq!(meta.key_metadata().and_then(|m| m.description()), Some("EKS secrets"));
    let rotation = kms.get_key_rotation_status().key_id(&key.id).send().await.expect("rotation");
    assert!(rotation.key_rotation_enabled());
    assert_eq!(kms_policy(&kms, &key.id).await, policy(None));
    let mut want = env.expected_tags("kms_key.secrets", &[("Team", "platform")]);
    want.insert("kprov:deletion_window_in_days".into(), "7".into());
    assert_eq!(kms_tags(&kms, &key.id).await, want);

    let key = env.assert_reads("kms_key", &key, "00000000-0000-0000-0000-000000000000").await;
    env.assert_converged(&spec, &key);

    // In place: description, rotation, policy, deletion window, tags.
    let spec2 = env.spec(
        "kms_key",
        "secrets",
        json!({
            "description": "EKS secrets v2",
            "enable_key_rotation": false,
            "deletion_window_in_days": 10,
            "policy": policy(Some("Eks")),
            "tags": {"Owner": "me"},
        }),
    );
    let key2 = env.update(&key, &spec2).await;
    assert_eq!(key2.id, key.id);
    env.assert_converged(&spec2, &key2);
    let meta = kms.describe_key().key_id(&key.id).send().await.expect("DescribeKey");
    assert_eq!(meta.key_metadata().and_then(|m| m.description()), Some("EKS secrets v2"));
    let rotation = kms.get_key_rotation_status().key_id(&key.id).send().await.expect("rotation");
    assert!(!rotation.key_rotation_enabled());
    assert_eq!(kms_policy(&kms, &key.id).await, policy(Some("Eks")));
    let mut want = env.expected_tags("kms_key.secrets", &[("Owner", "me")]);
    want.insert("kprov:deletion_window_in_days".into(), "10".into());
    assert_eq!(kms_tags(&kms, &key.id).await, want);

    env.assert_owned("kms_key", &[&key.id]).await;

    // Delete schedules the deletion with the recorded window; a pending key counts as gone.
    env.assert_deletes("kms_key", &key2).await;
    let meta = kms.describe_key().key_id(&key.id).send().await.expect("DescribeKey");
    let meta = meta.key_metadata().expect("metadata");
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    let days = (meta.deletion_date().expect("deletion date").secs()
        - aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs()) as f64
        / 86400.0;
    assert!((9.9..=10.1).contains(&days), "deletion in {days} days, expected 10");
    assert!(env.find_owned_ids("kms_key").await.is_empty(), "a pending-deletion key is not found as owned");
}

#[tokio::test]
async fn kms_key_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "kms-invalid").await;
    let kms = aws_sdk_kms::Client::new(&env.sdk);
    let cases = [
        (json!({"deletion_window_in_days": 3}), "7–30"),
        (json!({"key_spec": "RSA_2048", "key_usage": "SIGN_VERIFY", "enable_key_rotation": true}), "SYMMETRIC_DEFAULT"),
        (json!({"key_usage": "ENCRYPT"}), "key_usage"),
        (
            json!({"policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}}),
            "Principal",
        ),
    ];
    for (attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec("kms_key", "bad", attrs)).await, needle);
    }
    // Other tests create keys in this region concurrently: look for this test's owner tag.
    for k in kms.list_keys().send().await.expect("ListKeys").keys() {
        let tags = kms_tags(&kms, k.key_id().expect("key id")).await;
        assert_ne!(tags.get("kprov:env").map(String::as_str), Some("kms-invalid"), "no key may have been created");
    }
}

#[tokio::test]
async fn kms_alias_lifecycle() {
    let env = Env::new(REGION, "kms-alias").await;
    let kms = aws_sdk_kms::Client::new(&env.sdk);
    let mut keys = Vec::new();
    for _ in 0..2 {
        let out = kms.create_key().send().await.expect("CreateKey");
        let m = out.key_metadata().expect("metadata");
        keys.push((m.key_id().to_string(), m.arn().expect("arn").to_string()));
    }
    let name = format!("alias/{}", unique("pa"));
    // The target given as an ARN reads back as the key id: still no change.
    let spec = env.spec("kms_alias", "secrets", json!({"name": name, "target_key_id": keys[0].1}));
    let alias = env.create(&spec).await;
    assert_eq!(alias.id, name);
    assert_eq!(s(&alias, "target_key_id"), keys[0].0);
    env.assert_converged(&spec, &alias);
    let target = |out: &aws_sdk_kms::operation::list_aliases::ListAliasesOutput| {
        out.aliases()
            .iter()
            .find(|a| a.alias_name() == Some(name.as_str()))
            .and_then(|a| a.target_key_id())
            .map(str::to_string)
    };
    assert_eq!(target(&kms.list_aliases().send().await.expect("ListAliases")), Some(keys[0].0.clone()));

    let alias = env.assert_reads("kms_alias", &alias, "alias/pa-missing").await;
    // A re-run of the create adopts the alias that already points at the right key…
    assert_eq!(env.create(&spec).await, alias);
    // …but not one pointing elsewhere.
    let elsewhere = env.spec("kms_alias", "secrets", json!({"name": name, "target_key_id": keys[1].0}));
    assert_eq!(env.try_create(&elsewhere).await.expect_err("conflict").code(), Some("AlreadyExistsException"));

    let alias2 = env.update(&alias, &elsewhere).await;
    env.assert_converged(&elsewhere, &alias2);
    assert_eq!(target(&kms.list_aliases().send().await.expect("ListAliases")), Some(keys[1].0.clone()));

    // Aliases cannot be tagged: find_owned finds none by design.
    assert!(env.find_owned_ids("kms_alias").await.is_empty());
    env.assert_deletes("kms_alias", &alias2).await;
    assert_eq!(target(&kms.list_aliases().send().await.expect("ListAliases")), None);

    assert_invalid(
        env.try_create(&env.spec("kms_alias", "bad", json!({"name": "alias/aws/ebs", "target_key_id": keys[0].0})))
            .await,
        "alias/aws/",
    );
}
