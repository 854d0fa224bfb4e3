//! Recovery of a lost or damaged state (`kprov state recover`): rebuild the records of the
//! declared resources from what AWS holds, by their ownership tags and natural keys.
//!
//! Flow: the declared resources are walked in dependency order, level by level (a level holds
//! the resources whose dependencies are all in earlier levels). For each level a synthetic
//! [`State`] is made whose records are pending creates (`Status::PendingCreate`, no client
//! token) with the attributes the plans declare — schema defaults applied as [`super::diff`]
//! does, references resolved through what earlier levels recovered (ids and attributes) — and
//! resolved by [`super::refresh::refresh`], the same lookups that settle an interrupted create:
//! the `kprov:address` ownership tag (`find_owned`), an owned untagged resource with the
//! intent's attributes, and the kind's natural key (`ResourceKind::find_intent`: a route by
//! table and destination, a record by zone, name and type, an alias by name, …). What is found
//! becomes a `Status::Created` record (id, attributes as observed, the declared dependencies).
//! One level at a time, because the natural keys of a level are the ids of the one before (a
//! route's table, a record's zone).
//!
//! Beside the records, a [`Recovery`] lists the declared resources nothing was found for (and,
//! when a dependency was not found either, which one), and the resources carrying the stack's
//! ownership tags that no declared address took ([`owned_everywhere`], one list per declared
//! kind): a resource the plans no longer declare, or a second copy. Nothing here writes: the command
//! (`cli::recover`) shows the result and writes the state only after confirmation.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future::try_join_all;

use super::diff::desired_with_defaults;
use super::refresh::{refresh, RefreshError};
use crate::config::Stack;
use crate::resource::{Address, Attrs, Cx, Observed, Registry, Value};
use crate::state::{ResourceState, State, Status};

/// Why a recovery could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

/// A declared resource that no lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub address: Address,
    /// A dependency that was not found either (its natural key could not be known).
    pub because: Option<Address>,
}

/// A resource carrying the stack's ownership tags that no declared address took.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unclaimed {
    pub kind: String,
    pub id: String,
    /// Its `kprov:address` tag, if it has one.
    pub tagged: Option<String>,
}

/// What a recovery found.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// The state records of what was found, by address.
    pub resources: BTreeMap<String, ResourceState>,
    /// Address → id found, in apply order.
    pub found: Vec<(Address, String)>,
    /// Declared, not found, in apply order.
    pub not_found: Vec<NotFound>,
    /// Owned, not declared (or a second copy of something declared), sorted.
    pub unclaimed: Vec<Unclaimed>,
}

/// Every resource of the kinds `stack` declares that carries `cx.owner`'s ownership tags (and
/// what the kinds find through a tagged parent), as (kind, resource). One `find_owned` per
/// kind, all at once: list calls, cheap. The declared kinds, not every kind of the registry:
/// the least-privilege runner policy (`kprov iam-policy`) allows the reads of those only, and a
/// lost state of this stack holds resources of those.
pub async fn owned_everywhere(
    stack: &Stack,
    registry: &Registry,
    cx: &Cx,
) -> Result<Vec<(String, Observed)>, RefreshError> {
    let kinds: BTreeSet<&str> = stack.resources.iter().map(|d| d.address.kind.as_str()).collect();
    let lists = try_join_all(kinds.into_iter().filter_map(|name| registry.get(name)).map(|k| async move {
        let found =
            k.find_owned(cx).await.map_err(|source| RefreshError::Read { kind: k.kind().to_string(), source })?;
        Ok::<_, RefreshError>(found.into_iter().map(|o| (k.kind().to_string(), o)).collect::<Vec<_>>())
    }))
    .await?;
    Ok(lists.into_iter().flatten().collect())
}

/// Find the declared resources of `stack` in AWS (see the module documentation).
pub async fn recover(stack: &Stack, registry: &Registry, cx: &Cx) -> Result<Recovery, RecoverError> {
    let graph = crate::graph::ResourceGraph::build(stack)?;
    let order = graph.apply_order();
    let decls: HashMap<&Address, &crate::config::ResourceDecl> =
        stack.resources.iter().map(|d| (&d.address, d)).collect();

    // Level of each address: one more than its deepest dependency.
    let mut level: HashMap<&Address, usize> = HashMap::new();
    for a in &order {
        let Some(d) = decls.get(a) else { continue };
        let l = d.dependencies().iter().filter_map(|dep| level.get(dep)).map(|l| l + 1).max().unwrap_or(0);
        level.insert(a, l);
    }
    let depth = level.values().max().map_or(0, |m| m + 1);

    // What dependents may know of a recovered resource: its id, and its observed attributes
    // overlaid with the declared ones (as the diff plans a no-op).
    let mut known: HashMap<Address, (String, Attrs)> = HashMap::new();
    let mut missing: HashMap<Address, Option<Address>> = HashMap::new();
    let mut claimed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut out = Recovery::default();
    // The ownership-tag listing for the "owned but not declared" list runs beside the walk.
    let walk = async {
        for l in 0..depth {
            let addresses: Vec<&Address> = order.iter().filter(|a| level.get(a) == Some(&l)).collect();
            let mut synthetic = State::new(&stack.name, &stack.env);
            let mut intents: HashMap<String, Attrs> = HashMap::new();
            for a in &addresses {
                let (Some(d), Some(schema)) = (decls.get(a), registry.schema(&a.kind)) else { continue };
                let lookup = |target: &Address, attr: &str| -> Option<Value> {
                    let (id, attrs) = known.get(target)?;
                    if attr == "id" {
                        return Some(Value::String(id.clone()));
                    }
                    attrs.get(attr).cloned()
                };
                // An attribute that refers to something not found is left out: the ownership
                // tags may still find the resource, and a natural key that needs it is not
                // looked up (each `find_intent` answers "nothing" without its key).
                let attrs: Attrs = desired_with_defaults(d, schema)
                    .iter()
                    .filter_map(|(k, t)| t.resolve(&lookup).map(|v| (k.clone(), v)))
                    .collect();
                intents.insert(a.to_string(), attrs.clone());
                synthetic.resources.insert(
                    a.to_string(),
                    ResourceState {
                        kind: a.kind.clone(),
                        id: None,
                        status: Status::PendingCreate,
                        client_token: None,
                        attributes: attrs,
                        dependencies: Vec::new(),
                    },
                );
            }
            let refreshed = refresh(registry, cx, &synthetic).await?;
            for a in addresses {
                let key = a.to_string();
                // An id another address recovered is not this one's (an untagged resource
                // matched by attributes twice).
                let hit = refreshed
                    .observed
                    .get(&key)
                    .filter(|o| !claimed.contains(&(a.kind.clone(), o.id.clone())))
                    .cloned();
                let deps = decls.get(a).map(|d| d.dependencies()).unwrap_or_default();
                match hit {
                    Some(o) => {
                        claimed.insert((a.kind.clone(), o.id.clone()));
                        let mut k = o.attrs.clone();
                        k.extend(intents.remove(&key).unwrap_or_default());
                        known.insert(a.clone(), (o.id.clone(), k));
                        out.found.push((a.clone(), o.id.clone()));
                        out.resources.insert(
                            key,
                            ResourceState {
                                kind: a.kind.clone(),
                                id: Some(o.id),
                                status: Status::Created,
                                client_token: None,
                                attributes: o.attrs,
                                dependencies: deps.iter().map(ToString::to_string).collect(),
                            },
                        );
                    }
                    None => {
                        let because = deps.iter().find(|d| missing.contains_key(*d)).map(|d| {
                            // The first missing resource up the chain, not only the parent.
                            missing.get(d).cloned().flatten().unwrap_or_else(|| d.clone())
                        });
                        missing.insert(a.clone(), because.clone());
                        out.not_found.push(NotFound { address: a.clone(), because });
                    }
                }
            }
        }
        Ok::<_, RecoverError>(())
    };
    let (walked, owned) = futures::join!(walk, owned_everywhere(stack, registry, cx));
    walked?;
    let mut unclaimed: Vec<Unclaimed> = owned?
        .into_iter()
        .filter(|(kind, o)| !claimed.contains(&(kind.clone(), o.id.clone())))
        .map(|(kind, o)| Unclaimed { kind, id: o.id, tagged: o.owner_address })
        .collect();
    unclaimed.sort();
    unclaimed.dedup();
    out.unclaimed = unclaimed;
    // Found in level order; shown in apply order.
    let position: HashMap<&Address, usize> = order.iter().enumerate().map(|(i, a)| (a, i)).collect();
    out.found.sort_by_key(|(a, _)| position.get(a).copied());
    out.not_found.sort_by_key(|n| position.get(&n.address).copied());
    Ok(out)
}
