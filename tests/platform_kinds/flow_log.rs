//! VPC flow log to CloudWatch Logs.

use std::collections::HashMap;

use serde_json::json;

use super::{assert_invalid, unique, Env};

const REGION: &str = "me-central-1";
const ROLE: &str = "arn:aws:iam::123456789012:role/flow-logs";

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> HashMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()
}

#[tokio::test]
async fn ec2_flow_log_lifecycle() {
    let env = Env::new(REGION, "flow-log").await;
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    let vpc = ec2.create_vpc().cidr_block("10.42.0.0/16").send().await.expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    let group = format!("/pa/{}/flow", unique("vpc"));
    logs.create_log_group().log_group_name(&group).send().await.expect("CreateLogGroup");

    let attrs = |tags: serde_json::Value| json!({"vpc_id": vpc_id, "traffic_type": "REJECT", "log_group_name": group, "iam_role_arn": ROLE, "tags": tags});
    let spec = env.spec("ec2_flow_log", "vpc", attrs(json!({"Name": "vpc-flow"})));
    let fl = env.create(&spec).await;
    assert!(fl.id.starts_with("fl-"), "{}", fl.id);
    let aws = ec2.describe_flow_logs().flow_log_ids(&fl.id).send().await.expect("DescribeFlowLogs");
    let aws = &aws.flow_logs()[0];
    assert_eq!(aws.resource_id(), Some(vpc_id.as_str()));
    assert_eq!(aws.traffic_type().map(|t| t.as_str()), Some("REJECT"));
    assert_eq!(aws.log_group_name(), Some(group.as_str()));
    assert_eq!(aws.deliver_logs_permission_arn(), Some(ROLE));
    assert_eq!(ec2_tags(aws.tags()), env.expected_tags("ec2_flow_log.vpc", &[("Name", "vpc-flow")]));

    let fl = env.assert_reads("ec2_flow_log", &fl, "fl-0123456789abcdef0").await;
    env.assert_converged(&spec, &fl);

    // Only tags change in place.
    let spec2 = env.spec("ec2_flow_log", "vpc", attrs(json!({"Team": "net"})));
    let fl2 = env.update(&fl, &spec2).await;
    assert_eq!(fl2.id, fl.id);
    env.assert_converged(&spec2, &fl2);
    let aws = ec2.describe_flow_logs().flow_log_ids(&fl.id).send().await.expect("DescribeFlowLogs");
    assert_eq!(ec2_tags(aws.flow_logs()[0].tags()), env.expected_tags("ec2_flow_log.vpc", &[("Team", "net")]));
    // Anything else is a replacement.
    assert!(env.kind("ec2_flow_log").schema().get("traffic_type").is_some_and(|a| a.force_new));

    env.assert_owned("ec2_flow_log", &[&fl.id]).await;
    env.assert_deletes("ec2_flow_log", &fl2).await;
    let aws = ec2
        .describe_flow_logs()
        .filter(aws_sdk_ec2::types::Filter::builder().name("resource-id").values(&vpc_id).build())
        .send()
        .await
        .expect("DescribeFlowLogs");
    assert!(aws.flow_logs().is_empty());
}

#[tokio::test]
async fn ec2_flow_log_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "flow-log-invalid").await;
    let vpc = "vpc-0123456789abcdef0";
    let cases = [
        (json!({"vpc_id": vpc, "log_group_name": "/g"}), "iam_role_arn"),
        (json!({"vpc_id": vpc, "iam_role_arn": ROLE}), "log_group_name or log_destination"),
        (
            json!({"vpc_id": vpc, "iam_role_arn": ROLE, "log_group_name": "/g",
                   "log_destination": "arn:aws:logs:me-central-1:123456789012:log-group:/g"}),
            "not both",
        ),
        (json!({"vpc_id": vpc, "log_destination_type": "s3", "log_group_name": "/g"}), "log_destination"),
        (
            json!({"vpc_id": vpc, "log_destination_type": "s3", "log_destination": "arn:aws:s3:::b", "iam_role_arn": ROLE}),
            "no iam_role_arn",
        ),
        (
            json!({"vpc_id": vpc, "iam_role_arn": ROLE, "log_group_name": "/g", "max_aggregation_interval": 30}),
            "must be one of 60, 600",
        ),
        (json!({"vpc_id": vpc, "iam_role_arn": ROLE, "log_group_name": "/g", "traffic_type": "SOME"}), "traffic_type"),
    ];
    // The VPC does not exist: had any call been made, AWS would have answered with an error
    // code, not a local validation message.
    for (attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec("ec2_flow_log", "bad", attrs)).await, needle);
    }
}
