//! Cross-resource checks of the network, made on the declarations alone (before any AWS call):
//! every subnet's CIDR lies inside its VPC's, and no two subnets of one VPC overlap.
//!
//! AWS would refuse both at CreateSubnet (`InvalidSubnet.Range`, `InvalidSubnet.Conflict`),
//! but only after everything the subnet does not depend on was created — and moto accepts a
//! subnet outside its VPC. CIDRs come from variables, so they are literal at plan time; a
//! subnet's `vpc_id` is a reference to the declared VPC, whose literal `cidr_block` is used. A
//! subnet of a VPC the plans do not declare (a literal `vpc-…` id) or with a CIDR that is not
//! literal is left to AWS.

use std::collections::BTreeMap;

use crate::config::{ResourceDecl, Stack, Tmpl};
use crate::resource::{Address, Cidr, Value};

/// A refusal: the subnet's declaration and why.
pub struct Problem<'s> {
    pub decl: &'s ResourceDecl,
    pub message: String,
}

fn literal_cidr(decl: &ResourceDecl) -> Option<Cidr> {
    match decl.attrs.get("cidr_block")? {
        Tmpl::Lit(Value::String(s)) => Cidr::parse(s),
        _ => None,
    }
}

/// Every subnet (in declaration order) outside its VPC or overlapping an earlier subnet of
/// the same VPC.
pub fn check(stack: &Stack) -> Vec<Problem<'_>> {
    let mut problems = Vec::new();
    let vpcs: BTreeMap<&Address, Option<Cidr>> =
        stack.resources.iter().filter(|d| d.address.kind == "ec2_vpc").map(|d| (&d.address, literal_cidr(d))).collect();
    // Per VPC, the subnets seen so far with their blocks.
    let mut seen: BTreeMap<&Address, Vec<(&ResourceDecl, Cidr)>> = BTreeMap::new();
    for decl in stack.resources.iter().filter(|d| d.address.kind == "ec2_subnet") {
        let Some(Tmpl::Ref { target: vpc, attr }) = decl.attrs.get("vpc_id") else { continue };
        if attr != "id" {
            continue;
        }
        let Some(cidr) = literal_cidr(decl) else { continue };
        if let Some(Some(vpc_cidr)) = vpcs.get(vpc) {
            if !vpc_cidr.contains(&cidr) {
                problems.push(Problem {
                    decl,
                    message: format!(
                        "`cidr_block` {cidr} is outside the CIDR block of {vpc} ({vpc_cidr}); a subnet's block must lie \
                         inside its VPC's"
                    ),
                });
                continue;
            }
        }
        let earlier = seen.entry(vpc).or_default();
        if let Some((other, other_cidr)) = earlier.iter().find(|(_, c)| c.overlaps(&cidr)) {
            problems.push(Problem {
                decl,
                message: format!(
                    "`cidr_block` {cidr} overlaps {} ({other_cidr}) in {vpc}; subnets of one VPC must not overlap",
                    other.address
                ),
            });
            continue;
        }
        earlier.push((decl, cidr));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceLoc;
    use serde_json::json;

    fn decl(addr: &str, attrs: Vec<(&str, Tmpl)>) -> ResourceDecl {
        ResourceDecl {
            address: addr.parse().expect("address"),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            depends_on: vec![],
            lifecycle: Default::default(),
            loc: SourceLoc { file: "plans/network.toml".into(), line: 7, col: 1 },
            attr_locs: Default::default(),
        }
    }

    fn vpc(name: &str, cidr: &str) -> ResourceDecl {
        decl(&format!("ec2_vpc.{name}"), vec![("cidr_block", Tmpl::Lit(json!(cidr)))])
    }

    fn subnet(addr: &str, vpc: &str, cidr: &str) -> ResourceDecl {
        let vpc_ref = Tmpl::Ref { target: format!("ec2_vpc.{vpc}").parse().expect("vpc"), attr: "id".into() };
        decl(addr, vec![("vpc_id", vpc_ref), ("cidr_block", Tmpl::Lit(json!(cidr)))])
    }

    fn stack(resources: Vec<ResourceDecl>) -> Stack {
        Stack {
            name: "platform".into(),
            env: "dev".into(),
            region: "us-east-1".into(),
            resources,
            backend: None,
            drift_ignore: vec![],
            moved: vec![],
        }
    }

    fn refusal(s: &Stack) -> (String, String) {
        match check(s).into_iter().next() {
            None => panic!("accepted"),
            Some(p) => (p.decl.address.to_string(), p.message),
        }
    }

    #[test]
    fn cidr_arithmetic() {
        let vpc = Cidr::parse("10.0.0.0/16").expect("cidr");
        assert!(vpc.contains(&Cidr::parse("10.0.255.0/24").expect("cidr")));
        assert!(!vpc.contains(&Cidr::parse("10.1.0.0/24").expect("cidr")));
        assert!(!vpc.contains(&Cidr::parse("10.0.0.0/8").expect("cidr")), "a larger block is not inside");
        assert!(Cidr::parse("10.0.1.0/24").expect("cidr").overlaps(&Cidr::parse("10.0.1.128/25").expect("cidr")));
        assert!(!Cidr::parse("10.0.1.0/24").expect("cidr").overlaps(&Cidr::parse("10.0.2.0/24").expect("cidr")));
        assert_eq!(Cidr::parse("10.0.1.7/24").map(|c| c.to_string()).as_deref(), Some("10.0.1.0/24"));
        assert!(Cidr::parse("0.0.0.0/0").expect("cidr").contains(&vpc));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/16", "x/8"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn subnets_inside_and_apart_pass() {
        let s = stack(vec![
            vpc("main", "10.0.0.0/16"),
            subnet("ec2_subnet.public[\"a\"]", "main", "10.0.1.0/24"),
            subnet("ec2_subnet.private[\"a\"]", "main", "10.0.11.0/24"),
            // Another VPC may reuse the same blocks.
            vpc("other", "10.0.0.0/16"),
            subnet("ec2_subnet.other", "other", "10.0.1.0/24"),
        ]);
        assert!(check(&s).is_empty());
    }

    #[test]
    fn a_subnet_outside_its_vpc_is_refused() {
        let s = stack(vec![vpc("main", "10.0.0.0/16"), subnet("ec2_subnet.private[\"a\"]", "main", "10.1.11.0/24")]);
        let (addr, msg) = refusal(&s);
        assert_eq!(addr, "ec2_subnet.private[\"a\"]");
        assert!(msg.contains("10.1.11.0/24 is outside the CIDR block of ec2_vpc.main (10.0.0.0/16)"), "{msg}");
    }

    #[test]
    fn overlapping_subnets_are_refused_naming_both() {
        let s = stack(vec![
            vpc("main", "10.0.0.0/16"),
            subnet("ec2_subnet.public[\"a\"]", "main", "10.0.1.0/24"),
            subnet("ec2_subnet.private[\"b\"]", "main", "10.0.1.128/25"),
        ]);
        let (addr, msg) = refusal(&s);
        assert_eq!(addr, "ec2_subnet.private[\"b\"]");
        assert!(msg.contains("overlaps ec2_subnet.public[\"a\"] (10.0.1.0/24) in ec2_vpc.main"), "{msg}");
    }

    #[test]
    fn unknown_vpcs_and_non_literal_cidrs_are_left_to_aws() {
        let lit_vpc = decl(
            "ec2_subnet.x",
            vec![("vpc_id", Tmpl::Lit(json!("vpc-123"))), ("cidr_block", Tmpl::Lit(json!("192.168.0.0/24")))],
        );
        let computed = Tmpl::Ref { target: "ec2_vpc.main".parse().expect("a"), attr: "cidr_block".into() };
        let s = stack(vec![
            vpc("main", "10.0.0.0/16"),
            lit_vpc,
            decl(
                "ec2_subnet.y",
                vec![
                    ("vpc_id", Tmpl::Ref { target: "ec2_vpc.main".parse().expect("a"), attr: "id".into() }),
                    ("cidr_block", computed),
                ],
            ),
        ]);
        assert!(check(&s).is_empty());
    }

    #[test]
    fn the_reference_plans_pass_in_every_environment() {
        let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
        // The real kinds' schemas; building the clients makes no call.
        let registry = crate::aws::registry(
            &aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build(),
        );
        for env in ["dev", "stage", "prod"] {
            let s = crate::config::load(&plans, env, &registry).unwrap_or_else(|e| panic!("{env}: {e}"));
            assert!(check(&s).is_empty(), "{env}");
        }
    }
}
