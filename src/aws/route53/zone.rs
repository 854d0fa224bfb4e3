//! `route53_zone`: a public hosted zone.
//!
//! - Create: CreateHostedZone with `CallerReference = spec.client_token`. Route53 cannot tag
//!   at creation, so the ownership tags follow at once (ChangeTagsForResource). A re-run
//!   after a crash between the two gets `HostedZoneAlreadyExists` for the same caller
//!   reference; the zone carrying that reference is then adopted and tagged — so even an
//!   untagged zone is never duplicated.
//! - Read: GetHostedZone per id (name servers included), ListTagsForResources (10 ids per call).
//! - Update: comment (UpdateHostedZoneComment), tags, `force_destroy` in place; the name
//!   forces a new zone.
//! - Delete: with `force_destroy` (kept as a `kprov:force_destroy` tag, as `delete` only has
//!   the zone as read from AWS) every record but the apex SOA and NS is deleted first;
//!   without it a non-empty zone is refused by Route53 (`HostedZoneNotEmpty`).

use std::collections::HashMap;

use aws_sdk_route53::types::{ChangeAction, HostedZoneConfig, ResourceRecordSet, Tag, TagResourceType};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;

use super::{bare_zone_id, canonical_name, Dns};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags::{self, Split, TagApi};
use crate::aws::shared::{self, put_str, READ_CONCURRENCY};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const SETTINGS: &[&str] = &["force_destroy"];
const DEFAULT_COMMENT: &str = "Managed by kprov";
/// ChangeTagsForResource and ListTagsForResources take at most 10 tags / ids.
const TAGS_MAX: usize = 10;

pub struct Zone {
    dns: Dns,
    schema: Schema,
}

impl Zone {
    pub fn new(dns: Dns) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("name", AttrType::String)
                .force_new()
                .normalize(|v| v.as_str().map(|s| json!(canonical_name(s))).unwrap_or_else(|| v.clone()))
                .constraint(Constraint::check_fn(
                    "a domain name (labels of 1–63 letters, digits, hyphens)",
                    zone_name_problem,
                )),
            AttrSchema::optional("comment", AttrType::String).default(json!(DEFAULT_COMMENT)),
            AttrSchema::optional("force_destroy", AttrType::Bool)
                .default(json!(false))
                .doc("Delete the zone's records along with it."),
            shared::tags_attr(),
            AttrSchema::computed("name_servers", AttrType::StringList),
            AttrSchema::computed("arn", AttrType::String),
        ])
        .stateful();
        Zone { dns, schema }
    }

    fn client(&self) -> &super::Client {
        &self.dns.client
    }

    /// Ownership and user tags of `ids` (10 per call).
    async fn tags_of(&self, ids: &[String]) -> Result<HashMap<String, Split>, ResourceError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(TAGS_MAX) {
            let r = self
                .client()
                .list_tags_for_resources()
                .resource_type(TagResourceType::Hostedzone)
                .set_resource_ids(Some(chunk.to_vec()))
                .send()
                .await
                .or_aws("ListTagsForResources");
            let sets = match not_found_as_none(r)? {
                Some(o) => o.resource_tag_sets().to_vec(),
                // One zone of the chunk is gone: ask one by one.
                None if chunk.len() > 1 => {
                    for id in chunk {
                        out.extend(Box::pin(self.tags_of(std::slice::from_ref(id))).await?);
                    }
                    continue;
                }
                None => continue,
            };
            for set in sets {
                let Some(id) = set.resource_id() else { continue };
                let pairs = set.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
                out.insert(bare_zone_id(id).to_string(), tags::split(pairs, SETTINGS));
            }
        }
        Ok(out)
    }

    async fn get(&self, id: &str) -> Result<Option<Attrs>, ResourceError> {
        let r = self.client().get_hosted_zone().id(id).send().await.or_aws("GetHostedZone");
        let Some(out) = not_found_as_none(r)? else { return Ok(None) };
        let Some(z) = out.hosted_zone() else { return Ok(None) };
        let mut attrs = Attrs::new();
        put_str(&mut attrs, "name", Some(&canonical_name(z.name())));
        put_str(&mut attrs, "comment", Some(z.config().and_then(|c| c.comment()).unwrap_or_default()));
        let ns = out.delegation_set().map(|d| d.name_servers().to_vec()).unwrap_or_default();
        attrs.insert("name_servers".into(), json!(ns));
        put_str(&mut attrs, "arn", Some(&format!("arn:aws:route53:::hostedzone/{id}")));
        Ok(Some(attrs))
    }

    async fn read(&self, ids: &[String]) -> Result<Vec<shared::Found>, ResourceError> {
        let mut unique: Vec<String> = ids.iter().map(|i| bare_zone_id(i).to_string()).collect();
        unique.sort();
        unique.dedup();
        let zones: Vec<Option<(String, Attrs)>> = stream::iter(unique)
            .map(|id| async move { Ok::<_, ResourceError>(self.get(&id).await?.map(|a| (id, a))) })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let zones: Vec<(String, Attrs)> = zones.into_iter().flatten().collect();
        let ids: Vec<String> = zones.iter().map(|(id, _)| id.clone()).collect();
        let mut tags = self.tags_of(&ids).await?;
        Ok(zones.into_iter().map(|(id, attrs)| tags.remove(&id).unwrap_or_default().found(id, attrs)).collect())
    }

    /// Every record of the zone except the apex SOA and NS (which go with the zone).
    async fn removable_records(&self, id: &str, apex: &str) -> Result<Vec<ResourceRecordSet>, ResourceError> {
        let mut out = Vec::new();
        let (mut name, mut rtype, mut ident) = (None, None, None);
        loop {
            let page = self
                .client()
                .list_resource_record_sets()
                .hosted_zone_id(id)
                .set_start_record_name(name)
                .set_start_record_type(rtype)
                .set_start_record_identifier(ident)
                .send()
                .await
                .or_aws("ListResourceRecordSets")?;
            for r in page.resource_record_sets() {
                let at_apex = canonical_name(r.name()) == apex;
                if !(at_apex && matches!(r.r#type().as_str(), "SOA" | "NS")) {
                    out.push(r.clone());
                }
            }
            if !page.is_truncated() {
                return Ok(out);
            }
            name = page.next_record_name().map(str::to_string);
            rtype = page.next_record_type().cloned();
            ident = page.next_record_identifier().map(str::to_string);
        }
    }
}

#[async_trait::async_trait]
impl TagApi for Zone {
    async fn tag(&self, id: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        for chunk in tags.chunks(TAGS_MAX) {
            let tags = chunk.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            self.client()
                .change_tags_for_resource()
                .resource_type(TagResourceType::Hostedzone)
                .resource_id(id)
                .set_add_tags(Some(tags))
                .send()
                .await
                .or_aws("ChangeTagsForResource")?;
        }
        Ok(())
    }
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        for chunk in keys.chunks(TAGS_MAX) {
            self.client()
                .change_tags_for_resource()
                .resource_type(TagResourceType::Hostedzone)
                .resource_id(id)
                .set_remove_tag_keys(Some(chunk.to_vec()))
                .send()
                .await
                .or_aws("ChangeTagsForResource")?;
        }
        Ok(())
    }
}

/// A hosted zone's name: at most 253 characters, at least two labels of 1–63 letters, digits
/// and hyphens, not starting with a hyphen (Route 53 Developer Guide, "DNS domain name format").
fn zone_name_problem(v: &Value) -> Result<(), String> {
    let Some(raw) = v.as_str() else { return Ok(()) };
    let name = canonical_name(raw);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
    };
    if name.len() > 253 || !name.contains('.') || !name.split('.').all(label_ok) {
        return Err(format!("{raw:?} is not a valid domain name for a hosted zone"));
    }
    Ok(())
}

#[async_trait::async_trait]
impl ResourceKind for Zone {
    fn kind(&self) -> &'static str {
        "route53_zone"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(self.read(ids).await?.into_iter().map(|f| f.obs).collect())
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = canonical_name(spec.req_str("name")?);
        let r = self
            .client()
            .create_hosted_zone()
            .name(&name)
            .caller_reference(&spec.client_token)
            .hosted_zone_config(
                HostedZoneConfig::builder().comment(spec.str("comment").unwrap_or(DEFAULT_COMMENT)).build(),
            )
            .send()
            .await
            .or_aws("CreateHostedZone");
        let id = match r {
            Ok(out) => {
                bare_zone_id(shared::required(out.hosted_zone(), "CreateHostedZone", "hosted zone")?.id()).to_string()
            }
            Err(e) if e.code() == Some("HostedZoneAlreadyExists") => {
                let zones = self.client().list_hosted_zones_by_name().dns_name(&name).send().await;
                let zones = zones.or_aws("ListHostedZonesByName")?;
                let ours = zones.hosted_zones().iter().find(|z| z.caller_reference() == spec.client_token);
                match ours {
                    Some(z) => bare_zone_id(z.id()).to_string(),
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        // Ownership (and settings) tags, right away; `update` converges the rest.
        self.tag(&id, tags::creation_tags(cx, spec, SETTINGS)?).await?;
        let created = shared::read_back(self, cx, &id).await?;
        self.update(cx, &created, spec).await
    }

    /// A zone adopted after a crash between CreateHostedZone and its tagging call has no
    /// ownership tags: write them (ChangeTagsForResource adds or overwrites, so repeating it on
    /// a tagged zone changes nothing).
    async fn resume_create(&self, cx: &Cx, spec: &Spec, found: &Observed) -> Result<Observed, ResourceError> {
        self.tag(&found.id, tags::creation_tags(cx, spec, SETTINGS)?).await?;
        shared::read_back(self, cx, &found.id).await
    }

    /// Route 53 cannot tag at creation, so a create killed before its tagging call leaves a
    /// zone only its `CallerReference` identifies — the intent's client token, which
    /// ListHostedZonesByName returns with each zone (Route 53 API Reference, CreateHostedZone:
    /// "CallerReference … a unique string that identifies the request").
    async fn find_intent(&self, cx: &Cx, intent: &Spec) -> Result<Option<Observed>, ResourceError> {
        let (Some(name), false) = (intent.str("name"), intent.client_token.is_empty()) else { return Ok(None) };
        let name = canonical_name(name);
        let zones = self.client().list_hosted_zones_by_name().dns_name(&name).send().await;
        let zones = zones.or_aws("ListHostedZonesByName")?;
        let ours = zones
            .hosted_zones()
            .iter()
            .find(|z| z.caller_reference() == intent.client_token && canonical_name(z.name()) == name);
        match ours {
            Some(z) => Ok(self.read_many(cx, &[bare_zone_id(z.id()).to_string()]).await?.into_iter().next()),
            None => Ok(None),
        }
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let comment = spec.str("comment").unwrap_or(DEFAULT_COMMENT);
        if prior.attrs.get("comment").and_then(Value::as_str) != Some(comment) {
            self.client()
                .update_hosted_zone_comment()
                .id(&prior.id)
                .comment(comment)
                .send()
                .await
                .or_aws("UpdateHostedZoneComment")?;
        }
        tags::reconcile(self, &prior.id, prior, spec, SETTINGS).await?;
        shared::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let Some(current) = self.read(std::slice::from_ref(&prior.id)).await?.into_iter().next() else {
            return Ok(());
        };
        if current.obs.attrs.get("force_destroy").and_then(Value::as_bool) == Some(true) {
            let apex = current.obs.attrs.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let records = self.removable_records(&prior.id, &apex).await?;
            let changes =
                records.into_iter().map(|r| Dns::change_of(ChangeAction::Delete, r)).collect::<Result<_, _>>()?;
            self.dns.change(cx, &prior.id, changes).await?;
        }
        not_found_as_none(self.client().delete_hosted_zone().id(&prior.id).send().await.or_aws("DeleteHostedZone"))?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let zones: Vec<_> = self
            .client()
            .list_hosted_zones()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("ListHostedZones")?;
        let ids: Vec<String> = zones.iter().map(|z| bare_zone_id(z.id()).to_string()).collect();
        let tags = self.tags_of(&ids).await?;
        let owned: Vec<String> = tags
            .into_iter()
            .filter(|(_, s)| {
                s.stack.as_deref() == Some(cx.owner.stack.as_str()) && s.env.as_deref() == Some(cx.owner.env.as_str())
            })
            .map(|(id, _)| id)
            .collect();
        self.read_many(cx, &owned).await
    }
}
