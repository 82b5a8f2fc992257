//! `KafkaConnector`: one connector on a `ConnectCluster`, kept in line with the resource through
//! the cluster's REST API. The connector's name is the resource's name.

// Each `printcolumn(...)` repeats `type_`/`json_path`; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use super::properties::{PropertyMap, property_map_schema};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of a connector.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[kube(
    group = "skiff.dev",
    version = "v1alpha1",
    kind = "KafkaConnector",
    namespaced,
    status = "KafkaConnectorStatus",
    shortname = "kctr",
    category = "skiff",
    doc = "A Kafka Connect connector, run on a ConnectCluster.",
    scale(
        spec_replicas_path = ".spec.tasksMax",
        status_replicas_path = ".status.tasksMax"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".status.cluster"),
    printcolumn(name = "Class", type_ = "string", json_path = ".spec.class"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.connectorStatus.state"
    ),
    printcolumn(name = "Tasks", type_ = "integer", json_path = ".spec.tasksMax"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Records",
        type_ = "integer",
        json_path = ".status.progress.records"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaConnectorSpec {
    /// Name of the `ConnectCluster` in this namespace; the `skiff.dev/cluster` label also works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<String>,
    /// Connector class (`connector.class`).
    #[x_kube(validation = Rule::new("self != ''").message("spec.class must not be empty"))]
    pub class: String,
    /// Maximum number of tasks (`tasks.max`).
    #[serde(default = "default_tasks_max")]
    #[x_kube(validation = Rule::new("self >= 1").message("spec.tasksMax must be at least 1"))]
    pub tasks_max: i32,
    /// Connector properties except `connector.class`, `tasks.max` and `name`; secrets belong in
    /// `${file:...}` or `${env:...}` references.
    #[serde(default)]
    #[schemars(schema_with = "property_map_schema")]
    pub config: PropertyMap,
    /// Whether the connector runs, is paused or is stopped.
    #[serde(default)]
    pub state: ConnectorTargetState,
    /// Restarting failed connectors and tasks automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_restart: Option<AutoRestart>,
    /// Where `skiff.dev/connector-offsets: list` writes the connector's offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_offsets: Option<ListOffsets>,
    /// Where `skiff.dev/connector-offsets: alter` reads the offsets to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alter_offsets: Option<AlterOffsets>,
}

/// The ConfigMap the connector's offsets are written to, under the key `offsets.json`.
#[derive(JsonSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListOffsets {
    /// The ConfigMap, created or overwritten; owned by the connector.
    pub to_config_map: ConfigMapRef,
}

/// The ConfigMap whose `offsets.json` key holds the offsets to set, in the body shape of
/// `PATCH /connectors/{name}/offsets` (the shape `list` writes).
#[derive(JsonSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AlterOffsets {
    /// The ConfigMap, in the connector's namespace.
    pub from_config_map: ConfigMapRef,
}

/// A ConfigMap in the resource's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapRef {
    /// Its name.
    pub name: String,
}

fn default_tasks_max() -> i32 {
    1
}

/// The state a connector is asked to be in.
#[derive(JsonSchema, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorTargetState {
    #[default]
    Running,
    Paused,
    Stopped,
}

/// Automatic restarts of a failed connector or task, with growing backoff.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoRestart {
    /// Turns automatic restarts on.
    #[serde(default)]
    pub enabled: bool,
    /// Gives up after this many restarts; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.autoRestart.maxRestarts must not be negative"))]
    pub max_restarts: Option<i32>,
}

/// Observed state of a connector.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct KafkaConnectorStatus {
    /// `Ready`, with reason and message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The `ConnectCluster` the connector runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The connector's own state as the cluster reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_status: Option<InstanceStatus>,
    /// Each task's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskStatus>,
    /// `tasks.max` applied to the cluster, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_max: Option<i32>,
    /// Topics the connector uses, when the cluster tracks them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Automatic restarts so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_restart: Option<AutoRestartStatus>,
    /// Backup or restore progress, from Skiff's `GET /connectors/{c}/progress`; absent on
    /// clusters without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ConnectorProgress>,
}

/// What a backup or restore has done so far, summed over the running tasks.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorProgress {
    /// Restores: every task restored all it was given (`restore.mode=once`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// Records uploaded (backup) or written to Kafka (restore).
    pub records: i64,
    /// Bytes uploaded (backup) or read from S3 (restore).
    pub bytes: i64,
    /// Objects uploaded (backup) or read (restore).
    pub objects: i64,
    /// The S3 error a task is retrying right now (`task <n>: <error>`); absent when healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Problems that need the user but do not stop the connector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// State of a connector instance as the REST API reports it.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// `RUNNING`, `PAUSED`, `STOPPED`, `FAILED`, `UNASSIGNED` or `RESTARTING`.
    pub state: String,
    /// Worker running it (`host:port`).
    pub worker_id: String,
    /// Stack trace of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// State of one task.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// Task number.
    pub id: i32,
    /// Task state.
    pub state: String,
    /// Worker running it.
    pub worker_id: String,
    /// Stack trace of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// Automatic restarts performed so far.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoRestartStatus {
    /// Restarts since the connector last ran healthy.
    pub count: i32,
    /// When the last restart happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restart_timestamp: Option<Time>,
}
