//! `/admin/loggers`: read and change log levels at run time, as Connect's admin API does.
//! Logger names are `tracing` targets (`skiff_worker::connectors::s3_sink`) or `root`.

use super::body::JsonBody;
use super::{ApiError, AppState};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Current levels and the handle that applies them to the running subscriber.
pub struct LogControl {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    /// Logger name -> (level, last modified in ms since the epoch).
    levels: Mutex<BTreeMap<String, (String, Option<i64>)>>,
}

const LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"];

impl LogControl {
    /// Starts with `root` at `root_level`; `handle` is `None` in tests without a subscriber.
    pub fn new(handle: Option<reload::Handle<EnvFilter, Registry>>, root_level: &str) -> Self {
        let mut levels = BTreeMap::new();
        levels.insert("root".to_string(), (root_level.to_ascii_uppercase(), None));
        LogControl {
            handle,
            levels: Mutex::new(levels),
        }
    }

    fn snapshot(&self) -> BTreeMap<String, (String, Option<i64>)> {
        self.levels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets `logger` to `level` and applies every level to the subscriber. A name the filter
    /// refuses changes nothing: kept, it would make every later change fail too.
    fn set(&self, logger: &str, level: &str) -> Result<(), String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // The name becomes one `name=level` directive: a comma or `=` in it would add others
        // (`PUT /admin/loggers/trace,x` set every logger to TRACE).
        if logger.is_empty()
            || logger
                .chars()
                .any(|c| ",=[]{}\"".contains(c) || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "invalid logger name '{logger}': a logger is `root` or a module path such as \
                 skiff_worker::connectors::s3_sink, without , = [ ] {{ }} \" or spaces"
            ));
        }
        let mut levels = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = levels.clone();
        next.insert(logger.to_string(), (level.to_string(), Some(now)));
        let filter = EnvFilter::try_new(crate::logging::with_quiet_clients(&directives(&next)))
            .map_err(|e| {
                format!(
                    "invalid logger name '{logger}': {e}; a logger is `root` or a module path \
                     such as skiff_worker::connectors::s3_sink"
                )
            })?;
        if let Some(h) = &self.handle {
            h.reload(filter).map_err(|e| e.to_string())?;
        }
        *levels = next;
        Ok(())
    }
}

/// The `EnvFilter` directives for `levels` (`root` is the default level).
fn directives(levels: &BTreeMap<String, (String, Option<i64>)>) -> String {
    levels
        .iter()
        .map(|(name, (lvl, _))| {
            let l = match lvl.as_str() {
                "FATAL" => "error",
                other => other,
            }
            .to_ascii_lowercase();
            if name == "root" {
                l
            } else {
                format!("{name}={l}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/loggers", get(list))
        .route("/admin/loggers/{logger}", get(get_one).put(put_one))
}

async fn list(State(s): State<AppState>) -> Json<Value> {
    let out: serde_json::Map<String, Value> = s
        .logs
        .snapshot()
        .into_iter()
        .map(|(k, (l, m))| (k, json!({"level": l, "last_modified": m})))
        .collect();
    Json(Value::Object(out))
}

async fn get_one(
    State(s): State<AppState>,
    Path(logger): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let levels = s.logs.snapshot();
    let (level, m) = levels
        .get(&logger)
        .or_else(|| levels.get("root"))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("Logger {logger} not found."))
        })?;
    Ok(Json(json!({"level": level, "last_modified": m})))
}

async fn put_one(
    State(s): State<AppState>,
    Path(logger): Path<String>,
    RawQuery(q): RawQuery,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let level = body
        .get("level")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| {
            ApiError::bad_request("Desired 'level' parameter was not specified in request.")
        })?;
    if !LEVELS.contains(&level.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("invalid log level '{level}'."),
        ));
    }
    s.logs.set(&logger, &level).map_err(ApiError::bad_request)?;
    if q.as_deref().is_some_and(|q| q.contains("scope=cluster")) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Json(json!([logger])).into_response())
}

#[cfg(test)]
mod tests {
    use super::LogControl;

    #[test]
    fn a_refused_logger_name_leaves_the_levels_as_they_were() {
        let logs = LogControl::new(None, "INFO");
        // `¡` passes the name check but not the log filter's parser.
        let err = logs.set("¡", "DEBUG").unwrap_err();
        assert!(err.contains("invalid logger name '¡'"), "{err}");
        assert!(!logs.snapshot().contains_key("¡"));
        for bad in ["trace,x", "x=debug", "a{b}", ""] {
            assert!(logs.set(bad, "DEBUG").is_err(), "{bad:?} was accepted");
        }
        logs.set("org.apache.kafka.connect", "DEBUG").unwrap();
        logs.set("skiff_worker::rest", "DEBUG").unwrap();
        let levels = logs.snapshot();
        assert_eq!(levels["skiff_worker::rest"].0, "DEBUG");
        assert_eq!(
            levels.keys().collect::<Vec<_>>(),
            ["org.apache.kafka.connect", "root", "skiff_worker::rest"]
        );
    }
}
