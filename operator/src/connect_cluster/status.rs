//! A cluster's status from what the operator observed: its StatefulSet's pods and whether the
//! REST API answers.

use super::names::label_selector;
use crate::conditions::{Readiness, ready_condition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use skiff_api::crd::{ConnectCluster, ConnectClusterStatus, ConnectorPlugin};
use skiff_api::rest::PluginInfo;

/// What asking the REST API for its plugins gave.
#[derive(Debug, Clone, PartialEq)]
pub enum RestProbe {
    /// Not asked: no worker is ready.
    Skipped,
    /// The API did not answer; the error.
    Down(String),
    /// The API answered with its plugins.
    Up(Vec<PluginInfo>),
}

/// Readiness of a cluster the operator runs.
pub fn managed_readiness(desired: i32, ready: i32, rest: &RestProbe) -> Readiness {
    if desired == 0 {
        return Readiness::not_ready("ScaledToZero", "spec.replicas is 0");
    }
    if ready < desired {
        return Readiness::not_ready("PodsNotReady", format!("{ready}/{desired} workers ready"));
    }
    match rest {
        RestProbe::Up(_) => Readiness::ready("Ready", format!("{ready}/{desired} workers ready")),
        RestProbe::Down(e) => Readiness::not_ready(
            "RestApiUnavailable",
            format!("REST API does not answer: {e}"),
        ),
        RestProbe::Skipped => {
            Readiness::not_ready("RestApiUnavailable", "REST API not checked yet")
        }
    }
}

/// Readiness of an external cluster: its REST API answers.
pub fn external_readiness(rest: &RestProbe) -> Readiness {
    match rest {
        RestProbe::Up(_) => Readiness::ready("Ready", "external REST API answers"),
        RestProbe::Down(e) => Readiness::not_ready(
            "RestApiUnavailable",
            format!("REST API does not answer: {e}"),
        ),
        RestProbe::Skipped => {
            Readiness::not_ready("RestApiUnavailable", "REST API not checked yet")
        }
    }
}

/// Replica counts of the StatefulSet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replicas {
    /// Pods that exist.
    pub current: i32,
    /// Pods that are ready.
    pub ready: i32,
}

/// The status to write.
pub fn build_status(
    cc: &ConnectCluster,
    url: Option<String>,
    replicas: Replicas,
    rest: &RestProbe,
    readiness: &Readiness,
    now: Timestamp,
) -> ConnectClusterStatus {
    let previous: &[Condition] = cc
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let previous_plugins = cc
        .status
        .as_ref()
        .map(|s| s.connector_plugins.clone())
        .unwrap_or_default();
    let connector_plugins = match rest {
        RestProbe::Up(plugins) => plugins
            .iter()
            .filter(|p| p.plugin_type == "sink" || p.plugin_type == "source")
            .map(|p| ConnectorPlugin {
                class: p.class.clone(),
                plugin_type: p.plugin_type.clone(),
                version: p.version.clone(),
            })
            .collect(),
        _ => previous_plugins,
    };
    ConnectClusterStatus {
        replicas: replicas.current,
        ready_replicas: replicas.ready,
        label_selector: cc.spec.external.is_none().then(|| label_selector(cc)),
        url,
        connector_plugins,
        conditions: vec![ready_condition(
            readiness,
            cc.metadata.generation,
            previous,
            now,
        )],
        observed_generation: cc.metadata.generation,
    }
}

/// A short description for logs.
pub fn describe(cc: &ConnectCluster, readiness: &Readiness) -> String {
    format!(
        "{}/{}: {} ({})",
        cc.namespace().unwrap_or_default(),
        cc.name_any(),
        readiness.reason,
        readiness.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;

    fn plugin(class: &str, t: &str) -> PluginInfo {
        PluginInfo {
            class: class.into(),
            plugin_type: t.into(),
            version: Some("1".into()),
        }
    }

    #[test]
    fn readiness_needs_all_pods_and_the_rest_api() {
        let up = RestProbe::Up(vec![]);
        assert_eq!(managed_readiness(3, 2, &up).reason, "PodsNotReady");
        assert_eq!(managed_readiness(3, 2, &up).message, "2/3 workers ready");
        assert_eq!(
            managed_readiness(3, 3, &RestProbe::Down("refused".into())).reason,
            "RestApiUnavailable"
        );
        assert!(managed_readiness(3, 3, &up).ready);
        assert_eq!(managed_readiness(0, 0, &up).reason, "ScaledToZero");
        assert!(external_readiness(&up).ready);
        assert!(!external_readiness(&RestProbe::Skipped).ready);
    }

    #[test]
    fn status_reports_pods_selector_plugins_and_generation() {
        let cc = cluster("c1");
        let rest = RestProbe::Up(vec![
            plugin("a.Sink", "sink"),
            plugin("x.Conv", "converter"),
        ]);
        let readiness = managed_readiness(3, 3, &rest);
        let now = Timestamp::from_second(10).unwrap();
        let status = build_status(
            &cc,
            Some("http://u".into()),
            Replicas {
                current: 3,
                ready: 3,
            },
            &rest,
            &readiness,
            now,
        );
        assert_eq!((status.replicas, status.ready_replicas), (3, 3));
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(status.connector_plugins.len(), 1);
        assert_eq!(status.connector_plugins[0].class, "a.Sink");
        assert_eq!(
            status.label_selector.as_deref(),
            Some("app.kubernetes.io/instance=c1,app.kubernetes.io/name=skiff-worker")
        );
        assert_eq!(status.conditions[0].status, "True");
        assert_eq!(status.url.as_deref(), Some("http://u"));
    }
}
