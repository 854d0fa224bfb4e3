//! `kms_alias`: a friendly name (`alias/…`) pointing at a key.
//!
//! Aliases cannot carry tags. Read: ListAliases (every alias of the region, paginated — one
//! call for any number of ids). Create: CreateAlias; when the name exists already and points
//! at the key asked for, it is taken as is (a re-run after an interrupted create); pointing
//! elsewhere, the conflict is reported. Update: UpdateAlias re-points it in place.
//! `find_owned` finds nothing: without tags an alias cannot say whose it is (creates are
//! made safe by the name check above instead); an interrupted create is resolved by name and
//! target key (`find_intent`).

use serde_json::json;

use super::Client;
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::{self, put_str};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const PREFIX: &str = "alias/";
/// Reserved for AWS-managed keys.
const AWS_PREFIX: &str = "alias/aws/";

pub struct Alias {
    client: Client,
    schema: Schema,
}

impl Alias {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // CreateAlias AliasName (KMS API Reference): `alias/` + 1–250 of letters, digits,
            // /_-; `alias/aws/` is reserved for AWS managed keys.
            AttrSchema::required("name", AttrType::String)
                .force_new()
                .constraint(Constraint::Prefix(PREFIX))
                .constraint(Constraint::NotPrefix(AWS_PREFIX))
                .constraint(Constraint::Name {
                    min: PREFIX.len() + 1,
                    max: 256,
                    chars: |c| c.is_ascii_alphanumeric() || "/_-".contains(c),
                    chars_doc: "letters, digits and /_-",
                })
                .doc("`alias/<name>`."),
            AttrSchema::required("target_key_id", AttrType::String)
                .normalize(key_id_of)
                .doc("Id or ARN of the key the alias points at."),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        Alias { client, schema }
    }

    async fn all(&self) -> Result<Vec<Observed>, ResourceError> {
        let aliases: Vec<_> =
            self.client.list_aliases().into_paginator().items().send().try_collect().await.or_aws("ListAliases")?;
        Ok(aliases
            .iter()
            .filter_map(|a| {
                let name = a.alias_name()?;
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "name", Some(name));
                put_str(&mut attrs, "arn", a.alias_arn());
                // AWS-managed aliases of unused services have no target.
                put_str(&mut attrs, "target_key_id", a.target_key_id());
                Some(Observed { id: name.to_string(), attrs, owner_address: None })
            })
            .collect())
    }

    async fn read_back(&self, name: &str) -> Result<Observed, ResourceError> {
        let found = self.all().await?.into_iter().find(|o| o.id == name);
        shared::required(found, "ListAliases", "alias just written")
    }
}

/// A key ARN (`arn:aws:kms:…:key/<id>`) → its id; anything else as is.
fn key_id_of(v: &Value) -> Value {
    match v.as_str().and_then(|s| s.strip_prefix("arn:")).and_then(|s| s.split_once(":key/")) {
        Some((_, id)) => json!(id),
        None => v.clone(),
    }
}

fn target(spec: &Spec) -> Result<String, ResourceError> {
    Ok(key_id_of(&json!(spec.req_str("target_key_id")?)).as_str().unwrap_or_default().to_string())
}

#[async_trait::async_trait]
impl ResourceKind for Alias {
    fn kind(&self) -> &'static str {
        "kms_alias"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        match declared.get("target_key_id").and_then(Value::as_str) {
            Some(k) if k.starts_with(PREFIX) => {
                Err("`target_key_id` must be a key id or key ARN, not another alias".into())
            }
            _ => Ok(()),
        }
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(self.all().await?.into_iter().filter(|o| ids.contains(&o.id)).collect())
    }

    async fn create(&self, _cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let name = spec.req_str("name")?;
        let key = target(spec)?;
        let r = self.client.create_alias().alias_name(name).target_key_id(&key).send().await.or_aws("CreateAlias");
        match r {
            Ok(_) => {}
            Err(e) if shared::is_already_exists(&e) => {
                let existing = self.read_back(name).await?;
                if existing.attrs.get("target_key_id").and_then(Value::as_str) != Some(key.as_str()) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        self.read_back(name).await
    }

    async fn update(&self, _cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.client
            .update_alias()
            .alias_name(&prior.id)
            .target_key_id(target(spec)?)
            .send()
            .await
            .or_aws("UpdateAlias")?;
        self.read_back(&prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        not_found_as_none(self.client.delete_alias().alias_name(&prior.id).send().await.or_aws("DeleteAlias"))?;
        Ok(())
    }

    async fn find_owned(&self, _cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        Ok(Vec::new())
    }

    /// An alias killed after CreateAlias is found by its name — unique in an account and
    /// region (KMS API Reference, CreateAlias) — and is this create's result when it points at
    /// the key the intent names. Forgotten, it would outlive its key's 30-day pending deletion
    /// and make every later create of the name fail with `AlreadyExistsException`.
    async fn find_intent(&self, _cx: &Cx, intent: &Spec) -> Result<Option<Observed>, ResourceError> {
        let (Some(name), Ok(key)) = (intent.str("name"), target(intent)) else { return Ok(None) };
        Ok(self
            .all()
            .await?
            .into_iter()
            .find(|o| o.id == name && o.attrs.get("target_key_id").and_then(Value::as_str) == Some(key.as_str())))
    }
}
