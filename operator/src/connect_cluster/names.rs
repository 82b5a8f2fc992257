//! Names, labels and addresses derived from a `ConnectCluster`, in one place so that builders,
//! status and the connector controller agree on them.

use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};
use skiff_api::crd::{CLUSTER_LABEL, ConnectCluster};
use std::collections::BTreeMap;

/// Port of the workers' REST API.
pub const REST_PORT: i32 = 8083;
/// Port of the workers' `metrics.listener`: `/metrics` over plain http without credentials, so
/// Prometheus needs neither the REST API's user nor a way through its NetworkPolicy.
pub const METRICS_PORT: i32 = 9404;
/// Pod template annotation whose change rolls the workers.
pub const CONFIG_HASH_ANNOTATION: &str = "skiff.dev/config-hash";
/// Key of the worker properties in the ConfigMap.
pub const PROPERTIES_KEY: &str = "worker.properties";
/// Where the ConfigMap is mounted in the workers.
pub const CONFIG_DIR: &str = "/etc/skiff";

/// The worker image matching this operator's version.
pub fn default_image() -> String {
    format!("skiff-worker:{}", env!("CARGO_PKG_VERSION"))
}

/// The cluster's namespace (empty only for objects not read from the API).
pub fn namespace(cc: &ConnectCluster) -> String {
    cc.namespace().unwrap_or_default()
}

/// Name of the headless Service giving each worker a stable DNS name.
pub fn headless_service(cc: &ConnectCluster) -> String {
    format!("{}-headless", cc.name_any())
}

/// Name of the Service in front of the REST API.
pub fn api_service(cluster_name: &str) -> String {
    format!("{cluster_name}-api")
}

/// Name of the ConfigMap with the worker properties.
pub fn config_map(cc: &ConnectCluster) -> String {
    format!("{}-config", cc.name_any())
}

/// Whether the cluster's REST API serves https (`spec.rest.tls`).
pub fn serves_https(cc: &ConnectCluster) -> bool {
    cc.spec.rest.as_ref().is_some_and(|r| r.tls.is_some())
}

/// REST URL of a cluster the operator runs, through its Service.
pub fn service_url(cc: &ConnectCluster) -> String {
    let scheme = if serves_https(cc) { "https" } else { "http" };
    format!(
        "{scheme}://{}.{}.svc:{REST_PORT}",
        api_service(&cc.name_any()),
        cc.namespace().unwrap_or_default()
    )
}

/// The Connect group id: `spec.groupId` or `<namespace>.<name>`.
pub fn group_id(cc: &ConnectCluster) -> String {
    cc.spec
        .group_id
        .clone()
        .unwrap_or_else(|| format!("{}.{}", namespace(cc), cc.name_any()))
}

/// Labels selecting this cluster's pods.
pub fn selector_labels(cc: &ConnectCluster) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "skiff-worker".to_owned(),
        ),
        ("app.kubernetes.io/instance".to_owned(), cc.name_any()),
    ])
}

/// Labels on every child object.
pub fn labels(cc: &ConnectCluster) -> BTreeMap<String, String> {
    let mut labels = selector_labels(cc);
    labels.insert(
        "app.kubernetes.io/managed-by".into(),
        "skiff-operator".into(),
    );
    labels.insert(CLUSTER_LABEL.into(), cc.name_any());
    labels
}

/// The pod selector in `kubectl` syntax, for the scale subresource.
pub fn label_selector(cc: &ConnectCluster) -> String {
    selector_labels(cc)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Metadata of a child object `name`: namespace, labels and the controller owner reference that
/// lets Kubernetes delete it with the cluster.
pub fn child_meta(cc: &ConnectCluster, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: cc.namespace(),
        labels: Some(labels(cc)),
        owner_references: cc.controller_owner_ref(&()).map(|r| vec![r]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;

    #[test]
    fn names_and_defaults() {
        let cc = cluster("c1");
        assert_eq!(headless_service(&cc), "c1-headless");
        assert_eq!(api_service("c1"), "c1-api");
        assert_eq!(service_url(&cc), "http://c1-api.ns.svc:8083");
        let mut secured = cc.clone();
        secured.spec.rest = Some(skiff_api::crd::RestSecurity {
            tls: Some(skiff_api::crd::RestTlsSecret {
                secret_name: "cert".into(),
            }),
            basic_auth: None,
        });
        assert_eq!(service_url(&secured), "https://c1-api.ns.svc:8083");
        assert_eq!(group_id(&cc), "ns.c1");
        assert_eq!(
            label_selector(&cc),
            "app.kubernetes.io/instance=c1,app.kubernetes.io/name=skiff-worker"
        );
        assert!(default_image().starts_with("skiff-worker:"));
        let meta = child_meta(&cc, "x".into());
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("ConnectCluster", "c1")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(meta.namespace.as_deref(), Some("ns"));
        assert_eq!(meta.labels.unwrap()["skiff.dev/cluster"], "c1");
    }
}
