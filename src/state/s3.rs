//! The S3 backend: one JSON object per stack/env (`s3://<bucket>/<key>`).
//!
//! Flow: [`S3Backend::load`] GETs the object, parses it with the shared parser (corrupt,
//! truncated and future-format objects are refused) and remembers its ETag, lineage and serial.
//! [`S3Backend::save`] checks the new state follows what was read (same lineage, serial + 1) and
//! PUTs it conditionally: `If-Match: <etag>` when an object was read, `If-None-Match: *` when
//! there was none. If anyone wrote in between, S3 answers 412 and nothing is overwritten: the
//! write fails with [`StateError::Conflict`] naming the serial now stored. The ETag of our own
//! write is remembered, so the engine's successive writes chain.
//!
//! Fencing: once a held lock fenced the backend ([`Backend::fence`]), every PUT is preceded by
//! [`Fence::confirm`], a renewal of the lease conditional on this run's token in DynamoDB. The
//! two cannot be one atomic step, so the ETag closes the gap: a writer that stalls between its
//! confirmation and its PUT can only land before the next holder's first write (which that
//! holder then either builds on, having read it, or is refused with 412), never after it, since
//! every write changes the object (its serial) and so its ETag. docs/state.md, "Fencing", has
//! the whole argument.
//!
//! The bucket is expected to be versioned (`kprov state bootstrap`), so every earlier state
//! stays recoverable (docs/state.md, "Recovery").

use std::sync::Mutex;

use aws_sdk_s3::primitives::ByteStream;

use super::lock::Fence;
use super::{check_import, local, Backend, State, StateError};
use crate::aws::error::from_sdk;
use crate::resource::ResourceError;

/// What this process last saw of the object.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    /// Not read yet.
    Unknown,
    /// Read: there is no object.
    Absent,
    /// Read or written by us.
    Object { etag: String, lineage: String, serial: u64 },
}

pub struct S3Backend {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    region: String,
    seen: Mutex<Seen>,
    fence: Mutex<Option<Fence>>,
}

/// AWS error codes meaning "these credentials may not do that" (or are not valid at all).
pub(crate) fn is_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "AllAccessDisabled"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "HTTP 403"
    )
}

impl S3Backend {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, key: &str, region: &str) -> Self {
        S3Backend {
            client,
            bucket: bucket.to_string(),
            key: key.to_string(),
            region: region.to_string(),
            seen: Mutex::new(Seen::Unknown),
            fence: Mutex::new(None),
        }
    }

    /// An S3 client for `sdk`; path-style addressing when the endpoint is overridden (moto,
    /// LocalStack, MinIO), since bucket subdomains of `127.0.0.1` do not resolve.
    pub fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or(Seen::Unknown)
    }

    fn remember(&self, s: Seen) {
        if let Ok(mut g) = self.seen.lock() {
            *g = s;
        }
    }

    /// Map an S3 failure to a [`StateError`] that says which thing is wrong and how to fix it.
    fn error(&self, operation: &str, e: ResourceError) -> StateError {
        match e.code() {
            Some("NoSuchBucket") => StateError::NoBucket { bucket: self.bucket.clone(), region: self.region.clone() },
            Some(code) if is_denied(code) => StateError::AccessDenied {
                location: self.location(),
                operation: operation.to_string(),
                code: code.to_string(),
                request_id: e.request_id().map(str::to_string),
            },
            _ => StateError::Aws { location: self.location(), source: e },
        }
    }

    /// GET the object: `None` when there is none; the ETag and parsed state otherwise.
    async fn fetch(&self) -> Result<Option<(String, State)>, StateError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(&self.key).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = from_sdk("GetObject", e);
                return match e.code() {
                    Some("NoSuchKey") => Ok(None),
                    _ => Err(self.error("GetObject", e)),
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out.body.collect().await.map_err(|e| StateError::Read {
            location: self.location(),
            source: std::io::Error::other(format!("reading the object body: {e}")),
        })?;
        // Invalid UTF-8 is reported by the JSON parser as corruption, with its position.
        Ok(Some((etag, local::parse_bytes(&self.location(), &bytes.into_bytes())?)))
    }

    /// Under a fence: refuse unless the lock acquisition is still current (renewing its
    /// lease), then call the commit hook. Without one: nothing to check.
    async fn confirm(&self, serial: u64) -> Result<(), StateError> {
        let Some(fence) = self.fence.lock().ok().and_then(|f| f.clone()) else { return Ok(()) };
        fence.confirm().await.map_err(|reason| StateError::Fenced {
            location: self.location(),
            lock: fence.describe(),
            reason,
        })?;
        fence.before_final_step(serial);
        Ok(())
    }

    /// PUT `state`, conditional on the object being what we last saw (and, under a fence, on
    /// the lock being still ours).
    async fn put(&self, state: &State, seen: &Seen) -> Result<(), StateError> {
        self.confirm(state.serial).await?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(state.to_json().into_bytes()));
        req = match seen {
            Seen::Object { etag, .. } => req.if_match(etag),
            // `load` always runs before a write, so `Unknown` does not reach here; treat it as
            // "must not exist", the safe choice.
            Seen::Absent | Seen::Unknown => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(out) => {
                self.remember(match out.e_tag() {
                    Some(etag) => {
                        Seen::Object { etag: etag.to_string(), lineage: state.lineage.clone(), serial: state.serial }
                    }
                    // Without an ETag the next write must re-read first.
                    None => Seen::Unknown,
                });
                Ok(())
            }
            Err(e) => {
                let e = from_sdk("PutObject", e);
                match e.code() {
                    // 412: the object changed (or appeared); 409: a concurrent conditional write
                    // won; 404 on If-Match: it was deleted.
                    Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey") => {
                        let stored = self.fetch().await.ok().flatten().map(|(_, s)| s.serial);
                        Err(StateError::Conflict {
                            location: self.location(),
                            stored,
                            expected: match seen {
                                Seen::Object { serial, .. } => *serial,
                                _ => 0,
                            },
                        })
                    }
                    _ => Err(self.error("PutObject", e)),
                }
            }
        }
    }

    /// What we last saw, reading the object first if we have not yet.
    async fn baseline(&self) -> Result<Seen, StateError> {
        match self.seen() {
            Seen::Unknown => {
                Backend::load(self).await?;
                Ok(self.seen())
            }
            s => Ok(s),
        }
    }
}

#[async_trait::async_trait]
impl Backend for S3Backend {
    async fn load(&self) -> Result<Option<State>, StateError> {
        // A failed read forgets the old ETag: no write may follow a read that did not succeed.
        self.remember(Seen::Unknown);
        Ok(match self.fetch().await? {
            Some((etag, state)) => {
                self.remember(Seen::Object { etag, lineage: state.lineage.clone(), serial: state.serial });
                Some(state)
            }
            None => {
                self.remember(Seen::Absent);
                None
            }
        })
    }

    async fn save(&self, state: &State) -> Result<(), StateError> {
        let seen = self.baseline().await?;
        if let Seen::Object { lineage, serial, .. } = &seen {
            if *lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    location: self.location(),
                    stored: lineage.clone(),
                    ours: state.lineage.clone(),
                });
            }
            if serial.checked_add(1) != Some(state.serial) {
                return Err(StateError::Conflict {
                    location: self.location(),
                    stored: Some(*serial),
                    expected: state.serial.saturating_sub(1),
                });
            }
        }
        self.put(state, &seen).await
    }

    async fn import(&self, state: &State) -> Result<(), StateError> {
        let stored = Backend::load(self).await?;
        check_import(&self.location(), stored.as_ref(), state)?;
        self.put(state, &self.seen()).await
    }

    fn fence(&self, fence: Fence) {
        if let Ok(mut f) = self.fence.lock() {
            *f = Some(fence);
        }
    }

    fn describe(&self) -> String {
        self.location()
    }
}
