//! Kafka Connect REST entities, with the exact JSON shapes Apache Kafka Connect 4.x uses, so the
//! worker serves them and the operator reads them from Skiff or Apache workers alike.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A connector's configuration as the REST API carries it: a flat string map.
pub type ConnectorConfig = BTreeMap<String, String>;

/// `{"error_code": N, "message": "..."}`: Connect's error body; `error_code` equals the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error_code: u16,
    pub message: String,
}

/// `GET /` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    pub commit: String,
    pub kafka_cluster_id: Option<String>,
}

/// Whether a connector reads from Kafka (`sink`) or writes into it (`source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    Source,
    Sink,
    Unknown,
}

/// Identifies one task of one connector: `{"connector": "c", "task": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    pub connector: String,
    pub task: u32,
}

/// `ConnectorInfo`: what create, get and config updates return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub config: ConnectorConfig,
    pub tasks: Vec<TaskId>,
    #[serde(rename = "type")]
    pub connector_type: ConnectorType,
}

/// `POST /connectors` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateConnectorRequest {
    pub name: String,
    pub config: ConnectorConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_state: Option<TargetState>,
}

/// The state a user asks a connector to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TargetState {
    Running,
    Paused,
    Stopped,
}

/// The state a connector or task reports, exactly as Connect spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
}

impl State {
    /// The upper-case name Connect uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
        }
    }
}

/// The connector part of a status: `{"state", "worker_id"[, "version"][, "trace"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorState {
    pub state: State,
    pub worker_id: String,
    /// The plugin version running (Connect 4.x reports it; older workers do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One task's status: `{"id", "state", "worker_id"[, "version"][, "trace"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    pub id: u32,
    pub state: State,
    pub worker_id: String,
    /// The plugin version running (Connect 4.x reports it; older workers do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// `ConnectorStateInfo`: what `GET /connectors/{c}/status` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStateInfo {
    pub name: String,
    pub connector: ConnectorState,
    pub tasks: Vec<TaskState>,
    #[serde(rename = "type")]
    pub connector_type: ConnectorType,
}

/// One entry of `GET /connectors/{c}/tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: TaskId,
    pub config: ConnectorConfig,
}

/// One entry of `GET /connector-plugins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub class: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One source partition and its offset, as `GET /connectors/{c}/offsets` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffset {
    pub partition: serde_json::Map<String, serde_json::Value>,
    pub offset: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `{"offsets": [...]}`: the body of the offsets endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffsets {
    pub offsets: Vec<ConnectorOffset>,
}

/// `{"message": "..."}`: the body of successful offset alterations and resets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message: String,
}

/// `ConfigInfos`: the body of `PUT /connector-plugins/{plugin}/config/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfos {
    pub name: String,
    pub error_count: u32,
    pub groups: Vec<String>,
    pub configs: Vec<ConfigInfo>,
}

/// One key's definition and the value given for it, with its errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    pub definition: ConfigKeyInfo,
    pub value: ConfigValueInfo,
}

/// A config key's definition, as `GET /connector-plugins/{plugin}/config` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigKeyInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub config_type: String,
    pub required: bool,
    pub default_value: Option<String>,
    pub importance: String,
    pub documentation: String,
    pub group: Option<String>,
    /// `order_in_group` on the wire since Connect 4.x; 3.x workers sent `order`.
    #[serde(rename = "order_in_group", alias = "order")]
    pub order: i32,
    pub width: String,
    pub display_name: String,
    pub dependents: Vec<String>,
}

/// The value given for one key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValueInfo {
    pub name: String,
    pub value: Option<String>,
    pub recommended_values: Vec<String>,
    pub errors: Vec<String>,
    pub visible: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_omits_empty_trace_and_uses_connect_names() {
        let status = ConnectorStateInfo {
            name: "c".into(),
            connector: ConnectorState {
                state: State::Running,
                worker_id: "10.0.0.1:8083".into(),
                version: None,
                trace: None,
            },
            tasks: vec![TaskState {
                id: 0,
                state: State::Failed,
                worker_id: "10.0.0.1:8083".into(),
                version: Some("4.3.1".into()),
                trace: Some("boom".into()),
            }],
            connector_type: ConnectorType::Sink,
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "c",
                "connector": {"state": "RUNNING", "worker_id": "10.0.0.1:8083"},
                "tasks": [{"id": 0, "state": "FAILED", "worker_id": "10.0.0.1:8083", "version": "4.3.1", "trace": "boom"}],
                "type": "sink"
            })
        );
    }
}
