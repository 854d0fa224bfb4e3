//! AWS providers: SDK configuration, error classification, one folder per service.
//!
//! Flow: the CLI calls [`sdk_config`] once (credentials and region from the standard chain,
//! an optional endpoint override for moto/LocalStack), then [`registry`] builds every AWS
//! resource kind around clients made from that one config. [`offline_registry`] builds the same
//! kinds without touching the network, for commands that only need schemas (validate, graph).
//!
//! Errors of every service go through [`error::from_sdk`], so codes, request ids and
//! retryability are classified in one place.
//!
//! Every request goes through [`limits::LimitedHttpClient`], set as the configuration's HTTP
//! client: per-service token buckets, the throttling retry and per-service call statistics,
//! shared by all clients made from one configuration.

pub mod acm;
pub mod catalog;
pub mod consistency;
pub mod ec2;
pub mod ecr;
pub mod eks;
pub mod elbv2;
pub mod error;
pub mod iam;
pub mod iam_actions;
pub mod iam_policy;
pub mod identity;
pub mod kms;
pub mod limits;
pub mod logs;
pub mod route53;
pub mod shared;

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::engine::{Model, RateLimiter};
use crate::resource::Registry;

/// Attempts per API call (the first try included) for transient failures (a 5xx answer, a lost
/// connection, a timeout), made by the rate-limited connector ([`limits`]) with exponential
/// backoff and jitter — only for calls that are safe to send again
/// ([`limits::safe_to_repeat`]). Throttled answers are retried by the same connector under the
/// AWS model's retry policy (a throttled request was refused, so any call may be repeated).
///
/// The SDK's own retry is off ([`SDK_ATTEMPTS`]): it would send a `CreateVpc` whose answer was
/// lost again, and make a second VPC.
pub const MAX_ATTEMPTS: u32 = 4;

/// Attempts the SDK makes itself: one. Retries are the connector's, which knows which calls
/// may be repeated.
pub const SDK_ATTEMPTS: u32 = 1;

/// The SDK configuration for `region`, rate-limited by the built-in AWS model's buckets.
///
/// Credentials come from the standard chain (env, profile, SSO, IMDS, …). The endpoint is
/// `endpoint_url` when given; otherwise aws-config itself honours `AWS_ENDPOINT_URL` (and the
/// per-service `AWS_ENDPOINT_URL_<SERVICE>`) and the profile's `endpoint_url`.
pub async fn sdk_config(region: &str, endpoint_url: Option<&str>) -> SdkConfig {
    sdk_config_limited(region, endpoint_url, Arc::new(RateLimiter::from_model(&Model::builtin()))).await
}

/// [`sdk_config`] with every request going through `limiter` (whose statistics the caller
/// keeps for the run summary).
pub async fn sdk_config_limited(region: &str, endpoint_url: Option<&str>, limiter: Arc<RateLimiter>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(retry_config())
        .http_client(limits::LimitedHttpClient::new(limiter, None));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(SDK_ATTEMPTS)
}

/// Every AWS resource kind, with clients built from `sdk`.
pub fn registry(sdk: &SdkConfig) -> Registry {
    let mut reg = Registry::new();
    ec2::register(&mut reg, aws_sdk_ec2::Client::new(sdk));
    eks::register(&mut reg, aws_sdk_eks::Client::new(sdk));
    iam::register(&mut reg, aws_sdk_iam::Client::new(sdk));
    kms::register(&mut reg, aws_sdk_kms::Client::new(sdk));
    logs::register(&mut reg, aws_sdk_cloudwatchlogs::Client::new(sdk));
    ecr::register(&mut reg, aws_sdk_ecr::Client::new(sdk));
    elbv2::register(&mut reg, aws_sdk_elasticloadbalancingv2::Client::new(sdk));
    // Route53 and ACM share the DNS client and its per-zone change locks.
    let dns = route53::Dns::new(aws_sdk_route53::Client::new(sdk));
    route53::register(&mut reg, dns.clone());
    acm::register(&mut reg, aws_sdk_acm::Client::new(sdk), dns);
    reg.set_catalog(Some(Arc::new(catalog::AwsCatalog {
        ec2: aws_sdk_ec2::Client::new(sdk),
        eks: aws_sdk_eks::Client::new(sdk),
    })));
    reg
}

/// The same kinds as [`registry`] over a dummy configuration: no credentials, no network use.
/// Only for schema validation and graph printing; calling a kind's API methods fails.
pub fn offline_registry() -> Registry {
    let sdk = SdkConfig::builder().region(Region::new("us-east-1")).behavior_version(BehaviorVersion::latest()).build();
    let mut reg = registry(&sdk);
    // Offline: nothing may be looked up.
    reg.set_catalog(None);
    reg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/resources.md is generated from the schemas; this fails when it is stale.
    #[test]
    fn resources_doc_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(crate::resource::docs::RESOURCES_MD);
        let want = crate::resource::docs::resources_markdown(&offline_registry());
        if std::env::var_os("KPROV_BLESS").is_some() {
            std::fs::write(&path, &want).expect("write docs/resources.md");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/resources.md is stale (the resource schemas changed); regenerate it with:\n  \
             KPROV_BLESS=1 cargo test --lib resources_doc_is_current"
        );
    }

    #[test]
    fn offline_registry_has_the_ec2_kinds() {
        let reg = offline_registry();
        let names: Vec<_> = reg.names().collect();
        for kind in [
            "ec2_vpc",
            "ec2_subnet",
            "ec2_internet_gateway",
            "ec2_elastic_ip",
            "ec2_nat_gateway",
            "ec2_route_table",
            "ec2_route",
            "ec2_route_table_association",
            "ec2_security_group",
            "ec2_security_group_rule",
        ] {
            assert!(names.contains(&kind), "{kind} missing from {names:?}");
        }
    }

    #[test]
    fn offline_registry_has_the_platform_kinds() {
        let reg = offline_registry();
        for kind in [
            "iam_role",
            "iam_instance_profile",
            "iam_oidc_provider",
            "kms_key",
            "kms_alias",
            "logs_log_group",
            "ec2_flow_log",
            "ecr_repository",
            "elbv2_load_balancer",
            "elbv2_target_group",
            "elbv2_listener",
            "elbv2_listener_rule",
            "route53_zone",
            "route53_record",
            "acm_certificate",
        ] {
            let k = reg.get(kind).unwrap_or_else(|| panic!("{kind} missing"));
            // Every schema default must have the attribute's own type.
            for a in &k.schema().attrs {
                if let Some(d) = &a.default {
                    assert!(a.ty.accepts(d), "{kind}.{}: default {d} is not {}", a.name, a.ty.describe());
                }
            }
        }
    }

    #[tokio::test]
    async fn explicit_endpoint_and_region_are_used() {
        let sdk = sdk_config("eu-west-3", Some("http://127.0.0.1:9")).await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:9"));
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(SDK_ATTEMPTS));
    }
}
