//! Replacement semantics of the diff and of the operation graph built from it: the cascade
//! to resources that live in a replaced parent, `lifecycle` (ignore_changes, prevent_destroy,
//! create_before_destroy), the node-group default, and the warning for stateful kinds.

use std::collections::BTreeMap;
use std::sync::Arc;

use petgraph::visit::EdgeRef;
use serde_json::json;

use super::*;
use crate::config::testkit::Dummy;
use crate::config::{Lifecycle, SourceLoc};
use crate::engine::events::OpKind;
use crate::resource::{AttrSchema as A, AttrType as T};

/// Cut-down EKS kinds with the real markers: the cluster is stateful, an add-on and a node
/// group live in it, node groups replace create-before-destroy; a log group merely uses the
/// cluster's name.
fn registry() -> Registry {
    let kinds: Vec<(&'static str, Schema)> = vec![
        (
            "eks_cluster",
            Schema::new(vec![
                A::required("name", T::String).force_new(),
                A::required("subnet_ids", T::StringList).unordered(),
                A::optional("encryption_kms_key_arn", T::String).force_new(),
                A::optional("tags", T::StringMap),
                A::computed("arn", T::String),
            ])
            .stateful(),
        ),
        (
            "eks_addon",
            Schema::new(vec![
                A::required("cluster_name", T::String).force_new().parent(),
                A::required("addon_name", T::String).force_new(),
                A::optional("addon_version", T::String),
            ]),
        ),
        (
            "eks_nodegroup",
            Schema::new(vec![
                A::required("cluster_name", T::String).force_new().parent(),
                A::required("name", T::String).force_new(),
                A::required("subnet_ids", T::StringList).force_new().unordered(),
                A::required("max_size", T::Int),
                A::optional("tags", T::StringMap),
            ])
            .stateful()
            .create_before_destroy(),
        ),
        ("logs_log_group", Schema::new(vec![A::required("name", T::String).force_new()])),
    ];
    kinds.into_iter().fold(Registry::new(), |r, (kind, schema)| r.with(Arc::new(Dummy { kind, schema })))
}

fn addr(s: &str) -> Address {
    s.parse().expect("address")
}

fn r(target: &str, attr: &str) -> Tmpl {
    Tmpl::Ref { target: addr(target), attr: attr.into() }
}

fn lit(v: Value) -> Tmpl {
    Tmpl::Lit(v)
}

fn decl(address: &str, attrs: Vec<(&str, Tmpl)>, lifecycle: Lifecycle) -> ResourceDecl {
    ResourceDecl {
        address: addr(address),
        attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        depends_on: vec![],
        lifecycle,
        loc: SourceLoc { file: "plans/x.toml".into(), line: 3, col: 1 },
        attr_locs: Default::default(),
    }
}

/// A platform as applied: the cluster, an add-on, a node group and a log group, with the
/// attributes they have now.
struct World {
    decls: Vec<ResourceDecl>,
    state: State,
    refreshed: Refreshed,
}

fn world(cluster_key: &str, ng_lifecycle: Lifecycle, addon_lifecycle: Lifecycle) -> World {
    let decls = vec![
        decl(
            "eks_cluster.main",
            vec![
                ("name", lit(json!("platform-dev"))),
                ("subnet_ids", lit(json!(["s-a", "s-b"]))),
                ("encryption_kms_key_arn", lit(json!(cluster_key))),
                ("tags", lit(json!({"team": "core"}))),
            ],
            Lifecycle::default(),
        ),
        decl(
            "eks_addon.vpc_cni",
            vec![
                ("cluster_name", r("eks_cluster.main", "name")),
                ("addon_name", lit(json!("vpc-cni"))),
                ("addon_version", lit(json!("v1.18.0"))),
            ],
            addon_lifecycle,
        ),
        decl(
            "eks_nodegroup.system",
            vec![
                ("cluster_name", r("eks_cluster.main", "name")),
                ("name", lit(json!("system"))),
                ("subnet_ids", lit(json!(["s-a", "s-b"]))),
                ("max_size", lit(json!(3))),
            ],
            ng_lifecycle,
        ),
        decl("logs_log_group.cluster", vec![("name", r("eks_cluster.main", "name"))], Lifecycle::default()),
    ];
    let exists: Vec<(&str, &str, Value)> = vec![
        (
            "eks_cluster.main",
            "platform-dev",
            json!({"name": "platform-dev", "subnet_ids": ["s-a", "s-b"], "encryption_kms_key_arn": "key-1",
                   "tags": {"team": "core"}, "arn": "arn:cluster"}),
        ),
        (
            "eks_addon.vpc_cni",
            "platform-dev/vpc-cni",
            json!({"cluster_name": "platform-dev", "addon_name": "vpc-cni", "addon_version": "v1.18.0"}),
        ),
        (
            "eks_nodegroup.system",
            "platform-dev/system",
            json!({"cluster_name": "platform-dev", "name": "system", "subnet_ids": ["s-a", "s-b"], "max_size": 3, "tags": {}}),
        ),
        ("logs_log_group.cluster", "platform-dev", json!({"name": "platform-dev"})),
    ];
    let mut state = State::new("platform", "dev");
    let mut refreshed = Refreshed::default();
    for (a, id, attrs) in exists {
        let attrs: Attrs = serde_json::from_value(attrs).expect("attrs");
        let deps = if a == "eks_cluster.main" { vec![] } else { vec!["eks_cluster.main".to_string()] };
        state.resources.insert(
            a.to_string(),
            crate::state::ResourceState {
                kind: addr(a).kind,
                id: Some(id.into()),
                status: Status::Created,
                client_token: None,
                attributes: attrs.clone(),
                dependencies: deps,
            },
        );
        refreshed.observed.insert(a.to_string(), Observed { id: id.into(), attrs, owner_address: Some(a.into()) });
    }
    World { decls, state, refreshed }
}

fn plan_of(w: &World) -> (Plan, Stack) {
    let stack = Stack {
        name: "platform".into(),
        env: "dev".into(),
        region: "eu-west-1".into(),
        resources: w.decls.clone(),
        backend: None,
        drift_ignore: vec![],
        moved: vec![],
    };
    let order: Vec<Address> = w.decls.iter().map(|d| d.address.clone()).collect();
    let reg = registry();
    let plan = diff(DiffInput {
        stack: &stack,
        registry: &reg,
        state: Some(&w.state),
        refreshed: &w.refreshed,
        order: &order,
    });
    (plan, stack)
}

fn change<'p>(plan: &'p Plan, a: &str) -> &'p Change {
    plan.changes.iter().find(|c| c.address.to_string() == a).expect("change")
}

#[test]
fn what_lives_in_a_replaced_cluster_is_replaced_with_it_and_nothing_else() {
    let w = world("key-2", Lifecycle::default(), Lifecycle::default());
    let (plan, _) = plan_of(&w);
    let cluster = change(&plan, "eks_cluster.main");
    assert_eq!(cluster.action, Action::Replace);
    assert_eq!(cluster.forced_by, ["`encryption_kms_key_arn`"]);
    // The add-on's cluster_name stays "platform-dev" (known, unchanged), yet it is replaced.
    let addon = change(&plan, "eks_addon.vpc_cni");
    assert_eq!(addon.action, Action::Replace, "{addon:?}");
    assert!(addon.attrs.is_empty(), "no attribute differs: {:?}", addon.attrs);
    assert_eq!(addon.forced_by, ["the replacement of eks_cluster.main"]);
    // The node group too, and since its parent is replaced destroy-first, it is too.
    let ng = change(&plan, "eks_nodegroup.system");
    assert_eq!(ng.action, Action::Replace);
    assert!(!ng.create_before_destroy);
    assert!(ng.note.as_deref().unwrap_or_default().contains("eks_cluster.main is replaced destroy-first"), "{ng:?}");
    // A resource that only uses the name (and survives the cluster in AWS) is left alone.
    assert_eq!(change(&plan, "logs_log_group.cluster").action, Action::NoOp);
    // Stateful kinds get a warning naming what forces it.
    let warning = cluster.warning.as_deref().expect("warning");
    assert!(warning.contains("eks_cluster.main") && warning.contains("`encryption_kms_key_arn`"), "{warning}");
    assert!(ng
        .warning
        .as_deref()
        .expect("node group warning")
        .contains("forced by the replacement of eks_cluster.main"));
    assert!(addon.warning.is_none(), "add-ons are not stateful");
    let text = super::super::render::text(&plan);
    assert!(
        text.contains("Warning: eks_cluster.main (eks_cluster) will be replaced, forced by `encryption_kms_key_arn`: it is deleted"),
        "{text}"
    );
    assert_eq!(text.matches("Warning: ").count(), 2, "{text}");
    assert!(
        text.contains("-/+ eks_addon.vpc_cni must be replaced (lives in eks_cluster.main, which is replaced)"),
        "{text}"
    );

    // Operations: children deleted before the old cluster, made again after the new one.
    let g = crate::engine::ops::build(&plan).expect("no cycle");
    let find =
        |a: &str, k: OpKind| g.node_indices().find(|&i| g[i].address.to_string() == a && g[i].kind == k).expect("op");
    let before = |x, y| petgraph::algo::has_path_connecting(&g, x, y, None);
    let (cd, cc) = (find("eks_cluster.main", OpKind::Delete), find("eks_cluster.main", OpKind::Create));
    for child in ["eks_addon.vpc_cni", "eks_nodegroup.system"] {
        assert!(before(find(child, OpKind::Delete), cd), "{child} is deleted before the cluster");
        assert!(before(cc, find(child, OpKind::Create)), "{child} is created after the new cluster");
    }
}

#[test]
fn an_in_place_change_of_the_parent_leaves_its_children_alone() {
    let mut w = world("key-1", Lifecycle::default(), Lifecycle::default());
    w.decls[0].attrs.insert("subnet_ids".into(), lit(json!(["s-a"])));
    let (plan, _) = plan_of(&w);
    assert_eq!(change(&plan, "eks_cluster.main").action, Action::Update);
    assert!(change(&plan, "eks_cluster.main").warning.is_none());
    for a in ["eks_addon.vpc_cni", "eks_nodegroup.system", "logs_log_group.cluster"] {
        assert_eq!(change(&plan, a).action, Action::NoOp, "{a}");
    }
}

#[test]
fn node_groups_replace_create_before_destroy_and_dependents_move_first() {
    let mut w = world("key-1", Lifecycle::default(), Lifecycle::default());
    w.decls[2].attrs.insert("subnet_ids".into(), lit(json!(["s-a"])));
    let (plan, _) = plan_of(&w);
    let ng = change(&plan, "eks_nodegroup.system");
    assert_eq!((ng.action, ng.create_before_destroy), (Action::Replace, true));
    let text = super::super::render::text(&plan);
    assert!(text.contains("eks_nodegroup.system must be replaced (create before destroy)"), "{text}");
    let g = crate::engine::ops::build(&plan).expect("no cycle");
    let ops: Vec<(String, OpKind)> = g.node_weights().map(|o| (o.address.to_string(), o.kind)).collect();
    assert_eq!(ops, [("eks_nodegroup.system".into(), OpKind::Create), ("eks_nodegroup.system".into(), OpKind::Delete)]);
    let e: Vec<_> = g.edge_references().map(|e| (g[e.source()].kind, g[e.target()].kind)).collect();
    assert_eq!(e, [(OpKind::Create, OpKind::Delete)], "the new group first, then the old one goes");

    // lifecycle.create_before_destroy = false turns the default off.
    w.decls[2].lifecycle.create_before_destroy = Some(false);
    let (plan, _) = plan_of(&w);
    assert!(!change(&plan, "eks_nodegroup.system").create_before_destroy);
}

#[test]
fn ignore_changes_keeps_what_exists_unless_the_resource_is_replaced_anyway() {
    let ignore = Lifecycle { ignore_changes: vec!["addon_version".into()], ..Lifecycle::default() };
    let mut w = world("key-1", Lifecycle::default(), ignore);
    w.decls[1].attrs.insert("addon_version".into(), lit(json!("v1.19.0")));
    let (plan, _) = plan_of(&w);
    let addon = change(&plan, "eks_addon.vpc_cni");
    assert_eq!(addon.action, Action::NoOp, "{addon:?}");
    // What the engine would apply (with another change) is the version that exists.
    assert_eq!(addon.desired.get("addon_version"), Some(&lit(json!("v1.18.0"))));

    // Replaced with its cluster: the new add-on is made from the plan, ignored values included.
    let w2 = World {
        decls: {
            let mut d = w.decls.clone();
            d[0].attrs.insert("encryption_kms_key_arn".into(), lit(json!("key-2")));
            d
        },
        ..w
    };
    let (plan, _) = plan_of(&w2);
    let addon = change(&plan, "eks_addon.vpc_cni");
    assert_eq!(addon.action, Action::Replace);
    assert_eq!(addon.desired.get("addon_version"), Some(&lit(json!("v1.19.0"))));
}

#[test]
fn prevent_destroy_refuses_a_replace_and_a_destroy_naming_the_resource() {
    let protect = Lifecycle {
        prevent_destroy: true,
        loc: Some(SourceLoc { file: "plans/cluster.toml".into(), line: 7, col: 1 }),
        ..Lifecycle::default()
    };
    let mut w = world("key-2", Lifecycle::default(), Lifecycle::default());
    w.decls[0].lifecycle = protect;
    let (plan, stack) = plan_of(&w);
    let e = super::super::lifecycle::check_prevent_destroy(&stack, &plan).expect_err("refused").to_string();
    assert!(e.starts_with("plans/cluster.toml:7:1: eks_cluster.main has lifecycle.prevent_destroy = true"), "{e}");
    assert!(e.contains("would replace it"), "{e}");
    let destroy = destroy_plan(&stack, Some(&w.state), &w.refreshed);
    let e = super::super::lifecycle::check_prevent_destroy(&stack, &destroy).expect_err("refused").to_string();
    assert!(e.contains("would delete it"), "{e}");
    // Nothing to replace: fine.
    w.decls[0].attrs.insert("encryption_kms_key_arn".into(), lit(json!("key-1")));
    let (plan, stack) = plan_of(&w);
    assert!(super::super::lifecycle::check_prevent_destroy(&stack, &plan).is_ok());
}

#[test]
fn a_create_before_destroy_parent_keeps_its_dependents_order_acyclic() {
    // The cluster replaced create-before-destroy (as a user may ask for a renamed cluster):
    // children are made on the new cluster before the old one goes, and node groups keep
    // their own create-before-destroy.
    let mut w = world("key-1", Lifecycle::default(), Lifecycle::default());
    w.decls[0].attrs.insert("name".into(), lit(json!("platform-dev2")));
    w.decls[0].lifecycle.create_before_destroy = Some(true);
    let (plan, _) = plan_of(&w);
    assert!(change(&plan, "eks_cluster.main").create_before_destroy);
    let ng = change(&plan, "eks_nodegroup.system");
    assert_eq!((ng.action, ng.create_before_destroy), (Action::Replace, true));
    // The log group's name changes with the cluster's: an ordinary force-new replace.
    assert_eq!(change(&plan, "logs_log_group.cluster").action, Action::Replace);
    let g = crate::engine::ops::build(&plan).expect("no cycle");
    let find =
        |a: &str, k: OpKind| g.node_indices().find(|&i| g[i].address.to_string() == a && g[i].kind == k).expect("op");
    let before = |x, y| petgraph::algo::has_path_connecting(&g, x, y, None);
    let (cc, cd) = (find("eks_cluster.main", OpKind::Create), find("eks_cluster.main", OpKind::Delete));
    assert!(before(cc, find("eks_nodegroup.system", OpKind::Create)));
    assert!(before(find("eks_nodegroup.system", OpKind::Delete), cd), "the old group goes before the old cluster");
    assert!(before(find("eks_addon.vpc_cni", OpKind::Delete), cd));
    let _ = BTreeMap::<String, String>::new();
}
