//! Exclusive connector management (`spec.exclusiveConnectorManagement`): connectors created on
//! the cluster through its REST API, which no `KafkaConnector` describes, are deleted, so the
//! resources are the one source of truth (Strimzi's `use-connector-resources`).

use crate::connect_rest::ConnectRest;
use crate::context::Context;
use crate::error::Result;
use crate::events;
use crate::kafka_connector::{cluster_name, rest_url};
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use skiff_api::crd::{ConnectCluster, KafkaConnector};
use std::collections::BTreeSet;

/// The connectors on the cluster (`remote`) that no resource describes.
pub fn unmanaged(remote: &[String], described: &BTreeSet<String>) -> Vec<String> {
    remote
        .iter()
        .filter(|name| !described.contains(*name))
        .cloned()
        .collect()
}

/// Deletes the cluster's connectors that no `KafkaConnector` in its namespace names (through
/// this or another ConnectCluster with the same REST URL). The connectors are listed before the
/// resources, so a connector the operator just created for a new resource is always matched by
/// it. ConnectClusters in other namespaces are not consulted: exclusive management assumes none
/// of them points at the same Connect cluster (documented).
pub async fn delete_unmanaged(
    cc: &ConnectCluster,
    ctx: &Context,
    ns: &str,
    rest: &ConnectRest,
) -> Result<()> {
    let remote = rest.connectors().await?;
    let cluster = cc.name_any();
    // Every ConnectCluster of the namespace that reaches the same Connect cluster counts: their
    // connectors are not strays.
    let same_url = |other: &ConnectCluster| {
        let url = |c: &ConnectCluster| rest_url(&c.name_any(), Some(c)).ok();
        url(other).map(|u| u.trim_end_matches('/').to_owned())
            == url(cc).map(|u| u.trim_end_matches('/').to_owned())
    };
    let clusters: Api<ConnectCluster> = Api::namespaced(ctx.client.clone(), ns);
    let sharing: BTreeSet<String> = clusters
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|other| other.name_any() == cluster || same_url(other))
        .map(|other| other.name_any())
        .collect();
    let api: Api<KafkaConnector> = Api::namespaced(ctx.client.clone(), ns);
    let described: BTreeSet<String> = api
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|kc| cluster_name(kc).is_some_and(|c| sharing.contains(&c)))
        .map(|kc| kc.name_any())
        .collect();
    for name in unmanaged(&remote, &described) {
        rest.delete(&name).await?;
        let note = format!(
            "deleted connector {name}: no KafkaConnector describes it and spec.exclusiveConnectorManagement is on"
        );
        tracing::info!(cluster = %cluster, connector = %name, "{note}");
        events::publish(
            ctx,
            &cc.object_ref(&()),
            true,
            "ConnectorDeleted",
            &note,
            "Prune",
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connectors_without_a_resource_are_unmanaged() {
        let remote = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let described = BTreeSet::from(["a".to_owned(), "c".to_owned(), "gone".to_owned()]);
        assert_eq!(unmanaged(&remote, &described), ["b"]);
        assert!(unmanaged(&[], &described).is_empty());
    }
}
