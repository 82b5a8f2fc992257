//! skiff-operator: reconciles `ConnectCluster` and `KafkaConnector` resources. The binary adds
//! flags, leader election and the health/metrics server around [`run`].

pub mod apply;
pub mod backoff;
pub mod conditions;
pub mod connect_cluster;
pub mod connect_rest;
pub mod context;
pub mod error;
pub mod events;
pub mod kafka_connector;
pub mod leader;
pub mod metrics;
pub mod rest_access;
pub mod scope;
pub mod server;

/// Picks rustls' ring provider for the whole process: with several providers compiled in (kube
/// uses ring, AWS crates bring aws-lc-rs), rustls refuses to choose one by itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

use context::Context;
use futures::future::join_all;
use scope::WatchScope;
use std::sync::Arc;

/// Runs both controllers over `scope` until their watches end (normally never).
pub async fn run(ctx: Arc<Context>, scope: &WatchScope) {
    let mut controllers = Vec::new();
    for namespace in scope.targets() {
        controllers.push(tokio::spawn(connect_cluster::run(
            ctx.clone(),
            namespace.clone(),
        )));
        controllers.push(tokio::spawn(kafka_connector::run(ctx.clone(), namespace)));
    }
    for result in join_all(controllers).await {
        if let Err(e) = result {
            tracing::error!(error = %e, "controller task ended abnormally");
        }
    }
}
