//! `kprov state bootstrap`: create what the S3 backend needs, idempotently.
//!
//! Each setting is read first and only written when it differs, so a second run changes
//! nothing and reports every step as already in place:
//! - the bucket (in the backend's region);
//! - versioning on (every state ever written stays recoverable);
//! - default encryption (SSE-S3, AES-256, with a bucket key) unless some default encryption is
//!   already configured (e.g. SSE-KMS chosen by the account);
//! - a bucket policy statement `DenyInsecureTransport` refusing any request without TLS
//!   (other statements of an existing policy are kept);
//! - the public access block, all four settings on;
//! - the lock table: hash key `LockID` (string), on-demand billing, TTL on `expires`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use serde_json::{json, Value};

use super::lock::dynamodb::{EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE};
use super::s3::is_denied;
use crate::aws::error::{from_sdk, SdkResultExt};
use crate::resource::ResourceError;

/// The Sid of the TLS-only statement.
pub const TLS_SID: &str = "DenyInsecureTransport";
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{what}: {source}")]
    Aws { what: String, source: ResourceError },
    #[error("access denied for {what} ({source}). Bootstrap needs s3:CreateBucket, s3:PutBucketVersioning, s3:PutEncryptionConfiguration, s3:PutBucketPolicy, s3:PutBucketPublicAccessBlock (and their Get*), dynamodb:CreateTable, DescribeTable, UpdateTimeToLive and DescribeTimeToLive")]
    AccessDenied { what: String, source: ResourceError },
    #[error("the bucket name `{bucket}` is already taken by another AWS account (S3 bucket names are global): choose another ([backend] bucket, --state-bucket)")]
    BucketTaken { bucket: String },
    #[error("the table `{table}` exists but is not a kprov lock table ({problem}): use another name ([backend] lock_table, --lock-table)")]
    WrongTable { table: String, problem: String },
    #[error("the table `{table}` did not become ACTIVE within {}s", TABLE_ACTIVE_TIMEOUT.as_secs())]
    Timeout { table: String },
    #[error("{0}")]
    Invalid(String),
}

/// One bootstrap step and whether it changed anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub what: String,
    pub changed: bool,
}

struct Run {
    steps: Vec<Step>,
}

impl Run {
    fn step(&mut self, what: impl Into<String>, changed: bool) {
        self.steps.push(Step { what: what.into(), changed });
    }
}

fn aws(what: &str, e: ResourceError) -> BootstrapError {
    match e.code() {
        Some(code) if is_denied(code) => BootstrapError::AccessDenied { what: what.to_string(), source: e },
        _ => BootstrapError::Aws { what: what.to_string(), source: e },
    }
}

/// The AWS partition of `region`, for ARNs.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The statement denying every request to the bucket that does not use TLS.
pub fn tls_statement(bucket: &str, region: &str) -> Value {
    let arn = format!("arn:{}:s3:::{bucket}", partition(region));
    json!({
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn.clone(), format!("{arn}/*")],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
    })
}

/// Create or check the bucket and the lock table.
pub async fn bootstrap(
    s3: &aws_sdk_s3::Client,
    ddb: &aws_sdk_dynamodb::Client,
    bucket: &str,
    region: &str,
    table: &str,
) -> Result<Vec<Step>, BootstrapError> {
    let mut run = Run { steps: Vec::new() };
    ensure_bucket(&mut run, s3, bucket, region).await?;
    ensure_table(&mut run, ddb, table).await?;
    Ok(run.steps)
}

async fn ensure_bucket(
    run: &mut Run,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<(), BootstrapError> {
    let b = format!("bucket {bucket}");
    match s3.head_bucket().bucket(bucket).send().await.or_aws("HeadBucket") {
        Ok(_) => run.step(format!("{b}: exists"), false),
        Err(e) if matches!(e.code(), Some("NotFound" | "NoSuchBucket" | "HTTP 404")) => {
            let mut req = s3.create_bucket().bucket(bucket);
            // us-east-1 is the one region that must not be named as a location constraint.
            if region != "us-east-1" {
                req = req.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(region))
                        .build(),
                );
            }
            match req.send().await.or_aws("CreateBucket") {
                Ok(_) => run.step(format!("{b}: created in {region}"), true),
                Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => run.step(format!("{b}: exists"), false),
                Err(e) if e.code() == Some("BucketAlreadyExists") => {
                    return Err(BootstrapError::BucketTaken { bucket: bucket.to_string() })
                }
                Err(e) => return Err(aws(&b, e)),
            }
        }
        // 403 on HEAD: the bucket exists but these credentials may not use it (often: it
        // belongs to another account).
        Err(e) if matches!(e.code(), Some("Forbidden" | "HTTP 403" | "AccessDenied")) => {
            return Err(BootstrapError::AccessDenied {
                what: format!("{b} (it exists, but these credentials may not use it: another account's bucket?)"),
                source: e,
            })
        }
        Err(e) => return Err(aws(&b, e)),
    }

    // Versioning.
    let status = match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(v) => v.status().cloned(),
        // A successful answer the SDK could not parse: moto names the root element
        // <GetBucketVersioningResponse> instead of <VersioningConfiguration>. Read the status
        // from the body ourselves; anything else counts as "not enabled" (enabling is
        // idempotent).
        Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => {
            let body = e.raw_response().and_then(|r| r.body().bytes()).map(String::from_utf8_lossy);
            body.is_some_and(|b| b.contains("<Status>Enabled</Status>")).then_some(BucketVersioningStatus::Enabled)
        }
        Err(e) => return Err(aws(&b, from_sdk("GetBucketVersioning", e))),
    };
    if status == Some(BucketVersioningStatus::Enabled) {
        run.step("versioning: enabled already", false);
    } else {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .or_aws("PutBucketVersioning")
            .map_err(|e| aws(&b, e))?;
        run.step("versioning: enabled", true);
    }

    // Default encryption.
    let current = match s3.get_bucket_encryption().bucket(bucket).send().await.or_aws("GetBucketEncryption") {
        Ok(out) => {
            out.server_side_encryption_configuration().map(|c| c.rules()).unwrap_or_default().iter().find_map(|r| {
                r.apply_server_side_encryption_by_default().map(|d| d.sse_algorithm().as_str().to_string())
            })
        }
        Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => None,
        Err(e) => return Err(aws(&b, e)),
    };
    match current {
        Some(alg) => run.step(format!("default encryption: {alg} already"), false),
        None => {
            let invalid = |e: aws_sdk_s3::error::BuildError| BootstrapError::Invalid(e.to_string());
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .map_err(invalid)?,
                )
                .bucket_key_enabled(true)
                .build();
            let conf = ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(invalid)?;
            s3.put_bucket_encryption()
                .bucket(bucket)
                .server_side_encryption_configuration(conf)
                .send()
                .await
                .or_aws("PutBucketEncryption")
                .map_err(|e| aws(&b, e))?;
            run.step("default encryption: AES256 (SSE-S3)", true);
        }
    }

    // TLS-only bucket policy: add or fix our statement, keep the others.
    let wanted = tls_statement(bucket, region);
    let existing = match s3.get_bucket_policy().bucket(bucket).send().await.or_aws("GetBucketPolicy") {
        Ok(out) => match out.policy() {
            Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| {
                BootstrapError::Invalid(format!("{b}: the existing bucket policy is not valid JSON: {e}"))
            })?),
            None => None,
        },
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
        Err(e) => return Err(aws(&b, e)),
    };
    let mut policy = existing.unwrap_or_else(|| json!({ "Version": "2012-10-17", "Statement": [] }));
    let statements = policy
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| BootstrapError::Invalid(format!("{b}: the existing bucket policy has no Statement list")))?;
    let ours = statements.iter().position(|s| s.get("Sid").and_then(Value::as_str) == Some(TLS_SID));
    if ours.is_some_and(|i| same_statement(&statements[i], &wanted)) {
        run.step("bucket policy: TLS-only already", false);
    } else {
        match ours {
            Some(i) => statements[i] = wanted,
            None => statements.push(wanted),
        }
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .or_aws("PutBucketPolicy")
            .map_err(|e| aws(&b, e))?;
        run.step("bucket policy: deny requests without TLS", true);
    }

    // Public access block.
    let pab = match s3.get_public_access_block().bucket(bucket).send().await.or_aws("GetPublicAccessBlock") {
        Ok(out) => out.public_access_block_configuration().map(|c| {
            [c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()]
                .iter()
                .all(|v| *v == Some(true))
        }),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(aws(&b, e)),
    };
    if pab == Some(true) {
        run.step("public access: blocked already", false);
    } else {
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .or_aws("PutPublicAccessBlock")
            .map_err(|e| aws(&b, e))?;
        run.step("public access: blocked", true);
    }
    Ok(())
}

/// Statements compare as JSON values, except that a one-element `Resource` list and a string
/// are the same (AWS may return either form).
fn same_statement(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| {
        let mut v = v.clone();
        if let Some(Value::Array(r)) = v.get_mut("Resource") {
            r.sort_by_key(|x| x.to_string());
        }
        v
    };
    norm(a) == norm(b)
}

async fn ensure_table(run: &mut Run, ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), BootstrapError> {
    let t = format!("table {table}");
    match ddb.describe_table().table_name(table).send().await.or_aws("DescribeTable") {
        Ok(out) => {
            let desc = out.table();
            let key = desc.map(|d| d.key_schema()).unwrap_or_default();
            let hash_ok =
                key.len() == 1 && key[0].attribute_name() == KEY_ATTRIBUTE && key[0].key_type() == &KeyType::Hash;
            let string_key = desc
                .map(|d| d.attribute_definitions())
                .unwrap_or_default()
                .iter()
                .any(|a| a.attribute_name() == KEY_ATTRIBUTE && a.attribute_type() == &ScalarAttributeType::S);
            if !(hash_ok && string_key) {
                return Err(BootstrapError::WrongTable {
                    table: table.to_string(),
                    problem: format!("its key must be `{KEY_ATTRIBUTE}` (string) alone"),
                });
            }
            let billing = desc
                .and_then(|d| d.billing_mode_summary())
                .and_then(|b| b.billing_mode())
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| "PROVISIONED".into());
            run.step(format!("{t}: exists (billing {billing})"), false);
        }
        Err(e) if e.code() == Some("ResourceNotFoundException") => {
            let invalid = |e: aws_sdk_dynamodb::error::BuildError| BootstrapError::Invalid(e.to_string());
            ddb.create_table()
                .table_name(table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(KEY_ATTRIBUTE)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(invalid)?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(KEY_ATTRIBUTE)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(invalid)?,
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .or_aws("CreateTable")
                .map_err(|e| aws(&t, e))?;
            wait_active(ddb, table).await?;
            run.step(format!("{t}: created (on-demand billing, key {KEY_ATTRIBUTE})"), true);
        }
        Err(e) => return Err(aws(&t, e)),
    }

    let ttl = ddb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .or_aws("DescribeTimeToLive")
        .map_err(|e| aws(&t, e))?;
    let desc = ttl.time_to_live_description();
    let status = desc.and_then(|d| d.time_to_live_status());
    let attr = desc.and_then(|d| d.attribute_name());
    match (status, attr) {
        (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), Some(a)) if a == EXPIRES_ATTRIBUTE => {
            run.step(format!("TTL on `{EXPIRES_ATTRIBUTE}`: enabled already"), false)
        }
        (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), Some(other)) => {
            return Err(BootstrapError::WrongTable {
                table: table.to_string(),
                problem: format!("its TTL is on `{other}`, not `{EXPIRES_ATTRIBUTE}`"),
            })
        }
        _ => {
            let spec = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_ATTRIBUTE)
                .build()
                .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
            ddb.update_time_to_live()
                .table_name(table)
                .time_to_live_specification(spec)
                .send()
                .await
                .or_aws("UpdateTimeToLive")
                .map_err(|e| aws(&t, e))?;
            run.step(format!("TTL on `{EXPIRES_ATTRIBUTE}`: enabled"), true);
        }
    }
    Ok(())
}

/// Poll until the new table is ACTIVE (a few seconds on AWS), bounded.
async fn wait_active(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), BootstrapError> {
    let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_TIMEOUT;
    loop {
        let out = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| aws(&format!("table {table}"), from_sdk("DescribeTable", e)))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(BootstrapError::Timeout { table: table.to_string() });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
