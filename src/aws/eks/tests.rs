//! The pending states moto never shows (CREATING, UPDATING, DELETING, update InProgress,
//! FAILED), exercised with mocked EKS clients (`aws-smithy-mocks`) under tokio's paused clock:
//! the polls, their timeouts, the update-then-ACTIVE sequence, the refusal of a version skip
//! before any call, and that a wait gives its engine slot back.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eks::operation::describe_cluster::{DescribeClusterError, DescribeClusterOutput};
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
use aws_sdk_eks::types::error::ResourceNotFoundException;
use aws_sdk_eks::types::{
    ClusterHealth, ClusterIssue, ClusterIssueCode, ClusterStatus, ErrorCode, ErrorDetail, Nodegroup as NodegroupItem,
    NodegroupScalingConfig, NodegroupStatus, Update, UpdateStatus, UpdateType,
};
use aws_sdk_eks::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::cluster::Cluster;
use super::nodegroup::Nodegroup;
use crate::resource::{Address, Attrs, Cx, Observed, Owner, ResourceError, ResourceKind, Spec};

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules)
}

fn cx() -> Cx {
    Cx::new(Owner { stack: "s".into(), env: "e".into() })
}

fn cluster_item(status: ClusterStatus, version: &str) -> aws_sdk_eks::types::Cluster {
    aws_sdk_eks::types::Cluster::builder()
        .name("main")
        .arn("arn:aws:eks:eu-west-1:123456789012:cluster/main")
        .version(version)
        .status(status)
        .build()
}

fn described(status: ClusterStatus, version: &str) -> DescribeClusterOutput {
    DescribeClusterOutput::builder().cluster(cluster_item(status, version)).build()
}

fn not_found() -> DescribeClusterError {
    DescribeClusterError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .message("No cluster found for name: main.")
            .meta(ErrorMetadata::builder().code("ResourceNotFoundException").build())
            .build(),
    )
}

fn update(status: UpdateStatus) -> Update {
    Update::builder().id("u-1").status(status).r#type(UpdateType::VersionUpdate).build()
}

fn attrs(v: Value) -> Attrs {
    serde_json::from_value(v).expect("attrs")
}

fn cluster_spec(version: &str) -> Spec {
    Spec {
        address: Address::new("eks_cluster", "main", None),
        attrs: attrs(json!({
            "name": "main", "version": version, "role_arn": "arn:aws:iam::123456789012:role/eks",
            "subnet_ids": ["subnet-a", "subnet-b"], "tags": {}
        })),
        client_token: "token".into(),
    }
}

fn prior_cluster(version: &str) -> Observed {
    Observed {
        id: "main".into(),
        attrs: attrs(json!({
            "name": "main", "version": version, "role_arn": "arn:aws:iam::123456789012:role/eks",
            "subnet_ids": ["subnet-a", "subnet-b"], "tags": {}
        })),
        owner_address: Some("eks_cluster.main".into()),
    }
}

#[tokio::test(start_paused = true)]
async fn cluster_create_polls_until_active_without_holding_a_slot() {
    let slots = Arc::new(Semaphore::new(1));
    let permit = slots.clone().acquire_owned().await.expect("permit");
    let cx = Cx::for_operation(
        Owner { stack: "s".into(), env: "e".into() },
        CancellationToken::new(),
        slots.clone(),
        permit,
        Arc::new(|_: &crate::resource::cx::Phase| {}),
    );
    let during_create = slots.clone();
    let create = mock!(Client::create_cluster).then_compute_output(move |_| {
        // The create call itself holds the operation's slot.
        assert_eq!(during_create.available_permits(), 0);
        aws_sdk_eks::operation::create_cluster::CreateClusterOutput::builder().build()
    });
    let during_wait = slots.clone();
    let creating = mock!(Client::describe_cluster)
        .sequence()
        .output(move || {
            // Polling runs as a wait: the slot is free for other operations meanwhile.
            assert_eq!(during_wait.available_permits(), 1);
            described(ClusterStatus::Creating, "1.30")
        })
        .times(20)
        .output(|| described(ClusterStatus::Active, "1.30"))
        .repeatedly()
        .build();
    let kind = Cluster::new(client(&[&create, &creating]));
    let start = tokio::time::Instant::now();
    let o = kind.create(&cx, &cluster_spec("1.30")).await.expect("create");
    assert_eq!(o.id, "main");
    // 20 CREATING answers, polled every 30 s: ten (virtual) minutes of waiting.
    assert_eq!(start.elapsed(), Duration::from_secs(20 * 30));
    assert_eq!(create.num_calls(), 1);
    assert!(creating.num_calls() >= 21, "{}", creating.num_calls());
}

#[tokio::test(start_paused = true)]
async fn cluster_create_gives_up_after_thirty_minutes() {
    let create = mock!(Client::create_cluster)
        .then_output(|| aws_sdk_eks::operation::create_cluster::CreateClusterOutput::builder().build());
    let creating = mock!(Client::describe_cluster).then_output(|| described(ClusterStatus::Creating, "1.30"));
    let kind = Cluster::new(client(&[&create, &creating]));
    let start = tokio::time::Instant::now();
    let err = kind.create(&cx(), &cluster_spec("1.30")).await.expect_err("times out");
    assert!(matches!(err, ResourceError::Timeout { seconds: 1800, .. }), "{err}");
    assert!(start.elapsed() <= Duration::from_secs(30 * 60));
    assert!(start.elapsed() >= Duration::from_secs(29 * 60));
}

#[tokio::test(start_paused = true)]
async fn a_failed_cluster_reports_its_health_issues() {
    let create = mock!(Client::create_cluster)
        .then_output(|| aws_sdk_eks::operation::create_cluster::CreateClusterOutput::builder().build());
    let failed = mock!(Client::describe_cluster).then_output(|| {
        let issue =
            ClusterIssue::builder().code(ClusterIssueCode::KmsKeyNotFound).message("The KMS key was not found").build();
        let c = aws_sdk_eks::types::Cluster::builder()
            .name("main")
            .status(ClusterStatus::Failed)
            .health(ClusterHealth::builder().issues(issue).build())
            .build();
        DescribeClusterOutput::builder().cluster(c).build()
    });
    let kind = Cluster::new(client(&[&create, &failed]));
    let err = kind.create(&cx(), &cluster_spec("1.30")).await.expect_err("fails");
    let text = err.to_string();
    assert_eq!(err.code(), Some("ClusterFAILED"), "{text}");
    assert!(text.contains("KmsKeyNotFound") && text.contains("The KMS key was not found"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn version_upgrade_follows_the_update_then_waits_for_active() {
    let upgrade = mock!(Client::update_cluster_version)
        .match_requests(|r| r.version() == Some("1.31"))
        .then_output(|| UpdateClusterVersionOutput::builder().update(update(UpdateStatus::InProgress)).build());
    let progress = mock!(Client::describe_update)
        .match_requests(|r| r.update_id() == Some("u-1") && r.name() == Some("main"))
        .sequence()
        .output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::InProgress)).build())
        .times(3)
        .output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::Successful)).build())
        .build();
    let cluster = mock!(Client::describe_cluster)
        .sequence()
        .output(|| described(ClusterStatus::Updating, "1.31"))
        .output(|| described(ClusterStatus::Active, "1.31"))
        .repeatedly()
        .build();
    let kind = Cluster::new(client(&[&upgrade, &progress, &cluster]));
    let start = tokio::time::Instant::now();
    let o = kind.update(&cx(), &prior_cluster("1.30"), &cluster_spec("1.31")).await.expect("upgrade");
    assert_eq!(o.attrs["version"], json!("1.31"));
    assert_eq!(upgrade.num_calls(), 1);
    assert_eq!(progress.num_calls(), 4);
    // 3 polls of the update + 1 poll of the cluster, 30 s apart.
    assert_eq!(start.elapsed(), Duration::from_secs(4 * 30));
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_reports_eks_error_details() {
    let upgrade = mock!(Client::update_cluster_version)
        .then_output(|| UpdateClusterVersionOutput::builder().update(update(UpdateStatus::InProgress)).build());
    let failed = mock!(Client::describe_update).then_output(|| {
        let detail = ErrorDetail::builder()
            .error_code(ErrorCode::InsufficientFreeAddresses)
            .error_message("One or more of the subnets does not have enough free addresses")
            .build();
        let u = Update::builder().id("u-1").status(UpdateStatus::Failed).errors(detail).build();
        DescribeUpdateOutput::builder().update(u).build()
    });
    let kind = Cluster::new(client(&[&upgrade, &failed]));
    let err = kind.update(&cx(), &prior_cluster("1.30"), &cluster_spec("1.31")).await.expect_err("fails");
    assert_eq!(err.code(), Some("InsufficientFreeAddresses"), "{err}");
    assert!(err.to_string().contains("does not have enough free addresses"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_version_skip_is_refused_before_any_call() {
    let any_upgrade = mock!(Client::update_cluster_version)
        .then_output(|| UpdateClusterVersionOutput::builder().update(update(UpdateStatus::Successful)).build());
    let any_describe = mock!(Client::describe_cluster).then_output(|| described(ClusterStatus::Active, "1.31"));
    let kind = Cluster::new(client(&[&any_upgrade, &any_describe]));
    for (from, to, says) in [("1.31", "1.33", "one minor version at a time"), ("1.31", "1.30", "cannot go down")] {
        // The engine's check before an update (kinds do not validate inside update).
        let err =
            crate::resource::check_resolved(&kind, None, &cluster_spec(to).attrs, Some(&prior_cluster(from).attrs))
                .expect_err("refused");
        assert!(matches!(err, ResourceError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(any_upgrade.num_calls() + any_describe.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn cluster_delete_waits_until_it_is_gone() {
    let delete = mock!(Client::delete_cluster)
        .then_output(|| aws_sdk_eks::operation::delete_cluster::DeleteClusterOutput::builder().build());
    let going = mock!(Client::describe_cluster)
        .sequence()
        .output(|| described(ClusterStatus::Active, "1.30"))
        .output(|| described(ClusterStatus::Deleting, "1.30"))
        .times(10)
        .error(not_found)
        .repeatedly()
        .build();
    let kind = Cluster::new(client(&[&delete, &going]));
    let start = tokio::time::Instant::now();
    kind.delete(&cx(), &prior_cluster("1.30")).await.expect("deleted");
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(start.elapsed(), Duration::from_secs(10 * 30));
    // Deleting what is gone: one look, no call.
    kind.delete(&cx(), &prior_cluster("1.30")).await.expect("already gone");
    assert_eq!(delete.num_calls(), 1);
}

fn nodegroup_item(status: NodegroupStatus, desired: i32) -> NodegroupItem {
    NodegroupItem::builder()
        .cluster_name("main")
        .nodegroup_name("apps")
        .nodegroup_arn("arn:aws:eks:eu-west-1:123456789012:nodegroup/main/apps/1")
        .status(status)
        .scaling_config(NodegroupScalingConfig::builder().min_size(2).max_size(6).desired_size(desired).build())
        .build()
}

#[tokio::test(start_paused = true)]
async fn nodegroup_scaling_update_waits_for_the_update_and_active() {
    let config = mock!(Client::update_nodegroup_config)
        .match_requests(|r| {
            r.scaling_config().map(|s| (s.min_size(), s.max_size(), s.desired_size()))
                == Some((Some(2), Some(6), Some(3)))
        })
        .then_output(|| {
            let u = Update::builder().id("u-1").status(UpdateStatus::InProgress).build();
            UpdateNodegroupConfigOutput::builder().update(u).build()
        });
    let progress = mock!(Client::describe_update)
        .match_requests(|r| r.nodegroup_name() == Some("apps"))
        .sequence()
        .output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::InProgress)).build())
        .output(|| DescribeUpdateOutput::builder().update(update(UpdateStatus::Successful)).build())
        .build();
    let ng = mock!(Client::describe_nodegroup)
        .sequence()
        .output(|| DescribeNodegroupOutput::builder().nodegroup(nodegroup_item(NodegroupStatus::Updating, 3)).build())
        .times(2)
        .output(|| DescribeNodegroupOutput::builder().nodegroup(nodegroup_item(NodegroupStatus::Active, 3)).build())
        .repeatedly()
        .build();
    let kind = Nodegroup::new(client(&[&config, &progress, &ng]));
    let prior = Observed {
        id: "main/apps".into(),
        attrs: attrs(json!({"min_size": 1, "max_size": 3, "desired_size": 2})),
        owner_address: None,
    };
    let spec = Spec {
        address: Address::new("eks_nodegroup", "apps", None),
        attrs: attrs(json!({"min_size": 2, "max_size": 6, "desired_size": 3})),
        client_token: "t".into(),
    };
    let start = tokio::time::Instant::now();
    let o = kind.update(&cx(), &prior, &spec).await.expect("update");
    assert_eq!(o.attrs["desired_size"], json!(3));
    assert_eq!(config.num_calls(), 1);
    // 1 poll of the update + 2 of the node group, 15 s apart.
    assert_eq!(start.elapsed(), Duration::from_secs(3 * 15));
}

#[tokio::test(start_paused = true)]
async fn unmanaged_desired_size_is_kept_within_new_bounds() {
    // min 4 > current desired 2: the update must move desired to 4 (EKS refuses desired < min).
    let config = mock!(Client::update_nodegroup_config)
        .match_requests(|r| r.scaling_config().and_then(|s| s.desired_size()) == Some(4))
        .then_output(|| {
            let u = Update::builder().id("u-1").status(UpdateStatus::Successful).build();
            UpdateNodegroupConfigOutput::builder().update(u).build()
        });
    let ng = mock!(Client::describe_nodegroup).then_output(|| {
        DescribeNodegroupOutput::builder().nodegroup(nodegroup_item(NodegroupStatus::Active, 4)).build()
    });
    let kind = Nodegroup::new(client(&[&config, &ng]));
    let prior = Observed {
        id: "main/apps".into(),
        attrs: attrs(json!({"min_size": 1, "max_size": 3, "desired_size": 2})),
        owner_address: None,
    };
    let spec = Spec {
        address: Address::new("eks_nodegroup", "apps", None),
        attrs: attrs(json!({"min_size": 4, "max_size": 6})),
        client_token: "t".into(),
    };
    kind.update(&cx(), &prior, &spec).await.expect("update");
    assert_eq!(config.num_calls(), 1);
}
