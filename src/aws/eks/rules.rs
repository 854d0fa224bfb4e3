//! The EKS rules kprov checks before any AWS call (pure functions, used by the kinds'
//! `validate`): Kubernetes versions and upgrade steps, instance type families and their CPU
//! architecture, AMI types, control-plane log types, taints, ARNs.
//!
//! Every error message names the attribute, says what is wrong and what is allowed.

use aws_sdk_eks::types::{AmiTypes, CapacityTypes, LogType, TaintEffect};
use serde_json::Value;

use crate::resource::Attrs;

/// A string attribute of `attrs`, when set to a string.
pub fn str_attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(Value::as_str)
}

/// The strings of a list attribute (non-strings are the schema check's business).
pub fn list_attr<'a>(attrs: &'a Attrs, name: &str) -> Vec<&'a str> {
    attrs.get(name).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// `"; did you mean `x`?"` for the candidate closest to `name` (a typo or a near miss), or `""`.
fn did_you_mean<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), strsim::osa_distance(name, c), c))
        .filter(|(jw, edits, _)| *jw >= 0.85 || *edits <= 2)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, _, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

// --- Kubernetes versions --------------------------------------------------------------------

/// `"1.30"` → `(1, 30)`.
pub fn parse_version(attr: &str, v: &str) -> Result<(u32, u32), String> {
    let parsed = v.split_once('.').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
    match parsed {
        Some((1, minor)) => Ok((1, minor)),
        _ => Err(format!("`{attr}` must be a Kubernetes minor version such as \"1.30\", not {v:?}")),
    }
}

/// EKS upgrades a cluster one minor version at a time and never downgrades: `from` → `to` must
/// be the same version or the next minor one.
pub fn check_cluster_upgrade(attr: &str, from: &str, to: &str) -> Result<(), String> {
    let (_, a) = parse_version(attr, from)?;
    let (_, b) = parse_version(attr, to)?;
    if b < a {
        return Err(format!(
            "`{attr}` cannot go down from {from} to {to}: EKS does not downgrade a cluster (replace it instead)"
        ));
    }
    if b > a + 1 {
        let steps: Vec<String> = (a + 1..=b).map(|m| format!("1.{m}")).collect();
        return Err(format!(
            "`{attr}` cannot go from {from} to {to} in one step: EKS upgrades a cluster one minor version at a \
             time, so set {attr} = \"1.{}\" and apply, then continue ({})",
            a + 1,
            steps.join(" → ")
        ));
    }
    Ok(())
}

/// A node group's version never goes down (it may catch up several minors, up to the cluster's).
pub fn check_nodegroup_upgrade(attr: &str, from: &str, to: &str) -> Result<(), String> {
    let (_, a) = parse_version(attr, from)?;
    let (_, b) = parse_version(attr, to)?;
    if b < a {
        return Err(format!(
            "`{attr}` cannot go down from {from} to {to}: EKS does not downgrade a node group (replace it instead)"
        ));
    }
    Ok(())
}

// --- instance types and AMI types -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    fn describe(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "ARM (Graviton)",
        }
    }
}

/// EC2 instance families kprov accepts for node groups. A family outside this list is most
/// likely a typo; add real new families here.
pub const INSTANCE_FAMILIES: &[&str] = &[
    // general purpose
    "t3", "t3a", "t4g", "m5", "m5a", "m5ad", "m5d", "m5dn", "m5n", "m5zn", "m6a", "m6g", "m6gd", "m6i", "m6id", "m6idn",
    "m6in", "m7a", "m7g", "m7gd", "m7i", "m7i-flex", "m8g", // compute optimized
    "c5", "c5a", "c5ad", "c5d", "c5n", "c6a", "c6g", "c6gd", "c6gn", "c6i", "c6id", "c6in", "c7a", "c7g", "c7gd",
    "c7gn", "c7i", "c7i-flex", "c8g", // memory optimized
    "r5", "r5a", "r5ad", "r5b", "r5d", "r5dn", "r5n", "r6a", "r6g", "r6gd", "r6i", "r6id", "r6idn", "r6in", "r7a",
    "r7g", "r7gd", "r7i", "r7iz", "r8g", "x2gd", "x2idn", "x2iedn", "z1d", // storage optimized
    "i3", "i3en", "i4g", "i4i", "im4gn", "is4gen", "d3", // accelerated
    "g4dn", "g5", "g5g", "g6", "g6e", "p3", "p4d", "p5", "inf2", "trn1",
];

/// The CPU architecture of an instance family: Graviton families have a `g` right after the
/// generation digit (`t4g`, `m7g`, `c6gn`, `im4gn`); in `g5` / `g4dn` the `g` is the GPU class.
pub fn family_arch(family: &str) -> Arch {
    let rest = family.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let attrs = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if attrs.starts_with('g') {
        Arch::Arm64
    } else {
        Arch::X86_64
    }
}

fn valid_size(size: &str) -> bool {
    let xl = |s: &str| s.strip_suffix("xlarge").is_some_and(|n| n.is_empty() || n.parse::<u32>().is_ok_and(|n| n >= 2));
    matches!(size, "nano" | "micro" | "small" | "medium" | "large" | "metal")
        || xl(size)
        || size.strip_prefix("metal-").and_then(|s| s.strip_suffix("xl")).is_some_and(|n| n.parse::<u32>().is_ok())
}

/// Check one instance type (`family.size`) and return its architecture.
pub fn instance_type_arch(attr: &str, it: &str) -> Result<Arch, String> {
    let Some((family, size)) = it.split_once('.') else {
        return Err(format!("`{attr}`: {it:?} is not an instance type (expected family.size, e.g. \"m6i.large\")"));
    };
    if !INSTANCE_FAMILIES.contains(&family) {
        let hint = did_you_mean(family, INSTANCE_FAMILIES.iter().copied());
        return Err(format!(
            "`{attr}`: unknown instance type family `{family}` in {it:?}{hint} (known families: {})",
            INSTANCE_FAMILIES.join(", ")
        ));
    }
    if !valid_size(size) {
        return Err(format!(
            "`{attr}`: unknown instance size `{size}` in {it:?} (sizes: nano, micro, small, medium, large, xlarge, \
             2xlarge … 48xlarge, metal)"
        ));
    }
    Ok(family_arch(family))
}

/// The AMI types EKS managed node groups accept (the SDK's list), without `CUSTOM`: that one
/// needs a launch template, which kprov's node groups do not manage.
pub fn ami_types() -> Vec<&'static str> {
    AmiTypes::values().iter().copied().filter(|t| *t != "CUSTOM").collect()
}

pub fn ami_arch(ami_type: &str) -> Arch {
    if ami_type.contains("ARM_64") {
        Arch::Arm64
    } else {
        Arch::X86_64
    }
}

/// Instance types and AMI type of a node group: known, one architecture, and an AMI type built
/// for that architecture.
pub fn check_instances(instance_types: &[&str], ami_type: Option<&str>) -> Result<(), String> {
    if instance_types.is_empty() {
        return Err("`instance_types` must name at least one instance type".into());
    }
    let mut arch = None;
    for it in instance_types {
        let a = instance_type_arch("instance_types", it)?;
        match arch {
            None => arch = Some((a, *it)),
            Some((b, first)) if b != a => {
                return Err(format!(
                    "`instance_types` mixes architectures: {first} is {} but {it} is {}; a node group runs one AMI, \
                     so all its instance types must share one architecture",
                    b.describe(),
                    a.describe()
                ))
            }
            Some(_) => {}
        }
    }
    let Some(ami) = ami_type else { return Ok(()) };
    let known = ami_types();
    if !known.contains(&ami) {
        let hint = did_you_mean(ami, known.iter().copied());
        return Err(format!("`ami_type`: unknown AMI type {ami:?}{hint} (AMI types: {})", known.join(", ")));
    }
    if let Some((a, first)) = arch {
        if ami_arch(ami) != a {
            let fitting: Vec<&str> = known.iter().copied().filter(|k| ami_arch(k) == a).collect();
            return Err(format!(
                "`ami_type` {ami} is built for {} but instance type {first} is {}; use an {} AMI type ({})",
                ami_arch(ami).describe(),
                a.describe(),
                a.describe(),
                fitting.join(", ")
            ));
        }
    }
    Ok(())
}

pub fn check_capacity_type(v: &str) -> Result<(), String> {
    one_of("capacity_type", v, CapacityTypes::values())
}

// --- other EKS values -----------------------------------------------------------------------

pub fn one_of(attr: &str, v: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(format!("`{attr}` must be one of {}, not {v:?}", allowed.join(", ")))
    }
}

pub fn log_types() -> &'static [&'static str] {
    LogType::values()
}

pub fn check_log_types(types: &[&str]) -> Result<(), String> {
    for t in types {
        one_of("enabled_log_types", t, log_types())?;
    }
    if let Some(dup) = types.iter().enumerate().find(|(i, t)| types[..*i].contains(t)).map(|(_, t)| t) {
        return Err(format!("`enabled_log_types` lists {dup:?} twice"));
    }
    Ok(())
}

pub const AUTH_MODES: &[&str] = &["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"];

/// The authentication mode only ever moves towards access entries: CONFIG_MAP →
/// API_AND_CONFIG_MAP → API (EKS refuses the way back).
pub fn check_auth_mode(to: &str, from: Option<&str>) -> Result<(), String> {
    one_of("authentication_mode", to, AUTH_MODES)?;
    let rank = |m: &str| AUTH_MODES.iter().position(|x| *x == m);
    if let Some(from) = from {
        if let (Some(a), Some(b)) = (rank(from), rank(to)) {
            if b < a {
                return Err(format!(
                    "`authentication_mode` cannot go back from {from} to {to}: EKS only moves CONFIG_MAP → \
                     API_AND_CONFIG_MAP → API (replace the cluster to go back)"
                ));
            }
        }
    }
    Ok(())
}

/// An IPv4 CIDR block (`a.b.c.d/n`).
pub fn check_cidr(attr: &str, cidr: &str) -> Result<(), String> {
    let ok = cidr
        .split_once('/')
        .is_some_and(|(ip, len)| ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|n| n <= 32));
    if ok {
        Ok(())
    } else {
        Err(format!("`{attr}`: {cidr:?} is not an IPv4 CIDR block such as \"203.0.113.0/24\""))
    }
}

/// `arn:<partition>:iam::<12-digit account>:role/<name>` (or `user/` when users are allowed).
pub fn check_iam_arn(attr: &str, arn: &str, allow_user: bool) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && (parts[5].strip_prefix("role/").is_some_and(|n| !n.is_empty())
            || (allow_user && parts[5].strip_prefix("user/").is_some_and(|n| !n.is_empty())));
    if ok {
        Ok(())
    } else {
        let what = if allow_user { "an IAM role or user ARN" } else { "an IAM role ARN" };
        Err(format!("`{attr}` must be {what} (arn:aws:iam::123456789012:role/NAME), not {arn:?}"))
    }
}

/// Kubernetes taints: `[{ key, value (optional), effect }]`, effect one of EKS's, no (key,
/// effect) twice.
pub fn check_taints(v: &Value) -> Result<(), String> {
    let Some(items) = v.as_array() else {
        return Err("`taints` must be a list of tables { key, value, effect }".into());
    };
    let effects = TaintEffect::values();
    let mut seen = Vec::new();
    for (i, t) in items.iter().enumerate() {
        let Some(m) = t.as_object() else {
            return Err(format!("`taints`[{i}] must be a table {{ key, value, effect }}"));
        };
        if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), "key" | "value" | "effect")) {
            return Err(format!("`taints`[{i}]: unknown field `{k}` (fields: key, value, effect)"));
        }
        let Some(key) = m.get("key").and_then(Value::as_str).filter(|k| !k.is_empty()) else {
            return Err(format!("`taints`[{i}] needs a `key` (a non-empty string)"));
        };
        if m.get("value").is_some_and(|v| !v.is_string()) {
            return Err(format!("`taints`[{i}].value must be a string"));
        }
        let Some(effect) = m.get("effect").and_then(Value::as_str) else {
            return Err(format!("`taints`[{i}] needs an `effect` ({})", effects.join(", ")));
        };
        one_of(&format!("taints[{i}].effect"), effect, effects)?;
        if seen.contains(&(key, effect)) {
            return Err(format!("`taints` has key {key:?} with effect {effect} twice"));
        }
        seen.push((key, effect));
    }
    if items.len() > 50 {
        return Err(format!("`taints` has {} entries; EKS allows at most 50 per node group", items.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cluster_upgrades_go_one_minor_at_a_time() {
        assert!(check_cluster_upgrade("version", "1.30", "1.30").is_ok());
        assert!(check_cluster_upgrade("version", "1.30", "1.31").is_ok());
        let skip = check_cluster_upgrade("version", "1.29", "1.31").unwrap_err();
        assert!(skip.contains("one minor version at a time"), "{skip}");
        assert!(skip.contains("set version = \"1.30\""), "{skip}");
        assert!(skip.contains("1.30 → 1.31"), "{skip}");
        let down = check_cluster_upgrade("version", "1.31", "1.30").unwrap_err();
        assert!(down.contains("cannot go down"), "{down}");
        assert!(check_cluster_upgrade("version", "1.30", "2.0").is_err());
        assert!(parse_version("version", "1.3x").is_err());
        assert!(check_nodegroup_upgrade("version", "1.29", "1.31").is_ok());
        assert!(check_nodegroup_upgrade("version", "1.31", "1.29").is_err());
    }

    #[test]
    fn graviton_families_are_arm() {
        for f in ["t4g", "m6g", "m7g", "c6gn", "c7g", "r6g", "r7g", "im4gn", "is4gen", "x2gd", "g5g"] {
            assert_eq!(family_arch(f), Arch::Arm64, "{f}");
        }
        for f in ["t3", "m5", "m6i", "c5", "c6i", "r5", "r6i", "g4dn", "g5", "p4d", "m7i-flex", "inf2"] {
            assert_eq!(family_arch(f), Arch::X86_64, "{f}");
        }
    }

    #[test]
    fn instance_types_and_ami_types() {
        assert!(check_instances(&["t4g.medium", "m7g.large"], Some("AL2023_ARM_64_STANDARD")).is_ok());
        assert!(check_instances(&["c5.2xlarge"], Some("AL2023_x86_64_STANDARD")).is_ok());
        assert!(check_instances(&["r5.metal"], None).is_ok());
        let e = check_instances(&["c5x.large"], None).unwrap_err();
        assert!(e.contains("unknown instance type family `c5x`"), "{e}");
        let e = check_instances(&["m5.huge"], None).unwrap_err();
        assert!(e.contains("unknown instance size `huge`"), "{e}");
        let e = check_instances(&["t4g.medium"], Some("AL2023_x86_64_STANDARD")).unwrap_err();
        assert!(e.contains("built for x86_64") && e.contains("AL2023_ARM_64_STANDARD"), "{e}");
        let e = check_instances(&["c5.large"], Some("AL2_ARM_64")).unwrap_err();
        assert!(e.contains("ARM (Graviton)") && e.contains("c5.large is x86_64"), "{e}");
        let e = check_instances(&["t4g.medium", "t3.medium"], None).unwrap_err();
        assert!(e.contains("mixes architectures"), "{e}");
        let e = check_instances(&["t3.medium"], Some("AL2023_x86_64")).unwrap_err();
        assert!(e.contains("unknown AMI type") && e.contains("did you mean"), "{e}");
        assert!(check_instances(&["t3.medium"], Some("CUSTOM")).is_err());
        assert!(check_instances(&[], None).is_err());
    }

    #[test]
    fn taints_are_checked() {
        assert!(check_taints(&json!([{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}])).is_ok());
        assert!(check_taints(&json!([{"key": "a", "effect": "NO_EXECUTE"}])).is_ok());
        let e = check_taints(&json!([{"key": "a", "effect": "NoSchedule"}])).unwrap_err();
        assert!(e.contains("NO_SCHEDULE"), "{e}");
        assert!(check_taints(&json!([{"effect": "NO_SCHEDULE"}])).is_err());
        assert!(check_taints(&json!([{"key": "a", "effect": "NO_SCHEDULE", "colour": "x"}])).is_err());
        let e = check_taints(&json!([{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "a", "effect": "NO_SCHEDULE"}]))
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn other_values() {
        assert!(check_log_types(&["api", "audit", "authenticator", "controllerManager", "scheduler"]).is_ok());
        assert!(check_log_types(&["apiserver"]).is_err());
        assert!(check_log_types(&["api", "api"]).is_err());
        assert!(check_auth_mode("API", Some("API_AND_CONFIG_MAP")).is_ok());
        assert!(check_auth_mode("API_AND_CONFIG_MAP", Some("API")).is_err());
        assert!(check_auth_mode("IAM", None).is_err());
        assert!(check_cidr("public_access_cidrs", "203.0.113.0/24").is_ok());
        assert!(check_cidr("public_access_cidrs", "203.0.113.0").is_err());
        assert!(check_cidr("public_access_cidrs", "10.0.0.0/33").is_err());
        assert!(check_iam_arn("role_arn", "arn:aws:iam::123456789012:role/eks", false).is_ok());
        assert!(check_iam_arn("role_arn", "arn:aws:iam::123456789012:user/bob", false).is_err());
        assert!(check_iam_arn("principal_arn", "arn:aws:iam::123456789012:user/bob", true).is_ok());
        assert!(check_iam_arn("role_arn", "arn:aws:iam::1234:role/eks", false).is_err());
    }
}
