//! Test support: a registry of dummy kinds whose schemas equal the real EC2 kinds, and
//! temporary plan directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::resource::{
    AttrSchema as A, AttrType as T, Cx, Observed, Registry, ResourceError, ResourceKind, Schema, Spec,
};

/// A kind with a schema and no cloud behind it, for tests of the layers that only read
/// schemas (config, plan).
pub(crate) struct Dummy {
    pub kind: &'static str,
    pub schema: Schema,
}

#[async_trait::async_trait]
impl ResourceKind for Dummy {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn read_many(&self, _: &Cx, _: &[String]) -> Result<Vec<Observed>, ResourceError> {
        Ok(Vec::new())
    }
    async fn create(&self, _: &Cx, _: &Spec) -> Result<Observed, ResourceError> {
        Err(ResourceError::Invalid { message: "dummy".into() })
    }
    async fn update(&self, _: &Cx, _: &Observed, _: &Spec) -> Result<Observed, ResourceError> {
        Err(ResourceError::Invalid { message: "dummy".into() })
    }
    async fn delete(&self, _: &Cx, _: &Observed) -> Result<(), ResourceError> {
        Ok(())
    }
    async fn find_owned(&self, _: &Cx) -> Result<Vec<Observed>, ResourceError> {
        Ok(Vec::new())
    }
}

fn tags() -> A {
    A::optional("tags", T::StringMap)
}

/// The EC2 network kinds, with the same names and attributes as `src/aws/ec2`.
pub(crate) fn registry() -> Registry {
    let kinds: Vec<(&'static str, Vec<A>)> = vec![
        (
            "ec2_vpc",
            vec![
                A::required("cidr_block", T::String).force_new(),
                A::optional("enable_dns_support", T::Bool).default(json!(true)),
                A::optional("enable_dns_hostnames", T::Bool).default(json!(false)),
                A::optional("instance_tenancy", T::String).force_new(),
                tags(),
                A::computed("main_route_table_id", T::String),
                A::computed("default_security_group_id", T::String),
            ],
        ),
        (
            "ec2_subnet",
            vec![
                A::required("vpc_id", T::String).force_new(),
                A::required("cidr_block", T::String).force_new(),
                A::required("availability_zone", T::String).force_new(),
                A::optional("map_public_ip_on_launch", T::Bool),
                tags(),
                A::computed("arn", T::String),
            ],
        ),
        ("ec2_internet_gateway", vec![A::optional("vpc_id", T::String), tags()]),
        (
            "ec2_elastic_ip",
            vec![A::optional("domain", T::String).default(json!("vpc")), tags(), A::computed("public_ip", T::String)],
        ),
        (
            "ec2_nat_gateway",
            vec![
                A::required("subnet_id", T::String).force_new(),
                A::optional("allocation_id", T::String).force_new(),
                A::optional("connectivity_type", T::String).default(json!("public")),
                tags(),
                A::computed("private_ip", T::String),
                A::computed("public_ip", T::String),
            ],
        ),
        ("ec2_route_table", vec![A::required("vpc_id", T::String).force_new(), tags()]),
        (
            "ec2_route",
            vec![
                A::required("route_table_id", T::String).force_new(),
                A::required("destination_cidr_block", T::String).force_new(),
                A::optional("gateway_id", T::String),
                A::optional("nat_gateway_id", T::String),
            ],
        ),
        (
            "ec2_route_table_association",
            vec![A::required("subnet_id", T::String).force_new(), A::required("route_table_id", T::String)],
        ),
        (
            "ec2_security_group",
            vec![
                A::required("name", T::String).force_new(),
                A::optional("description", T::String).default(json!("Managed by kprov")).force_new(),
                A::required("vpc_id", T::String).force_new(),
                tags(),
            ],
        ),
        (
            "ec2_security_group_rule",
            vec![
                A::required("security_group_id", T::String).force_new(),
                A::required("type", T::String).force_new(),
                A::required("protocol", T::String).force_new(),
                A::optional("from_port", T::Int).force_new(),
                A::optional("to_port", T::Int).force_new(),
                A::optional("cidr_ipv4", T::String).force_new(),
                A::optional("source_security_group_id", T::String).force_new(),
                A::optional("description", T::String),
                tags(),
            ],
        ),
    ];
    let mut r = Registry::new();
    for (kind, attrs) in kinds {
        r.register(Arc::new(Dummy { kind, schema: Schema::new(attrs) }));
    }
    r
}

/// A temporary plans directory: `files` are (relative path, contents).
pub(crate) struct Plans {
    dir: tempfile::TempDir,
}

impl Plans {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            let p = dir.path().join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(p, text).expect("write");
        }
        Plans { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the plans directory, as error messages print it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The repository's reference plans.
pub(crate) fn reference_plans() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plans")
}
