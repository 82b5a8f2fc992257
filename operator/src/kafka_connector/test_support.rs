//! Sample connectors for unit tests.

use kube::api::ObjectMeta;
use skiff_api::crd::{ConnectorTargetState, KafkaConnector, KafkaConnectorSpec};

/// A connector `name` on cluster `cc` with two tasks.
pub fn connector(name: &str) -> KafkaConnector {
    let mut kc = KafkaConnector::new(
        name,
        KafkaConnectorSpec {
            cluster_ref: Some("cc".into()),
            class: "FileStreamSink".into(),
            tasks_max: 2,
            config: Default::default(),
            state: ConnectorTargetState::Running,
            auto_restart: None,
            list_offsets: None,
            alter_offsets: None,
        },
    );
    kc.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        generation: Some(3),
        ..Default::default()
    };
    kc
}
