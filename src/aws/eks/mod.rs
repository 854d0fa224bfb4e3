//! EKS kinds: the cluster, managed node groups, add-ons, pod identity associations, access
//! entries and their access-policy associations.
//!
//! One file per kind; [`common`] holds what they share (`cluster/name` ids, tags at creation
//! and by ARN, concurrent reads, adoption of an interrupted create, following an EKS update),
//! [`rules`] the checks made before any AWS call (versions and upgrade steps, instance type
//! families and architectures, AMI types, log types, taints). Every kind works on one shared
//! [`aws_sdk_eks::Client`].

pub mod access_entry;
pub mod access_policy;
pub mod addon;
pub mod cluster;
pub mod common;
pub mod nodegroup;
pub mod pod_identity;
pub mod rules;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::resource::Registry;

/// Register every EKS kind in `reg`.
pub fn register(reg: &mut Registry, client: aws_sdk_eks::Client) {
    reg.register(Arc::new(cluster::Cluster::new(client.clone())));
    reg.register(Arc::new(nodegroup::Nodegroup::new(client.clone())));
    reg.register(Arc::new(addon::Addon::new(client.clone())));
    reg.register(Arc::new(pod_identity::PodIdentityAssociation::new(client.clone())));
    reg.register(Arc::new(access_entry::AccessEntry::new(client.clone())));
    reg.register(Arc::new(access_policy::AccessPolicyAssociation::new(client)));
}
