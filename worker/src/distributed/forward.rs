//! Requests that change the cluster are answered by the leader: a non-leader forwards them to
//! the leader's URL with Connect's hidden `forward` query parameter (`true` on the first hop,
//! `false` on the second, so at most two hops), and answers 409 when no leader is known. A task
//! restart goes to the worker that runs the task, once. The user's `Authorization` header goes
//! along (as Connect forwards it), and https workers are reached with the REST truststore.

use crate::config::rest::RestTls;
use crate::herder::Herder;
use crate::rest::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// A forwarded request gives up after this long.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest body forwarded (the REST API's own limit).
const MAX_BODY: usize = 1024 * 1024;

const NO_LEADER: &str = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.";
const TOO_MANY_HOPS: &str =
    "Cannot complete request because of a conflicting operation (e.g. worker rebalance)";

/// The client requests are forwarded with. With https listeners it trusts the REST truststore
/// (or this worker's own chain) and, when workers ask for client certificates, shows its own
/// keystore, as Connect's REST client does.
pub fn client(tls: Option<&RestTls>) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder().timeout(FORWARD_TIMEOUT);
    Ok(match tls {
        Some(tls) => builder
            .use_preconfigured_tls(crate::rest::tls::peer_client_config(tls)?)
            .build()?,
        None => builder.build()?,
    })
}

/// Whether a request changes the cluster (so the leader must answer it).
fn needs_leader(method: &Method, path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        (method, parts.as_slice()),
        (&Method::POST, ["connectors"])
            | (&Method::DELETE, ["connectors", _])
            | (&Method::PUT | &Method::PATCH, ["connectors", _, "config"])
            | (&Method::PUT, ["connectors", _, "pause" | "resume" | "stop"])
            | (&Method::POST, ["connectors", _, "restart"])
            | (
                &Method::PATCH | &Method::DELETE,
                ["connectors", _, "offsets"]
            )
    )
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"error_code": status.as_u16(), "message": message});
    (status, axum::Json(body)).into_response()
}

/// The `forward` query parameter, if present.
fn forward_flag(query: Option<&str>) -> Option<bool> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "forward")
        .map(|(_, v)| v.eq_ignore_ascii_case("true"))
}

/// The connector and task of `POST /connectors/{c}/tasks/{t}/restart`.
fn task_restart(method: &Method, path: &str) -> Option<(String, u32)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (&Method::POST, ["connectors", c, "tasks", t, "restart"]) => {
            Some(((*c).to_string(), t.parse().ok()?))
        }
        _ => None,
    }
}

/// Axum middleware: forwards leader-only requests when this worker is not the leader, and task
/// restarts to the worker running the task.
pub async fn to_leader(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Herder::Distributed(herder) = state.herder.as_ref() else {
        return next.run(req).await;
    };
    let forward = forward_flag(req.uri().query());
    if let Some((connector, task)) = task_restart(req.method(), req.uri().path()) {
        // The connector name arrives percent-encoded in the path.
        let connector = percent_encoding::percent_decode_str(&connector)
            .decode_utf8_lossy()
            .into_owned();
        return match herder.task_owner_url(&connector, task).await {
            Some(owner) if forward.is_none() => {
                send(&state.forward_client, &owner, req, false).await
            }
            _ => next.run(req).await,
        };
    }
    if !needs_leader(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let leadership = herder.leadership();
    if leadership.is_leader {
        return next.run(req).await;
    }
    if forward == Some(false) {
        return error(StatusCode::CONFLICT, TOO_MANY_HOPS);
    }
    let Some(leader) = leadership.leader_url else {
        return error(StatusCode::CONFLICT, NO_LEADER);
    };
    send(&state.forward_client, &leader, req, forward.is_none()).await
}

/// Sends `req` to the worker at `base` with `forward=<next_flag>`, and returns its answer.
async fn send(client: &reqwest::Client, base: &str, req: Request, next_flag: bool) -> Response {
    let query: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("forward="))
        .collect();
    let mut url = format!("{}{}", base.trim_end_matches('/'), req.uri().path());
    url.push('?');
    for q in query {
        url.push_str(q);
        url.push('&');
    }
    url.push_str(&format!("forward={next_flag}"));
    let method = req.method().clone();
    let passed: Vec<_> = [header::CONTENT_TYPE, header::AUTHORIZATION]
        .into_iter()
        .filter_map(|h| Some((h.clone(), req.headers().get(&h)?.clone())))
        .collect();
    let body = match to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let mut fwd = client.request(method, &url).body(body);
    for (name, value) in passed {
        fwd = fwd.header(name, value);
    }
    let resp = match fwd.send().await {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("forwarding the request to the worker at {base} failed: {e}"),
            );
        }
    };
    let mut out = Response::builder().status(resp.status());
    for h in [header::CONTENT_TYPE, header::LOCATION] {
        if let Some(v) = resp.headers().get(&h) {
            out = out.header(h, v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    out.body(Body::from(bytes))
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_the_leader_and_reads_do_not() {
        assert!(needs_leader(&Method::POST, "/connectors"));
        assert!(needs_leader(&Method::PUT, "/connectors/a/pause"));
        assert!(needs_leader(&Method::DELETE, "/connectors/a"));
        assert!(!needs_leader(&Method::GET, "/connectors/a/status"));
        assert!(!needs_leader(
            &Method::POST,
            "/connectors/a/tasks/0/restart"
        ));
        assert_eq!(
            task_restart(&Method::POST, "/connectors/a%2Fb/tasks/3/restart"),
            Some(("a%2Fb".to_string(), 3))
        );
        assert_eq!(
            task_restart(&Method::GET, "/connectors/a/tasks/3/status"),
            None
        );
        assert_eq!(
            forward_flag(Some("expand=status&forward=false")),
            Some(false)
        );
        assert_eq!(forward_flag(None), None);
    }
}
