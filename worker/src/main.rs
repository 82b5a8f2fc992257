//! skiff-worker: the command line of `connect-standalone.sh` / `connect-distributed.sh`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// A Kafka Connect-compatible worker with built-in S3 backup and restore connectors.
#[derive(Parser)]
#[command(name = "skiff-worker", version, about)]
struct Cli {
    /// Log level or tracing directives (e.g. `info,skiff_worker::connectors=debug`).
    #[arg(long, env = "SKIFF_LOG_LEVEL", default_value = "info", global = true)]
    log_level: String,
    /// Log format.
    #[arg(
        long,
        env = "SKIFF_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        ignore_case = true,
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    mode: Mode,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line, with the task's span fields.
    Json,
}

#[derive(Subcommand)]
enum Mode {
    /// One worker; connectors from files and the REST API; offsets in a local file.
    Standalone {
        /// The worker .properties file.
        #[arg(env = "SKIFF_WORKER_PROPERTIES")]
        worker: PathBuf,
        /// Connector files (.properties or JSON).
        connectors: Vec<PathBuf>,
    },
    /// A worker that joins a cluster of workers with the same group.id.
    Distributed {
        /// The worker .properties file.
        #[arg(env = "SKIFF_WORKER_PROPERTIES")]
        worker: PathBuf,
    },
}

fn main() -> ExitCode {
    skiff_worker::allocator::tune();
    let cli = Cli::parse();
    let logs = match skiff_worker::logging::init(&cli.log_level, cli.log_format == LogFormat::Json)
    {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("skiff-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.mode {
            Mode::Standalone { worker, connectors } => {
                let running =
                    skiff_worker::standalone::start_from_files(&worker, &connectors, logs).await?;
                skiff_worker::standalone::shutdown_signal().await;
                tracing::info!("shutting down: stopping tasks");
                running.stop().await;
                anyhow::Ok(())
            }
            Mode::Distributed { worker } => {
                let props = skiff_worker::config::properties::read_properties(&worker)?;
                let running = skiff_worker::distributed::start(props, logs).await?;
                skiff_worker::standalone::shutdown_signal().await;
                tracing::info!("shutting down: stopping tasks and leaving the group");
                running.stop().await;
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("skiff-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}
