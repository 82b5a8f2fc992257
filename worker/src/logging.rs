//! Logs through `tracing` on stdout, as text or JSON; every line inside a task carries its
//! connector and task (`task{connector=backup task=0}`), to be read by people at 3 a.m. The
//! level can be changed at run time through `/admin/loggers`.

use crate::rest::LogControl;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

/// Installs the global subscriber. `level` is a level or `tracing` directives
/// (`info,skiff_worker::connectors=debug`); `json` selects JSON lines. A `level` that is
/// neither is an error naming the flag, not a silent `info`.
pub fn init(level: &str, json: bool) -> Result<LogControl, String> {
    let filter = EnvFilter::try_new(with_quiet_clients(level)).map_err(|e| {
        format!(
            "--log-level (SKIFF_LOG_LEVEL) '{level}' is not a level or tracing directives ({e}): \
             use e.g. info, debug or info,skiff_worker::connectors=debug"
        )
    })?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init()
    };
    let root = level
        .split(',')
        .next()
        .filter(|l| !l.contains('='))
        .unwrap_or("info");
    Ok(LogControl::new(installed.is_ok().then_some(handle), root))
}

/// Client libraries whose debug output carries wire details (request signatures, raw error
/// bodies that echo the access key id): kept at `info` unless a directive names them.
const QUIET_CLIENTS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk_s3",
    "aws_sdk_sts",
    "aws_config",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

/// Adds `<client>=info` for each quiet client the directives do not mention.
pub fn with_quiet_clients(level: &str) -> String {
    let mut out = level.to_string();
    for c in QUIET_CLIENTS {
        if !level.contains(c) {
            out.push_str(&format!(",{c}=info"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_keeps_sdk_wire_logs_quiet_unless_asked() {
        let d = with_quiet_clients("debug");
        assert!(
            d.starts_with("debug,") && d.contains("aws_smithy_runtime=info"),
            "{d}"
        );
        let asked = with_quiet_clients("debug,aws_smithy_runtime=trace");
        assert!(!asked.contains("aws_smithy_runtime=info"), "{asked}");
    }
}
