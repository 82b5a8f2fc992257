//! The worker properties file of a cluster: what the operator must set (group, topics, REST
//! listener, security from Secrets) merged with the user's `spec.config`.

use super::names::{METRICS_PORT, REST_PORT, group_id, serves_https};
use super::secrets::{CA_DIR, CLIENT_CERT_DIR, REST_AUTH_DIR, REST_TLS_DIR, SASL_DIR};
use skiff_api::crd::{ConnectCluster, SaslMechanism, property_string};
use std::collections::BTreeMap;

/// Environment variable holding the pod's stable DNS name.
pub const ADVERTISED_HOST_ENV: &str = "SKIFF_ADVERTISED_HOST";

/// Properties the operator sets and `spec.config` may not override.
pub const RESERVED: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "config.storage.topic",
    "offset.storage.topic",
    "status.storage.topic",
    "listeners",
    "rest.advertised.host.name",
    "rest.advertised.port",
    "rest.advertised.listener",
    "rest.extension.classes",
    "rest.basic.auth.credentials.file",
    "rest.basic.auth.username",
    "rest.basic.auth.password",
    "metrics.listener",
];

/// Prefixes of properties the operator owns: the https listener's TLS comes from `spec.rest`.
pub const RESERVED_PREFIXES: &[&str] = &["listeners.https."];

/// Whether `spec.config` may not set `key`.
pub fn reserved(key: &str) -> bool {
    RESERVED.contains(&key) || RESERVED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Client prefixes that carry the Kafka security settings: the worker's own clients and the
/// connectors' producers, consumers and admin clients.
const CLIENT_PREFIXES: &[&str] = &["", "producer.", "consumer.", "admin."];

/// The full property map of a cluster's workers; `rest_trust_key` is the key of the REST TLS
/// Secret the workers trust when they call each other (see `secrets::rest_trust_key`).
pub fn worker_properties(cc: &ConnectCluster, rest_trust_key: &str) -> BTreeMap<String, String> {
    let spec = &cc.spec;
    let group = group_id(cc);
    let topics = spec.internal_topics.clone().unwrap_or_default();
    let rf = topics.replication_factor.unwrap_or(-1).to_string();
    let mut p = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        p.insert(k.to_owned(), v);
    };
    set(
        "bootstrap.servers",
        spec.bootstrap_servers.clone().unwrap_or_default(),
    );
    set("group.id", group.clone());
    set(
        "config.storage.topic",
        topics.config.unwrap_or_else(|| format!("{group}-configs")),
    );
    set(
        "offset.storage.topic",
        topics.offset.unwrap_or_else(|| format!("{group}-offsets")),
    );
    set(
        "status.storage.topic",
        topics.status.unwrap_or_else(|| format!("{group}-status")),
    );
    for t in ["config", "offset", "status"] {
        set(&format!("{t}.storage.replication.factor"), rf.clone());
    }
    let rest = spec.rest.clone().unwrap_or_default();
    if serves_https(cc) {
        set("listeners", format!("https://0.0.0.0:{REST_PORT}"));
        set("rest.advertised.listener", "https".into());
        let file = |key: &str| format!("${{dir:{REST_TLS_DIR}:{key}}}");
        set("listeners.https.ssl.keystore.type", "PEM".into());
        set(
            "listeners.https.ssl.keystore.certificate.chain",
            file("tls.crt"),
        );
        set("listeners.https.ssl.keystore.key", file("tls.key"));
        set("listeners.https.ssl.truststore.type", "PEM".into());
        set(
            "listeners.https.ssl.truststore.certificates",
            file(rest_trust_key),
        );
    } else {
        set("listeners", format!("http://0.0.0.0:{REST_PORT}"));
        set("rest.advertised.listener", "http".into());
    }
    if rest.basic_auth.is_some() {
        set(
            "rest.basic.auth.username",
            format!("${{dir:{REST_AUTH_DIR}:username}}"),
        );
        set(
            "rest.basic.auth.password",
            format!("${{dir:{REST_AUTH_DIR}:password}}"),
        );
    }
    set(
        "rest.advertised.host.name",
        format!("${{env:{ADVERTISED_HOST_ENV}}}"),
    );
    set("rest.advertised.port", REST_PORT.to_string());
    set("metrics.listener", format!("http://0.0.0.0:{METRICS_PORT}"));
    set("config.providers", "file,dir,env".into());
    set(
        "config.providers.file.class",
        "org.apache.kafka.common.config.provider.FileConfigProvider".into(),
    );
    set(
        "config.providers.dir.class",
        "org.apache.kafka.common.config.provider.DirectoryConfigProvider".into(),
    );
    set(
        "config.providers.env.class",
        "org.apache.kafka.common.config.provider.EnvVarConfigProvider".into(),
    );
    for prefix in CLIENT_PREFIXES {
        for (k, v) in security_properties(cc) {
            set(&format!("{prefix}{k}"), v);
        }
    }
    for (k, v) in &spec.config {
        if let Some(v) = property_string(v)
            && !reserved(k)
        {
            set(k, v);
        }
    }
    p
}

/// Security settings for one Kafka client, with secrets as config-provider references.
fn security_properties(cc: &ConnectCluster) -> Vec<(&'static str, String)> {
    let spec = &cc.spec;
    let tls = spec.tls.as_ref();
    let mut out = Vec::new();
    let protocol = match (spec.authentication.is_some(), tls.is_some()) {
        (false, false) => return out,
        (false, true) => "SSL",
        (true, false) => "SASL_PLAINTEXT",
        (true, true) => "SASL_SSL",
    };
    out.push(("security.protocol", protocol.to_owned()));
    if let Some(auth) = &spec.authentication {
        let (mechanism, module) = match auth.mechanism {
            SaslMechanism::Plain => (
                "PLAIN",
                "org.apache.kafka.common.security.plain.PlainLoginModule",
            ),
            SaslMechanism::ScramSha256 => (
                "SCRAM-SHA-256",
                "org.apache.kafka.common.security.scram.ScramLoginModule",
            ),
            SaslMechanism::ScramSha512 => (
                "SCRAM-SHA-512",
                "org.apache.kafka.common.security.scram.ScramLoginModule",
            ),
        };
        out.push(("sasl.mechanism", mechanism.to_owned()));
        let username = auth.username.replace('\\', "\\\\").replace('"', "\\\"");
        out.push((
            "sasl.jaas.config",
            format!("{module} required username=\"{username}\" password=\"${{dir:{SASL_DIR}:password}}\";"),
        ));
    }
    if let Some(tls) = tls {
        if tls.ca_secret.is_some() {
            out.push(("ssl.truststore.type", "PEM".into()));
            out.push(("ssl.truststore.location", format!("{CA_DIR}/ca.crt")));
        }
        if tls.client_certificate.is_some() {
            out.push(("ssl.keystore.type", "PEM".into()));
            out.push((
                "ssl.keystore.certificate.chain",
                format!("${{dir:{CLIENT_CERT_DIR}:tls.crt}}"),
            ));
            out.push((
                "ssl.keystore.key",
                format!("${{dir:{CLIENT_CERT_DIR}:tls.key}}"),
            ));
        }
    }
    out
}

/// The properties as a `.properties` file, keys sorted, special characters escaped.
pub fn render(properties: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in properties {
        out.push_str(&escape(k, true));
        out.push('=');
        out.push_str(&escape(v, false));
        out.push('\n');
    }
    out
}

/// Java `.properties` escaping: backslash, line breaks, `=`/`:`/`#`/`!`, and spaces in keys
/// (and leading spaces in values); other characters outside printable ASCII as `\uXXXX` (two
/// of them, a surrogate pair, beyond the Basic Multilingual Plane), because the worker reads
/// the file's bytes as ISO-8859-1, as Java does.
fn escape(s: &str, key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '=' | ':' | '#' | '!' if key => {
                out.push('\\');
                out.push(c);
            }
            ' ' if key || i == 0 => out.push_str("\\ "),
            c if !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;
    use serde_json::json;
    use skiff_api::crd::{
        InternalTopics, KafkaAuthentication, KafkaTls, RestBasicAuth, RestSecurity, RestTlsSecret,
        SecretKeyRef,
    };

    #[test]
    fn defaults_derive_from_the_group() {
        let p = worker_properties(&cluster("c1"), "tls.crt");
        assert_eq!(p["bootstrap.servers"], "kafka:9092");
        assert_eq!(p["group.id"], "ns.c1");
        assert_eq!(p["config.storage.topic"], "ns.c1-configs");
        assert_eq!(p["offset.storage.topic"], "ns.c1-offsets");
        assert_eq!(p["status.storage.topic"], "ns.c1-status");
        assert_eq!(p["status.storage.replication.factor"], "-1");
        assert_eq!(
            p["rest.advertised.host.name"],
            "${env:SKIFF_ADVERTISED_HOST}"
        );
        assert_eq!(p["listeners"], "http://0.0.0.0:8083");
        assert_eq!(p["metrics.listener"], "http://0.0.0.0:9404");
        assert!(!p.contains_key("security.protocol"));
    }

    #[test]
    fn user_config_merges_but_cannot_override_reserved_keys() {
        let mut cc = cluster("c1");
        cc.spec.group_id = Some("g".into());
        cc.spec.internal_topics = Some(InternalTopics {
            config: Some("cfg".into()),
            replication_factor: Some(3),
            ..Default::default()
        });
        cc.spec.config = serde_json::from_value(json!({
            "offset.flush.interval.ms": 10000,
            "group.id": "evil",
            "metrics.listener": "http://0.0.0.0:1",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter"
        }))
        .unwrap();
        let p = worker_properties(&cc, "tls.crt");
        assert_eq!(p["group.id"], "g");
        assert_eq!(p["metrics.listener"], "http://0.0.0.0:9404");
        assert_eq!(p["config.storage.topic"], "cfg");
        assert_eq!(p["offset.storage.topic"], "g-offsets");
        assert_eq!(p["config.storage.replication.factor"], "3");
        assert_eq!(p["offset.flush.interval.ms"], "10000");
        assert_eq!(
            p["key.converter"],
            "org.apache.kafka.connect.json.JsonConverter"
        );
    }

    #[test]
    fn sasl_over_tls_references_mounted_files_for_every_client() {
        let mut cc = cluster("c1");
        cc.spec.authentication = Some(KafkaAuthentication {
            mechanism: SaslMechanism::ScramSha512,
            username: "app".into(),
            password_secret: SecretKeyRef {
                name: "s".into(),
                key: "password".into(),
            },
        });
        cc.spec.tls = Some(KafkaTls {
            ca_secret: Some(SecretKeyRef {
                name: "ca".into(),
                key: "ca.crt".into(),
            }),
            client_certificate: None,
        });
        let p = worker_properties(&cc, "tls.crt");
        for prefix in ["", "producer.", "consumer.", "admin."] {
            assert_eq!(p[&format!("{prefix}security.protocol")], "SASL_SSL");
            assert_eq!(p[&format!("{prefix}sasl.mechanism")], "SCRAM-SHA-512");
            assert_eq!(
                p[&format!("{prefix}ssl.truststore.location")],
                "/var/run/skiff/kafka-ca/ca.crt"
            );
        }
        let jaas = &p["sasl.jaas.config"];
        assert!(jaas.contains("username=\"app\""));
        assert!(jaas.contains("${dir:/var/run/skiff/kafka-sasl:password}"));
    }

    #[test]
    fn rest_security_serves_https_and_names_the_mounted_secret_files() {
        let mut cc = cluster("c1");
        cc.spec.rest = Some(RestSecurity {
            tls: Some(RestTlsSecret {
                secret_name: "cert".into(),
            }),
            basic_auth: Some(RestBasicAuth {
                secret_name: "user".into(),
                username_key: "username".into(),
                password_key: "password".into(),
            }),
        });
        cc.spec.config = serde_json::from_value(json!({
            "listeners.https.ssl.keystore.location": "/elsewhere.p12",
            "rest.basic.auth.password": "plain"
        }))
        .unwrap();
        let p = worker_properties(&cc, "ca.crt");
        assert_eq!(p["listeners"], "https://0.0.0.0:8083");
        assert_eq!(p["rest.advertised.listener"], "https");
        assert_eq!(
            p["listeners.https.ssl.keystore.key"],
            "${dir:/var/run/skiff/rest-tls:tls.key}"
        );
        assert_eq!(
            p["listeners.https.ssl.truststore.certificates"],
            "${dir:/var/run/skiff/rest-tls:ca.crt}"
        );
        assert_eq!(
            p["rest.basic.auth.password"],
            "${dir:/var/run/skiff/rest-auth:password}"
        );
        assert!(
            !p.contains_key("listeners.https.ssl.keystore.location"),
            "spec.config cannot replace the operator's TLS"
        );
    }

    #[test]
    fn render_escapes_like_java_properties() {
        let p = BTreeMap::from([
            ("a key".to_owned(), " v=1\nx".to_owned()),
            ("b".to_owned(), "c:\\d".to_owned()),
        ]);
        assert_eq!(render(&p), "a\\ key=\\ v=1\\nx\nb=c:\\\\d\n");
        // Outside printable ASCII: `\u` escapes, a surrogate pair beyond the BMP, as Java's
        // Properties.store writes them (the worker's parser reads this exact text back).
        let p = BTreeMap::from([("client.id".to_owned(), "\u{e9}\u{1F600}\u{7f}".to_owned())]);
        assert_eq!(render(&p), "client.id=\\u00E9\\uD83D\\uDE00\\u007F\n");
    }
}
