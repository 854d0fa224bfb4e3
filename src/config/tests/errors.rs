//! One test per kind of bad input: the message and the exact location.

use super::{fails, fails_in, load_dev, ok, plans, BASE};
use crate::config::testkit::{registry, Plans};
use crate::config::{environments, load, Tmpl};

const VPC: &str = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n";

fn with_vpc(rest: &str) -> String {
    format!("{VPC}\n{rest}")
}

#[test]
fn toml_syntax_error() {
    fails(
        &[("net.toml", "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\n")],
        "net.toml:2:26",
        "invalid basic string",
    );
}

#[test]
fn duplicate_key_in_one_file_is_a_syntax_error() {
    let src = format!("{VPC}\n[resource.ec2_vpc.main]\ncidr_block = \"x\"\n");
    fails(&[("net.toml", &src)], "net.toml:4:1", "duplicate key `main`");
}

#[test]
fn unknown_section() {
    fails(&[("net.toml", "[resources.ec2_vpc.main]\n")], "net.toml:1:2", "unknown section `resources`; expected one of `stack`, `variables`, `locals`, `resource`, `backend`, `drift`, `moved`; did you mean `resource`?");
}

#[test]
fn unknown_kind_lists_known_kinds() {
    fails(
        &[("net.toml", "[resource.ec2_vcp.main]\ncidr_block = \"10.0.0.0/16\"\n")],
        "net.toml:1:11",
        "unknown resource kind `ec2_vcp`; did you mean `ec2_vpc`? (known kinds: ec2_elastic_ip, ec2_internet_gateway,",
    );
}

#[test]
fn unknown_attribute_suggests_closest() {
    fails(
        &[("net.toml", "[resource.ec2_vpc.main]\ncidr = \"10.0.0.0/16\"\n")],
        "net.toml:2:1",
        "unknown attribute `cidr` for ec2_vpc; did you mean `cidr_block`?",
    );
}

#[test]
fn unknown_attribute_without_close_match_lists_attributes() {
    let src = with_vpc("[resource.ec2_route_table.x]\nvpc_id = \"v\"\nzzz = 1\n");
    fails(
        &[("net.toml", &src)],
        "net.toml:6:1",
        "unknown attribute `zzz` for ec2_route_table (attributes: vpc_id, tags)",
    );
}

#[test]
fn wrong_type_for_a_literal() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\nenable_dns_support = \"yes\"\n";
    fails(&[("net.toml", src)], "net.toml:3:22", "`enable_dns_support` of ec2_vpc must be a boolean, got a string");
}

#[test]
fn wrong_type_from_an_expression() {
    let src = "[variables]\nport = \"80\"\n\n[resource.ec2_security_group_rule.r]\nsecurity_group_id = \"sg\"\ntype = \"ingress\"\nprotocol = \"tcp\"\nfrom_port = \"${var.port}\"\n";
    fails(
        &[("net.toml", src)],
        "net.toml:8:13",
        "`from_port` of ec2_security_group_rule must be an integer, got a string",
    );
}

#[test]
fn wrong_type_inside_a_table() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\ntags = { Name = 1 }\n";
    fails(
        &[("net.toml", src)],
        "net.toml:3:8",
        "`tags` of ec2_vpc must be a table of strings, got a table holding an integer",
    );
}

#[test]
fn interpolated_string_must_go_to_a_string_attribute() {
    let src = with_vpc(
        "[resource.ec2_security_group_rule.r]\nsecurity_group_id = \"sg\"\ntype = \"ingress\"\nprotocol = \"tcp\"\nto_port = \"${ec2_vpc.main.id}0\"\n",
    );
    fails(
        &[("net.toml", &src)],
        "net.toml:8:11",
        "`to_port` of ec2_security_group_rule must be an integer, got an interpolated string",
    );
}

#[test]
fn missing_required_attribute_points_at_the_header() {
    let src = with_vpc("[resource.ec2_subnet.a]\nvpc_id = \"${ec2_vpc.main.id}\"\n");
    fails(
        &[("net.toml", &src)],
        "net.toml:4:1",
        "ec2_subnet.a is missing required attributes `cidr_block`, `availability_zone`",
    );
}

#[test]
fn missing_required_attribute_of_an_inline_resource_points_at_its_name() {
    fails(
        &[("net.toml", "[resource.ec2_vpc]\nmain = { enable_dns_support = true }\n")],
        "net.toml:2:1",
        "ec2_vpc.main is missing required attribute `cidr_block`",
    );
}

#[test]
fn computed_attribute_cannot_be_set() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\nmain_route_table_id = \"rtb-1\"\n";
    fails(
        &[("net.toml", src)],
        "net.toml:3:1",
        "`main_route_table_id` is computed by AWS and cannot be set on ec2_vpc",
    );
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\nid = \"vpc-1\"\n";
    fails(&[("net.toml", src)], "net.toml:3:1", "`id` is assigned by AWS and cannot be set");
}

#[test]
fn duplicate_address_across_files() {
    let p = plans(&[("a.toml", VPC), ("b.toml", &format!("# again\n{VPC}"))]);
    let first = p.file("a.toml:1:1");
    fails_in(
        &p,
        "dev",
        "b.toml:2:1",
        &format!("duplicate resource `ec2_vpc.main`: already declared at {}", first.display()),
    );
}

#[test]
fn reference_to_a_missing_resource() {
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"${ec2_vpc.mian.id}\"\n");
    fails(&[("net.toml", &src)], "net.toml:5:13", "no resource `ec2_vpc.mian` is declared; did you mean `main`?");
}

#[test]
fn reference_to_a_missing_instance_key() {
    let src = "[resource.ec2_route_table.rt]\nfor_each = [\"a\", \"b\"]\nvpc_id = \"v\"\n\n[resource.ec2_route.r]\nroute_table_id = \"${ec2_route_table.rt['c'].id}\"\ndestination_cidr_block = \"0.0.0.0/0\"\n";
    fails(&[("net.toml", src)], "net.toml:6:40", "`ec2_route_table.rt` has no instance [\"c\"] (keys: `a`, `b`)");
}

#[test]
fn reference_to_a_repeated_resource_without_a_key() {
    let src = "[resource.ec2_route_table.rt]\nfor_each = [\"a\"]\nvpc_id = \"v\"\n\n[resource.ec2_route.r]\nroute_table_id = \"${ec2_route_table.rt.id}\"\ndestination_cidr_block = \"0.0.0.0/0\"\n";
    fails(&[("net.toml", src)], "net.toml:6:21", "`ec2_route_table.rt` is repeated (for_each): use `ec2_route_table.rt[KEY].ATTR` or `ec2_route_table.rt[*].ATTR`");
}

#[test]
fn key_on_a_resource_without_for_each() {
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"${ec2_vpc.main['a'].id}\"\n");
    fails(&[("net.toml", &src)], "net.toml:5:13", "`ec2_vpc.main` has no for_each, so it takes no [key]");
}

#[test]
fn reference_to_an_attribute_the_target_lacks() {
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"x-${ec2_vpc.main.arn}\"\n");
    fails(&[("net.toml", &src)], "net.toml:5:28", "ec2_vpc has no attribute `arn`");
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"${ec2_vpc.main.cidr}\"\n");
    fails(&[("net.toml", &src)], "net.toml:5:26", "ec2_vpc has no attribute `cidr`; did you mean `cidr_block`?");
}

#[test]
fn depends_on_a_missing_resource() {
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\ndepends_on = [\"ec2_vpc.main\", \"ec2_vpc.other\"]\n");
    fails(&[("net.toml", &src)], "net.toml:5:31", "depends_on names `ec2_vpc.other`, which is not declared");
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\ndepends_on = [\"not an address\"]\n");
    fails(&[("net.toml", &src)], "net.toml:5:15", "`not an address` is not a resource address");
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\ndepends_on = [\"ec2_vpc.main[\\\"a\\\"]\"]\n");
    fails(&[("net.toml", &src)], "net.toml:5:15", "`ec2_vpc.main` has no for_each, so it takes no [key]");
}

#[test]
fn unknown_variable() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${var.vpc_cidr}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:21", "unknown variable `vpc_cidr`");
    let src = "[variables]\nvpc_cidr = \"10.0.0.0/16\"\n[resource.ec2_vpc.main]\ncidr_block = \"${var.vpc_cdir}\"\n";
    fails(&[("net.toml", src)], "net.toml:4:21", "unknown variable `vpc_cdir`; did you mean `vpc_cidr`?");
}

#[test]
fn unknown_local() {
    let src = "[locals]\nprefix = \"p\"\n\n[resource.ec2_vpc.main]\ncidr_block = \"${local.prefx}\"\n";
    fails(&[("net.toml", src)], "net.toml:5:23", "unknown local `prefx`; did you mean `prefix`?");
}

#[test]
fn unknown_name() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${vra.x}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:17", "unknown name `vra`; did you mean `var`?; expected var.NAME");
}

#[test]
fn unknown_function() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${lenght([])}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:17", "unknown function `lenght`; did you mean `length`?");
}

#[test]
fn wrong_arity() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"a${slice([], 0)}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:18", "slice() takes 3 arguments, got 2");
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${lookup()}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:17", "lookup() takes 2 to 3 arguments, got 0");
}

#[test]
fn function_argument_error_points_at_the_argument() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${format('%d', 'x')}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:30", "format(): %d cannot format a string");
}

#[test]
fn expression_syntax_error_points_inside_the_string() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${var.}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:21", "expected a name after `.`, found end of expression");
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"x ${var.a\"\n";
    fails(&[("net.toml", src)], "net.toml:2:17", "unclosed `${`");
}

#[test]
fn interpolating_a_list_into_a_string() {
    let src = "[variables]\nl = [\"a\"]\n[resource.ec2_vpc.main]\ncidr_block = \"x-${var.l}\"\n";
    fails(&[("net.toml", src)], "net.toml:4:19", "cannot put a list into a string");
}

#[test]
fn reference_passed_into_a_function() {
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"${format('%s', ec2_vpc.main.id)}\"\n");
    fails(&[("net.toml", &src)], "net.toml:5:26", "an argument of format() must be known before apply, but it uses `ec2_vpc.main.id`, which is known only after apply");
}

#[test]
fn reference_in_for_each() {
    let src = with_vpc("[resource.ec2_route_table.rt]\nfor_each = \"${[ec2_vpc.main.id]}\"\nvpc_id = \"v\"\n");
    fails(
        &[("net.toml", &src)],
        "net.toml:5:12",
        "for_each must be known before apply, but it uses `ec2_vpc.main.id`, which is known only after apply",
    );
}

#[test]
fn reference_in_a_condition() {
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"${ec2_vpc.main.id == 'x' ? 'a' : 'b'}\"\n");
    fails(
        &[("net.toml", &src)],
        "net.toml:5:13",
        "a comparison must be known before apply, but it uses `ec2_vpc.main.id`",
    );
    let src = with_vpc("[resource.ec2_internet_gateway.gw]\nvpc_id = \"${ec2_vpc.main.id ? 'a' : 'b'}\"\n");
    fails(&[("net.toml", &src)], "net.toml:5:13", "a condition must be known before apply");
}

#[test]
fn condition_must_be_boolean() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${'x' ? 'a' : 'b'}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:17", "a condition must be a boolean, got a string");
}

#[test]
fn for_each_of_the_wrong_type() {
    let src = "[resource.ec2_route_table.rt]\nfor_each = 3\nvpc_id = \"v\"\n";
    fails(&[("net.toml", src)], "net.toml:2:12", "for_each must be a list of strings or a table, got an integer");
    let src = "[resource.ec2_route_table.rt]\nfor_each = [\"a\", \"a\"]\nvpc_id = \"v\"\n";
    fails(&[("net.toml", src)], "net.toml:2:12", "for_each lists `a` twice");
}

#[test]
fn each_outside_for_each() {
    let src = "[resource.ec2_vpc.main]\ncidr_block = \"${each.key}\"\n";
    fails(
        &[("net.toml", src)],
        "net.toml:2:17",
        "`each` is only available in a resource with for_each, and this one has none",
    );
    let src = "[locals]\nx = \"${each.value}\"\n";
    fails(&[("net.toml", src)], "net.toml:2:8", "`each` is only available in a resource with for_each");
}

#[test]
fn local_cycle() {
    let src = "[locals]\na = \"${local.b}\"\nb = \"x-${local.c}\"\nc = \"${local.a}\"\n";
    fails(&[("net.toml", src)], "net.toml:4:14", "cycle in locals: a → b → c → a");
}

#[test]
fn overlay_sets_an_undeclared_variable() {
    let p = Plans::new(&[
        ("stack.toml", "[stack]\nname = \"t\"\n[variables]\nregion = \"r\"\naz_count = 3\n"),
        ("env/dev.toml", "[variables]\naz_cuont = 2\n"),
    ]);
    fails_in(
        &p,
        "dev",
        "env/dev.toml:2:1",
        "unknown variable `az_cuont` (not declared in the base plan files); did you mean `az_count`?",
    );
}

#[test]
fn overlay_changes_a_variable_type() {
    let p = Plans::new(&[
        ("stack.toml", "[stack]\nname = \"t\"\n[variables]\nregion = \"r\"\naz_count = 3\n"),
        ("env/dev.toml", "[variables]\naz_count = \"2\"\n"),
    ]);
    fails_in(&p, "dev", "env/dev.toml:2:12", "variable `az_count` is an integer (declared at");
}

#[test]
fn overlay_may_only_hold_variables() {
    let p = Plans::new(&[
        ("stack.toml", BASE),
        ("env/dev.toml", "[variables]\n\n[resource.ec2_vpc.x]\ncidr_block = \"c\"\n"),
    ]);
    fails_in(
        &p,
        "dev",
        "env/dev.toml:3:2",
        "an environment overlay may only set [variables]; `resource` is not allowed here",
    );
}

#[test]
fn missing_overlay_names_the_environments() {
    let p = Plans::new(&[("stack.toml", BASE), ("env/dev.toml", ""), ("env/prod.toml", "")]);
    fails_in(&p, "qa", "env/qa.toml:1:1", "unknown environment `qa`; environments: dev, prod");
    fails_in(&p, "../stack", "env/../stack.toml:1:1", "unknown environment `../stack`");
    assert_eq!(environments(p.path()), ["dev", "prod"]);
}

#[test]
fn region_is_required() {
    let p = Plans::new(&[("a.toml", "[stack]\nname = \"t\"\n"), ("env/dev.toml", "")]);
    fails_in(&p, "dev", "a.toml:1:1", "missing variable `region`");
    let p = Plans::new(&[("a.toml", "[stack]\nname = \"t\"\n[variables]\nregion = 1\n"), ("env/dev.toml", "")]);
    fails_in(&p, "dev", "a.toml:4:10", "variable `region` must be a non-empty string");
}

#[test]
fn stack_must_be_defined_exactly_once() {
    let p = Plans::new(&[("a.toml", "[variables]\nregion = \"r\"\n"), ("env/dev.toml", "")]);
    fails_in(&p, "dev", "a.toml:1:1", "no plan file defines the stack");
    let p = Plans::new(&[("a.toml", BASE), ("b.toml", "\n[stack]\nname = \"u\"\n"), ("env/dev.toml", "")]);
    let first = p.file("a.toml:1:1");
    fails_in(&p, "dev", "b.toml:2:1", &format!("[stack] is already defined at {}", first.display()));
    let p = Plans::new(&[("a.toml", "[stack]\nnam = \"t\"\n"), ("env/dev.toml", "")]);
    fails_in(
        &p,
        "dev",
        "a.toml:2:1",
        "unknown key `nam` in [stack]; expected `name`, `default_tags`; did you mean `name`?",
    );
}

#[test]
fn default_tags_must_be_a_table() {
    let p = Plans::new(&[
        ("a.toml", "[stack]\nname = \"t\"\ndefault_tags = \"x\"\n[variables]\nregion = \"r\"\n"),
        ("env/dev.toml", ""),
    ]);
    fails_in(&p, "dev", "a.toml:3:16", "default_tags must be a table of strings, got a string");
}

#[test]
fn empty_plans_directory() {
    let p = Plans::new(&[("env/dev.toml", "")]);
    let e = load(p.path(), "dev", &registry()).unwrap_err();
    let want = format!("{}:1:1: no plan files (*.toml) in the plans directory", p.path().display());
    assert_eq!(e.to_string(), want);
}

#[test]
fn no_panic_on_odd_input() {
    let odd = [
        "[resource]\nec2_vpc = 1\n",
        "[resource.ec2_vpc]\nmain = 1\n",
        "resource = []\n",
        "[[resource.ec2_vpc.main]]\ncidr_block = \"x\"\n",
        "[resource.ec2_vpc.\"a b\"]\ncidr_block = \"x\"\n",
        "[locals]\nx = \"${${}}\"\n",
        "[locals]\nx = \"${'\\\\q'}\"\n",
        "[locals]\nx = \"${[1,2][5]}\"\n",
        "[locals]\nx = \"${[1,2][-1]}\"\n",
        "[locals]\nx = \"${99999999999999999999}\"\n",
        "[locals]\nx = \"${slice([1], 1, 0)}\"\n",
        "[locals]\nx = \"${format('%')}\"\n",
        "[locals]\nx = \"${é}\"\n",
        "[locals]\nx = \"é${\"\n",
        "[locals]\nx = \"\"\"\n${var.\"\"\"\n",
        "[locals]\nx = \"\\u00e9${var.x}\"\n",
        "[locals]\nx = \"${local.x}\"\n",
        "[locals]\nx = \"${keys(1)[0].a}\"\n",
        "[resource.ec2_route_table.rt]\nfor_each = \"${ec2_route_table.rt[*].id}\"\nvpc_id = \"v\"\n",
        "[resource.ec2_route_table.rt]\nfor_each = \"${local.k}\"\nvpc_id = \"v\"\n[locals]\nk = \"${ec2_route_table.rt[*].id}\"\n",
        "[resource.ec2_vpc.main]\ncidr_block = \"${ec2_vpc}\"\n",
        "[resource.ec2_vpc.main]\ncidr_block = \"${ec2_vpc.main}\"\n",
        "[resource.ec2_vpc.main]\ncidr_block = \"${ec2_vpc.main.id.x}\"\n",
        "[resource.ec2_vpc.main]\ncidr_block = \"${ec2_vpc.main.id[0]}\"\n",
        "[resource.ec2_vpc.main]\ncidr_block = \"x\"\ndepends_on = \"ec2_vpc.main\"\n",
    ];
    for src in odd {
        let p = plans(&[("net.toml", src)]);
        match load_dev(&p) {
            Ok(_) => panic!("expected an error for {src:?}"),
            Err(e) => assert!(e.to_string().starts_with(&p.path().display().to_string()), "{e}"),
        }
    }
    // Renders with miette without panicking.
    let p = plans(&[("net.toml", odd[0])]);
    let e = load(p.path(), "dev", &registry()).unwrap_err();
    let mut out = String::new();
    miette::GraphicalReportHandler::new().render_report(&mut out, &e).unwrap();
    assert!(out.contains("net.toml"), "{out}");
}

#[test]
fn drift_ignore_rules_are_checked_with_locations() {
    fails(&[("net.toml", &with_vpc("[drift]\nignroe = []\n"))], "net.toml:5:1", "unknown key `ignroe` in [drift]");
    fails(
        &[("net.toml", &with_vpc("[drift]\nignore = [{ kind = \"ec2_vcp\" }]\n"))],
        "net.toml:5:20",
        "unknown resource kind `ec2_vcp` in an ignore rule; did you mean `ec2_vpc`?",
    );
    fails(
        &[("net.toml", &with_vpc("[drift]\nignore = [{ kind = \"ec2_vpc\", atributes = [\"tags\"] }]\n"))],
        "net.toml:5:31",
        "unknown key `atributes` in an ignore rule",
    );
    fails(&[("net.toml", &with_vpc("[drift]\nignore = [{}]\n"))], "net.toml:5:11", "an empty ignore rule");
    fails(&[("net.toml", &with_vpc("[drift]\nignore = \"all\"\n"))], "net.toml:5:10", "must be a list of tables");
}

/// Load `src` as `net.toml`; the error must be located in it and say `message`.
fn fails_somewhere_in_net(src: &str, message: &str) {
    let p = plans(&[("net.toml", src)]);
    let e = load_dev(&p).err().unwrap_or_else(|| panic!("expected an error: {message}"));
    let text = e.to_string();
    assert!(text.starts_with(&format!("{}:", p.file("net.toml").display())), "{text}");
    assert!(text.contains(message), "{text}");
}

/// Found by fuzzing: thousands of locals, each naming the next, overflowed the stack (and the
/// lookups were quadratic). A long chain is now a located error; a realistic one still loads.
#[test]
fn long_chains_of_locals_are_refused_not_overflowed() {
    let chain = |n: usize| {
        let mut s = String::from("[locals]\n");
        for i in 0..n {
            s.push_str(&format!("l{i} = \"${{local.l{}}}\"\n", i + 1));
        }
        s.push_str(&format!("l{n} = \"end\"\n"));
        s
    };
    fails_somewhere_in_net(&chain(20_000), "evaluation nested too deeply (starting from local `l0`)");
    ok(&[("net.toml", &chain(100))]);
}

/// Found by fuzzing: the same through `for_each`s that each depend on the next resource's keys.
#[test]
fn long_chains_of_for_each_are_refused_not_overflowed() {
    let chain = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                "[resource.ec2_vpc.v{i}]\ncidr_block = \"10.0.0.0/16\"\nfor_each = \"${{ec2_vpc.v{}[*].id}}\"\n",
                i + 1
            ));
        }
        s.push_str(&format!("[resource.ec2_vpc.v{n}]\ncidr_block = \"10.0.0.0/16\"\nfor_each = [\"a\"]\n"));
        s
    };
    fails_somewhere_in_net(&chain(3_000), "evaluation nested too deeply");
}

/// The deepest expressions in each of a chain of locals: the depth bound covers both.
#[test]
fn deeply_nested_expressions_across_locals_are_refused_not_overflowed() {
    let mut s = String::from(
        "[locals]
",
    );
    for i in 0..100 {
        let open = "[".repeat(62);
        let close = "]".repeat(62);
        s.push_str(&format!("l{i} = \"${{{open}local.l{}{close}}}\"\n", i + 1));
    }
    s.push_str("l100 = 1\n");
    fails_somewhere_in_net(&s, "evaluation nested too deeply");
}

#[test]
fn templates_in_table_keys_are_evaluated_and_a_resource_reference_is_refused() {
    let s = ok(&[(
        "a.toml",
        "[locals]\nc = \"prod-1\"\n\n[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\
         tags = { \"k8s.io/cluster/${local.c}\" = \"owned\", \"${stack.env}-x\" = \"1\" }\n",
    )]);
    let tags = s.resources[0].attrs.get("tags").cloned();
    assert_eq!(tags, Some(Tmpl::Lit(serde_json::json!({"k8s.io/cluster/prod-1": "owned", "dev-x": "1"}))));
    fails(
        &[(
            "a.toml",
            "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n[resource.ec2_vpc.b]\ncidr_block = \"10.1.0.0/16\"\n\
             tags = { \"x-${ec2_vpc.main.id}\" = \"1\" }\n",
        )],
        "a.toml:6:10",
        "a table key must be known before apply",
    );
    fails(
        &[(
            "a.toml",
            "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\ntags = { \"${stack.env}\" = \"1\", dev = \"2\" }\n",
        )],
        "a.toml:3:32",
        "the key `dev` is in this table twice",
    );
}
