//! `${...}` expressions, references and functions: the fuzz input (after a one-byte selector)
//! is a string value placed in a fixed plan that declares variables, locals and repeated and
//! plain resources to refer to; the selector picks where it goes (a local, an attribute of a
//! repeated resource, a `for_each`, a default tag, `depends_on`, the backend's `lock_lease` duration).
#![no_main]

mod common;

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

const PLAN: &str = r#"
[stack]
name = "fz"
default_tags = { Team = "core", Fuzz = @TAG@ }

[variables]
region = "us-east-1"
azs = ["a", "b", "c"]
cidrs = { a = "10.0.0.0/24", b = "10.0.1.0/24" }
n = 3
on = true

[locals]
prefix = "${stack.name}-${stack.env}"
fuzz = @LOCAL@

[resource.ec2_vpc.main]
cidr_block = "10.0.0.0/16"

[resource.ec2_subnet.s]
for_each = @FOR_EACH@
vpc_id = "${ec2_vpc.main.id}"
cidr_block = @ATTR@
availability_zone = "${each.key}"
depends_on = [@DEPENDS@]

[backend]
type = "local"
lock_lease = @LEASE@
"#;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(input) = std::str::from_utf8(rest) else { return };
    // A TOML string holding the input exactly; toml_edit picks the quoting.
    let quoted = toml_edit::Value::from(input).to_string();
    let slots = ["@LOCAL@", "@ATTR@", "@FOR_EACH@", "@TAG@", "@DEPENDS@", "@LEASE@"];
    let chosen = slots[usize::from(which) % slots.len()];
    let mut plan = PLAN.to_string();
    for slot in slots {
        let filler = match slot {
            _ if slot == chosen => quoted.as_str(),
            "@FOR_EACH@" => "\"${var.cidrs}\"",
            "@ATTR@" => "\"${each.value}\"",
            "@DEPENDS@" => "\"ec2_vpc.main\"",
            "@LEASE@" => "\"60s\"",
            _ => "\"x\"",
        };
        plan = plan.replace(slot, filler);
    }
    let files = vec![(PathBuf::from("plans/main.toml"), plan), (PathBuf::from("plans/env/dev.toml"), String::new())];
    let r = kprov::config::load_texts(&files[..1], files[1].clone(), "dev", common::registry());
    common::check_located(r, &files);
});
