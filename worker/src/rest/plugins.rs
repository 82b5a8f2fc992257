//! `/connector-plugins`: the built-in plugins, their settings, and config validation.

use super::body::JsonBody;
use super::{ApiError, AppState};
use crate::config::properties::json_scalar;
use crate::connectors::Plugin;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::Value;
use skiff_api::rest::{ConfigInfos, ConfigKeyInfo, PluginInfo};

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connector-plugins", get(list))
        .route("/connector-plugins/{plugin}/config", get(config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
}

async fn list(RawQuery(q): RawQuery) -> Json<Vec<PluginInfo>> {
    let mut out = Plugin::listings();
    let all = q.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p.eq_ignore_ascii_case("connectorsOnly=false"))
    });
    if all {
        for c in crate::connectors::converters::CLASSES {
            out.push(PluginInfo {
                class: c.to_string(),
                plugin_type: "converter".into(),
                version: Some(super::root::version()),
            });
        }
    }
    Json(out)
}

async fn config(Path(plugin): Path<String>) -> Result<Json<Vec<ConfigKeyInfo>>, ApiError> {
    let p = Plugin::find(&plugin)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("Unknown plugin {plugin}.")))?;
    Ok(Json(
        p.defs()
            .iter()
            .enumerate()
            .map(|(i, d)| d.key_info(i as i32 + 1))
            .collect(),
    ))
}

async fn validate(
    State(s): State<AppState>,
    Path(plugin): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<ConfigInfos>, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("Request body must be a JSON object of connector settings")
    })?;
    let config = obj
        .iter()
        .map(|(k, v)| {
            json_scalar(k, v)
                .map(|s| (k.clone(), s))
                .map_err(ApiError::bad_request)
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(s.herder.validate(&plugin, &config).await?))
}
