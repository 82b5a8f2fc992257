//! TLS and SASL for the group connection, from the same translated client settings the worker's
//! librdkafka clients use (`security.protocol`, `ssl.truststore.*`, `ssl.keystore.*` as PEM or PKCS12,
//! `sasl.mechanism`, `sasl.jaas.config`), so a worker that can reach its internal topics can also
//! join its group. TLS is rustls; SASL is PLAIN or SCRAM-SHA-256/512 through SaslHandshake and
//! SaslAuthenticate, as Kafka's own clients speak it.

use super::DistributedError;
use super::group::Connection;
use super::scram::{ScramClient, ScramHash};
use crate::config::tls_store::{Loaded, Store, load};
use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rand::Rng;
use rand::distr::Alphanumeric;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

const HANDSHAKE_VERSION: i16 = 1;
const AUTHENTICATE_VERSION: i16 = 2;
/// How long one SASL round trip may take.
const SASL_TIMEOUT: Duration = Duration::from_secs(10);

/// The SASL mechanisms the group connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN`: user name and password in one message (use it over TLS only).
    Plain,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    Scram(ScramHash),
}

impl Mechanism {
    fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(ScramHash::Sha256) => "SCRAM-SHA-256",
            Mechanism::Scram(ScramHash::Sha512) => "SCRAM-SHA-512",
        }
    }
}

/// SASL credentials; the password never reaches `Debug` output.
#[derive(Clone)]
pub struct SaslSettings {
    mechanism: Mechanism,
    username: String,
    password: String,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How the group connection reaches the brokers.
#[derive(Clone, Default)]
pub struct GroupSecurity {
    tls: Option<TlsConnector>,
    sasl: Option<SaslSettings>,
}

impl std::fmt::Debug for GroupSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

fn config(e: impl std::fmt::Display) -> DistributedError {
    DistributedError::Config(e.to_string())
}

impl GroupSecurity {
    /// Reads the librdkafka settings the worker's own clients were given.
    pub fn from_client_settings(s: &BTreeMap<String, String>) -> Result<Self, DistributedError> {
        let protocol = s
            .get("security.protocol")
            .map_or("PLAINTEXT".to_owned(), |p| p.trim().to_ascii_uppercase());
        let (tls, sasl) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(config(format!(
                    "security.protocol={other}: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                )));
            }
        };
        Ok(GroupSecurity {
            tls: tls.then(|| tls_connector(s)).transpose()?,
            sasl: sasl.then(|| sasl_settings(s)).transpose()?,
        })
    }

    /// Whether TLS or SASL is configured.
    pub fn is_secured(&self) -> bool {
        self.tls.is_some() || self.sasl.is_some()
    }

    /// Wraps a connected socket in TLS when configured.
    pub async fn wrap(&self, tcp: TcpStream, host: &str) -> Result<Stream, DistributedError> {
        let Some(tls) = &self.tls else {
            return Ok(Either::Left(tcp));
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| DistributedError::Group(format!("TLS server name {host}: {e}")))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| DistributedError::Group(format!("TLS handshake with {host}: {e}")))?;
        Ok(Either::Right(Box::new(stream)))
    }

    /// Logs in over a fresh connection when SASL is configured.
    pub async fn authenticate(&self, conn: &mut Connection) -> Result<(), DistributedError> {
        let Some(sasl) = &self.sasl else {
            return Ok(());
        };
        let mechanism = sasl.mechanism.name();
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let r = conn
            .call(&handshake, HANDSHAKE_VERSION, SASL_TIMEOUT)
            .await?;
        if r.error_code != 0 {
            let offered: Vec<&str> = r.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(DistributedError::Group(format!(
                "the broker does not accept SASL mechanism {mechanism} (it offers {}): fix sasl.mechanism",
                offered.join(", ")
            )));
        }
        match sasl.mechanism {
            Mechanism::Plain => {
                let token = format!("\0{}\0{}", sasl.username, sasl.password);
                round(conn, token.into_bytes()).await?;
            }
            Mechanism::Scram(hash) => {
                let nonce: String = rand::rng()
                    .sample_iter(Alphanumeric)
                    .take(24)
                    .map(char::from)
                    .collect();
                let mut scram = ScramClient::new(hash, &sasl.username, &sasl.password, nonce);
                let server_first = round(conn, scram.client_first().into_bytes()).await?;
                let last = scram
                    .client_final(&String::from_utf8_lossy(&server_first))
                    .map_err(DistributedError::Group)?;
                let server_final = round(conn, last.into_bytes()).await?;
                scram
                    .verify_server_final(&String::from_utf8_lossy(&server_final))
                    .map_err(DistributedError::Group)?;
            }
        }
        Ok(())
    }
}

/// One SaslAuthenticate round trip; a refusal names the user and what to check.
async fn round(conn: &mut Connection, token: Vec<u8>) -> Result<Bytes, DistributedError> {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
    let r = conn
        .call(&request, AUTHENTICATE_VERSION, SASL_TIMEOUT)
        .await?;
    if r.error_code != 0 {
        let message = r.error_message.as_ref().map_or("", |m| m.as_str());
        return Err(DistributedError::Group(format!(
            "SASL authentication failed (error {}): {message}; check the user and password in sasl.jaas.config",
            r.error_code
        )));
    }
    Ok(r.auth_bytes)
}

fn sasl_settings(s: &BTreeMap<String, String>) -> Result<SaslSettings, DistributedError> {
    let mechanism = match s
        .get("sasl.mechanisms")
        .map_or("GSSAPI".to_owned(), |m| m.trim().to_ascii_uppercase())
        .as_str()
    {
        "PLAIN" => Mechanism::Plain,
        "SCRAM-SHA-256" => Mechanism::Scram(ScramHash::Sha256),
        "SCRAM-SHA-512" => Mechanism::Scram(ScramHash::Sha512),
        other => {
            return Err(config(format!(
                "sasl.mechanism={other}: distributed mode joins its group with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
            )));
        }
    };
    let get = |k: &str| {
        s.get(k).cloned().ok_or_else(|| {
            config("SASL needs sasl.jaas.config with username=\"...\" password=\"...\"")
        })
    };
    Ok(SaslSettings {
        mechanism,
        username: get("sasl.username")?,
        password: get("sasl.password")?,
    })
}

fn tls_connector(s: &BTreeMap<String, String>) -> Result<TlsConnector, DistributedError> {
    let mut roots = RootCertStore::empty();
    let cas: Vec<CertificateDer<'static>> = if let Some(path) = s.get("ssl.ca.location") {
        CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| config(format!("ssl.truststore.location {path}: {e}")))?
    } else if let Some(pem) = s.get("ssl.ca.pem") {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| config(format!("ssl.truststore.certificates: {e}")))?
    } else {
        // The system store may hold certificates rustls cannot use; skip those.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Vec::new()
    };
    for ca in cas {
        roots
            .add(ca)
            .map_err(|e| config(format!("ssl.truststore: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(config)?;
    let verify_names = s
        .get("ssl.endpoint.identification.algorithm")
        .is_none_or(|v| v != "none");
    let roots = Arc::new(roots);
    let builder = if verify_names {
        builder.with_root_certificates(roots)
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(config)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
    };
    let (chain, key) = match pkcs12_keystore(s)? {
        Some(p12) => {
            let key = p12.key.ok_or_else(|| {
                config("ssl.keystore.location: the PKCS12 keystore holds no private key")
            })?;
            (Some(p12.certs), Some(key))
        }
        None => (client_chain(s)?, client_key(s)?),
    };
    let client = match (chain, key) {
        (Some(chain), Some(key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| config(format!("ssl.keystore: {e}")))?,
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err(config(
                "ssl.keystore.certificate.chain is set without ssl.keystore.key: a client certificate needs its private key",
            ));
        }
        (None, Some(_)) => {
            return Err(config(
                "ssl.keystore.key is set without ssl.keystore.certificate.chain: a client key needs its certificate",
            ));
        }
    };
    Ok(TlsConnector::from(Arc::new(client)))
}

/// A PKCS12 client keystore (librdkafka's `ssl.keystore.location`): its chain and key.
fn pkcs12_keystore(s: &BTreeMap<String, String>) -> Result<Option<Loaded>, DistributedError> {
    let Some(path) = s.get("ssl.keystore.location") else {
        return Ok(None);
    };
    let store = Store::Pkcs12 {
        path: path.into(),
        password: s.get("ssl.keystore.password").cloned().unwrap_or_default(),
    };
    load(&store, "ssl.keystore.location")
        .map(Some)
        .map_err(config)
}

fn client_chain(
    s: &BTreeMap<String, String>,
) -> Result<Option<Vec<CertificateDer<'static>>>, DistributedError> {
    let read = |r: Result<Vec<_>, _>, key: &str| r.map_err(|e| config(format!("{key}: {e}")));
    if let Some(path) = s.get("ssl.certificate.location") {
        let certs = CertificateDer::pem_file_iter(path).and_then(|c| c.collect());
        return read(certs, "ssl.keystore.location").map(Some);
    }
    if let Some(pem) = s.get("ssl.certificate.pem") {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
        return read(certs, "ssl.keystore.certificate.chain").map(Some);
    }
    Ok(None)
}

fn client_key(
    s: &BTreeMap<String, String>,
) -> Result<Option<PrivateKeyDer<'static>>, DistributedError> {
    if let Some(path) = s.get("ssl.key.location") {
        return PrivateKeyDer::from_pem_file(path).map(Some).map_err(|e| {
            config(format!(
                "ssl.keystore.location (an unencrypted PEM key): {e}"
            ))
        });
    }
    if let Some(pem) = s.get("ssl.key.pem") {
        return PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map(Some)
            .map_err(|e| config(format!("ssl.keystore.key (an unencrypted PEM key): {e}")));
    }
    Ok(None)
}

/// Checks the certificate chain but not the host name (`ssl.endpoint.identification.algorithm=`
/// empty, as in Kafka).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The group connection's byte stream: plain TCP (`PLAINTEXT`, `SASL_PLAINTEXT`) or TLS over
/// it (`SSL`, `SASL_SSL`).
pub type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plaintext_needs_nothing_and_sasl_needs_credentials() {
        let plain = GroupSecurity::from_client_settings(&settings(&[])).unwrap();
        assert!(plain.tls.is_none() && plain.sasl.is_none());
        let e = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("sasl.jaas.config"), "{e}");
        let e = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "OAUTHBEARER"),
        ]))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            "{e}"
        );
    }

    #[test]
    fn the_password_stays_out_of_debug_output() {
        let s = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", "s3cr3t-pw"),
        ]))
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            shown.contains("alice") && !shown.contains("s3cr3t-pw"),
            "{shown}"
        );
    }

    #[test]
    fn a_pkcs12_client_keystore_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p12 = crate::config::tls_store::tests::pkcs12_file(dir.path(), "p12-pw");
        let p12 = p12.display().to_string();
        GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", &p12),
            ("ssl.keystore.password", "p12-pw"),
        ]))
        .unwrap();
        let e = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", &p12),
            ("ssl.keystore.password", "wrong-pw"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ssl.keystore.location") && !e.contains("wrong-pw"),
            "{e}"
        );
    }

    #[test]
    fn tls_files_that_cannot_be_read_name_their_key() {
        let e = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/does/not/exist.pem"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("ssl.truststore.location"), "{e}");
        let e = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", "/does/not/exist.p12"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("ssl.keystore.location"), "{e}");
        let e = GroupSecurity::from_client_settings(&settings(&[
            ("security.protocol", "SSL"),
            (
                "ssl.certificate.pem",
                "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            ),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("without ssl.keystore.key"), "{e}");
    }
}
