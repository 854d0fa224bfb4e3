//! ELBv2: load balancer, target group, listeners (HTTP → HTTPS redirect, HTTPS forward) and a
//! listener rule, on a VPC made with the SDK.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerStateEnum;
use serde_json::{json, Value};

use super::{assert_invalid, s, unique, Env};

const REGION: &str = "me-south-1";
const MISSING_LB: &str =
    "arn:aws:elasticloadbalancing:me-south-1:123456789012:loadbalancer/app/missing/0123456789abcdef";
const MISSING_TG: &str = "arn:aws:elasticloadbalancing:me-south-1:123456789012:targetgroup/missing/0123456789abcdef";

struct Net {
    vpc: String,
    subnets: Vec<String>,
    groups: Vec<String>,
}

async fn network(env: &Env) -> Net {
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk);
    let vpc = ec2.create_vpc().cidr_block("10.60.0.0/16").send().await.expect("CreateVpc");
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc").to_string();
    let mut subnets = Vec::new();
    for (i, az) in ["a", "b", "c"].iter().enumerate() {
        let out = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.60.{i}.0/24"))
            .availability_zone(format!("{REGION}{az}"))
            .send()
            .await
            .expect("CreateSubnet");
        subnets.push(out.subnet().and_then(|s| s.subnet_id()).expect("subnet").to_string());
    }
    let mut groups = Vec::new();
    for name in ["alb-a", "alb-b"] {
        let out = ec2.create_security_group().group_name(name).description(name).vpc_id(&vpc).send().await;
        groups.push(out.expect("CreateSecurityGroup").group_id().expect("sg").to_string());
    }
    Net { vpc, subnets, groups }
}

/// `arn` with its last id segment replaced: a well-formed ARN that does not exist.
fn missing(arn: &str) -> String {
    let (head, _) = arn.rsplit_once('/').expect("arn with an id");
    format!("{head}/0000000000000000")
}

fn elb_tags(
    d: &aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsOutput,
) -> HashMap<String, String> {
    d.tag_descriptions()[0].tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()
}

#[tokio::test]
async fn elbv2_lifecycle() {
    let env = Env::new(REGION, "elbv2").await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk);
    let acm = aws_sdk_acm::Client::new(&env.sdk);
    let net = network(&env).await;
    let cert = acm.request_certificate().domain_name("app.example.com").send().await.expect("RequestCertificate");
    let cert = cert.certificate_arn().expect("certificate arn").to_string();
    let lb_name = unique("pa-alb");

    // --- load balancer
    let lb_attrs = |subnets: &[&String], sg: &String, protected: bool, tags: Value| json!({"name": lb_name, "subnets": subnets, "security_groups": [sg], "deletion_protection": protected, "tags": tags});
    let spec = env.spec(
        "elbv2_load_balancer",
        "web",
        lb_attrs(&[&net.subnets[0], &net.subnets[1]], &net.groups[0], true, json!({"A": "1"})),
    );
    let lb = env.create(&spec).await;
    assert!(s(&lb, "dns_name").contains(&lb_name), "{lb:?}");
    assert!(!s(&lb, "zone_id").is_empty());
    assert_eq!(s(&lb, "vpc_id"), net.vpc);
    let aws = elb.describe_load_balancers().load_balancer_arns(&lb.id).send().await.expect("describe");
    let aws_lb = &aws.load_balancers()[0];
    assert_eq!(aws_lb.state().and_then(|s| s.code()), Some(&LoadBalancerStateEnum::Active));
    assert_eq!(aws_lb.security_groups(), [net.groups[0].clone()]);
    let lb_a = elb.describe_load_balancer_attributes().load_balancer_arn(&lb.id).send().await.expect("attributes");
    assert!(lb_a
        .attributes()
        .iter()
        .any(|a| a.key() == Some("deletion_protection.enabled") && a.value() == Some("true")));
    let tags = elb.describe_tags().resource_arns(&lb.id).send().await.expect("tags");
    assert_eq!(elb_tags(&tags), env.expected_tags("elbv2_load_balancer.web", &[("A", "1")]));
    let lb = env.assert_reads("elbv2_load_balancer", &lb, MISSING_LB).await;
    env.assert_converged(&spec, &lb);
    // Re-running the create adopts the load balancer instead of making a second one.
    assert_eq!(env.create(&spec).await.id, lb.id);
    let same_name = env.spec("elbv2_load_balancer", "other", spec.attrs.clone().into_iter().collect());
    assert_invalid(env.try_create(&same_name).await, "exists already");

    let all3: Vec<&String> = net.subnets.iter().collect();
    let spec2 = env.spec("elbv2_load_balancer", "web", lb_attrs(&all3, &net.groups[1], true, json!({"B": "2"})));
    let lb2 = env.update(&lb, &spec2).await;
    env.assert_converged(&spec2, &lb2);
    let aws = elb.describe_load_balancers().load_balancer_arns(&lb.id).send().await.expect("describe");
    let subnets: BTreeSet<&str> =
        aws.load_balancers()[0].availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
    assert_eq!(subnets, net.subnets.iter().map(String::as_str).collect());
    assert_eq!(aws.load_balancers()[0].security_groups(), [net.groups[1].clone()]);

    // --- target group
    let tg_name = unique("pa-tg");
    let tg_attrs = |path: &str, delay: i64, tags: Value| {
        json!({"name": tg_name, "port": 8080, "protocol": "HTTP", "vpc_id": net.vpc, "target_type": "ip",
               "health_check_path": path, "matcher": "200-399", "deregistration_delay": delay, "tags": tags})
    };
    let tg_spec = env.spec("elbv2_target_group", "app", tg_attrs("/healthz", 30, json!({"A": "1"})));
    let tg = env.create(&tg_spec).await;
    let aws = elb.describe_target_groups().target_group_arns(&tg.id).send().await.expect("describe");
    assert_eq!(aws.target_groups()[0].health_check_path(), Some("/healthz"));
    assert_eq!(aws.target_groups()[0].port(), Some(8080));
    let tg = env.assert_reads("elbv2_target_group", &tg, MISSING_TG).await;
    env.assert_converged(&tg_spec, &tg);
    let tg_spec2 = env.spec("elbv2_target_group", "app", tg_attrs("/ready", 10, json!({"B": "2"})));
    let tg2 = env.update(&tg, &tg_spec2).await;
    env.assert_converged(&tg_spec2, &tg2);
    let aws = elb.describe_target_groups().target_group_arns(&tg.id).send().await.expect("describe");
    assert_eq!(aws.target_groups()[0].health_check_path(), Some("/ready"));
    let ta = elb.describe_target_group_attributes().target_group_arn(&tg.id).send().await.expect("attributes");
    let delay = ta.attributes().iter().find(|a| a.key() == Some("deregistration_delay.timeout_seconds"));
    assert_eq!(delay.and_then(|a| a.value()), Some("10"));

    // --- listeners: HTTP → HTTPS redirect, HTTPS forwarding to the group
    let redirect = json!({"type": "redirect", "protocol": "HTTPS", "port": 443, "status_code": "HTTP_301"});
    let http_spec = env.spec(
        "elbv2_listener",
        "http",
        json!({"load_balancer_arn": lb.id, "port": 80, "protocol": "HTTP", "default_action": redirect}),
    );
    let http = env.create(&http_spec).await;
    env.assert_converged(&http_spec, &http);
    let aws = elb.describe_listeners().listener_arns(&http.id).send().await.expect("describe");
    let rc = aws.listeners()[0].default_actions()[0].redirect_config().expect("redirect").clone();
    assert_eq!((rc.protocol(), rc.port()), (Some("HTTPS"), Some("443")));
    let forward = json!({"type": "forward", "target_group_arn": tg.id});
    let https_spec = env.spec(
        "elbv2_listener",
        "https",
        json!({"load_balancer_arn": lb.id, "port": 443, "protocol": "HTTPS", "certificate_arn": cert,
               "default_action": forward, "tags": {"A": "1"}}),
    );
    let https = env.create(&https_spec).await;
    let aws = elb.describe_listeners().listener_arns(&https.id).send().await.expect("describe");
    assert_eq!(aws.listeners()[0].certificates()[0].certificate_arn(), Some(cert.as_str()));
    assert_eq!(aws.listeners()[0].default_actions()[0].target_group_arn(), Some(tg.id.as_str()));
    let https = env.assert_reads("elbv2_listener", &https, &missing(&http.id)).await;
    // Another listener on a taken port is refused before any create.
    let clash = env.spec(
        "elbv2_listener",
        "clash",
        json!({"load_balancer_arn": lb.id, "port": 80, "protocol": "HTTP", "default_action": forward}),
    );
    assert_invalid(env.try_create(&clash).await, "port 80");
    // In place: the HTTP listener answers with a fixed response instead.
    let fixed =
        json!({"type": "fixed-response", "status_code": 404, "content_type": "text/plain", "message_body": "no"});
    let http_spec2 = env.spec(
        "elbv2_listener",
        "http",
        json!({"load_balancer_arn": lb.id, "port": 80, "protocol": "HTTP", "default_action": fixed}),
    );
    let http2 = env.update(&http, &http_spec2).await;
    assert_eq!(http2.id, http.id);
    env.assert_converged(&http_spec2, &http2);
    let aws = elb.describe_listeners().listener_arns(&http.id).send().await.expect("describe");
    let fr = aws.listeners()[0].default_actions()[0].fixed_response_config().expect("fixed response").clone();
    assert_eq!(fr.status_code(), Some("404"));

    // --- listener rule
    let rule_spec = env.spec(
        "elbv2_listener_rule",
        "api",
        json!({"listener_arn": https.id, "priority": 10,
               "conditions": [{"field": "path-pattern", "values": ["/api/*", "/v1/*"]}], "action": forward}),
    );
    let rule = env.create(&rule_spec).await;
    assert_eq!(s(&rule, "listener_arn"), https.id);
    env.assert_converged(&rule_spec, &rule);
    let rule = env.assert_reads("elbv2_listener_rule", &rule, &missing(&rule.id)).await;
    let rule_spec2 = env.spec(
        "elbv2_listener_rule",
        "api",
        json!({"listener_arn": https.id, "priority": 20,
               "conditions": [{"field": "host-header", "values": ["api.example.com"]}], "action": fixed,
               "tags": {"B": "2"}}),
    );
    let rule2 = env.update(&rule, &rule_spec2).await;
    assert_eq!(rule2.id, rule.id);
    env.assert_converged(&rule_spec2, &rule2);
    let aws = elb.describe_rules().rule_arns(&rule.id).send().await.expect("describe");
    let r = &aws.rules()[0];
    assert_eq!(r.priority(), Some("20"));
    assert!(r.actions()[0].fixed_response_config().is_some());

    // --- find_owned
    env.assert_owned("elbv2_load_balancer", &[&lb.id]).await;
    env.assert_owned("elbv2_target_group", &[&tg.id]).await;
    env.assert_owned("elbv2_listener", &[&http.id, &https.id]).await;
    env.assert_owned("elbv2_listener_rule", &[&rule.id]).await;

    // --- delete: a protected load balancer is refused (moto would delete it)
    let err = env.kind("elbv2_load_balancer").delete(&env.cx, &lb2).await.expect_err("deletion protection");
    assert!(err.to_string().contains("deletion protection"), "{err}");
    assert!(elb.describe_load_balancers().load_balancer_arns(&lb.id).send().await.is_ok(), "still there");
    let lb3 = env
        .update(&lb2, &env.spec("elbv2_load_balancer", "web", lb_attrs(&all3, &net.groups[1], false, json!({}))))
        .await;
    env.assert_deletes("elbv2_listener_rule", &rule2).await;
    env.assert_deletes("elbv2_listener", &https).await;
    env.assert_deletes("elbv2_listener", &http2).await;
    env.assert_deletes("elbv2_target_group", &tg2).await;
    env.assert_deletes("elbv2_load_balancer", &lb3).await;
    assert!(elb.describe_load_balancers().load_balancer_arns(&lb.id).send().await.is_err());
    assert!(elb.describe_target_groups().target_group_arns(&tg.id).send().await.is_err());
}

#[tokio::test]
async fn elbv2_invalid_input_is_refused_before_any_call() {
    let env = Env::new(REGION, "elbv2-invalid").await;
    let lb = "arn:aws:elasticloadbalancing:me-south-1:123456789012:loadbalancer/app/x/0123456789abcdef";
    let forward = json!({"type": "forward", "target_group_arn": MISSING_TG});
    let cases = [
        // moto creates an ALB in a single subnet; AWS needs two AZs.
        ("elbv2_load_balancer", json!({"name": "one-subnet", "subnets": ["subnet-1"]}), "at least two subnets"),
        (
            "elbv2_load_balancer",
            json!({"name": "two-same", "subnets": ["subnet-1", "subnet-1"]}),
            "at least two subnets",
        ),
        ("elbv2_load_balancer", json!({"name": "-bad-", "subnets": ["subnet-1", "subnet-2"]}), "name"),
        // moto creates an HTTPS listener without a certificate.
        (
            "elbv2_listener",
            json!({"load_balancer_arn": lb, "port": 443, "protocol": "HTTPS", "default_action": forward}),
            "certificate_arn",
        ),
        (
            "elbv2_listener",
            json!({"load_balancer_arn": lb, "port": 80, "protocol": "HTTP", "default_action": {"type": "redirect", "protocol": "HTTPS"}}),
            "status_code",
        ),
        (
            "elbv2_listener_rule",
            json!({"listener_arn": lb, "priority": 0, "conditions": [{"field": "path-pattern", "values": ["/"]}], "action": forward}),
            "priority",
        ),
        (
            "elbv2_listener_rule",
            json!({"listener_arn": lb, "priority": 5, "conditions": [{"field": "cookie", "values": ["x"]}], "action": forward}),
            "condition field",
        ),
        ("elbv2_target_group", json!({"name": "tg", "port": 80, "protocol": "HTTP2", "vpc_id": "vpc-1"}), "protocol"),
    ];
    for (kind, attrs, needle) in cases {
        assert_invalid(env.try_create(&env.spec(kind, "bad", attrs)).await, needle);
    }
}
