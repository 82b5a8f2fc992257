//! Standalone mode: one worker, connectors from files and the REST API, source offsets in
//! `offset.storage.file.filename`. Runs until SIGTERM/SIGINT, then stops tasks (flushing and
//! committing) and exits.

use crate::config::client::ClientRole;
use crate::config::properties::{Properties, read_connector_file, read_properties};
use crate::config::rest::RestListener;
use crate::config::worker::WorkerConfig;
use crate::herder::Herder;
use crate::rest::tls::TlsListener;
use crate::rest::{self, AppState, ClusterInfo, Credentials, LogControl, ServedOverTls};
use crate::runtime::offsets::OffsetStore;
use crate::runtime::status::StatusStore;
use crate::runtime::worker::Worker;
use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

/// A started worker: its REST address and a handle to stop it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub herder: Arc<Herder>,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Serves `app` over plain http on `tcp` until `shutdown` says stop; `what` names the server
/// in the error it logs if serving fails.
fn serve_plain(
    tcp: TcpListener,
    local: std::net::SocketAddr,
    app: axum::Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    what: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let graceful = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(tcp, app).with_graceful_shutdown(graceful).await {
            error!("{what} server on {local} failed: {e}");
        }
    })
}

impl Running {
    /// Stops tasks (flush and commit), closes the REST server.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        self.herder.shutdown().await;
    }
}

/// Reads the worker file and connector files and starts the worker.
pub async fn start_from_files(
    worker_file: &std::path::Path,
    connector_files: &[PathBuf],
    logs: LogControl,
) -> anyhow::Result<Running> {
    let props = read_properties(worker_file)?;
    let mut connectors = Vec::new();
    for f in connector_files {
        connectors.push(
            read_connector_file(f).with_context(|| format!("connector file {}", f.display()))?,
        );
    }
    start(props, connectors, logs).await
}

/// Starts a standalone worker from properties.
pub async fn start(
    worker_props: Properties,
    connectors: Vec<Properties>,
    logs: LogControl,
) -> anyhow::Result<Running> {
    let config = Arc::new(WorkerConfig::from_properties(worker_props)?);
    for w in &config.warnings {
        warn!("{w}");
    }
    let offsets = OffsetStore::open(config.offset_file.as_deref())?;
    let worker = Arc::new(Worker::new(config.clone(), StatusStore::default(), offsets));
    let herder = Arc::new(Herder::new(worker));
    let info = Arc::new(ClusterInfo::default());
    let listeners = bind_rest(&config).await?;
    let (addr, shutdown, server) =
        serve(&config, listeners, herder.clone(), info.clone(), logs).await?;
    info!(%addr, worker_id = %config.worker_id, "REST API listening");
    spawn_cluster_id_lookup(config.clone(), info.clone());
    for c in connectors {
        let name = c
            .get("name")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("a connector file has no 'name'"))?;
        herder
            .put_config(&name, c)
            .await
            .map_err(|e| anyhow::anyhow!("connector {name}: {e}"))?;
    }
    info.ready.store(true, Ordering::Release);
    Ok(Running::new(addr, herder, shutdown, server))
}

/// The bound REST listeners and the metrics listener, before they serve.
pub(crate) struct BoundRest {
    listeners: Vec<(RestListener, TcpListener)>,
    metrics: Option<TcpListener>,
}

/// Binds every REST listener (`listeners` / `rest.port`) and `metrics.listener`, at start, so
/// an address already taken stops the worker at once, naming the key.
pub(crate) async fn bind_rest(config: &WorkerConfig) -> anyhow::Result<BoundRest> {
    let mut listeners = Vec::new();
    for l in &config.rest.listeners {
        let tcp = TcpListener::bind(l.addr).await.with_context(|| {
            format!(
                "cannot listen on {} (listeners / rest.port): is another worker running there?",
                l.addr
            )
        })?;
        listeners.push((*l, tcp));
    }
    let metrics = match config.rest.metrics_listener {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (metrics.listener): is something else there?")
        })?),
        None => None,
    };
    Ok(BoundRest { listeners, metrics })
}

/// The address of the listener other workers reach this one by (the first of the advertised
/// scheme), as bound (so a `:0` port is the one the system picked).
pub(crate) fn advertised_addr(
    config: &WorkerConfig,
    bound: &BoundRest,
) -> anyhow::Result<std::net::SocketAddr> {
    let (_, tcp) = bound
        .listeners
        .iter()
        .find(|(l, _)| l.https == config.rest.advertised_https)
        .or(bound.listeners.first())
        .context("no REST listener")?;
    Ok(tcp.local_addr()?)
}

/// Serves the REST API on every bound listener until the returned sender says stop; returns the
/// advertised listener's address. The credentials and certificate files are read off the async
/// runtime.
pub(crate) async fn serve(
    config: &WorkerConfig,
    bound: BoundRest,
    herder: Arc<Herder>,
    info: Arc<ClusterInfo>,
    logs: LogControl,
) -> anyhow::Result<(
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
)> {
    let addr = advertised_addr(config, &bound)?;
    let rest_settings = config.rest.clone();
    let (credentials, tls, forward_client) = tokio::task::spawn_blocking(move || {
        let credentials = Credentials::load(
            rest_settings.credentials_file.as_deref(),
            rest_settings.user.as_ref(),
        )?
        .map(Arc::new);
        let tls = match &rest_settings.tls {
            Some(t) => Some(Arc::new(rest::tls::server_config(t)?)),
            None => None,
        };
        let forward_client = crate::distributed::forward::client(rest_settings.tls.as_ref())?;
        anyhow::Ok((credentials, tls, forward_client))
    })
    .await??;
    let state = AppState {
        herder,
        info,
        logs: Arc::new(logs),
        credentials,
        forward_client,
    };
    let app = rest::router(state.clone());
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    if let Some(tcp) = bound.metrics {
        let local = tcp.local_addr()?;
        info!(addr = %local, "metrics listener");
        let app = rest::metrics_router(state);
        servers.push(serve_plain(tcp, local, app, shutdown_rx.clone(), "metrics"));
    }
    for (listener, tcp) in bound.listeners {
        let local = tcp.local_addr()?;
        info!(addr = %local, scheme = listener.scheme(), "REST listener");
        servers.push(match &tls {
            Some(tls) if listener.https => {
                let mut rx = shutdown_rx.clone();
                let graceful = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                let tls_listener = TlsListener::new(tcp, tls.clone())?;
                let app = app.clone().layer(axum::Extension(ServedOverTls));
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(tls_listener, app)
                        .with_graceful_shutdown(graceful)
                        .await
                    {
                        error!("REST server on {local} failed: {e}");
                    }
                })
            }
            _ => serve_plain(tcp, local, app.clone(), shutdown_rx.clone(), "REST"),
        });
    }
    let server = tokio::spawn(async move {
        for s in servers {
            let _ = s.await;
        }
    });
    Ok((addr, shutdown, server))
}

impl Running {
    /// A running worker from its parts (the distributed mode starts its own).
    pub(crate) fn new(
        addr: std::net::SocketAddr,
        herder: Arc<Herder>,
        shutdown: tokio::sync::watch::Sender<bool>,
        server: tokio::task::JoinHandle<()>,
    ) -> Self {
        Running {
            addr,
            herder,
            shutdown,
            server,
        }
    }
}

/// Looks up the Kafka cluster id for `GET /` in the background, retrying with backoff.
pub(crate) fn spawn_cluster_id_lookup(config: Arc<WorkerConfig>, info: Arc<ClusterInfo>) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        for _ in 0..10 {
            let cfg = config.clone();
            let id = tokio::task::spawn_blocking(move || -> Option<String> {
                let consumer: BaseConsumer = cfg
                    .client(ClientRole::Admin)
                    .ok()?
                    .to_rdkafka()
                    .create()
                    .ok()?;
                consumer.client().fetch_cluster_id(Duration::from_secs(10))
            })
            .await
            .ok()
            .flatten();
            if let Some(id) = id {
                let _ = info.kafka_cluster_id.set(id);
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        warn!("could not read the Kafka cluster id: is bootstrap.servers reachable?");
    });
}

/// Waits for SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
