//! The IAM actions each AWS resource kind needs, as data: what `kprov iam-policy` turns into a
//! least-privilege policy for the runner (see [`crate::aws::iam_policy`]).
//!
//! One table keyed by kind name rather than a method on [`ResourceKind`](crate::resource::ResourceKind):
//! the resource contract is deliberately cloud-agnostic (the simulated cloud implements it too,
//! and `graph` / `plan` / `engine` know nothing of AWS), and an IAM action is an AWS notion. The
//! table cannot drift from the code silently: the tests below read every kind's source and
//! check, kind by kind, that each SDK operation it can reach (`.or_aws("Operation")`, the
//! convention every SDK call in `src/aws/` follows) is declared, and that nothing is declared
//! that the kind does not call — except the [`Extra`] actions, which are not SDK calls of
//! kprov's but are checked by AWS on its behalf (`iam:PassRole`, service-linked roles, the EC2
//! reads ELB makes with the caller's permissions), each with its reason.
//!
//! Actions are split by phase (read = refresh and `find_owned`; create; update; delete) so the
//! documentation and a future read-only policy can use them; `kprov apply` may need all four
//! (an apply replaces and deletes too), so the runner policy takes their union.

/// The IAM actions of one resource kind, by phase, as `service:Operation`.
#[derive(Debug)]
pub struct KindActions {
    pub kind: &'static str,
    pub read: &'static [&'static str],
    pub create: &'static [&'static str],
    pub update: &'static [&'static str],
    pub delete: &'static [&'static str],
    /// Actions AWS checks besides the kind's own SDK calls.
    pub extras: &'static [Extra],
}

/// An action AWS authorizes on the caller's behalf during a write, not an SDK call of kprov's.
#[derive(Debug, Clone, Copy)]
pub struct Extra {
    pub action: &'static str,
    /// Needed only when the resource declares this attribute (e.g. a KMS key for ECR).
    pub when_attr: Option<&'static str>,
    /// What this action is for: `PassRole` and `ServiceLinkedRole` get their own statements,
    /// scoped to role ARNs.
    pub scope: ExtraScope,
    pub why: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraScope {
    /// An ordinary action on `*`.
    Any,
    /// `iam:PassRole` of the role in this attribute (an ARN).
    PassRole(&'static str),
    /// `iam:CreateServiceLinkedRole` for this AWS service (e.g. `eks.amazonaws.com`).
    ServiceLinkedRole(&'static str),
}

impl KindActions {
    /// Every action of the four phases, sorted, unique (extras not included).
    pub fn all(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> =
            self.read.iter().chain(self.create).chain(self.update).chain(self.delete).copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The actions of `kind`, if it is an AWS kind.
pub fn for_kind(kind: &str) -> Option<&'static KindActions> {
    TABLE.iter().find(|k| k.kind == kind)
}

const fn extra(action: &'static str, why: &'static str) -> Extra {
    Extra { action, when_attr: None, scope: ExtraScope::Any, why }
}
/// Why the plan-time reads of `aws::catalog` are extras: they are kprov's calls, but made for
/// the plan's checks of what exists (zones, instance types, versions), not by the kind's code.
const PLAN_READ: &str = "`plan` checks that the values the plans name exist in the region (aws::catalog)";

const fn extra_if(action: &'static str, attr: &'static str, why: &'static str) -> Extra {
    Extra { action, when_attr: Some(attr), scope: ExtraScope::Any, why }
}
const fn pass_role(attr: &'static str, optional: bool) -> Extra {
    Extra {
        action: "iam:PassRole",
        when_attr: if optional { Some(attr) } else { None },
        scope: ExtraScope::PassRole(attr),
        why: "the resource hands an IAM role to an AWS service",
    }
}
const fn service_linked_role(service: &'static str) -> Extra {
    Extra {
        action: "iam:CreateServiceLinkedRole",
        when_attr: None,
        scope: ExtraScope::ServiceLinkedRole(service),
        why: "the first resource of this service in an account creates the service's service-linked role",
    }
}

/// EC2 reads ELB makes with the caller's permissions (ELB's "API permissions" page).
const ELB_LB_EC2: [Extra; 6] = [
    extra("ec2:DescribeAccountAttributes", "CreateLoadBalancer checks it with the caller's permissions"),
    extra("ec2:DescribeAddresses", "CreateLoadBalancer checks it with the caller's permissions"),
    extra("ec2:DescribeInternetGateways", "CreateLoadBalancer checks it with the caller's permissions"),
    extra("ec2:DescribeSecurityGroups", "CreateLoadBalancer checks it with the caller's permissions"),
    extra("ec2:DescribeSubnets", "CreateLoadBalancer / SetSubnets check it with the caller's permissions"),
    extra("ec2:DescribeVpcs", "CreateLoadBalancer checks it with the caller's permissions"),
];

/// Every AWS kind. Tag-on-create needs the service's tagging action (AWS authorizes the tags
/// of a `Create*` call separately), which is why it appears under `create`.
pub static TABLE: &[KindActions] = &[
    // ── EC2 ──────────────────────────────────────────────────────────────────────────────
    KindActions {
        kind: "ec2_vpc",
        read: &[
            "ec2:DescribeVpcs",
            "ec2:DescribeVpcAttribute",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroups",
        ],
        create: &["ec2:CreateVpc", "ec2:CreateTags", "ec2:ModifyVpcAttribute"],
        update: &["ec2:ModifyVpcAttribute", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DeleteVpc"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_subnet",
        read: &["ec2:DescribeSubnets"],
        create: &["ec2:CreateSubnet", "ec2:CreateTags", "ec2:ModifySubnetAttribute"],
        update: &["ec2:ModifySubnetAttribute", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DeleteSubnet"],
        extras: &[extra("ec2:DescribeAvailabilityZones", PLAN_READ)],
    },
    KindActions {
        kind: "ec2_internet_gateway",
        read: &["ec2:DescribeInternetGateways"],
        create: &["ec2:CreateInternetGateway", "ec2:CreateTags", "ec2:AttachInternetGateway"],
        update: &["ec2:AttachInternetGateway", "ec2:DetachInternetGateway", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DetachInternetGateway", "ec2:DeleteInternetGateway"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_elastic_ip",
        read: &["ec2:DescribeAddresses"],
        create: &["ec2:AllocateAddress", "ec2:CreateTags"],
        update: &["ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:ReleaseAddress"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_nat_gateway",
        read: &["ec2:DescribeNatGateways"],
        create: &["ec2:CreateNatGateway", "ec2:CreateTags"],
        update: &["ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DeleteNatGateway"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_route_table",
        read: &["ec2:DescribeRouteTables"],
        create: &["ec2:CreateRouteTable", "ec2:CreateTags"],
        update: &["ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DeleteRouteTable"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_route",
        read: &["ec2:DescribeRouteTables"],
        create: &["ec2:CreateRoute"],
        update: &["ec2:ReplaceRoute"],
        delete: &["ec2:DeleteRoute"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_route_table_association",
        read: &["ec2:DescribeRouteTables"],
        create: &["ec2:AssociateRouteTable"],
        update: &["ec2:ReplaceRouteTableAssociation"],
        delete: &["ec2:DisassociateRouteTable"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_security_group",
        read: &["ec2:DescribeSecurityGroups"],
        // A new group's default allow-all egress rule is revoked right away (found by its rule
        // id when an adopted group is finished).
        create: &[
            "ec2:CreateSecurityGroup",
            "ec2:CreateTags",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:DescribeSecurityGroupRules",
        ],
        update: &["ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DeleteSecurityGroup"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_security_group_rule",
        read: &["ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"],
        create: &["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:CreateTags"],
        update: &["ec2:ModifySecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"],
        extras: &[],
    },
    KindActions {
        kind: "ec2_flow_log",
        read: &["ec2:DescribeFlowLogs"],
        create: &["ec2:CreateFlowLogs", "ec2:CreateTags"],
        update: &["ec2:CreateTags", "ec2:DeleteTags"],
        delete: &["ec2:DeleteFlowLogs"],
        extras: &[pass_role("iam_role_arn", true)],
    },
    // ── EKS ──────────────────────────────────────────────────────────────────────────────
    KindActions {
        kind: "eks_cluster",
        read: &["eks:DescribeCluster", "eks:ListClusters"],
        create: &["eks:CreateCluster", "eks:TagResource"],
        update: &[
            "eks:UpdateClusterConfig",
            "eks:UpdateClusterVersion",
            "eks:DescribeUpdate",
            "eks:TagResource",
            "eks:UntagResource",
        ],
        delete: &["eks:DeleteCluster"],
        extras: &[
            pass_role("role_arn", false),
            service_linked_role("eks.amazonaws.com"),
            extra_if(
                "kms:DescribeKey",
                "encryption_kms_key_arn",
                "EKS checks the secrets-encryption key as the caller",
            ),
            extra_if("kms:CreateGrant", "encryption_kms_key_arn", "EKS creates a grant on the key as the caller"),
            extra("eks:DescribeClusterVersions", PLAN_READ),
        ],
    },
    KindActions {
        kind: "eks_nodegroup",
        read: &["eks:DescribeNodegroup", "eks:ListNodegroups", "eks:ListClusters"],
        create: &["eks:CreateNodegroup", "eks:TagResource"],
        update: &[
            "eks:UpdateNodegroupConfig",
            "eks:UpdateNodegroupVersion",
            "eks:DescribeUpdate",
            "eks:TagResource",
            "eks:UntagResource",
        ],
        delete: &["eks:DeleteNodegroup"],
        extras: &[
            pass_role("node_role_arn", false),
            service_linked_role("eks-nodegroup.amazonaws.com"),
            extra("ec2:DescribeInstanceTypeOfferings", PLAN_READ),
            extra_if("eks:DescribeClusterVersions", "version", PLAN_READ),
        ],
    },
    KindActions {
        kind: "eks_addon",
        read: &[
            "eks:DescribeAddon",
            "eks:ListAddons",
            "eks:ListClusters",
            "eks:DescribeAddonVersions",
            "eks:DescribeCluster",
            "eks:DescribePodIdentityAssociation",
        ],
        create: &["eks:CreateAddon", "eks:TagResource"],
        update: &["eks:UpdateAddon", "eks:DescribeUpdate", "eks:TagResource", "eks:UntagResource"],
        delete: &["eks:DeleteAddon"],
        extras: &[pass_role("service_account_role_arn", true)],
    },
    KindActions {
        kind: "eks_pod_identity_association",
        read: &["eks:DescribePodIdentityAssociation", "eks:ListPodIdentityAssociations", "eks:ListClusters"],
        create: &["eks:CreatePodIdentityAssociation", "eks:TagResource"],
        update: &["eks:UpdatePodIdentityAssociation", "eks:TagResource", "eks:UntagResource"],
        delete: &["eks:DeletePodIdentityAssociation"],
        extras: &[pass_role("role_arn", false)],
    },
    KindActions {
        kind: "eks_access_entry",
        read: &["eks:DescribeAccessEntry", "eks:ListAccessEntries", "eks:ListClusters"],
        create: &["eks:CreateAccessEntry", "eks:TagResource"],
        update: &["eks:UpdateAccessEntry", "eks:TagResource", "eks:UntagResource"],
        delete: &["eks:DeleteAccessEntry"],
        extras: &[],
    },
    KindActions {
        kind: "eks_access_policy_association",
        read: &["eks:ListAssociatedAccessPolicies"],
        create: &["eks:AssociateAccessPolicy"],
        update: &["eks:AssociateAccessPolicy"],
        delete: &["eks:DisassociateAccessPolicy"],
        extras: &[],
    },
    // ── IAM ──────────────────────────────────────────────────────────────────────────────
    KindActions {
        kind: "iam_role",
        read: &[
            "iam:GetRole",
            "iam:ListRoles",
            "iam:ListRoleTags",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
        ],
        create: &["iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"],
        update: &[
            "iam:UpdateRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
        ],
        // A role must be emptied first: inline policies, attachments, instance profiles.
        delete: &[
            "iam:DeleteRole",
            "iam:DeleteRolePolicy",
            "iam:DetachRolePolicy",
            "iam:ListInstanceProfilesForRole",
            "iam:RemoveRoleFromInstanceProfile",
        ],
        extras: &[],
    },
    KindActions {
        kind: "iam_instance_profile",
        read: &["iam:GetInstanceProfile", "iam:ListInstanceProfiles"],
        create: &["iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile"],
        update: &[
            "iam:AddRoleToInstanceProfile",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:TagInstanceProfile",
            "iam:UntagInstanceProfile",
        ],
        delete: &["iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
        extras: &[Extra {
            action: "iam:PassRole",
            when_attr: Some("role"),
            scope: ExtraScope::PassRole("role"),
            why: "AddRoleToInstanceProfile requires PassRole on the role",
        }],
    },
    KindActions {
        kind: "iam_oidc_provider",
        read: &["iam:GetOpenIDConnectProvider", "iam:ListOpenIDConnectProviders"],
        create: &["iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider"],
        update: &[
            "iam:AddClientIDToOpenIDConnectProvider",
            "iam:RemoveClientIDFromOpenIDConnectProvider",
            "iam:UpdateOpenIDConnectProviderThumbprint",
            "iam:TagOpenIDConnectProvider",
            "iam:UntagOpenIDConnectProvider",
        ],
        delete: &["iam:DeleteOpenIDConnectProvider"],
        extras: &[],
    },
    // ── KMS, CloudWatch Logs, ECR ────────────────────────────────────────────────────────
    KindActions {
        kind: "kms_key",
        read: &[
            "kms:DescribeKey",
            "kms:ListKeys",
            "kms:ListResourceTags",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
        ],
        create: &["kms:CreateKey", "kms:TagResource", "kms:EnableKeyRotation"],
        update: &[
            "kms:UpdateKeyDescription",
            "kms:PutKeyPolicy",
            "kms:EnableKeyRotation",
            "kms:DisableKeyRotation",
            "kms:TagResource",
            "kms:UntagResource",
        ],
        delete: &["kms:ScheduleKeyDeletion"],
        extras: &[],
    },
    KindActions {
        kind: "kms_alias",
        read: &["kms:ListAliases"],
        create: &["kms:CreateAlias"],
        update: &["kms:UpdateAlias"],
        delete: &["kms:DeleteAlias"],
        extras: &[],
    },
    KindActions {
        kind: "logs_log_group",
        read: &["logs:DescribeLogGroups", "logs:ListTagsForResource"],
        create: &["logs:CreateLogGroup", "logs:TagResource", "logs:PutRetentionPolicy", "logs:AssociateKmsKey"],
        update: &[
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            "logs:AssociateKmsKey",
            "logs:DisassociateKmsKey",
            "logs:TagResource",
            "logs:UntagResource",
        ],
        delete: &["logs:DeleteLogGroup"],
        extras: &[],
    },
    KindActions {
        kind: "ecr_repository",
        read: &["ecr:DescribeRepositories", "ecr:ListTagsForResource"],
        create: &["ecr:CreateRepository", "ecr:TagResource"],
        update: &[
            "ecr:PutImageScanningConfiguration",
            "ecr:PutImageTagMutability",
            "ecr:TagResource",
            "ecr:UntagResource",
        ],
        delete: &["ecr:DeleteRepository"],
        extras: &[
            extra_if("kms:DescribeKey", "kms_key", "ECR checks a customer-managed key as the caller"),
            extra_if("kms:CreateGrant", "kms_key", "ECR creates a grant on the key as the caller"),
            extra_if("kms:RetireGrant", "kms_key", "ECR retires its grant when the repository is deleted"),
        ],
    },
    // ── ELBv2 ────────────────────────────────────────────────────────────────────────────
    KindActions {
        kind: "elbv2_load_balancer",
        read: &[
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:DescribeTags",
        ],
        create: &[
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
        ],
        update: &[
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:SetIpAddressType",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:RemoveTags",
        ],
        delete: &["elasticloadbalancing:DeleteLoadBalancer"],
        extras: &[
            service_linked_role("elasticloadbalancing.amazonaws.com"),
            ELB_LB_EC2[0],
            ELB_LB_EC2[1],
            ELB_LB_EC2[2],
            ELB_LB_EC2[3],
            ELB_LB_EC2[4],
            ELB_LB_EC2[5],
        ],
    },
    KindActions {
        kind: "elbv2_target_group",
        read: &[
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTargetGroupAttributes",
            "elasticloadbalancing:DescribeTags",
        ],
        create: &[
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
        ],
        update: &[
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:RemoveTags",
        ],
        delete: &["elasticloadbalancing:DeleteTargetGroup"],
        extras: &[
            extra("ec2:DescribeInternetGateways", "CreateTargetGroup checks it with the caller's permissions"),
            extra("ec2:DescribeVpcs", "CreateTargetGroup checks it with the caller's permissions"),
        ],
    },
    KindActions {
        kind: "elbv2_listener",
        read: &[
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTags",
        ],
        create: &["elasticloadbalancing:CreateListener", "elasticloadbalancing:AddTags"],
        update: &[
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:RemoveTags",
        ],
        delete: &["elasticloadbalancing:DeleteListener"],
        extras: &[],
    },
    KindActions {
        kind: "elbv2_listener_rule",
        read: &[
            "elasticloadbalancing:DescribeRules",
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTags",
        ],
        create: &["elasticloadbalancing:CreateRule", "elasticloadbalancing:AddTags"],
        update: &[
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:RemoveTags",
        ],
        delete: &["elasticloadbalancing:DeleteRule"],
        extras: &[],
    },
    // ── Route53, ACM ─────────────────────────────────────────────────────────────────────
    KindActions {
        kind: "route53_zone",
        read: &[
            "route53:GetHostedZone",
            "route53:ListHostedZones",
            "route53:ListHostedZonesByName",
            "route53:ListTagsForResources",
        ],
        create: &["route53:CreateHostedZone", "route53:ChangeTagsForResource"],
        update: &["route53:UpdateHostedZoneComment", "route53:ChangeTagsForResource"],
        // Emptying a zone kprov owns (deletion protection off) before deleting it.
        delete: &[
            "route53:DeleteHostedZone",
            "route53:ListResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            "route53:GetChange",
        ],
        extras: &[],
    },
    KindActions {
        kind: "route53_record",
        read: &["route53:ListResourceRecordSets"],
        create: &["route53:ChangeResourceRecordSets", "route53:GetChange"],
        update: &["route53:ChangeResourceRecordSets", "route53:GetChange"],
        delete: &["route53:ChangeResourceRecordSets", "route53:GetChange"],
        extras: &[],
    },
    KindActions {
        kind: "acm_certificate",
        read: &["acm:DescribeCertificate", "acm:ListCertificates", "acm:ListTagsForCertificate"],
        // The DNS validation records go into the zone through Route53.
        create: &[
            "acm:RequestCertificate",
            "acm:AddTagsToCertificate",
            "route53:ChangeResourceRecordSets",
            "route53:GetChange",
            "route53:ListResourceRecordSets",
        ],
        update: &["acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"],
        delete: &[
            "acm:DeleteCertificate",
            "route53:ListResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            "route53:GetChange",
        ],
        extras: &[],
    },
    KindActions {
        kind: "acm_imported_certificate",
        read: &["acm:DescribeCertificate", "acm:GetCertificate", "acm:ListCertificates", "acm:ListTagsForCertificate"],
        create: &["acm:ImportCertificate", "acm:AddTagsToCertificate"],
        // A new body or key is re-imported under the same ARN.
        update: &["acm:ImportCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"],
        delete: &["acm:DeleteCertificate"],
        extras: &[],
    },
];

#[cfg(test)]
mod tests {
    //! The guard: the table against the code. Sources are read from `src/aws/` at test time,
    //! so a new kind file or a new SDK call is covered without touching the test.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use super::*;

    /// The IAM service prefix of the SDK client each folder of `src/aws/` uses.
    fn service_of(dir: &str) -> Option<&'static str> {
        Some(match dir {
            "ec2" => "ec2",
            "eks" => "eks",
            "iam" => "iam",
            "kms" => "kms",
            "logs" => "logs",
            "ecr" => "ecr",
            "elbv2" => "elasticloadbalancing",
            "route53" => "route53",
            "acm" => "acm",
            _ => return None,
        })
    }

    /// Folders a kind's code may call into besides its own (ACM writes its validation records
    /// through Route53's shared DNS client).
    fn also_uses(dir: &str) -> &'static [&'static str] {
        match dir {
            "acm" => &["route53"],
            _ => &[],
        }
    }

    struct Source {
        dir: String,
        service: &'static str,
        path: PathBuf,
        text: String,
    }

    fn sources() -> Vec<Source> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/aws");
        let mut out = Vec::new();
        for d in std::fs::read_dir(&root).expect("src/aws") {
            let d = d.expect("entry");
            let dir = d.file_name().to_string_lossy().to_string();
            let Some(service) = service_of(&dir) else { continue };
            let mut files: Vec<_> =
                std::fs::read_dir(d.path()).expect("dir").map(|e| e.expect("entry").path()).collect();
            files.sort();
            for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
                let text = std::fs::read_to_string(&path).expect("read source");
                // Test modules make no calls the runner needs.
                let text = match text.find("#[cfg(test)]") {
                    Some(i) => &text[..i],
                    None => &text,
                };
                // Comments name types and operations without calling them.
                let text: String =
                    text.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
                out.push(Source { dir: dir.clone(), service, path, text });
            }
        }
        out
    }

    /// The operation labels of `.or_aws("Operation")` in `text`.
    fn labels(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find("or_aws(\"") {
            rest = &rest[i + 8..];
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_string());
            }
        }
        out
    }

    fn is_ident(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }

    /// Whether `text` calls `name(` or names `name::` (as a whole identifier).
    fn mentions(text: &str, name: &str) -> bool {
        [format!("{name}("), format!("{name}::")].iter().any(|pat| {
            text.match_indices(pat.as_str()).any(|(i, _)| !text[..i].chars().next_back().is_some_and(is_ident))
        })
    }

    /// One function of a library file: the names under which other code reaches it and the
    /// operations it calls itself.
    struct Span {
        names: Vec<Reach>,
        text: String,
    }

    /// How other code reaches a function.
    enum Reach {
        /// `name(` or `name::` — a free function.
        Call(String),
        /// The type's name as a whole word anywhere (`Tagger(..)`, `dns: Dns`).
        Type(String),
    }

    impl Reach {
        fn found_in(&self, text: &str) -> bool {
            match self {
                Reach::Call(name) => mentions(text, name),
                // Built (`T(..)`, `T::new`) or held (`dns: Dns`, `&T`); a variant that merely
                // shares the name (`ResourceType::Vpc`) is neither.
                Reach::Type(ty) => {
                    mentions(text, ty)
                        || [format!(": {ty}"), format!("&{ty}")].iter().any(|p| {
                            text.match_indices(p.as_str())
                                .any(|(i, m)| !text[i + m.len()..].chars().next().is_some_and(is_ident))
                        })
                }
            }
        }
    }

    /// Split a file into its functions. A `pub` function is reached by its name; any method
    /// of an `impl` block also by its type's name (a trait impl such as ELB's `Tagger` is
    /// reached through the type, not the method).
    fn spans(text: &str) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let mut impl_type: Option<String> = None;
        for line in text.lines() {
            if line.starts_with("impl") {
                // `impl<'a> Trait for Type<'a> {` or `impl Type {`: the last path segment.
                let head = line.trim_end_matches('{').trim();
                let ty = head.rsplit(" for ").next().unwrap_or(head);
                let ty = ty.trim_start_matches("impl").trim();
                let ty = ty.rsplit("> ").next().unwrap_or(ty);
                let ty: String = ty.chars().take_while(|c| is_ident(*c)).collect();
                impl_type = Some(ty);
            } else if line == "}" {
                impl_type = None;
            }
            let t = line.trim_start();
            // `pub`, `pub(crate)`, `pub(super)`, …
            let (public, t2) = match t.strip_prefix("pub") {
                Some(r) if r.starts_with(' ') => (true, r.trim_start()),
                Some(r) if r.starts_with('(') => (true, r.split_once(") ").map_or(r, |(_, rest)| rest)),
                _ => (false, t),
            };
            let t2 = t2.strip_prefix("async ").unwrap_or(t2);
            if let Some(sig) = t2.strip_prefix("fn ") {
                let name: String = sig.chars().take_while(|c| is_ident(*c)).collect();
                // A free function by its name; a method (even a `pub` one: `new` is everywhere)
                // only through its type.
                let names = match &impl_type {
                    Some(ty) => vec![Reach::Type(ty.clone())],
                    None if public => vec![Reach::Call(name)],
                    None => Vec::new(),
                };
                out.push(Span { names, text: String::new() });
            }
            if let Some(s) = out.last_mut() {
                s.text.push_str(line);
                s.text.push('\n');
            }
        }
        out
    }

    /// Every `service:Operation` the kind's code can reach: its own file's calls plus those of
    /// the functions it reaches in the other files of its folder (transitively).
    fn reachable(kind_file: &Source, all: &[Source]) -> BTreeSet<String> {
        let mut ops: BTreeSet<String> =
            labels(&kind_file.text).into_iter().map(|l| format!("{}:{l}", kind_file.service)).collect();
        let dirs: Vec<&str> =
            std::iter::once(kind_file.dir.as_str()).chain(also_uses(&kind_file.dir).iter().copied()).collect();
        // (file index, its module name unless it is a folder's mod.rs, service, span)
        let library: Vec<(usize, Option<String>, &'static str, Span)> = all
            .iter()
            .enumerate()
            .filter(|(_, s)| dirs.contains(&s.dir.as_str()) && s.path != kind_file.path)
            .flat_map(|(i, s)| {
                let stem = s.path.file_stem().map(|f| f.to_string_lossy().to_string());
                let module = stem.filter(|m| m != "mod");
                spans(&s.text).into_iter().map(move |sp| (i, module.clone(), s.service, sp))
            })
            .collect();
        let mut reached = vec![false; library.len()];
        // (text, the library file it comes from)
        let mut frontier: Vec<(String, Option<usize>)> = vec![(kind_file.text.clone(), None)];
        while let Some((text, from)) = frontier.pop() {
            for (i, (file, module, service, sp)) in library.iter().enumerate() {
                // Another file's items are reached only through its module path
                // (`super::route_table::…`, `common::…`); a kind struct and an SDK type may
                // share a name (`Route`).
                let visible = from == Some(*file) || module.as_ref().is_none_or(|m| mentions(&text, m));
                if !reached[i] && visible && sp.names.iter().any(|n| n.found_in(&text)) {
                    reached[i] = true;
                    ops.extend(labels(&sp.text).into_iter().map(|l| format!("{service}:{l}")));
                    frontier.push((sp.text.clone(), Some(*file)));
                }
            }
        }
        ops
    }

    /// The file whose `fn kind` returns `kind`.
    fn kind_files(all: &[Source]) -> BTreeMap<String, &Source> {
        let mut out = BTreeMap::new();
        for s in all {
            if let Some(i) = s.text.find("fn kind(&self) -> &'static str {") {
                let rest = &s.text[i..];
                let start = rest.find('"').expect("kind name") + 1;
                let end = start + rest[start..].find('"').expect("kind name end");
                out.insert(rest[start..end].to_string(), s);
            }
        }
        out
    }

    #[test]
    fn every_registered_aws_kind_has_an_entry_and_every_entry_is_a_kind() {
        let reg = crate::aws::offline_registry();
        let registered: BTreeSet<&str> = reg.names().collect();
        let tabled: BTreeSet<&str> = TABLE.iter().map(|k| k.kind).collect();
        assert_eq!(registered, tabled, "the IAM action table and the registry disagree");
        assert_eq!(tabled.len(), TABLE.len(), "a kind is listed twice");
    }

    #[test]
    fn every_sdk_call_of_a_kind_is_declared_and_nothing_else_is() {
        let all = sources();
        let files = kind_files(&all);
        assert_eq!(files.len(), TABLE.len(), "kind files found: {:?}", files.keys());
        let mut problems = Vec::new();
        for entry in TABLE {
            let Some(file) = files.get(entry.kind) else {
                problems.push(format!("{}: no source file found", entry.kind));
                continue;
            };
            let used = reachable(file, &all);
            let declared: BTreeSet<String> = entry.all().into_iter().map(str::to_string).collect();
            let missing: Vec<_> = used.difference(&declared).collect();
            let unused: Vec<_> = declared.difference(&used).collect();
            if !missing.is_empty() {
                problems.push(format!("{}: calls but does not declare {missing:?}", entry.kind));
            }
            if !unused.is_empty() {
                problems
                    .push(format!("{}: declares but never calls {unused:?} (use an Extra with a reason)", entry.kind));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_sdk_call_in_the_providers_is_labelled_and_attributed() {
        let all = sources();
        let declared: BTreeSet<String> = TABLE.iter().flat_map(|k| k.all()).map(str::to_string).collect();
        for s in &all {
            // The label is what the guard reads: one `.or_aws(..)` per `.send()`.
            let sends = s.text.matches(".send()").count();
            let labelled = s.text.matches("or_aws(").count();
            assert_eq!(sends, labelled, "{}: {sends} SDK calls but {labelled} or_aws labels", s.path.display());
            for l in labels(&s.text) {
                let action = format!("{}:{l}", s.service);
                assert!(declared.contains(&action), "{}: {action} is called but no kind declares it", s.path.display());
            }
        }
    }

    #[test]
    fn actions_are_well_formed() {
        for k in TABLE {
            for a in k.all().into_iter().chain(k.extras.iter().map(|e| e.action)) {
                let (svc, op) =
                    a.split_once(':').unwrap_or_else(|| panic!("{}: `{a}` is not service:Operation", k.kind));
                assert!(
                    !svc.is_empty() && svc.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                    "{}: {a}",
                    k.kind
                );
                assert!(
                    op.starts_with(|c: char| c.is_ascii_uppercase()) && op.chars().all(is_ident),
                    "{}: {a}",
                    k.kind
                );
            }
            for e in k.extras {
                if let Some(attr) = e.when_attr {
                    let reg = crate::aws::offline_registry();
                    let schema = reg.schema(k.kind).expect("kind");
                    assert!(
                        schema.attrs.iter().any(|a| a.name == attr),
                        "{}: extra on unknown attribute {attr}",
                        k.kind
                    );
                }
                if let ExtraScope::PassRole(attr) = e.scope {
                    assert_eq!(e.action, "iam:PassRole");
                    let reg = crate::aws::offline_registry();
                    let schema = reg.schema(k.kind).expect("kind");
                    assert!(
                        schema.attrs.iter().any(|a| a.name == attr),
                        "{}: PassRole of unknown attribute {attr}",
                        k.kind
                    );
                }
            }
        }
    }
}
