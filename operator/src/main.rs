//! skiff-operator: flags, leader election, the metrics/health server, then the controllers.

use anyhow::Context as _;
use clap::Parser;
use skiff_operator::context::Context;
use skiff_operator::leader::{self, LeaseConfig};
use skiff_operator::metrics::Metrics;
use skiff_operator::scope::WatchScope;
use skiff_operator::{connect_rest, server};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Kubernetes operator for Skiff Connect clusters and connectors.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Namespaces to watch (repeat or comma-separate); all namespaces when empty.
    #[arg(
        long = "namespace",
        env = "SKIFF_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Address of the /metrics, /healthz and /readyz server (use 0.0.0.0:8080 in a pod).
    #[arg(long, env = "SKIFF_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Compete for a Lease so only one replica reconciles.
    #[arg(long, env = "SKIFF_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "SKIFF_LEASE_NAME", default_value = "skiff-operator")]
    lease_name: String,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease and in Events.
    #[arg(long, env = "POD_NAME", default_value = "skiff-operator")]
    identity: String,
    /// Seconds between checks of healthy resources (drift repair).
    #[arg(long, env = "SKIFF_RESYNC_SECONDS", default_value_t = 300)]
    resync_seconds: u64,
    /// Worker image of ConnectClusters without `spec.image` (default: skiff-worker:<version>).
    #[arg(long, env = "SKIFF_WORKER_IMAGE")]
    worker_image: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    skiff_operator::install_crypto_provider();
    let client = kube::Client::try_default()
        .await
        .context("building the Kubernetes client")?;
    let metrics = Arc::new(Metrics::default());
    let (leading_tx, mut leading) = watch::channel(!args.leader_election);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let app = server::router(metrics.clone(), leading.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });

    if args.leader_election {
        let config = LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            identity: args.identity.clone(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        tokio::spawn(leader::run(
            client.clone(),
            config,
            metrics.clone(),
            leading_tx,
        ));
        tracing::info!(identity = %args.identity, "waiting for the leader lease");
        leading
            .wait_for(|l| *l)
            .await
            .context("leader election stopped")?;
        tracing::info!("leading");
    }

    let http = connect_rest::http_client().context("building the HTTP client")?;
    let mut ctx = Context::new(
        client,
        http,
        metrics,
        Some(args.identity),
        Duration::from_secs(args.resync_seconds),
    );
    if let Some(image) = args.worker_image {
        ctx.worker_image = image;
    }
    let ctx = Arc::new(ctx);
    let scope = WatchScope {
        namespaces: args.namespaces,
    };
    tokio::select! {
        () = skiff_operator::run(ctx, &scope) => anyhow::bail!("controllers stopped"),
        lost = leading.wait_for(|l| !*l) => {
            lost.context("leader election stopped")?;
            anyhow::bail!("lost the leader lease; exiting so a fresh replica can compete")
        }
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
