//! What a state describes, and the check that a run is about the same thing.
//!
//! A state records the stack, env and region its resources belong to and, where known, the
//! AWS account (see `aws::identity`). Planned against another stack's state, every resource
//! of that stack would be planned as deleted; against another region or account, everything
//! recorded would look "deleted outside kprov". So every command that plans or writes compares
//! the state with the run first and refuses, naming both sides and the way out:
//!
//! - stack, env and region come from the plans: checked right after the state is read, before
//!   any other AWS call ([`check`]);
//! - the account comes from the credentials: checked after one read-only STS call, before any
//!   AWS write ([`check_account`]).
//!
//! States written before these fields existed lack region and account: they are accepted and
//! [`bind`] fills the fields in, so the next write records them.

use super::{State, StateError};

/// What a run is about: from the plans, and the account of the credentials where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub stack: String,
    pub env: String,
    pub region: String,
    pub account: Option<String>,
}

/// Refuse `state` (read from `location`) unless it belongs to the stack, env and region of
/// `run`. No AWS call is needed.
pub fn check(location: &str, state: &State, run: &Binding) -> Result<(), StateError> {
    let refuse = |what: &str, stored: &str, ours: &str, way_out: String| {
        Err(StateError::Bound {
            location: location.to_string(),
            what: what.to_string(),
            stored: stored.to_string(),
            ours: ours.to_string(),
            way_out,
        })
    };
    if state.stack != run.stack {
        return refuse(
            "stack",
            &state.stack,
            &run.stack,
            format!(
                "planning stack `{}` against it would delete what stack `{}` created. Give this stack its own state \
                 (the default local state is state/<stack>/<env>.json; another --state-dir or --state-file, or \
                 another [backend] key / --state-key for S3)",
                run.stack, state.stack
            ),
        );
    }
    if state.env != run.env {
        return refuse(
            "env",
            &state.env,
            &run.env,
            format!(
                "use --env {} with this state, or give env {} its own state (another --state-file or --state-key)",
                state.env, run.env
            ),
        );
    }
    if let Some(region) = state.region.as_deref().filter(|r| *r != run.region) {
        return refuse(
            "region",
            region,
            &run.region,
            format!(
                "the resources it records live in {region}; against {} every one of them would be planned as \
                 deleted and created again. To move the stack, destroy it in {region} first (with the overlay's \
                 region set back), or give the new region its own state (another --state-file or --state-key)",
                run.region
            ),
        );
    }
    Ok(())
}

/// Refuse `state` unless it was written with credentials of the account `run` uses (when both
/// are known).
pub fn check_account(location: &str, state: &State, run: &Binding) -> Result<(), StateError> {
    match (state.account.as_deref(), run.account.as_deref()) {
        (Some(stored), Some(ours)) if stored != ours => Err(StateError::Bound {
            location: location.to_string(),
            what: "AWS account".into(),
            stored: stored.to_string(),
            ours: ours.to_string(),
            way_out: format!(
                "the credentials in use are for account {ours}, but its resources live in account {stored}. Use \
                 credentials of account {stored} (AWS_PROFILE, AWS_ACCESS_KEY_ID, …), or give account {ours} its \
                 own state (another --state-file or --state-key)"
            ),
        }),
        _ => Ok(()),
    }
}

/// Record what `state` lacks (region, account) so that the next write carries it. Only fills
/// fields that are absent: a present field that differs was refused by [`check`] before.
pub fn bind(state: &mut State, run: &Binding) {
    if state.region.is_none() {
        state.region = Some(run.region.clone());
    }
    if state.account.is_none() {
        state.account = run.account.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Binding {
        Binding { stack: "web".into(), env: "dev".into(), region: "eu-west-1".into(), account: Some("111".into()) }
    }

    #[test]
    fn refuses_another_stack_env_region_and_account_naming_both_sides() {
        let mut s = State::new("platform", "dev");
        let e = check("state/x.json", &s, &run()).unwrap_err().to_string();
        assert!(e.contains("stack `platform`") && e.contains("not `web`") && e.contains("--state-file"), "{e}");
        s.stack = "web".into();
        s.env = "prod".into();
        let e = check("x", &s, &run()).unwrap_err().to_string();
        assert!(e.contains("env `prod`") && e.contains("--env prod"), "{e}");
        s.env = "dev".into();
        s.region = Some("us-east-1".into());
        let e = check("x", &s, &run()).unwrap_err().to_string();
        assert!(e.contains("region `us-east-1`") && e.contains("not `eu-west-1`"), "{e}");
        s.region = Some("eu-west-1".into());
        check("x", &s, &run()).unwrap();
        s.account = Some("222".into());
        let e = check_account("x", &s, &run()).unwrap_err().to_string();
        assert!(e.contains("AWS account `222`") && e.contains("not `111`"), "{e}");
        // Unknown on either side: accepted.
        check_account("x", &s, &Binding { account: None, ..run() }).unwrap();
    }

    #[test]
    fn an_old_state_without_region_and_account_is_accepted_and_bound() {
        let mut s = State::new("web", "dev");
        check("x", &s, &run()).unwrap();
        check_account("x", &s, &run()).unwrap();
        bind(&mut s, &run());
        assert_eq!((s.region.as_deref(), s.account.as_deref()), (Some("eu-west-1"), Some("111")));
        let old =
            r#"{"format":1,"kprov_version":"0.1.0","stack":"web","env":"dev","lineage":"l","serial":3,"resources":{}}"#;
        let parsed = super::super::local::parse("x", old).unwrap();
        assert_eq!(parsed.region, None);
        assert!(!parsed.to_json().contains("region"), "absent fields are not written as null");
    }
}
