//! The registry: resource kinds by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ResourceKind, Schema};

#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn ResourceKind>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, kind: Arc<dyn ResourceKind>) {
        self.kinds.insert(kind.kind(), kind);
    }
    pub fn with(mut self, kind: Arc<dyn ResourceKind>) -> Self {
        self.register(kind);
        self
    }
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ResourceKind>> {
        self.kinds.get(kind)
    }
    pub fn schema(&self, kind: &str) -> Option<&Schema> {
        self.get(kind).map(|k| k.schema())
    }
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}
