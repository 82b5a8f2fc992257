//! The StatefulSet of workers: stable pod names (so a restarted worker keeps its advertised
//! address), hardened containers, `/health` probes, and the config hash that rolls the pods.

use super::names::{
    CONFIG_DIR, CONFIG_HASH_ANNOTATION, METRICS_PORT, PROPERTIES_KEY, REST_PORT, child_meta,
    config_map, headless_service, labels, namespace, selector_labels, serves_https,
};
use super::secrets::{s3_env, secret_volumes};
use super::worker_properties::ADVERTISED_HOST_ENV;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, SeccompProfile, SecurityContext, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::ObjectMeta;
use skiff_api::crd::{ConnectCluster, LogFormat};

/// UID the workers run as when the image does not say otherwise.
const WORKER_UID: i64 = 65532;

/// The worker StatefulSet; `config_hash` goes into the pod template, `worker_image` is the
/// image of a cluster that names none.
pub fn build_stateful_set(
    cc: &ConnectCluster,
    config_hash: &str,
    worker_image: &str,
) -> StatefulSet {
    StatefulSet {
        metadata: child_meta(cc, cc.name_any()),
        spec: StatefulSetSpec {
            replicas: Some(cc.spec.replicas),
            service_name: Some(headless_service(cc)),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(cc)),
                ..Default::default()
            },
            template: pod_template(cc, config_hash, worker_image),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn pod_template(cc: &ConnectCluster, config_hash: &str, worker_image: &str) -> PodTemplateSpec {
    let template = cc.spec.template.clone().unwrap_or_default();
    let mut pod_labels = template.labels;
    pod_labels.extend(labels(cc));
    let mut annotations = template.annotations;
    // The metrics listener is plain http without credentials, whatever `spec.rest` says.
    if cc.spec.metrics.as_ref().is_some_and(|m| m.enabled) {
        annotations.insert("prometheus.io/scrape".into(), "true".into());
        annotations.insert("prometheus.io/port".into(), METRICS_PORT.to_string());
        annotations.insert("prometheus.io/path".into(), "/metrics".into());
    }
    annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash.into());

    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map(cc),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
    ];
    let mut mounts = vec![mount("config", CONFIG_DIR), mount("tmp", "/tmp")];
    for (volume, volume_mount) in secret_volumes(&cc.spec) {
        volumes.push(volume);
        mounts.push(volume_mount);
    }

    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![worker_container(cc, mounts, worker_image)],
            volumes: Some(volumes),
            service_account_name: cc.spec.service_account_name.clone(),
            affinity: template.affinity,
            tolerations: (!template.tolerations.is_empty()).then_some(template.tolerations),
            node_selector: (!template.node_selector.is_empty()).then_some(template.node_selector),
            priority_class_name: template.priority_class_name,
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(WORKER_UID),
                run_as_group: Some(WORKER_UID),
                fs_group: Some(WORKER_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(path != "/tmp"),
        ..Default::default()
    }
}

fn worker_container(
    cc: &ConnectCluster,
    mounts: Vec<VolumeMount>,
    worker_image: &str,
) -> Container {
    Container {
        name: "worker".into(),
        image: Some(
            cc.spec
                .image
                .clone()
                .unwrap_or_else(|| worker_image.to_string()),
        ),
        command: Some(vec!["skiff-worker".into()]),
        args: Some(vec![
            "distributed".into(),
            format!("{CONFIG_DIR}/{PROPERTIES_KEY}"),
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some("rest".into()),
                container_port: REST_PORT,
                protocol: Some("TCP".into()),
                ..Default::default()
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: METRICS_PORT,
                protocol: Some("TCP".into()),
                ..Default::default()
            },
        ]),
        env: Some(worker_env(cc)),
        resources: cc.spec.resources.clone(),
        volume_mounts: Some(mounts),
        startup_probe: Some(health_probe(serves_https(cc), 5, 60)),
        readiness_probe: Some(health_probe(serves_https(cc), 5, 2)),
        liveness_probe: Some(listening_probe()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Liveness: the REST port accepts connections. Not `/health`, which turns unhealthy while a
/// worker is out of its group: during a long Kafka outage that would restart every worker, and a
/// worker cannot start while Kafka is down, so they would come back only after their restart
/// backoff. `GET /` would need credentials when basic auth is on.
fn listening_probe() -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("rest".into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

/// Startup and readiness: a probe on the worker's `/health`, which answers 503 while starting
/// and 500 when out of its group too long; it needs no credentials, and the kubelet does not
/// check the certificate.
fn health_probe(https: bool, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/health".into()),
            port: IntOrString::String("rest".into()),
            scheme: https.then(|| "HTTPS".into()),
            ..Default::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(3),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

fn worker_env(cc: &ConnectCluster) -> Vec<EnvVar> {
    let plain = |name: &str, value: String| EnvVar {
        name: name.into(),
        value: Some(value),
        ..Default::default()
    };
    let from_pod = |name: &str, field_path: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut env = vec![
        from_pod("POD_NAME", "metadata.name"),
        // With the pod name, the worker's static group member id (`<pod>.<namespace>`): unique
        // even when clusters in two namespaces share a group.id.
        from_pod("POD_NAMESPACE", "metadata.namespace"),
        plain(
            ADVERTISED_HOST_ENV,
            format!("$(POD_NAME).{}.{}.svc", headless_service(cc), namespace(cc)),
        ),
    ];
    if let Some(logging) = &cc.spec.logging {
        if let Some(level) = &logging.level {
            env.push(plain("SKIFF_LOG_LEVEL", level.clone()));
        }
        if let Some(format) = logging.format {
            let format = match format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            };
            env.push(plain("SKIFF_LOG_FORMAT", format.into()));
        }
    }
    env.extend(s3_env(&cc.spec));
    env
}

/// The pod template annotation carrying the config hash, for status and tests.
pub fn config_hash_of(sts: &StatefulSet) -> Option<&String> {
    sts.spec
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(CONFIG_HASH_ANNOTATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::names::default_image;
    use crate::connect_cluster::test_support::cluster;
    use k8s_openapi::api::core::v1::Toleration;
    use skiff_api::crd::{Logging, Metrics, PodTemplateOverride};
    use std::collections::BTreeMap;

    fn pod_annotations(sts: &StatefulSet) -> BTreeMap<String, String> {
        sts.spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default()
    }

    fn pod(sts: &StatefulSet) -> &PodSpec {
        sts.spec.template.spec.as_ref().unwrap()
    }

    #[test]
    fn runs_distributed_workers_with_stable_names() {
        let cc = cluster("c1");
        let sts = build_stateful_set(&cc, "abc", &default_image());
        let spec = &sts.spec;
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(spec.service_name.as_deref(), Some("c1-headless"));
        assert_eq!(
            spec.selector.match_labels.as_ref().unwrap(),
            &selector_labels(&cc)
        );
        assert_eq!(config_hash_of(&sts).map(String::as_str), Some("abc"));
        let c = &pod(&sts).containers[0];
        assert_eq!(c.image.as_deref(), Some(default_image().as_str()));
        // The operator's --worker-image, for a cluster that names none; its own spec.image wins.
        let registry = "registry.example.com/skiff-worker:1.2.3";
        let sts = build_stateful_set(&cc, "abc", registry);
        assert_eq!(pod(&sts).containers[0].image.as_deref(), Some(registry));
        let mut pinned = cc.clone();
        pinned.spec.image = Some("mine:1".into());
        let sts = build_stateful_set(&pinned, "abc", registry);
        assert_eq!(pod(&sts).containers[0].image.as_deref(), Some("mine:1"));
        let sts = build_stateful_set(&cc, "abc", &default_image());
        let c = &pod(&sts).containers[0];
        assert_eq!(c.command.as_ref().unwrap(), &["skiff-worker"]);
        assert_eq!(
            c.args.as_ref().unwrap(),
            &["distributed", "/etc/skiff/worker.properties"]
        );
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8083);
        let env = c.env.as_ref().unwrap();
        let host = env.iter().find(|e| e.name == ADVERTISED_HOST_ENV).unwrap();
        assert_eq!(
            host.value.as_deref(),
            Some("$(POD_NAME).c1-headless.ns.svc")
        );
        assert_eq!(env[0].name, "POD_NAME");
        let namespace = env.iter().find(|e| e.name == "POD_NAMESPACE").unwrap();
        assert_eq!(
            namespace
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.namespace"
        );
    }

    #[test]
    fn containers_are_hardened_and_probed_on_health() {
        let sts = build_stateful_set(&cluster("c1"), "h", &default_image());
        let pod = pod(&sts);
        assert_eq!(
            pod.security_context.as_ref().unwrap().run_as_non_root,
            Some(true)
        );
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_ref().unwrap(),
            &["ALL"]
        );
        for probe in [&c.readiness_probe, &c.startup_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.path.as_deref(), Some("/health"));
            assert_eq!(get.scheme, None);
        }
        let alive = c.liveness_probe.as_ref().unwrap();
        assert!(
            alive.http_get.is_none(),
            "a worker out of its group is not restarted"
        );
        assert_eq!(
            alive.tcp_socket.as_ref().unwrap().port,
            IntOrString::String("rest".into())
        );
        let mut secured = cluster("c1");
        secured.spec.rest = Some(skiff_api::crd::RestSecurity {
            tls: Some(skiff_api::crd::RestTlsSecret {
                secret_name: "cert".into(),
            }),
            basic_auth: None,
        });
        let secured = build_stateful_set(&secured, "h", &default_image());
        let c = &self::pod(&secured).containers[0];
        for probe in [&c.readiness_probe, &c.startup_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(
                get.scheme.as_deref(),
                Some("HTTPS"),
                "https workers probed over https"
            );
        }
        let mounts = c.volume_mounts.as_ref().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_path == "/tmp" && m.read_only == Some(false))
        );
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_path == "/etc/skiff" && m.read_only == Some(true))
        );
    }

    #[test]
    fn replicas_do_not_touch_the_pod_template() {
        let mut cc = cluster("c1");
        let a = build_stateful_set(&cc, "h", &default_image());
        cc.spec.replicas = 7;
        let b = build_stateful_set(&cc, "h", &default_image());
        assert_eq!(b.spec.replicas, Some(7));
        assert_eq!(a.spec.template, b.spec.template);
    }

    #[test]
    fn template_override_logging_and_metrics_apply() {
        let mut cc = cluster("c1");
        cc.spec.image = Some("registry/skiff:1".into());
        cc.spec.service_account_name = Some("s3-reader".into());
        cc.spec.logging = Some(Logging {
            level: Some("debug".into()),
            format: Some(LogFormat::Json),
        });
        cc.spec.metrics = Some(Metrics { enabled: true });
        cc.spec.template = Some(PodTemplateOverride {
            annotations: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
            node_selector: BTreeMap::from([("disk".to_owned(), "ssd".to_owned())]),
            tolerations: vec![Toleration {
                key: Some("k".into()),
                ..Default::default()
            }],
            priority_class_name: Some("high".into()),
            ..Default::default()
        });
        let sts = build_stateful_set(&cc, "h", &default_image());
        let annotations = pod_annotations(&sts);
        assert_eq!(annotations["a"], "b");
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations[CONFIG_HASH_ANNOTATION], "h");
        let pod = pod(&sts);
        assert_eq!(pod.service_account_name.as_deref(), Some("s3-reader"));
        assert_eq!(pod.priority_class_name.as_deref(), Some("high"));
        assert_eq!(pod.node_selector.as_ref().unwrap()["disk"], "ssd");
        assert_eq!(pod.tolerations.as_ref().unwrap().len(), 1);
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry/skiff:1"));
        let env = c.env.as_ref().unwrap();
        assert!(
            env.iter()
                .any(|e| e.name == "SKIFF_LOG_LEVEL" && e.value.as_deref() == Some("debug"))
        );
        assert!(
            env.iter()
                .any(|e| e.name == "SKIFF_LOG_FORMAT" && e.value.as_deref() == Some("json"))
        );
        // Scraped on the metrics listener, plain http without credentials, even when the REST
        // API wants https and a user.
        assert_eq!(annotations["prometheus.io/port"], "9404");
        assert!(!annotations.contains_key("prometheus.io/scheme"));
        let ports = c.ports.as_ref().unwrap();
        assert!(
            ports
                .iter()
                .any(|p| p.name.as_deref() == Some("metrics") && p.container_port == 9404)
        );
        let mut guarded = cc.clone();
        guarded.spec.rest = serde_json::from_value(serde_json::json!({
            "tls": {"secretName": "cert"}, "basicAuth": {"secretName": "user"}
        }))
        .unwrap();
        let annotations = pod_annotations(&build_stateful_set(&guarded, "h", &default_image()));
        assert_eq!(
            (
                annotations["prometheus.io/scrape"].as_str(),
                annotations["prometheus.io/port"].as_str(),
                annotations.get("prometheus.io/scheme"),
            ),
            ("true", "9404", None),
            "{annotations:?}"
        );
    }
}
