//! HTTPS for the REST API: a rustls server configuration from the listener's keystore and
//! truststore (PEM or PKCS12, as Connect's `ssl.keystore.*` / `ssl.truststore.*` name them),
//! and a listener that hands axum only connections whose TLS handshake finished. Each handshake
//! runs on its own task with a time limit, so a slow or silent client delays no one.
//!
//! axum's `Listener` trait and tokio-rustls (already used for the group connection) make this a
//! few dozen lines; a server crate such as axum-server would replace `axum::serve` and its
//! graceful shutdown for the same result.

use crate::config::ConfigError;
use crate::config::rest::{ClientAuth, RestTls, TlsVersion};
use crate::config::tls_store::{Store, invalid, load};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::debug;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for axum to take them.
const ACCEPTED_QUEUE: usize = 64;

/// The rustls configuration of the https listeners.
pub fn server_config(tls: &RestTls) -> Result<ServerConfig, ConfigError> {
    let p = tls.prefix;
    let keystore_key = format!("{p}ssl.keystore.location");
    let keystore = load(&tls.keystore, &keystore_key)?;
    if keystore.certs.is_empty() {
        return Err(invalid(keystore_key, "holds no certificate"));
    }
    let key = keystore.key.ok_or_else(|| {
        invalid(
            keystore_key.clone(),
            "holds no private key Skiff can read: give an unencrypted PEM key (PKCS#8, PKCS#1 \
             or SEC1) or a PKCS12 store with its key",
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(tls))
        .map_err(|e| invalid(keystore_key.clone(), e))?;
    let builder = match (tls.client_auth, &tls.truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(store)) => {
            let truststore_key = format!("{p}ssl.truststore.location");
            let roots = roots(store, &truststore_key)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|e| invalid(truststore_key, e))?,
            )
        }
    };
    let mut config = builder.with_single_cert(keystore.certs, key).map_err(|e| {
        invalid(
            keystore_key,
            format!("the key does not fit the certificate: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn roots(store: &Store, key_name: &str) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in load(store, key_name)?.certs {
        roots.add(cert).map_err(|e| invalid(key_name.into(), e))?;
    }
    if roots.is_empty() {
        return Err(invalid(key_name.into(), "holds no certificate"));
    }
    Ok(roots)
}

/// The TLS a worker forwards requests to other workers with: it trusts the truststore's
/// certificates, or else its own chain (workers of one cluster usually share a certificate),
/// and shows its keystore when the workers ask for client certificates.
pub fn peer_client_config(tls: &RestTls) -> Result<rustls::ClientConfig, ConfigError> {
    let p = tls.prefix;
    let keystore_key = format!("{p}ssl.keystore.location");
    let roots = match &tls.truststore {
        Some(store) => roots(store, &format!("{p}ssl.truststore.location"))?,
        None => roots(&tls.keystore, &keystore_key)?,
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&versions(tls))
    .map_err(|e| invalid(keystore_key.clone(), e))?
    .with_root_certificates(roots);
    if tls.client_auth == ClientAuth::None {
        return Ok(builder.with_no_client_auth());
    }
    let keystore = load(&tls.keystore, &keystore_key)?;
    let key = keystore
        .key
        .ok_or_else(|| invalid(keystore_key.clone(), "holds no private key"))?;
    builder
        .with_client_auth_cert(keystore.certs, key)
        .map_err(|e| invalid(keystore_key, e))
}

/// The TLS versions `ssl.enabled.protocols` allows.
fn versions(tls: &RestTls) -> Vec<&'static rustls::SupportedProtocolVersion> {
    tls.protocols
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect()
}

/// A TCP listener whose connections come out with their TLS handshake done.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; stops when the listener is dropped.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    r = tcp.accept() => match r {
                        Ok(c) => c,
                        Err(e) => {
                            // Out of file descriptors and the like: wait, as axum's own loop does.
                            debug!("accepting a connection failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { accepted, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(c) => c,
            // The accept task ends only once this listener is gone; wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
