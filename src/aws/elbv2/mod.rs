//! ELBv2 kinds: application load balancer, target group, listener, listener rule.
//!
//! All four share one read pipeline ([`Elbv2Kind`] + [`read`]): Describe by ARN in batches of
//! 20, DescribeTags in batches of 20, then each item's attributes. ELBv2 fails a whole
//! Describe with `*NotFound` when one ARN in it is gone; the batch is then retried ARN by ARN
//! so the missing ones are simply absent ([`batch_or_each`]). Tags change through
//! AddTags/RemoveTags on the ARN ([`Tagger`]).
//!
//! Names of load balancers and target groups are unique per region, but the emulator creates
//! a second one under a taken name, and none of the Create calls takes a client token. So
//! every create first looks for the name (or, for listeners and rules, the port or priority)
//! and adopts what it finds only when its `kprov:address` tag names this resource.

pub mod action;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod target_group;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2::types::Tag;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::aws::error::{err_is_not_found, SdkResultExt};
use crate::aws::shared::tags::{self, Split, TagApi};
use crate::aws::shared::{Found, READ_CONCURRENCY};
use crate::resource::{AttrSchema, Attrs, Constraint, Registry, ResourceError};

pub type Client = aws_sdk_elasticloadbalancingv2::Client;

/// ARNs per Describe / DescribeTags call.
pub const BATCH: usize = 20;

/// Register every ELBv2 kind in `reg`.
pub fn register(reg: &mut Registry, client: Client) {
    reg.register(Arc::new(load_balancer::LoadBalancer::new(client.clone())));
    reg.register(Arc::new(target_group::TargetGroup::new(client.clone())));
    reg.register(Arc::new(listener::Listener::new(client.clone())));
    reg.register(Arc::new(listener_rule::ListenerRule::new(client)));
}

/// Call `describe` on `ids` in batches of `size`; a batch failing with "not found" is
/// retried id by id, and the ids still not found are left out.
pub async fn batch_or_each<T, F, Fut>(ids: &[String], size: usize, describe: F) -> Result<Vec<T>, ResourceError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ResourceError>>,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(size) {
        match describe(chunk.to_vec()).await {
            Ok(items) => out.extend(items),
            Err(e) if err_is_not_found(&e) && chunk.len() > 1 => {
                for id in chunk {
                    match describe(vec![id.clone()]).await {
                        Ok(items) => out.extend(items),
                        Err(e) if err_is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) if err_is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Tags of `arns`, sorted into ownership and user tags; ARNs that no longer exist are absent.
pub async fn tags_by_arn(client: &Client, arns: &[String]) -> Result<HashMap<String, Split>, ResourceError> {
    let descriptions = batch_or_each(arns, BATCH, |chunk| async move {
        let out = client.describe_tags().set_resource_arns(Some(chunk)).send().await.or_aws("DescribeTags")?;
        Ok(out.tag_descriptions().to_vec())
    })
    .await?;
    Ok(descriptions
        .iter()
        .filter_map(|d| {
            let pairs = d.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())));
            Some((d.resource_arn()?.to_string(), tags::split(pairs, &[])))
        })
        .collect())
}

/// (key, value) pairs as ELBv2 tags.
pub fn to_tags(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// AddTags / RemoveTags on one ARN.
pub struct Tagger<'a>(pub &'a Client);

#[async_trait::async_trait]
impl TagApi for Tagger<'_> {
    async fn tag(&self, arn: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.0.add_tags().resource_arns(arn).set_tags(Some(to_tags(tags))).send().await.or_aws("AddTags")?;
        Ok(())
    }
    async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        self.0.remove_tags().resource_arns(arn).set_tag_keys(Some(keys)).send().await.or_aws("RemoveTags")?;
        Ok(())
    }
}

/// One ELBv2 resource type, for the shared read pipeline.
#[async_trait::async_trait]
pub trait Elbv2Kind: Send + Sync {
    type Item: Send + Sync;
    fn client(&self) -> &Client;
    /// Describe exactly these ARNs (fails with `*NotFound` when one is missing).
    async fn describe(&self, arns: Vec<String>) -> Result<Vec<Self::Item>, ResourceError>;
    fn arn(item: &Self::Item) -> Option<&str>;
    /// The attributes of one item (may call further APIs, e.g. DescribeLoadBalancerAttributes).
    /// `None` when the item vanished meanwhile.
    async fn attrs(&self, item: &Self::Item) -> Result<Option<Attrs>, ResourceError>;
}

/// Items (however listed) with their tags and attributes.
pub async fn found_for<K: Elbv2Kind>(kind: &K, items: Vec<K::Item>) -> Result<Vec<Found>, ResourceError> {
    let arns: Vec<String> = items.iter().filter_map(|i| K::arn(i).map(str::to_string)).collect();
    let mut tags = tags_by_arn(kind.client(), &arns).await?;
    // Owned items: a closure over borrowed ones trips async-trait's lifetime inference.
    let attrs: Vec<Option<(String, Attrs)>> = stream::iter(items)
        .map(|item| async move {
            let Some(arn) = K::arn(&item).map(str::to_string) else { return Ok(None) };
            Ok::<_, ResourceError>(kind.attrs(&item).await?.map(|a| (arn, a)))
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(attrs
        .into_iter()
        .flatten()
        .filter_map(|(arn, attrs)| {
            let split = tags.remove(&arn)?;
            Some(split.found(arn, attrs))
        })
        .collect())
}

/// `read_many` for an [`Elbv2Kind`]: missing ARNs absent.
pub async fn read<K: Elbv2Kind>(kind: &K, arns: &[String]) -> Result<Vec<Found>, ResourceError> {
    let mut unique = arns.to_vec();
    unique.sort();
    unique.dedup();
    let items = batch_or_each(&unique, BATCH, |chunk| kind.describe(chunk)).await?;
    found_for(kind, items).await
}

/// Every load balancer of the region (the root from which listeners and rules are listed).
pub async fn all_load_balancers(
    client: &Client,
) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>, ResourceError> {
    client.describe_load_balancers().into_paginator().items().send().try_collect().await.or_aws("DescribeLoadBalancers")
}

/// Every listener of the region (one DescribeListeners per load balancer).
pub async fn all_listeners(
    client: &Client,
) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::Listener>, ResourceError> {
    let mut out = Vec::new();
    for lb in all_load_balancers(client).await? {
        let Some(arn) = lb.load_balancer_arn() else { continue };
        let r: Result<Vec<_>, _> = client
            .describe_listeners()
            .load_balancer_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeListeners");
        match r {
            Ok(listeners) => out.extend(listeners),
            // Deleted since it was listed.
            Err(e) if err_is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Names of load balancers and target groups: 1–32 letters, digits and hyphens, not starting
/// or ending with a hyphen (ELB API Reference, CreateLoadBalancer and CreateTargetGroup `Name`).
pub fn name_constraints() -> [Constraint; 2] {
    [
        Constraint::Name {
            min: 1,
            max: 32,
            chars: |c| c.is_ascii_alphanumeric() || c == '-',
            chars_doc: "letters, digits and hyphens",
        },
        Constraint::check_fn("does not start or end with a hyphen", |v| match v.as_str() {
            Some(s) if s.starts_with('-') || s.ends_with('-') => {
                Err(format!("{s:?} must not start or end with a hyphen"))
            }
            _ => Ok(()),
        }),
    ]
}

/// `attr` with the ELB name rules.
pub fn name_attr(attr: AttrSchema) -> AttrSchema {
    name_constraints().into_iter().fold(attr, AttrSchema::constraint)
}
