//! Starting a distributed worker: open the three internal topics, bind the REST listener (its
//! address is the URL other workers forward to), join the group, serve.

use super::config_store::ConfigStore;
use super::offset_log;
use super::settings::DistributedSettings;
use super::status_store::StatusLog;
use crate::config::properties::Properties;
use crate::config::worker::WorkerConfig;
use crate::herder::{DistributedHerder, Herder, distributed::Parts};
use crate::rest::{ClusterInfo, LogControl};
use crate::runtime::status::StatusStore;
use crate::runtime::worker::Worker;
use crate::standalone::{Running, advertised_addr, bind_rest, serve, spawn_cluster_id_lookup};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::{info, warn};

/// Starts a distributed worker from properties.
pub async fn start(worker_props: Properties, logs: LogControl) -> anyhow::Result<Running> {
    let config = WorkerConfig::from_properties(worker_props)?;
    for w in &config.warnings {
        warn!("{w}");
    }
    let settings = DistributedSettings::from_worker(&config)?;
    if settings.security.is_secured() {
        super::group::check_login(&settings.member_settings(&config))
            .await
            .context("logging in to Kafka")?;
    }
    let listeners = bind_rest(&config).await?;
    let bound = advertised_addr(&config, &listeners)?;
    let mut config = config;
    // With `listeners=...:0` the advertised port is the one the system picked.
    if let Some(host) = config.worker_id.strip_suffix(":0") {
        config.worker_id = format!("{host}:{}", bound.port());
    }
    let config = Arc::new(config);
    let scheme = if config.rest.advertised_https {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}/", config.worker_id);
    let (config_store, restarts) = ConfigStore::open(&config, settings.config_topic.clone())
        .await
        .context("config topic")?;
    let status = StatusLog::open(&config, settings.status_topic.clone())
        .await
        .context("status topic")?;
    let (offsets, offsets_log) = offset_log::open(&config, settings.offset_topic.clone())
        .await
        .context("offsets topic")?;
    let worker = Arc::new(Worker::new(config.clone(), StatusStore::default(), offsets));
    // Only a worker with a stable identity can tell its own earlier consumers from those of a
    // live worker whose tasks it is given.
    worker.set_reclaims(settings.instance_id.is_some());
    let herder = DistributedHerder::start(Parts {
        worker,
        url,
        worker_id: config.worker_id.clone(),
        config: config_store,
        restarts,
        status,
        offsets_log,
        settings,
    });
    let herder = Arc::new(Herder::Distributed(herder));
    let info = Arc::new(ClusterInfo::default());
    let (addr, shutdown, server) =
        serve(&config, listeners, herder.clone(), info.clone(), logs).await?;
    info!(%addr, worker_id = %config.worker_id, "REST API listening (distributed mode)");
    spawn_cluster_id_lookup(config.clone(), info.clone());
    info.ready.store(true, Ordering::Release);
    Ok(Running::new(addr, herder, shutdown, server))
}
