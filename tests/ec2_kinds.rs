//! The EC2 kinds against moto: for each kind create → read_many (a missing id is absent, not an
//! error) → an in-place update → find_owned → delete → read_many empty → delete again is Ok.
//! Results are checked through an independent SDK client (`support::ec2`), not only through
//! kprov's own reads. Each test works in its own region (moto keeps regions apart).
//!
//! kprov's SDK configuration is built by `kprov::aws::sdk_config(region, None)` with the
//! endpoint and credentials taken from the environment (`AWS_ENDPOINT_URL`, …), which also
//! checks that the standard environment chain is honoured.

// The shared harness spawns moto detached on purpose (a watchdog shell reaps it).
#[allow(clippy::zombie_processes)]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Once};

use aws_sdk_ec2::types::{Filter, Tag};
use kprov::aws;
use kprov::resource::{Address, Attrs, Cx, Observed, Owner, Registry, ResourceError, ResourceKind, Spec};
use serde_json::{json, Value};

const STACK: &str = "kprov-test";

struct Env {
    reg: Registry,
    ec2: aws_sdk_ec2::Client,
    cx: Cx,
    region: &'static str,
}

/// Export moto's endpoint and dummy credentials once, before any test builds a config.
fn init_env() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        for (k, v) in support::aws_env() {
            std::env::set_var(k, v);
        }
    });
}

impl Env {
    async fn new(region: &'static str) -> Env {
        init_env();
        let sdk = aws::sdk_config(region, None).await;
        assert_eq!(sdk.endpoint_url(), Some(support::moto_endpoint()), "AWS_ENDPOINT_URL not honoured");
        Env {
            reg: aws::registry(&sdk),
            ec2: support::ec2(region).await,
            cx: Cx::new(Owner { stack: STACK.into(), env: region.into() }),
            region,
        }
    }

    fn kind(&self, kind: &str) -> &Arc<dyn ResourceKind> {
        self.reg.get(kind).unwrap_or_else(|| panic!("kind {kind} not registered"))
    }

    /// A spec as the plan layer would hand it over: schema defaults applied.
    fn spec(&self, kind: &str, name: &str, attrs: Value) -> Spec {
        let mut a: Attrs = attrs.as_object().cloned().unwrap_or_default().into_iter().collect();
        for s in &self.kind(kind).schema().attrs {
            if let Some(d) = &s.default {
                a.entry(s.name.to_string()).or_insert_with(|| d.clone());
            }
        }
        Spec { address: Address::new(kind, name, None), attrs: a, client_token: uuid::Uuid::new_v4().to_string() }
    }

    async fn create(&self, spec: &Spec) -> Observed {
        let kind = spec.address.kind.as_str();
        let o = self.kind(kind).create(&self.cx, spec).await.unwrap_or_else(|e| panic!("create {kind}: {e}"));
        if self.kind(kind).schema().get("tags").is_some() {
            assert_eq!(o.owner_address.as_deref(), Some(spec.address.to_string().as_str()), "{o:?}");
        }
        o
    }

    async fn update(&self, prior: &Observed, spec: &Spec) -> Observed {
        let kind = spec.address.kind.as_str();
        self.kind(kind).update(&self.cx, prior, spec).await.unwrap_or_else(|e| panic!("update {kind}: {e}"))
    }

    async fn read(&self, kind: &str, ids: &[&str]) -> Vec<Observed> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        self.kind(kind).read_many(&self.cx, &ids).await.unwrap_or_else(|e| panic!("read_many {kind}: {e}"))
    }

    /// read_many returns exactly `o` (fresh) and skips `missing`.
    async fn assert_reads(&self, kind: &str, o: &Observed, missing: &str) -> Observed {
        let got = self.read(kind, &[o.id.as_str(), missing]).await;
        assert_eq!(got.len(), 1, "{kind}: {got:?}");
        assert_eq!(got[0].id, o.id);
        got[0].clone()
    }

    async fn find_owned_ids(&self, kind: &str) -> Vec<String> {
        let found = self.kind(kind).find_owned(&self.cx).await.unwrap_or_else(|e| panic!("find_owned {kind}: {e}"));
        found.into_iter().map(|o| o.id).collect()
    }

    /// delete → read_many empty → delete again is Ok.
    async fn assert_deletes(&self, kind: &str, o: &Observed) {
        let k = self.kind(kind);
        k.delete(&self.cx, o).await.unwrap_or_else(|e| panic!("delete {kind}: {e}"));
        assert!(self.read(kind, &[o.id.as_str()]).await.is_empty(), "{kind} {} still readable", o.id);
        k.delete(&self.cx, o).await.unwrap_or_else(|e| panic!("second delete {kind}: {e}"));
    }

    async fn vpc(&self, name: &str, cidr: &str) -> Observed {
        self.create(&self.spec("ec2_vpc", name, json!({"cidr_block": cidr}))).await
    }

    async fn subnet(&self, name: &str, vpc: &Observed, cidr: &str) -> Observed {
        let az = format!("{}a", self.region);
        self.create(&self.spec(
            "ec2_subnet",
            name,
            json!({"vpc_id": vpc.id, "cidr_block": cidr, "availability_zone": az}),
        ))
        .await
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag_map(tags: &[Tag]) -> HashMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()
}

/// The ownership tags plus `user` are exactly the tags AWS has.
fn assert_tags(aws: &[Tag], env: &Env, address: &str, user: &[(&str, &str)]) {
    let mut want: HashMap<String, String> = user.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    want.insert("kprov:stack".into(), STACK.into());
    want.insert("kprov:env".into(), env.region.into());
    want.insert("kprov:address".into(), address.into());
    assert_eq!(tag_map(aws), want);
}

fn attr<'a>(o: &'a Observed, name: &str) -> &'a Value {
    o.attrs.get(name).unwrap_or_else(|| panic!("no attribute {name} in {o:?}"))
}

fn s<'a>(o: &'a Observed, name: &str) -> &'a str {
    attr(o, name).as_str().unwrap_or_else(|| panic!("{name} is not a string in {o:?}"))
}

#[tokio::test]
async fn vpc_lifecycle() {
    let env = Env::new("us-west-1").await;
    let spec = env.spec(
        "ec2_vpc",
        "main",
        json!({"cidr_block": "10.10.0.0/16", "enable_dns_hostnames": true, "tags": {"Name": "main"}}),
    );
    let vpc = env.create(&spec).await;
    assert_eq!(attr(&vpc, "tags"), &json!({"Name": "main"}), "ownership tags must be stripped");
    assert_eq!(attr(&vpc, "enable_dns_hostnames"), &json!(true));
    assert_eq!(attr(&vpc, "enable_dns_support"), &json!(true));
    assert!(s(&vpc, "main_route_table_id").starts_with("rtb-"));
    assert!(s(&vpc, "default_security_group_id").starts_with("sg-"));
    assert!(s(&vpc, "arn").ends_with(&format!(":vpc/{}", vpc.id)));

    // Independent check: tagged at creation, attribute set.
    let aws_vpc = env.ec2.describe_vpcs().vpc_ids(&vpc.id).send().await.expect("describe");
    assert_tags(aws_vpc.vpcs()[0].tags(), &env, "ec2_vpc.main", &[("Name", "main")]);
    let hostnames = env
        .ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc.id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("attribute");
    assert_eq!(hostnames.enable_dns_hostnames().and_then(|v| v.value()), Some(true));

    let vpc = env.assert_reads("ec2_vpc", &vpc, "vpc-0123456789abcdef0").await;

    // In place: DNS hostnames off, one tag changed, one added.
    let spec2 = env.spec(
        "ec2_vpc",
        "main",
        json!({"cidr_block": "10.10.0.0/16", "enable_dns_hostnames": false, "tags": {"Name": "renamed", "Team": "net"}}),
    );
    let vpc2 = env.update(&vpc, &spec2).await;
    assert_eq!(vpc2.id, vpc.id);
    assert_eq!(attr(&vpc2, "enable_dns_hostnames"), &json!(false));
    assert_eq!(attr(&vpc2, "tags"), &json!({"Name": "renamed", "Team": "net"}));
    // A removed tag is deleted; the ownership tags survive.
    let spec3 = env.spec("ec2_vpc", "main", json!({"cidr_block": "10.10.0.0/16", "tags": {"Team": "net"}}));
    let vpc3 = env.update(&vpc2, &spec3).await;
    let aws_vpc = env.ec2.describe_vpcs().vpc_ids(&vpc.id).send().await.expect("describe");
    assert_tags(aws_vpc.vpcs()[0].tags(), &env, "ec2_vpc.main", &[("Team", "net")]);

    assert_eq!(env.find_owned_ids("ec2_vpc").await, vec![vpc.id.clone()]);
    // Another env's owner does not see it.
    let other = Cx::new(Owner { stack: STACK.into(), env: "elsewhere".into() });
    assert!(env.kind("ec2_vpc").find_owned(&other).await.expect("find_owned").is_empty());

    env.assert_deletes("ec2_vpc", &vpc3).await;
    let gone = env.ec2.describe_vpcs().filters(filter("vpc-id", &vpc.id)).send().await.expect("describe");
    assert!(gone.vpcs().is_empty());
}

#[tokio::test]
async fn subnet_lifecycle() {
    let env = Env::new("us-west-2").await;
    let vpc = env.vpc("main", "10.20.0.0/16").await;
    let spec = env.spec(
        "ec2_subnet",
        "a",
        json!({"vpc_id": vpc.id, "cidr_block": "10.20.1.0/24", "availability_zone": "us-west-2a", "tags": {"Tier": "private"}}),
    );
    let subnet = env.create(&spec).await;
    assert_eq!(attr(&subnet, "map_public_ip_on_launch"), &json!(false));
    assert_eq!(s(&subnet, "availability_zone"), "us-west-2a");
    assert!(s(&subnet, "arn").contains(&subnet.id));
    let aws_subnet = env.ec2.describe_subnets().subnet_ids(&subnet.id).send().await.expect("describe");
    assert_tags(aws_subnet.subnets()[0].tags(), &env, "ec2_subnet.a", &[("Tier", "private")]);

    let subnet = env.assert_reads("ec2_subnet", &subnet, "subnet-0123456789abcdef0").await;

    let spec2 = env.spec(
        "ec2_subnet",
        "a",
        json!({"vpc_id": vpc.id, "cidr_block": "10.20.1.0/24", "availability_zone": "us-west-2a",
               "map_public_ip_on_launch": true, "tags": {"Tier": "public"}}),
    );
    let subnet2 = env.update(&subnet, &spec2).await;
    assert_eq!(attr(&subnet2, "map_public_ip_on_launch"), &json!(true));
    let aws_subnet = env.ec2.describe_subnets().subnet_ids(&subnet.id).send().await.expect("describe");
    assert_eq!(aws_subnet.subnets()[0].map_public_ip_on_launch(), Some(true));
    assert_tags(aws_subnet.subnets()[0].tags(), &env, "ec2_subnet.a", &[("Tier", "public")]);

    assert_eq!(env.find_owned_ids("ec2_subnet").await, vec![subnet.id.clone()]);
    env.assert_deletes("ec2_subnet", &subnet2).await;
    env.assert_deletes("ec2_vpc", &vpc).await;
}

#[tokio::test]
async fn internet_gateway_lifecycle() {
    let env = Env::new("eu-west-1").await;
    let vpc_a = env.vpc("a", "10.30.0.0/16").await;
    let vpc_b = env.vpc("b", "10.31.0.0/16").await;
    let igw = env.create(&env.spec("ec2_internet_gateway", "main", json!({"vpc_id": vpc_a.id}))).await;
    assert_eq!(s(&igw, "vpc_id"), vpc_a.id);
    let attached_to = |out: &aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput| {
        out.internet_gateways()[0]
            .attachments()
            .iter()
            .filter_map(|a| a.vpc_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let aws_igw = env.ec2.describe_internet_gateways().internet_gateway_ids(&igw.id).send().await.expect("describe");
    assert_eq!(attached_to(&aws_igw), vec![vpc_a.id.clone()]);
    assert_tags(aws_igw.internet_gateways()[0].tags(), &env, "ec2_internet_gateway.main", &[]);

    let igw = env.assert_reads("ec2_internet_gateway", &igw, "igw-0123456789abcdef0").await;

    // Moving the attachment is in place.
    let spec2 = env.spec("ec2_internet_gateway", "main", json!({"vpc_id": vpc_b.id, "tags": {"Name": "gw"}}));
    let igw2 = env.update(&igw, &spec2).await;
    assert_eq!(igw2.id, igw.id);
    assert_eq!(s(&igw2, "vpc_id"), vpc_b.id);
    let aws_igw = env.ec2.describe_internet_gateways().internet_gateway_ids(&igw.id).send().await.expect("describe");
    assert_eq!(attached_to(&aws_igw), vec![vpc_b.id.clone()]);

    assert_eq!(env.find_owned_ids("ec2_internet_gateway").await, vec![igw.id.clone()]);
    // Delete detaches first (moto, like AWS, refuses to delete an attached gateway's VPC).
    env.assert_deletes("ec2_internet_gateway", &igw2).await;
    env.assert_deletes("ec2_vpc", &vpc_b).await;
    env.assert_deletes("ec2_vpc", &vpc_a).await;
}

#[tokio::test]
async fn elastic_ip_lifecycle() {
    let env = Env::new("eu-west-2").await;
    let eip = env.create(&env.spec("ec2_elastic_ip", "nat", json!({"tags": {"Name": "nat"}}))).await;
    assert!(eip.id.starts_with("eipalloc-"));
    assert_eq!(s(&eip, "domain"), "vpc");
    let public_ip = s(&eip, "public_ip").to_string();
    let aws_eip = env.ec2.describe_addresses().allocation_ids(&eip.id).send().await.expect("describe");
    assert_eq!(aws_eip.addresses()[0].public_ip(), Some(public_ip.as_str()));
    assert_tags(aws_eip.addresses()[0].tags(), &env, "ec2_elastic_ip.nat", &[("Name", "nat")]);

    let eip = env.assert_reads("ec2_elastic_ip", &eip, "eipalloc-0123456789abcdef0").await;
    let eip2 = env.update(&eip, &env.spec("ec2_elastic_ip", "nat", json!({"tags": {}}))).await;
    assert_eq!(attr(&eip2, "tags"), &json!({}));
    let aws_eip = env.ec2.describe_addresses().allocation_ids(&eip.id).send().await.expect("describe");
    assert_tags(aws_eip.addresses()[0].tags(), &env, "ec2_elastic_ip.nat", &[]);

    assert_eq!(env.find_owned_ids("ec2_elastic_ip").await, vec![eip.id.clone()]);
    env.assert_deletes("ec2_elastic_ip", &eip2).await;
}

#[tokio::test]
async fn nat_gateway_lifecycle() {
    let env = Env::new("eu-west-3").await;
    let vpc = env.vpc("main", "10.40.0.0/16").await;
    let subnet = env.subnet("public", &vpc, "10.40.0.0/24").await;
    let eip = env.create(&env.spec("ec2_elastic_ip", "nat", json!({}))).await;

    // Validation happens before any API call (the engine's check before a create).
    let no_eip = env.spec("ec2_nat_gateway", "bad", json!({"subnet_id": subnet.id}));
    let err = kprov::resource::check_resolved(env.kind("ec2_nat_gateway").as_ref(), None, &no_eip.attrs, None)
        .expect_err("public NAT without EIP");
    assert!(matches!(err, ResourceError::Invalid { .. }), "{err:?}");

    let spec = env.spec(
        "ec2_nat_gateway",
        "main",
        json!({"subnet_id": subnet.id, "allocation_id": eip.id, "tags": {"Name": "nat"}}),
    );
    let nat = env.create(&spec).await;
    assert!(nat.id.starts_with("nat-"));
    assert_eq!(s(&nat, "connectivity_type"), "public");
    assert_eq!(s(&nat, "allocation_id"), eip.id);
    assert_eq!(s(&nat, "public_ip"), s(&eip, "public_ip"));
    assert!(!s(&nat, "private_ip").is_empty());
    let aws_nat = env.ec2.describe_nat_gateways().nat_gateway_ids(&nat.id).send().await.expect("describe");
    assert_eq!(aws_nat.nat_gateways()[0].state().map(|s| s.as_str()), Some("available"));
    assert_tags(aws_nat.nat_gateways()[0].tags(), &env, "ec2_nat_gateway.main", &[("Name", "nat")]);

    let nat = env.assert_reads("ec2_nat_gateway", &nat, "nat-0123456789abcdef0").await;
    let spec2 = env.spec(
        "ec2_nat_gateway",
        "main",
        json!({"subnet_id": subnet.id, "allocation_id": eip.id, "tags": {"Name": "nat", "Cost": "shared"}}),
    );
    let nat2 = env.update(&nat, &spec2).await;
    assert_eq!(attr(&nat2, "tags"), &json!({"Name": "nat", "Cost": "shared"}));

    assert_eq!(env.find_owned_ids("ec2_nat_gateway").await, vec![nat.id.clone()]);
    // A deleted NAT gateway stays visible to Describe in state `deleted`: kprov reads it as absent.
    env.assert_deletes("ec2_nat_gateway", &nat2).await;
    let aws_nat = env.ec2.describe_nat_gateways().nat_gateway_ids(&nat.id).send().await.expect("describe");
    assert_eq!(aws_nat.nat_gateways()[0].state().map(|s| s.as_str()), Some("deleted"));
    assert!(env.find_owned_ids("ec2_nat_gateway").await.is_empty());

    env.assert_deletes("ec2_elastic_ip", &eip).await;
    env.assert_deletes("ec2_subnet", &subnet).await;
}

#[tokio::test]
async fn route_table_lifecycle() {
    let env = Env::new("eu-central-1").await;
    let vpc = env.vpc("main", "10.50.0.0/16").await;
    let rtb = env
        .create(&env.spec("ec2_route_table", "private", json!({"vpc_id": vpc.id, "tags": {"Tier": "private"}})))
        .await;
    assert_eq!(s(&rtb, "vpc_id"), vpc.id);
    let aws_rtb = env.ec2.describe_route_tables().route_table_ids(&rtb.id).send().await.expect("describe");
    assert_tags(aws_rtb.route_tables()[0].tags(), &env, "ec2_route_table.private", &[("Tier", "private")]);

    let rtb = env.assert_reads("ec2_route_table", &rtb, "rtb-0123456789abcdef0").await;
    let rtb2 = env
        .update(&rtb, &env.spec("ec2_route_table", "private", json!({"vpc_id": vpc.id, "tags": {"Tier": "app"}})))
        .await;
    assert_eq!(attr(&rtb2, "tags"), &json!({"Tier": "app"}));
    let aws_rtb = env.ec2.describe_route_tables().route_table_ids(&rtb.id).send().await.expect("describe");
    assert_tags(aws_rtb.route_tables()[0].tags(), &env, "ec2_route_table.private", &[("Tier", "app")]);

    // The VPC's main route table is not ours.
    assert_eq!(env.find_owned_ids("ec2_route_table").await, vec![rtb.id.clone()]);
    env.assert_deletes("ec2_route_table", &rtb2).await;
    env.assert_deletes("ec2_vpc", &vpc).await;
}

#[tokio::test]
async fn route_lifecycle() {
    let env = Env::new("ap-southeast-1").await;
    let vpc = env.vpc("main", "10.60.0.0/16").await;
    let subnet = env.subnet("public", &vpc, "10.60.0.0/24").await;
    let igw = env.create(&env.spec("ec2_internet_gateway", "main", json!({"vpc_id": vpc.id}))).await;
    let eip = env.create(&env.spec("ec2_elastic_ip", "nat", json!({}))).await;
    let nat = env
        .create(&env.spec("ec2_nat_gateway", "main", json!({"subnet_id": subnet.id, "allocation_id": eip.id})))
        .await;
    let rtb = env.create(&env.spec("ec2_route_table", "rt", json!({"vpc_id": vpc.id}))).await;

    let both = env.spec(
        "ec2_route",
        "default",
        json!({"route_table_id": rtb.id, "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw.id, "nat_gateway_id": nat.id}),
    );
    let err = env.kind("ec2_route").create(&env.cx, &both).await.expect_err("two targets");
    assert!(matches!(err, ResourceError::Invalid { .. }), "{err:?}");

    let spec = env.spec(
        "ec2_route",
        "default",
        json!({"route_table_id": rtb.id, "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw.id}),
    );
    let route = env.create(&spec).await;
    assert_eq!(route.id, format!("{}_0.0.0.0/0", rtb.id));
    assert_eq!(s(&route, "gateway_id"), igw.id);
    // Creating it again (a re-run after a crash) is success: RouteAlreadyExists, same target.
    let again = env.kind("ec2_route").create(&env.cx, &spec).await.expect("idempotent create");
    assert_eq!(again.id, route.id);
    let route = env.assert_reads("ec2_route", &route, &format!("{}_10.99.0.0/16", rtb.id)).await;
    assert!(env.read("ec2_route", &["rtb-0123456789abcdef0_0.0.0.0/0", "not-a-route-id"]).await.is_empty());

    // Switching the target is in place (ReplaceRoute).
    let spec2 = env.spec(
        "ec2_route",
        "default",
        json!({"route_table_id": rtb.id, "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}),
    );
    let route2 = env.update(&route, &spec2).await;
    assert_eq!(route2.id, route.id);
    assert_eq!(s(&route2, "nat_gateway_id"), nat.id);
    let aws_rtb = env.ec2.describe_route_tables().route_table_ids(&rtb.id).send().await.expect("describe");
    let aws_route = aws_rtb.route_tables()[0]
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .expect("route in AWS");
    assert_eq!(aws_route.nat_gateway_id(), Some(nat.id.as_str()));
    assert_eq!(aws_route.gateway_id(), None);

    // Same destination, another target: not ours to take over.
    let err = env.kind("ec2_route").create(&env.cx, &spec).await.expect_err("conflicting route");
    assert_eq!(err.code(), Some("RouteAlreadyExists"));

    // Routes cannot be tagged: adoption goes through the deterministic id.
    assert!(env.find_owned_ids("ec2_route").await.is_empty());
    env.assert_deletes("ec2_route", &route2).await;
    let aws_rtb = env.ec2.describe_route_tables().route_table_ids(&rtb.id).send().await.expect("describe");
    assert!(aws_rtb.route_tables()[0].routes().iter().all(|r| r.destination_cidr_block() != Some("0.0.0.0/0")));

    env.assert_deletes("ec2_route_table", &rtb).await;
    env.assert_deletes("ec2_nat_gateway", &nat).await;
    env.assert_deletes("ec2_elastic_ip", &eip).await;
    env.assert_deletes("ec2_internet_gateway", &igw).await;
    env.assert_deletes("ec2_subnet", &subnet).await;
    env.assert_deletes("ec2_vpc", &vpc).await;
}

#[tokio::test]
async fn route_table_association_lifecycle() {
    let env = Env::new("ap-southeast-2").await;
    let vpc = env.vpc("main", "10.70.0.0/16").await;
    let subnet = env.subnet("a", &vpc, "10.70.1.0/24").await;
    let rtb1 = env.create(&env.spec("ec2_route_table", "one", json!({"vpc_id": vpc.id}))).await;
    let rtb2 = env.create(&env.spec("ec2_route_table", "two", json!({"vpc_id": vpc.id}))).await;

    let spec = env.spec("ec2_route_table_association", "a", json!({"subnet_id": subnet.id, "route_table_id": rtb1.id}));
    let assoc = env.create(&spec).await;
    assert!(assoc.id.starts_with("rtbassoc-"));
    assert_eq!(s(&assoc, "route_table_id"), rtb1.id);
    assert_eq!(s(&assoc, "subnet_id"), subnet.id);
    let subnet_table = |env: &Env| {
        let subnet_id = subnet.id.clone();
        let ec2 = env.ec2.clone();
        async move {
            let out = ec2
                .describe_route_tables()
                .filters(filter("association.subnet-id", &subnet_id))
                .send()
                .await
                .expect("describe");
            out.route_tables().iter().filter_map(|t| t.route_table_id().map(str::to_string)).collect::<Vec<_>>()
        }
    };
    assert_eq!(subnet_table(&env).await, vec![rtb1.id.clone()]);

    let assoc = env.assert_reads("ec2_route_table_association", &assoc, "rtbassoc-0123456789abcdef0").await;

    // Moving the subnet to another table is in place; AWS gives the association a new id.
    let spec2 =
        env.spec("ec2_route_table_association", "a", json!({"subnet_id": subnet.id, "route_table_id": rtb2.id}));
    let assoc2 = env.update(&assoc, &spec2).await;
    assert_eq!(s(&assoc2, "route_table_id"), rtb2.id);
    assert_eq!(subnet_table(&env).await, vec![rtb2.id.clone()]);

    // Found through the ownership tags of its route table.
    assert_eq!(env.find_owned_ids("ec2_route_table_association").await, vec![assoc2.id.clone()]);

    env.assert_deletes("ec2_route_table_association", &assoc2).await;
    assert!(subnet_table(&env).await.is_empty());
    env.assert_deletes("ec2_route_table", &rtb2).await;
    env.assert_deletes("ec2_route_table", &rtb1).await;
    env.assert_deletes("ec2_subnet", &subnet).await;
    env.assert_deletes("ec2_vpc", &vpc).await;
}

#[tokio::test]
async fn security_group_lifecycle() {
    let env = Env::new("ap-northeast-1").await;
    let vpc = env.vpc("main", "10.80.0.0/16").await;
    let spec = env.spec("ec2_security_group", "web", json!({"name": "web", "vpc_id": vpc.id, "tags": {"Role": "web"}}));
    let sg = env.create(&spec).await;
    assert_eq!(s(&sg, "name"), "web");
    assert_eq!(s(&sg, "description"), "Managed by kprov");
    assert!(s(&sg, "arn").contains(&sg.id));

    // Tagged at creation, and the default allow-all egress rule is gone.
    let aws_sg = env.ec2.describe_security_groups().group_ids(&sg.id).send().await.expect("describe");
    let group = &aws_sg.security_groups()[0];
    assert_tags(group.tags(), &env, "ec2_security_group.web", &[("Role", "web")]);
    assert!(
        group.ip_permissions_egress().is_empty(),
        "default egress not revoked: {:?}",
        group.ip_permissions_egress()
    );

    // A re-run of the create (InvalidGroup.Duplicate) adopts our own group…
    let again = env.kind("ec2_security_group").create(&env.cx, &spec).await.expect("adopt own group");
    assert_eq!(again.id, sg.id);
    // …but never somebody else's group of the same name.
    let other = env.spec("ec2_security_group", "other", json!({"name": "web", "vpc_id": vpc.id}));
    let err = env.kind("ec2_security_group").create(&env.cx, &other).await.expect_err("foreign duplicate");
    assert_eq!(err.code(), Some("InvalidGroup.Duplicate"));

    let sg = env.assert_reads("ec2_security_group", &sg, "sg-0123456789abcdef0").await;
    let spec2 =
        env.spec("ec2_security_group", "web", json!({"name": "web", "vpc_id": vpc.id, "tags": {"Role": "frontend"}}));
    let sg2 = env.update(&sg, &spec2).await;
    assert_eq!(attr(&sg2, "tags"), &json!({"Role": "frontend"}));

    // The VPC's default group is not ours.
    assert_eq!(env.find_owned_ids("ec2_security_group").await, vec![sg.id.clone()]);
    env.assert_deletes("ec2_security_group", &sg2).await;
    env.assert_deletes("ec2_vpc", &vpc).await;
}

#[tokio::test]
async fn security_group_rule_lifecycle() {
    let env = Env::new("ca-central-1").await;
    let vpc = env.vpc("main", "10.90.0.0/16").await;
    let web = env.create(&env.spec("ec2_security_group", "web", json!({"name": "web", "vpc_id": vpc.id}))).await;
    let db = env.create(&env.spec("ec2_security_group", "db", json!({"name": "db", "vpc_id": vpc.id}))).await;

    let https = env.spec(
        "ec2_security_group_rule",
        "https",
        json!({"security_group_id": web.id, "type": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443,
               "cidr_ipv4": "0.0.0.0/0", "description": "public https", "tags": {"Name": "https"}}),
    );
    let rule = env.create(&https).await;
    assert!(rule.id.starts_with("sgr-"), "{}", rule.id);
    assert_eq!(s(&rule, "type"), "ingress");
    assert_eq!(attr(&rule, "from_port"), &json!(443));
    assert_eq!(s(&rule, "description"), "public https");

    let to_db = env.spec(
        "ec2_security_group_rule",
        "to_db",
        json!({"security_group_id": web.id, "type": "egress", "protocol": "-1", "source_security_group_id": db.id,
               "description": "web to db"}),
    );
    let egress = env.create(&to_db).await;
    assert_eq!(s(&egress, "type"), "egress");
    assert_eq!(s(&egress, "source_security_group_id"), db.id);
    // The description reads back as planned (moto needs it set explicitly for group references).
    assert_eq!(s(&egress, "description"), "web to db");

    // Independent check: both rules exist, tagged at creation.
    let aws_rules = |ids: Vec<String>| {
        let ec2 = env.ec2.clone();
        async move {
            ec2.describe_security_group_rules().set_security_group_rule_ids(Some(ids)).send().await.expect("describe")
        }
    };
    let out = aws_rules(vec![rule.id.clone()]).await;
    let r = &out.security_group_rules()[0];
    assert_eq!((r.ip_protocol(), r.from_port(), r.cidr_ipv4()), (Some("tcp"), Some(443), Some("0.0.0.0/0")));
    assert_tags(r.tags(), &env, "ec2_security_group_rule.https", &[("Name", "https")]);
    let out = aws_rules(vec![egress.id.clone()]).await;
    assert_eq!(out.security_group_rules()[0].is_egress(), Some(true));
    assert_eq!(out.security_group_rules()[0].description(), Some("web to db"));

    let rule = env.assert_reads("ec2_security_group_rule", &rule, "sgr-0123456789abcdef0").await;

    // A re-run of the create (InvalidPermission.Duplicate) adopts the existing rule.
    let again = env.kind("ec2_security_group_rule").create(&env.cx, &https).await.expect("adopt");
    assert_eq!(again.id, rule.id);

    // Description and tags change in place.
    let https2 = env.spec(
        "ec2_security_group_rule",
        "https",
        json!({"security_group_id": web.id, "type": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443,
               "cidr_ipv4": "0.0.0.0/0", "description": "https from anywhere", "tags": {"Name": "https", "Env": "x"}}),
    );
    let rule2 = env.update(&rule, &https2).await;
    assert_eq!(rule2.id, rule.id);
    assert_eq!(s(&rule2, "description"), "https from anywhere");
    let out = aws_rules(vec![rule.id.clone()]).await;
    assert_eq!(out.security_group_rules()[0].description(), Some("https from anywhere"));
    assert_tags(
        out.security_group_rules()[0].tags(),
        &env,
        "ec2_security_group_rule.https",
        &[("Name", "https"), ("Env", "x")],
    );

    let mut owned = env.find_owned_ids("ec2_security_group_rule").await;
    owned.sort();
    let mut want = vec![rule.id.clone(), egress.id.clone()];
    want.sort();
    assert_eq!(owned, want);

    env.assert_deletes("ec2_security_group_rule", &rule2).await;
    env.assert_deletes("ec2_security_group_rule", &egress).await;
    let groups = env.ec2.describe_security_groups().group_ids(&web.id).send().await.expect("describe");
    let g = &groups.security_groups()[0];
    assert!(g.ip_permissions().is_empty() && g.ip_permissions_egress().is_empty());

    env.assert_deletes("ec2_security_group", &db).await;
    env.assert_deletes("ec2_security_group", &web).await;
    env.assert_deletes("ec2_vpc", &vpc).await;
}

/// Errors from moto are classified with their AWS code and request id.
#[tokio::test]
async fn errors_carry_code_and_request_id() {
    let env = Env::new("sa-east-1").await;
    let sdk = aws::sdk_config(env.region, None).await;
    let client = aws_sdk_ec2::Client::new(&sdk);
    let err = client.describe_vpcs().vpc_ids("vpc-0123456789abcdef0").send().await.expect_err("missing VPC");
    match aws::error::from_sdk("DescribeVpcs", err) {
        ResourceError::Aws { code, request_id, retryable, .. } => {
            assert_eq!(code, "InvalidVpcID.NotFound");
            assert!(aws::error::is_not_found(&code));
            assert!(request_id.is_some(), "no request id");
            assert!(!retryable);
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// An action moto does not implement answers with an HTML 500 page and no AWS error code: it is
/// reported as `HTTP 500` (retryable), not as an unparseable mystery.
#[tokio::test]
async fn answers_without_error_code_report_the_http_status() {
    let env = Env::new("eu-north-1").await;
    let sdk = aws::sdk_config(env.region, None).await;
    // One attempt: the SDK would otherwise retry the 500s with backoff.
    let conf = aws_sdk_ec2::config::Builder::from(&sdk)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let client = aws_sdk_ec2::Client::from_conf(conf);
    let err = client.describe_id_format().send().await.expect_err("not implemented by moto");
    match aws::error::from_sdk("DescribeIdFormat", err) {
        ResourceError::Aws { code, retryable, .. } => {
            assert!(code.starts_with("HTTP 5"), "{code}");
            assert!(retryable);
        }
        other => panic!("unexpected {other:?}"),
    }
}
