//! `GET /` (version and Kafka cluster id) and `GET /health` (KIP-1017: starting, healthy).

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use skiff_api::rest::ServerInfo;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `GET /` and `/health` report; filled in as the worker starts.
#[derive(Debug, Default)]
pub struct ClusterInfo {
    pub kafka_cluster_id: OnceLock<String>,
    pub ready: AtomicBool,
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
}

/// The Kafka Connect version whose REST API this worker speaks, with Skiff's own version.
pub fn version() -> String {
    format!("4.1.1-skiff-{}", env!("CARGO_PKG_VERSION"))
}

async fn root(State(s): State<AppState>) -> Json<ServerInfo> {
    Json(ServerInfo {
        version: version(),
        commit: option_env!("SKIFF_GIT_COMMIT")
            .unwrap_or("unknown")
            .to_string(),
        kafka_cluster_id: s.info.kafka_cluster_id.get().cloned(),
    })
}

/// KIP-1017: 503 while starting, 500 when stuck (with the reason), 200 otherwise.
async fn health(State(s): State<AppState>) -> Response {
    if !s.info.ready.load(Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "message": "Worker is still starting up."})),
        )
            .into_response();
    }
    match s.herder.health() {
        Ok(()) => Json(json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."})).into_response(),
        Err(message) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "unhealthy", "message": message})),
        )
            .into_response(),
    }
}
