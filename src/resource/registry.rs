//! The registry: resource kinds by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Catalog, ResourceKind, Schema};

#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn ResourceKind>>,
    /// What the plan stage asks about values only an AWS read can check (none: not checked,
    /// as for the simulated cloud and offline loading).
    catalog: Option<Arc<dyn Catalog>>,
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
    pub fn set_catalog(&mut self, catalog: Option<Arc<dyn Catalog>>) {
        self.catalog = catalog;
    }
    pub fn catalog(&self) -> Option<&Arc<dyn Catalog>> {
        self.catalog.as_ref()
    }
}
