//! `[[moved]]` blocks: the renames loaded, and every bad block refused at its location.

use super::{fails, ok};

const SG: &str = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n\
                  [resource.ec2_security_group.frontend]\nname = \"f\"\ndescription = \"f\"\nvpc_id = \"${ec2_vpc.main.id}\"\n\n";

fn with(moved: &str) -> String {
    format!("{SG}{moved}")
}

#[test]
fn moved_blocks_are_loaded_in_order_with_instance_keys() {
    let text = with(
        "[[moved]]\nfrom = \"ec2_security_group.web\"\nto = \"ec2_security_group.frontend\"\n\n\
         [[moved]]\nfrom = \"ec2_vpc.old['k']\"\nto = \"ec2_vpc.main\"\n",
    );
    // The second block is refused (instance → resource); the first alone loads.
    fails(&[("net.toml", &text)], "net.toml:15:6", "move a resource to a resource");
    let s = ok(&[(
        "net.toml",
        &with("[[moved]]\nfrom = \"ec2_security_group.web\"\nto = \"ec2_security_group.frontend\"\n"),
    )]);
    assert_eq!(s.moved.len(), 1);
    assert_eq!(s.moved[0].from.to_string(), "ec2_security_group.web");
    assert_eq!(s.moved[0].to.to_string(), "ec2_security_group.frontend");
    assert_eq!(s.moved[0].loc.line, 9);
}

#[test]
fn bad_moved_blocks_are_located_errors() {
    let cases: &[(&str, &str, &str)] = &[
        ("[[moved]]\nfrom = \"ec2_security_group.web\"\n", "net.toml:9:1", "needs both `from"),
        (
            "[[moved]]\nfrom = \"ec2_security_group.web\"\nto = \"ec2_security_group.frontend\"\nbecause = \"x\"\n",
            "net.toml:12:1",
            "unknown key `because` in [[moved]]",
        ),
        (
            "[[moved]]\nfrom = \"ec2_security_group\"\nto = \"ec2_security_group.frontend\"\n",
            "net.toml:10:8",
            "invalid resource address",
        ),
        (
            "[[moved]]\nfrom = \"ec2_secgroup.web\"\nto = \"ec2_security_group.frontend\"\n",
            "net.toml:10:8",
            "unknown resource kind `ec2_secgroup`",
        ),
        (
            "[[moved]]\nfrom = \"ec2_vpc.web\"\nto = \"ec2_security_group.frontend\"\n",
            "net.toml:11:6",
            "the kind cannot change",
        ),
        (
            "[[moved]]\nfrom = \"ec2_security_group.web\"\nto = \"ec2_security_group.backend\"\n",
            "net.toml:11:6",
            "not declared in the plans",
        ),
        (
            "[[moved]]\nfrom = \"ec2_security_group.frontend\"\nto = \"ec2_security_group.frontend\"\n",
            "net.toml:11:6",
            "to itself",
        ),
        (
            "[[moved]]\nfrom = \"ec2_vpc.main\"\nto = \"ec2_vpc.main['a']\"\n",
            "net.toml:11:6",
            "move a resource to a resource",
        ),
        ("[moved]\nfrom = \"a.b\"\n", "net.toml:9:1", "[[moved]] blocks"),
    ];
    for (block, loc, message) in cases {
        fails(&[("net.toml", &with(block))], loc, message);
    }
    // `from` still declared, and the same `from` twice.
    let twice = "[[moved]]\nfrom = \"ec2_security_group.web\"\nto = \"ec2_security_group.frontend\"\n\n\
                 [[moved]]\nfrom = \"ec2_security_group.web\"\nto = \"ec2_security_group.frontend\"\n";
    fails(&[("net.toml", &with(twice))], "net.toml:14:8", "is already moved at");
    let still = "[[moved]]\nfrom = \"ec2_vpc.main\"\nto = \"ec2_vpc.other\"\n\n[resource.ec2_vpc.other]\ncidr_block = \"10.1.0.0/16\"\n";
    fails(&[("net.toml", &with(still))], "net.toml:10:8", "is still declared");
}
