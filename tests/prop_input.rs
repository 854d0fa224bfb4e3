//! Property tests of kprov's input handling (docs/reliability.md, "Fuzzed input"): generated
//! plans, overlays, references and state files, valid and mutated.
//!
//! - plans: valid generated plans load; mutated ones (truncated, a byte replaced, a token
//!   inserted) never panic and fail with a `file:line:col` that lies inside the input;
//! - overlays: an empty overlay is the base; an overlay's value wins; loading is deterministic;
//! - references: a reference to a declared attribute resolves; a dangling one is an error at
//!   the reference; cycles (locals, resources) are reported, not looped on;
//! - state: arbitrary bytes, truncations of a valid file and future formats are refused with
//!   a clear error, and neither a save nor an import then touches the file.
//!
//! The budget is fixed for CI: 256 cases per property (override with `PROPTEST_CASES`), a fixed
//! RNG seed, and failures persisted in `tests/prop_input.proptest-regressions`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kprov::config::{ConfigError, Stack, Tmpl};
use kprov::resource::Registry;
use kprov::state::{LocalBackend, State, StateError};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x006b_7072_6f76),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(kprov::aws::offline_registry)
}

const MAIN: &str = "plans/main.toml";
const OVERLAY: &str = "plans/env/dev.toml";

fn load(main: &str, overlay: &str) -> Result<Stack, ConfigError> {
    let base = [(PathBuf::from(MAIN), main.to_string())];
    kprov::config::load_texts(&base, (PathBuf::from(OVERLAY), overlay.to_string()), "dev", registry())
}

/// `Err(message)` unless `e` is located inside `files` (line and column within the text).
fn located_inside(e: &ConfigError, files: &[(&str, &str)]) -> Result<(), String> {
    let loc = e.loc();
    let msg = e.to_string();
    if !msg.starts_with(&loc.to_string()) {
        return Err(format!("message does not start with its location: {msg}"));
    }
    let Some((_, text)) = files.iter().find(|(p, _)| Path::new(p) == loc.file) else {
        return Err(format!("located in a file that was not loaded: {msg}"));
    };
    let line = text.split('\n').nth(loc.line.saturating_sub(1)).ok_or(format!("line past the end: {msg}"))?;
    if loc.line == 0 || loc.col == 0 || loc.col > line.chars().count() + 1 {
        return Err(format!("column outside line {}: {msg}", loc.line));
    }
    Ok(())
}

// ---- generated plans ----------------------------------------------------------------------

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}"
}

/// A valid plan: variables, locals that use them (and each other), a VPC and repeated subnets
/// whose attributes use variables, locals, `each` and references to the VPC.
fn valid_plan() -> impl Strategy<Value = String> {
    (ident(), prop::collection::btree_set(ident(), 1..4), prop::collection::vec("[a-zA-Z0-9 ._-]{0,12}", 1..4), 0u8..4)
        .prop_map(|(stack, keys, values, shape)| {
            let keys: Vec<String> = keys.into_iter().collect();
            let list = keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ");
            let value = values[0].clone();
            let mut s = format!(
                "[stack]\nname = \"{stack}\"\ndefault_tags = {{ Stack = \"${{stack.name}}\", V = \"${{local.v}}\" }}\n\n\
                 [variables]\nregion = \"us-east-1\"\nkeys = [{list}]\ntext = \"{value}\"\nn = {}\n\n\
                 [locals]\nv = \"${{var.text}}-${{stack.env}}\"\nw = \"${{format('%s/%d', local.v, var.n)}}\"\n\n\
                 [resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\ntags = {{ Name = \"${{local.w}}\" }}\n\n",
                values.len()
            );
            let for_each = match shape {
                0 => "\"${var.keys}\"".to_string(),
                1 => "\"${zipmap(var.keys, var.keys)}\"".to_string(),
                _ => format!("[{list}]"),
            };
            s.push_str(&format!(
                "[resource.ec2_subnet.s]\nfor_each = {for_each}\nvpc_id = \"${{ec2_vpc.main.id}}\"\n\
                 cidr_block = \"${{ec2_vpc.main.cidr_block}}\"\navailability_zone = \"us-east-1a\"\n\
                 tags = {{ Key = \"${{each.value}}\" }}\n"
            ));
            if shape == 3 {
                s.push_str("depends_on = [\"ec2_vpc.main\"]\n");
            }
            s
        })
}

/// Tokens that are meaningful somewhere in a plan, for insertion.
const TOKENS: &[&str] = &[
    "${",
    "}",
    "$${",
    "[",
    "]",
    "{",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "=",
    ".",
    ",",
    "\n",
    "\n[resource.ec2_vpc.x]\n",
    "\n[locals]\n",
    "local.",
    "var.",
    "each.",
    "stack.",
    "ec2_vpc.main",
    "[*]",
    "[0]",
    "(",
    ")",
    "==",
    "?",
    ":",
    "format(",
    "\\",
    "\\u",
    "#",
    "é",
    "\u{0}",
    "-9223372036854775809",
    "1e999",
    "ec2_subnet.s[\"zz\"].id",
];

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Replace(usize, char),
    Insert(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
    ]
}

/// The char boundary at or before `i % (len + 1)`.
fn boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(s: &str, muts: &[Mutation]) -> String {
    let mut s = s.to_string();
    for m in muts {
        match *m {
            Mutation::Truncate(i) => s.truncate(boundary(&s, i)),
            Mutation::Replace(i, c) => {
                let i = boundary(&s, i);
                if let Some(old) = s[i..].chars().next() {
                    s.replace_range(i..i + old.len_utf8(), c.encode_utf8(&mut [0; 4]));
                }
            }
            Mutation::Insert(i, t) => s.insert_str(boundary(&s, i), TOKENS[t]),
        }
    }
    s
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_plans_load(plan in valid_plan()) {
        let stack = load(&plan, "").map_err(|e| TestCaseError::fail(format!("{e}\n{plan}")))?;
        prop_assert!(stack.resources.len() >= 2);
    }

    #[test]
    fn mutated_plans_fail_located_inside_the_input(
        plan in valid_plan(),
        muts in prop::collection::vec(mutation(), 1..4),
        in_overlay in any::<bool>(),
    ) {
        let overlay = "[variables]\ntext = \"o\"\n";
        let (main, overlay) =
            if in_overlay { (plan.clone(), mutate(overlay, &muts)) } else { (mutate(&plan, &muts), overlay.to_string()) };
        if let Err(e) = load(&main, &overlay) {
            located_inside(&e, &[(MAIN, &main), (OVERLAY, &overlay)]).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn arbitrary_text_fails_located_inside_the_input(text in "(?s).{0,300}") {
        if let Err(e) = load(&text, "") {
            located_inside(&e, &[(MAIN, &text), (OVERLAY, "")]).map_err(TestCaseError::fail)?;
        }
    }

    // ---- overlays ----

    #[test]
    fn overlay_merge_properties(plan in valid_plan(), text in "[a-zA-Z0-9 ._-]{0,12}") {
        let base = load(&plan, "").map_err(|e| TestCaseError::fail(e.to_string()))?;
        // An overlay that sets nothing is the base.
        let empty = load(&plan, "[variables]\n").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(format!("{:?}", base.resources), format!("{:?}", empty.resources));
        // An overlay's value wins over the base's default.
        let overlay = format!("[variables]\ntext = \"{text}\"\n");
        let over = load(&plan, &overlay).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let tags = &over.resources.iter().find(|d| d.address.to_string() == "ec2_vpc.main").expect("vpc").attrs["tags"];
        let want = format!("{text}-dev/");
        prop_assert!(format!("{tags:?}").contains(&want), "{:?} lacks {}", tags, want);
        // Deterministic: the same input gives the same stack.
        let again = load(&plan, &overlay).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(format!("{:?}", over.resources), format!("{:?}", again.resources));
    }

    // ---- references ----

    #[test]
    fn references_resolve_or_fail_at_the_reference(name in ident(), declared in any::<bool>(), attr in 0usize..3) {
        let attr = ["id", "cidr_block", "default_security_group_id"][attr];
        let target = if declared { "main".to_string() } else { format!("x{name}") };
        let main = format!(
            "[stack]\nname = \"t\"\n[variables]\nregion = \"r\"\n\
             [resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\
             [resource.ec2_subnet.{name}]\nvpc_id = \"${{ec2_vpc.{target}.{attr}}}\"\ncidr_block = \"10.0.1.0/24\"\n\
             availability_zone = \"ra\"\n"
        );
        match load(&main, "") {
            Ok(stack) => {
                prop_assert!(declared);
                let subnet = stack.resources.iter().find(|d| d.address.kind == "ec2_subnet").expect("subnet");
                match &subnet.attrs["vpc_id"] {
                    Tmpl::Ref { target, attr: a } => {
                        prop_assert_eq!(target.to_string(), "ec2_vpc.main");
                        prop_assert_eq!(a, attr);
                    }
                    other => prop_assert!(false, "not a reference: {:?}", other),
                }
            }
            Err(e) => {
                prop_assert!(!declared, "{}", e);
                // At the reference: line 8, the `ec2_vpc` after `"${`.
                prop_assert_eq!((e.loc().line, e.loc().col), (8, 13), "{}", e);
                prop_assert!(e.to_string().contains(&format!("no resource `ec2_vpc.{target}` is declared")), "{}", e);
            }
        }
    }

    #[test]
    fn cycles_are_reported_not_looped_on(n in 1usize..12, through_resources in any::<bool>()) {
        let mut main = String::from("[stack]\nname = \"t\"\n[variables]\nregion = \"r\"\n");
        if through_resources {
            // vpc_i's tag names vpc_{i+1}'s id; the last names the first.
            for i in 0..n {
                main.push_str(&format!(
                    "[resource.ec2_vpc.v{i}]\ncidr_block = \"10.0.0.0/16\"\ntags = {{ N = \"${{ec2_vpc.v{}.id}}\" }}\n",
                    (i + 1) % n
                ));
            }
            let stack = load(&main, "").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let e = kprov::graph::ResourceGraph::build(&stack).err().expect("a cycle");
            prop_assert!(e.to_string().contains("dependency cycle"), "{}", e);
        } else {
            main.push_str("[locals]\n");
            for i in 0..n {
                main.push_str(&format!("l{i} = \"${{local.l{}}}\"\n", (i + 1) % n));
            }
            let e = load(&main, "").expect_err("a cycle");
            prop_assert!(e.to_string().contains("cycle in locals"), "{}", e);
            located_inside(&e, &[(MAIN, &main), (OVERLAY, "")]).map_err(TestCaseError::fail)?;
        }
    }
}

// ---- state ---------------------------------------------------------------------------------

fn valid_state() -> State {
    let mut s = State::new("platform", "dev");
    s.serial = 4;
    let r: kprov::state::ResourceState = serde_json::from_str(
        r#"{"kind": "ec2_vpc", "id": "vpc-1", "status": "created", "attributes": {"cidr_block": "10.0.0.0/16"}}"#,
    )
    .expect("a resource");
    s.resources.insert("ec2_vpc.main".into(), r);
    s
}

/// Write `bytes` as the state file; if loading refuses it, a save and an import must be
/// refused too and leave the file byte for byte as it was.
fn refused_and_untouched(bytes: &[u8]) -> Result<Option<StateError>, TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let b = LocalBackend::for_env(dir.path(), "dev");
    std::fs::write(b.path(), bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let e = match b.load() {
        Ok(_) => return Ok(None),
        Err(e) => e,
    };
    let msg = e.to_string();
    prop_assert!(msg.contains(&b.path().display().to_string()), "the error names the file: {}", msg);
    let mut s = valid_state();
    s.serial = 5;
    prop_assert!(b.save(&s).is_err());
    prop_assert!(b.import(&s).is_err());
    prop_assert_eq!(std::fs::read(b.path()).map_err(|e| TestCaseError::fail(e.to_string()))?, bytes);
    Ok(Some(e))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_refused_without_writing(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // Almost all byte strings are refused; the rare valid one is simply loaded.
        refused_and_untouched(&bytes)?;
    }

    #[test]
    fn truncated_state_is_refused_without_writing(cut in any::<usize>()) {
        let json = valid_state().to_json();
        let cut = cut % json.trim_end().len();
        let e = refused_and_untouched(&json.as_bytes()[..cut])?;
        prop_assert!(matches!(e, Some(StateError::Corrupt { .. })), "{:?}", e);
    }

    #[test]
    fn future_format_is_refused_without_writing(format in 2u64..=u64::MAX) {
        let json = valid_state().to_json().replace("\"format\": 1", &format!("\"format\": {format}"));
        let e = refused_and_untouched(json.as_bytes())?;
        let is_future = matches!(e, Some(StateError::FutureFormat { found, .. }) if found == format);
        prop_assert!(is_future, "{:?}", e);
    }

    #[test]
    fn flipped_bytes_are_refused_or_round_trip(i in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = valid_state().to_json().into_bytes();
        let i = i % bytes.len();
        bytes[i] = byte;
        if refused_and_untouched(&bytes)?.is_none() {
            // Accepted (e.g. a changed letter in a value): what loads is what a save writes back.
            let s = kprov::state::local::parse_bytes("x", &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = kprov::state::local::parse("x", &s.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(s, again);
        }
    }
}
