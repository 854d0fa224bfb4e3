//! Every AWS request kprov sends passes one rate-limited HTTP client.
//!
//! [`LimitedHttpClient`] wraps the SDK's default HTTPS client and is set once in the SDK
//! configuration (`aws::sdk_config`), so every service client — and every call of every
//! resource kind — is limited and counted without any kind doing anything. For each request,
//! the connector:
//! 1. classifies it ([`classify`]): the service from the SigV4 credential scope (the host is
//!    useless behind an endpoint override), the action from the form body (`Action=…`, EC2 /
//!    IAM / ELBv2 query protocol), the `X-Amz-Target` header (JSON protocols) or the method and
//!    path (REST protocols), and the API class whose token bucket it takes from;
//! 2. sends it through the shared [`RateLimiter`], which waits for a token (without holding
//!    the operation's parallelism slot), retries throttled answers with exponential backoff and
//!    jitter, and counts calls, throttles and retries per service. A throttled answer is
//!    recognised from its status (429) or its error code, read from the (small) error body;
//! 3. retries transient failures (5xx, a lost connection, a timeout) — but only for calls that
//!    are safe to send again ([`safe_to_repeat`]): the SDK's own retry is off, because it would
//!    send a `CreateVpc` whose answer was lost again and make a second VPC. Other calls' unclear
//!    failures go back to the SDK and the kind, and the engine (`engine::recover`) looks before
//!    doing anything again. Every other error fails fast.
//!
//! Test hook: `KPROV_TEST_API_DELAY_MS=N` makes every request take N ms longer (holding its
//! slot, like network latency). moto answers in about a millisecond; the interrupt and crash
//! tests use this to have an apply still running when they signal it. It is not meant for
//! anything else.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use super::{consistency, MAX_ATTEMPTS};
use crate::engine::rate_limit::{is_throttling_code, ApiCall, RateLimiter};

/// The environment variable of the latency test hook.
pub const TEST_DELAY_ENV: &str = "KPROV_TEST_API_DELAY_MS";

/// The SDK's default HTTPS client wrapped in the rate limiter.
#[derive(Debug, Clone)]
pub struct LimitedHttpClient {
    inner: SharedHttpClient,
    limiter: Arc<RateLimiter>,
    delay: Option<Duration>,
}

impl LimitedHttpClient {
    /// Wrap `inner` (the SDK's default HTTPS client when `None`).
    pub fn new(limiter: Arc<RateLimiter>, inner: Option<SharedHttpClient>) -> Self {
        let delay = std::env::var(TEST_DELAY_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        LimitedHttpClient { inner: inner.unwrap_or_else(default_https_client), limiter, delay }
    }
}

/// What the SDK would use by default: hyper 1.x with rustls (aws-lc) and proxy settings from
/// the environment, as `aws-smithy-runtime` builds it for the current behaviour version.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            conn.set_sleep_impl(c.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

impl HttpClient for LimitedHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
            delay: self.delay,
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<RateLimiter>,
    delay: Option<Duration>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = classify(&request);
        let repeatable = safe_to_repeat(&request, &call);
        let (inner, limiter, delay) = (self.inner.clone(), self.limiter.clone(), self.delay);
        HttpConnectorFuture::new(async move {
            // Requests whose body cannot be replayed (streaming uploads) are sent once; a
            // throttled or failed answer then goes back to the SDK as it is.
            let template = request.try_clone();
            let mut first = Some(request);
            let mut attempt = 1;
            // Eventual-consistency refusals: since when, and how many.
            let mut refused_since: Option<tokio::time::Instant> = None;
            let mut refusals = 0;
            loop {
                let service = call.service.clone();
                let answer = limiter
                    .call(
                        &call,
                        |r: &Result<(HttpResponse, Answer), ConnectorError>| {
                            matches!(r, Ok((_, a)) if a.throttled) && template.is_some()
                        },
                        |_| {
                            let req = first.take().or_else(|| template.as_ref().and_then(HttpRequest::try_clone));
                            let (inner, service) = (inner.clone(), service.clone());
                            async move {
                                let req = req.ok_or_else(|| {
                                    ConnectorError::other("the request body cannot be sent again".into(), None)
                                })?;
                                if let Some(d) = delay {
                                    tokio::time::sleep(d).await;
                                }
                                let resp = inner.call(req).await?;
                                inspect(resp, &service).await
                            }
                        },
                    )
                    .await;
                // A refusal that means "not yet" (`aws::consistency`): nothing was done, so the
                // same request goes again after a pause, until the rule's window is over.
                if let (Ok((_, a)), Some(_)) = (&answer, &template) {
                    let rule = a.code.as_deref().and_then(|code| {
                        consistency::transient(&call.service, &call.action, code, &a.message).map(|r| (r, code))
                    });
                    if let Some((rule, code)) = rule {
                        let started = *refused_since.get_or_insert_with(tokio::time::Instant::now);
                        let elapsed = started.elapsed();
                        if elapsed < rule.window {
                            refusals += 1;
                            let pause = consistency::pause(refusals, rule.window - elapsed);
                            let what = format!("{}: waiting for {} ({code})", call.action, rule.reason);
                            limiter.wait_for_consistency(&call, &what, pause).await;
                            continue;
                        }
                    }
                }
                let transient = is_transient(&answer);
                if transient {
                    limiter.note_transient(&call.service);
                }
                if !transient || !repeatable || template.is_none() || attempt >= MAX_ATTEMPTS {
                    // A call that makes something went through: the engine must not take a
                    // later failure of the same create for "nothing was made".
                    if let (Ok((resp, _)), false) = (&answer, repeatable) {
                        if resp.status().is_success() {
                            crate::resource::cx::note_made(&call.action);
                        }
                    }
                    return answer.map(|(resp, _)| resp);
                }
                limiter.pause_before_retry(&call, attempt, "a server error or a lost answer").await;
                attempt += 1;
            }
        })
    }
}

/// What the connector reads from an answer: whether it is throttling, and an error's code
/// and message.
#[derive(Debug, Default)]
struct Answer {
    throttled: bool,
    code: Option<String>,
    message: String,
}

/// A server error (5xx, not throttling) or a request that got no answer (connection lost or
/// refused, timeout): the outcome is unknown, trying again may work.
fn is_transient(answer: &Result<(HttpResponse, Answer), ConnectorError>) -> bool {
    match answer {
        Ok((resp, a)) => !a.throttled && resp.status().is_server_error(),
        // hyper's "connection closed before message completed" is classified `TransientError`.
        Err(e) => {
            e.is_io() || e.is_timeout() || e.as_other() == Some(aws_smithy_types::retry::ErrorKind::TransientError)
        }
    }
}

/// May `call` be sent again when its outcome is unknown (a 5xx answer, a lost connection)?
///
/// Reads may. So may writes that set something to a given value (`Put*`, `Modify*`, `Tag*`,
/// `Attach*`, …, and REST `PUT`), and deletes and other undos (`Delete*`, `Revoke*`,
/// `Detach*`, `Disassociate*`, …, REST `DELETE`): a repeat finds the thing gone, which kinds
/// treat as done. Everything else — `Create*`, `Allocate*`, `Associate*`,
/// `Authorize*`, `Request*`, REST `POST`, … — may have been performed already: sent again, it
/// makes a second resource (a VPC, a NAT gateway, a load balancer, a hosted zone) or fails
/// with "already exists". Those go back to the resource kind as a retryable error, and the
/// engine (`engine::recover`) finds out what happened before doing anything again.
pub fn safe_to_repeat(req: &HttpRequest, call: &ApiCall) -> bool {
    // EC2's CreateTags / DeleteTags (class `tags`) set tags: the same however often sent.
    if matches!(call.class.as_str(), "non_mutating" | "unfiltered_describe" | "tags") {
        return true;
    }
    const REPEATABLE: &[&str] = &[
        "Describe",
        "Get",
        "List",
        "Search",
        "Head",
        "Lookup",
        "Delete",
        "Put",
        "Modify",
        "Update",
        "Set",
        "Tag",
        "Untag",
        "Attach",
        "Enable",
        "Disable",
        "Revoke",
        "Detach",
        "Disassociate",
        "Remove",
        "Deregister",
        "Release",
    ];
    let action = call.action.as_str();
    if action.contains(' ') {
        // REST: `METHOD /path`. POST creates (and Route 53 changes records) — not repeatable,
        // except on tags: reading them (Route 53's ListTagsForResources is a POST) or setting
        // them (TagResource, ChangeTagsForResource) is the same however often it is done.
        let path = uri_path(req.uri());
        return !req.method().eq_ignore_ascii_case("POST") || path.contains("/tags/");
    }
    REPEATABLE.iter().any(|p| action.starts_with(p))
}

/// Error bodies are small; anything bigger is not an AWS error document.
const ERROR_BODY_MAX: usize = 256 * 1024;

/// Read an answer: is it throttling, and an error's code and message. Error bodies are read
/// into memory and put back so the SDK parses them as usual. A quota code that the SDKs count
/// as throttling elsewhere is not throttling for `service` (`aws::consistency::is_quota`).
async fn inspect(mut resp: HttpResponse, service: &str) -> Result<(HttpResponse, Answer), ConnectorError> {
    let status = resp.status().as_u16();
    if status < 400 {
        return Ok((resp, Answer::default()));
    }
    if status == 429 {
        return Ok((resp, Answer { throttled: true, ..Answer::default() }));
    }
    let header_code = resp.headers().get("x-amzn-errortype").map(|v| v.split(':').next().unwrap_or(v).to_string());
    let body = std::mem::replace(resp.body_mut(), SdkBody::taken());
    let bytes: Vec<u8> = match body.bytes() {
        Some(b) => b.to_vec(),
        None => ByteStream::new(body).collect().await.map_err(|e| ConnectorError::io(e.into()))?.into_bytes().to_vec(),
    };
    let head = &bytes[..bytes.len().min(ERROR_BODY_MAX)];
    let code = header_code.or_else(|| error_code(head));
    let message = error_message(head).unwrap_or_default();
    *resp.body_mut() = SdkBody::from(bytes);
    let throttled = code.as_deref().is_some_and(|c| is_throttling_code(c) && !consistency::is_quota(service, c));
    Ok((resp, Answer { throttled, code, message }))
}

/// The error code in an AWS error body: `<Code>X</Code>` (XML protocols) or `"__type":
/// "prefix#X"` / `"code": "X"` (JSON protocols).
pub fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if let Some(start) = text.find("<Code>") {
        let rest = &text[start + "<Code>".len()..];
        return rest.find("</Code>").map(|end| rest[..end].trim().to_string());
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let raw = v.get("__type").or_else(|| v.get("code")).or_else(|| v.get("Code"))?.as_str()?;
    Some(raw.rsplit('#').next().unwrap_or(raw).split(':').next().unwrap_or(raw).to_string())
}

/// The error message: `<Message>…</Message>` or `"message"` / `"Message"`.
fn error_message(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if let Some(start) = text.find("<Message>") {
        let rest = &text[start + "<Message>".len()..];
        return rest.find("</Message>").map(|end| rest[..end].trim().to_string());
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(v.get("message").or_else(|| v.get("Message"))?.as_str()?.to_string())
}

/// Classify a request: service, API class (the token bucket), action, serialization key.
pub fn classify(req: &HttpRequest) -> ApiCall {
    let service = signing_service(req).unwrap_or_else(|| host_service(req.uri()));
    let form = req.body().bytes().and_then(|b| std::str::from_utf8(b).ok()).filter(|b| b.contains("Action="));
    let target = req.headers().get("x-amz-target");
    let path = uri_path(req.uri());
    if let Some(form) = form {
        let action = form_value(form, "Action").unwrap_or_default();
        let class = if service == "ec2" { ec2_class(&action, form) } else { verb_class(&action) };
        return ApiCall::new(&service, class, &action);
    }
    if let Some(target) = target {
        let action = target.rsplit('.').next().unwrap_or(target).to_string();
        return ApiCall::new(&service, verb_class(&action), &action);
    }
    // REST protocols: the method says whether the call changes anything.
    let method = req.method().to_ascii_uppercase();
    let class = if matches!(method.as_str(), "GET" | "HEAD") { "non_mutating" } else { "mutating" };
    let action = format!("{method} {path}");
    if service == "route53" {
        let call = ApiCall::new(&service, "account", &action);
        // POST /2013-04-01/hostedzone/{Id}/rrset: ChangeResourceRecordSets on zone {Id}.
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        if method == "POST" && parts.len() == 5 && parts[2] == "hostedzone" && parts[4] == "rrset" {
            return call.serialized(format!("route53:zone:{}", parts[3]));
        }
        return call;
    }
    ApiCall::new(&service, class, &action)
}

/// The EC2 API class of `action` (EC2 API reference, "Request throttling").
fn ec2_class(action: &str, form: &str) -> &'static str {
    match action {
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress" => "resource_intensive",
        "CreateNatGateway" | "DeleteNatGateway" => "nat_gateway",
        "CreateTags" | "DeleteTags" => "tags",
        "CreateVpcEndpoint" | "ModifyVpcEndpoint" | "DeleteVpcEndpoints" => "vpc_endpoint",
        a if a.starts_with("Describe") => {
            // A Describe with neither a filter nor an id list counts against the smaller
            // "unfiltered" bucket.
            let narrowed = form.split('&').any(|kv| {
                let key = kv.split('=').next().unwrap_or("");
                key.starts_with("Filter.") || key.contains("Id.") || key.ends_with("Id")
            });
            if narrowed {
                "non_mutating"
            } else {
                "unfiltered_describe"
            }
        }
        a if a.starts_with("Get") || a.starts_with("List") || a.starts_with("Search") => "non_mutating",
        _ => "mutating",
    }
}

/// Reads (`Describe*`, `Get*`, `List*`) or changes, for services without finer classes.
fn verb_class(action: &str) -> &'static str {
    if ["Describe", "Get", "List", "Search", "Head"].iter().any(|p| action.starts_with(p)) {
        "non_mutating"
    } else {
        "mutating"
    }
}

fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// The service of the SigV4 credential scope: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn signing_service(req: &HttpRequest) -> Option<String> {
    let auth = req.headers().get("authorization")?;
    let scope = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    (parts.len() == 5).then(|| parts[3].to_string())
}

/// `ec2.us-east-1.amazonaws.com` → `ec2` (unsigned requests only).
fn host_service(uri: &str) -> String {
    let host = uri.split("://").nth(1).unwrap_or(uri).split(['/', ':']).next().unwrap_or("");
    host.split('.').next().filter(|s| !s.is_empty()).unwrap_or("unknown").to_string()
}

fn uri_path(uri: &str) -> String {
    let after_scheme = uri.split("://").nth(1).unwrap_or(uri);
    let path = after_scheme.find('/').map(|i| &after_scheme[i..]).unwrap_or("/");
    path.split('?').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        let mut r = HttpRequest::new(SdkBody::from(body.to_string()));
        r.set_method(method).expect("method");
        r.set_uri(uri).expect("uri");
        for (k, v) in headers {
            r.headers_mut().insert(k.to_string(), v.to_string());
        }
        r
    }

    fn auth(service: &str) -> (&'static str, String) {
        let v = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=abc"
        );
        ("authorization", v)
    }

    fn classify_with(service: &str, method: &str, uri: &str, extra: &[(&str, &str)], body: &str) -> ApiCall {
        let (k, v) = auth(service);
        let mut headers = vec![(k, v.as_str())];
        headers.extend_from_slice(extra);
        classify(&req(method, uri, &headers, body))
    }

    #[test]
    fn ec2_actions_land_in_their_buckets() {
        let ec2 = |body: &str| classify_with("ec2", "POST", "http://127.0.0.1:5000/", &[], body);
        let c = ec2("Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1");
        assert_eq!(
            (c.service.as_str(), c.class.as_str(), c.action.as_str()),
            ("ec2", "resource_intensive", "AuthorizeSecurityGroupIngress")
        );
        assert_eq!(ec2("Action=CreateNatGateway&SubnetId=s").class, "nat_gateway");
        assert_eq!(ec2("Action=CreateTags&ResourceId.1=vpc-1").class, "tags");
        assert_eq!(ec2("Action=CreateVpc&CidrBlock=10.0.0.0%2F16").class, "mutating");
        assert_eq!(ec2("Action=DescribeVpcs&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1").class, "non_mutating");
        assert_eq!(ec2("Action=DescribeVpcs&Version=2016-11-15").class, "unfiltered_describe");
    }

    #[test]
    fn json_rest_and_route53_requests_are_classified() {
        let kms = classify_with(
            "kms",
            "POST",
            "https://kms.eu-west-1.amazonaws.com/",
            &[("x-amz-target", "TrentService.CreateKey")],
            "{}",
        );
        assert_eq!((kms.service.as_str(), kms.class.as_str(), kms.action.as_str()), ("kms", "mutating", "CreateKey"));
        let logs = classify_with(
            "logs",
            "POST",
            "http://127.0.0.1:5000/",
            &[("x-amz-target", "Logs_20140328.DescribeLogGroups")],
            "{}",
        );
        assert_eq!(logs.class, "non_mutating");
        let eks = classify_with("eks", "GET", "http://127.0.0.1:5000/clusters/main?x=1", &[], "");
        assert_eq!(
            (eks.service.as_str(), eks.class.as_str(), eks.action.as_str()),
            ("eks", "non_mutating", "GET /clusters/main")
        );
        let change = classify_with(
            "route53",
            "POST",
            "https://route53.amazonaws.com/2013-04-01/hostedzone/Z123/rrset/",
            &[],
            "<xml/>",
        );
        assert_eq!(change.class, "account");
        assert_eq!(change.serialize.as_deref(), Some("route53:zone:Z123"));
        let list =
            classify_with("route53", "GET", "https://route53.amazonaws.com/2013-04-01/hostedzone/Z123/rrset", &[], "");
        assert_eq!(list.serialize, None);
        let iam = classify_with("iam", "POST", "http://127.0.0.1:5000/", &[], "Action=GetRole&RoleName=x");
        assert_eq!((iam.service.as_str(), iam.class.as_str()), ("iam", "non_mutating"));
        // Unsigned: fall back to the host name.
        let unsigned = classify(&req("GET", "https://ec2.us-east-1.amazonaws.com/", &[], ""));
        assert_eq!(unsigned.service, "ec2");
    }

    #[test]
    fn error_codes_are_found_in_xml_and_json_bodies() {
        let xml = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>";
        assert_eq!(error_code(xml).as_deref(), Some("RequestLimitExceeded"));
        assert_eq!(
            error_code(br#"{"__type":"com.amazonaws.kms#ThrottlingException","message":"x"}"#).as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(error_code(br#"{"code":"TooManyRequestsException"}"#).as_deref(), Some("TooManyRequestsException"));
        assert_eq!(error_code(b"<html>500</html>"), None);
    }

    /// A fake service: answers `RequestLimitExceeded` (HTTP 400, EC2's XML) to the first
    /// `throttle` requests, then 200.
    #[derive(Debug)]
    struct Fake {
        seen: Arc<std::sync::atomic::AtomicU32>,
        throttle: u32,
    }

    impl HttpConnector for Fake {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let throttled = n < self.throttle;
            HttpConnectorFuture::ready(Ok(if throttled {
                let body = "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
                HttpResponse::new(400.try_into().expect("status"), SdkBody::from(body))
            } else {
                HttpResponse::new(200.try_into().expect("status"), SdkBody::from("<ok/>"))
            }))
        }
    }

    fn connector(
        throttle: u32,
        max_attempts: u32,
    ) -> (LimitedConnector, Arc<RateLimiter>, Arc<std::sync::atomic::AtomicU32>) {
        let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let policy = crate::engine::model::RetryPolicy { max_attempts, initial_backoff_s: 0.5, max_backoff_s: 20.0 };
        let limiter = Arc::new(RateLimiter::unlimited(policy).with_seed(5));
        let inner = SharedHttpConnector::new(Fake { seen: seen.clone(), throttle });
        (LimitedConnector { inner, limiter: limiter.clone(), delay: None }, limiter, seen)
    }

    fn ec2_request() -> HttpRequest {
        let (k, v) = auth("ec2");
        req("POST", "http://127.0.0.1:5000/", &[(k, v.as_str())], "Action=CreateVpc&CidrBlock=10.0.0.0%2F16")
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_request_is_sent_again_after_a_backoff_and_counted() {
        let (conn, limiter, seen) = connector(2, 8);
        let t0 = tokio::time::Instant::now();
        let resp = conn.call(ec2_request()).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3, "two throttled attempts, then success");
        assert!(t0.elapsed() > Duration::ZERO, "it backed off");
        let s = limiter.stats()["ec2"];
        assert_eq!((s.calls, s.throttled, s.retries), (3, 2, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn when_attempts_run_out_the_throttled_answer_reaches_the_sdk_intact() {
        let (conn, limiter, seen) = connector(100, 3);
        let resp = conn.call(ec2_request()).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.body().bytes().is_some_and(|b| String::from_utf8_lossy(b).contains("RequestLimitExceeded")));
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(limiter.stats()["ec2"].throttled, 3);
    }

    /// A fake service refusing the first `refuse` requests with `code` (HTTP 400, EC2's XML),
    /// then answering 200.
    #[derive(Debug)]
    struct NotYet {
        seen: Arc<std::sync::atomic::AtomicU32>,
        refuse: u32,
        code: &'static str,
    }

    impl HttpConnector for NotYet {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            HttpConnectorFuture::ready(Ok(if n < self.refuse {
                let body = format!(
                    "<Response><Errors><Error><Code>{}</Code><Message>The subnet ID 'subnet-1' does not exist</Message></Error></Errors></Response>",
                    self.code
                );
                HttpResponse::new(400.try_into().expect("status"), SdkBody::from(body))
            } else {
                HttpResponse::new(200.try_into().expect("status"), SdkBody::from("<ok/>"))
            }))
        }
    }

    fn not_yet(
        refuse: u32,
        code: &'static str,
        body: &str,
    ) -> (u16, u32, crate::engine::rate_limit::ApiStats, Duration) {
        let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let limiter = Arc::new(RateLimiter::unlimited(crate::engine::model::RetryPolicy::default()).with_seed(5));
        let inner = SharedHttpConnector::new(NotYet { seen: seen.clone(), refuse, code });
        let conn = LimitedConnector { inner, limiter: limiter.clone(), delay: None };
        let (k, v) = auth("ec2");
        let request = req("POST", "http://127.0.0.1:5000/", &[(k, v.as_str())], body);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("rt");
        rt.block_on(async {
            let t0 = tokio::time::Instant::now();
            let resp = conn.call(request).await.expect("answer");
            let stats = limiter.stats().get("ec2").copied().unwrap_or_default();
            (resp.status().as_u16(), seen.load(std::sync::atomic::Ordering::SeqCst), stats, t0.elapsed())
        })
    }

    #[test]
    fn a_refusal_that_means_not_yet_is_sent_again_within_its_window_and_counted() {
        // ModifySubnetAttribute right after CreateSubnet: InvalidSubnetID.NotFound for a while.
        let (status, seen, stats, took) =
            not_yet(3, "InvalidSubnetID.NotFound", "Action=ModifySubnetAttribute&SubnetId=subnet-1");
        assert_eq!((status, seen), (200, 4), "three refusals, then success");
        assert_eq!(stats.consistency_waits, 3);
        assert_eq!(took, Duration::from_secs(1 + 2 + 4), "1 s doubling");
        assert_eq!(stats.consistency_waited, took);
    }

    #[test]
    fn the_window_ends_and_the_refusal_reaches_the_sdk() {
        // Refused for ever: sent again for the rule's 5 minutes, then the refusal is the answer.
        let (status, seen, stats, took) =
            not_yet(10_000, "InvalidSubnetID.NotFound", "Action=ModifySubnetAttribute&SubnetId=subnet-1");
        assert_eq!(status, 400);
        assert_eq!(took, Duration::from_secs(300), "exactly the window");
        assert_eq!(u64::from(seen), stats.consistency_waits + 1);
    }

    #[test]
    fn the_same_code_on_another_call_is_an_answer_at_once() {
        // DescribeSubnets of a subnet that does not exist: refresh must learn it is gone.
        let (status, seen, stats, took) =
            not_yet(3, "InvalidSubnetID.NotFound", "Action=DescribeSubnets&SubnetId.1=subnet-1");
        assert_eq!((status, seen, stats.consistency_waits, took), (400, 1, 0, Duration::ZERO));
    }

    /// KMS answering every request `LimitExceededException` (JSON), a quota for KMS.
    #[derive(Debug)]
    struct Quota(Arc<std::sync::atomic::AtomicU32>);

    impl HttpConnector for Quota {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = r#"{"__type":"LimitExceededException","message":"Keys quota exceeded"}"#;
            HttpConnectorFuture::ready(Ok(HttpResponse::new(400.try_into().expect("status"), SdkBody::from(body))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_is_answered_at_once_not_retried_as_throttling() {
        let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let limiter = Arc::new(RateLimiter::unlimited(crate::engine::model::RetryPolicy::default()).with_seed(5));
        let conn = LimitedConnector {
            inner: SharedHttpConnector::new(Quota(seen.clone())),
            limiter: limiter.clone(),
            delay: None,
        };
        let (k, v) = auth("kms");
        let request =
            req("POST", "http://127.0.0.1:5000/", &[(k, v.as_str()), ("x-amz-target", "TrentService.CreateKey")], "{}");
        let resp = conn.call(request).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 400);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1, "sent once");
        assert_eq!(limiter.stats()["kms"].throttled, 0, "not counted as throttling");
    }

    /// A fake service answering 500 to the first `fail` requests, then 200.
    #[derive(Debug)]
    struct Flaky {
        seen: Arc<std::sync::atomic::AtomicU32>,
        fail: u32,
    }

    impl HttpConnector for Flaky {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (status, body) = if n < self.fail {
                (500, "<Response><Errors><Error><Code>InternalError</Code></Error></Errors></Response>")
            } else {
                (200, "<ok/>")
            };
            HttpConnectorFuture::ready(Ok(HttpResponse::new(status.try_into().expect("status"), SdkBody::from(body))))
        }
    }

    fn flaky(fail: u32) -> (LimitedConnector, Arc<RateLimiter>, Arc<std::sync::atomic::AtomicU32>) {
        let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let limiter = Arc::new(RateLimiter::unlimited(Default::default()).with_seed(3));
        let inner = SharedHttpConnector::new(Flaky { seen: seen.clone(), fail });
        (LimitedConnector { inner, limiter: limiter.clone(), delay: None }, limiter, seen)
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_only_for_calls_safe_to_repeat() {
        let (k, v) = auth("ec2");
        let describe = req("POST", "http://127.0.0.1:5000/", &[(k, v.as_str())], "Action=DescribeVpcs&VpcId.1=vpc-1");
        let (conn, limiter, seen) = flaky(2);
        let resp = conn.call(describe).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 200, "a read is sent again");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
        let s = limiter.stats()["ec2"];
        assert_eq!((s.calls, s.transient, s.retries), (3, 2, 2));
        // A create whose outcome is unknown goes back to the caller as it is.
        let (conn, limiter, seen) = flaky(2);
        let resp = conn.call(ec2_request()).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 500, "CreateVpc is not sent again");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(limiter.stats()["ec2"].transient, 1);
        // Always failing: the attempts run out.
        let (k, v) = auth("ec2");
        let describe = req("POST", "http://127.0.0.1:5000/", &[(k, v.as_str())], "Action=DescribeVpcs&VpcId.1=vpc-1");
        let (conn, _, seen) = flaky(100);
        assert_eq!(conn.call(describe).await.expect("answer").status().as_u16(), 500);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[test]
    fn calls_safe_to_repeat() {
        let (k, v) = auth("ec2");
        let ec2 = |body: &str| req("POST", "http://127.0.0.1:5000/", &[(k, v.as_str())], body);
        let safe = |r: HttpRequest| safe_to_repeat(&r, &classify(&r));
        for body in [
            "Action=DescribeVpcs",
            "Action=DeleteVpc&VpcId=v",
            "Action=ModifyVpcAttribute&VpcId=v",
            "Action=CreateTags&ResourceId.1=v",
            "Action=RevokeSecurityGroupEgress&GroupId=g",
        ] {
            assert!(safe(ec2(body)), "{body}");
        }
        for body in [
            "Action=CreateVpc",
            "Action=AllocateAddress",
            "Action=AssociateRouteTable",
            "Action=AuthorizeSecurityGroupIngress",
        ] {
            assert!(!safe(ec2(body)), "{body}");
        }
        let (k, v) = auth("eks");
        assert!(safe(req("GET", "http://x/clusters/c", &[(k, v.as_str())], "")));
        assert!(safe(req("DELETE", "http://x/clusters/c", &[(k, v.as_str())], "")));
        assert!(!safe(req("POST", "http://x/clusters", &[(k, v.as_str())], "{}")));
        assert!(safe(req("POST", "http://x/tags/arn%3Aaws", &[(k, v.as_str())], "{}")));
        let (k, v) = auth("route53");
        assert!(safe(req(
            "POST",
            "https://route53.amazonaws.com/2013-04-01/tags/hostedzone",
            &[(k, v.as_str())],
            "<x/>"
        )));
        assert!(!safe(req("POST", "https://route53.amazonaws.com/2013-04-01/hostedzone", &[(k, v.as_str())], "<x/>")));
        let (k, v) = auth("kms");
        let kms = |op: &str| req("POST", "http://x/", &[(k, v.as_str()), ("x-amz-target", op)], "{}");
        assert!(safe(kms("TrentService.DescribeKey")));
        assert!(safe(kms("TrentService.PutKeyPolicy")));
        assert!(!safe(kms("TrentService.CreateKey")));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_go_back_at_once() {
        #[derive(Debug)]
        struct Refuse;
        impl HttpConnector for Refuse {
            fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
                let body = "<Response><Errors><Error><Code>InvalidParameterValue</Code></Error></Errors></Response>";
                HttpConnectorFuture::ready(Ok(HttpResponse::new(400.try_into().expect("status"), SdkBody::from(body))))
            }
        }
        let limiter = Arc::new(RateLimiter::unlimited(Default::default()));
        let conn = LimitedConnector { inner: SharedHttpConnector::new(Refuse), limiter: limiter.clone(), delay: None };
        let t0 = tokio::time::Instant::now();
        let resp = conn.call(ec2_request()).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 400);
        assert_eq!(t0.elapsed(), Duration::ZERO);
        assert_eq!(limiter.stats()["ec2"].calls, 1);
    }
}
