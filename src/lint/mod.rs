//! `kprov lint`: the platform's security rules, checked on the declarations before any AWS
//! call (the seed's rules; see `docs/lint.md`).
//!
//! Rules work on the plan's structure — literal values and the references between resources —
//! so they hold whatever ids AWS later assigns:
//! - `open-ingress`: no ingress from 0.0.0.0/0 (or ::/0) except ports 80 and 443 on a security
//!   group that a load balancer uses;
//! - `nodes-in-private-subnets`: node groups only in subnets that neither map public IPs nor
//!   route to an internet gateway;
//! - `secrets-encrypted`: every EKS cluster encrypts Kubernetes secrets with a KMS key;
//! - `restricted-endpoint`: a public EKS endpoint is limited to listed CIDRs, never 0.0.0.0/0;
//! - `oidc-trust-pinned`: a role trusted by GitHub's OIDC provider pins `sub` to one repository
//!   (no wildcard in the repository) and `aud` to `sts.amazonaws.com`.

use std::collections::{BTreeSet, HashMap};

use crate::config::{ResourceDecl, SourceLoc, Stack, Tmpl};
use crate::resource::{Address, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub address: Address,
    pub loc: SourceLoc,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: [{}] {}", self.loc, self.address, self.rule, self.message)
    }
}

const GITHUB_OIDC: &str = "token.actions.githubusercontent.com";

/// A literal value, or `None` when the plan leaves it to a reference (or does not set it).
fn lit<'a>(d: &'a ResourceDecl, name: &str) -> Option<&'a Value> {
    match d.attrs.get(name)? {
        Tmpl::Lit(v) => Some(v),
        _ => None,
    }
}

fn lit_str<'a>(d: &'a ResourceDecl, name: &str) -> Option<&'a str> {
    lit(d, name).and_then(Value::as_str)
}

/// The resources an attribute refers to.
fn targets(d: &ResourceDecl, name: &str) -> Vec<Address> {
    d.attrs.get(name).map(|t| t.refs().into_iter().map(|(a, _)| a.clone()).collect()).unwrap_or_default()
}

/// A template as a value, with every reference written out as `${address.attr}` text.
fn view(t: &Tmpl) -> Value {
    match t {
        Tmpl::Lit(v) => v.clone(),
        Tmpl::Ref { target, attr } => Value::String(format!("${{{target}.{attr}}}")),
        Tmpl::Concat(parts) => Value::String(
            parts
                .iter()
                .map(|p| match view(p) {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
        ),
        Tmpl::List(items) => Value::Array(items.iter().map(view).collect()),
        Tmpl::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), view(v))).collect()),
    }
}

pub fn lint(stack: &Stack) -> Vec<Finding> {
    let by_addr: HashMap<&Address, &ResourceDecl> = stack.resources.iter().map(|d| (&d.address, d)).collect();
    let of_kind = |k: &'static str| stack.resources.iter().filter(move |d| d.address.kind == k);
    let mut out = Vec::new();
    let mut find = |rule, d: &ResourceDecl, message: String| {
        out.push(Finding { rule, address: d.address.clone(), loc: d.loc.clone(), message })
    };

    // open-ingress
    let lb_groups: BTreeSet<Address> =
        of_kind("elbv2_load_balancer").flat_map(|lb| targets(lb, "security_groups")).collect();
    for r in of_kind("ec2_security_group_rule") {
        if lit_str(r, "type") != Some("ingress") {
            continue;
        }
        let Some(cidr) = lit_str(r, "cidr_ipv4").or(lit_str(r, "cidr_ipv6")) else { continue };
        if cidr != "0.0.0.0/0" && cidr != "::/0" {
            continue;
        }
        let port = |n| lit(r, n).and_then(Value::as_i64);
        let web = lit_str(r, "protocol") == Some("tcp")
            && matches!((port("from_port"), port("to_port")), (Some(80), Some(80)) | (Some(443), Some(443)));
        let on_lb = targets(r, "security_group_id").iter().any(|g| lb_groups.contains(g));
        if !(web && on_lb) {
            find(
                "open-ingress",
                r,
                format!(
                    "ingress from {cidr} is only allowed on ports 80 and 443 of a load balancer's security group \
                     (this rule: protocol {}, ports {:?}–{:?}{})",
                    lit_str(r, "protocol").unwrap_or("?"),
                    port("from_port"),
                    port("to_port"),
                    if on_lb { "" } else { ", not a load balancer's group" }
                ),
            );
        }
    }

    // nodes-in-private-subnets
    let igw_tables: BTreeSet<Address> = of_kind("ec2_route")
        .filter(|r| targets(r, "gateway_id").iter().any(|g| g.kind == "ec2_internet_gateway"))
        .flat_map(|r| targets(r, "route_table_id"))
        .collect();
    let public_subnets: BTreeSet<Address> = of_kind("ec2_route_table_association")
        .filter(|a| targets(a, "route_table_id").iter().any(|t| igw_tables.contains(t)))
        .flat_map(|a| targets(a, "subnet_id"))
        .chain(
            of_kind("ec2_subnet")
                .filter(|s| lit(s, "map_public_ip_on_launch") == Some(&Value::Bool(true)))
                .map(|s| s.address.clone()),
        )
        .collect();
    for ng in of_kind("eks_nodegroup") {
        let subnets = targets(ng, "subnet_ids");
        let public: Vec<String> =
            subnets.iter().filter(|s| public_subnets.contains(*s)).map(|s| s.to_string()).collect();
        if !public.is_empty() {
            find(
                "nodes-in-private-subnets",
                ng,
                format!("worker nodes must run in private subnets; public: {}", public.join(", ")),
            );
        } else if subnets.is_empty() {
            find("nodes-in-private-subnets", ng, "subnet_ids must refer to the stack's private subnets".into());
        }
    }

    for c in of_kind("eks_cluster") {
        // secrets-encrypted
        if !c.attrs.contains_key("encryption_kms_key_arn") {
            find(
                "secrets-encrypted",
                c,
                "set encryption_kms_key_arn: Kubernetes secrets must be encrypted with KMS".into(),
            );
        }
        // restricted-endpoint (AWS's default is a public endpoint open to 0.0.0.0/0)
        let public = lit(c, "endpoint_public_access").and_then(Value::as_bool).unwrap_or(true);
        if public {
            match c.attrs.get("public_access_cidrs").map(view) {
                None => find(
                    "restricted-endpoint",
                    c,
                    "the public endpoint is open to 0.0.0.0/0: set public_access_cidrs, or endpoint_public_access = false"
                        .into(),
                ),
                Some(v) if v.as_array().is_some_and(|a| a.iter().any(|x| x == "0.0.0.0/0")) => {
                    find("restricted-endpoint", c, "public_access_cidrs must not include 0.0.0.0/0".into())
                }
                _ => {}
            }
        }
    }

    // oidc-trust-pinned
    for role in of_kind("iam_role") {
        let Some(policy) = role.attrs.get("assume_role_policy").map(view) else { continue };
        let statements = match policy.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => continue,
        };
        for st in statements {
            let federated = st.pointer("/Principal/Federated").map(|f| f.to_string()).unwrap_or_default();
            let via_github = federated.contains(GITHUB_OIDC)
                || targets(role, "assume_role_policy").iter().any(|p| {
                    p.kind == "iam_oidc_provider"
                        && federated.contains(&p.to_string())
                        && by_addr.get(p).and_then(|d| lit_str(d, "url")).is_some_and(|u| u.contains(GITHUB_OIDC))
                });
            if !via_github {
                continue;
            }
            let cond = |op: &str, key: &str| st.pointer(&format!("/Condition/{op}")).and_then(|c| c.get(key)).cloned();
            let sub_key = format!("{GITHUB_OIDC}:sub");
            let aud_ok = cond("StringEquals", &format!("{GITHUB_OIDC}:aud")).is_some_and(|v| v == "sts.amazonaws.com");
            let sub = cond("StringEquals", &sub_key).or_else(|| cond("StringLike", &sub_key));
            let pinned = match &sub {
                Some(Value::String(s)) => pinned_to_one_repo(s),
                _ => false,
            };
            if !pinned || !aud_ok {
                find(
                    "oidc-trust-pinned",
                    role,
                    format!(
                        "a role trusted by GitHub's OIDC provider must pin `{sub_key}` to one repository \
                         (repo:ORG/REPO:…, no wildcard in ORG/REPO) and `{GITHUB_OIDC}:aud` to sts.amazonaws.com; \
                         found sub {}",
                        sub.map(|v| v.to_string()).unwrap_or_else(|| "unset".into())
                    ),
                );
            }
        }
    }
    out
}

/// `repo:ORG/REPO:...` with no wildcard in ORG/REPO. References (from variables already
/// substituted) are literal here; an unresolved `${…}` in the repository part is not pinned.
fn pinned_to_one_repo(sub: &str) -> bool {
    let Some(rest) = sub.strip_prefix("repo:") else { return false };
    let repo = rest.split(':').next().unwrap_or("");
    let mut parts = repo.split('/');
    let (org, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    !org.is_empty() && !name.is_empty() && parts.next().is_none() && !repo.contains(['*', '?', '$'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(env: &str) -> Stack {
        let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
        crate::config::load(&plans, env, &crate::aws::offline_registry()).expect("reference plans load")
    }

    #[test]
    fn the_reference_plans_pass_in_every_environment() {
        for env in ["dev", "stage", "prod"] {
            let findings = lint(&reference(env));
            assert!(findings.is_empty(), "{env}: {findings:#?}");
        }
    }

    #[test]
    fn repository_pinning() {
        assert!(pinned_to_one_repo("repo:acme/app:ref:refs/heads/main"));
        assert!(pinned_to_one_repo("repo:acme/app:environment:prod"));
        assert!(!pinned_to_one_repo("repo:acme/*:ref:refs/heads/main"));
        assert!(!pinned_to_one_repo("repo:acme:ref:refs/heads/main"));
        assert!(!pinned_to_one_repo("*"));
    }
}
