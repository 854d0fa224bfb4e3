//! A fault-injecting HTTP proxy between kprov and moto, for chaos tests.
//!
//! It listens on 127.0.0.1 (an ephemeral port), and for every request:
//! 1. reads it (a minimal HTTP/1.1 reader: head, then a `Content-Length` or chunked body);
//! 2. decides its fate from a seeded RNG ([`FaultConfig::seed`]; `KPROV_CHAOS_SEED` overrides
//!    the default). The decision of the n-th request of one `(service, action)` depends only on
//!    the seed, the action and n — not on how concurrent requests interleave — so a seed
//!    reproduces the same set of faults per action from run to run;
//! 3. optionally waits (added latency), then either answers **before forwarding** — a
//!    throttling error in the wire format of the request's protocol, a 500 `InternalError`, or
//!    a dropped connection — so the request never reaches moto; or forwards it to moto and then
//!    either relays the answer, or **replaces it after forwarding** with a 500 or a dropped
//!    connection: moto did the work and the client cannot know. Real AWS does both; the second
//!    kind is the one that turns a blind retry of a create into a duplicate.
//!
//! Every connection carries one request (`Connection: close` both ways), which is how moto
//! behaves anyway. What was injected is counted per kind ([`FaultProxy::counts`]).
//!
//! Besides random faults, the proxy has two deterministic modes for the crash-point sweep
//! (`tests/crash_sweep.rs`):
//! - **record**: every mutating request (anything that is not a read: see [`is_mutating`]) is
//!   logged in arrival order as `service:Action` ([`FaultProxy::mutations`]), so a clean run
//!   lists the steps a crash can fall between;
//! - **refuse** ([`FaultConfig::refuse`]): the n-th request of one `service:Action` answered
//!   with a definite AWS error (HTTP 400 and a code) before moto sees it;
//! - **hold** ([`Hold`]): the n-th request of one `service:Action`, or the n-th mutating request
//!   overall, is either forwarded and then never answered ([`When::After`]: the work is done, the
//!   answer is lost) or never forwarded ([`When::Before`]: the run dies between the previous step
//!   and this one). The proxy then signals the test ([`FaultProxy::held`]), which kills the
//!   client; the held connection is kept open until the client is gone, so the client can never
//!   see an answer or an error for it.
//!
//! REST APIs (Route 53, EKS) carry their operation in the method and path: [`rest_operation`]
//! names the ones kprov uses (`CreateHostedZone`, `AssociateAccessPolicy`, …) so that holds
//! and logs read like the query and JSON protocols' `Action`s.

#![allow(dead_code)] // each test binary that includes this file uses part of it

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The environment variable that fixes the seed.
pub const SEED_ENV: &str = "KPROV_CHAOS_SEED";

/// Fault rates, each the probability (0..1) that a request gets that fault. The rates are
/// exclusive (one request gets at most one fault besides latency) and must sum to at most 1.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub seed: u64,
    /// Throttling answer, before forwarding.
    pub throttle: f64,
    /// 500 InternalError, before forwarding (nothing happened).
    pub error_before: f64,
    /// 500 InternalError replacing moto's answer (the work was done).
    pub error_after: f64,
    /// Connection closed without an answer, before forwarding.
    pub drop_before: f64,
    /// Connection closed without an answer, after moto did the work.
    pub drop_after: f64,
    /// Probability of added latency, and its maximum (uniform in 0..max).
    pub latency: f64,
    pub latency_max: Duration,
    /// A request to hold (no other faults apply to it).
    pub hold: Option<Hold>,
    /// A request to refuse, before moto sees it, with a definite AWS error (no other faults
    /// apply to it): `(service:Action, n, code)` — the n-th such request answered HTTP 400 with
    /// `code`, as AWS refuses a follow-up call of a create (ModifySubnetAttribute after
    /// CreateSubnet).
    pub refuse: Option<(String, u64, String)>,
}

/// When a held request stops: before moto sees it, or after moto answered (the answer lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
}

/// Which request to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The `n`-th (from 1) request of `key` (`service:Action`).
    Action { key: String, n: u64 },
    /// The `n`-th (from 1) mutating request overall.
    Mutating(u64),
}

/// A deterministic crash point: hold one request, [`When::Before`] or [`When::After`] moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub when: When,
    pub target: Target,
}

impl FaultConfig {
    /// No faults; the seed from `KPROV_CHAOS_SEED` or a random one.
    pub fn from_env() -> Self {
        let seed =
            std::env::var(SEED_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| fastrand::u64(..));
        FaultConfig {
            seed,
            throttle: 0.0,
            error_before: 0.0,
            error_after: 0.0,
            drop_before: 0.0,
            drop_after: 0.0,
            latency: 0.0,
            latency_max: Duration::ZERO,
            hold: None,
            refuse: None,
        }
    }
}

/// What the proxy did, per kind.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    throttled: AtomicU64,
    error_before: AtomicU64,
    error_after: AtomicU64,
    drop_before: AtomicU64,
    drop_after: AtomicU64,
    delayed: AtomicU64,
    /// Requests the proxy could not read or forward (a bug in the proxy or moto down).
    proxy_errors: AtomicU64,
}

/// A snapshot of the counters: kind → count (`requests`, `forwarded`, `throttled`,
/// `error_before`, `error_after`, `drop_before`, `drop_after`, `delayed`, `proxy_errors`).
pub type Counts = BTreeMap<&'static str, u64>;

pub struct FaultProxy {
    endpoint: String,
    counters: Arc<Counters>,
    /// (service, action) → requests seen, and the mutating actions that got an after-fault.
    log: Arc<Mutex<Log>>,
    /// Becomes `true` once the hold point is reached.
    held: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Log {
    seen: BTreeMap<String, u64>,
    after_faults: BTreeMap<String, u64>,
    /// Mutating requests in arrival order (`service:Action`).
    mutations: Vec<String>,
    /// Whether the hold already fired (it fires once).
    hold_fired: bool,
}

/// What `serve` shares between connections.
struct Shared {
    counters: Arc<Counters>,
    log: Arc<Mutex<Log>>,
    cfg: FaultConfig,
    upstream: String,
    held: watch::Sender<bool>,
}

impl FaultProxy {
    /// Start a proxy to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, config: FaultConfig) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let counters = Arc::new(Counters::default());
        let log = Arc::new(Mutex::new(Log::default()));
        let (held_tx, held) = watch::channel(false);
        let shared =
            Arc::new(Shared { counters: counters.clone(), log: log.clone(), cfg: config, upstream, held: held_tx });
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if serve(sock, &shared).await.is_err() {
                        shared.counters.proxy_errors.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        FaultProxy { endpoint, counters, log, held, task }
    }

    /// A proxy without random faults that holds `hold` (if any) and records mutations.
    pub async fn holding(upstream: &str, hold: Option<Hold>) -> FaultProxy {
        let mut cfg = FaultConfig::from_env();
        cfg.hold = hold;
        FaultProxy::start(upstream, cfg).await
    }

    /// Wait until the hold point is reached (returns at once if it was).
    pub async fn held(&self) {
        let mut rx = self.held.clone();
        // An error means the proxy is gone: then it will never be reached.
        let _ = rx.wait_for(|h| *h).await;
    }

    /// Whether the hold point has been reached.
    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// The mutating requests seen so far, in arrival order, as `service:Action`.
    pub fn mutations(&self) -> Vec<String> {
        self.log.lock().map(|l| l.mutations.clone()).unwrap_or_default()
    }

    /// The URL to give the client (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BTreeMap::from([
            ("requests", g(&c.requests)),
            ("forwarded", g(&c.forwarded)),
            ("throttled", g(&c.throttled)),
            ("error_before", g(&c.error_before)),
            ("error_after", g(&c.error_after)),
            ("drop_before", g(&c.drop_before)),
            ("drop_after", g(&c.drop_after)),
            ("delayed", g(&c.delayed)),
            ("proxy_errors", g(&c.proxy_errors)),
        ])
    }

    /// Every request seen, as `service:Action` → count.
    pub fn seen(&self) -> BTreeMap<String, u64> {
        self.log.lock().map(|l| l.seen.clone()).unwrap_or_default()
    }

    /// Actions (`service:Action`) whose answer was lost after moto performed them, with counts.
    pub fn after_faults(&self) -> BTreeMap<String, u64> {
        self.log.lock().map(|l| l.after_faults.clone()).unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request's fate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Pass,
    Throttle,
    ErrorBefore,
    ErrorAfter,
    DropBefore,
    DropAfter,
}

fn decide(cfg: &FaultConfig, key: &str, n: u64) -> (Fate, Option<Duration>) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (cfg.seed, key, n).hash(&mut h);
    let mut rng = fastrand::Rng::with_seed(h.finish());
    let x = rng.f64();
    let mut edge = 0.0;
    let mut fate = Fate::Pass;
    for (rate, f) in [
        (cfg.throttle, Fate::Throttle),
        (cfg.error_before, Fate::ErrorBefore),
        (cfg.error_after, Fate::ErrorAfter),
        (cfg.drop_before, Fate::DropBefore),
        (cfg.drop_after, Fate::DropAfter),
    ] {
        edge += rate;
        if x < edge {
            fate = f;
            break;
        }
    }
    let delay = (rng.f64() < cfg.latency && !cfg.latency_max.is_zero()).then(|| cfg.latency_max.mul_f64(rng.f64()));
    (fate, delay)
}

/// A request as read from the client.
struct Request {
    /// The head, without the final empty line.
    lines: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.lines[1..].iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The SigV4 signing service: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
    fn service(&self) -> String {
        self.header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|s| s.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string()
    }

    /// The action: `Action=` of a query form, the `X-Amz-Target` operation, or method + path.
    fn action(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        if let Some(a) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
            return a.to_string();
        }
        if let Some(t) = self.header("x-amz-target") {
            return t.rsplit('.').next().unwrap_or(t).to_string();
        }
        let mut parts = self.lines[0].split(' ');
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
        rest_operation(method, path)
    }

    /// Whether the request changes something: a REST call that is not a GET or HEAD, or an
    /// `Action` that is not a read by its name.
    fn is_mutating(&self, action: &str) -> bool {
        // REST reads are GETs, but some POSTs read too (Route 53's ListTagsForResources): the
        // operation name decides, and an unnamed REST pattern by its method.
        const READS: &[&str] =
            &["Describe", "Get", "List", "Search", "Lookup", "Check", "Validate", "Simulate", "GET ", "HEAD "];
        !READS.iter().any(|r| action.starts_with(r))
    }

    fn protocol(&self, service: &str) -> Protocol {
        if self.header("x-amz-target").is_some() {
            Protocol::AwsJson
        } else if String::from_utf8_lossy(&self.body).contains("Action=") {
            if service == "ec2" {
                Protocol::Ec2Query
            } else {
                Protocol::Query
            }
        } else if service == "s3" {
            Protocol::S3
        } else if service == "route53" {
            Protocol::RestXml
        } else {
            Protocol::RestJson
        }
    }
}

/// The operation of a REST request (Route 53, EKS), by method and path pattern: ids in the path
/// become `*`, and the patterns kprov uses are named as the API reference names them
/// (`POST /2013-04-01/hostedzone/*/rrset` → `ChangeResourceRecordSets`). Unknown patterns are
/// returned as `METHOD /pattern`, still without ids, so that each is one action.
fn rest_operation(method: &str, path: &str) -> String {
    /// Path segments that are names, not ids.
    const WORDS: &[&str] = &[
        "2013-04-01",
        "hostedzone",
        "hostedzones",
        "hostedzonesbyname",
        "hostedzonecount",
        "rrset",
        "tags",
        "change",
        "delegationset",
        "healthcheck",
        "dnssec",
        "associatevpc",
        "disassociatevpc",
        "clusters",
        "node-groups",
        "addons",
        "access-entries",
        "access-policies",
        "pod-identity-associations",
        "identity-provider-configs",
        "update-config",
        "updates",
        "associate",
        "disassociate",
        "supported-versions",
        "cluster-versions",
    ];
    let pattern: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| if WORDS.contains(&s) { s } else { "*" })
        .collect();
    let pattern = pattern.join("/");
    let named = match (method, pattern.as_str()) {
        ("POST", "2013-04-01/hostedzone") => "CreateHostedZone",
        ("DELETE", "2013-04-01/hostedzone/*") => "DeleteHostedZone",
        ("POST", "2013-04-01/hostedzone/*") => "UpdateHostedZoneComment",
        ("POST", "2013-04-01/hostedzone/*/rrset") => "ChangeResourceRecordSets",
        ("POST", "2013-04-01/tags/hostedzone/*") => "ChangeTagsForResource",
        ("GET", "2013-04-01/tags/hostedzone/*") => "ListTagsForResource",
        ("POST", "2013-04-01/tags/hostedzone") => "ListTagsForResources",
        ("GET", "2013-04-01/hostedzone") => "ListHostedZones",
        ("GET", "2013-04-01/hostedzonesbyname") => "ListHostedZonesByName",
        ("GET", "2013-04-01/hostedzone/*") => "GetHostedZone",
        ("GET", "2013-04-01/hostedzone/*/rrset") => "ListResourceRecordSets",
        ("GET", "2013-04-01/change/*") => "GetChange",
        ("POST", "clusters") => "CreateCluster",
        ("DELETE", "clusters/*") => "DeleteCluster",
        ("GET", "clusters/*") => "DescribeCluster",
        ("GET", "clusters") => "ListClusters",
        ("POST", "clusters/*/update-config") => "UpdateClusterConfig",
        ("POST", "clusters/*/updates") => "UpdateClusterVersion",
        ("POST", "clusters/*/node-groups") => "CreateNodegroup",
        ("DELETE", "clusters/*/node-groups/*") => "DeleteNodegroup",
        ("POST", "clusters/*/node-groups/*/update-config") => "UpdateNodegroupConfig",
        ("POST", "clusters/*/node-groups/*/update-version") => "UpdateNodegroupVersion",
        ("POST", "clusters/*/addons") => "CreateAddon",
        ("DELETE", "clusters/*/addons/*") => "DeleteAddon",
        ("POST", "clusters/*/addons/*/update") => "UpdateAddon",
        ("POST", "clusters/*/access-entries") => "CreateAccessEntry",
        ("DELETE", "clusters/*/access-entries/*") => "DeleteAccessEntry",
        ("POST", "clusters/*/access-entries/*") => "UpdateAccessEntry",
        ("POST", "clusters/*/access-entries/*/access-policies") => "AssociateAccessPolicy",
        ("DELETE", "clusters/*/access-entries/*/access-policies/*") => "DisassociateAccessPolicy",
        ("POST", "clusters/*/pod-identity-associations") => "CreatePodIdentityAssociation",
        ("DELETE", "clusters/*/pod-identity-associations/*") => "DeletePodIdentityAssociation",
        ("POST", "clusters/*/pod-identity-associations/*") => "UpdatePodIdentityAssociation",
        ("POST", "tags/*") => "TagResource",
        ("DELETE", "tags/*") => "UntagResource",
        _ => return format!("{method} /{pattern}"),
    };
    named.to_string()
}

#[derive(Debug, Clone, Copy)]
enum Protocol {
    Ec2Query,
    /// IAM, ELBv2, STS, …
    Query,
    /// `X-Amz-Target`: KMS, CloudWatch Logs, ECR, ACM, DynamoDB.
    AwsJson,
    /// EKS.
    RestJson,
    /// Route 53.
    RestXml,
    S3,
}

type Io = std::io::Result<()>;

async fn serve(sock: TcpStream, sh: &Shared) -> Io {
    let (c, cfg, upstream) = (&*sh.counters, &sh.cfg, sh.upstream.as_str());
    let mut client = BufReader::new(sock);
    let Some(req) = read_request(&mut client).await? else { return Ok(()) };
    c.requests.fetch_add(1, Ordering::Relaxed);
    let service = req.service();
    let action = req.action();
    let key = format!("{service}:{action}");
    let mutating = req.is_mutating(&action);
    let (n, hold) = {
        let mut l = sh.log.lock().expect("proxy log");
        let n = {
            let n = l.seen.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        if mutating {
            l.mutations.push(key.clone());
        }
        let m = l.mutations.len() as u64;
        let hit = cfg.hold.as_ref().filter(|h| match &h.target {
            Target::Action { key: k, n: want } => *k == key && *want == n,
            Target::Mutating(want) => mutating && *want == m,
        });
        let hold = match hit {
            Some(h) if !l.hold_fired => {
                l.hold_fired = true;
                Some(h.when)
            }
            _ => None,
        };
        (n, hold)
    };
    if let Some(when) = hold {
        if when == When::After {
            forward(upstream, &req).await?;
            c.forwarded.fetch_add(1, Ordering::Relaxed);
        }
        let _ = sh.held.send(true);
        // Never answer: keep the connection until the client (killed by the test) closes it.
        let mut sock = client.into_inner();
        let mut sink = [0u8; 512];
        while sock.read(&mut sink).await.is_ok_and(|k| k > 0) {}
        return Ok(());
    }
    if let Some((_, _, code)) = cfg.refuse.as_ref().filter(|(k, want, _)| *k == key && *want == n) {
        let proto = req.protocol(&service);
        let mut sock = client.into_inner();
        return sock.write_all(&aws_error(proto, "400 Bad Request", code, "refused by the test proxy")).await;
    }
    let (fate, delay) = decide(cfg, &key, n);
    if let Some(d) = delay {
        c.delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(d).await;
    }
    let proto = req.protocol(&service);
    let mut sock = client.into_inner();
    match fate {
        Fate::Throttle => {
            c.throttled.fetch_add(1, Ordering::Relaxed);
            return sock.write_all(&throttling(proto)).await;
        }
        Fate::ErrorBefore => {
            c.error_before.fetch_add(1, Ordering::Relaxed);
            return sock.write_all(&server_error(proto)).await;
        }
        Fate::DropBefore => {
            c.drop_before.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        Fate::Pass | Fate::ErrorAfter | Fate::DropAfter => {}
    }
    let answer = forward(upstream, &req).await?;
    c.forwarded.fetch_add(1, Ordering::Relaxed);
    match fate {
        Fate::ErrorAfter | Fate::DropAfter => {
            if let Ok(mut l) = sh.log.lock() {
                *l.after_faults.entry(key).or_default() += 1;
            }
            if fate == Fate::ErrorAfter {
                c.error_after.fetch_add(1, Ordering::Relaxed);
                sock.write_all(&server_error(proto)).await
            } else {
                c.drop_after.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
        _ => sock.write_all(&answer).await,
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Read one request; `None` when the client closed the connection before sending one.
async fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return if lines.is_empty() { Ok(None) } else { Err(invalid("truncated head")) };
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return Err(invalid("empty head"));
    }
    let mut req = Request { lines, body: Vec::new() };
    if req.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        req.body = read_chunked(r).await?;
        // Forwarded with its length, not chunked.
        req.lines.retain(|l| !l.to_ascii_lowercase().starts_with("transfer-encoding:"));
    } else if let Some(n) = req.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        req.body = vec![0; n];
        r.read_exact(&mut req.body).await?;
    }
    Ok(Some(req))
}

async fn read_chunked(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).await?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| invalid("bad chunk size"))?;
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).await?;
        if n == 0 {
            // The last chunk; trailers are not used by the AWS SDK.
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

/// Send `req` to moto on a fresh connection and return its whole answer, made
/// `Connection: close` for the client.
async fn forward(upstream: &str, req: &Request) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    let mut head = String::new();
    for (i, l) in req.lines.iter().enumerate() {
        let lower = l.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("content-length:")) {
            continue;
        }
        head.push_str(l);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", req.body.len()));
    up.write_all(head.as_bytes()).await?;
    up.write_all(&req.body).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| invalid("moto's answer has no head"))?;
    let head = String::from_utf8_lossy(&answer[..end]).to_string();
    let mut out: Vec<u8> = Vec::with_capacity(answer.len() + 20);
    for l in head.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n");
    out.extend_from_slice(&answer[end + 2..]);
    Ok(out)
}

fn response(status: &str, content_type: &str, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    let request_id = format!("chaos-{:016x}", fastrand::u64(..));
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: {request_id}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// An AWS error answer in `proto`'s wire format.
fn aws_error(proto: Protocol, status: &str, code: &str, message: &str) -> Vec<u8> {
    let xml = "text/xml";
    match proto {
        Protocol::Ec2Query => response(
            status,
            xml,
            &[],
            &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>chaos</RequestID></Response>"),
        ),
        Protocol::Query | Protocol::RestXml => {
            let kind = if status.starts_with('5') { "Receiver" } else { "Sender" };
            response(
                status,
                xml,
                &[],
                &format!("<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>chaos</RequestId></ErrorResponse>"),
            )
        }
        Protocol::AwsJson => response(
            status,
            "application/x-amz-json-1.1",
            &[],
            &format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
        ),
        Protocol::RestJson => response(
            status,
            "application/json",
            &[("x-amzn-ErrorType", code)],
            &format!("{{\"message\":\"{message}\"}}"),
        ),
        Protocol::S3 => response(
            status,
            "application/xml",
            &[],
            &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>chaos</RequestId></Error>"),
        ),
    }
}

/// "Slow down", as each protocol says it.
fn throttling(proto: Protocol) -> Vec<u8> {
    match proto {
        Protocol::Ec2Query => {
            aws_error(proto, "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded.")
        }
        Protocol::Query | Protocol::RestXml => aws_error(proto, "400 Bad Request", "Throttling", "Rate exceeded"),
        Protocol::AwsJson => aws_error(proto, "400 Bad Request", "ThrottlingException", "Rate exceeded"),
        Protocol::RestJson => aws_error(proto, "429 Too Many Requests", "ThrottlingException", "Rate exceeded"),
        Protocol::S3 => aws_error(proto, "503 Slow Down", "SlowDown", "Please reduce your request rate."),
    }
}

fn server_error(proto: Protocol) -> Vec<u8> {
    let code = match proto {
        Protocol::Ec2Query | Protocol::RestXml | Protocol::S3 => "InternalError",
        Protocol::Query | Protocol::AwsJson => "InternalFailure",
        Protocol::RestJson => "ServerException",
    };
    aws_error(proto, "500 Internal Server Error", code, "We encountered an internal error. Please try again.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_depend_on_seed_action_and_occurrence_only() {
        let mut cfg = FaultConfig::from_env();
        cfg.seed = 42;
        cfg.throttle = 0.2;
        cfg.error_after = 0.05;
        let a: Vec<_> = (1..200).map(|n| decide(&cfg, "ec2:CreateVpc", n)).collect();
        let b: Vec<_> = (1..200).map(|n| decide(&cfg, "ec2:CreateVpc", n)).collect();
        assert_eq!(a, b);
        let throttled = a.iter().filter(|(f, _)| *f == Fate::Throttle).count();
        assert!((20..60).contains(&throttled), "{throttled} of 199 at 20%");
    }

    #[test]
    fn rest_paths_are_named_without_their_ids() {
        assert_eq!(rest_operation("POST", "/2013-04-01/hostedzone"), "CreateHostedZone");
        assert_eq!(rest_operation("POST", "/2013-04-01/hostedzone/Z123/rrset/"), "ChangeResourceRecordSets");
        assert_eq!(rest_operation("POST", "/2013-04-01/tags/hostedzone/Z123"), "ChangeTagsForResource");
        assert_eq!(
            rest_operation("POST", "/clusters/c/access-entries/arn%3Aaws%3Aiam/access-policies"),
            "AssociateAccessPolicy"
        );
        assert_eq!(rest_operation("PUT", "/clusters/c/unknown-thing"), "PUT /clusters/*/*");
    }
}
