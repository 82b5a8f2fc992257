//! The Kafka Connect REST API on axum: the same paths, bodies, status codes and error shape as
//! Apache Kafka Connect 4.x, so existing `curl` scripts, UIs and clients work.

mod admin;
mod basic_auth;
mod body;
mod connectors;
mod error;
mod metrics;
mod openapi;
mod plugins;
mod root;
mod secrets;
pub mod tls;

use crate::herder::Herder;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Arc;

pub use admin::LogControl;
pub use basic_auth::Credentials;
pub use error::ApiError;

/// Largest request body accepted; connector configurations are far smaller.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub herder: Arc<Herder>,
    pub info: Arc<root::ClusterInfo>,
    pub logs: Arc<LogControl>,
    /// When set, every request but `GET /health` must authenticate with these.
    pub credentials: Option<Arc<Credentials>>,
    /// The client requests are forwarded to other workers with.
    pub forward_client: reqwest::Client,
}

/// A request extension marking requests that came in over an https listener.
#[derive(Debug, Clone, Copy)]
pub struct ServedOverTls;

/// Builds the router with every route of the API; basic auth, when on, comes first, so an
/// unauthenticated request is neither served nor forwarded.
pub fn router(state: AppState) -> Router {
    let credentials = state.credentials.clone();
    let router = Router::new()
        .merge(root::routes())
        .merge(connectors::routes())
        .merge(plugins::routes())
        .merge(admin::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::distributed::forward::to_leader,
        ))
        .with_state(state);
    match credentials {
        Some(c) => router.layer(axum::middleware::from_fn_with_state(c, basic_auth::require)),
        None => router,
    }
}

/// The router of `metrics.listener`: `GET /metrics` and nothing else, without authentication.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .merge(metrics::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

pub use root::ClusterInfo;
