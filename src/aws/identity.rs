//! The AWS account of the credentials in use, for binding the state to it (`state::binding`).
//!
//! One STS GetCallerIdentity call. It needs no IAM permission: "No permissions are required to
//! perform this operation" (AWS STS API reference, GetCallerIdentity), so it works for every
//! credential kprov can use, and an explicit deny cannot block it. Its `Account` field is the
//! 12-digit account id of the caller (for an assumed role: the role's account).

use aws_config::SdkConfig;
use aws_sdk_sts::error::ProvideErrorMetadata;

/// The account id of the caller, or why it could not be found (code and request id included).
pub async fn account_id(sdk: &SdkConfig) -> Result<String, String> {
    let sts = aws_sdk_sts::Client::new(sdk);
    match sts.get_caller_identity().send().await {
        Ok(out) => out.account().map(str::to_string).ok_or_else(|| "GetCallerIdentity returned no account".into()),
        Err(e) => {
            let Some(code) = e.code() else {
                return Err(format!(
                    "STS GetCallerIdentity failed: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ));
            };
            let request = aws_sdk_sts::operation::RequestId::request_id(&e)
                .map(|r| format!(", request id {r}"))
                .unwrap_or_default();
            let message = e.message().map(|m| format!(": {m}")).unwrap_or_default();
            Err(format!("STS GetCallerIdentity failed ({code}{request}){message}"))
        }
    }
}
