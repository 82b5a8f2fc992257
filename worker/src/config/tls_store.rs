//! Certificate stores as Kafka's `ssl.keystore.*` / `ssl.truststore.*` settings name them (PEM
//! files, PKCS12 files, PEM text in the properties), read into what rustls takes. PKCS12 is read
//! with the openssl crate, whose libssl rdkafka already links.

use super::ConfigError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::PathBuf;

/// Where a certificate store comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Store {
    /// A PEM file (`ssl.*.type=PEM`): certificates, and for a keystore its private key.
    PemFile(PathBuf),
    /// A PKCS12 file and its password.
    Pkcs12 { path: PathBuf, password: String },
    /// PEM text in the properties (`ssl.keystore.key` + `ssl.keystore.certificate.chain`, or
    /// `ssl.truststore.certificates`); `key` is empty for a truststore.
    Inline { certificates: String, key: String },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::PemFile(p) => write!(f, "PemFile({})", p.display()),
            Store::Pkcs12 { path, .. } => {
                write!(f, "Pkcs12({}, password [hidden])", path.display())
            }
            Store::Inline { .. } => write!(f, "Inline([hidden])"),
        }
    }
}

/// Certificates and, for a keystore, the private key read from a store.
pub struct Loaded {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: Option<PrivateKeyDer<'static>>,
}

/// A setting whose store cannot be used, and why.
pub fn invalid(key: String, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::invalid(key, message.to_string())
}

/// Reads a store; `key_name` is the setting named in errors (`ssl.keystore.location`, ...).
pub fn load(store: &Store, key_name: &str) -> Result<Loaded, ConfigError> {
    match store {
        Store::PemFile(path) => {
            let pem = std::fs::read(path).map_err(|source| ConfigError::Read {
                path: format!("{} ({key_name})", path.display()),
                source,
            })?;
            pem_store(&pem, &pem, key_name)
        }
        Store::Inline { certificates, key } => {
            pem_store(certificates.as_bytes(), key.as_bytes(), key_name)
        }
        Store::Pkcs12 { path, password } => {
            let der = std::fs::read(path).map_err(|source| ConfigError::Read {
                path: format!("{} ({key_name})", path.display()),
                source,
            })?;
            let parsed = openssl::pkcs12::Pkcs12::from_der(&der)
                .and_then(|p| p.parse2(password))
                .map_err(|e| {
                    invalid(
                        key_name.into(),
                        format!(
                            "{} cannot be opened as a PKCS12 store with the password given \
                             ({e}). Check the password; a JKS store needs converting (keytool \
                             -importkeystore -deststoretype PKCS12); a store with old RC2 \
                             encryption needs re-exporting (openssl pkcs12 -legacy, then \
                             -export without -legacy); or use a PEM store",
                            path.display()
                        ),
                    )
                })?;
            let mut certs = Vec::new();
            let leaf = parsed.cert.iter().map(|c| &**c);
            for cert in leaf.chain(parsed.ca.iter().flatten()) {
                let der = cert.to_der().map_err(|e| invalid(key_name.into(), e))?;
                certs.push(CertificateDer::from(der));
            }
            let key = match parsed.pkey {
                Some(k) => Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    k.private_key_to_pkcs8()
                        .map_err(|e| invalid(key_name.into(), e))?,
                ))),
                None => None,
            };
            Ok(Loaded { certs, key })
        }
    }
}

/// A store's certificates as PEM text, for librdkafka's `ssl.ca.pem`.
pub fn certificates_pem(store: &Store, key_name: &str) -> Result<String, ConfigError> {
    let mut pem = String::new();
    for der in load(store, key_name)?.certs {
        let cert = openssl::x509::X509::from_der(&der)
            .and_then(|c| c.to_pem())
            .map_err(|e| invalid(key_name.into(), e))?;
        pem.push_str(&String::from_utf8_lossy(&cert));
    }
    if pem.is_empty() {
        return Err(invalid(
            key_name.into(),
            "the store holds no certificate to trust",
        ));
    }
    Ok(pem)
}

fn pem_store(certs: &[u8], key: &[u8], key_name: &str) -> Result<Loaded, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                key_name.into(),
                format!("cannot read its PEM certificates: {e}"),
            )
        })?;
    let key = if key.is_empty() {
        None
    } else {
        PrivateKeyDer::from_pem_slice(key).ok()
    };
    Ok(Loaded { certs, key })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509, X509NameBuilder};

    /// A PKCS12 file with a self-signed certificate and its key, under `password`.
    pub(crate) fn pkcs12_file(dir: &std::path::Path, password: &str) -> PathBuf {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "skiff-test").unwrap();
        let name = name.build();
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        let p12 = openssl::pkcs12::Pkcs12::builder()
            .name("skiff-test")
            .pkey(&key)
            .cert(&cert.build())
            .build2(password)
            .unwrap();
        let path = dir.join("store.p12");
        std::fs::write(&path, p12.to_der().unwrap()).unwrap();
        path
    }

    #[test]
    fn a_pkcs12_store_gives_its_chain_and_key_and_a_wrong_password_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = pkcs12_file(dir.path(), "right-pw");
        let store = |password: &str| Store::Pkcs12 {
            path: path.clone(),
            password: password.into(),
        };
        let loaded = load(&store("right-pw"), "ssl.keystore.location").unwrap();
        assert_eq!(loaded.certs.len(), 1);
        assert!(loaded.key.is_some());
        let e = load(&store("wrong-pw"), "listeners.https.ssl.keystore.location")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("listeners.https.ssl.keystore.location"), "{e}");
        assert!(!e.contains("wrong-pw") && !e.contains("right-pw"), "{e}");
        let e = load(
            &Store::PemFile(dir.path().join("missing.pem")),
            "ssl.truststore.location",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("ssl.truststore.location"), "{e}");
    }
}
