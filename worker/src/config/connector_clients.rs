//! The Kafka client settings of one connector: the worker's `consumer.`, `producer.` and
//! `admin.` settings, with the connector's own `*.override.` settings on top where the worker's
//! policy allows them (KIP-458), and the consumer group its sink tasks share.

use super::ConfigError;
use super::client::{ClientConfig, ClientRole};
use super::override_policy::require_allowed;
use super::properties::Properties;
use super::worker::WorkerConfig;
use std::sync::Arc;

/// Every client one connector's tasks and offsets endpoints use is built from this, so a
/// connector with its own credentials (`consumer.override.sasl.jaas.config`) uses them
/// everywhere it touches Kafka.
#[derive(Clone)]
pub struct ConnectorClients {
    worker: Arc<WorkerConfig>,
    /// The connector's `*.override.` keys, resolved, still prefixed.
    overrides: Arc<Properties>,
}

impl ConnectorClients {
    /// The worker's settings alone, for a connector that overrides nothing.
    pub fn of_worker(worker: Arc<WorkerConfig>) -> Self {
        ConnectorClients {
            worker,
            overrides: Arc::new(Properties::new()),
        }
    }

    /// The settings for a connector whose configuration (with `${...}` references resolved) is
    /// `connector`; an error naming the key when the worker's policy refuses one of its
    /// overrides, as for a configuration another worker stored under another policy.
    pub fn new(worker: Arc<WorkerConfig>, connector: &Properties) -> Result<Self, ConfigError> {
        require_allowed(&worker.override_policy, connector)?;
        let overrides = connector
            .iter()
            .filter(|(k, _)| {
                ClientRole::ALL
                    .iter()
                    .any(|r| k.starts_with(r.override_prefix()))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(ConnectorClients {
            worker,
            overrides: Arc::new(overrides),
        })
    }

    /// librdkafka settings for this connector's client of one role.
    pub fn client(&self, role: ClientRole) -> Result<ClientConfig, ConfigError> {
        self.worker.connector_client(role, &self.overrides)
    }

    /// The consumer group a sink's tasks share and keep their offsets in: Connect's
    /// `connect-<connector>`, unless the connector names its own with
    /// `consumer.override.group.id`.
    pub fn sink_group(&self, connector: &str) -> String {
        let own = format!("{}group.id", ClientRole::Consumer.override_prefix());
        match self.overrides.get(&own).map(|g| g.trim()) {
            Some(g) if !g.is_empty() => g.to_string(),
            _ => format!("connect-{connector}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    fn worker(pairs: &[(&str, &str)]) -> Arc<WorkerConfig> {
        Arc::new(WorkerConfig::from_properties(props(pairs)).expect("a valid worker config"))
    }

    #[test]
    fn a_connector_override_goes_on_top_of_the_worker_setting_for_its_role_only() {
        let w = worker(&[
            ("bootstrap.servers", "k:9092"),
            ("consumer.max.poll.records", "500"),
            ("producer.linger.ms", "5"),
        ]);
        let clients = ConnectorClients::new(
            w,
            &props(&[
                ("consumer.override.max.poll.records", "10"),
                ("consumer.override.security.protocol", "SASL_SSL"),
                ("consumer.override.sasl.mechanism", "PLAIN"),
                ("producer.override.linger.ms", "50"),
                ("topics", "t"),
            ]),
        )
        .expect("allowed by the default policy");
        let consumer = clients.client(ClientRole::Consumer).unwrap().settings;
        assert_eq!(consumer.get("security.protocol").unwrap(), "sasl_ssl");
        assert_eq!(consumer.get("sasl.mechanisms").unwrap(), "PLAIN");
        assert_eq!(consumer.get("bootstrap.servers").unwrap(), "k:9092");
        let admin = clients.client(ClientRole::Admin).unwrap().settings;
        assert_eq!(
            admin.get("security.protocol"),
            None,
            "the admin keeps the worker's"
        );
        let producer = clients.client(ClientRole::Producer).unwrap().settings;
        assert_eq!(producer.get("linger.ms").unwrap(), "50");
        assert_eq!(clients.sink_group("backup"), "connect-backup");
    }

    #[test]
    fn an_override_the_policy_refuses_stops_the_connector_with_the_key_named() {
        let w = worker(&[("connector.client.config.override.policy", "None")]);
        let err = ConnectorClients::new(
            w.clone(),
            &props(&[("consumer.override.max.poll.records", "10")]),
        )
        .err()
        .expect("refused")
        .to_string();
        assert!(err.contains("consumer.override.max.poll.records"), "{err}");
        assert!(ConnectorClients::new(w, &props(&[("topics", "t")])).is_ok());
    }

    #[test]
    fn a_bad_override_value_is_an_error_naming_the_connector_key() {
        let clients = ConnectorClients::new(
            worker(&[]),
            &props(&[("consumer.override.security.protocol", "TLS")]),
        )
        .unwrap();
        let err = clients
            .client(ClientRole::Consumer)
            .unwrap_err()
            .to_string();
        assert!(err.contains("consumer.override.security.protocol"), "{err}");
    }

    #[test]
    fn a_sink_may_name_its_own_consumer_group() {
        let clients = ConnectorClients::new(
            worker(&[]),
            &props(&[("consumer.override.group.id", "team-a-backup")]),
        )
        .unwrap();
        assert_eq!(clients.sink_group("backup"), "team-a-backup");
    }
}
