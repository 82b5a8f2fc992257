//! Kubernetes custom resources of the `skiff.dev/v1alpha1` API: the types the operator watches and
//! `crdgen` turns into the CRD YAML under `crds/`.

mod connect_cluster;
mod kafka_connector;
mod properties;

pub use connect_cluster::*;
pub use kafka_connector::*;
pub use properties::{PropertyError, PropertyMap, property_string, property_strings};

/// The API group of every Skiff resource.
pub const GROUP: &str = "skiff.dev";

/// Label on a `KafkaConnector` naming its `ConnectCluster` (the alternative to `spec.clusterRef`).
pub const CLUSTER_LABEL: &str = "skiff.dev/cluster";

/// Annotation asking the operator to restart a connector (`true`, `includeTasks`, `onlyFailed`).
pub const RESTART_ANNOTATION: &str = "skiff.dev/restart";

/// Annotation asking the operator to restart one task, by its number.
pub const RESTART_TASK_ANNOTATION: &str = "skiff.dev/restart-task";

/// Annotation asking the operator to `list` a connector's offsets into a ConfigMap, or, while the
/// connector is stopped, to `alter` them from one or `reset` them.
pub const OFFSETS_ANNOTATION: &str = "skiff.dev/connector-offsets";

/// Key of the offsets document in the ConfigMaps of `spec.listOffsets` and `spec.alterOffsets`.
pub const OFFSETS_KEY: &str = "offsets.json";

/// A key of a Secret, for credentials the workers read from files or environment variables.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the resource's namespace.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
}
