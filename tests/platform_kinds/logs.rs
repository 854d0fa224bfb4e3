//! CloudWatch Logs log group.

use std::collections::HashMap;

use serde_json::json;

use super::{assert_invalid, attr, s, unique, Env};

const REGION: &str = "ap-east-1";

async fn group(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) -> Option<aws_sdk_cloudwatchlogs::types::LogGroup> {
    let out = logs.describe_log_groups().log_group_name_prefix(name).send().await.expect("DescribeLogGroups");
    out.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned()
}

async fn group_tags(logs: &aws_sdk_cloudwatchlogs::Client, arn: &str) -> HashMap<String, String> {
    let out = logs.list_tags_for_resource().resource_arn(arn).send().await.expect("ListTagsForResource");
    out.tags().cloned().unwrap_or_default()
}

#[tokio::test]
async fn logs_log_group_lifecycle() {
    let env = Env::new(REGION, "logs-group").await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    let kms = aws_sdk_kms::Client::new(&env.sdk);
    let key = kms.create_key().send().await.expect("CreateKey");
    let key_arn = key.key_metadata().and_then(|m| m.arn()).expect("key arn").to_string();

    let name = format!("/aws/eks/{}/cluster", unique("pa"));
    let spec = env.spec(
        "logs_log_group",
        "cluster",
        json!({"name": name, "retention_in_days": 7, "kms_key_id": key_arn, "tags": {"Team": "platform"}}),
    );
    let g = env.create(&spec).await;
    assert_eq!(g.id, name);
    assert!(s(&g, "arn").ends_with(&format!(":log-group:{name}")), "{g:?}");
    let aws = group(&logs, &name).await.expect("group exists");
    assert_eq!(aws.retention_in_days(), Some(7));
    assert_eq!(aws.kms_key_id(), Some(key_arn.as_str()));
    assert_eq!(
        group_tags(&logs, s(&g, "arn")).await,
        env.expected_tags("logs_log_group.cluster", &[("Team", "platform")])
    );

    let g = env.assert_reads("logs_log_group", &g, "/aws/eks/pa-missing/cluster").await;
    env.assert_converged(&spec, &g);

    // In place: a longer retention, other tags (moto lacks AssociateKmsKey, so the key stays).
    let spec2 = env.spec(
        "logs_log_group",
        "cluster",
        json!({"name": name, "retention_in_days": 90, "kms_key_id": key_arn, "tags": {"Owner": "me"}}),
    );
    let g2 = env.update(&g, &spec2).await;
    env.assert_converged(&spec2, &g2);
    assert_eq!(group(&logs, &name).await.expect("group").retention_in_days(), Some(90));
    assert_eq!(group_tags(&logs, s(&g, "arn")).await, env.expected_tags("logs_log_group.cluster", &[("Owner", "me")]));
    // Back to "never expire": the retention policy is removed.
    let spec3 =
        env.spec("logs_log_group", "cluster", json!({"name": name, "kms_key_id": key_arn, "tags": {"Owner": "me"}}));
    let g3 = env.update(&g2, &spec3).await;
    assert_eq!(attr(&g3, "retention_in_days"), &json!(0));
    assert_eq!(group(&logs, &name).await.expect("group").retention_in_days(), None);

    env.assert_owned("logs_log_group", &[&name]).await;
    env.assert_deletes("logs_log_group", &g3).await;
    assert!(group(&logs, &name).await.is_none());
}

#[tokio::test]
async fn logs_log_group_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "logs-invalid").await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    let name = format!("/pa/{}", unique("bad"));
    let cases = [
        // moto would accept 8 days; CloudWatch does not.
        (json!({"name": name, "retention_in_days": 8}), "retention_in_days"),
        (json!({"name": format!("{name} with spaces")}), "only letters, digits and ._-/#"),
        (json!({"name": name, "kms_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab"}), "ARN"),
    ];
    for (attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec("logs_log_group", "bad", attrs)).await, needle);
    }
    assert!(group(&logs, &name).await.is_none(), "nothing may have been created");
}

/// After a destroy, EKS re-creates `/aws/eks/<cluster>/cluster` for late control-plane logs,
/// untagged (the emulator's realistic mode does the same, `eks-log-group-recreated`): the next
/// create of the group with exactly that name takes it over and tags it. Any other group whose
/// name is taken is still refused.
#[tokio::test]
async fn logs_log_group_recreated_by_eks_is_adopted_by_its_exact_name() {
    let env = Env::new(REGION, "logs-late").await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    let name = format!("/aws/eks/{}/cluster", unique("late"));
    logs.create_log_group().log_group_name(&name).send().await.expect("EKS re-creates the group");
    let spec = env.spec("logs_log_group", "cluster", json!({"name": name, "retention_in_days": 7}));
    let g = env.create(&spec).await;
    assert_eq!(g.id, name);
    assert_eq!(group(&logs, &name).await.expect("group").retention_in_days(), Some(7));
    assert_eq!(group_tags(&logs, s(&g, "arn")).await, env.expected_tags("logs_log_group.cluster", &[]));
    env.assert_converged(&spec, &g);
    env.assert_deletes("logs_log_group", &g).await;

    // Not an EKS control-plane group: a taken name is somebody else's.
    let other = format!("/app/{}", unique("taken"));
    logs.create_log_group().log_group_name(&other).send().await.expect("someone's group");
    let err = env.try_create(&env.spec("logs_log_group", "app", json!({"name": other}))).await.expect_err("taken");
    assert!(err.to_string().contains("ResourceAlreadyExists"), "{err}");
    logs.delete_log_group().log_group_name(&other).send().await.expect("cleanup");
}
