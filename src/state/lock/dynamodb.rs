//! The lock as an item of a DynamoDB table (for S3 state).
//!
//! Item: `LockID` (S, the hash key) = `<bucket>/<key>`, `generation` (N, the number of the
//! last acquisition), and while the lock is held `Info` (M: id, who, operation, created,
//! kprov_version) and `expires` (N, Unix seconds; also the table's TTL attribute, so abandoned
//! records are eventually swept; a free item has no `expires`, so TTL keeps it and its
//! generation). Every operation is one conditional request, so DynamoDB arbitrates between
//! racing runs:
//! - acquire: `UpdateItem SET Info, expires, generation = if_not_exists(generation, 0) + 1`,
//!   condition `attribute_not_exists(LockID) OR attribute_not_exists(Info) OR expires < :now`,
//!   returning the old item (with `Info` only when an expired lease was taken over);
//! - renew (the heartbeat, and [`super::Fence::confirm`] before each state write):
//!   `UpdateItem SET expires`, condition `Info.id = :id AND generation = :generation`;
//! - release: `UpdateItem REMOVE Info, expires`, condition `Info.id = :id`.
//!
//! Sources: condition expressions and `if_not_exists` in `SET` are in the DynamoDB developer
//! guide ("Condition expressions", "Update expressions": "SET … if_not_exists"); an UpdateItem
//! on a missing key creates the item ("Edits an existing item's attributes, or adds a new item
//! to the table if it does not already exist", UpdateItem API reference); `ReturnValues
//! ALL_OLD` returns the item as it was before; a `ConsistentRead` GetItem returns every write
//! acknowledged before it ("Read consistency").

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Attempt, LockError, LockInfo, LockRecord, LockStore, Token};
use crate::aws::error::from_sdk;
use crate::resource::ResourceError;
use crate::state::s3::is_denied;

/// The table's hash key.
pub const KEY_ATTRIBUTE: &str = "LockID";
/// The lease end, also the table's TTL attribute.
pub const EXPIRES_ATTRIBUTE: &str = "expires";
/// The number of the last acquisition.
pub const GENERATION_ATTRIBUTE: &str = "generation";

const ID_MATCHES: &str = "#info.#id = :id";

pub struct DynamoLockStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    region: String,
    lock_id: String,
}

impl DynamoLockStore {
    /// The lock of the state object `s3://bucket/key`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str, region: &str, bucket: &str, key: &str) -> Self {
        DynamoLockStore {
            client,
            table: table.to_string(),
            region: region.to_string(),
            lock_id: format!("{bucket}/{key}"),
        }
    }

    fn key(&self) -> AttributeValue {
        AttributeValue::S(self.lock_id.clone())
    }

    fn error(&self, operation: &str, e: ResourceError) -> LockError {
        match e.code() {
            Some("ResourceNotFoundException") => {
                LockError::NoTable { table: self.table.clone(), region: self.region.clone() }
            }
            Some(code) if is_denied(code) => LockError::AccessDenied {
                table: self.table.clone(),
                operation: operation.to_string(),
                code: code.to_string(),
                request_id: e.request_id().map(str::to_string),
            },
            _ => LockError::Aws { lock: self.describe(), source: e },
        }
    }
}

fn is_condition_failed(e: &ResourceError) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

fn info_value(info: &LockInfo) -> AttributeValue {
    let s = |v: &str| AttributeValue::S(v.to_string());
    AttributeValue::M(HashMap::from([
        ("id".to_string(), s(&info.id)),
        ("who".to_string(), s(&info.who)),
        ("operation".to_string(), s(&info.operation)),
        ("created".to_string(), s(&info.created)),
        ("kprov_version".to_string(), s(&info.kprov_version)),
    ]))
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Read a lock item: `None` when the lock is free (no `Info`). Fields another tool left out
/// read as empty rather than failing, so a human can still see and force-unlock it.
fn record(item: &HashMap<String, AttributeValue>) -> Option<LockRecord> {
    let lock_id = item.get(KEY_ATTRIBUTE)?.as_s().ok()?.clone();
    let empty = HashMap::new();
    let info = match item.get("Info") {
        None => return None,
        Some(i) => i.as_m().unwrap_or(&empty),
    };
    let f = |k: &str| info.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let expires = number(item, EXPIRES_ATTRIBUTE);
    Some(LockRecord {
        lock_id,
        info: LockInfo {
            id: f("id"),
            who: f("who"),
            operation: f("operation"),
            created: f("created"),
            kprov_version: f("kprov_version"),
        },
        expires,
        generation: number(item, GENERATION_ATTRIBUTE),
    })
}

#[async_trait::async_trait]
impl LockStore for DynamoLockStore {
    async fn try_acquire(&self, info: &LockInfo, now: u64, expires: u64) -> Result<Attempt, LockError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, self.key())
            .update_expression("SET #info = :info, #expires = :expires, #gen = if_not_exists(#gen, :zero) + :one")
            .condition_expression("attribute_not_exists(#key) OR attribute_not_exists(#info) OR #expires < :now")
            .expression_attribute_names("#key", KEY_ATTRIBUTE)
            .expression_attribute_names("#info", "Info")
            .expression_attribute_names("#expires", EXPIRES_ATTRIBUTE)
            .expression_attribute_names("#gen", GENERATION_ATTRIBUTE)
            .expression_attribute_values(":info", info_value(info))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => {
                // The update computed previous + 1 (0 + 1 without an item); the same from the
                // old item here.
                let generation = out.attributes().map(|old| number(old, GENERATION_ATTRIBUTE)).unwrap_or(0) + 1;
                Ok(match out.attributes().and_then(record) {
                    Some(previous) => Attempt::TookOver(generation, previous),
                    None => Attempt::Acquired(generation),
                })
            }
            Err(e) => {
                let e = from_sdk("UpdateItem", e);
                if is_condition_failed(&e) {
                    Ok(Attempt::Held(self.read().await?))
                } else {
                    Err(self.error("UpdateItem", e))
                }
            }
        }
    }

    async fn renew(&self, token: &Token, expires: u64) -> Result<bool, LockError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, self.key())
            .update_expression("SET #expires = :expires")
            .condition_expression("#info.#id = :id AND #gen = :gen")
            .expression_attribute_names("#expires", EXPIRES_ATTRIBUTE)
            .expression_attribute_names("#info", "Info")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#gen", GENERATION_ATTRIBUTE)
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .expression_attribute_values(":id", AttributeValue::S(token.id.clone()))
            .expression_attribute_values(":gen", AttributeValue::N(token.generation.to_string()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = from_sdk("UpdateItem", e);
                if is_condition_failed(&e) {
                    Ok(false)
                } else {
                    Err(self.error("UpdateItem", e))
                }
            }
        }
    }

    async fn release(&self, id: &str) -> Result<bool, LockError> {
        // The item stays, with its generation, so the next acquisition's is higher.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, self.key())
            .update_expression("REMOVE #info, #expires")
            .condition_expression(ID_MATCHES)
            .expression_attribute_names("#info", "Info")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#expires", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":id", AttributeValue::S(id.to_string()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = from_sdk("UpdateItem", e);
                if is_condition_failed(&e) {
                    Ok(false)
                } else {
                    Err(self.error("UpdateItem", e))
                }
            }
        }
    }

    async fn read(&self) -> Result<Option<LockRecord>, LockError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, self.key())
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", from_sdk("GetItem", e)))?;
        Ok(out.item().and_then(record))
    }

    fn describe(&self) -> String {
        format!("DynamoDB table {}, LockID {}", self.table, self.lock_id)
    }
}
