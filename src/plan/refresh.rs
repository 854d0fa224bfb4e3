//! Refresh: read what exists for every resource in state, one batched `read_many` per kind
//! (the kinds run concurrently), and resolve interrupted creates (`pending_create`) by looking
//! for resources carrying their ownership tags.
//!
//! Sensitive attributes come out sealed (see `resource::sensitive`): a value AWS returns is
//! replaced by a marker (the recorded one when it still matches), and a value AWS never returns
//! (a private key) keeps the recorded marker. So neither a plan, a plan file nor a drift report
//! built from a refresh can carry the plaintext.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;

use crate::resource::{sensitive, Attrs, Cx, Observed, Registry, ResourceError};
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
            for addr in pending {
                let hit = owned.iter().find(|o| o.owner_address.as_deref() == Some(addr.as_str())).cloned();
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
