//! What in-cluster controllers made in the stack's AWS account, found before a destroy.
//!
//! The AWS Load Balancer Controller makes load balancers, target groups and `k8s-*` security
//! groups for Kubernetes Ingresses and Services, tagged `elbv2.k8s.aws/cluster = <cluster>`
//! (AWS Load Balancer Controller docs, "Resource tags"); Karpenter launches instances tagged
//! `karpenter.sh/nodepool` and `kubernetes.io/cluster/<cluster> = owned` (or
//! `karpenter.sh/discovery = <cluster>`, the tag its getting-started guide puts on what it
//! discovers). kprov did not make them and does not know them, but they live in kprov's subnets
//! and reference kprov's security groups: a destroy that starts without removing them stalls on
//! `DependencyViolation` for every subnet and group, then fails (eksctl deletes a cluster's
//! load balancers first for the same reason, `eksctl delete cluster`). So `kprov destroy` looks
//! first ([`find`]), refuses with the list and the fix, and with
//! `--delete-controller-resources` deletes them ([`delete`]) before it starts.

use aws_config::SdkConfig;
use aws_sdk_ec2::types::Filter;

use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::ResourceError;

/// One resource a controller made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leftover {
    /// What it is: `load balancer`, `target group`, `security group`, `instance`.
    pub what: &'static str,
    pub id: String,
    /// The controller and the tag that gives it away.
    pub by: String,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.what, self.id, self.by)
    }
}

const LBC_TAG: &str = "elbv2.k8s.aws/cluster";

/// Everything the controllers of `clusters` made, in the order it must be deleted.
pub async fn find(sdk: &SdkConfig, clusters: &[String]) -> Result<Vec<Leftover>, ResourceError> {
    if clusters.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let lbs: Vec<_> = elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_aws("DescribeLoadBalancers")?;
    let tgs: Vec<_> = elb
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_aws("DescribeTargetGroups")?;
    let arns: Vec<(&'static str, String)> = lbs
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(|a| ("load balancer", a.to_string())))
        .chain(tgs.iter().filter_map(|t| t.target_group_arn().map(|a| ("target group", a.to_string()))))
        .collect();
    // DescribeTags takes at most 20 ARNs.
    for chunk in arns.chunks(20) {
        let tags = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.iter().map(|(_, a)| a.clone()).collect()))
            .send()
            .await
            .or_aws("DescribeTags")?;
        for d in tags.tag_descriptions() {
            let cluster = d.tags().iter().find(|t| t.key() == Some(LBC_TAG)).and_then(|t| t.value());
            if let (Some(c), Some(arn)) = (cluster.filter(|c| clusters.iter().any(|x| x == c)), d.resource_arn()) {
                let what = chunk.iter().find(|(_, a)| a == arn).map(|(w, _)| *w).unwrap_or("load balancer");
                out.push(Leftover {
                    what,
                    id: arn.to_string(),
                    by: format!("AWS Load Balancer Controller: {LBC_TAG} = {c}"),
                });
            }
        }
    }
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let tag_filter =
        |k: &str, v: &[String]| Filter::builder().name(format!("tag:{k}")).set_values(Some(v.to_vec())).build();
    let groups: Vec<_> = ec2
        .describe_security_groups()
        .filters(tag_filter(LBC_TAG, clusters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_aws("DescribeSecurityGroups")?;
    for g in groups {
        let c = g.tags().iter().find(|t| t.key() == Some(LBC_TAG)).and_then(|t| t.value()).unwrap_or_default();
        if let Some(id) = g.group_id() {
            out.push(Leftover {
                what: "security group",
                id: id.to_string(),
                by: format!("AWS Load Balancer Controller: {LBC_TAG} = {c}"),
            });
        }
    }
    let live = Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    let mut instance_filters = vec![vec![tag_filter("karpenter.sh/discovery", clusters)]];
    for c in clusters {
        instance_filters.push(vec![
            Filter::builder().name("tag-key").values("karpenter.sh/nodepool").build(),
            tag_filter(&format!("kubernetes.io/cluster/{c}"), &["owned".to_string()]),
        ]);
    }
    for filters in instance_filters {
        let reservations: Vec<_> = ec2
            .describe_instances()
            .set_filters(Some(filters.into_iter().chain([live.clone()]).collect()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeInstances")?;
        for i in reservations.iter().flat_map(|r| r.instances()) {
            if let Some(id) = i.instance_id() {
                if !out.iter().any(|l| l.id == id) {
                    out.push(Leftover { what: "instance", id: id.to_string(), by: "Karpenter".to_string() });
                }
            }
        }
    }
    // Listeners go with their load balancer; target groups after it; groups last.
    let rank = |l: &Leftover| match l.what {
        "instance" => 0,
        "load balancer" => 1,
        "target group" => 2,
        _ => 3,
    };
    out.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    Ok(out)
}

/// Delete `leftovers` (from [`find`], in its order). A load balancer's network interfaces keep
/// its security groups busy for a while: the groups' DependencyViolation is waited out by the
/// connector (`aws::consistency`).
pub async fn delete(sdk: &SdkConfig, leftovers: &[Leftover]) -> Result<(), ResourceError> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let instances: Vec<String> = leftovers.iter().filter(|l| l.what == "instance").map(|l| l.id.clone()).collect();
    if !instances.is_empty() {
        not_found_as_none(
            ec2.terminate_instances().set_instance_ids(Some(instances)).send().await.or_aws("TerminateInstances"),
        )?;
    }
    for l in leftovers {
        match l.what {
            "load balancer" => {
                not_found_as_none(
                    elb.delete_load_balancer().load_balancer_arn(&l.id).send().await.or_aws("DeleteLoadBalancer"),
                )?;
            }
            "target group" => {
                not_found_as_none(
                    elb.delete_target_group().target_group_arn(&l.id).send().await.or_aws("DeleteTargetGroup"),
                )?;
            }
            "security group" => {
                revoke_references(&ec2, &l.id).await?;
                not_found_as_none(
                    ec2.delete_security_group().group_id(&l.id).send().await.or_aws("DeleteSecurityGroup"),
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Revoke the rules of other groups that reference `group` (the controller adds one to the
/// nodes' group for each of its load balancer groups): while one exists, DeleteSecurityGroup
/// answers DependencyViolation for good. They are the controller's rules, not kprov's (kprov's
/// own rules reference kprov's groups only).
async fn revoke_references(ec2: &aws_sdk_ec2::Client, group: &str) -> Result<(), ResourceError> {
    let rules: Vec<_> = ec2
        .describe_security_group_rules()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_aws("DescribeSecurityGroupRules")?;
    let mut by_group: std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> = Default::default();
    for r in rules.iter().filter(|r| r.referenced_group_info().and_then(|g| g.group_id()) == Some(group)) {
        let (Some(owner), Some(id)) = (r.group_id(), r.security_group_rule_id()) else { continue };
        if owner == group {
            continue;
        }
        let e = by_group.entry(owner.to_string()).or_default();
        if r.is_egress() == Some(true) {
            e.1.push(id.to_string())
        } else {
            e.0.push(id.to_string())
        }
    }
    for (owner, (ingress, egress)) in by_group {
        if !ingress.is_empty() {
            not_found_as_none(
                ec2.revoke_security_group_ingress()
                    .group_id(&owner)
                    .set_security_group_rule_ids(Some(ingress))
                    .send()
                    .await
                    .or_aws("RevokeSecurityGroupIngress"),
            )?;
        }
        if !egress.is_empty() {
            not_found_as_none(
                ec2.revoke_security_group_egress()
                    .group_id(&owner)
                    .set_security_group_rule_ids(Some(egress))
                    .send()
                    .await
                    .or_aws("RevokeSecurityGroupEgress"),
            )?;
        }
    }
    Ok(())
}
