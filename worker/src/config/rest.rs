//! The REST server's own settings, with Apache Kafka Connect's keys: its listeners
//! (`listeners=http://host:port,https://host:port`), the TLS of the https ones
//! (`listeners.https.ssl.*`, or the worker's `ssl.*` when no key carries that prefix, as in
//! Connect), and basic authentication (Connect's `BasicAuthSecurityRestExtension` and the
//! credentials file its `PropertyFileLoginModule` reads).

use super::ConfigError;
use super::properties::Properties;
pub use super::tls_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The class name Apache Connect users list in `rest.extension.classes` for basic auth.
pub const BASIC_AUTH_EXTENSION: &str =
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension";
/// Skiff's key for the credentials file (`user: password` lines).
pub const CREDENTIALS_FILE_KEY: &str = "rest.basic.auth.credentials.file";
/// Skiff's keys for one user given in the properties (with config-provider references, a
/// Kubernetes Secret mounted as files): what the operator sets.
pub const USERNAME_KEY: &str = "rest.basic.auth.username";
/// The password of [`USERNAME_KEY`]'s user.
pub const PASSWORD_KEY: &str = "rest.basic.auth.password";
/// The prefix of the https listener's own TLS keys.
const HTTPS_PREFIX: &str = "listeners.https.";

/// One REST listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestListener {
    /// Serves https (else http).
    pub https: bool,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl RestListener {
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// Whether https clients must show a certificate (`ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Clients are not asked for a certificate.
    None,
    /// A certificate is checked when given; clients without one get in too.
    Requested,
    /// Clients without a valid certificate are refused.
    Required,
}

/// A TLS version `ssl.enabled.protocols` may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

/// One basic-auth user; the password stays out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicUser {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicUser({}, password [hidden])", self.username)
    }
}

/// TLS settings of the https listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTls {
    /// The key and certificate chain the server presents.
    pub keystore: Store,
    /// Certificates that client certificates (and other workers, when forwarding) are checked
    /// against; `None`: the system's roots.
    pub truststore: Option<Store>,
    /// Whether clients must show a certificate.
    pub client_auth: ClientAuth,
    /// The TLS versions served (`ssl.enabled.protocols`; both by default).
    pub protocols: Vec<TlsVersion>,
    /// The key prefix the settings were read with (`listeners.https.` or empty), for messages.
    pub prefix: &'static str,
}

/// Everything the REST server needs besides its routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestSettings {
    /// Every listener, in the order given; the first one of the advertised scheme is this
    /// worker's address.
    pub listeners: Vec<RestListener>,
    /// TLS of the https listeners, when there is one.
    pub tls: Option<RestTls>,
    /// The basic-auth credentials file, when requests must authenticate.
    pub credentials_file: Option<PathBuf>,
    /// A basic-auth user given in the properties; with or without a file, requests must then
    /// authenticate.
    pub user: Option<BasicUser>,
    /// The scheme other workers and statuses use to reach this one.
    pub advertised_https: bool,
    /// `metrics.listener`: a plain-http address that serves only `GET /metrics`, without
    /// authentication, so Prometheus can scrape workers whose REST API wants credentials or is
    /// closed off by a NetworkPolicy.
    pub metrics_listener: Option<SocketAddr>,
}

impl RestSettings {
    /// Reads the REST settings from worker properties whose config-provider references are
    /// already resolved; `kafka_opts` is the `KAFKA_OPTS` environment variable, where Apache
    /// Connect users name their JAAS file.
    pub fn from_properties(
        raw: &Properties,
        kafka_opts: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let listeners = listeners(raw)?;
        let tls = if listeners.iter().any(|l| l.https) {
            Some(tls(raw)?)
        } else {
            None
        };
        let advertised_https = match raw.get("rest.advertised.listener").map(|s| s.trim()) {
            // As Connect: http when any listener serves it.
            None | Some("") => listeners.iter().all(|l| l.https),
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => {
                return Err(ConfigError::invalid(
                    "rest.advertised.listener",
                    format!("'{s}' is neither http nor https"),
                ));
            }
        };
        if !listeners.iter().any(|l| l.https == advertised_https) {
            return Err(ConfigError::invalid(
                "rest.advertised.listener",
                format!(
                    "no {} listener in 'listeners' to advertise",
                    if advertised_https { "https" } else { "http" }
                ),
            ));
        }
        Ok(RestSettings {
            listeners,
            tls,
            credentials_file: credentials_file(raw, kafka_opts)?,
            user: basic_user(raw)?,
            advertised_https,
            metrics_listener: metrics_listener(raw)?,
        })
    }
}

/// `listeners` (every entry) or the older `rest.host.name` / `rest.port`.
fn listeners(raw: &Properties) -> Result<Vec<RestListener>, ConfigError> {
    let Some(list) = raw.get("listeners") else {
        let port = match raw.get("rest.port") {
            Some(p) => parse_port("rest.port", p)?,
            None => 8083,
        };
        let host = raw.get("rest.host.name").cloned().unwrap_or_default();
        return Ok(vec![RestListener {
            https: false,
            addr: SocketAddr::new(ip("rest.host.name", &host)?, port),
        }]);
    };
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        out.push(listener("listeners", entry)?);
    }
    if out.is_empty() {
        return Err(ConfigError::invalid(
            "listeners",
            "is empty: give at least one http://host:port",
        ));
    }
    Ok(out)
}

/// One `http://host:port` or `https://host:port` entry of `key`.
fn listener(key: &str, entry: &str) -> Result<RestListener, ConfigError> {
    let (https, rest) = if let Some(r) = entry.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = entry.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(ConfigError::invalid(
            key,
            format!("'{entry}' is not supported: use http://host:port or https://host:port"),
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (h, p) = rest.rsplit_once(':').ok_or_else(|| {
        ConfigError::invalid(key, format!("'{entry}' has no port: use http://host:port"))
    })?;
    Ok(RestListener {
        https,
        addr: SocketAddr::new(ip(key, h)?, parse_port(key, p)?),
    })
}

/// `metrics.listener`, when set: one plain-http address.
fn metrics_listener(raw: &Properties) -> Result<Option<SocketAddr>, ConfigError> {
    let entry = match raw.get("metrics.listener").map(|s| s.trim()) {
        None | Some("") => return Ok(None),
        Some(e) => e,
    };
    let l = listener("metrics.listener", entry)?;
    if l.https {
        return Err(ConfigError::invalid(
            "metrics.listener",
            format!(
                "'{entry}' is https: this listener serves plain http only (the metrics carry no \
                 secrets); use http://host:port"
            ),
        ));
    }
    Ok(Some(l.addr))
}

fn parse_port(key: &str, v: &str) -> Result<u16, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, format!("'{v}' is not a valid port")))
}

fn ip(key: &str, host: &str) -> Result<std::net::IpAddr, ConfigError> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    match host {
        "" | "0.0.0.0" => Ok(std::net::Ipv4Addr::UNSPECIFIED.into()),
        "localhost" => Ok(std::net::Ipv4Addr::LOCALHOST.into()),
        h => h.parse().map_err(|_| {
            ConfigError::invalid(
                key,
                format!(
                    "'{h}' is not an IP address: listen on an address such as 0.0.0.0 or 127.0.0.1"
                ),
            )
        }),
    }
}

/// The https listener's TLS: the `listeners.https.`-prefixed keys when any is given (then only
/// those), else the worker's `ssl.*` keys.
fn tls(raw: &Properties) -> Result<RestTls, ConfigError> {
    let prefix = if raw.keys().any(|k| k.starts_with(HTTPS_PREFIX)) {
        HTTPS_PREFIX
    } else {
        ""
    };
    let get = |k: &str| {
        raw.get(&format!("{prefix}{k}"))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let name = |k: &str| format!("{prefix}{k}");
    let keystore = match (
        get("ssl.keystore.key"),
        get("ssl.keystore.certificate.chain"),
    ) {
        (Some(key), Some(certificates)) => Store::Inline { certificates, key },
        (Some(_), None) | (None, Some(_)) => {
            return Err(ConfigError::invalid(
                name("ssl.keystore.key"),
                format!(
                    "{} and {} go together: give both, or ssl.keystore.location",
                    name("ssl.keystore.key"),
                    name("ssl.keystore.certificate.chain")
                ),
            ));
        }
        (None, None) => {
            let path = get("ssl.keystore.location").ok_or_else(|| ConfigError::Missing {
                key: name("ssl.keystore.location"),
                message: "an https listener needs the server's key and certificate: a PKCS12 or \
                          PEM keystore file"
                    .into(),
            })?;
            let password = get("ssl.keystore.password").or_else(|| get("ssl.key.password"));
            store(
                &name("ssl.keystore.type"),
                get("ssl.keystore.type"),
                path,
                password,
            )?
        }
    };
    let truststore = match (
        get("ssl.truststore.certificates"),
        get("ssl.truststore.location"),
    ) {
        (Some(certificates), _) => Some(Store::Inline {
            certificates,
            key: String::new(),
        }),
        (None, Some(path)) => Some(store(
            &name("ssl.truststore.type"),
            get("ssl.truststore.type"),
            path,
            get("ssl.truststore.password"),
        )?),
        (None, None) => None,
    };
    let client_auth = match get("ssl.client.auth")
        .as_deref()
        .map(str::to_ascii_lowercase)
    {
        None => ClientAuth::None,
        Some(v) if v == "none" => ClientAuth::None,
        Some(v) if v == "requested" => ClientAuth::Requested,
        Some(v) if v == "required" => ClientAuth::Required,
        Some(v) => {
            return Err(ConfigError::invalid(
                name("ssl.client.auth"),
                format!("'{v}' is not one of none, requested, required"),
            ));
        }
    };
    let protocols = match get("ssl.enabled.protocols") {
        None => vec![TlsVersion::Tls13, TlsVersion::Tls12],
        Some(list) => {
            let mut out = Vec::new();
            for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                out.push(match v {
                    "TLSv1.3" => TlsVersion::Tls13,
                    "TLSv1.2" => TlsVersion::Tls12,
                    other => {
                        return Err(ConfigError::invalid(
                            name("ssl.enabled.protocols"),
                            format!("'{other}' is not served: list TLSv1.3 and/or TLSv1.2"),
                        ));
                    }
                });
            }
            if out.is_empty() {
                return Err(ConfigError::invalid(
                    name("ssl.enabled.protocols"),
                    "is empty: list TLSv1.3 and/or TLSv1.2",
                ));
            }
            out
        }
    };
    if let Some(suites) = get("ssl.cipher.suites") {
        return Err(ConfigError::invalid(
            name("ssl.cipher.suites"),
            format!(
                "'{suites}' cannot be honoured by the REST server, which serves rustls's safe \
                 cipher suites only: remove it, or give the https listener its own \
                 listeners.https.ssl.* keys (limit the versions with ssl.enabled.protocols)"
            ),
        ));
    }
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(ConfigError::Missing {
            key: name("ssl.truststore.location"),
            message: format!(
                "{}={} needs the certificates that client certificates are checked against",
                name("ssl.client.auth"),
                get("ssl.client.auth").unwrap_or_default()
            ),
        });
    }
    Ok(RestTls {
        keystore,
        truststore,
        client_auth,
        protocols,
        prefix,
    })
}

/// A store file by its type: PEM or PKCS12 (Kafka's default type, JKS, cannot be read here).
fn store(
    type_key: &str,
    kind: Option<String>,
    path: String,
    password: Option<String>,
) -> Result<Store, ConfigError> {
    let kind = kind.unwrap_or_else(|| {
        if path.ends_with(".pem") || path.ends_with(".crt") {
            "PEM".into()
        } else {
            "PKCS12".into()
        }
    });
    match kind.to_ascii_uppercase().as_str() {
        "PEM" => Ok(Store::PemFile(path.into())),
        "PKCS12" | "P12" => Ok(Store::Pkcs12 {
            path: path.into(),
            password: password.unwrap_or_default(),
        }),
        other => Err(ConfigError::invalid(
            type_key,
            format!(
                "a {other} store cannot be read by Skiff: use PKCS12 or PEM (keytool \
                 -importkeystore -srckeystore {path} -destkeystore store.p12 -deststoretype PKCS12)"
            ),
        )),
    }
}

/// The basic-auth credentials file: `rest.basic.auth.credentials.file`, or, when
/// `rest.extension.classes` names Connect's basic-auth extension, the `file` its JAAS
/// configuration gives (the file `-Djava.security.auth.login.config` in `KAFKA_OPTS` names).
fn credentials_file(
    raw: &Properties,
    kafka_opts: Option<&str>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = raw
        .get(CREDENTIALS_FILE_KEY)
        .filter(|p| !p.trim().is_empty())
    {
        return Ok(Some(PathBuf::from(path.trim())));
    }
    let extensions = raw
        .get("rest.extension.classes")
        .cloned()
        .unwrap_or_default();
    let mut basic = false;
    for class in extensions
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if class == BASIC_AUTH_EXTENSION {
            basic = true;
        } else {
            return Err(ConfigError::invalid(
                "rest.extension.classes",
                format!("'{class}' is not built in: Skiff has {BASIC_AUTH_EXTENSION} only"),
            ));
        }
    }
    if !basic {
        return Ok(None);
    }
    let jaas = kafka_opts
        .and_then(|opts| {
            opts.split_whitespace()
                .find_map(|o| o.strip_prefix("-Djava.security.auth.login.config="))
        })
        .ok_or_else(|| ConfigError::Missing {
            key: CREDENTIALS_FILE_KEY.into(),
            message: format!(
                "rest.extension.classes names {BASIC_AUTH_EXTENSION}: set {CREDENTIALS_FILE_KEY} \
                 to its credentials file (user: password lines), or name a JAAS file with \
                 -Djava.security.auth.login.config in KAFKA_OPTS"
            ),
        })?;
    let text = std::fs::read_to_string(jaas).map_err(|source| ConfigError::Read {
        path: jaas.to_string(),
        source,
    })?;
    jaas_credentials_file(&text)
        .map(|p| Some(PathBuf::from(p)))
        .ok_or_else(|| ConfigError::Parse {
            path: jaas.to_string(),
            message: "its KafkaConnect section names no PropertyFileLoginModule file=\"...\""
                .into(),
        })
}

/// A value read from a file, without the line end a `kubectl create secret --from-file` of an
/// `echo`ed file leaves (the operator reads Secrets the same way).
pub fn line_value(v: &str) -> &str {
    v.trim_end_matches(['\r', '\n'])
}

/// `rest.basic.auth.username` and `rest.basic.auth.password`, which go together.
fn basic_user(raw: &Properties) -> Result<Option<BasicUser>, ConfigError> {
    let get = |k: &str| raw.get(k).filter(|v| !v.is_empty()).cloned();
    match (get(USERNAME_KEY), get(PASSWORD_KEY)) {
        (None, None) => Ok(None),
        (Some(username), Some(password)) => Ok(Some(BasicUser {
            username: line_value(&username).to_string(),
            password: line_value(&password).to_string(),
        })),
        (Some(_), None) => Err(ConfigError::Missing {
            key: PASSWORD_KEY.into(),
            message: format!("{USERNAME_KEY} is set: give its password too"),
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            key: USERNAME_KEY.into(),
            message: format!("{PASSWORD_KEY} is set: give the user name too"),
        }),
    }
}

/// The `file="..."` option of the `KafkaConnect` section of a JAAS configuration.
fn jaas_credentials_file(text: &str) -> Option<String> {
    let start = text.find("KafkaConnect")?;
    let section = &text[start..];
    let section = &section[..section.find("};").unwrap_or(section.len())];
    let at = section.find("file")?;
    let rest = section[at + 4..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    fn settings(pairs: &[(&str, &str)]) -> Result<RestSettings, String> {
        RestSettings::from_properties(&props(pairs), None).map_err(|e| e.to_string())
    }

    #[test]
    fn every_listener_is_served_and_the_first_is_advertised() {
        let s = settings(&[
            ("listeners", "http://127.0.0.1:8083, https://0.0.0.0:8443"),
            ("ssl.keystore.location", "/tls/worker.p12"),
            ("ssl.keystore.password", "pw"),
        ])
        .unwrap();
        assert_eq!(s.listeners.len(), 2);
        assert_eq!(s.listeners[0].addr.to_string(), "127.0.0.1:8083");
        assert!(!s.listeners[0].https && s.listeners[1].https);
        assert!(
            !s.advertised_https,
            "Connect advertises http when it is served"
        );
        let tls = s.tls.unwrap();
        assert_eq!(
            tls.keystore,
            Store::Pkcs12 {
                path: "/tls/worker.p12".into(),
                password: "pw".into()
            }
        );
        assert_eq!(tls.prefix, "");
        let s = settings(&[("rest.port", "9000")]).unwrap();
        assert_eq!(s.listeners[0].addr.to_string(), "0.0.0.0:9000");
        assert!(s.tls.is_none() && s.credentials_file.is_none());
    }

    #[test]
    fn the_metrics_listener_is_one_plain_http_address() {
        let s = settings(&[("metrics.listener", "http://0.0.0.0:9404")]).unwrap();
        assert_eq!(s.metrics_listener.unwrap().to_string(), "0.0.0.0:9404");
        assert_eq!(
            settings(&[("metrics.listener", " ")])
                .unwrap()
                .metrics_listener,
            None
        );
        assert_eq!(settings(&[]).unwrap().metrics_listener, None);
        for (bad, says) in [
            ("https://:9404", "plain http only"),
            ("9404", "use http://host:port"),
            ("http://:port", "not a valid port"),
        ] {
            let e = settings(&[("metrics.listener", bad)]).unwrap_err();
            assert!(
                e.contains("metrics.listener") && e.contains(says),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn prefixed_keys_replace_the_worker_ssl_keys() {
        let s = settings(&[
            ("listeners", "https://:8443"),
            ("ssl.keystore.location", "/kafka-client.p12"),
            ("listeners.https.ssl.keystore.type", "PEM"),
            ("listeners.https.ssl.keystore.location", "/tls/rest.pem"),
            ("listeners.https.ssl.truststore.location", "/tls/ca.pem"),
            ("listeners.https.ssl.client.auth", "required"),
        ])
        .unwrap();
        let tls = s.tls.unwrap();
        assert_eq!(tls.keystore, Store::PemFile("/tls/rest.pem".into()));
        assert_eq!(tls.truststore, Some(Store::PemFile("/tls/ca.pem".into())));
        assert_eq!(tls.client_auth, ClientAuth::Required);
        assert!(s.advertised_https);
    }

    #[test]
    fn bad_tls_settings_name_the_key_and_the_fix() {
        let e = settings(&[("listeners", "https://:8443")]).unwrap_err();
        assert!(e.contains("ssl.keystore.location"), "{e}");
        let e = settings(&[
            ("listeners", "https://:8443"),
            ("ssl.keystore.location", "/k.jks"),
            ("ssl.keystore.type", "JKS"),
        ])
        .unwrap_err();
        assert!(
            e.contains("ssl.keystore.type") && e.contains("PKCS12"),
            "{e}"
        );
        let e = settings(&[
            ("listeners", "https://:8443"),
            ("listeners.https.ssl.keystore.location", "/k.p12"),
            ("listeners.https.ssl.client.auth", "required"),
        ])
        .unwrap_err();
        assert!(e.contains("listeners.https.ssl.truststore.location"), "{e}");
        let e = settings(&[
            ("listeners", "https://:8443"),
            ("ssl.keystore.location", "/k.p12"),
            ("ssl.enabled.protocols", "TLSv1.1"),
        ])
        .unwrap_err();
        assert!(e.contains("ssl.enabled.protocols"), "{e}");
        let e = settings(&[
            ("listeners", "https://:8443"),
            ("ssl.keystore.location", "/k.p12"),
            ("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256"),
        ])
        .unwrap_err();
        assert!(e.contains("ssl.cipher.suites"), "{e}");
        let e = settings(&[("listeners", "ftp://:21")]).unwrap_err();
        assert!(
            e.contains("listeners") && e.contains("https://host:port"),
            "{e}"
        );
        let e = settings(&[
            ("listeners", "http://:8083"),
            ("rest.advertised.listener", "https"),
        ])
        .unwrap_err();
        assert!(e.contains("rest.advertised.listener"), "{e}");
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let s = settings(&[
            ("listeners", "https://:8443"),
            ("ssl.keystore.location", "/k.p12"),
            ("ssl.keystore.password", "hunter2-keystore"),
        ])
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn basic_auth_from_the_skiff_key_or_the_apache_jaas_file() {
        let s = settings(&[(CREDENTIALS_FILE_KEY, "/etc/connect/users.properties")]).unwrap();
        assert_eq!(
            s.credentials_file,
            Some(PathBuf::from("/etc/connect/users.properties"))
        );
        let dir = tempfile::tempdir().unwrap();
        let jaas = dir.path().join("jaas.conf");
        std::fs::write(
            &jaas,
            "KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file = \"/etc/connect/users.properties\";\n};\n",
        )
        .unwrap();
        let opts = format!(
            "-Xmx1g -Djava.security.auth.login.config={}",
            jaas.display()
        );
        let raw = props(&[("rest.extension.classes", BASIC_AUTH_EXTENSION)]);
        let s = RestSettings::from_properties(&raw, Some(&opts)).unwrap();
        assert_eq!(
            s.credentials_file,
            Some(PathBuf::from("/etc/connect/users.properties"))
        );
        let e = RestSettings::from_properties(&raw, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(CREDENTIALS_FILE_KEY), "{e}");
        let e = settings(&[("rest.extension.classes", "com.example.MyExtension")]).unwrap_err();
        assert!(e.contains("rest.extension.classes"), "{e}");
        let s = settings(&[
            (USERNAME_KEY, "operator\n"),
            (PASSWORD_KEY, "op-pass-123\r\n"),
        ])
        .unwrap();
        assert_eq!(s.user.as_ref().unwrap().username, "operator");
        assert_eq!(
            s.user.as_ref().unwrap().password,
            "op-pass-123",
            "line ends dropped"
        );
        assert!(!format!("{s:?}").contains("op-pass-123"));
        let e = settings(&[(USERNAME_KEY, "operator")]).unwrap_err();
        assert!(e.contains(PASSWORD_KEY), "{e}");
    }
}
