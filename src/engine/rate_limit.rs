//! Per-service rate limits and the throttling retry, shared by real AWS calls and the simulated
//! cloud.
//!
//! Every API call goes through [`RateLimiter::call`]:
//! 1. calls that must not overlap (Route 53 changes to one hosted zone) queue on a per-key lock;
//! 2. the call takes a token from its `(service, class)` bucket (sized by the AWS model); the
//!    queue in front of a bucket is FIFO, so a burst of 500 security-group rules cannot starve a
//!    call on the critical path that arrived first;
//! 3. the request is sent; a throttled answer is retried after an exponential backoff with full
//!    jitter (as the AWS SDKs do), up to the policy's attempts, and empties the bucket so the
//!    other callers slow down too. Any other answer — success or error — is returned at once:
//!    non-throttling errors fail fast.
//!
//! Waiting for the zone lock, for a token or out a backoff happens *without* the operation's
//! parallelism slot (`resource::cx::without_slot`): `--parallelism` bounds calls in flight, not
//! calls queued. A call takes its token only once it holds its slot again, so the calls a bucket
//! admits are sent at once and never bunch up behind a slot.
//!
//! The limiter also counts, per service, calls sent, throttled answers, retries and time spent
//! waiting for tokens: the run summary prints them.
//!
//! The limiter knows nothing of AWS: callers classify their calls ([`ApiCall`]) and say what
//! a throttled answer looks like. The AWS connector is `aws::limits`; the simulated cloud is
//! `resource::sim`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::model::{BucketSpec, Model, RetryPolicy};
use crate::resource::cx::without_slot;

/// Error codes that mean "slow down" (the AWS SDKs' list, plus Route 53's
/// `PriorRequestNotComplete`, which it also classifies as throttling).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Is `code` a throttling error code?
pub fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// One API call as the limiter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The service's signing name: `ec2`, `route53`, `iam`, …
    pub service: String,
    /// The API class whose bucket the call takes a token from: `mutating`, `non_mutating`, …
    pub class: String,
    /// The operation, e.g. `CreateVpc` (for messages and statistics).
    pub action: String,
    /// Calls with the same key never overlap (e.g. `route53:zone:Z123`).
    pub serialize: Option<String>,
}

impl ApiCall {
    pub fn new(service: &str, class: &str, action: &str) -> Self {
        ApiCall { service: service.into(), class: class.into(), action: action.into(), serialize: None }
    }
    pub fn serialized(mut self, key: impl Into<String>) -> Self {
        self.serialize = Some(key.into());
        self
    }
}

/// What one service saw during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ApiStats {
    /// Requests sent (every attempt counts).
    pub calls: u64,
    /// Answers that were throttling errors.
    pub throttled: u64,
    /// Transient failures: 5xx answers and requests that got no answer (connection lost,
    /// timeout). Retried when the call is safe to repeat (`aws::limits`).
    pub transient: u64,
    /// Attempts after the first: throttling retries plus the connector's transient-error retries.
    pub retries: u64,
    /// Total time calls waited for a token of this service's buckets.
    #[serde(serialize_with = "secs")]
    pub waited: Duration,
    /// Refusals that meant "not yet" (eventual consistency: a role seconds old, a network
    /// interface still attached), each followed by a wait and the call sent again.
    pub consistency_waits: u64,
    /// Total time spent in those waits.
    #[serde(serialize_with = "secs")]
    pub consistency_waited: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A token bucket on tokio's clock (so it runs on simulated time under a paused clock).
struct Bucket {
    spec: BucketSpec,
    /// Tokens available and when they were last counted.
    level: Mutex<(f64, Instant)>,
    /// FIFO queue of callers waiting for a token; its holder is the only one taking tokens.
    queue: tokio::sync::Mutex<()>,
    name: String,
}

impl Bucket {
    fn new(service: &str, class: &str, spec: BucketSpec) -> Self {
        Bucket {
            spec,
            level: Mutex::new((spec.burst, Instant::now())),
            queue: tokio::sync::Mutex::new(()),
            name: format!("{service} {class} rate limit"),
        }
    }

    fn level(&self) -> MutexGuard<'_, (f64, Instant)> {
        self.level.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a token if there is one; otherwise how long until there is.
    fn try_take(&self) -> Result<(), Duration> {
        let mut g = self.level();
        let now = Instant::now();
        let refilled = (g.0 + now.duration_since(g.1).as_secs_f64() * self.spec.refill_per_s).min(self.spec.burst);
        *g = (refilled, now);
        if refilled >= 1.0 {
            g.0 -= 1.0;
            Ok(())
        } else {
            // Round up to the next microsecond so the wake-up never lands just short of a token.
            let secs = (1.0 - refilled) / self.spec.refill_per_s;
            Err(Duration::from_micros((secs * 1e6).ceil() as u64))
        }
    }

    /// The service said "slow down": whatever we thought was left is not.
    fn drain(&self) {
        let mut g = self.level();
        g.0 = g.0.min(0.0);
    }
}

pub struct RateLimiter {
    /// (service, class) → bucket; a service's `all` bucket covers its classes without one.
    buckets: HashMap<(String, String), Arc<Bucket>>,
    serial: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    stats: Mutex<BTreeMap<String, ApiStats>>,
    retry: RetryPolicy,
    rng: Mutex<fastrand::Rng>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("buckets", &self.buckets.len()).field("retry", &self.retry).finish()
    }
}

impl RateLimiter {
    /// Buckets and retry policy from `model`.
    pub fn from_model(model: &Model) -> Self {
        let mut buckets = HashMap::new();
        for (service, classes) in &model.rate_limits {
            for class in classes.keys() {
                if let Some(spec) = model.bucket(service, class) {
                    buckets.insert((service.clone(), class.clone()), Arc::new(Bucket::new(service, class, spec)));
                }
            }
        }
        RateLimiter {
            buckets,
            serial: Mutex::default(),
            stats: Mutex::default(),
            retry: model.retry,
            rng: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// No buckets (calls are only counted), with `retry` for throttled answers.
    pub fn unlimited(retry: RetryPolicy) -> Self {
        RateLimiter {
            buckets: HashMap::new(),
            serial: Mutex::default(),
            stats: Mutex::default(),
            retry,
            rng: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// Make the jitter reproducible (simulations, benchmarks).
    pub fn with_seed(self, seed: u64) -> Self {
        *self.rng.lock().unwrap_or_else(|p| p.into_inner()) = fastrand::Rng::with_seed(seed);
        self
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Per-service statistics so far.
    pub fn stats(&self) -> BTreeMap<String, ApiStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn note(&self, service: &str, f: impl FnOnce(&mut ApiStats)) {
        let mut g = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(g.entry(service.to_string()).or_default());
    }

    /// Count a retry made by someone else (the SDK's retry of a transient error).
    pub fn note_retry(&self, service: &str) {
        self.note(service, |s| s.retries += 1);
    }

    /// Count a transient failure (a 5xx answer, a lost connection).
    pub fn note_transient(&self, service: &str) {
        self.note(service, |s| s.transient += 1);
    }

    /// Sleep out the backoff before attempt `attempt + 1` of `call` (exponential, full jitter,
    /// without the operation's slot) and count the retry: for retries the caller decides, such
    /// as the connector's retry of transient failures.
    pub async fn pause_before_retry(&self, call: &ApiCall, attempt: u32, why: &str) {
        let jitter = self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64();
        let pause = self.retry.backoff(attempt, jitter);
        without_slot(&format!("{} to be retried after {why}", call.action), tokio::time::sleep(pause)).await;
        self.note(&call.service, |s| s.retries += 1);
    }

    /// Sleep out `pause` (without the operation's slot, shown as `what`) before sending `call`
    /// again after a refusal that means "not yet", and count it. The caller decides which
    /// refusals those are (`aws::consistency`).
    pub async fn wait_for_consistency(&self, call: &ApiCall, what: &str, pause: Duration) {
        without_slot(what, tokio::time::sleep(pause)).await;
        self.note(&call.service, |s| {
            s.consistency_waits += 1;
            s.consistency_waited += pause;
        });
    }

    fn bucket(&self, call: &ApiCall) -> Option<&Arc<Bucket>> {
        self.buckets
            .get(&(call.service.clone(), call.class.clone()))
            .or_else(|| self.buckets.get(&(call.service.clone(), "all".to_string())))
    }

    /// Wait (without the slot) until `call` may be sent, then count it.
    async fn admit(&self, call: &ApiCall) {
        if let Some(b) = self.bucket(call) {
            let start = Instant::now();
            let _turn = match b.queue.try_lock() {
                Ok(g) => g,
                Err(_) => without_slot(&b.name, b.queue.lock()).await,
            };
            while let Err(wait) = b.try_take() {
                // Only the queue's head sleeps here; the token it wakes up for is still there
                // when it has its slot back, because nobody else takes tokens meanwhile.
                without_slot(&b.name, tokio::time::sleep(wait)).await;
            }
            let waited = start.elapsed();
            self.note(&call.service, |s| s.waited += waited);
        }
        self.note(&call.service, |s| s.calls += 1);
    }

    fn serial_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut g = self.serial.lock().unwrap_or_else(|p| p.into_inner());
        g.entry(key.to_string()).or_default().clone()
    }

    /// Send `call` through the limiter: `send(attempt)` makes attempt number `attempt`
    /// (1-based); `throttled` says whether an answer is a throttling error, which is retried
    /// with backoff. Every other answer is returned as it is.
    pub async fn call<T, F, Fut>(&self, call: &ApiCall, throttled: impl Fn(&T) -> bool, mut send: F) -> T
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = T>,
    {
        let lock = call.serialize.as_deref().map(|k| self.serial_lock(k));
        let _serial = match &lock {
            Some(l) => Some(match l.try_lock() {
                Ok(g) => g,
                Err(_) => without_slot("a previous change to finish", l.lock()).await,
            }),
            None => None,
        };
        let mut attempt = 1;
        loop {
            self.admit(call).await;
            let answer = send(attempt).await;
            if !throttled(&answer) {
                return answer;
            }
            self.note(&call.service, |s| s.throttled += 1);
            if let Some(b) = self.bucket(call) {
                b.drain();
            }
            if attempt >= self.retry.max_attempts {
                return answer;
            }
            let jitter = self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64();
            let pause = self.retry.backoff(attempt, jitter);
            without_slot(&format!("{} to be retried after throttling", call.action), tokio::time::sleep(pause)).await;
            self.note(&call.service, |s| s.retries += 1);
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn model(burst: f64, rate: f64) -> Model {
        let mut m = Model::builtin();
        m.rate_limits.clear();
        let mut classes = BTreeMap::new();
        classes.insert(
            "mutating".to_string(),
            super::super::model::LimitEntry::Bucket(BucketSpec { burst, refill_per_s: rate }),
        );
        m.rate_limits.insert("ec2".into(), classes);
        m
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_admits_its_burst_at_once_then_its_refill_rate() {
        let lim = Arc::new(RateLimiter::from_model(&model(3.0, 2.0)));
        let t0 = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..7 {
            let (lim, times) = (lim.clone(), times.clone());
            tasks.push(tokio::spawn(async move {
                let call = ApiCall::new("ec2", "mutating", "CreateVpc");
                lim.call(&call, |_: &()| false, |_| async {}).await;
                times.lock().expect("lock").push(t0.elapsed().as_secs_f64());
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let mut times = times.lock().expect("lock").clone();
        times.sort_by(f64::total_cmp);
        // 3 at once, then one every 0.5 s.
        let expected = [0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0];
        for (t, e) in times.iter().zip(expected) {
            assert!((t - e).abs() < 0.001, "{times:?}");
        }
        assert_eq!(lim.stats()["ec2"].calls, 7);
        // Other services and classes are not limited.
        let t1 = Instant::now();
        for _ in 0..100 {
            lim.call(&ApiCall::new("iam", "mutating", "CreateRole"), |_: &()| false, |_| async {}).await;
        }
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_answers_are_retried_with_growing_backoff_then_given_up() {
        let lim = RateLimiter::unlimited(RetryPolicy { max_attempts: 4, initial_backoff_s: 1.0, max_backoff_s: 20.0 })
            .with_seed(7);
        let sent = AtomicU32::new(0);
        let call = ApiCall::new("ec2", "mutating", "CreateVpc");
        // Throttled twice, then fine.
        let answer = lim
            .call(
                &call,
                |r: &Result<u32, &str>| r.is_err(),
                |attempt| {
                    sent.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if attempt < 3 {
                            Err("RequestLimitExceeded")
                        } else {
                            Ok(attempt)
                        }
                    }
                },
            )
            .await;
        assert_eq!(answer, Ok(3));
        let s = lim.stats()["ec2"];
        assert_eq!((s.calls, s.throttled, s.retries), (3, 2, 2));
        // Always throttled: gives up after max_attempts and returns the last answer.
        let t0 = Instant::now();
        let answer = lim.call(&call, |r: &Result<(), &str>| r.is_err(), |_| async { Err("Throttling") }).await;
        assert_eq!(answer, Err("Throttling"));
        assert!(t0.elapsed() <= Duration::from_secs(1 + 2 + 4), "backoff is capped by 2^n: {:?}", t0.elapsed());
        assert_eq!(lim.stats()["ec2"].calls, 3 + 4);
        // A non-throttling error is not retried.
        let before = lim.stats()["ec2"].calls;
        let _ = lim
            .call(&call, |r: &Result<(), &str>| r == &Err("Throttling"), |_| async { Err("InvalidParameter") })
            .await;
        assert_eq!(lim.stats()["ec2"].calls, before + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn serialized_calls_never_overlap() {
        let lim = Arc::new(RateLimiter::unlimited(RetryPolicy::default()));
        let inside = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (lim, inside) = (lim.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                let zone = if i % 2 == 0 { "Z1" } else { "Z2" };
                let call = ApiCall::new("route53", "account", "ChangeResourceRecordSets").serialized(zone);
                lim.call(
                    &call,
                    |_: &()| false,
                    |_| async {
                        let n = inside.fetch_add(1, Ordering::SeqCst);
                        assert!(n < 2, "at most one change per zone in flight (two zones)");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    },
                )
                .await;
            }));
        }
        let t0 = Instant::now();
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(t0.elapsed(), Duration::from_secs(3), "three per zone, one at a time, zones in parallel");
    }
}
