//! `iam_oidc_provider`: an OpenID Connect identity provider (EKS IRSA, GitHub Actions).
//!
//! The id is the provider's ARN (IAM derives it from the URL). Create:
//! CreateOpenIDConnectProvider tagged at creation; when the URL is already registered, the
//! existing provider is adopted only if its `kprov:address` tag names this resource.
//! Read: GetOpenIDConnectProvider (URL, client ids, thumbprints, tags in one call). IAM keeps
//! the URL without its scheme; kprov reports it with `https://` as the plan writes it.
//! Update: client ids (Add/RemoveClientIDToOpenIDConnectProvider), thumbprints
//! (UpdateOpenIDConnectProviderThumbprint) and tags in place; the URL forces a new provider.

use std::collections::BTreeSet;

use super::{split, to_tags, Client};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::aws::shared::tags::{self, TagApi};
use crate::aws::shared::{self, put_str, Found, ReadOne};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const SCHEME: &str = "https://";

pub struct OidcProvider {
    client: Client,
    schema: Schema,
}

impl OidcProvider {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            // CreateOpenIDConnectProvider (IAM API Reference): an https URL, 1–100 client ids,
            // thumbprints of 40 hex digits.
            AttrSchema::required("url", AttrType::String)
                .force_new()
                .constraint(Constraint::Prefix(SCHEME))
                .constraint(Constraint::Name {
                    min: SCHEME.len() + 1,
                    max: 255,
                    chars: |c| !c.is_whitespace(),
                    chars_doc: "non-space characters",
                })
                .doc("Issuer URL, starting with https://."),
            AttrSchema::required("client_id_list", AttrType::StringList)
                .normalize(shared::string_set)
                .constraint(Constraint::check_fn("at least one client id", |v| match v.as_array() {
                    Some(a) if a.is_empty() => Err("needs at least one client id".into()),
                    _ => Ok(()),
                }))
                .doc("Audiences, e.g. sts.amazonaws.com."),
            shared::set_attr("thumbprint_list")
                .normalize(thumbprints)
                .constraint(Constraint::each(Constraint::Name {
                    min: 40,
                    max: 40,
                    chars: |c| c.is_ascii_hexdigit(),
                    chars_doc: "hexadecimal digits",
                }))
                .doc("SHA-1 thumbprints (40 hex digits) of the issuer's certificate chain."),
            shared::tags_attr(),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        OidcProvider { client, schema }
    }
}

/// Thumbprints compare case-insensitively and as a set.
fn thumbprints(v: &Value) -> Value {
    match v.as_array() {
        Some(a) => shared::set_value(a.iter().filter_map(Value::as_str).map(str::to_lowercase)),
        None => v.clone(),
    }
}

fn set_of(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl TagApi for OidcProvider {
    async fn tag(&self, id: &str, tags: Vec<(String, String)>) -> Result<(), ResourceError> {
        self.client
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(id)
            .set_tags(Some(to_tags(tags)?))
            .send()
            .await
            .or_aws("TagOpenIDConnectProvider")?;
        Ok(())
    }
    async fn untag(&self, id: &str, keys: Vec<String>) -> Result<(), ResourceError> {
        self.client
            .untag_open_id_connect_provider()
            .open_id_connect_provider_arn(id)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .or_aws("UntagOpenIDConnectProvider")?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ReadOne for OidcProvider {
    async fn read_one(&self, arn: &str) -> Result<Option<Found>, ResourceError> {
        let out = not_found_as_none(
            self.client
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .or_aws("GetOpenIDConnectProvider"),
        )?;
        let Some(p) = out else { return Ok(None) };
        let mut attrs = Attrs::new();
        let url = p.url().map(|u| format!("{SCHEME}{}", u.trim_start_matches(SCHEME)));
        put_str(&mut attrs, "url", url.as_deref());
        put_str(&mut attrs, "arn", Some(arn));
        attrs.insert("client_id_list".into(), shared::set_value(p.client_id_list().iter().cloned()));
        attrs.insert("thumbprint_list".into(), thumbprints(&serde_json::json!(p.thumbprint_list())));
        Ok(Some(split(p.tags()).found(arn, attrs)))
    }
}

impl OidcProvider {
    async fn arns(&self) -> Result<Vec<String>, ResourceError> {
        let out = self.client.list_open_id_connect_providers().send().await.or_aws("ListOpenIDConnectProviders")?;
        Ok(out.open_id_connect_provider_list().iter().filter_map(|p| p.arn().map(str::to_string)).collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for OidcProvider {
    fn kind(&self) -> &'static str {
        "iam_oidc_provider"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        shared::read_observed(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let url = spec.req_str("url")?;
        let r = self
            .client
            .create_open_id_connect_provider()
            .url(url)
            .set_client_id_list(Some(shared::str_list(spec, "client_id_list")))
            .set_thumbprint_list(Some(shared::str_list(spec, "thumbprint_list")))
            .set_tags(Some(to_tags(tags::creation_tags(cx, spec, &[])?)?))
            .send()
            .await
            .or_aws("CreateOpenIDConnectProvider");
        let arn = match r {
            Ok(out) => {
                shared::required(out.open_id_connect_provider_arn(), "CreateOpenIDConnectProvider", "provider ARN")?
                    .to_string()
            }
            Err(e) if shared::is_already_exists(&e) => {
                // The ARN is derived from the URL: find the provider registered for it.
                let all = shared::read_each(self, &self.arns().await?).await?;
                let existing = all.into_iter().find(|f| f.obs.attrs.get("url").and_then(Value::as_str) == Some(url));
                shared::adopt_or(existing, cx, spec, e)?.obs.id
            }
            Err(e) => return Err(e),
        };
        let created = shared::read_back(self, cx, &arn).await?;
        self.update(cx, &created, spec).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        let arn = &prior.id;
        let current = set_of(prior.attrs.get("client_id_list"));
        let desired: BTreeSet<String> = shared::str_list(spec, "client_id_list").into_iter().collect();
        // Add before removing: the list may never be empty.
        for id in desired.difference(&current) {
            self.client
                .add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .or_aws("AddClientIDToOpenIDConnectProvider")?;
        }
        for id in current.difference(&desired) {
            self.client
                .remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .or_aws("RemoveClientIDFromOpenIDConnectProvider")?;
        }
        let want = thumbprints(&serde_json::json!(shared::str_list(spec, "thumbprint_list")));
        if prior.attrs.get("thumbprint_list") != Some(&want) {
            self.client
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(arn)
                .set_thumbprint_list(Some(shared::str_list(spec, "thumbprint_list")))
                .send()
                .await
                .or_aws("UpdateOpenIDConnectProviderThumbprint")?;
        }
        tags::reconcile(self, arn, prior, spec, &[]).await?;
        shared::read_back(self, cx, arn).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        not_found_as_none(
            self.client
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(&prior.id)
                .send()
                .await
                .or_aws("DeleteOpenIDConnectProvider"),
        )?;
        Ok(())
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        // Few providers per account, and one Get returns the tags: read them all.
        shared::owned_among(self, &self.arns().await?, &cx.owner).await
    }
}
