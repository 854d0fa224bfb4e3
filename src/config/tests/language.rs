//! The language working as documented: overlays, locals, for_each, interpolation, references,
//! conditionals, functions, default_tags, depends_on, ordering and locations.

use serde_json::json;

use super::ok;
use crate::config::testkit::{registry, Plans};
use crate::config::{load, ResourceDecl, Stack, Tmpl};
use crate::resource::Address;

fn addr(s: &str) -> Address {
    s.parse().expect("address")
}

fn get<'s>(stack: &'s Stack, a: &str) -> &'s ResourceDecl {
    let a = addr(a);
    stack.resources.iter().find(|r| r.address == a).unwrap_or_else(|| panic!("no {a}"))
}

fn attr<'s>(stack: &'s Stack, a: &str, name: &str) -> &'s Tmpl {
    get(stack, a).attrs.get(name).unwrap_or_else(|| panic!("{a} has no {name}"))
}

fn lit(v: serde_json::Value) -> Tmpl {
    Tmpl::Lit(v)
}

fn r(target: &str, attr: &str) -> Tmpl {
    Tmpl::Ref { target: addr(target), attr: attr.into() }
}

fn addresses(stack: &Stack) -> Vec<String> {
    stack.resources.iter().map(|r| r.address.to_string()).collect()
}

#[test]
fn overlay_overrides_variables_and_stack_values_are_set() {
    let p = Plans::new(&[
        ("stack.toml", "[stack]\nname = \"plat\"\n[variables]\nregion = \"us-east-1\"\ncidr = \"10.0.0.0/16\"\n"),
        ("net.toml", "[resource.ec2_vpc.main]\ncidr_block = \"${var.cidr}\"\ntags = { Env = \"${stack.env}\", Stack = \"${stack.name}\" }\n"),
        ("env/prod.toml", "[variables]\nregion = \"eu-west-1\"\ncidr = \"10.9.0.0/16\"\n"),
        ("env/dev.toml", ""),
    ]);
    let prod = load(p.path(), "prod", &registry()).unwrap();
    assert_eq!((prod.name.as_str(), prod.env.as_str(), prod.region.as_str()), ("plat", "prod", "eu-west-1"));
    assert_eq!(attr(&prod, "ec2_vpc.main", "cidr_block"), &lit(json!("10.9.0.0/16")));
    assert_eq!(attr(&prod, "ec2_vpc.main", "tags"), &lit(json!({"Env": "prod", "Stack": "plat"})));
    let dev = load(p.path(), "dev", &registry()).unwrap();
    assert_eq!(dev.region, "us-east-1");
    assert_eq!(attr(&dev, "ec2_vpc.main", "cidr_block"), &lit(json!("10.0.0.0/16")));
}

#[test]
fn locals_refer_to_variables_and_each_other_in_any_order() {
    let s = ok(&[(
        "net.toml",
        "[locals]\ncidr = \"${local.base}/16\"\nbase = \"${var.net}.0.0\"\n[variables]\nnet = \"10.1\"\n\n[resource.ec2_vpc.main]\ncidr_block = \"${local.cidr}\"\n",
    )]);
    assert_eq!(attr(&s, "ec2_vpc.main", "cidr_block"), &lit(json!("10.1.0.0/16")));
}

#[test]
fn for_each_over_a_list() {
    let s = ok(&[(
        "net.toml",
        "[resource.ec2_route_table.rt]\nfor_each = [\"b\", \"a\"]\nvpc_id = \"vpc-${each.key}-${each.value}\"\n",
    )]);
    assert_eq!(addresses(&s), ["ec2_route_table.rt[\"a\"]", "ec2_route_table.rt[\"b\"]"]);
    assert_eq!(attr(&s, "ec2_route_table.rt[\"b\"]", "vpc_id"), &lit(json!("vpc-b-b")));
}

#[test]
fn for_each_over_a_map() {
    let s = ok(&[(
        "net.toml",
        "[variables]\nsubnets = { \"us-east-1b\" = \"10.0.2.0/24\", \"us-east-1a\" = \"10.0.1.0/24\" }\n\n\
         [resource.ec2_subnet.public]\nfor_each = \"${var.subnets}\"\nvpc_id = \"v\"\navailability_zone = \"${each.key}\"\ncidr_block = \"${each.value}\"\n",
    )]);
    assert_eq!(addresses(&s), ["ec2_subnet.public[\"us-east-1a\"]", "ec2_subnet.public[\"us-east-1b\"]"]);
    let b = get(&s, "ec2_subnet.public[\"us-east-1b\"]");
    assert_eq!(b.attrs["availability_zone"], lit(json!("us-east-1b")));
    assert_eq!(b.attrs["cidr_block"], lit(json!("10.0.2.0/24")));
}

#[test]
fn interpolation_keeps_references_and_whole_expressions_keep_their_type() {
    let s = ok(&[(
        "net.toml",
        "[variables]\nport = 443\non = true\n\n\
         [resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\nenable_dns_support = \"${var.on}\"\n\n\
         [resource.ec2_security_group.sg]\nname = \"sg-for-${ec2_vpc.main.id}\"\nvpc_id = \"${ec2_vpc.main.id}\"\n\n\
         [resource.ec2_security_group_rule.r]\nsecurity_group_id = \"${ec2_security_group.sg.id}\"\ntype = \"ingress\"\n\
         protocol = \"tcp\"\nfrom_port = \"${var.port}\"\ndescription = \"port ${var.port} ok=${var.on} $${literal}\"\n",
    )]);
    assert_eq!(attr(&s, "ec2_vpc.main", "enable_dns_support"), &lit(json!(true)));
    assert_eq!(
        attr(&s, "ec2_security_group.sg", "name"),
        &Tmpl::Concat(vec![lit(json!("sg-for-")), r("ec2_vpc.main", "id")])
    );
    assert_eq!(attr(&s, "ec2_security_group.sg", "vpc_id"), &r("ec2_vpc.main", "id"));
    assert_eq!(attr(&s, "ec2_security_group_rule.r", "from_port"), &lit(json!(443)));
    assert_eq!(attr(&s, "ec2_security_group_rule.r", "description"), &lit(json!("port 443 ok=true ${literal}")));
    assert_eq!(get(&s, "ec2_security_group_rule.r").dependencies(), [addr("ec2_security_group.sg")]);
}

#[test]
fn keyed_and_splat_references() {
    let s = ok(&[(
        "net.toml",
        "[resource.ec2_route_table.rt]\nfor_each = [\"b\", \"a\"]\nvpc_id = \"v\"\n\n\
         [resource.ec2_route.r]\nfor_each = [\"a\", \"b\"]\nroute_table_id = \"${ec2_route_table.rt[each.key].id}\"\ndestination_cidr_block = \"0.0.0.0/0\"\n\n\
         [resource.ec2_vpc.v]\ncidr_block = \"c\"\ntags = { All = \"${ec2_route_table.rt['a'].id}\" }\n",
    )]);
    assert_eq!(attr(&s, "ec2_route.r[\"b\"]", "route_table_id"), &r("ec2_route_table.rt[\"b\"]", "id"));
    assert_eq!(
        attr(&s, "ec2_vpc.v", "tags"),
        &Tmpl::Map([("All".to_string(), r("ec2_route_table.rt[\"a\"]", "id"))].into())
    );
    // [*] is a list over all instances, sorted by key: checked through a local.
    let s = ok(&[(
        "net.toml",
        "[resource.ec2_route_table.rt]\nfor_each = [\"b\", \"a\"]\nvpc_id = \"v\"\n\n\
         [locals]\nids = \"${ec2_route_table.rt[*].id}\"\n\n\
         [resource.ec2_vpc.v]\ncidr_block = \"c\"\ntags = { First = \"${local.ids[0]}\" }\n",
    )]);
    assert_eq!(
        attr(&s, "ec2_vpc.v", "tags"),
        &Tmpl::Map([("First".to_string(), r("ec2_route_table.rt[\"a\"]", "id"))].into())
    );
}

#[test]
fn splat_produces_a_list_of_references() {
    // No kind in the test registry takes a list, so check the evaluated local directly.
    use crate::config::diag::Sources;
    use crate::config::eval::Evaluator;
    use crate::config::load::read_plans;
    let p = super::plans(&[(
        "net.toml",
        "[resource.ec2_route_table.rt]\nfor_each = [\"b\", \"a\"]\nvpc_id = \"v\"\n[locals]\nids = \"${ec2_route_table.rt[*].id}\"\n",
    )]);
    let reg = registry();
    let mut src = Sources::default();
    let plan = read_plans(p.path(), "dev", &reg, &mut src).unwrap();
    let mut ev = Evaluator::new(&src, &reg, &plan, "dev");
    let ids = ev.local("ids", plan.locals[0].key_span).unwrap();
    assert_eq!(ids, Tmpl::List(vec![r("ec2_route_table.rt[\"a\"]", "id"), r("ec2_route_table.rt[\"b\"]", "id")]));
}

#[test]
fn conditionals_choose_a_branch_and_may_yield_references() {
    let s = ok(&[(
        "net.toml",
        "[variables]\nmode = \"single\"\n\n\
         [resource.ec2_nat_gateway.nat]\nfor_each = [\"a\"]\nsubnet_id = \"s\"\n\n\
         [resource.ec2_route.r]\nfor_each = [\"a\", \"b\"]\nroute_table_id = \"${var.mode != 'single' ? 'x' : format('rt-%s', each.key)}\"\n\
         destination_cidr_block = \"0.0.0.0/0\"\n\
         nat_gateway_id = \"${ec2_nat_gateway.nat[var.mode == 'single' ? 'a' : each.key].id}\"\n\
         gateway_id = \"${var.mode == 'single' ? ec2_nat_gateway.nat['a'].id : ec2_nat_gateway.nat[each.key].id}\"\n",
    )]);
    assert_eq!(attr(&s, "ec2_route.r[\"b\"]", "route_table_id"), &lit(json!("rt-b")));
    assert_eq!(attr(&s, "ec2_route.r[\"b\"]", "nat_gateway_id"), &r("ec2_nat_gateway.nat[\"a\"]", "id"));
    // The untaken branch names the missing instance nat["b"]: it is not evaluated.
    assert_eq!(attr(&s, "ec2_route.r[\"b\"]", "gateway_id"), &r("ec2_nat_gateway.nat[\"a\"]", "id"));
}

#[test]
fn functions() {
    let s = ok(&[(
        "net.toml",
        "[variables]\nazs = [\"a\", \"b\", \"c\"]\ncidrs = [\"1\", \"2\", \"3\"]\nextra = { X = \"x\" }\n\n\
         [locals]\nzones = \"${slice(var.azs, 0, 2)}\"\nby_az = \"${zipmap(local.zones, slice(var.cidrs, 0, length(local.zones)))}\"\n\n\
         [resource.ec2_vpc.main]\ncidr_block = \"${format('%s/%d', lookup(local.by_az, 'b'), 16)}\"\n\
         instance_tenancy = \"${lookup(local.by_az, 'z', 'default')}\"\n\
         tags = \"${merge(var.extra, zipmap(keys(local.by_az), values(local.by_az)), zipmap(concat(['n'], []), [format('%s', length('abc'))]))}\"\n",
    )]);
    assert_eq!(attr(&s, "ec2_vpc.main", "cidr_block"), &lit(json!("2/16")));
    assert_eq!(attr(&s, "ec2_vpc.main", "instance_tenancy"), &lit(json!("default")));
    assert_eq!(attr(&s, "ec2_vpc.main", "tags"), &lit(json!({"X": "x", "a": "1", "b": "2", "n": "3"})));
}

#[test]
fn default_tags_merge_into_resources_with_tags() {
    let p = Plans::new(&[
        (
            "stack.toml",
            "[stack]\nname = \"t\"\ndefault_tags = { Env = \"${stack.env}\", Team = \"core\" }\n[variables]\nregion = \"r\"\n",
        ),
        (
            "net.toml",
            "[resource.ec2_vpc.main]\ncidr_block = \"c\"\ntags = { Team = \"net\", Name = \"${ec2_vpc.main.id}\" }\n\n\
             [resource.ec2_internet_gateway.gw]\n\n\
             [resource.ec2_route.r]\nroute_table_id = \"x\"\ndestination_cidr_block = \"0.0.0.0/0\"\n",
        ),
        ("env/dev.toml", ""),
    ]);
    let s = load(p.path(), "dev", &registry()).unwrap();
    assert_eq!(
        attr(&s, "ec2_vpc.main", "tags"),
        &Tmpl::Map(
            [
                ("Env".to_string(), lit(json!("dev"))),
                ("Name".to_string(), r("ec2_vpc.main", "id")),
                ("Team".to_string(), lit(json!("net"))),
            ]
            .into()
        )
    );
    assert_eq!(attr(&s, "ec2_internet_gateway.gw", "tags"), &lit(json!({"Env": "dev", "Team": "core"})));
    // ec2_route has no tags attribute.
    assert!(!get(&s, "ec2_route.r").attrs.contains_key("tags"));
}

#[test]
fn depends_on_expands_repeated_resources() {
    let s = ok(&[(
        "net.toml",
        "[resource.ec2_route_table.rt]\nfor_each = [\"a\", \"b\"]\nvpc_id = \"v\"\n\n\
         [resource.ec2_vpc.main]\ncidr_block = \"c\"\n\n\
         [resource.ec2_internet_gateway.gw]\nfor_each = [\"a\"]\n\
         depends_on = [\"ec2_route_table.rt\", \"ec2_vpc.main\", \"ec2_route_table.rt[\\\"${each.key}\\\"]\"]\n",
    )]);
    let gw = get(&s, "ec2_internet_gateway.gw[\"a\"]");
    assert_eq!(
        gw.depends_on,
        [addr("ec2_route_table.rt[\"a\"]"), addr("ec2_route_table.rt[\"b\"]"), addr("ec2_vpc.main"),]
    );
    assert_eq!(
        gw.dependencies(),
        [addr("ec2_route_table.rt[\"a\"]"), addr("ec2_route_table.rt[\"b\"]"), addr("ec2_vpc.main")]
    );
}

#[test]
fn order_is_files_then_declarations_and_locations_point_at_headers() {
    let s = ok(&[
        (
            "b.toml",
            "[resource.ec2_vpc.one]\ncidr_block = \"c\"\n\n[resource.ec2_internet_gateway.gw]\n\n\
             [resource.ec2_vpc.two]\ncidr_block = \"c\"\n\n[resource.ec2_vpc]\nthree = { cidr_block = \"c\" }\n",
        ),
        ("a.toml", "# first file\n\n  [resource.ec2_route_table.rt]\n  vpc_id = \"v\"\n"),
    ]);
    assert_eq!(
        addresses(&s),
        ["ec2_route_table.rt", "ec2_vpc.one", "ec2_internet_gateway.gw", "ec2_vpc.two", "ec2_vpc.three"]
    );
    let loc = |a: &str| {
        let l = &get(&s, a).loc;
        format!("{}:{}:{}", l.file.file_name().unwrap().to_string_lossy(), l.line, l.col)
    };
    assert_eq!(loc("ec2_route_table.rt"), "a.toml:3:3");
    assert_eq!(loc("ec2_internet_gateway.gw"), "b.toml:4:1");
    assert_eq!(loc("ec2_vpc.three"), "b.toml:10:1");
}

#[test]
fn a_stack_without_resources_loads() {
    let s = ok(&[]);
    assert!(s.resources.is_empty());
    assert_eq!((s.name.as_str(), s.region.as_str()), ("t", "us-east-1"));
}

#[test]
fn drift_ignore_rules_are_loaded() {
    let s = ok(&[(
        "net.toml",
        "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n[drift]\nignore = [\n  { kind = \"ec2_vpc\", attributes = [\"tags.Owner\"] },\n  { address = \"ec2_subnet.*\" },\n]\n",
    )]);
    assert_eq!(s.drift_ignore.len(), 2);
    assert_eq!(s.drift_ignore[0].kind.as_deref(), Some("ec2_vpc"));
    assert_eq!(s.drift_ignore[0].attributes, vec!["tags.Owner".to_string()]);
    assert_eq!(s.drift_ignore[1].address.as_deref(), Some("ec2_subnet.*"));
    assert!(s.drift_ignore[1].attributes.is_empty());
}
