//! AWS's eventual consistency, in one table: which refusals mean "not yet" rather than "no".
//!
//! AWS is eventually consistent across and within services: a role seconds old is "not found"
//! by EKS, a subnet just created is "not found" by ModifySubnetAttribute, a security group still
//! has a network interface of a load balancer deleted a minute ago. Such a refusal is a 4xx
//! answer with an error code (and sometimes only a message) that also has a permanent meaning,
//! so it is retried only for the calls where it is known to be transient, and only for a
//! window: after the window the refusal is the answer.
//!
//! Each [`Rule`] names the service (SigV4 signing name), the call, the error code, optionally a
//! message fragment, the window (never shorter than terraform-provider-aws's for the same
//! call) and what the wait is for, shown in the progress output ("waiting for IAM
//! propagation (InvalidParameterException)"). The connector (`aws::limits`) applies the table
//! to every request: a refused request did nothing, so sending it again is always safe. The
//! waits hold no `--parallelism` slot and are counted per service in the run summary. Kinds
//! write no retry loops of their own.
//!
//! Sources are named per rule: the AWS API reference or user guide, or the retry the
//! terraform-provider-aws resource makes for the same call (`internal/service/<svc>/…`).
//!
//! Quotas: some `*LimitExceeded*` codes are the SDKs' throttling codes for one service and a
//! quota for another (KMS `LimitExceededException`: "a quota was exceeded", KMS API reference,
//! Common Errors; IAM `LimitExceeded`). Those fail fast ([`is_quota`]) instead of being retried
//! as throttling.

use std::time::Duration;

/// One transient refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// SigV4 signing name: `ec2`, `eks`, `iam`, `kms`, `elasticloadbalancing`, `acm`, `logs`, `route53`.
    pub service: &'static str,
    /// The call: an action name (`ModifySubnetAttribute`) or, for REST APIs, `METHOD /path` with
    /// `*` for one path segment (`POST /clusters/*/node-groups`).
    pub call: &'static str,
    pub code: &'static str,
    /// A fragment the error message must contain (case-insensitive); `None`: any message.
    pub message: Option<&'static str>,
    /// How long after the first refusal the call is sent again.
    pub window: Duration,
    /// What is awaited, for the progress output.
    pub reason: &'static str,
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const IAM: &str = "IAM propagation";
const VISIBLE: &str = "the new resource to become visible";
const RELEASED: &str = "dependent resources to be released";

macro_rules! rule {
    ($service:literal, $call:literal, $code:literal, $message:expr, $window:expr, $reason:expr) => {
        Rule { service: $service, call: $call, code: $code, message: $message, window: $window, reason: $reason }
    };
}

/// The table. Windows: terraform-provider-aws's `propagationTimeout` is 2 min
/// (internal/tfresource, "iamPropagationTimeout"), its EC2 `ec2PropagationTimeout` 5 min, its
/// deletes' DependencyViolation retries 20 min (internal/service/ec2/vpc_subnet.go,
/// vpc_security_group.go, vpc_internet_gateway.go), EKS cluster delete `ResourceInUseException`
/// as long as the delete timeout (internal/service/eks/cluster.go).
pub static RULES: &[Rule] = &[
    // EKS. internal/service/eks/cluster.go resourceClusterCreate retries these
    // InvalidParameterException messages for propagationTimeout (a role seconds old).
    rule!("eks", "POST /clusters", "InvalidParameterException", Some("does not exist"), secs(120), IAM),
    rule!("eks", "POST /clusters", "InvalidParameterException", Some("Error in role params"), secs(120), IAM),
    rule!("eks", "POST /clusters", "InvalidParameterException", Some("trusted entity is not correct"), secs(120), IAM),
    rule!("eks", "POST /clusters", "InvalidParameterException", Some("Amazon EKS Managed Policies"), secs(120), IAM),
    rule!("eks", "POST /clusters", "InvalidParameterException", Some("IAM role's policy must include"), secs(120), IAM),
    // internal/service/eks/node_group.go: CreateNodegroup with a fresh node role.
    rule!("eks", "POST /clusters/*/node-groups", "InvalidParameterException", Some("does not exist"), secs(120), IAM),
    rule!(
        "eks",
        "POST /clusters/*/node-groups",
        "InvalidParameterException",
        Some("trusted entity is not correct"),
        secs(120),
        IAM
    ),
    // CreateAccessEntry for a principal seconds old (internal/service/eks/access_entry.go).
    rule!("eks", "POST /clusters/*/access-entries", "InvalidParameterException", Some("principal"), secs(120), IAM),
    // CreateAddon with a service account role seconds old (internal/service/eks/addon.go).
    rule!("eks", "POST /clusters/*/addons", "InvalidParameterException", Some("does not exist"), secs(120), IAM),
    // CreatePodIdentityAssociation with a role seconds old.
    rule!(
        "eks",
        "POST /clusters/*/pod-identity-associations",
        "InvalidParameterException",
        Some("does not exist"),
        secs(120),
        IAM
    ),
    // DeleteCluster while node groups or add-ons are still being deleted
    // (internal/service/eks/cluster.go resourceClusterDelete).
    rule!("eks", "DELETE /clusters/*", "ResourceInUseException", None, secs(3600), RELEASED),
    // IAM: a trust policy naming a principal seconds old (internal/service/iam/role.go
    // resourceRoleCreate and UpdateAssumeRolePolicy, retried for propagationTimeout).
    rule!("iam", "CreateRole", "MalformedPolicyDocument", Some("Invalid principal"), secs(120), IAM),
    rule!("iam", "UpdateAssumeRolePolicy", "MalformedPolicyDocument", Some("Invalid principal"), secs(120), IAM),
    // DeleteRole while an instance profile or policy detach has not propagated.
    rule!("iam", "DeleteRole", "DeleteConflict", None, secs(120), RELEASED),
    // KMS (internal/service/kms/key.go: CreateKey and PutKeyPolicy retried on
    // MalformedPolicyDocumentException for iamPropagationTimeout; EnableKeyRotation retried on
    // NotFoundException for keyRotationUpdatedTimeout, 10 min; internal/service/kms/alias.go:
    // CreateAlias retried on NotFoundException for keyRotationUpdatedTimeout).
    rule!("kms", "CreateKey", "MalformedPolicyDocumentException", None, secs(120), IAM),
    rule!("kms", "PutKeyPolicy", "MalformedPolicyDocumentException", None, secs(120), IAM),
    rule!("kms", "EnableKeyRotation", "NotFoundException", None, secs(600), VISIBLE),
    rule!("kms", "DisableKeyRotation", "NotFoundException", None, secs(600), VISIBLE),
    rule!("kms", "CreateAlias", "NotFoundException", None, secs(600), VISIBLE),
    rule!("kms", "TagResource", "NotFoundException", None, secs(600), VISIBLE),
    // EC2, right after a create (EC2 API reference, "Eventual consistency in the Amazon EC2
    // API": "an attempt to modify or describe a resource immediately after it is created may
    // return InvalidXxxID.NotFound"; terraform-provider-aws ec2PropagationTimeout, 5 min).
    rule!("ec2", "ModifySubnetAttribute", "InvalidSubnetID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "ModifyVpcAttribute", "InvalidVpcID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "AttachInternetGateway", "InvalidInternetGatewayID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "AttachInternetGateway", "InvalidVpcID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "AssociateRouteTable", "InvalidRouteTableID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "AssociateRouteTable", "InvalidSubnetID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateRoute", "InvalidRouteTableID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateRoute", "InvalidNatGatewayID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateRoute", "InvalidGatewayID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateRoute", "InvalidParameterException", None, secs(300), VISIBLE),
    rule!("ec2", "CreateNatGateway", "InvalidSubnetID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateNatGateway", "InvalidAllocationID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateSecurityGroup", "InvalidVpcID.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "AuthorizeSecurityGroupIngress", "InvalidGroup.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "AuthorizeSecurityGroupEgress", "InvalidGroup.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "RevokeSecurityGroupEgress", "InvalidGroup.NotFound", None, secs(300), VISIBLE),
    rule!("ec2", "CreateFlowLogs", "InvalidVpcID.NotFound", None, secs(300), VISIBLE),
    // EC2 deletes: a network interface of a deleted load balancer, NAT gateway or EKS cluster
    // is released minutes later (internal/service/ec2/vpc_subnet.go, vpc_security_group.go,
    // vpc_internet_gateway.go: DependencyViolation retried for 20 min; InvalidGroup.InUse too).
    rule!("ec2", "DeleteSubnet", "DependencyViolation", None, secs(1200), RELEASED),
    rule!("ec2", "DeleteSecurityGroup", "DependencyViolation", None, secs(1200), RELEASED),
    rule!("ec2", "DeleteSecurityGroup", "InvalidGroup.InUse", None, secs(1200), RELEASED),
    rule!("ec2", "DetachInternetGateway", "DependencyViolation", None, secs(1200), RELEASED),
    rule!("ec2", "DeleteInternetGateway", "DependencyViolation", None, secs(1200), RELEASED),
    rule!("ec2", "DeleteRouteTable", "DependencyViolation", None, secs(1200), RELEASED),
    rule!("ec2", "DeleteVpc", "DependencyViolation", None, secs(1200), RELEASED),
    // ReleaseAddress while the NAT gateway that used it is still deleting
    // (internal/service/ec2/vpc_eip.go: InvalidIPAddress.InUse and AuthFailure retried).
    rule!("ec2", "ReleaseAddress", "InvalidIPAddress.InUse", None, secs(300), RELEASED),
    rule!("ec2", "ReleaseAddress", "DependencyViolation", None, secs(300), RELEASED),
    // ELBv2: a certificate ISSUED seconds ago (internal/service/elbv2/listener.go retries
    // CertificateNotFound on create and modify); a target group a deleted listener still used.
    rule!("elasticloadbalancing", "CreateListener", "CertificateNotFound", None, secs(300), VISIBLE),
    rule!("elasticloadbalancing", "ModifyListener", "CertificateNotFound", None, secs(300), VISIBLE),
    rule!("elasticloadbalancing", "DeleteTargetGroup", "ResourceInUse", None, secs(300), RELEASED),
    // ACM: DeleteCertificate while the listener being deleted still holds it
    // (internal/service/acm/certificate.go: ResourceInUseException retried for 20 min).
    rule!("acm", "DeleteCertificate", "ResourceInUseException", None, secs(1200), RELEASED),
    // CloudWatch Logs: "Multiple concurrent operations on the same log group" (logs API
    // reference, OperationAbortedException).
    rule!("logs", "DeleteLogGroup", "OperationAbortedException", None, secs(60), RELEASED),
    rule!("logs", "CreateLogGroup", "OperationAbortedException", None, secs(60), RELEASED),
    // Route 53: GetChange right after ChangeResourceRecordSets may not know the change yet.
    rule!("route53", "GET /2013-04-01/change/*", "NoSuchChange", None, secs(60), VISIBLE),
];

/// Codes that are the SDKs' throttling codes in general but a quota for these services.
static QUOTAS: &[(&str, &str)] = &[("kms", "LimitExceededException"), ("iam", "LimitExceeded")];

/// Is `code`, from `service`, a quota refusal (fail fast, naming it) rather than throttling?
pub fn is_quota(service: &str, code: &str) -> bool {
    QUOTAS.iter().any(|(s, c)| *s == service && *c == code)
}

/// The rule that makes this refusal transient, if any. `call` is the connector's name for the
/// request: the action, or `METHOD /path` for REST APIs.
pub fn transient(service: &str, call: &str, code: &str, message: &str) -> Option<&'static Rule> {
    let message = message.to_ascii_lowercase();
    RULES.iter().find(|r| {
        r.service == service
            && r.code == code
            && call_matches(r.call, call)
            && r.message.is_none_or(|m| message.contains(&m.to_ascii_lowercase()))
    })
}

/// `pattern` against `call`: equal, or for REST (`METHOD /a/*/b`) equal segment by segment
/// with `*` matching any one segment.
fn call_matches(pattern: &str, call: &str) -> bool {
    if !pattern.contains(' ') {
        return pattern == call;
    }
    let (Some((pm, pp)), Some((cm, cp))) = (pattern.split_once(' '), call.split_once(' ')) else { return false };
    let (pp, cp): (Vec<&str>, Vec<&str>) =
        (pp.trim_end_matches('/').split('/').collect(), cp.trim_end_matches('/').split('/').collect());
    pm.eq_ignore_ascii_case(cm) && pp.len() == cp.len() && pp.iter().zip(&cp).all(|(p, c)| *p == "*" || p == c)
}

/// The pause before attempt `attempt + 1` (1-based) inside a window: 1 s doubling to 15 s,
/// never past the window's end (`left`).
pub fn pause(attempt: u32, left: Duration) -> Duration {
    let d = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(4)).min(Duration::from_secs(15));
    d.min(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_calls_match_by_segment() {
        assert!(call_matches("POST /clusters/*/node-groups", "POST /clusters/main/node-groups"));
        assert!(!call_matches("POST /clusters/*/node-groups", "POST /clusters/main/addons"));
        assert!(call_matches("POST /clusters", "POST /clusters"));
        assert!(!call_matches("POST /clusters", "POST /clusters/main/node-groups"));
        assert!(call_matches("DELETE /clusters/*", "DELETE /clusters/main"));
        assert!(call_matches("ModifySubnetAttribute", "ModifySubnetAttribute"));
    }

    #[test]
    fn a_refusal_is_transient_only_for_its_call_code_and_message() {
        let role = "Role with arn: arn:aws:iam::1:role/x could not be assumed because it does not exist or the trusted entity is not correct";
        let r = transient("eks", "POST /clusters", "InvalidParameterException", role).expect("IAM propagation");
        assert_eq!((r.reason, r.window), (IAM, Duration::from_secs(120)));
        // The same code for another reason is an answer.
        assert!(
            transient("eks", "POST /clusters", "InvalidParameterException", "unsupported Kubernetes version").is_none()
        );
        // The same code for another call is an answer.
        assert!(transient("ec2", "DescribeSubnets", "InvalidSubnetID.NotFound", "").is_none());
        assert!(transient("ec2", "ModifySubnetAttribute", "InvalidSubnetID.NotFound", "").is_some());
        assert!(transient("ec2", "DeleteSecurityGroup", "DependencyViolation", "").is_some());
    }

    #[test]
    fn windows_are_no_shorter_than_terraform_providers() {
        let w = |s: &str, c: &str, code: &str, m: &str| transient(s, c, code, m).map(|r| r.window.as_secs());
        assert!(w("iam", "CreateRole", "MalformedPolicyDocument", "Invalid principal in policy") >= Some(120));
        assert!(w("kms", "EnableKeyRotation", "NotFoundException", "") >= Some(600));
        assert!(w("kms", "CreateAlias", "NotFoundException", "") >= Some(600));
        assert!(w("ec2", "AttachInternetGateway", "InvalidInternetGatewayID.NotFound", "") >= Some(300));
        assert!(w("ec2", "DeleteSubnet", "DependencyViolation", "") >= Some(1200));
        assert!(w("eks", "DELETE /clusters/main", "ResourceInUseException", "") >= Some(3600));
        assert!(w("acm", "DeleteCertificate", "ResourceInUseException", "") >= Some(1200));
        assert!(w("logs", "DeleteLogGroup", "OperationAbortedException", "") >= Some(60));
    }

    #[test]
    fn quotas_are_not_throttling_where_the_service_says_so() {
        assert!(is_quota("kms", "LimitExceededException"));
        assert!(!is_quota("eks", "LimitExceededException"));
    }

    #[test]
    fn pauses_grow_and_stop_at_the_window() {
        let big = Duration::from_secs(999);
        assert_eq!(pause(1, big), Duration::from_secs(1));
        assert_eq!(pause(3, big), Duration::from_secs(4));
        assert_eq!(pause(9, big), Duration::from_secs(15));
        assert_eq!(pause(9, Duration::from_millis(300)), Duration::from_millis(300));
    }
}
