//! IAM role, instance profile and OIDC provider (IAM is global: unique names, own owner env).

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::{assert_invalid, attr, s, unique, Env};

const REGION: &str = "us-east-2";
const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const EKS_CLUSTER: &str = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy";

fn trust(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    })
}

fn s3_read() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]})
}

fn iam_tags(tags: &[aws_sdk_iam::types::Tag]) -> HashMap<String, String> {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// A document as IAM returns it (URL-encoded JSON text), parsed.
fn decoded(text: &str) -> Value {
    let decoded = kprov::aws::shared::document::percent_decode(text).expect("url-encoded");
    serde_json::from_str(&decoded).or_else(|_| serde_json::from_str(text)).expect("json document")
}

async fn role_state(iam: &aws_sdk_iam::Client, name: &str) -> (Value, BTreeSet<String>, BTreeSet<String>) {
    let role = iam.get_role().role_name(name).send().await.expect("GetRole");
    let trust = decoded(role.role().and_then(|r| r.assume_role_policy_document()).expect("trust"));
    let inline = iam.list_role_policies().role_name(name).send().await.expect("ListRolePolicies");
    let attached = iam.list_attached_role_policies().role_name(name).send().await.expect("ListAttachedRolePolicies");
    (
        trust,
        inline.policy_names().iter().cloned().collect(),
        attached.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect(),
    )
}

#[tokio::test]
async fn iam_role_lifecycle() {
    let env = Env::new(REGION, "iam-role").await;
    let iam = aws_sdk_iam::Client::new(&env.sdk);
    let name = unique("pa-role");
    let spec = env.spec(
        "iam_role",
        "app",
        json!({
            "name": name,
            "assume_role_policy": trust("ec2.amazonaws.com"),
            "inline_policies": {"s3read": s3_read()},
            "managed_policy_arns": [READ_ONLY],
            "description": "first",
            "tags": {"Team": "platform"},
        }),
    );
    let role = env.create(&spec).await;
    assert_eq!(role.id, name);
    assert!(s(&role, "arn").ends_with(&format!(":role/{name}")), "{role:?}");
    assert_eq!(attr(&role, "tags"), &json!({"Team": "platform"}));

    // Independent check: tagged at creation, policies in place.
    let got = iam.get_role().role_name(&name).send().await.expect("GetRole");
    assert_eq!(iam_tags(got.role().expect("role").tags()), env.expected_tags("iam_role.app", &[("Team", "platform")]));
    let (trust_doc, inline, attached) = role_state(&iam, &name).await;
    assert_eq!(trust_doc, trust("ec2.amazonaws.com"));
    assert_eq!(inline, BTreeSet::from(["s3read".to_string()]));
    assert_eq!(attached, BTreeSet::from([READ_ONLY.to_string()]));

    let role = env.assert_reads("iam_role", &role, "pa-role-missing").await;
    env.assert_converged(&spec, &role);
    // The same documents spelled differently (JSON text, other key order, a single statement,
    // a one-element action list) are no change.
    let respelled = env.spec(
        "iam_role",
        "app",
        json!({
            "name": name,
            "assume_role_policy": r#"{"Statement": {"Action": ["sts:AssumeRole"], "Effect": "Allow",
                                      "Principal": {"Service": ["ec2.amazonaws.com"]}}, "Version": "2012-10-17"}"#,
            "inline_policies": {"s3read": {"Statement": [{"Resource": ["*"], "Action": ["s3:ListBucket", "s3:GetObject"],
                                                          "Effect": "Allow"}], "Version": "2012-10-17"}},
            "managed_policy_arns": [READ_ONLY, READ_ONLY],
            "description": "first",
            "tags": {"Team": "platform"},
        }),
    );
    env.assert_converged(&respelled, &role);

    // In place: trust, inline policies, attachments, session duration, description, tags.
    let spec2 = env.spec(
        "iam_role",
        "app",
        json!({
            "name": name,
            "assume_role_policy": trust("eks.amazonaws.com"),
            "inline_policies": {"logs": {"Version": "2012-10-17",
                                         "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}},
            "managed_policy_arns": [EKS_CLUSTER],
            "max_session_duration": 7200,
            "description": "second",
            "tags": {"Owner": "me"},
        }),
    );
    let role2 = env.update(&role, &spec2).await;
    assert_eq!(role2.id, role.id);
    assert_eq!(attr(&role2, "unique_id"), attr(&role, "unique_id"), "updated in place, not replaced");
    env.assert_converged(&spec2, &role2);
    let (trust_doc, inline, attached) = role_state(&iam, &name).await;
    assert_eq!(trust_doc, trust("eks.amazonaws.com"));
    assert_eq!(inline, BTreeSet::from(["logs".to_string()]));
    assert_eq!(attached, BTreeSet::from([EKS_CLUSTER.to_string()]));
    let got = iam.get_role().role_name(&name).send().await.expect("GetRole");
    let r = got.role().expect("role");
    assert_eq!(r.max_session_duration(), Some(7200));
    assert_eq!(r.description(), Some("second"));
    assert_eq!(iam_tags(r.tags()), env.expected_tags("iam_role.app", &[("Owner", "me")]));

    env.assert_owned("iam_role", &[&name]).await;

    // A role still in an instance profile, with policies, is deleted all the same.
    let profile = unique("pa-ip");
    iam.create_instance_profile().instance_profile_name(&profile).send().await.expect("CreateInstanceProfile");
    iam.add_role_to_instance_profile().instance_profile_name(&profile).role_name(&name).send().await.expect("add");
    env.assert_deletes("iam_role", &role2).await;
    let err = iam.get_role().role_name(&name).send().await.expect_err("role deleted");
    assert_eq!(aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&err), Some("NoSuchEntity"));
    let p = iam.get_instance_profile().instance_profile_name(&profile).send().await.expect("profile");
    assert!(p.instance_profile().expect("profile").roles().is_empty());
    iam.delete_instance_profile().instance_profile_name(&profile).send().await.expect("cleanup");
}

#[tokio::test]
async fn iam_role_adopts_its_own_role_after_an_interrupted_create() {
    let env = Env::new(REGION, "iam-adopt").await;
    let iam = aws_sdk_iam::Client::new(&env.sdk);
    let name = unique("pa-adopt");
    let spec = env.spec(
        "iam_role",
        "adopt",
        json!({"name": name, "assume_role_policy": trust("ec2.amazonaws.com"), "managed_policy_arns": [READ_ONLY]}),
    );
    let first = env.create(&spec).await;
    // A re-run of the same create (the state never recorded the first) adopts, not fails.
    let again = env.create(&spec).await;
    assert_eq!(again, first);
    // Somebody else's resource under that name is not adopted.
    let other = env.spec("iam_role", "other", json!({"name": name, "assume_role_policy": trust("ec2.amazonaws.com")}));
    let err = env.try_create(&other).await.expect_err("name taken by another resource");
    assert_eq!(err.code(), Some("EntityAlreadyExists"));
    env.assert_deletes("iam_role", &first).await;
    assert!(iam.get_role().role_name(&name).send().await.is_err());
}

#[tokio::test]
async fn iam_role_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "iam-invalid").await;
    let iam = aws_sdk_iam::Client::new(&env.sdk);
    let name = unique("pa-bad");
    let cases = [
        (json!({"name": name, "assume_role_policy": "{\"Statement\": ["}), "not valid JSON"),
        (
            json!({"name": name, "assume_role_policy": {"Version": "2012-10-17",
                                                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}}),
            "Principal",
        ),
        (json!({"name": name, "assume_role_policy": trust("ec2.amazonaws.com"), "max_session_duration": 10}), "3600"),
        (
            json!({"name": name, "assume_role_policy": trust("ec2.amazonaws.com"),
                   "inline_policies": {"p": {"Version": "2012-10-17",
                                             "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}}}),
            "Effect",
        ),
        (
            json!({"name": name, "assume_role_policy": trust("ec2.amazonaws.com"),
                   "inline_policies": {"p": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}}),
            "Version",
        ),
    ];
    for (attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec("iam_role", "bad", attrs)).await, needle);
    }
    assert!(iam.get_role().role_name(&name).send().await.is_err(), "nothing may have been created");
}

#[tokio::test]
async fn iam_instance_profile_lifecycle() {
    let env = Env::new(REGION, "iam-profile").await;
    let iam = aws_sdk_iam::Client::new(&env.sdk);
    let (role_a, role_b, name) = (unique("pa-ra"), unique("pa-rb"), unique("pa-profile"));
    for r in [&role_a, &role_b] {
        let doc = trust("ec2.amazonaws.com").to_string();
        iam.create_role().role_name(r).assume_role_policy_document(doc).send().await.expect("CreateRole");
    }
    let spec = env.spec("iam_instance_profile", "nodes", json!({"name": name, "role": role_a, "tags": {"A": "1"}}));
    let p = env.create(&spec).await;
    assert_eq!(s(&p, "role"), role_a);
    let got = iam.get_instance_profile().instance_profile_name(&name).send().await.expect("GetInstanceProfile");
    let ip = got.instance_profile().expect("profile");
    assert_eq!(ip.roles().iter().map(|r| r.role_name()).collect::<Vec<_>>(), [role_a.as_str()]);
    assert_eq!(iam_tags(ip.tags()), env.expected_tags("iam_instance_profile.nodes", &[("A", "1")]));

    let p = env.assert_reads("iam_instance_profile", &p, "pa-profile-missing").await;
    env.assert_converged(&spec, &p);

    // Swap the role and the tags in place.
    let spec2 = env.spec("iam_instance_profile", "nodes", json!({"name": name, "role": role_b, "tags": {"B": "2"}}));
    let p2 = env.update(&p, &spec2).await;
    assert_eq!(attr(&p2, "unique_id"), attr(&p, "unique_id"));
    env.assert_converged(&spec2, &p2);
    let got = iam.get_instance_profile().instance_profile_name(&name).send().await.expect("GetInstanceProfile");
    let ip = got.instance_profile().expect("profile");
    assert_eq!(ip.roles().iter().map(|r| r.role_name()).collect::<Vec<_>>(), [role_b.as_str()]);
    assert_eq!(iam_tags(ip.tags()), env.expected_tags("iam_instance_profile.nodes", &[("B", "2")]));

    env.assert_owned("iam_instance_profile", &[&name]).await;
    env.assert_deletes("iam_instance_profile", &p2).await;
    assert!(iam.get_instance_profile().instance_profile_name(&name).send().await.is_err());
    for r in [&role_a, &role_b] {
        iam.delete_role().role_name(r).send().await.expect("role free again, deletable");
    }
}

#[tokio::test]
async fn iam_oidc_provider_lifecycle() {
    let env = Env::new(REGION, "iam-oidc").await;
    let iam = aws_sdk_iam::Client::new(&env.sdk);
    let host = format!("{}.example.com", unique("pa-oidc"));
    let url = format!("https://{host}");
    let thumb_a = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
    let thumb_b = "1C58A3A8518E8759BF075B76B750D4F2DF264FCD";
    let spec = env.spec(
        "iam_oidc_provider",
        "github",
        json!({"url": url, "client_id_list": ["sts.amazonaws.com"], "thumbprint_list": [thumb_a], "tags": {"A": "1"}}),
    );
    let p = env.create(&spec).await;
    assert!(p.id.starts_with("arn:aws:iam::") && p.id.ends_with(&format!(":oidc-provider/{host}")), "{}", p.id);
    assert_eq!(s(&p, "url"), url);
    let got = iam.get_open_id_connect_provider().open_id_connect_provider_arn(&p.id).send().await.expect("get");
    assert_eq!(got.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(iam_tags(got.tags()), env.expected_tags("iam_oidc_provider.github", &[("A", "1")]));

    let p = env.assert_reads("iam_oidc_provider", &p, &p.id.replace(&host, "missing.example.com")).await;
    env.assert_converged(&spec, &p);

    // Thumbprints (compared case-insensitively) and tags in place. moto lacks
    // Add/RemoveClientIDToOpenIDConnectProvider, so the client ids stay as they are here.
    let spec2 = env.spec(
        "iam_oidc_provider",
        "github",
        json!({"url": url, "client_id_list": ["sts.amazonaws.com"], "thumbprint_list": [thumb_b], "tags": {"B": "2"}}),
    );
    let p2 = env.update(&p, &spec2).await;
    assert_eq!(p2.id, p.id);
    env.assert_converged(&spec2, &p2);
    let got = iam.get_open_id_connect_provider().open_id_connect_provider_arn(&p.id).send().await.expect("get");
    assert_eq!(got.thumbprint_list().iter().map(|t| t.to_lowercase()).collect::<Vec<_>>(), [thumb_b.to_lowercase()]);
    assert_eq!(iam_tags(got.tags()), env.expected_tags("iam_oidc_provider.github", &[("B", "2")]));

    env.assert_owned("iam_oidc_provider", &[&p.id]).await;
    env.assert_deletes("iam_oidc_provider", &p2).await;
    assert!(iam.get_open_id_connect_provider().open_id_connect_provider_arn(&p.id).send().await.is_err());

    assert_invalid(
        env.try_create(&env.spec(
            "iam_oidc_provider",
            "bad",
            json!({"url": format!("http://{host}"), "client_id_list": ["x"]}),
        ))
        .await,
        "https://",
    );
}
