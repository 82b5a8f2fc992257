//! Logs through `tracing` on stdout, as text or JSON; every line inside a task carries its
//! connector and task (`task{connector=backup task=0}`), to be read by people at 3 a.m. The
//! level can be changed at run time through `/admin/loggers`.

use crate::rest::LogControl;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

/// Installs the global subscriber. `level` is a level or `tracing` directives
/// (`info,skiff_worker::connectors=debug`); `json` selects JSON lines.
pub fn init(level: &str, json: bool) -> LogControl {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
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
    LogControl::new(installed.is_ok().then_some(handle), root)
}
