//! Refresh: read what exists for every resource in state, one batched `read_many` per kind
//! (the kinds run concurrently), and resolve interrupted creates (`pending_create`) by looking
//! for resources carrying their ownership tags — or, for kinds that cannot be tagged, for an
//! owned resource with the attributes the intent recorded — and, failing both, by the kind's
//! own natural-key or idempotency-token lookup (`ResourceKind::find_intent`: a zone by its
//! `CallerReference`, a route by table and destination, …). A pending intent none of these
//! finds was never made: it is reported in [`Refreshed::unmade`] so that no command drops it
//! without saying so.
//!
//! Sensitive attributes come out sealed (see `resource::sensitive`): a value AWS returns is
//! replaced by a marker (the recorded one when it still matches), and a value AWS never returns
//! (a private key) keeps the recorded marker. So neither a plan, a plan file nor a drift report
//! built from a refresh can carry the plaintext.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;

use crate::resource::{sensitive, Attrs, Cx, Observed, Registry, ResourceError, Spec};
use crate::state::{State, Status};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("state records {address} of kind `{kind}`, which this kprov does not know")]
    UnknownKind { address: String, kind: String },
    #[error("refreshing {kind}: {source}")]
    Read { kind: String, source: ResourceError },
}

#[derive(Debug, Default, Clone)]
pub struct Refreshed {
    /// What exists, by address.
    pub observed: BTreeMap<String, Observed>,
    /// Addresses in state that no longer exist.
    pub missing: BTreeSet<String>,
    /// Pending creates that turned out to exist and are adopted.
    pub adopted: BTreeSet<String>,
    /// Pending creates that every lookup says were never made (also in `missing`).
    pub unmade: BTreeSet<String>,
}

/// Read every resource in `state` from the cloud.
pub async fn refresh(registry: &Registry, cx: &Cx, state: &State) -> Result<Refreshed, RefreshError> {
    // Group by kind: (address, id) pairs to read, and addresses whose create may or may not
    // have happened.
    type Work = (Vec<(String, String)>, Vec<String>);
    let mut by_kind: BTreeMap<&str, Work> = BTreeMap::new();
    for (addr, r) in &state.resources {
        if registry.get(&r.kind).is_none() {
            return Err(RefreshError::UnknownKind { address: addr.clone(), kind: r.kind.clone() });
        }
        let entry = by_kind.entry(r.kind.as_str()).or_default();
        match (&r.status, &r.id) {
            (Status::PendingCreate, _) | (_, None) => entry.1.push(addr.clone()),
            (_, Some(id)) => entry.0.push((addr.clone(), id.clone())),
        }
    }
    let reads = by_kind.into_iter().map(|(kind, (ids, pending))| async move {
        let k = registry
            .get(kind)
            .ok_or_else(|| RefreshError::UnknownKind { address: String::new(), kind: kind.to_string() })?;
        let err = |source| RefreshError::Read { kind: kind.to_string(), source };
        let mut out: Vec<(String, Option<Observed>, bool)> = Vec::new();
        if !ids.is_empty() {
            let just_ids: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
            let found: BTreeMap<String, Observed> =
                k.read_many(cx, &just_ids).await.map_err(err)?.into_iter().map(|o| (o.id.clone(), o)).collect();
            for (addr, id) in ids {
                out.push((addr, found.get(&id).cloned(), false));
            }
        }
        if !pending.is_empty() {
            let owned = k.find_owned(cx).await.map_err(err)?;
            // Ids already recorded (or adopted just now) are never adopted a second time.
            let mut claimed: BTreeSet<String> =
                state.resources.values().filter(|r| r.kind == kind).filter_map(|r| r.id.clone()).collect();
            for addr in pending {
                let intent = state.resources.get(&addr).map(|r| &r.attributes);
                // An id recorded elsewhere is not this create's result, even with this address's
                // tag: the old resource of an interrupted create-before-destroy replacement
                // (recorded as deposed, see `engine::walker`) carries it too.
                let hit = owned
                    .iter()
                    .find(|o| o.owner_address.as_deref() == Some(addr.as_str()) && !claimed.contains(&o.id))
                    .or_else(|| {
                        owned.iter().find(|o| {
                            o.owner_address.is_none()
                                && !claimed.contains(&o.id)
                                && intent.is_some_and(|i| matches_intent(i, &o.attrs))
                        })
                    })
                    .cloned();
                // Not tagged (a kind AWS cannot tag, or a create killed before its tagging
                // call): the kind looks for it by natural key or idempotency token.
                let hit = match (hit, state.resources.get(&addr)) {
                    (Some(h), _) => Some(h),
                    (None, Some(r)) => {
                        let intent = Spec {
                            address: addr.parse().map_err(|e: crate::resource::address::AddressParseError| {
                                err(ResourceError::invalid(format!("state address `{addr}`: {e}")))
                            })?,
                            attrs: r.attributes.clone(),
                            client_token: r.client_token.clone().unwrap_or_default(),
                        };
                        k.find_intent(cx, &intent).await.map_err(err)?.filter(|o| !claimed.contains(&o.id))
                    }
                    (None, None) => None,
                };
                if let Some(h) = &hit {
                    claimed.insert(h.id.clone());
                }
                out.push((addr, hit, true));
            }
        }
        Ok::<_, RefreshError>(out)
    });
    let mut refreshed = Refreshed::default();
    for (addr, obs, was_pending) in try_join_all(reads).await?.into_iter().flatten() {
        match obs {
            Some(mut o) => {
                if let Some(r) = state.resources.get(&addr) {
                    seal_observed(registry, &r.kind, &mut o, &r.attributes);
                }
                if was_pending {
                    refreshed.adopted.insert(addr.clone());
                }
                refreshed.observed.insert(addr, o);
            }
            None => {
                if was_pending {
                    refreshed.unmade.insert(addr.clone());
                }
                refreshed.missing.insert(addr);
            }
        }
    }
    Ok(refreshed)
}

/// Seal the sensitive attributes of `o`; those the kind cannot read back keep the recorded value.
fn seal_observed(registry: &Registry, kind: &str, o: &mut Observed, recorded: &Attrs) {
    let Some(schema) = registry.schema(kind) else { return };
    for a in schema.attrs.iter().filter(|a| a.sensitive) {
        if let (None, Some(v)) = (o.attrs.get(a.name), recorded.get(a.name)) {
            o.attrs.insert(a.name.to_string(), v.clone());
        }
    }
    sensitive::seal_attrs(schema, &mut o.attrs, Some(recorded));
}

/// Does a resource found without an address tag — of a kind that cannot carry tags, such as a
/// route-table association or a DNS record, which `find_owned` finds through its tagged parent
/// — look like what an interrupted create was asked to make? Every attribute the intent
/// recorded that the resource reports must be equal, and there must be at least one. Without
/// this, such a create interrupted after AWS made it would be forgotten by a destroy, and the
/// leftover would block its parent's delete (a route table with a subnet still associated).
fn matches_intent(intent: &crate::resource::Attrs, found: &crate::resource::Attrs) -> bool {
    let mut shared = 0;
    for (k, v) in intent {
        if let Some(f) = found.get(k) {
            if f != v {
                return false;
            }
            shared += 1;
        }
    }
    shared > 0
}

#[cfg(test)]
mod tests {
    use super::matches_intent;
    use crate::resource::Attrs;

    fn attrs(v: serde_json::Value) -> Attrs {
        serde_json::from_value(v).expect("attrs")
    }

    #[test]
    fn an_untagged_resource_matches_the_intent_only_when_every_shared_attribute_is_equal() {
        let intent = attrs(serde_json::json!({"subnet_id": "subnet-1", "route_table_id": "rtb-1"}));
        assert!(matches_intent(
            &intent,
            &attrs(serde_json::json!({"subnet_id": "subnet-1", "route_table_id": "rtb-1"}))
        ));
        // Another subnet of the same table, or the subnet on another table: not this create.
        assert!(!matches_intent(
            &intent,
            &attrs(serde_json::json!({"subnet_id": "subnet-2", "route_table_id": "rtb-1"}))
        ));
        assert!(!matches_intent(
            &intent,
            &attrs(serde_json::json!({"subnet_id": "subnet-1", "route_table_id": "rtb-2"}))
        ));
        // Nothing in common proves nothing.
        assert!(!matches_intent(&intent, &attrs(serde_json::json!({"name": "x"}))));
        assert!(!matches_intent(&Attrs::new(), &intent));
    }
}
