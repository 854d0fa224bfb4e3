//! Renaming recorded addresses without touching AWS: the one mechanism behind `[[moved]]`
//! blocks (applied to the state before refresh and diff, so a rename plans as no change) and
//! `kprov state mv`.
//!
//! A move names a resource (`kind.name`, every instance of a repeated resource moves with its
//! key) or one instance (`kind.name["key"]`). The kind never changes: another kind is another
//! AWS object. References to the old address in other resources' recorded dependencies are
//! renamed too, so delete ordering keeps working.

use crate::resource::Address;

use super::State;

/// One rename, as written (`from` → `to`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Move {
    pub from: Address,
    pub to: Address,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("cannot move {from} to {to}: the kind differs (a resource of another kind is another AWS object)")]
    KindChange { from: String, to: String },
    #[error("cannot move {from} to {to}: one is a resource and the other an instance; move `kind.name` to `kind.name`, or `kind.name[\"key\"]` to an instance")]
    Shape { from: String, to: String },
    #[error("cannot move {from} to {to}: the state already has {to}")]
    TargetExists { from: String, to: String },
    #[error("no resource {0} in the state")]
    NotFound(String),
}

/// The recorded addresses `m` renames: `(old, new)`, sorted.
fn renames(state: &State, m: &Move) -> Result<Vec<(String, String)>, MoveError> {
    let (from, to) = (m.from.to_string(), m.to.to_string());
    if m.from.kind != m.to.kind {
        return Err(MoveError::KindChange { from, to });
    }
    if m.from.key.is_some() != m.to.key.is_some() {
        return Err(MoveError::Shape { from, to });
    }
    let mut out = Vec::new();
    for recorded in state.resources.keys() {
        let Ok(a) = recorded.parse::<Address>() else { continue };
        if a.kind != m.from.kind || a.name != m.from.name {
            continue;
        }
        match &m.from.key {
            Some(k) if a.key.as_ref() == Some(k) => out.push((recorded.clone(), to.clone())),
            Some(_) => {}
            None => out.push((recorded.clone(), Address::new(&m.to.kind, &m.to.name, a.key.clone()).to_string())),
        }
    }
    for (_, new) in &out {
        if state.resources.contains_key(new) {
            return Err(MoveError::TargetExists { from, to: new.clone() });
        }
    }
    Ok(out)
}

/// Apply `m` to `state`; returns the renamed addresses (none when nothing is recorded at
/// `from`, e.g. a `[[moved]]` block that was applied by an earlier run).
pub fn apply(state: &mut State, m: &Move) -> Result<Vec<(String, String)>, MoveError> {
    let pairs = renames(state, m)?;
    for (old, new) in &pairs {
        if let Some(r) = state.resources.remove(old) {
            state.resources.insert(new.clone(), r);
        }
    }
    for r in state.resources.values_mut() {
        for d in &mut r.dependencies {
            if let Some((_, new)) = pairs.iter().find(|(old, _)| old == d) {
                *d = new.clone();
            }
        }
    }
    Ok(pairs)
}

/// Apply `m`, refusing when nothing is recorded at `from` (`kprov state mv`).
pub fn apply_strict(state: &mut State, m: &Move) -> Result<Vec<(String, String)>, MoveError> {
    let pairs = apply(state, m)?;
    if pairs.is_empty() {
        return Err(MoveError::NotFound(m.from.to_string()));
    }
    Ok(pairs)
}

/// The recorded addresses `address` names: itself, or with `kind.name` of a repeated
/// resource, every instance (`kprov state show`, `kprov state rm`).
pub fn matching(state: &State, address: &Address) -> Vec<String> {
    let exact = address.to_string();
    if state.resources.contains_key(&exact) {
        return vec![exact];
    }
    if address.key.is_some() {
        return Vec::new();
    }
    state
        .resources
        .keys()
        .filter(|k| k.parse::<Address>().is_ok_and(|a| a.kind == address.kind && a.name == address.name))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ResourceState, Status};

    fn res(kind: &str, deps: &[&str]) -> ResourceState {
        ResourceState {
            kind: kind.into(),
            id: Some("id".into()),
            status: Status::Created,
            client_token: None,
            attributes: Default::default(),
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn state() -> State {
        let mut s = State::new("s", "dev");
        s.resources.insert("ec2_security_group.web".into(), res("ec2_security_group", &[]));
        s.resources
            .insert("ec2_security_group_rule.in".into(), res("ec2_security_group_rule", &["ec2_security_group.web"]));
        s.resources.insert("ec2_subnet.private[\"a\"]".into(), res("ec2_subnet", &[]));
        s.resources.insert("ec2_subnet.private[\"b\"]".into(), res("ec2_subnet", &[]));
        s
    }

    fn mv(from: &str, to: &str) -> Move {
        Move { from: from.parse().unwrap(), to: to.parse().unwrap() }
    }

    #[test]
    fn renames_a_resource_and_the_dependencies_on_it() {
        let mut s = state();
        let pairs = apply(&mut s, &mv("ec2_security_group.web", "ec2_security_group.frontend")).unwrap();
        assert_eq!(pairs, [("ec2_security_group.web".to_string(), "ec2_security_group.frontend".to_string())]);
        assert!(s.resources.contains_key("ec2_security_group.frontend"));
        assert!(!s.resources.contains_key("ec2_security_group.web"));
        assert_eq!(s.resources["ec2_security_group_rule.in"].dependencies, ["ec2_security_group.frontend"]);
        // Applied already: nothing left to move.
        assert!(apply(&mut s, &mv("ec2_security_group.web", "ec2_security_group.frontend")).unwrap().is_empty());
        assert_eq!(
            apply_strict(&mut s, &mv("ec2_security_group.web", "ec2_security_group.x")),
            Err(MoveError::NotFound("ec2_security_group.web".into()))
        );
    }

    #[test]
    fn moves_every_instance_or_one_and_refuses_kind_changes_and_collisions() {
        let mut s = state();
        apply(&mut s, &mv("ec2_subnet.private", "ec2_subnet.app")).unwrap();
        assert!(s.resources.contains_key("ec2_subnet.app[\"a\"]") && s.resources.contains_key("ec2_subnet.app[\"b\"]"));
        apply(&mut s, &mv("ec2_subnet.app[\"a\"]", "ec2_subnet.app[\"c\"]")).unwrap();
        assert_eq!(
            matching(&s, &"ec2_subnet.app".parse().unwrap()),
            ["ec2_subnet.app[\"b\"]", "ec2_subnet.app[\"c\"]"]
        );
        assert!(matches!(
            apply(&mut s, &mv("ec2_subnet.app[\"b\"]", "ec2_subnet.app[\"c\"]")),
            Err(MoveError::TargetExists { .. })
        ));
        assert!(matches!(
            apply(&mut s, &mv("ec2_security_group.web", "ec2_subnet.web")),
            Err(MoveError::KindChange { .. })
        ));
        assert!(matches!(apply(&mut s, &mv("ec2_subnet.app", "ec2_subnet.x[\"k\"]")), Err(MoveError::Shape { .. })));
    }
}
