//! `eks_access_policy_association`: an EKS access policy (AmazonEKSClusterAdminPolicy,
//! AmazonEKSViewPolicy, …) granted to an access entry, cluster-wide or in some namespaces.
//! Id: `cluster/principal_arn#policy_arn`.
//!
//! Create and update: AssociateAccessPolicy, which sets the association's scope whether or not
//! it exists (so a re-run after an interruption is harmless). Read: one
//! ListAssociatedAccessPolicies per (cluster, principal), concurrently, for all the ids of that
//! principal. Delete: DisassociateAccessPolicy (already gone is success).
//! Associations carry no tags; since a create is an idempotent upsert, `find_owned` has nothing
//! to adopt and finds nothing. An interrupted create is resolved by its id (`find_intent`), so
//! a destroy never forgets an association AWS made.

use std::collections::BTreeMap;

use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::common::{self, spec_list, str_list, Client, READ_CONCURRENCY};
use super::rules::{self, list_attr, str_attr};
use crate::aws::ec2::common::put_str;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{AttrSchema, AttrType, Attrs, Cx, Observed, ResourceError, ResourceKind, Schema, Spec};

pub struct AccessPolicyAssociation {
    client: Client,
    schema: Schema,
}

fn join(cluster: &str, principal: &str, policy: &str) -> String {
    common::join_id(cluster, &format!("{principal}#{policy}"))
}

/// `cluster/principal#policy` → its three parts.
fn split(id: &str) -> Result<(&str, &str, &str), ResourceError> {
    let (cluster, rest) = common::split_id("eks_access_policy_association", id)?;
    let (principal, policy) = rest.rsplit_once('#').ok_or_else(|| {
        ResourceError::invalid(format!("eks_access_policy_association: id {id:?} is not CLUSTER/PRINCIPAL#POLICY"))
    })?;
    Ok((cluster, principal, policy))
}

impl AccessPolicyAssociation {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // Parents: the association lives under the access entry, which lives under the cluster
            // (POST /clusters/{name}/access-entries/{principalArn}/access-policies, EKS API
            // reference): replacing either makes it again.
            AttrSchema::required("cluster_name", AttrType::String).force_new().parent(),
            AttrSchema::required("principal_arn", AttrType::String)
                .force_new()
                .parent()
                .doc("The access entry's principal."),
            AttrSchema::required("policy_arn", AttrType::String)
                .force_new()
                .doc("e.g. arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"),
            AttrSchema::optional("access_scope", AttrType::String)
                .default(json!("cluster"))
                .doc("`cluster`, or `namespace` (then `namespaces` says which)."),
            AttrSchema::optional("namespaces", AttrType::StringList).default(json!([])).unordered(),
        ]);
        AccessPolicyAssociation { client, schema }
    }

    /// Every association of one principal, as (id, observed).
    async fn read_principal(&self, cluster: String, principal: String) -> Result<Vec<Observed>, ResourceError> {
        let listed = not_found_as_none(
            self.client
                .list_associated_access_policies()
                .cluster_name(&cluster)
                .principal_arn(&principal)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_aws("ListAssociatedAccessPolicies"),
        )?;
        Ok(listed
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let policy = p.policy_arn()?;
                let scope = p.access_scope();
                let mut namespaces: Vec<&str> =
                    scope.map(|s| s.namespaces()).unwrap_or_default().iter().map(String::as_str).collect();
                namespaces.sort_unstable();
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "cluster_name", Some(&cluster));
                put_str(&mut attrs, "principal_arn", Some(&principal));
                put_str(&mut attrs, "policy_arn", Some(policy));
                put_str(&mut attrs, "access_scope", scope.and_then(|s| s.r#type()).map(AccessScopeType::as_str));
                attrs.insert("namespaces".into(), str_list(&namespaces));
                Some(Observed { id: join(&cluster, &principal, policy), attrs, owner_address: None })
            })
            .collect())
    }

    async fn associate(&self, spec: &Spec) -> Result<String, ResourceError> {
        let (cluster, principal, policy) =
            (spec.req_str("cluster_name")?, spec.req_str("principal_arn")?, spec.req_str("policy_arn")?);
        let namespaces = spec_list(spec, "namespaces");
        let scope = AccessScope::builder()
            .r#type(AccessScopeType::from(spec.str("access_scope").unwrap_or("cluster")))
            .set_namespaces((!namespaces.is_empty()).then_some(namespaces))
            .build();
        self.client
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(policy)
            .access_scope(scope)
            .send()
            .await
            .or_aws("AssociateAccessPolicy")?;
        Ok(join(cluster, principal, policy))
    }

    async fn read_back(&self, id: &str) -> Result<Observed, ResourceError> {
        let (cluster, principal, _) = split(id)?;
        self.read_principal(cluster.to_string(), principal.to_string())
            .await?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| ResourceError::unexpected("ListAssociatedAccessPolicies", format!("{id} vanished")))
    }
}

fn check(desired: &Attrs) -> Result<(), String> {
    if let Some(p) = str_attr(desired, "principal_arn") {
        rules::check_iam_arn("principal_arn", p, true)?;
    }
    if let Some(arn) = str_attr(desired, "policy_arn") {
        let ok = arn.starts_with("arn:aws")
            && arn.split_once(":eks::aws:cluster-access-policy/").is_some_and(|(_, name)| !name.is_empty());
        if !ok {
            return Err(format!(
                "`policy_arn` must be an EKS cluster access policy ARN such as \
                 \"arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy\", not {arn:?}"
            ));
        }
    }
    let scope = str_attr(desired, "access_scope").unwrap_or("cluster");
    rules::one_of("access_scope", scope, &["cluster", "namespace"])?;
    let namespaces = list_attr(desired, "namespaces");
    match scope {
        "namespace" if namespaces.is_empty() && desired.contains_key("namespaces") => {
            Err("`access_scope` = \"namespace\" needs at least one entry in `namespaces`".into())
        }
        "cluster" if !namespaces.is_empty() => {
            Err("`namespaces` only applies with `access_scope` = \"namespace\"; a cluster scope covers all".into())
        }
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl ResourceKind for AccessPolicyAssociation {
    fn kind(&self) -> &'static str {
        "eks_access_policy_association"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, desired: &Attrs, _prior: Option<&Attrs>) -> Result<(), String> {
        check(desired)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        let mut by_principal: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
        for id in ids {
            let (cluster, principal, _) = split(id)?;
            by_principal.entry((cluster.to_string(), principal.to_string())).or_default().push(id);
        }
        let wanted: Vec<&str> = by_principal.values().flatten().copied().collect();
        let all: Vec<Vec<Observed>> = futures::stream::iter(by_principal.into_keys())
            .map(|(c, p)| self.read_principal(c, p))
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(all.into_iter().flatten().filter(|o| wanted.contains(&o.id.as_str())).collect())
    }

    async fn create(&self, _cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let id = self.associate(spec).await?;
        self.read_back(&id).await
    }

    async fn update(&self, _cx: &Cx, _prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let id = self.associate(spec).await?;
        self.read_back(&id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let (cluster, principal, policy) = split(&prior.id)?;
        not_found_as_none(
            self.client
                .disassociate_access_policy()
                .cluster_name(cluster)
                .principal_arn(principal)
                .policy_arn(policy)
                .send()
                .await
                .or_aws("DisassociateAccessPolicy"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, _cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        Ok(Vec::new())
    }

    /// A create whose answer was lost is found by its natural key, cluster + principal +
    /// policy (the id; one association per policy and access entry). The access entry it
    /// belongs to is this stack's, so the association is adopted whatever its scope, and
    /// `update` re-sets the scope if the interrupted call did not.
    async fn find_intent(&self, _cx: &Cx, intent: &Spec) -> Result<Option<Observed>, ResourceError> {
        let (Some(cluster), Some(principal), Some(policy)) =
            (intent.str("cluster_name"), intent.str("principal_arn"), intent.str("policy_arn"))
        else {
            return Ok(None);
        };
        let id = join(cluster, principal, policy);
        Ok(self.read_principal(cluster.to_string(), principal.to_string()).await?.into_iter().find(|o| o.id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).expect("attrs")
    }

    #[test]
    fn ids_round_trip() {
        let id = join("c", "arn:aws:iam::123456789012:role/a/b", "arn:aws:eks::aws:cluster-access-policy/X");
        assert_eq!(
            split(&id).unwrap(),
            ("c", "arn:aws:iam::123456789012:role/a/b", "arn:aws:eks::aws:cluster-access-policy/X")
        );
    }

    #[test]
    fn scopes_are_checked() {
        let policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
        assert!(check(&attrs(json!({"policy_arn": policy, "access_scope": "cluster", "namespaces": []}))).is_ok());
        assert!(check(&attrs(json!({"access_scope": "namespace", "namespaces": ["apps"]}))).is_ok());
        assert!(check(&attrs(json!({"access_scope": "namespace", "namespaces": []}))).is_err());
        assert!(check(&attrs(json!({"access_scope": "cluster", "namespaces": ["apps"]}))).is_err());
        assert!(check(&attrs(json!({"access_scope": "global"}))).is_err());
        let e = check(&attrs(json!({"policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}))).unwrap_err();
        assert!(e.contains("cluster access policy"), "{e}");
    }
}
