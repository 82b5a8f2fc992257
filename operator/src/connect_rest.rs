//! A client of the Kafka Connect REST API (Skiff or Apache workers): every call has a timeout,
//! and 409 (rebalance in progress), 5xx and connection failures are retried a bounded number of
//! times with growing delays.

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use skiff_api::rest::{ConnectorConfig, ConnectorStateInfo, ErrorBody, PluginInfo};
use std::collections::BTreeMap;
use std::time::Duration;

/// Timeout of one HTTP request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per call, the first included.
const ATTEMPTS: u32 = 4;
/// Delay before the first retry; doubled each time.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The cluster answered with an error status; `message` is its error body's message.
    #[error("HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Connect's error message, or the raw body.
        message: String,
    },
    /// The request did not complete (connection refused, timeout, an untrusted certificate,
    /// ...); the message carries every cause, which reqwest leaves out of its own.
    #[error("request failed: {}", causes(.0))]
    Transport(#[from] reqwest::Error),
    /// The body was not what the API documents.
    #[error("unexpected response body: {0}")]
    Decode(#[from] serde_json::Error),
}

/// An error and its sources, `a: b: c`.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl RestError {
    /// The HTTP status, when the cluster answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The HTTP client shared by all calls (connection pool, timeouts).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    http_client_trusting(None)
}

/// An HTTP client with the shared timeouts that also trusts the PEM certificates `ca_pem`
/// (a cluster whose REST API serves https with its own CA).
pub fn http_client_trusting(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5));
    if let Some(pem) = ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

/// HTTP basic-auth credentials; the password stays out of `Debug` output.
#[derive(Clone)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicAuth({}, password [hidden])", self.username)
    }
}

/// The REST API of one Connect cluster.
#[derive(Debug, Clone)]
pub struct ConnectRest {
    http: reqwest::Client,
    base: String,
    auth: Option<BasicAuth>,
}

/// Path segment escaping for connector names.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ConnectRest {
    /// A client for the cluster whose REST API is at `base` (`http://host:8083`).
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            auth: None,
        }
    }

    /// The same client, sending these credentials with every call.
    pub fn with_basic_auth(mut self, auth: BasicAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Sends a request, retrying transient failures; returns the status and body of the final
    /// answer, or an error for statuses of 400 and above.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, String), RestError> {
        let url = format!("{}{path}", self.base);
        let mut delay = FIRST_RETRY;
        let mut attempt = 1;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            if let Some(auth) = &self.auth {
                request = request.basic_auth(&auth.username, Some(&auth.password));
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await?;
                    if status.is_client_error() || status.is_server_error() {
                        Err(RestError::Status {
                            status: status.as_u16(),
                            message: error_message(&text),
                        })
                    } else {
                        Ok((status, text))
                    }
                }
                Err(e) => Err(RestError::Transport(e)),
            };
            let retry = match &outcome {
                Err(RestError::Status { status, .. }) => *status == 409 || *status >= 500,
                Err(RestError::Transport(_)) => true,
                _ => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome;
            }
            tracing::debug!(%url, attempt, "retrying Connect REST call");
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        let (_, body) = self.send::<()>(Method::GET, path, None).await?;
        Ok(serde_json::from_str(&body)?)
    }

    /// `GET /connector-plugins`.
    pub async fn plugins(&self) -> Result<Vec<PluginInfo>, RestError> {
        self.get("/connector-plugins").await
    }

    /// `GET /connectors`: the names of every connector on the cluster.
    pub async fn connectors(&self) -> Result<Vec<String>, RestError> {
        self.get("/connectors").await
    }

    /// `GET /connectors/{c}/config`; `None` when the connector does not exist.
    pub async fn connector_config(&self, name: &str) -> Result<Option<ConnectorConfig>, RestError> {
        not_found_as_none(self.get(&format!("/connectors/{}/config", seg(name))).await)
    }

    /// `PUT /connectors/{c}/config`: creates or updates the connector.
    pub async fn put_connector_config(
        &self,
        name: &str,
        config: &ConnectorConfig,
    ) -> Result<(), RestError> {
        self.send(
            Method::PUT,
            &format!("/connectors/{}/config", seg(name)),
            Some(config),
        )
        .await?;
        Ok(())
    }

    /// `GET /connectors/{c}/status`; `None` when the connector does not exist.
    pub async fn status(&self, name: &str) -> Result<Option<ConnectorStateInfo>, RestError> {
        not_found_as_none(self.get(&format!("/connectors/{}/status", seg(name))).await)
    }

    /// `GET /connectors/{c}/topics`; empty when the cluster does not track topics.
    pub async fn topics(&self, name: &str) -> Result<Vec<String>, RestError> {
        let result: Result<BTreeMap<String, BTreeMap<String, Vec<String>>>, _> =
            self.get(&format!("/connectors/{}/topics", seg(name))).await;
        match result {
            Ok(mut map) => Ok(map
                .remove(name)
                .and_then(|mut m| m.remove("topics"))
                .unwrap_or_default()),
            Err(e) if matches!(e.status(), Some(403 | 404)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Skiff's `GET /connectors/{c}/progress`; `None` when the cluster does not serve it
    /// (Apache Connect answers 404).
    pub async fn progress(&self, name: &str) -> Result<Option<serde_json::Value>, RestError> {
        not_found_as_none(
            self.get(&format!("/connectors/{}/progress", seg(name)))
                .await,
        )
    }

    /// `PUT /connectors/{c}/pause|resume|stop`.
    pub async fn set_state(&self, name: &str, verb: &str) -> Result<(), RestError> {
        self.send::<()>(
            Method::PUT,
            &format!("/connectors/{}/{verb}", seg(name)),
            None,
        )
        .await?;
        Ok(())
    }

    /// `POST /connectors/{c}/restart?includeTasks=..&onlyFailed=..`.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<(), RestError> {
        let path = format!(
            "/connectors/{}/restart?includeTasks={include_tasks}&onlyFailed={only_failed}",
            seg(name)
        );
        self.send::<()>(Method::POST, &path, None).await?;
        Ok(())
    }

    /// `POST /connectors/{c}/tasks/{t}/restart`.
    pub async fn restart_task(&self, name: &str, task: u32) -> Result<(), RestError> {
        let path = format!("/connectors/{}/tasks/{task}/restart", seg(name));
        self.send::<()>(Method::POST, &path, None).await?;
        Ok(())
    }

    /// `GET /connectors/{c}/offsets`: `{"offsets": [{"partition": ..., "offset": ...}]}`.
    pub async fn offsets(&self, name: &str) -> Result<serde_json::Value, RestError> {
        self.get(&format!("/connectors/{}/offsets", seg(name)))
            .await
    }

    /// `PATCH /connectors/{c}/offsets` (the connector must be stopped); returns the cluster's
    /// message.
    pub async fn alter_offsets(
        &self,
        name: &str,
        offsets: &serde_json::Value,
    ) -> Result<String, RestError> {
        let path = format!("/connectors/{}/offsets", seg(name));
        let (_, body) = self.send(Method::PATCH, &path, Some(offsets)).await?;
        Ok(error_message(&body))
    }

    /// `DELETE /connectors/{c}/offsets` (the connector must be stopped); returns the cluster's
    /// message.
    pub async fn reset_offsets(&self, name: &str) -> Result<String, RestError> {
        let path = format!("/connectors/{}/offsets", seg(name));
        let (_, body) = self.send::<()>(Method::DELETE, &path, None).await?;
        Ok(error_message(&body))
    }

    /// `DELETE /connectors/{c}`; a connector that is already gone counts as deleted.
    pub async fn delete(&self, name: &str) -> Result<(), RestError> {
        match self
            .send::<()>(Method::DELETE, &format!("/connectors/{}", seg(name)), None)
            .await
        {
            Err(e) if e.status() == Some(404) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

fn not_found_as_none<T>(result: Result<T, RestError>) -> Result<Option<T>, RestError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The `message` of a Connect error or message body, or the raw text.
fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.message)
        .or_else(|_| serde_json::from_str::<MessageBody>(body).map(|b| b.message))
        .unwrap_or_else(|_| body.trim().to_owned())
}

/// The `{"message": ...}` body of Connect's offset alter and reset answers.
#[derive(serde::Deserialize)]
struct MessageBody {
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_paths() {
        assert_eq!(seg("my-conn_1.x"), "my-conn_1.x");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn error_bodies_yield_their_message() {
        assert_eq!(
            error_message(r#"{"error_code":400,"message":"bad"}"#),
            "bad"
        );
        assert_eq!(error_message(" plain \n"), "plain");
        assert_eq!(
            error_message(
                r#"{"message":"The offsets for this connector have been reset successfully"}"#
            ),
            "The offsets for this connector have been reset successfully"
        );
    }
}
