//! `ConnectCluster`: a group of Skiff workers in distributed mode that the operator runs, or an
//! existing Kafka Connect cluster (`external`) whose connectors it manages.

// Each `printcolumn(...)` repeats `type_`/`json_path`; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use super::SecretKeyRef;
use super::properties::{PropertyMap, property_map_schema};
use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Desired state of a Connect cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[kube(
    group = "skiff.dev",
    version = "v1alpha1",
    kind = "ConnectCluster",
    namespaced,
    status = "ConnectClusterStatus",
    shortname = "cc",
    category = "skiff",
    doc = "A Kafka Connect cluster of Skiff workers, or an external Connect cluster to manage connectors on.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.labelSelector"
    ),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.external) != has(self.bootstrapServers)")
    .message("exactly one of spec.external and spec.bootstrapServers must be set"))]
#[serde(rename_all = "camelCase")]
pub struct ConnectClusterSpec {
    /// Number of worker pods.
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.replicas must not be negative"))]
    pub replicas: i32,
    /// Worker image; defaults to the `skiff-worker` image of the operator's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Kafka bootstrap servers (`host:port,...`) of a cluster the operator runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Connect group id; defaults to `<namespace>.<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Names and replication of the internal topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_topics: Option<InternalTopics>,
    /// Extra worker properties.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "property_map_schema")]
    pub config: PropertyMap,
    /// Secrets every worker mounts for connectors' own settings, each at
    /// `/var/run/skiff/secrets/<name>/` with a file per key, so a KafkaConnector can reference
    /// them as `${dir:/var/run/skiff/secrets/<name>:<key>}`: a connector's own Kafka login
    /// (`consumer.override.sasl.jaas.config`) or S3 keys, never written into the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "secret_names_schema")]
    pub connector_secrets: Vec<String>,
    /// SASL authentication to Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<KafkaAuthentication>,
    /// TLS to Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<KafkaTls>,
    /// https and basic auth on the workers' REST API; the operator calls the API with them. With
    /// `external`, only what the operator needs to call that cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<RestSecurity>,
    /// S3 access for the backup and restore connectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Access>,
    /// Service account of the worker pods (IRSA / EKS Pod Identity for S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// CPU and memory of each worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Worker log level and format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Prometheus scraping of the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Overrides of the worker pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateOverride>,
    /// An existing Connect cluster that the operator does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalCluster>,
    /// Deletes connectors that no `KafkaConnector` in this namespace describes (created through
    /// the REST API), so the resources are the only source of connectors. Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive_connector_management: bool,
}

fn default_replicas() -> i32 {
    1
}

/// Internal topics of the Connect group; names default to `<groupId>-configs|offsets|status`.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InternalTopics {
    /// Topic holding connector configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Topic holding source offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// Topic holding connector and task states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Replication factor of the three topics; `-1` uses the broker default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == -1 || self >= 1")
        .message("spec.internalTopics.replicationFactor must be -1 or at least 1"))]
    pub replication_factor: Option<i32>,
}

/// SASL mechanism to authenticate to Kafka with.
#[derive(JsonSchema, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

/// SASL credentials; the password comes from a Secret and never appears in the ConfigMap.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaAuthentication {
    /// SASL mechanism.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Secret key holding the password.
    pub password_secret: SecretKeyRef,
}

/// TLS to Kafka: a CA to trust and optionally a client certificate.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTls {
    /// PEM CA certificate(s) that signed the brokers' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// Client certificate for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificate>,
}

/// A PEM client certificate and key held in one Secret.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    /// Secret name.
    pub secret_name: String,
    /// Key of the certificate chain.
    #[serde(default = "default_cert_key")]
    pub certificate_key: String,
    /// Key of the private key.
    #[serde(default = "default_key_key")]
    pub key_key: String,
}

fn default_cert_key() -> String {
    "tls.crt".into()
}

fn default_key_key() -> String {
    "tls.key".into()
}

/// Security of a cluster's REST API.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RestSecurity {
    /// Serve https with a `kubernetes.io/tls` Secret's `tls.crt` and `tls.key` (cert-manager
    /// writes these); its `ca.crt`, when present, else `tls.crt`, is what the operator and the
    /// workers trust. For an external cluster only that certificate to trust is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RestTlsSecret>,
    /// Require HTTP basic auth (`GET /health` stays open for probes); the operator calls the
    /// API as this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<RestBasicAuth>,
}

/// The Secret holding the REST API's certificate.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestTlsSecret {
    /// Secret name.
    pub secret_name: String,
}

/// The Secret holding the basic-auth user.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestBasicAuth {
    /// Secret name.
    pub secret_name: String,
    /// Key of the user name.
    #[serde(default = "default_username_key")]
    pub username_key: String,
    /// Key of the password.
    #[serde(default = "default_password_key")]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".into()
}

fn default_password_key() -> String {
    "password".into()
}

/// How workers reach S3: static keys from a Secret, or the pod's service account.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct S3Access {
    /// Secret with the access key id and secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<S3CredentialsSecret>,
    /// AWS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A Secret with static S3 credentials.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3CredentialsSecret {
    /// Secret name.
    pub name: String,
    /// Key of the access key id.
    #[serde(default = "default_access_key_id_key")]
    pub access_key_id_key: String,
    /// Key of the secret access key.
    #[serde(default = "default_secret_access_key_key")]
    pub secret_access_key_key: String,
}

fn default_access_key_id_key() -> String {
    "accessKeyId".into()
}

fn default_secret_access_key_key() -> String {
    "secretAccessKey".into()
}

/// Worker logging.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    /// Log level or tracing directives (the worker's `SKIFF_LOG_LEVEL`), e.g. `info,skiff_worker=debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
}

/// Worker log output format.
#[derive(JsonSchema, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Prometheus scraping of the workers' `/metrics` on their metrics port (9404, plain http, no
/// credentials; the REST port serves it too).
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Adds the `prometheus.io/*` scrape annotations, for port 9404, to the pods.
    #[serde(default)]
    pub enabled: bool,
}

/// Pod template fields a user may set on the workers.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateOverride {
    /// Extra pod annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Extra pod labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Pod affinity rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Pod tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Priority class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// A Connect cluster the operator does not run, reached at `url`.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCluster {
    /// Base URL of its REST API, e.g. `http://connect.kafka.svc:8083`.
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')")
        .message("spec.external.url must start with http:// or https://"))]
    pub url: String,
}

/// Observed state of a Connect cluster.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectClusterStatus {
    /// Pods of the StatefulSet.
    #[serde(default)]
    pub replicas: i32,
    /// Pods that are ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the pods, for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Base URL of the REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Connector plugins the cluster offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connector_plugins: Vec<ConnectorPlugin>,
    /// `Ready`, with reason and message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One connector plugin of a cluster, as `GET /connector-plugins` lists it.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorPlugin {
    /// Plugin class name.
    pub class: String,
    /// `sink` or `source`.
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// Plugin version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `spec.connectorSecrets`: distinct Secret names, checked by the API server as the user applies
/// the resource (a set, each a DNS subdomain), within the bounds CEL-free schemas need.
fn secret_names_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 64,
        "x-kubernetes-list-type": "set",
        "items": {
            "type": "string",
            "maxLength": 253,
            "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
        }
    })
}
