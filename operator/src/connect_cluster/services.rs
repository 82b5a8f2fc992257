//! The two Services: a headless one giving each worker a stable DNS name (its advertised REST
//! address), and one in front of the REST API that the connector controller calls.

use super::names::{REST_PORT, api_service, child_meta, headless_service, selector_labels};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use skiff_api::crd::ConnectCluster;

fn rest_port() -> ServicePort {
    ServicePort {
        name: Some("rest".into()),
        port: REST_PORT,
        target_port: Some(IntOrString::String("rest".into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Headless Service of the StatefulSet; it publishes pods before they are ready, because
/// starting workers already forward requests to each other.
pub fn build_headless_service(cc: &ConnectCluster) -> Service {
    Service {
        metadata: child_meta(cc, headless_service(cc)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(cc)),
            ports: Some(vec![rest_port()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// ClusterIP Service of the REST API, reaching ready workers only.
pub fn build_api_service(cc: &ConnectCluster) -> Service {
    Service {
        metadata: child_meta(cc, api_service(&cc.name_any())),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(cc)),
            ports: Some(vec![rest_port()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;

    #[test]
    fn headless_service_is_headless_and_publishes_unready_pods() {
        let svc = build_headless_service(&cluster("c1"));
        assert_eq!(svc.metadata.name.as_deref(), Some("c1-headless"));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(spec.ports.unwrap()[0].port, 8083);
    }

    #[test]
    fn api_service_selects_the_workers_on_8083() {
        let cc = cluster("c1");
        let svc = build_api_service(&cc);
        assert_eq!(svc.metadata.name.as_deref(), Some("c1-api"));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.selector.unwrap(), selector_labels(&cc));
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("rest"), 8083));
    }
}
