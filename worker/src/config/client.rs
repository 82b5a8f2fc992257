//! Maps the Java client settings Connect users already have (`bootstrap.servers`,
//! `security.protocol`, `sasl.jaas.config`, `ssl.*`, and the `consumer.`/`producer.`/`admin.`
//! overrides) onto librdkafka's settings. A setting librdkafka cannot honour is an error naming
//! the key and the alternative, never a silent drop.

use super::ConfigError;
use super::properties::Properties;
use super::tls_store;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Which Kafka client a configuration is for; selects the `consumer.`/`producer.`/`admin.`
/// override prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    Consumer,
    Producer,
    Admin,
}

impl ClientRole {
    /// Every role, in the order their settings are checked and reported.
    pub const ALL: [ClientRole; 3] = [
        ClientRole::Consumer,
        ClientRole::Producer,
        ClientRole::Admin,
    ];

    fn prefix(self) -> &'static str {
        match self {
            ClientRole::Consumer => "consumer.",
            ClientRole::Producer => "producer.",
            ClientRole::Admin => "admin.",
        }
    }

    /// The prefix of a connector's own settings for this client (KIP-458), such as
    /// `consumer.override.max.poll.records`.
    pub fn override_prefix(self) -> &'static str {
        match self {
            ClientRole::Consumer => "consumer.override.",
            ClientRole::Producer => "producer.override.",
            ClientRole::Admin => "admin.override.",
        }
    }
}

/// librdkafka's own settings (no Java equivalent), passed through so a sink's memory and fetch
/// pacing can be tuned with `consumer.` keys like any other client setting, and so a client
/// misbehaving in the field can be diagnosed with its `debug` contexts (`consumer.debug=cgrp`).
const LIBRDKAFKA_TUNING: &[&str] = &[
    "queued.max.messages.kbytes",
    "queued.min.messages",
    "fetch.queue.backoff.ms",
    "debug",
];

/// Settings whose name and meaning are the same in the Java client and librdkafka.
const PASS_THROUGH: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "client.rack",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
    "max.partition.fetch.bytes",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "isolation.level",
    "group.instance.id",
    "partition.assignment.strategy",
    "linger.ms",
    "batch.size",
    "compression.type",
    "acks",
    "enable.idempotence",
    "request.timeout.ms",
    "retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "metadata.max.age.ms",
    "message.max.bytes",
    "socket.connection.setup.timeout.ms",
    "transaction.timeout.ms",
    "delivery.timeout.ms",
    "sasl.kerberos.service.name",
    "ssl.key.password",
    "ssl.cipher.suites",
];

/// Java settings that exist for the JVM only and have no effect on librdkafka; accepted quietly.
const JVM_ONLY: &[&str] = &[
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "max.poll.records",
    "max.block.ms",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "sasl.login.callback.handler.class",
    "interceptor.classes",
    "metric.reporters",
];

/// The result of mapping: librdkafka settings plus warnings for keys that were ignored.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    pub settings: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

impl ClientConfig {
    /// Builds an rdkafka `ClientConfig` from these settings.
    pub fn to_rdkafka(&self) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        for (k, v) in &self.settings {
            c.set(k, v);
        }
        c
    }
}

/// What a producer may hold unsent, in KiB, unless `buffer.memory` says otherwise: the Java
/// producer's 32 MiB. librdkafka's own default is 1 GiB, which let a restore of 100 KiB records
/// hold about 500 MiB per task in its queue while Kafka caught up.
const PRODUCER_BUFFER_KIB: u64 = 32 * 1024;

/// Top-level keys of a worker config that configure its Kafka clients.
fn is_client_key(key: &str) -> bool {
    key == "bootstrap.servers"
        || key == "client.id"
        || key.starts_with("security.")
        || key.starts_with("sasl.")
        || key.starts_with("ssl.")
}

/// Maps worker properties onto librdkafka settings for one client role: the shared client keys
/// first, then the role's prefixed overrides.
pub fn client_config(worker: &Properties, role: ClientRole) -> Result<ClientConfig, ConfigError> {
    connector_client_config(worker, role, &Properties::new())
}

/// [`client_config`] for one connector's client: its `<role>.override.` settings go on top of
/// the worker's, as Connect applies them.
pub fn connector_client_config(
    worker: &Properties,
    role: ClientRole,
    connector: &Properties,
) -> Result<ClientConfig, ConfigError> {
    let mut java: BTreeMap<String, String> = BTreeMap::new();
    let mut origins: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in worker.iter().filter(|(k, _)| is_client_key(k)) {
        java.insert(k.clone(), v.clone());
        origins.insert(k.clone(), k.clone());
    }
    let prefixed = worker
        .iter()
        .filter_map(|(k, v)| Some((k, k.strip_prefix(role.prefix())?, v)));
    let overridden = connector
        .iter()
        .filter_map(|(k, v)| Some((k, k.strip_prefix(role.override_prefix())?, v)));
    for (k, stripped, v) in prefixed.chain(overridden) {
        java.insert(stripped.to_string(), v.clone());
        origins.insert(stripped.to_string(), k.clone());
    }
    let mut out = translate(&java, &origins)?;
    if role == ClientRole::Producer {
        // The queue must take at least two of the largest records the producer may send.
        let largest = out
            .settings
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(0, |b| (2 * b).div_ceil(1024));
        out.settings
            .entry("queue.buffering.max.kbytes".into())
            .or_insert_with(|| PRODUCER_BUFFER_KIB.max(largest).to_string());
    }
    Ok(out)
}

/// Translates Java client settings (unprefixed) into librdkafka settings. `origins` maps each
/// key to the name it had in the user's file, so messages name the key the user wrote.
pub fn translate(
    java: &BTreeMap<String, String>,
    origins: &BTreeMap<String, String>,
) -> Result<ClientConfig, ConfigError> {
    let mut out = ClientConfig::default();
    let name = |k: &str| origins.get(k).cloned().unwrap_or_else(|| k.to_string());
    let truststore_type = java
        .get("ssl.truststore.type")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "JKS".into());
    let keystore_type = java
        .get("ssl.keystore.type")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "JKS".into());
    for (key, value) in java {
        let s = &mut out.settings;
        match key.as_str() {
            k if PASS_THROUGH.contains(&k) || LIBRDKAFKA_TUNING.contains(&k) => {
                s.insert(k.to_string(), value.clone());
            }
            k if JVM_ONLY.contains(&k) => {}
            "buffer.memory" => {
                let bytes = value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|b| *b >= 1024)
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            name(key),
                            format!(
                                "'{value}' is not a number of bytes of at least 1024 (the Java default is 33554432)"
                            ),
                        )
                    })?;
                s.insert(
                    "queue.buffering.max.kbytes".into(),
                    bytes.div_ceil(1024).to_string(),
                );
            }
            "security.protocol" => {
                let p = value.to_ascii_uppercase();
                if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&p.as_str()) {
                    return Err(ConfigError::invalid(
                        name(key),
                        format!("'{value}' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
                    ));
                }
                s.insert("security.protocol".into(), p.to_ascii_lowercase());
            }
            "sasl.mechanism" => {
                let m = value.to_ascii_uppercase();
                if ![
                    "PLAIN",
                    "SCRAM-SHA-256",
                    "SCRAM-SHA-512",
                    "OAUTHBEARER",
                    "GSSAPI",
                ]
                .contains(&m.as_str())
                {
                    return Err(ConfigError::invalid(
                        name(key),
                        format!(
                            "unsupported SASL mechanism '{value}': use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or GSSAPI"
                        ),
                    ));
                }
                s.insert("sasl.mechanisms".into(), m);
            }
            "sasl.jaas.config" => {
                let (user, pass) = parse_jaas(value).ok_or_else(|| {
                    ConfigError::invalid(
                        name(key),
                        "only PlainLoginModule and ScramLoginModule with username=\"...\" password=\"...\" can be translated; set sasl.username/sasl.password style credentials that way",
                    )
                })?;
                s.insert("sasl.username".into(), user);
                s.insert("sasl.password".into(), pass);
            }
            "ssl.endpoint.identification.algorithm" => {
                let v = if value.is_empty() { "none" } else { "https" };
                s.insert(key.clone(), v.into());
            }
            "ssl.truststore.type" | "ssl.keystore.type" | "ssl.truststore.password" => {}
            "ssl.truststore.location" => match truststore_type.as_str() {
                "PEM" => {
                    s.insert("ssl.ca.location".into(), value.clone());
                }
                // librdkafka reads CAs from PEM only: the store's certificates go over as PEM
                // text (Strimzi's ca.p12, say).
                "PKCS12" => {
                    let store = tls_store::Store::Pkcs12 {
                        path: value.into(),
                        password: java
                            .get("ssl.truststore.password")
                            .cloned()
                            .unwrap_or_default(),
                    };
                    let pem = tls_store::certificates_pem(&store, &name(key))?;
                    s.insert("ssl.ca.pem".into(), pem);
                }
                other => {
                    return Err(ConfigError::invalid(
                        name(key),
                        format!(
                            "a {other} truststore cannot be read by librdkafka: convert it to PEM or PKCS12 (keytool -importkeystore -deststoretype PKCS12) and set ssl.truststore.type, or use ssl.truststore.certificates"
                        ),
                    ));
                }
            },
            "ssl.truststore.certificates" => {
                s.insert("ssl.ca.pem".into(), value.clone());
            }
            "ssl.keystore.location" => match keystore_type.as_str() {
                "PKCS12" => {
                    s.insert("ssl.keystore.location".into(), value.clone());
                    if let Some(p) = java.get("ssl.keystore.password") {
                        s.insert("ssl.keystore.password".into(), p.clone());
                    }
                }
                "PEM" => {
                    s.insert("ssl.certificate.location".into(), value.clone());
                    s.insert("ssl.key.location".into(), value.clone());
                }
                other => {
                    return Err(ConfigError::invalid(
                        name(key),
                        format!(
                            "a {other} keystore cannot be read by librdkafka: convert it (keytool -importkeystore -srckeystore <file> -destkeystore <file>.p12 -deststoretype PKCS12) and set ssl.keystore.type=PKCS12, or use PEM"
                        ),
                    ));
                }
            },
            "ssl.keystore.password" => {}
            "ssl.keystore.certificate.chain" => {
                s.insert("ssl.certificate.pem".into(), value.clone());
            }
            "ssl.keystore.key" => {
                s.insert("ssl.key.pem".into(), value.clone());
            }
            other => out.warnings.push(format!(
                "'{}' has no librdkafka equivalent and is ignored",
                name(other)
            )),
        }
    }
    Ok(out)
}

/// Extracts username and password from a PLAIN or SCRAM JAAS line.
fn parse_jaas(jaas: &str) -> Option<(String, String)> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r#"(\w+)\s*=\s*"((?:[^"\\]|\\.)*)""#).ok())
        .as_ref()?;
    if !(jaas.contains("PlainLoginModule") || jaas.contains("ScramLoginModule")) {
        return None;
    }
    let mut user = None;
    let mut pass = None;
    for c in re.captures_iter(jaas) {
        let v = c[2].replace("\\\"", "\"").replace("\\\\", "\\");
        match &c[1] {
            "username" => user = Some(v),
            "password" => pass = Some(v),
            _ => {}
        }
    }
    Some((user?, pass?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn sasl_scram_is_translated() {
        let p = props(&[
            ("bootstrap.servers", "b:9092"),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p\"w";"#,
            ),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/certs/ca.crt"),
        ]);
        let c = client_config(&p, ClientRole::Consumer).unwrap();
        assert_eq!(c.settings["security.protocol"], "sasl_ssl");
        assert_eq!(c.settings["sasl.mechanisms"], "SCRAM-SHA-512");
        assert_eq!(c.settings["sasl.username"], "alice");
        assert_eq!(c.settings["sasl.password"], "p\"w");
        assert_eq!(c.settings["ssl.ca.location"], "/certs/ca.crt");
        assert!(!c.settings.contains_key("sasl.jaas.config"));
    }

    #[test]
    fn jks_truststore_is_an_error_naming_the_key_and_the_fix() {
        let p = props(&[("ssl.truststore.location", "/certs/truststore.jks")]);
        let err = client_config(&p, ClientRole::Producer)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ssl.truststore.location") && err.contains("PEM"),
            "{err}"
        );
    }

    #[test]
    fn a_pkcs12_truststore_is_handed_to_librdkafka_as_pem() {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::config::tls_store::tests::pkcs12_file(dir.path(), "store-pw");
        let path = path.display().to_string();
        let p = props(&[
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.truststore.location", &path),
            ("ssl.truststore.password", "store-pw"),
        ]);
        let c = client_config(&p, ClientRole::Consumer).unwrap();
        assert!(
            c.settings["ssl.ca.pem"].starts_with("-----BEGIN CERTIFICATE-----"),
            "{:?}",
            c.settings.get("ssl.ca.pem")
        );
        assert!(!c.settings.contains_key("ssl.ca.location"));
        let wrong = props(&[
            ("ssl.truststore.type", "PKCS12"),
            ("ssl.truststore.location", &path),
            ("ssl.truststore.password", "nope"),
        ]);
        let err = client_config(&wrong, ClientRole::Consumer)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ssl.truststore.location") && !err.contains("nope"),
            "{err}"
        );
    }

    #[test]
    fn a_jks_keystore_is_an_error_naming_the_key_and_the_conversion() {
        let p = props(&[("ssl.keystore.location", "/certs/keystore.jks")]);
        let err = client_config(&p, ClientRole::Producer)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ssl.keystore.location") && err.contains("keytool -importkeystore"),
            "{err}"
        );
    }

    #[test]
    fn role_overrides_win_and_unknown_keys_warn() {
        let p = props(&[
            ("bootstrap.servers", "a:1"),
            ("consumer.bootstrap.servers", "c:1"),
            ("producer.linger.ms", "5"),
            ("consumer.some.java.only", "x"),
            ("consumer.max.poll.records", "10"),
        ]);
        let c = client_config(&p, ClientRole::Consumer).unwrap();
        assert_eq!(c.settings["bootstrap.servers"], "c:1");
        assert!(!c.settings.contains_key("linger.ms"));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("consumer.some.java.only"),
            "{:?}",
            c.warnings
        );
        let pc = client_config(&p, ClientRole::Producer).unwrap();
        assert_eq!(pc.settings["linger.ms"], "5");
        assert_eq!(pc.settings["bootstrap.servers"], "a:1");
    }

    #[test]
    fn librdkafka_prefetch_and_debug_settings_pass_through() {
        let p = props(&[
            ("consumer.queued.max.messages.kbytes", "4096"),
            ("consumer.fetch.queue.backoff.ms", "5"),
            ("consumer.debug", "cgrp,fetch"),
        ]);
        let c = client_config(&p, ClientRole::Consumer).unwrap();
        assert_eq!(c.settings["queued.max.messages.kbytes"], "4096");
        assert_eq!(c.settings["fetch.queue.backoff.ms"], "5");
        assert_eq!(c.settings["debug"], "cgrp,fetch");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn pkcs12_keystore_and_disabled_hostname_check() {
        let p = props(&[
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.location", "/k.p12"),
            ("ssl.keystore.password", "pw"),
            ("ssl.endpoint.identification.algorithm", ""),
        ]);
        let c = client_config(&p, ClientRole::Admin).unwrap();
        assert_eq!(c.settings["ssl.keystore.location"], "/k.p12");
        assert_eq!(c.settings["ssl.keystore.password"], "pw");
        assert_eq!(c.settings["ssl.endpoint.identification.algorithm"], "none");
    }

    #[test]
    fn jaas_other_modules_are_refused() {
        let p = props(&[(
            "sasl.jaas.config",
            "com.sun.security.auth.module.Krb5LoginModule required;",
        )]);
        assert!(client_config(&p, ClientRole::Admin).is_err());
    }

    #[test]
    fn a_producer_holds_at_most_buffer_memory_unsent() {
        let none = props(&[("bootstrap.servers", "b:9092")]);
        let producer = client_config(&none, ClientRole::Producer).unwrap();
        assert_eq!(producer.settings["queue.buffering.max.kbytes"], "32768");
        let consumer = client_config(&none, ClientRole::Consumer).unwrap();
        assert!(!consumer.settings.contains_key("queue.buffering.max.kbytes"));
        let set = props(&[("producer.buffer.memory", "8388609")]);
        let producer = client_config(&set, ClientRole::Producer).unwrap();
        assert_eq!(producer.settings["queue.buffering.max.kbytes"], "8193");
        assert!(producer.warnings.is_empty(), "{:?}", producer.warnings);
        let large = props(&[("producer.message.max.bytes", "104857600")]);
        let producer = client_config(&large, ClientRole::Producer).unwrap();
        assert_eq!(producer.settings["queue.buffering.max.kbytes"], "204800");
        let bad = props(&[("producer.buffer.memory", "32MB")]);
        let err = client_config(&bad, ClientRole::Producer)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("producer.buffer.memory") && err.contains("33554432"),
            "{err}"
        );
    }
}
