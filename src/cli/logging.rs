//! The log filter: `KPROV_LOG` (tracing's `EnvFilter` syntax, e.g. `debug` or
//! `kprov=trace`) chooses what is logged to stderr, with one exception: the AWS SDK's and the
//! HTTP stack's own logs are capped at `info` unless `KPROV_LOG_WIRE=1`.
//!
//! Why: at debug/trace the SDK (aws-smithy-*) and hyper log requests and responses, bodies
//! included, and a body can carry a sensitive value (ImportCertificate's private key, for
//! one). kprov's own logs never contain a sensitive value, so `KPROV_LOG=trace` is safe to
//! paste into a bug report; `KPROV_LOG_WIRE=1` is the explicit opt-in for wire-level
//! debugging, whose output must then be treated as secret.

/// Targets capped at `info` unless wire logging is asked for (prefixes of module paths).
const WIRE_TARGETS: &[&str] =
    &["aws_smithy", "aws_sdk", "aws_sigv4", "aws_config", "aws_runtime", "hyper", "hyper_util", "h2", "rustls"];

/// The filter directives for `user` (the value of `KPROV_LOG`; unset: warnings and errors).
/// A target the user names explicitly is more specific than a cap and wins over it.
pub fn directives(user: Option<&str>, wire: bool) -> String {
    let mut out = user.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("warn").to_string();
    if !wire {
        for t in WIRE_TARGETS {
            let named = out.split(',').any(|d| d.split('=').next().is_some_and(|n| n.trim().starts_with(t)));
            if !named {
                out.push_str(&format!(",{t}=info"));
            }
        }
    }
    out
}

/// Is wire logging asked for (`KPROV_LOG_WIRE` set to `1` or `true`)?
pub fn wire_from_env() -> bool {
    std::env::var("KPROV_LOG_WIRE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_logs_are_capped_unless_wire_logging_is_asked_for() {
        let d = directives(Some("trace"), false);
        assert!(d.starts_with("trace,") && d.contains("aws_smithy=info") && d.contains("hyper=info"));
        assert_eq!(directives(Some("debug"), true), "debug");
        assert_eq!(directives(None, true), "warn");
        // Naming a target explicitly is an opt-in for that target.
        assert!(!directives(Some("debug,aws_smithy_runtime=trace"), false).contains("aws_smithy=info"));
    }
}
