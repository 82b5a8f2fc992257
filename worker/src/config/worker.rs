//! The worker's own settings, read from the worker `.properties` file with the keys Apache
//! Kafka Connect users already have. Unknown keys are warnings naming the key.

use super::ConfigError;
use super::client::{ClientConfig, ClientRole, client_config};
use super::properties::Properties;
use super::providers::ConfigProviders;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Keys the worker understands (besides client settings and prefixed overrides).
const KNOWN_KEYS: &[&str] = &[
    "bootstrap.servers",
    "listeners",
    "rest.port",
    "rest.host.name",
    "rest.advertised.host.name",
    "rest.advertised.port",
    "rest.advertised.listener",
    "key.converter",
    "value.converter",
    "header.converter",
    "key.converter.schemas.enable",
    "value.converter.schemas.enable",
    "offset.storage.file.filename",
    "offset.flush.interval.ms",
    "offset.flush.timeout.ms",
    "task.shutdown.graceful.timeout.ms",
    "plugin.path",
    "plugin.discovery",
    "group.id",
    "config.storage.topic",
    "offset.storage.topic",
    "status.storage.topic",
    "config.storage.replication.factor",
    "offset.storage.replication.factor",
    "status.storage.replication.factor",
    "offset.storage.partitions",
    "status.storage.partitions",
    "config.providers",
    "topic.creation.enable",
    "connector.client.config.override.policy",
    "log.format",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "rebalance.timeout.ms",
    "group.instance.id",
    "scheduled.rebalance.max.delay.ms",
    "connect.protocol",
];

/// Parsed worker configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Every property as given, for client overrides and for connectors that read worker keys.
    pub raw: Properties,
    pub bootstrap_servers: String,
    /// Where the REST server listens.
    pub rest_listen: SocketAddr,
    /// `host:port` that identifies this worker in statuses (`worker_id`).
    pub worker_id: String,
    pub key_converter: String,
    pub value_converter: String,
    pub header_converter: String,
    pub offset_file: Option<PathBuf>,
    pub offset_flush_interval: Duration,
    pub task_shutdown_timeout: Duration,
    pub group_id: Option<String>,
    pub providers: ConfigProviders,
    /// Notes for the operator of the worker (ignored keys, ...), logged at start.
    pub warnings: Vec<String>,
}

/// Apache Connect's default converter.
pub const DEFAULT_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";

impl WorkerConfig {
    /// Reads and checks worker properties.
    pub fn from_properties(raw: Properties) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        for key in raw.keys() {
            let known = KNOWN_KEYS.contains(&key.as_str())
                || key.starts_with("consumer.")
                || key.starts_with("producer.")
                || key.starts_with("admin.")
                || key.starts_with("security.")
                || key.starts_with("sasl.")
                || key.starts_with("ssl.")
                || key.starts_with("config.providers.")
                || key.starts_with("key.converter.")
                || key.starts_with("value.converter.")
                || key.starts_with("header.converter.")
                || key.starts_with("listeners.")
                || key.starts_with("rest.")
                || key == "client.id";
            if !known {
                warnings.push(format!("unknown worker setting '{key}' is ignored"));
            }
        }
        if raw.contains_key("plugin.path") {
            warnings.push(
                "'plugin.path' is accepted and ignored: Skiff's connectors and converters are built in"
                    .into(),
            );
        }
        let get = |k: &str| raw.get(k).map(String::as_str);
        let bootstrap_servers = get("bootstrap.servers")
            .unwrap_or("localhost:9092")
            .to_string();
        let rest_listen = rest_listen(&raw)?;
        let advertised_host = match get("rest.advertised.host.name") {
            Some(h) if !h.is_empty() => h.to_string(),
            _ if rest_listen.ip().is_unspecified() => hostname(),
            _ => rest_listen.ip().to_string(),
        };
        let advertised_port = match get("rest.advertised.port") {
            Some(p) => parse_num::<u16>("rest.advertised.port", p)?,
            None => rest_listen.port(),
        };
        let ms = |k: &str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(match get(k) {
                Some(v) => parse_num::<u64>(k, v)?,
                None => default,
            }))
        };
        let offset_flush_interval = ms("offset.flush.interval.ms", 60_000)?;
        let task_shutdown_timeout = ms("task.shutdown.graceful.timeout.ms", 5_000)?;
        let providers = ConfigProviders::from_worker(&raw)?;
        let mut cfg = WorkerConfig {
            bootstrap_servers,
            rest_listen,
            worker_id: format!("{advertised_host}:{advertised_port}"),
            key_converter: get("key.converter")
                .unwrap_or(DEFAULT_CONVERTER)
                .to_string(),
            value_converter: get("value.converter")
                .unwrap_or(DEFAULT_CONVERTER)
                .to_string(),
            header_converter: get("header.converter")
                .unwrap_or("org.apache.kafka.connect.storage.SimpleHeaderConverter")
                .to_string(),
            offset_file: get("offset.storage.file.filename").map(PathBuf::from),
            offset_flush_interval,
            task_shutdown_timeout,
            group_id: get("group.id").map(str::to_string),
            providers,
            warnings,
            raw,
        };
        // Fail early on client settings librdkafka cannot honour.
        for role in [
            ClientRole::Consumer,
            ClientRole::Producer,
            ClientRole::Admin,
        ] {
            let c = cfg.client(role)?;
            for w in c.warnings {
                if !cfg.warnings.contains(&w) {
                    cfg.warnings.push(w);
                }
            }
        }
        Ok(cfg)
    }

    /// librdkafka settings for one client role, with `bootstrap.servers` resolved through config
    /// providers (so `${file:...}` references to mounted Secrets work in client settings too).
    pub fn client(&self, role: ClientRole) -> Result<ClientConfig, ConfigError> {
        let resolved = self.providers.resolve(&self.raw)?;
        let mut c = client_config(&resolved, role)?;
        c.settings
            .entry("bootstrap.servers".into())
            .or_insert_with(|| self.bootstrap_servers.clone());
        Ok(c)
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, format!("'{v}' is not a valid number")))
}

/// `listeners=http://host:port` (first entry) or the older `rest.host.name`/`rest.port`.
fn rest_listen(raw: &Properties) -> Result<SocketAddr, ConfigError> {
    let (host, port) = if let Some(l) = raw.get("listeners") {
        let first = l.split(',').next().unwrap_or("").trim();
        let rest = first.strip_prefix("http://").ok_or_else(|| {
            ConfigError::invalid(
                "listeners",
                format!("'{first}' is not supported: use http://host:port (https listeners are not available yet)"),
            )
        })?;
        let (h, p) = rest.rsplit_once(':').ok_or_else(|| {
            ConfigError::invalid(
                "listeners",
                format!("'{first}' has no port: use http://host:port"),
            )
        })?;
        (h.to_string(), parse_num::<u16>("listeners", p)?)
    } else {
        let port = match raw.get("rest.port") {
            Some(p) => parse_num::<u16>("rest.port", p)?,
            None => 8083,
        };
        (raw.get("rest.host.name").cloned().unwrap_or_default(), port)
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = match host {
        "" | "0.0.0.0" => std::net::Ipv4Addr::UNSPECIFIED.into(),
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| {
            ConfigError::invalid(
                "listeners",
                format!(
                    "'{h}' is not an IP address: listen on an address such as 0.0.0.0 or 127.0.0.1"
                ),
            )
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_listeners() {
        let c = WorkerConfig::from_properties(props(&[
            ("bootstrap.servers", "k:9092"),
            ("listeners", "http://127.0.0.1:18083"),
            ("offset.flush.interval.ms", "1000"),
        ]))
        .unwrap();
        assert_eq!(c.rest_listen.to_string(), "127.0.0.1:18083");
        assert_eq!(c.worker_id, "127.0.0.1:18083");
        assert_eq!(c.offset_flush_interval, Duration::from_secs(1));
        assert_eq!(c.value_converter, DEFAULT_CONVERTER);
    }

    #[test]
    fn advertised_name_and_unknown_keys() {
        let c = WorkerConfig::from_properties(props(&[
            ("rest.port", "9000"),
            ("rest.advertised.host.name", "w-0.svc"),
            ("plugin.path", "/x"),
            ("mystery.key", "1"),
        ]))
        .unwrap();
        assert_eq!(c.worker_id, "w-0.svc:9000");
        assert!(c.warnings.iter().any(|w| w.contains("mystery.key")));
        assert!(c.warnings.iter().any(|w| w.contains("plugin.path")));
    }

    #[test]
    fn bad_numbers_and_listeners_name_the_key() {
        let e = WorkerConfig::from_properties(props(&[("offset.flush.interval.ms", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("offset.flush.interval.ms"), "{e}");
        let e = WorkerConfig::from_properties(props(&[("listeners", "https://0.0.0.0:8443")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listeners"), "{e}");
    }
}
