//! Sample resources for the builder unit tests.

use kube::api::ObjectMeta;
use skiff_api::crd::{ConnectCluster, ConnectClusterSpec};

/// A minimal valid cluster `name` in namespace `ns`.
pub fn cluster(name: &str) -> ConnectCluster {
    let mut cc = ConnectCluster::new(
        name,
        ConnectClusterSpec {
            replicas: 3,
            bootstrap_servers: Some("kafka:9092".into()),
            ..Default::default()
        },
    );
    cc.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        uid: Some("uid-1".into()),
        generation: Some(1),
        ..Default::default()
    };
    cc
}
