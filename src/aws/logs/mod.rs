//! CloudWatch Logs kinds: the log group (EKS control-plane logs, VPC flow logs, add-ons).

pub mod log_group;

use std::sync::Arc;

use crate::resource::Registry;

pub type Client = aws_sdk_cloudwatchlogs::Client;

/// Register every CloudWatch Logs kind in `reg`.
pub fn register(reg: &mut Registry, client: Client) {
    reg.register(Arc::new(log_group::LogGroup::new(client)));
}
