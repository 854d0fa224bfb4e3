//! The state document (format 1). Maps are BTreeMaps so that the JSON is stable and diffs well.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::resource::{Attrs, Observed, Value};

pub const FORMAT_VERSION: u32 = 1;

/// The largest serial a state may hold: the largest integer every JSON reader keeps exact
/// (2^53 − 1), far beyond any real number of writes; refusing more keeps `serial + 1` safe.
pub const MAX_SERIAL: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub kprov_version: String,
    pub stack: String,
    pub env: String,
    /// The AWS region the resources live in. Absent in states written before it was recorded;
    /// filled in by the next write (see [`super::binding`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS account id of the credentials that wrote it (STS GetCallerIdentity), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub lineage: String,
    #[serde(deserialize_with = "serial")]
    pub serial: u64,
    pub resources: BTreeMap<String, ResourceState>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Exists in AWS as recorded.
    Created,
    /// A create was started with `client_token` and may or may not have happened: the next run
    /// looks the resource up (token / ownership tags) and adopts it rather than creating twice.
    PendingCreate,
    /// Created but a later step failed (e.g. the wait for `available`): replaced on next apply.
    Tainted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    #[serde(default)]
    pub attributes: Attrs,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

impl ResourceState {
    /// The recorded resource as the contract's `Observed`, when it has an id.
    pub fn observed(&self) -> Option<Observed> {
        Some(Observed { id: self.id.clone()?, attrs: self.attributes.clone(), owner_address: None })
    }
}

impl State {
    pub fn new(stack: &str, env: &str) -> Self {
        State {
            format: FORMAT_VERSION,
            kprov_version: env!("CARGO_PKG_VERSION").to_string(),
            stack: stack.to_string(),
            env: env.to_string(),
            region: None,
            account: None,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// The stored form: pretty JSON and a final newline, identical for every backend so that a
    /// migration between backends round-trips byte for byte.
    pub fn to_json(&self) -> String {
        // Serializing plain data (string keys, JSON values) cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// A serial, refused (at its position in the document) beyond [`MAX_SERIAL`].
fn serial<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n > MAX_SERIAL {
        return Err(serde::de::Error::custom(format!("serial {n} is out of range (at most {MAX_SERIAL})")));
    }
    Ok(n)
}
