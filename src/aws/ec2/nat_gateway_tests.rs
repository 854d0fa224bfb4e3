//! NAT gateway states moto never shows (it reports `available` at once), with a mocked EC2
//! client (`aws-smithy-mocks`) under tokio's paused clock: a gateway adopted after a crash while
//! still `pending` is waited for before `resume_create` returns, without holding the engine
//! slot, and one that turns `failed` is an error carrying AWS's failure code.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
use aws_sdk_ec2::types::{NatGateway as NatGatewayItem, NatGatewayAddress, NatGatewayState, Tag};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::NatGateway;
use crate::resource::{Attrs, Cx, Observed, Owner, ResourceError, ResourceKind};

const ID: &str = "nat-0123456789abcdef0";

fn gateway(state: NatGatewayState) -> DescribeNatGatewaysOutput {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let nat = NatGatewayItem::builder()
        .nat_gateway_id(ID)
        .subnet_id("subnet-1")
        .state(state.clone())
        .set_failure_code((state == NatGatewayState::Failed).then(|| "InsufficientFreeAddressesInSubnet".into()))
        .set_failure_message((state == NatGatewayState::Failed).then(|| "Subnet has no free addresses".into()))
        .nat_gateway_addresses(
            NatGatewayAddress::builder()
                .allocation_id("eipalloc-1")
                .is_primary(true)
                .set_public_ip((state == NatGatewayState::Available).then(|| "198.51.100.7".into()))
                .build(),
        )
        .tags(tag("kprov:stack", "s"))
        .tags(tag("kprov:env", "e"))
        .tags(tag("kprov:address", "ec2_nat_gateway.main"))
        .build();
    DescribeNatGatewaysOutput::builder().nat_gateways(nat).build()
}

/// The interrupted create.
fn intent() -> crate::resource::Spec {
    crate::resource::Spec {
        address: "ec2_nat_gateway.main".parse().expect("address"),
        attrs: Attrs::new(),
        client_token: "token".into(),
    }
}

/// What refresh found: the gateway, still pending.
fn found() -> Observed {
    Observed { id: ID.into(), attrs: Attrs::new(), owner_address: Some("ec2_nat_gateway.main".into()) }
}

#[tokio::test(start_paused = true)]
async fn an_adopted_pending_gateway_is_waited_for_without_holding_a_slot() {
    let slots = Arc::new(Semaphore::new(1));
    let permit = slots.clone().acquire_owned().await.expect("permit");
    let cx = Cx::for_operation(
        Owner { stack: "s".into(), env: "e".into() },
        CancellationToken::new(),
        slots.clone(),
        permit,
        Arc::new(|_: &crate::resource::cx::Phase| {}),
    );
    let during_wait = slots.clone();
    let describe = mock!(Client::describe_nat_gateways)
        .sequence()
        .output(move || {
            // Polling runs as a wait: the slot is free for other operations meanwhile.
            assert_eq!(during_wait.available_permits(), 1);
            gateway(NatGatewayState::Pending)
        })
        .times(4)
        .output(|| gateway(NatGatewayState::Available))
        .repeatedly()
        .build();
    let kind = NatGateway::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &[&describe]));
    let start = tokio::time::Instant::now();
    let o = kind.resume_create(&cx, &intent(), &found()).await.expect("resumed");
    // Four `pending` answers, polled every 10 s; the result is the gateway once available.
    assert_eq!(start.elapsed(), Duration::from_secs(4 * 10));
    assert_eq!(o.id, ID);
    assert_eq!(o.attrs["public_ip"], "198.51.100.7");
    assert!(describe.num_calls() >= 5, "{}", describe.num_calls());
}

#[tokio::test(start_paused = true)]
async fn an_adopted_gateway_that_fails_is_an_error_with_the_failure_code() {
    let describe = mock!(Client::describe_nat_gateways)
        .sequence()
        .output(|| gateway(NatGatewayState::Pending))
        .times(2)
        .output(|| gateway(NatGatewayState::Failed))
        .repeatedly()
        .build();
    let kind = NatGateway::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &[&describe]));
    let cx = Cx::new(Owner { stack: "s".into(), env: "e".into() });
    let err = kind.resume_create(&cx, &intent(), &found()).await.expect_err("failed gateway");
    match err {
        ResourceError::Aws { code, message, .. } => {
            assert_eq!(code, "InsufficientFreeAddressesInSubnet");
            assert!(message.contains("no free addresses"), "{message}");
        }
        other => panic!("expected the AWS failure, got {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_adopted_gateway_already_available_costs_no_wait() {
    let describe = mock!(Client::describe_nat_gateways).then_output(|| gateway(NatGatewayState::Available));
    let kind = NatGateway::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &[&describe]));
    let cx = Cx::new(Owner { stack: "s".into(), env: "e".into() });
    let start = tokio::time::Instant::now();
    kind.resume_create(&cx, &intent(), &found()).await.expect("resumed");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(describe.num_calls(), 2, "one look at its state, one read back");
}
