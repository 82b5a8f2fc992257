//! `/connectors/...`: create, read, update, delete, state changes, restarts, tasks, offsets and
//! topics of connectors.

use super::body::JsonBody;
use super::{ApiError, AppState, ServedOverTls, secrets};
use crate::config::properties::{Properties, json_scalar};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};
use skiff_api::rest::{ConnectorOffsets, Message, TargetState};
use std::collections::BTreeMap;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/progress", get(progress))
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(reset_topics))
}

/// Query parameters as (key, value) pairs, repeated keys kept.
fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_string(), v.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn query_bool(q: &Option<String>, key: &str) -> Result<bool, ApiError> {
    match query_pairs(q).into_iter().find(|(k, _)| k == key) {
        None => Ok(false),
        Some((_, v)) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("false") || v.is_empty() => Ok(false),
        Some((_, v)) => Err(ApiError::bad_request(format!(
            "Query parameter '{key}' must be true or false, not '{v}'"
        ))),
    }
}

/// A config object whose values are strings (numbers and booleans are accepted as strings).
fn config_map(v: &Map<String, Value>) -> Result<Properties, ApiError> {
    v.iter()
        .map(|(k, v)| {
            json_scalar(k, v)
                .map(|s| (k.clone(), s))
                .map_err(ApiError::bad_request)
        })
        .collect()
}

/// A task id from the path; anything but a number matches no route, as in Connect.
fn task_id(task: &str) -> Result<u32, ApiError> {
    task.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "HTTP 404 Not Found"))
}

/// 201 with `Location`, absolute as Connect (Jersey) makes it, from the request's `Host` and the
/// listener's scheme.
fn created(
    request: &HeaderMap,
    tls: Option<Extension<ServedOverTls>>,
    name: &str,
    body: impl serde::Serialize,
) -> Response {
    let mut headers = HeaderMap::new();
    let path = format!("/connectors/{}", urlencoding_path(name));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let location = match request.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path,
    };
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    (StatusCode::CREATED, headers, Json(body)).into_response()
}

/// Percent-encodes a path segment (a connector name may hold spaces and other characters).
fn urlencoding_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn list(State(s): State<AppState>, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let names = s.herder.connectors().await;
    let expand: Vec<String> = query_pairs(&q)
        .into_iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v)
        .collect();
    if expand.is_empty() {
        return Ok(Json(json!(names)));
    }
    // Unknown expansions are ignored, but any `expand` gives the map form, as in Connect.
    let want_status = expand.iter().any(|e| e == "status");
    let want_info = expand.iter().any(|e| e == "info");
    let mut out = Map::new();
    for n in names {
        let mut entry = Map::new();
        if want_status && let Ok(st) = s.herder.status(&n).await {
            entry.insert("status".into(), json!(st));
        }
        if want_info && let Ok(info) = s.herder.info(&n).await {
            entry.insert("info".into(), json!(secrets::mask_info(info)));
        }
        out.insert(n, Value::Object(entry));
    }
    Ok(Json(Value::Object(out)))
}

async fn create(
    State(s): State<AppState>,
    request: HeaderMap,
    tls: Option<Extension<ServedOverTls>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("Request body must be a JSON object with 'name' and 'config'")
    })?;
    let config = match obj.get("config") {
        Some(Value::Object(c)) => config_map(c)?,
        Some(Value::Null) | None => {
            return Err(ApiError::bad_request(
                "Connector config is required: the body needs a 'config' object",
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "'config' must be a JSON object of string values",
            ));
        }
    };
    let name = match obj.get("name") {
        Some(Value::String(n)) => n.clone(),
        None | Some(Value::Null) => config.get("name").cloned().unwrap_or_default(),
        Some(_) => return Err(ApiError::bad_request("'name' must be a string")),
    };
    if let Some(cn) = config.get("name")
        && *cn != name
    {
        return Err(ApiError::bad_request(format!(
            "Connector name configuration ({cn}) doesn't match connector name in the URL ({name})"
        )));
    }
    let initial = match obj.get("initial_state") {
        None | Some(Value::Null) => None,
        Some(Value::String(st)) => Some(match st.to_ascii_uppercase().as_str() {
            "RUNNING" => TargetState::Running,
            "PAUSED" => TargetState::Paused,
            "STOPPED" => TargetState::Stopped,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid initial_state '{st}': must be RUNNING, PAUSED or STOPPED"
                )));
            }
        }),
        Some(_) => return Err(ApiError::bad_request("'initial_state' must be a string")),
    };
    let mut config = config;
    secrets::restore_hidden(&mut config, None)?;
    let info = s.herder.create(&name, config, initial).await?;
    Ok(created(&request, tls, &name, secrets::mask_info(info)))
}

async fn info(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(secrets::mask_info(s.herder.info(&name).await?)).into_response())
}

async fn delete(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.herder.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn config(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let mut config = s.herder.config(&name).await?;
    secrets::mask(&mut config);
    Ok(Json(config).into_response())
}

async fn put_config(
    State(s): State<AppState>,
    Path(name): Path<String>,
    request: HeaderMap,
    tls: Option<Extension<ServedOverTls>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("Request body must be a JSON object of connector settings")
    })?;
    let mut config = config_map(obj)?;
    if let Some(cn) = config.get("name")
        && *cn != name
    {
        return Err(ApiError::bad_request(format!(
            "Connector name configuration ({cn}) doesn't match connector name in the URL ({name})"
        )));
    }
    let stored = s.herder.config(&name).await.ok();
    secrets::restore_hidden(&mut config, stored.as_ref())?;
    let (was_created, info) = s.herder.put_config(&name, config).await?;
    let info = secrets::mask_info(info);
    Ok(if was_created {
        created(&request, tls, &name, info)
    } else {
        Json(info).into_response()
    })
}

async fn patch_config(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("Request body must be a JSON object of connector settings")
    })?;
    let mut patch = BTreeMap::new();
    for (k, v) in obj {
        let value = if v.is_null() {
            None
        } else {
            Some(json_scalar(k, v).map_err(ApiError::bad_request)?)
        };
        patch.insert(k.clone(), value);
    }
    if let Some(Some(cn)) = patch.get("name")
        && *cn != name
    {
        return Err(ApiError::bad_request(format!(
            "Connector name configuration ({cn}) doesn't match connector name in the URL ({name})"
        )));
    }
    let stored = s.herder.config(&name).await.ok();
    for (k, v) in patch.iter_mut() {
        if v.as_deref() == Some(secrets::HIDDEN) {
            let old = stored.as_ref().and_then(|c| c.get(k)).cloned();
            if old.is_none() {
                return Err(ApiError::bad_request(format!(
                    "'{k}' is '{}' but no value is stored for it: give the real value or a ${{file:...}}/${{env:...}} reference",
                    secrets::HIDDEN
                )));
            }
            *v = old;
        }
    }
    let info = s.herder.patch_config(&name, patch).await?;
    Ok(Json(secrets::mask_info(info)).into_response())
}

async fn status(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(s.herder.status(&name).await?).into_response())
}

async fn progress(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = s.herder.progress(&name).await?;
    let expected = s.herder.tasks(&name).await?.len();
    let done = every_task_done(expected, &p);
    let tasks: Vec<Value> = p
        .into_iter()
        .map(|(id, v)| json!({"id": id, "progress": v}))
        .collect();
    Ok(Json(json!({"name": name, "done": done, "tasks": tasks})).into_response())
}

/// Whether each of a connector's `expected` tasks reports itself done. A task that has not
/// reported yet (still starting, or on a worker that has not answered) is not done: counting only
/// the tasks that had reported once called a 2-task restore done with one task's partitions
/// restored.
fn every_task_done(expected: usize, progress: &BTreeMap<u32, Value>) -> bool {
    expected > 0
        && (0..expected as u32)
            .all(|id| progress.get(&id).is_some_and(|p| p["done"] == json!(true)))
}

async fn restart(
    State(s): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let include_tasks = query_bool(&q, "includeTasks")?;
    let only_failed = query_bool(&q, "onlyFailed")?;
    match s.herder.restart(&name, include_tasks, only_failed).await? {
        Some(planned) => Ok((StatusCode::ACCEPTED, Json(planned)).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn set_target(s: &AppState, name: &str, target: TargetState) -> Result<(), ApiError> {
    Ok(s.herder.set_target(name, target).await?)
}

async fn pause(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_target(&s, &name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn resume(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_target(&s, &name, TargetState::Running).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn stop(State(s): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    set_target(&s, &name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tasks(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(secrets::mask_tasks(s.herder.tasks(&name).await?)).into_response())
}

async fn task_status(
    State(s): State<AppState>,
    Path((name, task)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = task_id(&task)?;
    Ok(Json(s.herder.task_status(&name, id).await?).into_response())
}

async fn restart_task(
    State(s): State<AppState>,
    Path((name, task)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = task_id(&task)?;
    s.herder.restart_task(&name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn offsets(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.herder.offsets(&name).await?).into_response())
}

async fn alter_offsets(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    if body
        .get("offsets")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(ApiError::bad_request(
            "Partitions / offsets need to be provided for an alter offsets request",
        ));
    }
    let body: ConnectorOffsets = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Cannot deserialize the offsets: {e}")))?;
    let message = s.herder.alter_offsets(&name, Some(body.offsets)).await?;
    Ok(Json(Message { message }).into_response())
}

async fn reset_offsets(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let message = s.herder.alter_offsets(&name, None).await?;
    Ok(Json(Message { message }).into_response())
}

/// Connect answers for any name: a connector it does not know has no active topics.
async fn topics(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let topics = s.herder.active_topics(&name).await?;
    Ok(Json(json!({ name: {"topics": topics} })).into_response())
}

async fn reset_topics(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.herder.reset_active_topics(&name).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::every_task_done;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn a_connector_is_done_only_when_each_of_its_tasks_says_so() {
        let done = |ids: &[u32]| -> BTreeMap<u32, serde_json::Value> {
            ids.iter().map(|id| (*id, json!({"done": true}))).collect()
        };
        assert!(every_task_done(2, &done(&[0, 1])));
        assert!(!every_task_done(2, &done(&[1])), "task 0 has not reported");
        assert!(!every_task_done(0, &done(&[])));
        let mut one_busy = done(&[0, 1]);
        one_busy.insert(1, json!({"done": false}));
        assert!(!every_task_done(2, &one_busy));
    }
}
