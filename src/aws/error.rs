//! Classifying AWS SDK failures into [`ResourceError`].
//!
//! Every SDK call in `src/aws/` ends in `.send().await.or_aws("Operation")?` ([`SdkResultExt`]),
//! which goes through [`from_sdk`]: one function for every service crate, since they all share
//! `SdkError<E, HttpResponse>` with `E: ProvideErrorMetadata`.
//!
//! The mapping:
//! - the service answered with an AWS error code → [`ResourceError::Aws`] with that code, the
//!   message and the request id;
//! - the service answered without one (an HTML 500/404 page from an emulator, a proxy error, a
//!   body the SDK could not parse) → `Aws` with code `"HTTP <status>"`, so callers can still
//!   match on it and users see what happened;
//! - the request never got an answer (connection refused, timeout) → [`ResourceError::Transport`].
//!
//! `retryable` says the outcome is unclear or may change: throttling (the codes in
//! `engine::rate_limit::THROTTLING_CODES`), 429 and 5xx answers. By the time an error reaches
//! us, the rate-limited connector (`aws::limits`) has retried it where the call is safe to
//! repeat; the engine (`engine::recover`) resolves the rest — a `Create*` whose answer was lost
//! is looked up before it is sent again. `Transport` errors are treated the same way.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;

use crate::resource::ResourceError;

/// Convert any SDK failure of `operation` into a [`ResourceError`].
pub fn from_sdk<E>(operation: &str, err: SdkError<E, HttpResponse>) -> ResourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let operation = operation.to_string();
    match &err {
        SdkError::ServiceError(se) => {
            let meta = se.err().meta();
            let status = se.raw().status().as_u16();
            // EC2 (query protocol) carries the request id in the XML body, parsed into the
            // metadata; other services send it as a header.
            let request_id = meta.request_id().or_else(|| se.raw().request_id()).map(str::to_string);
            match meta.code() {
                Some(code) => ResourceError::Aws {
                    retryable: is_retryable(code, status),
                    code: code.to_string(),
                    message: meta.message().unwrap_or_default().to_string(),
                    request_id,
                    operation,
                },
                None => without_code(operation, status, se.raw(), request_id),
            }
        }
        SdkError::ResponseError(re) => {
            let status = re.raw().status().as_u16();
            let request_id = re.raw().request_id().map(str::to_string);
            without_code(operation, status, re.raw(), request_id)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            ResourceError::Transport { operation, message: DisplayErrorContext(&err).to_string() }
        }
        // Construction failures are our own bugs (a missing required field) or an
        // unserializable input: nothing AWS said, so not an `Aws` error.
        _ => ResourceError::Invalid {
            message: format!("{operation}: could not build the request: {}", DisplayErrorContext(&err)),
        },
    }
}

/// The service answered, but without an AWS error code: report the HTTP status as the code and
/// the start of the body as the message (moto answers unimplemented actions with HTML).
fn without_code(operation: String, status: u16, raw: &HttpResponse, request_id: Option<String>) -> ResourceError {
    let body = raw.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
    let snippet: String = body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
    let message = if snippet.is_empty() {
        "the service answered without an error code".to_string()
    } else {
        format!("the service answered without an error code: {snippet}")
    };
    ResourceError::Aws {
        operation,
        code: format!("HTTP {status}"),
        message,
        request_id,
        retryable: is_retryable("", status),
    }
}

/// Throttling codes, HTTP 429, and any 5xx are worth retrying.
pub fn is_retryable(code: &str, status: u16) -> bool {
    crate::engine::rate_limit::is_throttling_code(code) || status == 429 || (500..=599).contains(&status)
}

/// Does `code` say the resource (or the sub-resource addressed) does not exist?
///
/// EC2 uses `Invalid<Thing>ID.NotFound` / `Invalid<Thing>.NotFound` for nearly everything,
/// with a few exceptions (`NatGatewayNotFound`); other services use `*NotFoundException`,
/// `NoSuchEntity`, … — those are matched here too so every provider shares one rule.
pub fn is_not_found(code: &str) -> bool {
    code.ends_with("NotFound") || code.ends_with("NotFoundException") || code.starts_with("NoSuch")
}

/// Is `err` an AWS error saying the resource does not exist?
pub fn err_is_not_found(err: &ResourceError) -> bool {
    err.code().is_some_and(is_not_found)
}

/// `.or_aws("Operation")` on the result of an SDK `send()`.
pub trait SdkResultExt<T> {
    fn or_aws(self, operation: &str) -> Result<T, ResourceError>;
}

impl<T, E> SdkResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn or_aws(self, operation: &str) -> Result<T, ResourceError> {
        self.map_err(|e| from_sdk(operation, e))
    }
}

/// Turn "not found" into `Ok(None)`: deletes of resources already gone are success, and lookups
/// of missing resources are absence, not failure.
pub fn not_found_as_none<T>(r: Result<T, ResourceError>) -> Result<Option<T>, ResourceError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if err_is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).expect("status"), SdkBody::from(body.to_string()))
    }

    #[test]
    fn service_error_keeps_code_message_and_request_id() {
        let meta = ErrorMetadata::builder()
            .code("InvalidVpcID.NotFound")
            .message("The vpc ID 'vpc-1' does not exist")
            .custom("aws_request_id", "req-123")
            .build();
        let err = SdkError::service_error(DescribeVpcsError::generic(meta), response(400, ""));
        match from_sdk("DescribeVpcs", err) {
            ResourceError::Aws { operation, code, message, request_id, retryable } => {
                assert_eq!(operation, "DescribeVpcs");
                assert_eq!(code, "InvalidVpcID.NotFound");
                assert!(message.contains("does not exist"));
                assert_eq!(request_id.as_deref(), Some("req-123"));
                assert!(!retryable);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn throttling_is_retryable() {
        let meta = ErrorMetadata::builder().code("RequestLimitExceeded").build();
        let err = SdkError::service_error(DescribeVpcsError::generic(meta), response(503, ""));
        assert!(matches!(from_sdk("DescribeVpcs", err), ResourceError::Aws { retryable: true, .. }));
    }

    #[test]
    fn answer_without_code_reports_http_status() {
        let meta = ErrorMetadata::builder().build();
        let err = SdkError::service_error(
            DescribeVpcsError::generic(meta),
            response(500, "<html><body>  Not   yet implemented</body></html>"),
        );
        match from_sdk("DescribeVpcs", err) {
            ResourceError::Aws { code, message, retryable, .. } => {
                assert_eq!(code, "HTTP 500");
                assert!(message.contains("Not yet implemented"), "{message}");
                assert!(retryable);
            }
            other => panic!("unexpected {other:?}"),
        }
        let err: SdkError<DescribeVpcsError, _> = SdkError::response_error("bad body", response(404, ""));
        assert_eq!(from_sdk("DescribeVpcs", err).code(), Some("HTTP 404"));
    }

    #[test]
    fn transport_failures_are_transport_errors() {
        let err: SdkError<DescribeVpcsError, HttpResponse> = SdkError::timeout_error("took too long");
        assert!(matches!(from_sdk("DescribeVpcs", err), ResourceError::Transport { .. }));
    }

    #[test]
    fn not_found_codes() {
        for code in [
            "InvalidVpcID.NotFound",
            "InvalidSubnetID.NotFound",
            "InvalidGroup.NotFound",
            "InvalidRouteTableID.NotFound",
            "InvalidAllocationID.NotFound",
            "NatGatewayNotFound",
            "InvalidInternetGatewayID.NotFound",
            "InvalidAssociationID.NotFound",
            "InvalidSecurityGroupRuleId.NotFound",
            "InvalidRoute.NotFound",
            "ResourceNotFoundException",
            "NoSuchEntity",
        ] {
            assert!(is_not_found(code), "{code}");
        }
        for code in ["InvalidParameterValue", "DependencyViolation", "HTTP 404", "InvalidGroup.Duplicate"] {
            assert!(!is_not_found(code), "{code}");
        }
    }
}
