//! The ConfigMap holding `worker.properties`.

use super::names::{PROPERTIES_KEY, child_meta, config_map};
use k8s_openapi::api::core::v1::ConfigMap;
use skiff_api::crd::ConnectCluster;
use std::collections::BTreeMap;

/// The ConfigMap with the rendered worker properties.
pub fn build_config_map(cc: &ConnectCluster, properties: &str) -> ConfigMap {
    ConfigMap {
        metadata: child_meta(cc, config_map(cc)),
        data: Some(BTreeMap::from([(
            PROPERTIES_KEY.to_owned(),
            properties.to_owned(),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;

    #[test]
    fn holds_the_properties_under_one_key() {
        let cm = build_config_map(&cluster("c1"), "a=1\n");
        assert_eq!(cm.metadata.name.as_deref(), Some("c1-config"));
        assert_eq!(cm.data.unwrap()["worker.properties"], "a=1\n");
    }
}
