//! `route53_record`: one record set (name + type) in a hosted zone — plain values with a TTL,
//! or an alias (e.g. to a load balancer: `alias = { name = "${…dns_name}", zone_id =
//! "${…zone_id}" }`).
//!
//! The id is `<zone id>_<name>_<type>`. Records cannot carry tags, so `find_owned` finds none
//! (an interrupted create is resolved by that natural key, `find_intent`);
//! creates are made safe instead by looking first: an existing record with exactly the
//! desired values is taken as is (a re-run), one with other values is reported, never
//! overwritten — and the emulator, which adds a second record on a duplicate CREATE, is never
//! asked to. Changes go through [`Dns::change`] (serialised per zone, waited until in sync).
//! Validated locally (the emulator accepts any value): A values are IPv4 addresses, AAAA
//! values IPv6, a CNAME has one value, values xor alias, TTL with values only.

use std::net::{Ipv4Addr, Ipv6Addr};

use aws_sdk_route53::types::{AliasTarget, ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use super::{bare_zone_id, canonical_name, Dns};
use crate::aws::shared::{self, invalid, READ_CONCURRENCY};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

const TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR"];
const ALIAS_TYPES: &[&str] = &["A", "AAAA", "CNAME"];

pub struct Record {
    dns: Dns,
    schema: Schema,
}

fn name_value(v: &Value) -> Value {
    v.as_str().map(|s| json!(canonical_name(s))).unwrap_or_else(|| v.clone())
}

/// The canonical alias table: names canonical, zone id bare, `evaluate_target_health` false
/// unless set.
fn canonical_alias(v: &Value) -> Value {
    let Some(m) = v.as_object() else { return v.clone() };
    let mut m = m.clone();
    if let Some(n) = m.get("name") {
        m.insert("name".into(), name_value(n));
    }
    if let Some(z) = m.get("zone_id").and_then(Value::as_str) {
        m.insert("zone_id".into(), json!(bare_zone_id(z)));
    }
    m.entry("evaluate_target_health").or_insert(json!(false));
    Value::Object(m)
}

/// `(zone, name, type)` of a record id.
fn parse_id(id: &str) -> Option<(&str, &str, &str)> {
    let (zone, rest) = id.split_once('_')?;
    let (name, rtype) = rest.rsplit_once('_')?;
    Some((zone, name, rtype))
}

impl Record {
    pub fn new(dns: Dns) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("zone_id", AttrType::String)
                .force_new()
                .normalize(|v| v.as_str().map(|s| json!(bare_zone_id(s))).unwrap_or_else(|| v.clone())),
            AttrSchema::required("name", AttrType::String).force_new().normalize(name_value),
            AttrSchema::required("type", AttrType::String).force_new().one_of(TYPES),
            AttrSchema::optional("ttl", AttrType::Int)
                .range(0, i64::from(i32::MAX))
                .doc("Seconds; required with records, not with an alias."),
            AttrSchema::optional("records", AttrType::StringList).normalize(shared::string_set),
            AttrSchema::optional("alias", AttrType::Any)
                .normalize(canonical_alias)
                .doc("{ name, zone_id, evaluate_target_health = false }"),
            AttrSchema::computed("fqdn", AttrType::String),
        ]);
        Record { dns, schema }
    }

    fn id_of(spec: &Spec) -> Result<String, ResourceError> {
        let zone = bare_zone_id(spec.req_str("zone_id")?);
        Ok(format!("{zone}_{}_{}", canonical_name(spec.req_str("name")?), spec.req_str("type")?))
    }

    /// The record set `spec` asks for.
    fn desired(spec: &Spec) -> Result<ResourceRecordSet, ResourceError> {
        let mut b = ResourceRecordSet::builder()
            .name(canonical_name(spec.req_str("name")?))
            .r#type(RrType::from(spec.req_str("type")?));
        if let Some(alias) = spec.attrs.get("alias").map(canonical_alias) {
            let get = |k: &str| alias.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let target = AliasTarget::builder()
                .dns_name(get("name"))
                .hosted_zone_id(get("zone_id"))
                .evaluate_target_health(alias.get("evaluate_target_health").and_then(Value::as_bool).unwrap_or(false))
                .build()
                .map_err(|e| invalid(spec, e))?;
            b = b.alias_target(target);
        } else {
            b = b.set_ttl(spec.i64("ttl"));
            for v in shared::str_list(spec, "records") {
                b = b.resource_records(ResourceRecord::builder().value(v).build().map_err(|e| invalid(spec, e))?);
            }
        }
        b.build().map_err(|e| invalid(spec, e))
    }

    fn observed(zone: &str, set: &ResourceRecordSet) -> Observed {
        let name = canonical_name(set.name());
        let rtype = set.r#type().as_str();
        let mut attrs = Attrs::new();
        attrs.insert("zone_id".into(), json!(zone));
        attrs.insert("name".into(), json!(name));
        attrs.insert("type".into(), json!(rtype));
        attrs.insert("fqdn".into(), json!(name));
        if let Some(ttl) = set.ttl() {
            attrs.insert("ttl".into(), json!(ttl));
        }
        if !set.resource_records().is_empty() {
            attrs.insert("records".into(), shared::set_value(set.resource_records().iter().map(|r| r.value())));
        }
        if let Some(a) = set.alias_target() {
            let alias = json!({"name": a.dns_name(), "zone_id": a.hosted_zone_id(), "evaluate_target_health": a.evaluate_target_health()});
            attrs.insert("alias".into(), canonical_alias(&alias));
        }
        Observed { id: format!("{zone}_{name}_{rtype}"), attrs, owner_address: None }
    }

    async fn read_one(&self, id: &str) -> Result<Option<Observed>, ResourceError> {
        let Some((zone, name, rtype)) = parse_id(id) else { return Ok(None) };
        Ok(self.dns.find(zone, name, rtype).await?.map(|set| Self::observed(zone, &set)))
    }

    /// Does `o` hold exactly what `spec` asks for?
    fn matches(&self, o: &Observed, spec: &Spec) -> bool {
        ["ttl", "records", "alias"].iter().all(|a| {
            let want = spec.attrs.get(*a).map(|v| self.schema.get(a).map_or_else(|| v.clone(), |s| s.canonical(v)));
            o.attrs.get(*a) == want.as_ref()
        })
    }
}

/// What is wrong with the combination of attributes, if anything (ChangeResourceRecordSets,
/// Route 53 API Reference: records with a TTL, or an alias without one; alias types A, AAAA
/// and CNAME; one value for a CNAME). `attrs` is the declared shape (`null`: not known yet).
fn problem(attrs: &Attrs) -> Result<(), String> {
    let rtype = attrs.get("type").and_then(Value::as_str).unwrap_or_default();
    if attrs.get("name").and_then(Value::as_str).is_some_and(|n| canonical_name(n).is_empty()) {
        return Err("`name` must not be empty".into());
    }
    let records: Vec<&Value> =
        attrs.get("records").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let has_records = attrs.get("records").is_some_and(|r| !r.as_array().is_some_and(Vec::is_empty));
    match (attrs.get("alias"), has_records) {
        (Some(_), true) => return Err("`alias`: give records or alias, not both".into()),
        (None, false) => return Err("needs records (with a ttl) or an alias".into()),
        (Some(alias), false) => {
            if attrs.contains_key("ttl") {
                return Err("`ttl`: an alias record takes no ttl (the target's is used)".into());
            }
            if !ALIAS_TYPES.contains(&rtype) {
                return Err(format!("`type`: alias records must be of type {ALIAS_TYPES:?}"));
            }
            let ok = |k: &str| alias.get(k).is_some_and(|v| v.is_null() || v.as_str().is_some_and(|s| !s.is_empty()));
            if !alias.is_null() && (!ok("name") || !ok("zone_id")) {
                return Err("`alias` needs name and zone_id".into());
            }
        }
        (None, true) => {
            if !attrs.contains_key("ttl") {
                return Err("`records` need a ttl (seconds)".into());
            }
        }
    }
    for v in records.iter().filter_map(|v| v.as_str()) {
        let ok = match rtype {
            "A" => v.parse::<Ipv4Addr>().is_ok(),
            "AAAA" => v.parse::<Ipv6Addr>().is_ok(),
            _ => !v.is_empty(),
        };
        if !ok {
            return Err(format!("`records`: {v:?} is not a valid {rtype} value"));
        }
    }
    if rtype == "CNAME" && records.len() > 1 {
        return Err("`records`: a CNAME record has exactly one value".into());
    }
    Ok(())
}

#[async_trait::async_trait]
impl ResourceKind for Record {
    fn kind(&self) -> &'static str {
        "route53_record"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        problem(declared)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        let mut unique = ids.to_vec();
        unique.sort();
        unique.dedup();
        let found: Vec<Option<Observed>> = stream::iter(unique)
            .map(|id| async move { self.read_one(&id).await })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let id = Self::id_of(spec)?;
        if let Some(existing) = self.read_one(&id).await? {
            if self.matches(&existing, spec) {
                return Ok(existing);
            }
            return Err(invalid(
                spec,
                format!("record {id} exists already with other values; kprov does not overwrite it"),
            ));
        }
        let zone = bare_zone_id(spec.req_str("zone_id")?);
        self.dns.change(cx, zone, vec![Dns::change_of(ChangeAction::Create, Self::desired(spec)?)?]).await?;
        shared::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let zone = bare_zone_id(spec.req_str("zone_id")?);
        self.dns.change(cx, zone, vec![Dns::change_of(ChangeAction::Upsert, Self::desired(spec)?)?]).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let Some((zone, name, rtype)) = parse_id(&prior.id) else { return Ok(()) };
        // A DELETE must name the record exactly as it is now.
        let Some(current) = self.dns.find(zone, name, rtype).await? else { return Ok(()) };
        match self.dns.change(cx, zone, vec![Dns::change_of(ChangeAction::Delete, current)?]).await {
            // Deleted by someone else between the read and the change.
            Err(e) if e.code() == Some("InvalidChangeBatch") && self.read_one(&prior.id).await?.is_none() => Ok(()),
            r => r,
        }
    }

    async fn find_owned(&self, _cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        Ok(Vec::new())
    }

    /// A create whose answer was lost is found by its natural key, zone + name + type (a zone
    /// holds one record set per name and type), and taken only when it holds exactly what the
    /// intent asked for — the same rule as `create`'s look-first: a record with other values
    /// is not this create's result and is never adopted (nor deleted by a destroy).
    async fn find_intent(&self, _cx: &Cx, intent: &Spec) -> Result<Option<Observed>, ResourceError> {
        let Ok(id) = Self::id_of(intent) else { return Ok(None) };
        Ok(self.read_one(&id).await?.filter(|o| self.matches(o, intent)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_underscores_in_names() {
        assert_eq!(parse_id("Z1_app.example.com_A"), Some(("Z1", "app.example.com", "A")));
        assert_eq!(parse_id("Z1__x1.example.com_CNAME"), Some(("Z1", "_x1.example.com", "CNAME")));
    }

    #[test]
    fn alias_is_canonical() {
        let a = canonical_alias(&json!({"name": "Web-1.ELB.amazonaws.com.", "zone_id": "/hostedzone/Z35"}));
        assert_eq!(a, json!({"name": "web-1.elb.amazonaws.com", "zone_id": "Z35", "evaluate_target_health": false}));
    }
}
