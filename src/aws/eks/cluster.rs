//! `eks_cluster`: an EKS control plane.
//!
//! Create: CreateCluster with `clientRequestToken = spec.client_token`, tags at creation, the VPC
//! config, control-plane logging, secrets encryption and the authentication mode; then wait
//! (without holding an engine slot) until the cluster is ACTIVE — 10 to 15 minutes on AWS, so
//! the wait gives up after 30. A conflict on the name with a cluster carrying this resource's
//! ownership tags is our own interrupted create: it is adopted and waited for.
//! Read: DescribeCluster per name, concurrently (EKS has no batch describe); missing or
//! DELETING clusters are absent.
//! Update, in place, one EKS update per kind of change (EKS refuses several at once), each
//! followed with DescribeUpdate and then until the cluster is ACTIVE again:
//! authentication mode, logging, endpoint access and public CIDRs, security groups
//! and subnets (UpdateClusterConfig), then the Kubernetes version (UpdateClusterVersion, one
//! minor version per apply — a skip or a downgrade is refused before any call), then tags.
//! Name, role and the encryption key force a new cluster: EKS has no call that renames a
//! cluster or changes its role, and a secrets key, once set, cannot be changed or removed
//! (AssociateEncryptionConfig only adds one to a cluster that has none; EKS API reference).
//! Delete: DeleteCluster, then wait until DescribeCluster no longer finds it.

use std::time::Duration;

use aws_sdk_eks::types::{
    AuthenticationMode, ClusterStatus, CreateAccessConfigRequest, EncryptionConfig, LogSetup, LogType, Logging,
    Provider, UpdateAccessConfigRequest, VpcConfigRequest,
};
use serde_json::{json, Value};

use super::common::{self, changed, health_text, spec_list, str_list, wait_ready, Client, Settled, UpdateWait};
use super::rules::{self, list_attr, str_attr};
use crate::aws::ec2::common::{put_str, tags_attr, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Fact, Observed, ResourceError, ResourceKind, Schema, Spec,
};

/// EKS control planes take 10–15 minutes to create and ~10 to delete.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Configuration updates (logging, endpoints) take a few minutes; version upgrades up to ~40.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const VERSION_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const POLL: Duration = Duration::from_secs(30);

pub struct Cluster {
    client: Client,
    schema: Schema,
}

impl Cluster {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("name", AttrType::String).force_new(),
            AttrSchema::required("version", AttrType::String)
                .constraint(Constraint::Exists(Fact::KubernetesVersion))
                .doc("Kubernetes minor version, e.g. \"1.30\". Upgraded in place one minor version per apply."),
            AttrSchema::required("role_arn", AttrType::String).force_new().doc("The cluster's IAM role."),
            // In place since October 2023: UpdateClusterConfig takes `resourcesVpcConfig.subnetIds`
            // and `securityGroupIds` (EKS API reference, UpdateClusterConfig; eksctl's
            // `utils update-cluster-vpc-config`; terraform-provider-aws issue #34090). EKS keeps
            // one condition: "All subnets that you add must be in the same set of AZs as
            // originally provided when you created the cluster" (EKS user guide, network
            // requirements) — a new AZ needs a new cluster.
            AttrSchema::required("subnet_ids", AttrType::StringList).unordered().doc(
                "Subnets (at least two AZs) for the control plane's network interfaces. Changed in place, within \
                 the AZs the cluster was created in.",
            ),
            AttrSchema::optional("security_group_ids", AttrType::StringList)
                .default(json!([]))
                .unordered()
                .doc("Extra security groups for the control plane's network interfaces."),
            AttrSchema::optional("endpoint_private_access", AttrType::Bool).default(json!(false)),
            AttrSchema::optional("endpoint_public_access", AttrType::Bool).default(json!(true)),
            AttrSchema::optional("public_access_cidrs", AttrType::StringList)
                .default(json!(["0.0.0.0/0"]))
                .unordered()
                .doc("Who may reach the public endpoint."),
            AttrSchema::optional("enabled_log_types", AttrType::StringList)
                .default(json!([]))
                .unordered()
                .doc("Control-plane logs sent to CloudWatch: api, audit, authenticator, controllerManager, scheduler."),
            AttrSchema::optional("encryption_kms_key_arn", AttrType::String)
                .force_new()
                .doc("KMS key encrypting Kubernetes secrets."),
            AttrSchema::optional("authentication_mode", AttrType::String)
                .doc("CONFIG_MAP, API_AND_CONFIG_MAP or API (access entries). Only ever moves towards API."),
            tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
            AttrSchema::computed("endpoint", AttrType::String),
            AttrSchema::computed("oidc_issuer_url", AttrType::String),
            AttrSchema::computed("certificate_authority", AttrType::String).doc("Base64 CA bundle of the endpoint."),
            AttrSchema::computed("cluster_security_group_id", AttrType::String),
            AttrSchema::computed("vpc_id", AttrType::String),
            AttrSchema::computed("platform_version", AttrType::String),
        ])
        .stateful();
        Cluster { client, schema }
    }

    async fn describe(&self, name: &str) -> Result<Option<aws_sdk_eks::types::Cluster>, ResourceError> {
        let out = not_found_as_none(self.client.describe_cluster().name(name).send().await.or_aws("DescribeCluster"))?;
        Ok(out.and_then(|o| o.cluster))
    }

    async fn read_one(&self, name: String) -> Result<Option<Found>, ResourceError> {
        Ok(self.describe(&name).await?.as_ref().and_then(to_found))
    }

    /// Poll until the cluster is ACTIVE; FAILED (or being deleted) is an error.
    async fn wait_active(&self, cx: &Cx, name: &str, timeout: Duration, operation: &str) -> Result<(), ResourceError> {
        let what = format!("EKS cluster {name} to become ACTIVE");
        let settled = |c: &aws_sdk_eks::types::Cluster| match c.status() {
            Some(ClusterStatus::Active) => Settled::Ready,
            Some(s @ (ClusterStatus::Failed | ClusterStatus::Deleting)) => Settled::Failed {
                status: s.as_str().to_string(),
                message: health_message(c).unwrap_or_else(|| format!("cluster {name} is {}", s.as_str())),
            },
            _ => Settled::Pending,
        };
        wait_ready(cx, &what, timeout, POLL, operation, "Cluster", || self.describe(name), settled).await
    }

    async fn wait_gone(&self, cx: &Cx, name: &str) -> Result<(), ResourceError> {
        let what = format!("EKS cluster {name} to be deleted");
        common::wait_gone(cx, &what, DELETE_TIMEOUT, POLL, || self.describe(name)).await
    }

    /// One UpdateClusterConfig call, followed to the end.
    async fn update_config(
        &self,
        cx: &Cx,
        name: &str,
        req: aws_sdk_eks::operation::update_cluster_config::builders::UpdateClusterConfigFluentBuilder,
    ) -> Result<(), ResourceError> {
        let out = req.name(name).send().await.or_aws("UpdateClusterConfig")?;
        let w = UpdateWait {
            cluster: name,
            nodegroup: None,
            addon: None,
            operation: "UpdateClusterConfig",
            timeout: CONFIG_TIMEOUT,
            interval: POLL,
        };
        common::wait_update(cx, &self.client, &w, out.update()).await?;
        self.wait_active(cx, name, CONFIG_TIMEOUT, "UpdateClusterConfig").await
    }
}

fn health_message(c: &aws_sdk_eks::types::Cluster) -> Option<String> {
    health_text(
        c.health().map(|h| h.issues()).unwrap_or_default().iter().map(|i| (i.code().map(|c| c.as_str()), i.message())),
    )
}

fn str_values(a: &[Value]) -> Vec<String> {
    a.iter().filter_map(Value::as_str).map(str::to_string).collect()
}

/// The control-plane log types enabled in `logging`, in EKS's order.
fn enabled_log_types(logging: Option<&Logging>) -> Vec<String> {
    let mut on: Vec<&LogType> = logging
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types())
        .collect();
    let order = |t: &LogType| rules::log_types().iter().position(|x| *x == t.as_str()).unwrap_or(usize::MAX);
    on.sort_by_key(|t| order(t));
    on.dedup();
    on.into_iter().map(|t| t.as_str().to_string()).collect()
}

/// A Logging block enabling exactly `types` (and disabling the others).
fn logging(types: &[String]) -> Logging {
    let (on, off): (Vec<&str>, Vec<&str>) = rules::log_types().iter().partition(|t| types.iter().any(|x| x == *t));
    let mut setups = Vec::new();
    for (types, enabled) in [(on, true), (off, false)] {
        if !types.is_empty() {
            setups.push(
                LogSetup::builder()
                    .set_types(Some(types.into_iter().map(LogType::from).collect()))
                    .enabled(enabled)
                    .build(),
            );
        }
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

fn to_found(c: &aws_sdk_eks::types::Cluster) -> Option<Found> {
    if c.status() == Some(&ClusterStatus::Deleting) {
        return None;
    }
    let name = c.name()?;
    let mut attrs = Attrs::new();
    put_str(&mut attrs, "name", Some(name));
    put_str(&mut attrs, "version", c.version());
    put_str(&mut attrs, "role_arn", c.role_arn());
    if let Some(v) = c.resources_vpc_config() {
        attrs.insert("subnet_ids".into(), str_list(v.subnet_ids()));
        attrs.insert("security_group_ids".into(), str_list(v.security_group_ids()));
        attrs.insert("endpoint_private_access".into(), Value::Bool(v.endpoint_private_access()));
        attrs.insert("endpoint_public_access".into(), Value::Bool(v.endpoint_public_access()));
        attrs.insert("public_access_cidrs".into(), str_list(v.public_access_cidrs()));
        put_str(&mut attrs, "cluster_security_group_id", v.cluster_security_group_id());
        put_str(&mut attrs, "vpc_id", v.vpc_id());
    }
    attrs.insert("enabled_log_types".into(), str_list(&enabled_log_types(c.logging())));
    // EKS encrypts all Kubernetes API data (secrets included) with the one key configured.
    let secrets_key = c.encryption_config().iter().find_map(|e| e.provider()).and_then(|p| p.key_arn());
    put_str(&mut attrs, "encryption_kms_key_arn", secrets_key);
    put_str(
        &mut attrs,
        "authentication_mode",
        c.access_config().and_then(|a| a.authentication_mode()).map(AuthenticationMode::as_str),
    );
    put_str(&mut attrs, "arn", c.arn());
    put_str(&mut attrs, "endpoint", c.endpoint());
    put_str(&mut attrs, "oidc_issuer_url", c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()));
    put_str(&mut attrs, "certificate_authority", c.certificate_authority().and_then(|ca| ca.data()));
    put_str(&mut attrs, "platform_version", c.platform_version());
    Some(common::found(name, attrs, c.tags()))
}

fn check(desired: &Attrs, prior: Option<&Attrs>) -> Result<(), String> {
    if let Some(name) = str_attr(desired, "name") {
        let ok = name.len() <= 100
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(format!(
                "`name` {name:?} is not a valid EKS cluster name (letters, digits, - and _, starting with a letter or \
                 digit, at most 100 characters)"
            ));
        }
    }
    if let Some(v) = str_attr(desired, "version") {
        rules::parse_version("version", v)?;
        if let Some(from) = prior.and_then(|p| str_attr(p, "version")) {
            rules::check_cluster_upgrade("version", from, v)?;
        }
    }
    if let Some(role) = str_attr(desired, "role_arn") {
        rules::check_iam_arn("role_arn", role, false)?;
    }
    if desired.contains_key("subnet_ids") && list_attr(desired, "subnet_ids").len() < 2 {
        return Err("`subnet_ids` needs at least two subnets, in different availability zones".into());
    }
    rules::check_log_types(&list_attr(desired, "enabled_log_types"))?;
    for cidr in list_attr(desired, "public_access_cidrs") {
        rules::check_cidr("public_access_cidrs", cidr)?;
    }
    let flag = |n: &str| desired.get(n).and_then(Value::as_bool);
    if flag("endpoint_private_access") == Some(false) && flag("endpoint_public_access") == Some(false) {
        return Err("`endpoint_private_access` and `endpoint_public_access` are both false: the API server would be \
             unreachable; enable at least one"
            .into());
    }
    let cidrs = list_attr(desired, "public_access_cidrs");
    if flag("endpoint_public_access") == Some(false) && !cidrs.is_empty() && cidrs != ["0.0.0.0/0"] {
        return Err(
            "`public_access_cidrs` restricts the public endpoint, but `endpoint_public_access` is false: remove \
             the CIDRs or enable the public endpoint"
                .into(),
        );
    }
    if let Some(mode) = str_attr(desired, "authentication_mode") {
        rules::check_auth_mode(mode, prior.and_then(|p| str_attr(p, "authentication_mode")))?;
    }
    if let Some(key) = str_attr(desired, "encryption_kms_key_arn") {
        if !(key.starts_with("arn:") && key.contains(":kms:")) {
            return Err(format!("`encryption_kms_key_arn` must be a KMS key ARN (arn:aws:kms:…:key/…), not {key:?}"));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl ResourceKind for Cluster {
    fn kind(&self) -> &'static str {
        "eks_cluster"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, desired: &Attrs, prior: Option<&Attrs>) -> Result<(), String> {
        check(desired, prior)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(common::observed(common::read_each(ids, |id| self.read_one(id)).await?))
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let public = spec.bool("endpoint_public_access").unwrap_or(true);
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(spec_list(spec, "subnet_ids")))
            .set_security_group_ids(Some(spec_list(spec, "security_group_ids")))
            .endpoint_private_access(spec.bool("endpoint_private_access").unwrap_or(false))
            .endpoint_public_access(public)
            .set_public_access_cidrs(public.then(|| spec_list(spec, "public_access_cidrs")).filter(|c| !c.is_empty()))
            .build();
        let log_types = spec_list(spec, "enabled_log_types");
        let req = self
            .client
            .create_cluster()
            .name(name)
            .version(spec.req_str("version")?)
            .role_arn(spec.req_str("role_arn")?)
            .resources_vpc_config(vpc)
            .client_request_token(&spec.client_token)
            .set_tags(Some(common::creation_tags(cx, spec)?))
            .set_logging((!log_types.is_empty()).then(|| logging(&log_types)))
            .set_encryption_config(spec.str("encryption_kms_key_arn").map(|key| {
                vec![EncryptionConfig::builder().provider(Provider::builder().key_arn(key).build()).build()]
            }))
            .set_access_config(spec.str("authentication_mode").map(|m| {
                CreateAccessConfigRequest::builder().authentication_mode(AuthenticationMode::from(m)).build()
            }));
        match req.send().await.or_aws("CreateCluster") {
            Ok(_) => {}
            Err(e) if common::is_conflict(&e) => {
                common::adopt_or(cx, spec, e, self.read_one(name.to_string()).await?)?;
            }
            Err(e) => return Err(e),
        }
        self.wait_active(cx, name, CREATE_TIMEOUT, "CreateCluster").await?;
        self.read_one(name.to_string()).await?.map(|f| f.obs).ok_or_else(|| {
            ResourceError::unexpected("DescribeCluster", format!("cluster {name} vanished after create"))
        })
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        // Refused before any call: a version skip or downgrade, an authentication mode going back.
        let name = prior.id.as_str();
        let cfg = || self.client.update_cluster_config();

        if changed(spec, prior, "authentication_mode", false) {
            let mode = AuthenticationMode::from(spec.req_str("authentication_mode")?);
            let access = UpdateAccessConfigRequest::builder().authentication_mode(mode).build();
            self.update_config(cx, name, cfg().access_config(access)).await?;
        }
        if changed(spec, prior, "enabled_log_types", true) {
            let wanted = logging(&spec_list(spec, "enabled_log_types"));
            self.update_config(cx, name, cfg().logging(wanted)).await?;
        }
        let endpoint_attrs =
            [("endpoint_private_access", false), ("endpoint_public_access", false), ("public_access_cidrs", true)];
        if endpoint_attrs.iter().any(|(n, unordered)| changed(spec, prior, n, *unordered)) {
            // Only the endpoint fields: EKS keeps what is not sent (and treats subnets and
            // security groups as another kind of update).
            let flag = |n: &str| spec.bool(n).or_else(|| prior.attrs.get(n).and_then(Value::as_bool));
            let public = flag("endpoint_public_access").unwrap_or(true);
            let vpc = VpcConfigRequest::builder()
                .endpoint_private_access(flag("endpoint_private_access").unwrap_or(false))
                .endpoint_public_access(public)
                .set_public_access_cidrs(
                    public.then(|| spec_list(spec, "public_access_cidrs")).filter(|c| !c.is_empty()),
                )
                .build();
            self.update_config(cx, name, cfg().resources_vpc_config(vpc)).await?;
        }
        if changed(spec, prior, "subnet_ids", true) || changed(spec, prior, "security_group_ids", true) {
            // Subnets and security groups are one kind of update: both are sent, the unchanged
            // one as it is now (EKS replaces the control plane's network interfaces).
            let keep = |n: &str| {
                if spec.attrs.contains_key(n) {
                    spec_list(spec, n)
                } else {
                    prior.attrs.get(n).and_then(Value::as_array).map(|a| str_values(a)).unwrap_or_default()
                }
            };
            let vpc = VpcConfigRequest::builder()
                .set_subnet_ids(Some(keep("subnet_ids")))
                .set_security_group_ids(Some(keep("security_group_ids")))
                .build();
            self.update_config(cx, name, cfg().resources_vpc_config(vpc)).await?;
        }
        if changed(spec, prior, "version", false) {
            let out = self
                .client
                .update_cluster_version()
                .name(name)
                .version(spec.req_str("version")?)
                .client_request_token(format!("{}-v{}", spec.client_token, spec.req_str("version")?))
                .send()
                .await
                .or_aws("UpdateClusterVersion")?;
            let w = UpdateWait {
                cluster: name,
                nodegroup: None,
                addon: None,
                operation: "UpdateClusterVersion",
                timeout: VERSION_TIMEOUT,
                interval: POLL,
            };
            common::wait_update(cx, &self.client, &w, out.update()).await?;
            self.wait_active(cx, name, VERSION_TIMEOUT, "UpdateClusterVersion").await?;
        }
        if let Some(arn) = prior.attrs.get("arn").and_then(Value::as_str) {
            common::reconcile_tags(&self.client, arn, prior, spec).await?;
        }
        self.read_one(name.to_string()).await?.map(|f| f.obs).ok_or_else(|| {
            ResourceError::unexpected("DescribeCluster", format!("cluster {name} vanished during update"))
        })
    }

    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let name = prior.id.as_str();
        match self.describe(name).await? {
            None => return Ok(()),
            Some(c) if c.status() == Some(&ClusterStatus::Deleting) => {}
            Some(_) => {
                not_found_as_none(self.client.delete_cluster().name(name).send().await.or_aws("DeleteCluster"))?;
            }
        }
        self.wait_gone(cx, name).await
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        let names = common::cluster_names(&self.client).await?;
        Ok(common::owned(cx, common::read_each(&names, |n| self.read_one(n)).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Attrs {
        serde_json::from_value(v).expect("attrs")
    }

    #[test]
    fn cluster_input_is_checked() {
        let ok = json!({"name": "platform-prod", "version": "1.30", "subnet_ids": ["a", "b"],
            "endpoint_private_access": true, "endpoint_public_access": true, "public_access_cidrs": ["203.0.113.0/24"]});
        assert!(check(&attrs(ok), None).is_ok());
        let cases = [
            (json!({"name": "-bad"}), "not a valid EKS cluster name"),
            (json!({"subnet_ids": ["a"]}), "at least two subnets"),
            (json!({"endpoint_private_access": false, "endpoint_public_access": false}), "both false"),
            (
                json!({"endpoint_public_access": false, "public_access_cidrs": ["203.0.113.0/24"]}),
                "`endpoint_public_access` is false",
            ),
            (json!({"enabled_log_types": ["api", "kubelet"]}), "`enabled_log_types` must be one of"),
            (json!({"encryption_kms_key_arn": "alias/eks"}), "KMS key ARN"),
        ];
        for (input, says) in cases {
            let e = check(&attrs(input.clone()), None).expect_err(&input.to_string());
            assert!(e.contains(says), "{input}: {e}");
        }
        let prior = attrs(json!({"version": "1.29", "authentication_mode": "API"}));
        assert!(check(&attrs(json!({"version": "1.31"})), Some(&prior)).unwrap_err().contains("one minor version"));
        assert!(check(&attrs(json!({"authentication_mode": "CONFIG_MAP"})), Some(&prior)).is_err());
        // A private-only endpoint with the default CIDR list (what AWS reports) is fine.
        let private = json!({"endpoint_public_access": false, "public_access_cidrs": ["0.0.0.0/0"]});
        assert!(check(&attrs(private), None).is_ok());
    }
}
