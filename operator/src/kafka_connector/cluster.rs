//! Finding the `ConnectCluster` a connector belongs to and the URL of its REST API.

use crate::conditions::Readiness;
use crate::connect_cluster::names::service_url;
use kube::ResourceExt;
use skiff_api::crd::{CLUSTER_LABEL, ConnectCluster, KafkaConnector};

/// The cluster name a connector names: `spec.clusterRef`, else the `skiff.dev/cluster` label.
pub fn cluster_name(kc: &KafkaConnector) -> Option<String> {
    kc.spec
        .cluster_ref
        .clone()
        .or_else(|| kc.labels().get(CLUSTER_LABEL).cloned())
        .filter(|n| !n.is_empty())
}

/// The REST URL of a cluster, or why the connector cannot use it.
pub fn rest_url(name: &str, cluster: Option<&ConnectCluster>) -> Result<String, Readiness> {
    let Some(cc) = cluster else {
        return Err(Readiness::not_ready(
            "ClusterNotFound",
            format!("ConnectCluster {name} does not exist"),
        ));
    };
    if cc.metadata.deletion_timestamp.is_some() {
        return Err(Readiness::not_ready(
            "ClusterDeleted",
            format!("ConnectCluster {name} is being deleted"),
        ));
    }
    Ok(match &cc.spec.external {
        Some(external) => external.url.clone(),
        None => service_url(cc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_connector::test_support::connector;
    use skiff_api::crd::{ConnectClusterSpec, ExternalCluster};
    use std::collections::BTreeMap;

    #[test]
    fn cluster_ref_wins_over_the_label() {
        let mut kc = connector("c");
        kc.metadata.labels = Some(BTreeMap::from([(
            CLUSTER_LABEL.to_owned(),
            "from-label".to_owned(),
        )]));
        assert_eq!(cluster_name(&kc).as_deref(), Some("cc"));
        kc.spec.cluster_ref = None;
        assert_eq!(cluster_name(&kc).as_deref(), Some("from-label"));
        kc.metadata.labels = None;
        assert_eq!(cluster_name(&kc), None);
    }

    #[test]
    fn urls_and_missing_clusters() {
        assert_eq!(rest_url("cc", None).unwrap_err().reason, "ClusterNotFound");
        let mut cc = ConnectCluster::new("cc", ConnectClusterSpec::default());
        cc.metadata.namespace = Some("ns".into());
        assert_eq!(
            rest_url("cc", Some(&cc)).unwrap(),
            "http://cc-api.ns.svc:8083"
        );
        cc.spec.external = Some(ExternalCluster {
            url: "http://127.0.0.1:8083".into(),
        });
        assert_eq!(rest_url("cc", Some(&cc)).unwrap(), "http://127.0.0.1:8083");
        cc.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert_eq!(
            rest_url("cc", Some(&cc)).unwrap_err().reason,
            "ClusterDeleted"
        );
    }
}
