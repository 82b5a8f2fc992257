//! The connector config a resource asks for, and the comparison with what the cluster has, after
//! normalising both the way the REST API echoes them, so an unchanged resource never causes a PUT.

use kube::ResourceExt;
use skiff_api::crd::{KafkaConnector, property_strings};
use skiff_api::rest::ConnectorConfig;

/// Keys of `spec.config` that other spec fields own, with the field to use instead.
const RESERVED: &[(&str, &str)] = &[
    ("connector.class", "use spec.class"),
    ("tasks.max", "use spec.tasksMax"),
    ("name", "the connector is named after the resource"),
];

/// A `spec.config` entry the operator cannot send, with the field named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.config.{key}: {problem}")]
pub struct ConfigError {
    /// The property.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The flat config to `PUT`: `spec.config` plus `connector.class`, `tasks.max` and `name`.
pub fn desired_config(kc: &KafkaConnector) -> Result<ConnectorConfig, ConfigError> {
    if let Some((key, hint)) = RESERVED
        .iter()
        .find(|(k, _)| kc.spec.config.contains_key(*k))
    {
        return Err(ConfigError {
            key: (*key).into(),
            problem: format!("must not be set; {hint}"),
        });
    }
    let mut config = property_strings(&kc.spec.config).map_err(|e| ConfigError {
        key: e.key,
        problem: "must be a string, number or boolean".into(),
    })?;
    config.insert("connector.class".into(), kc.spec.class.clone());
    config.insert("tasks.max".into(), kc.spec.tasks_max.to_string());
    config.insert("name".into(), kc.name_any());
    Ok(config)
}

/// A config as the REST API echoes it: `name` is always present.
fn normalise(config: &ConnectorConfig, name: &str) -> ConnectorConfig {
    let mut out = config.clone();
    out.entry("name".into()).or_insert_with(|| name.to_owned());
    out
}

/// Whether the cluster's config (`None`: no such connector) differs from the desired one.
pub fn needs_update(
    name: &str,
    desired: &ConnectorConfig,
    actual: Option<&ConnectorConfig>,
) -> bool {
    match actual {
        None => true,
        Some(actual) => {
            let mut actual = normalise(actual, name);
            // Skiff workers show secret values as `[hidden]`: such a key matches any desired value.
            for (k, v) in actual.iter_mut() {
                if v == HIDDEN
                    && let Some(d) = desired.get(k)
                {
                    v.clone_from(d);
                }
            }
            normalise(desired, name) != actual
        }
    }
}

/// How Skiff workers show a secret value in REST responses.
const HIDDEN: &str = "[hidden]";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_connector::test_support::connector;
    use serde_json::json;

    #[test]
    fn spec_fields_join_the_config_as_strings() {
        let mut kc = connector("c1");
        kc.spec.config =
            serde_json::from_value(json!({"file": "/tmp/x", "batch.size": 100, "flag": true}))
                .unwrap();
        let config = desired_config(&kc).unwrap();
        assert_eq!(config["connector.class"], "FileStreamSink");
        assert_eq!(config["tasks.max"], "2");
        assert_eq!(config["name"], "c1");
        assert_eq!(config["batch.size"], "100");
        assert_eq!(config["flag"], "true");
    }

    #[test]
    fn an_unchanged_resource_never_needs_a_put() {
        let mut kc = connector("c1");
        kc.spec.config = serde_json::from_value(json!({"topics": "t", "batch.size": 100})).unwrap();
        let desired = desired_config(&kc).unwrap();
        // What GET /connectors/c1/config returns after the PUT: the same strings, with name.
        let echoed = desired.clone();
        assert!(!needs_update("c1", &desired, Some(&echoed)));
        let mut without_name = echoed.clone();
        without_name.remove("name");
        assert!(!needs_update("c1", &desired, Some(&without_name)));
    }

    #[test]
    fn drift_and_absence_need_a_put() {
        let kc = connector("c1");
        let desired = desired_config(&kc).unwrap();
        assert!(needs_update("c1", &desired, None));
        let mut hidden = desired.clone();
        hidden.insert("aws.secretKey".into(), "[hidden]".into());
        let mut with_secret = desired.clone();
        with_secret.insert("aws.secretKey".into(), "s3cr3t".into());
        assert!(!needs_update("c1", &with_secret, Some(&hidden)));
        let mut changed = desired.clone();
        changed.insert("tasks.max".into(), "5".into());
        assert!(needs_update("c1", &desired, Some(&changed)));
        let mut extra = desired.clone();
        extra.insert("added.behind.our.back".into(), "x".into());
        assert!(needs_update("c1", &desired, Some(&extra)));
    }

    #[test]
    fn nested_config_values_are_refused() {
        let mut kc = connector("c1");
        kc.spec.config = serde_json::from_value(json!({"bad": [1]})).unwrap();
        assert_eq!(desired_config(&kc).unwrap_err().key, "bad");
    }

    #[test]
    fn keys_owned_by_spec_fields_are_refused() {
        let mut kc = connector("c1");
        kc.spec.config = serde_json::from_value(json!({"tasks.max": 4})).unwrap();
        let e = desired_config(&kc).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.config.tasks.max: must not be set; use spec.tasksMax"
        );
    }
}
