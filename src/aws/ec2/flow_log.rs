//! `ec2_flow_log`: a VPC flow log delivering to CloudWatch Logs, S3 or Firehose.
//!
//! Create: CreateFlowLogs with `ClientToken = spec.client_token` and tags at creation; the
//! call answers 200 even when the flow log could not be made, listing the failure under
//! `Unsuccessful` — that becomes an `Aws` error with its code. Read: one DescribeFlowLogs for
//! all ids (`flow-log-id` filter). Everything but tags forces a new flow log (AWS has no
//! modify call). Delete: DeleteFlowLogs; a flow log already gone is reported as an error by
//! some endpoints and under `Unsuccessful` by others — both are success here.
//! The destination rules (a role for CloudWatch Logs, none for S3, …) are checked before any
//! call.

use aws_sdk_ec2::types::{Filter, FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};
use serde_json::json;

use super::common::{self, found, put_str, tags_attr, Client, Describe, Found};
use crate::aws::error::{not_found_as_none, SdkResultExt};
use crate::resource::{
    AttrSchema, AttrType, Attrs, Constraint, Cx, Observed, ResourceError, ResourceKind, Schema, Spec, Value,
};

const TRAFFIC_TYPES: &[&str] = &["ACCEPT", "REJECT", "ALL"];
const CLOUDWATCH: &str = "cloud-watch-logs";
const DESTINATION_TYPES: &[&str] = &[CLOUDWATCH, "s3", "kinesis-data-firehose"];
const INTERVALS: &[i64] = &[60, 600];

pub struct FlowLog {
    client: Client,
    schema: Schema,
}

impl FlowLog {
    pub fn new(client: Client) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::required("vpc_id", AttrType::String).force_new(),
            AttrSchema::optional("traffic_type", AttrType::String)
                .default(json!("ALL"))
                .force_new()
                .one_of(TRAFFIC_TYPES),
            AttrSchema::optional("log_destination_type", AttrType::String)
                .default(json!(CLOUDWATCH))
                .force_new()
                .one_of(DESTINATION_TYPES),
            AttrSchema::optional("log_group_name", AttrType::String)
                .force_new()
                .doc("CloudWatch Logs group (or give its ARN as log_destination)."),
            AttrSchema::optional("log_destination", AttrType::String)
                .force_new()
                .doc("ARN of the log group, S3 bucket or Firehose stream."),
            AttrSchema::optional("iam_role_arn", AttrType::String)
                .force_new()
                .constraint(Constraint::Arn { service: "iam", resource: "role/" })
                .doc("Role that lets the service publish to CloudWatch Logs."),
            AttrSchema::optional("max_aggregation_interval", AttrType::Int)
                .default(json!(600))
                .force_new()
                .constraint(Constraint::IntIn(INTERVALS)),
            tags_attr(),
        ]);
        FlowLog { client, schema }
    }
}

/// What is wrong with the combination of attributes, if anything (CreateFlowLogs, EC2 API
/// Reference: CloudWatch Logs delivery takes a log group and a role; S3 and Firehose a
/// destination ARN; S3 no role). `attrs` is the declared shape (`null`: set, not known yet).
fn problem(attrs: &Attrs) -> Result<(), String> {
    let set = |k: &str| attrs.contains_key(k);
    if attrs.get("log_destination_type").and_then(Value::as_str).unwrap_or(CLOUDWATCH) == CLOUDWATCH {
        match (set("log_group_name"), set("log_destination")) {
            (false, false) => return Err("CloudWatch Logs delivery needs log_group_name or log_destination".into()),
            (true, true) => return Err("`log_destination`: give log_group_name or log_destination, not both".into()),
            _ => {}
        }
        if !set("iam_role_arn") {
            return Err("CloudWatch Logs delivery needs iam_role_arn (a role the service can assume)".into());
        }
    } else {
        if set("log_group_name") {
            return Err("`log_group_name` is only for CloudWatch Logs delivery; use log_destination".into());
        }
        if !set("log_destination") {
            return Err("S3 and Firehose delivery need log_destination (an ARN)".into());
        }
        if set("iam_role_arn") && attrs.get("log_destination_type").and_then(Value::as_str) == Some("s3") {
            return Err("`iam_role_arn`: S3 delivery takes no iam_role_arn".into());
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Describe for FlowLog {
    const ID_FILTER: &'static str = "flow-log-id";

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<Found>, ResourceError> {
        let logs: Vec<_> = self
            .client
            .describe_flow_logs()
            .set_filter(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_aws("DescribeFlowLogs")?;
        Ok(logs
            .iter()
            .filter_map(|l| {
                let id = l.flow_log_id()?;
                let mut attrs = Attrs::new();
                put_str(&mut attrs, "vpc_id", l.resource_id());
                put_str(&mut attrs, "traffic_type", l.traffic_type().map(TrafficType::as_str));
                put_str(&mut attrs, "log_destination_type", l.log_destination_type().map(LogDestinationType::as_str));
                put_str(&mut attrs, "log_group_name", l.log_group_name());
                put_str(&mut attrs, "log_destination", l.log_destination());
                put_str(&mut attrs, "iam_role_arn", l.deliver_logs_permission_arn());
                if let Some(i) = l.max_aggregation_interval() {
                    attrs.insert("max_aggregation_interval".into(), json!(i));
                }
                Some(found(id, attrs, l.tags()))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ResourceKind for FlowLog {
    fn kind(&self) -> &'static str {
        "ec2_flow_log"
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        problem(declared)
    }

    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        common::read_by_ids(self, ids).await
    }

    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let interval = spec.i64("max_aggregation_interval").and_then(|i| i32::try_from(i).ok());
        let out = self
            .client
            .create_flow_logs()
            .client_token(&spec.client_token)
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(spec.req_str("vpc_id")?)
            .traffic_type(TrafficType::from(spec.str("traffic_type").unwrap_or("ALL")))
            .log_destination_type(LogDestinationType::from(spec.str("log_destination_type").unwrap_or(CLOUDWATCH)))
            .set_log_group_name(spec.str("log_group_name").map(str::to_string))
            .set_log_destination(spec.str("log_destination").map(str::to_string))
            .set_deliver_logs_permission_arn(spec.str("iam_role_arn").map(str::to_string))
            .set_max_aggregation_interval(interval)
            .tag_specifications(common::tag_spec(ResourceType::VpcFlowLog, cx, spec)?)
            .send()
            .await
            .or_aws("CreateFlowLogs")?;
        if let Some(err) = out.unsuccessful().iter().find_map(|u| u.error()) {
            return Err(ResourceError::Aws {
                operation: "CreateFlowLogs".into(),
                code: err.code().unwrap_or("Unsuccessful").to_string(),
                message: err.message().unwrap_or("the flow log was not created").to_string(),
                request_id: None,
                retryable: false,
            });
        }
        let id = common::required(out.flow_log_ids().first(), "CreateFlowLogs", "flow log id")?.clone();
        common::read_back(self, cx, &id).await
    }

    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        common::reconcile_tags(&self.client, &prior.id, prior, spec).await?;
        common::read_back(self, cx, &prior.id).await
    }

    async fn delete(&self, _cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let r = self.client.delete_flow_logs().flow_log_ids(&prior.id).send().await.or_aws("DeleteFlowLogs");
        let Some(out) = not_found_as_none(r)? else { return Ok(()) };
        match out.unsuccessful().iter().find_map(|u| u.error()) {
            Some(err) if !err.code().is_some_and(crate::aws::error::is_not_found) => Err(ResourceError::Aws {
                operation: "DeleteFlowLogs".into(),
                code: err.code().unwrap_or("Unsuccessful").to_string(),
                message: err.message().unwrap_or_default().to_string(),
                request_id: None,
                retryable: false,
            }),
            _ => Ok(()),
        }
    }

    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        common::find_by_owner(self, &cx.owner).await
    }
}
