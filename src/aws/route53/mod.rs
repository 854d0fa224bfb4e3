//! Route53 kinds: hosted zone and record set; and [`Dns`], the record changes the ACM
//! certificate kind also makes (its DNS validation records).
//!
//! Route53 is global. Changes to one zone are serialised within this process ([`Dns`] holds
//! one lock per zone): Route53 answers concurrent changes to a zone with
//! `PriorRequestNotComplete`, and several records of one zone are typically created at once
//! by the engine. After a change, kprov waits (without holding an engine slot) until Route53
//! reports it `INSYNC` on its name servers.

pub mod record;
pub mod zone;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType};

use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{Cx, Registry, ResourceError};

pub type Client = aws_sdk_route53::Client;

const INSYNC_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const INSYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Register every Route53 kind in `reg`.
pub fn register(reg: &mut Registry, dns: Dns) {
    reg.register(Arc::new(zone::Zone::new(dns.clone())));
    reg.register(Arc::new(record::Record::new(dns)));
}

/// A Route53 client plus the per-zone change locks; cheap to clone (shared state).
#[derive(Clone)]
pub struct Dns {
    pub client: Client,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Dns {
    pub fn new(client: Client) -> Self {
        Dns { client, locks: Arc::default() }
    }

    fn lock_for(&self, zone: &str) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map only means another task panicked while inserting: the map is fine.
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(zone.to_string()).or_default().clone()
    }

    /// Apply `changes` to `zone` (one change batch, serialised with other changes to the same
    /// zone), then wait until Route53 reports them in sync.
    pub async fn change(&self, cx: &Cx, zone: &str, changes: Vec<Change>) -> Result<(), ResourceError> {
        if changes.is_empty() {
            return Ok(());
        }
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .build()
            .map_err(|e| ResourceError::invalid(e.to_string()))?;
        let change_id = {
            let lock = self.lock_for(zone);
            let _guard = lock.lock().await;
            let out = self
                .client
                .change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(batch)
                .send()
                .await
                .or_aws("ChangeResourceRecordSets")?;
            out.change_info().map(|c| c.id().to_string())
        };
        let Some(id) = change_id else { return Ok(()) };
        cx.poll_until(&format!("DNS change {id} to be in sync"), INSYNC_TIMEOUT, INSYNC_INTERVAL, || async {
            let out = self.client.get_change().id(&id).send().await.or_aws("GetChange")?;
            Ok(out.change_info().is_some_and(|c| c.status() == &ChangeStatus::Insync).then_some(()))
        })
        .await
    }

    /// The record set `name`/`rtype` of `zone` (no set identifier), if it exists.
    pub async fn find(&self, zone: &str, name: &str, rtype: &str) -> Result<Option<ResourceRecordSet>, ResourceError> {
        let r = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(name)
            .start_record_type(RrType::from(rtype))
            .max_items(1)
            .send()
            .await
            .or_aws("ListResourceRecordSets");
        let Some(out) = not_found_as_none(r)? else { return Ok(None) };
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|r| canonical_name(r.name()) == canonical_name(name) && r.r#type().as_str() == rtype)
            .cloned())
    }

    /// One change of `action` on `set`.
    pub fn change_of(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, ResourceError> {
        Change::builder()
            .action(action)
            .resource_record_set(set)
            .build()
            .map_err(|e| ResourceError::invalid(e.to_string()))
    }
}

/// A DNS name in canonical form: lowercase, no trailing dot, Route53's octal escape for `*`
/// undone (`\052.example.com` → `*.example.com`).
pub fn canonical_name(name: &str) -> String {
    name.trim_end_matches('.').replace("\\052", "*").to_ascii_lowercase()
}

/// A hosted zone id without Route53's `/hostedzone/` prefix.
pub fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_zone_ids() {
        assert_eq!(canonical_name("\\052.Example.COM."), "*.example.com");
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
    }
}
