//! ECR repository.

use std::collections::HashMap;

use serde_json::json;

use super::{assert_invalid, attr, s, unique, Env};

const REGION: &str = "il-central-1";

async fn repo(ecr: &aws_sdk_ecr::Client, name: &str) -> Option<aws_sdk_ecr::types::Repository> {
    let out = ecr.describe_repositories().repository_names(name).send().await;
    out.ok().and_then(|o| o.repositories().first().cloned())
}

async fn repo_tags(ecr: &aws_sdk_ecr::Client, arn: &str) -> HashMap<String, String> {
    let out = ecr.list_tags_for_resource().resource_arn(arn).send().await.expect("ListTagsForResource");
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

#[tokio::test]
async fn ecr_repository_lifecycle() {
    let env = Env::new(REGION, "ecr-repo").await;
    let ecr = aws_sdk_ecr::Client::new(&env.sdk);
    let name = format!("{}/app", unique("pa"));
    let spec = env.spec("ecr_repository", "app", json!({"name": name, "tags": {"Team": "platform"}}));
    let r = env.create(&spec).await;
    assert_eq!(r.id, name);
    assert!(s(&r, "repository_url").ends_with(&format!("/{name}")), "{r:?}");

    // The defaults: immutable tags, scan on push, AES256.
    let aws = repo(&ecr, &name).await.expect("repository");
    assert_eq!(aws.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
    assert_eq!(aws.image_scanning_configuration().map(|c| c.scan_on_push()), Some(true));
    assert_eq!(aws.encryption_configuration().map(|e| e.encryption_type().as_str()), Some("AES256"));
    let mut want = env.expected_tags("ecr_repository.app", &[("Team", "platform")]);
    want.insert("kprov:force_delete".into(), "false".into());
    assert_eq!(repo_tags(&ecr, s(&r, "arn")).await, want);

    let r = env.assert_reads("ecr_repository", &r, "pa-missing/app").await;
    env.assert_converged(&spec, &r);

    // A repository holding an image is not deleted without force_delete…
    ecr.put_image()
        .repository_name(&name)
        .image_tag("v1")
        .image_manifest(r#"{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}"#)
        .send()
        .await
        .expect("PutImage");
    let err = env.kind("ecr_repository").delete(&env.cx, &r).await.expect_err("not empty");
    assert_eq!(err.code(), Some("RepositoryNotEmptyException"));

    // …in place: mutability, force_delete (kept as a tag), tags. (Scanning: see below.)
    let spec2 = env.spec(
        "ecr_repository",
        "app",
        json!({"name": name, "image_tag_mutability": "MUTABLE", "force_delete": true, "tags": {"Owner": "me"}}),
    );
    let r2 = env.update(&r, &spec2).await;
    env.assert_converged(&spec2, &r2);
    assert_eq!(attr(&r2, "force_delete"), &json!(true));
    let aws = repo(&ecr, &name).await.expect("repository");
    assert_eq!(aws.image_tag_mutability().map(|m| m.as_str()), Some("MUTABLE"));
    let mut want = env.expected_tags("ecr_repository.app", &[("Owner", "me")]);
    want.insert("kprov:force_delete".into(), "true".into());
    assert_eq!(repo_tags(&ecr, s(&r, "arn")).await, want);

    env.assert_owned("ecr_repository", &[&name]).await;
    // With force_delete read back from the repository, the delete takes the images along.
    env.assert_deletes("ecr_repository", &r2).await;
    assert!(repo(&ecr, &name).await.is_none());
}

/// Scan on push changes in place. Only off → on is checked: the SDK sends `false` as an empty
/// configuration (false is the default), which AWS reads as "off" but moto ignores.
#[tokio::test]
async fn ecr_repository_scan_on_push_in_place() {
    let env = Env::new(REGION, "ecr-scan").await;
    let ecr = aws_sdk_ecr::Client::new(&env.sdk);
    let name = unique("pa-scan");
    let spec = env.spec("ecr_repository", "scan", json!({"name": name, "scan_on_push": false, "force_delete": true}));
    let r = env.create(&spec).await;
    assert_eq!(attr(&r, "scan_on_push"), &json!(false));
    let spec2 = env.spec("ecr_repository", "scan", json!({"name": name, "scan_on_push": true, "force_delete": true}));
    let r2 = env.update(&r, &spec2).await;
    env.assert_converged(&spec2, &r2);
    let aws = repo(&ecr, &name).await.expect("repository");
    assert_eq!(aws.image_scanning_configuration().map(|c| c.scan_on_push()), Some(true));
    env.assert_deletes("ecr_repository", &r2).await;
}

#[tokio::test]
async fn ecr_repository_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "ecr-invalid").await;
    let ecr = aws_sdk_ecr::Client::new(&env.sdk);
    let name = unique("pa-bad");
    let cases = [
        (json!({"name": "Upper/Case"}), "only lowercase letters"),
        (json!({"name": name, "image_tag_mutability": "SOMETIMES"}), "image_tag_mutability"),
        (json!({"name": name, "kms_key": "arn:aws:kms:il-central-1:123456789012:key/x"}), "encryption_type"),
        (json!({"name": name, "tags": {"kprov:stack": "x"}}), "reserved"),
    ];
    for (attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec("ecr_repository", "bad", attrs)).await, needle);
    }
    assert!(repo(&ecr, &name).await.is_none(), "nothing may have been created");
}
