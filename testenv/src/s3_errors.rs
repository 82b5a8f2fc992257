//! S3 error responses on demand: an HTTP proxy in the test process between the worker and the
//! real S3 server that forwards every request untouched (signatures stay valid: the `Host`
//! header goes along) until a test asks it to answer some of them with the errors real S3
//! returns under load (`503 SlowDown`, `500 InternalError`), either instead of the server or
//! after the server did the work (the response is lost, the write happened). toxiproxy works on
//! TCP and cannot make these.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest request or response body the proxy carries (test objects are far smaller).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Timeout of one forwarded request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// What the proxy does to the requests it picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Fault {
    /// `503 SlowDown` instead of forwarding: S3 throttling the caller.
    SlowDown,
    /// `500 InternalError` instead of forwarding.
    InternalError,
    /// Forwards the request, then answers `500 InternalError`: the server did the work (an
    /// object may be written) but the caller never hears of it.
    LostResponse,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    fault: S3Fault,
    /// Out of every 100 requests, how many get the fault (spread evenly, not in a burst).
    percent: u64,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    plan: Mutex<Option<Plan>>,
    seen: AtomicU64,
    injected: AtomicU64,
}

/// A running proxy; it stops when dropped.
pub struct S3ErrorProxy {
    /// The endpoint to give the client instead of the server's: `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3ErrorProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3ErrorProxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`), forwarding everything.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let client = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            plan: Mutex::new(None),
            seen: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(S3ErrorProxy { url, shared, task })
    }

    /// From now on, `percent` of the requests (100: all) get `fault`.
    pub fn inject(&self, fault: S3Fault, percent: u64) {
        *self.plan() = Some(Plan {
            fault,
            percent: percent.min(100),
        });
    }

    /// Forwards everything again.
    pub fn heal(&self) {
        *self.plan() = None;
    }

    /// How many requests got a fault so far.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Option<Plan>> {
        self.shared
            .plan
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The error document S3 sends with a status.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>skiff-fault</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Hop-by-hop headers, and a request's length, which the client sets itself. A response keeps
/// its length: a HEAD answer has none of the body it describes.
fn carried(name: &HeaderName, request: bool) -> bool {
    let own = [header::CONNECTION, header::TRANSFER_ENCODING];
    let length = request && name == header::CONTENT_LENGTH;
    !(own.contains(name) || length)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let n = shared.seen.fetch_add(1, Ordering::Relaxed);
    let plan = *shared
        .plan
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // 37 is prime to 100: request n falls in slot (37 n mod 100), so the picked requests
    // spread over every hundred instead of coming in a row.
    let fault = plan.filter(|p| (n * 37) % 100 < p.percent).map(|p| p.fault);
    match fault {
        Some(S3Fault::SlowDown) => {
            shared.injected.fetch_add(1, Ordering::Relaxed);
            return s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            );
        }
        Some(S3Fault::InternalError) => {
            shared.injected.fetch_add(1, Ordering::Relaxed);
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            );
        }
        Some(S3Fault::LostResponse) | None => {}
    }
    let forwarded = forward(&shared, req).await;
    if fault == Some(S3Fault::LostResponse) {
        shared.injected.fetch_add(1, Ordering::Relaxed);
        return s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        );
    }
    forwarded
}

async fn forward(shared: &Shared, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return s3_error(StatusCode::BAD_REQUEST, "IncompleteBody", &e.to_string()),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if carried(name, true) {
            headers.append(name.clone(), value.clone());
        }
    }
    let sent = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return s3_error(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string()),
    };
    let mut out = Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        if carried(name, false) {
            out = out.header(name, value);
        }
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return s3_error(StatusCode::BAD_GATEWAY, "ProxyError", &e.to_string()),
    };
    out.body(Body::from(bytes)).unwrap_or_default()
}
