//! Checks that need an AWS read but no write: the values the schemas mark
//! [`Constraint::Exists`] (an availability zone, an instance type, a Kubernetes or add-on
//! version) exist in the region. Made by `plan` (and so by `apply`) before the refresh and
//! before any change; not by `kprov validate`, which makes no call.
//!
//! Batched: the values of every declaration are gathered per [`Fact`] and each fact is one
//! question to the registry's [`Catalog`] (one paginated read), asked concurrently. Only
//! values known at plan time are checked. Every missing value is reported, at the attribute.

use std::collections::BTreeMap;

use crate::config::{ResourceDecl, Stack, Tmpl};
use crate::plan::PlanError;
use crate::resource::{Constraint, Fact, Query, Registry, Value};

/// Where a value was asked for: the declaration and the attribute.
type Places<'s> = Vec<(&'s ResourceDecl, &'static str)>;

/// The literal strings of a value: itself, or the literal elements of a list.
fn strings(t: &Tmpl) -> Vec<String> {
    match t {
        Tmpl::Lit(Value::String(s)) => vec![s.clone()],
        Tmpl::Lit(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Tmpl::List(items) => items
            .iter()
            .filter_map(|i| match i {
                Tmpl::Lit(Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What to ask: per fact, per value, where it is used.
fn gather<'s>(stack: &'s Stack, registry: &Registry) -> BTreeMap<Fact, BTreeMap<Query, Places<'s>>> {
    let mut asked: BTreeMap<Fact, BTreeMap<Query, Places<'s>>> = BTreeMap::new();
    for decl in &stack.resources {
        let Some(schema) = registry.schema(&decl.address.kind) else { continue };
        for a in &schema.attrs {
            for c in &a.constraints {
                let Constraint::Exists(fact) = c else { continue };
                let Some(t) = decl.attrs.get(a.name) else { continue };
                let context = match fact {
                    Fact::AddonVersion => match decl.attrs.get("addon_name") {
                        Some(Tmpl::Lit(Value::String(n))) => Some(n.clone()),
                        _ => continue,
                    },
                    _ => None,
                };
                for value in strings(t) {
                    let q = Query { context: context.clone(), value };
                    asked.entry(*fact).or_default().entry(q).or_default().push((decl, a.name));
                }
            }
        }
    }
    asked
}

/// Check every [`Constraint::Exists`] value of `stack` through `registry`'s catalog (nothing to
/// do without one: the simulated cloud, offline loading).
pub async fn check(stack: &Stack, registry: &Registry) -> Result<(), PlanError> {
    let Some(catalog) = registry.catalog() else { return Ok(()) };
    let asked = gather(stack, registry);
    let answers = futures::future::join_all(asked.iter().map(|(fact, queries)| async move {
        let list: Vec<Query> = queries.keys().cloned().collect();
        (*fact, catalog.existing(*fact, &list).await)
    }))
    .await;
    let mut errors = Vec::new();
    for (fact, answer) in answers {
        let (existing, hint) = answer.map_err(|source| PlanError::Lookup { what: fact.noun(), source })?;
        for (q, places) in &asked[&fact] {
            if existing.contains(q) {
                continue;
            }
            for (decl, attr) in places {
                let what = match (&fact, &q.context) {
                    (Fact::AvailabilityZone, _) => {
                        format!("{:?} is not an availability zone of {}", q.value, stack.region)
                    }
                    (Fact::InstanceType, _) => {
                        format!("instance type {:?} is not offered in {}", q.value, stack.region)
                    }
                    (Fact::KubernetesVersion, _) => format!("Kubernetes version {:?} is not offered by EKS", q.value),
                    (Fact::AddonVersion, Some(n)) => format!("{:?} is not a version of the add-on {n}", q.value),
                    (Fact::AddonVersion, None) => format!("{:?} is not an add-on version", q.value),
                };
                let hint = if hint.is_empty() { String::new() } else { format!(" ({hint})") };
                errors.push(PlanError::Invalid {
                    loc: decl.attr_loc(attr).clone(),
                    address: decl.address.clone(),
                    message: format!("`{attr}`: {what}{hint}"),
                });
            }
        }
    }
    match PlanError::from_list(errors) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::resource::{Catalog, ResourceError};

    /// A catalog that knows a few values and records what it was asked.
    #[derive(Default)]
    struct Known {
        asked: Mutex<Vec<(Fact, Vec<Query>)>>,
    }

    #[async_trait::async_trait]
    impl Catalog for Known {
        async fn existing(&self, fact: Fact, queries: &[Query]) -> Result<(Vec<Query>, String), ResourceError> {
            self.asked.lock().expect("lock").push((fact, queries.to_vec()));
            let ok = ["us-east-1a", "us-east-1b", "1.30", "m6i.large"];
            Ok((queries.iter().filter(|q| ok.contains(&q.value.as_str())).cloned().collect(), "some".into()))
        }
    }

    #[tokio::test]
    async fn values_that_do_not_exist_are_located_and_each_fact_is_one_question() {
        let base = "[stack]\nname = \"t\"\n\n[variables]\nregion = \"us-east-1\"\n";
        let net = "[resource.ec2_vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n\
                   [resource.ec2_subnet.a]\nfor_each = [\"us-east-1a\", \"us-east-1b\", \"us-east-1x\"]\n\
                   vpc_id = \"${ec2_vpc.main.id}\"\ncidr_block = \"10.0.1.0/24\"\navailability_zone = \"${each.key}\"\n";
        let mut registry = crate::aws::offline_registry();
        let files = [("plans/a.toml".into(), base.to_string()), ("plans/net.toml".into(), net.to_string())];
        let stack = crate::config::load_texts(&files, ("plans/env/dev.toml".into(), String::new()), "dev", &registry)
            .expect("plans load");
        // Offline: nothing to ask.
        assert!(check(&stack, &registry).await.is_ok());
        let known = Arc::new(Known::default());
        registry.set_catalog(Some(known.clone()));
        let e = check(&stack, &registry).await.expect_err("refused");
        let text = e.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("plans/net.toml:8:21: ec2_subnet.a[\"us-east-1x\"]: `availability_zone`: \"us-east-1x\""),
            "{text}"
        );
        let asked = known.asked.lock().expect("lock").clone();
        assert_eq!(asked.len(), 1, "one question for the three zones: {asked:?}");
        assert_eq!(asked[0].1.len(), 3);
    }
}
