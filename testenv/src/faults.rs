//! Faults on demand between a process under test and a real server, through toxiproxy's HTTP
//! API: a [`Proxy`] forwards a loopback port to the server until a test cuts it, slows it or
//! resets its connections.

use serde_json::{Value, json};
use std::time::Duration;

/// Timeout of one call to toxiproxy's API (it answers on loopback in milliseconds).
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a proxy could not be set up or changed.
#[derive(Debug, thiserror::Error)]
#[error("toxiproxy {action}: {message}")]
pub struct FaultError {
    /// What was asked, e.g. `create proxy s3-1`.
    pub action: String,
    /// The HTTP error or toxiproxy's answer.
    pub message: String,
}

/// The toxiproxy server of the test environment (see [`crate::toxiproxy`]).
#[derive(Debug, Clone)]
pub struct Toxiproxy {
    /// API base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

/// One proxied connection path: clients connect to [`Proxy::listen`], toxiproxy forwards to
/// the upstream server.
#[derive(Debug, Clone)]
pub struct Proxy {
    api: String,
    /// The proxy's name in toxiproxy (unique per test).
    pub name: String,
    /// `127.0.0.1:<port>` to point the client at instead of the server.
    pub listen: String,
}

async fn call(
    method: reqwest::Method,
    url: &str,
    body: Value,
    action: &str,
) -> Result<Value, FaultError> {
    let err = |message: String| FaultError {
        action: action.to_string(),
        message,
    };
    let resp = reqwest::Client::new()
        .request(method, url)
        .timeout(API_TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| err(e.to_string()))?;
    if !status.is_success() {
        return Err(err(format!("{status}: {text}")));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Toxiproxy {
    /// Creates a proxy named `name` on a free loopback port forwarding to `upstream`
    /// (`host:port`).
    pub async fn proxy(&self, name: &str, upstream: &str) -> Result<Proxy, FaultError> {
        self.proxy_at(name, "127.0.0.1:0", upstream).await
    }

    /// Creates a proxy named `name` listening on `listen` (`host:port`, e.g. an address a Kafka
    /// listener advertises) forwarding to `upstream`; a proxy an earlier test left on that
    /// address is deleted first.
    pub async fn proxy_at(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<Proxy, FaultError> {
        if listen != "127.0.0.1:0" {
            let existing = call(
                reqwest::Method::GET,
                &format!("{}/proxies", self.url),
                Value::Null,
                "list proxies",
            )
            .await?;
            let taken = existing.as_object().into_iter().flatten();
            for (old, p) in taken.filter(|(_, p)| p["listen"] == listen) {
                call(
                    reqwest::Method::DELETE,
                    &format!("{}/proxies/{old}", self.url),
                    Value::Null,
                    &format!("delete proxy {old} on {}", p["listen"]),
                )
                .await?;
            }
        }
        let action = format!("create proxy {name}");
        let created = call(
            reqwest::Method::POST,
            &format!("{}/proxies", self.url),
            json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true}),
            &action,
        )
        .await?;
        let listen = created["listen"]
            .as_str()
            .ok_or_else(|| FaultError {
                action,
                message: format!("no listen address in {created}"),
            })?
            .to_string();
        Ok(Proxy {
            api: format!("{}/proxies/{name}", self.url),
            name: name.to_string(),
            listen,
        })
    }
}

impl Proxy {
    /// `http://<listen>`: the proxied address as an HTTP endpoint.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// Takes the server down (`false`: open connections are cut and new ones refused) or brings
    /// it back (`true`).
    pub async fn set_enabled(&self, enabled: bool) -> Result<(), FaultError> {
        call(
            reqwest::Method::POST,
            &self.api,
            json!({"enabled": enabled}),
            &format!("set {} enabled={enabled}", self.name),
        )
        .await
        .map(drop)
    }

    /// Adds a toxic, e.g. `("latency", "downstream", json!({"latency": 500}))` or
    /// `("reset_peer", "upstream", json!({"timeout": 100}))`; named `name` to remove it later.
    pub async fn add_toxic(
        &self,
        name: &str,
        kind: &str,
        stream: &str,
        attributes: Value,
    ) -> Result<(), FaultError> {
        call(
            reqwest::Method::POST,
            &format!("{}/toxics", self.api),
            json!({"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}),
            &format!("add toxic {name} to {}", self.name),
        )
        .await
        .map(drop)
    }

    /// Removes the toxic `name`.
    pub async fn remove_toxic(&self, name: &str) -> Result<(), FaultError> {
        call(
            reqwest::Method::DELETE,
            &format!("{}/toxics/{name}", self.api),
            Value::Null,
            &format!("remove toxic {name} from {}", self.name),
        )
        .await
        .map(drop)
    }
}
