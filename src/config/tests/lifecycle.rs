//! `lifecycle` tables: both spellings, and every bad input at its `file:line:col`.

use super::{fails, ok};
use crate::config::Lifecycle;

#[test]
fn lifecycle_inline_or_as_a_sub_table() {
    let inline = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\
                  lifecycle = { prevent_destroy = true, ignore_changes = [\"tags\"] }\n";
    let s = ok(&[("net.toml", inline)]);
    let l = &s.resources[0].lifecycle;
    assert!(l.prevent_destroy);
    assert_eq!(l.ignore_changes, ["tags"]);
    assert_eq!(l.create_before_destroy, None);
    assert!(l.loc.as_ref().is_some_and(|loc| loc.line == 3 && loc.col == 1), "{l:?}");
    assert!(!s.resources[0].attrs.contains_key("lifecycle"), "lifecycle is not an attribute");

    let table = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n\
                 [resource.ec2_vpc.main.lifecycle]\ncreate_before_destroy = true\n";
    let s = ok(&[("net.toml", table)]);
    assert_eq!(s.resources[0].lifecycle.create_before_destroy, Some(true));
    // Without one: the defaults.
    let s = ok(&[("net.toml", "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n")]);
    assert_eq!(s.resources[0].lifecycle, Lifecycle::default());
}

#[test]
fn lifecycle_errors_are_located() {
    let vpc = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n";
    let cases = [
        (
            "lifecycle = { ignore_changes = [\"tag\"] }\n",
            "net.toml:3:33",
            "`ignore_changes` names `tag`, which ec2_vpc does not have; did you mean `tags`?",
        ),
        (
            "lifecycle = { ignore_changes = [\"main_route_table_id\"] }\n",
            "net.toml:3:33",
            "`main_route_table_id` is computed by AWS",
        ),
        (
            "lifecycle = { prevent_destroy = \"yes\" }\n",
            "net.toml:3:33",
            "lifecycle `prevent_destroy` must be true or false, not a string",
        ),
        ("lifecycle = { ignore_changes = \"tags\" }\n", "net.toml:3:32", "must be a list of attribute names"),
        (
            "lifecycle = { prevent_destory = true }\n",
            "net.toml:3:15",
            "unknown lifecycle setting `prevent_destory`; did you mean `prevent_destroy`?",
        ),
        ("lifecycle = true\n", "net.toml:3:13", "lifecycle must be a table"),
    ];
    for (line, loc, message) in cases {
        fails(&[("net.toml", &format!("{vpc}{line}"))], loc, message);
    }
}
