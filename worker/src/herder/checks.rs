//! Checks and helpers both herders share: connector names and configurations validated the
//! way Connect does, the task class Connect records, and plugin validation.

use super::HerderError;
use crate::config::ConfigError;
use crate::config::client::ClientRole;
use crate::config::connector_clients::ConnectorClients;
use crate::config::override_policy;
use crate::config::properties::Properties;
use crate::config::worker::WorkerConfig;
use crate::connectors::Plugin;
use crate::connectors::config_def::config_infos;
use crate::connectors::s3_source::METADATA_FOLDER;
use crate::runtime::worker::Worker;
use skiff_api::rest::{ConfigInfos, ConnectorOffsets, ConnectorType};
use std::collections::BTreeMap;

/// Committed offsets of a sink's consumer group by (topic, partition).
pub(super) type SinkOffsets = BTreeMap<(String, i64), i64>;

/// Connector names Connect refuses.
pub(super) fn check_name(name: &str) -> Result<(), HerderError> {
    if name.trim().is_empty() {
        return Err(HerderError::BadRequest("Connector name is required".into()));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(HerderError::BadRequest(format!(
            "Connector name {name:?} contains control characters, which are not allowed"
        )));
    }
    if name.contains('/') {
        return Err(HerderError::BadRequest(format!(
            "Connector name {name:?} contains '/', which cannot be used in REST paths"
        )));
    }
    Ok(())
}

/// The task class Apache Connect records in each task configuration (`task.class`).
pub(super) fn task_class(plugin: Plugin) -> &'static str {
    match plugin {
        Plugin::S3Sink => "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkTask",
        Plugin::S3Source => "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceTask",
        Plugin::FileSink => "org.apache.kafka.connect.file.FileStreamSinkTask",
        Plugin::FileSource => "org.apache.kafka.connect.file.FileStreamSourceTask",
    }
}

/// A sink's committed offsets as a map, from the offsets endpoint's shape.
pub(super) fn sink_offsets(offsets: ConnectorOffsets) -> SinkOffsets {
    offsets
        .offsets
        .into_iter()
        .filter_map(|o| {
            let topic = o.partition.get("kafka_topic")?.as_str()?.to_string();
            let partition = o.partition.get("kafka_partition")?.as_i64()?;
            let offset = o.offset?.get("kafka_offset")?.as_i64()?;
            Some(((topic, partition), offset))
        })
        .collect()
}

/// A stored sink connector's Kafka client settings: the worker's, with the connector's own
/// overrides, its `${...}` references resolved. `None` for any other connector, whose offsets
/// are kept by the worker rather than in a consumer group.
pub(super) fn sink_clients(
    worker: &Worker,
    plugin: Option<Plugin>,
    config: &Properties,
) -> Result<Option<ConnectorClients>, HerderError> {
    if plugin.map(Plugin::kind) != Some(ConnectorType::Sink) {
        return Ok(None);
    }
    let resolved = worker
        .config
        .providers
        .resolve(config)
        .map_err(|e| HerderError::Internal(e.to_string()))?;
    ConnectorClients::new(worker.config.clone(), &resolved)
        .map(Some)
        .map_err(|e| HerderError::Internal(e.to_string()))
}

/// The connector's client overrides (`consumer.override.` and the like) that the worker's
/// policy refuses or that Skiff cannot honour, as (key, message) pairs. References that cannot
/// be resolved yet are left to the task that resolves them.
fn client_override_errors(worker: &WorkerConfig, config: &Properties) -> Vec<(String, String)> {
    let refused = override_policy::check(&worker.override_policy, config);
    if !refused.is_empty() {
        return refused;
    }
    let Ok(resolved) = worker.providers.resolve(config) else {
        return Vec::new();
    };
    ClientRole::ALL
        .iter()
        .filter_map(|role| match worker.connector_client(*role, &resolved) {
            Err(ConfigError::Invalid { key, message }) if key.contains(".override.") => {
                let message = format!("Invalid value for configuration {key}: {message}");
                Some((key, message))
            }
            _ => None,
        })
        .collect()
}

/// Validates a configuration the way create and update do: 400 with every error listed.
pub(super) fn check_config(
    worker: &WorkerConfig,
    name: &str,
    config: &mut Properties,
) -> Result<Plugin, HerderError> {
    check_name(name)?;
    config.insert("name".into(), name.to_string());
    let class = config
        .get("connector.class")
        .ok_or_else(|| {
            HerderError::BadRequest(
                "Connector config contains no connector type: set 'connector.class'".into(),
            )
        })?
        .clone();
    let plugin = Plugin::find(&class).ok_or_else(|| {
        HerderError::BadRequest(format!(
            "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
            Plugin::listings().iter().map(|p| format!("PluginDesc{{klass=class {}, type={}}}", p.class, p.plugin_type)).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut errors = plugin.validate(config);
    errors.extend(client_override_errors(worker, config));
    if !errors.is_empty() {
        let msgs: Vec<String> = errors.iter().map(|(_, e)| e.clone()).collect();
        return Err(HerderError::BadRequest(format!(
            "Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`",
            msgs.len(),
            msgs.join("\n")
        )));
    }
    Ok(plugin)
}

/// `PUT /connector-plugins/{p}/config/validate`.
pub(super) async fn validate(
    worker: &Worker,
    plugin_name: &str,
    config: &Properties,
) -> Result<ConfigInfos, HerderError> {
    let class = config.get("connector.class").ok_or_else(|| {
        HerderError::BadRequest("Connector config must contain 'connector.class'".into())
    })?;
    let plugin = Plugin::find(plugin_name)
        .ok_or_else(|| HerderError::NotFound(format!("Unknown plugin {plugin_name}.")))?;
    if Plugin::find(class) != Some(plugin) {
        return Err(HerderError::BadRequest(format!(
            "Included connector type {class} does not match request type {plugin_name}"
        )));
    }
    // Connect names the result after `connector.class` as given (an alias stays an alias).
    let class = class.clone();
    let mut errors = plugin.rule_errors(config);
    errors.extend(client_override_errors(&worker.config, config));
    let defs = plugin.defs();
    let fields_ok = defs
        .iter()
        .all(|d| d.check(config.get(d.name).map(String::as_str)).is_empty());
    if matches!(plugin, Plugin::S3Sink | Plugin::S3Source)
        && fields_ok
        && errors.is_empty()
        && let Some(e) = check_bucket(worker, plugin, config).await
    {
        errors.push(("aws.s3.bucket".into(), e));
    }
    Ok(config_infos(&class, &defs, config, &errors))
}

/// Reaches the bucket with the connector's credentials and checks the permissions the connector
/// needs (list, and write for a backup or read for a restore); the error says what to fix.
async fn check_bucket(worker: &Worker, plugin: Plugin, config: &Properties) -> Option<String> {
    let resolved = match worker.config.providers.resolve(config) {
        Ok(r) => r,
        Err(e) => return Some(e.to_string()),
    };
    let store = match crate::storage::S3Settings::from_config(&resolved) {
        Ok(s) => match s.connect().await {
            Ok(store) => store,
            Err(e) => return Some(e.to_string()),
        },
        Err(e) => return Some(crate::runtime::TaskError::from(e).to_string()),
    };
    let probe = format!("{METADATA_FOLDER}/access-check.json");
    let write = plugin == Plugin::S3Sink;
    match tokio::time::timeout(
        std::time::Duration::from_secs(15),
        store.check_access(&probe, write),
    )
    .await
    {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!(
            "bucket '{}' did not answer within 15 s: check s3.endpoint and the network",
            store.bucket()
        )),
    }
}

/// A connector's task configurations, as its connector instance computes them in Connect: at
/// most `tasks.max`, each naming the task class Connect records.
pub(super) async fn task_configs(
    worker: &Worker,
    plugin: Plugin,
    config: &Properties,
) -> Result<Vec<Properties>, String> {
    let max_tasks = config
        .get("tasks.max")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1);
    let resolved = worker
        .config
        .providers
        .resolve(config)
        .map_err(|e| e.to_string())?;
    let tasks = plugin
        .task_configs(config, &resolved, max_tasks)
        .await
        .map_err(|e| e.to_string())?;
    let class = task_class(plugin);
    Ok(tasks
        .into_iter()
        .map(|mut t| {
            t.insert("task.class".into(), class.to_string());
            t
        })
        .collect())
}
