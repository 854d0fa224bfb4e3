//! [`Catalog`] over EC2 and EKS: what exists in the region, for the values the schemas mark
//! [`Constraint::Exists`](crate::resource::Constraint::Exists). `plan` asks once per fact for
//! every resource (one paginated read each), before any change:
//! - availability zones: EC2 `DescribeAvailabilityZones` (the zones of the region that the
//!   account can use; EC2 API Reference);
//! - instance types: EC2 `DescribeInstanceTypeOfferings` with `LocationType=region` and an
//!   `instance-type` filter of the types asked (at most 200 filter values per call, hence
//!   chunks; EC2 API Reference, and how `aws ec2 describe-instance-type-offerings` is used by
//!   eksctl to check node group types);
//! - Kubernetes versions: EKS `DescribeClusterVersions` (EKS API Reference);
//! - add-on versions: EKS `DescribeAddonVersions`, all add-ons, paginated (EKS API Reference).

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{Filter, LocationType};

use super::error::SdkResultExt;
use crate::resource::{Catalog, Fact, Query, ResourceError};

/// EC2 takes at most 200 values per filter.
const FILTER_VALUES_MAX: usize = 200;

pub struct AwsCatalog {
    pub ec2: aws_sdk_ec2::Client,
    pub eks: aws_sdk_eks::Client,
}

/// `a, b, c` (at most `n`, then `…`).
fn some(names: &BTreeSet<String>, n: usize) -> String {
    let mut v: Vec<&str> = names.iter().map(String::as_str).take(n).collect();
    if names.len() > n {
        v.push("…");
    }
    v.join(", ")
}

impl AwsCatalog {
    async fn zones(&self) -> Result<BTreeSet<String>, ResourceError> {
        let out = self.ec2.describe_availability_zones().send().await.or_aws("DescribeAvailabilityZones")?;
        Ok(out.availability_zones().iter().filter_map(|z| z.zone_name()).map(str::to_string).collect())
    }

    async fn instance_types(&self, asked: &[String]) -> Result<BTreeSet<String>, ResourceError> {
        let mut found = BTreeSet::new();
        for chunk in asked.chunks(FILTER_VALUES_MAX) {
            let filter = Filter::builder().name("instance-type").set_values(Some(chunk.to_vec())).build();
            let mut pages = self
                .ec2
                .describe_instance_type_offerings()
                .location_type(LocationType::Region)
                .filters(filter)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.or_aws("DescribeInstanceTypeOfferings")?;
                found.extend(
                    page.instance_type_offerings()
                        .iter()
                        .filter_map(|o| o.instance_type())
                        .map(|t| t.as_str().to_string()),
                );
            }
        }
        Ok(found)
    }

    async fn kubernetes_versions(&self) -> Result<BTreeSet<String>, ResourceError> {
        let mut found = BTreeSet::new();
        let mut pages = self.eks.describe_cluster_versions().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.or_aws("DescribeClusterVersions")?;
            found.extend(page.cluster_versions().iter().filter_map(|v| v.cluster_version()).map(str::to_string));
        }
        Ok(found)
    }

    /// (add-on name, version) of every add-on EKS offers.
    async fn addon_versions(&self) -> Result<BTreeSet<(String, String)>, ResourceError> {
        let mut found = BTreeSet::new();
        let mut pages = self.eks.describe_addon_versions().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.or_aws("DescribeAddonVersions")?;
            for a in page.addons() {
                let Some(name) = a.addon_name() else { continue };
                for v in a.addon_versions().iter().filter_map(|v| v.addon_version()) {
                    found.insert((name.to_string(), v.to_string()));
                }
            }
        }
        Ok(found)
    }
}

#[async_trait::async_trait]
impl Catalog for AwsCatalog {
    async fn existing(&self, fact: Fact, queries: &[Query]) -> Result<(Vec<Query>, String), ResourceError> {
        let known = |set: &BTreeSet<String>| queries.iter().filter(|q| set.contains(&q.value)).cloned().collect();
        Ok(match fact {
            Fact::AvailabilityZone => {
                let zones = self.zones().await?;
                (known(&zones), format!("zones of the region: {}", some(&zones, 8)))
            }
            Fact::InstanceType => {
                let asked: Vec<String> =
                    queries.iter().map(|q| q.value.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                let offered = self.instance_types(&asked).await?;
                (known(&offered), "not offered in the region".to_string())
            }
            Fact::KubernetesVersion => {
                let versions = self.kubernetes_versions().await?;
                (known(&versions), format!("EKS versions: {}", some(&versions, 12)))
            }
            Fact::AddonVersion => {
                let all = self.addon_versions().await?;
                let ok = queries
                    .iter()
                    .filter(|q| q.context.as_ref().is_some_and(|n| all.contains(&(n.clone(), q.value.clone()))))
                    .cloned()
                    .collect();
                let names: BTreeSet<String> = queries.iter().filter_map(|q| q.context.clone()).collect();
                let versions: BTreeSet<String> =
                    all.iter().filter(|(n, _)| names.contains(n)).map(|(n, v)| format!("{n} {v}")).collect();
                (ok, format!("versions: {}", some(&versions, 6)))
            }
        })
    }
}
