//! The Kafka Connect REST API on axum: the same paths, bodies, status codes and error shape as
//! Apache Kafka Connect 4.x, so existing `curl` scripts, UIs and clients work.

mod admin;
mod body;
mod connectors;
mod error;
mod metrics;
mod openapi;
mod plugins;
mod root;
mod secrets;

use crate::herder::Herder;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Arc;

pub use admin::LogControl;
pub use error::ApiError;

/// Largest request body accepted; connector configurations are far smaller.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub herder: Arc<Herder>,
    pub info: Arc<root::ClusterInfo>,
    pub logs: Arc<LogControl>,
}

/// Builds the router with every route of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
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
        .with_state(state)
}

pub use root::ClusterInfo;
