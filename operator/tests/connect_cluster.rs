//! The ConnectCluster controller against the real API server (with controller-manager and a kwok
//! node): children and their fields, scaling, config-hash rolls, invalid specs, CEL refusals,
//! garbage collection, and leader election between two replicas.

mod common;

use common::{eventually, ready, setup};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_api::crd::ConnectCluster;
use skiff_operator::connect_cluster::config_hash_of;
use skiff_operator::leader::{self, LeaseConfig};
use skiff_operator::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn cluster(name: &str) -> ConnectCluster {
    serde_json::from_value(json!({
        "apiVersion": "skiff.dev/v1alpha1",
        "kind": "ConnectCluster",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "bootstrapServers": "kafka:9092",
            "config": {"offset.flush.interval.ms": 10000},
            "authentication": {
                "mechanism": "SCRAM-SHA-512",
                "username": "app",
                "passwordSecret": {"name": "kafka-password", "key": "password"}
            }
        }
    }))
    .expect("cluster")
}

/// The Secret `cluster` names for its SASL password.
fn password_secret() -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("kafka-password".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("password".to_owned(), "one".to_owned())])),
        ..Default::default()
    }
}

async fn hash(sets: &Api<StatefulSet>, name: &str) -> Option<String> {
    sets.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|s| config_hash_of(&s).cloned())
}

#[tokio::test]
async fn cluster_children_scale_roll_break_and_delete() {
    let (client, ns) = setup("cc-children").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(&PostParams::default(), &password_secret())
        .await
        .expect("secret");
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(&PostParams::default(), &cluster("c1"))
        .await
        .expect("create cluster");

    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let sts = eventually(30, "statefulset", || async {
        sets.get_opt("c1").await.ok().flatten()
    })
    .await;
    assert_eq!(sts.spec.replicas, Some(3));
    assert_eq!(sts.spec.service_name.as_deref(), Some("c1-headless"));
    let pod = sts.spec.template.spec.as_ref().expect("pod spec");
    let worker = &pod.containers[0];
    assert_eq!(
        worker.args.as_deref(),
        Some(
            &[
                "distributed".to_owned(),
                "/etc/skiff/worker.properties".to_owned()
            ][..]
        )
    );
    assert_eq!(
        worker
            .security_context
            .as_ref()
            .and_then(|s| s.read_only_root_filesystem),
        Some(true)
    );
    assert_eq!(
        worker
            .readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|g| g.path.as_deref()),
        Some("/health")
    );
    let owner = &sts.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("ConnectCluster", "c1")
    );
    let first_hash = config_hash_of(&sts).cloned().expect("hash");

    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let headless = services.get("c1-headless").await.expect("headless service");
    assert_eq!(
        headless.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()),
        Some("None")
    );
    let rest = services.get("c1-api").await.expect("api service");
    assert_eq!(
        rest.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|p| p[0].port),
        Some(8083)
    );
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("c1-config")
        .await
        .expect("configmap");
    let properties = cm.data.as_ref().expect("data")["worker.properties"].clone();
    assert!(
        properties.contains(&format!("group.id={ns}.c1\n")),
        "{properties}"
    );
    assert!(properties.contains("bootstrap.servers=kafka:9092\n"));
    assert!(properties.contains("offset.flush.interval.ms=10000\n"));
    assert!(
        properties.contains("metrics.listener=http://0.0.0.0:9404\n"),
        "{properties}"
    );
    assert!(
        !properties.contains("one"),
        "the secret value must not reach the ConfigMap"
    );
    let pdb = Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
        .get("c1")
        .await
        .expect("pdb");
    assert_eq!(
        pdb.spec.and_then(|s| s.max_unavailable),
        Some(IntOrString::Int(1))
    );

    // Status: pods come up on the kwok node; the REST API is not reachable from here.
    let status = eventually(60, "status with ready replicas", || async {
        let cc = clusters.get("c1").await.ok()?;
        let status = cc.status?;
        (status.ready_replicas == 3).then_some(status)
    })
    .await;
    assert_eq!(
        status.label_selector.as_deref(),
        Some("app.kubernetes.io/instance=c1,app.kubernetes.io/name=skiff-worker")
    );
    assert_eq!(status.url, Some(format!("http://c1-api.{ns}.svc:8083")));
    assert_eq!(status.observed_generation, Some(1));

    // Scale through the scale subresource: replicas follow, the pod template does not change.
    let scale = json!({"spec": {"replicas": 5}});
    clusters
        .patch_scale("c1", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale");
    eventually(30, "scaled statefulset", || async {
        let sts = sets.get("c1").await.ok()?;
        (sts.spec.replicas == Some(5)).then_some(())
    })
    .await;
    assert_eq!(hash(&sets, "c1").await.as_ref(), Some(&first_hash));

    // A worker property change rolls the pods (new hash).
    let patch = json!({"spec": {"config": {"offset.flush.interval.ms": 20000}}});
    clusters
        .patch("c1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch config");
    let second_hash = eventually(30, "hash after config change", || async {
        hash(&sets, "c1").await.filter(|h| *h != first_hash)
    })
    .await;

    // A rotated Secret rolls them too.
    let rotate = json!({"stringData": {"password": "two"}});
    secrets
        .patch(
            "kafka-password",
            &PatchParams::default(),
            &Patch::Merge(&rotate),
        )
        .await
        .expect("rotate");
    eventually(30, "hash after secret rotation", || async {
        hash(&sets, "c1")
            .await
            .filter(|h| *h != second_hash && *h != first_hash)
    })
    .await;

    // A spec the operator cannot run becomes a condition naming the field.
    let broken = json!({"spec": {"config": {"group.id": "mine"}}});
    clusters
        .patch("c1", &PatchParams::default(), &Patch::Merge(&broken))
        .await
        .expect("break spec");
    let message = eventually(30, "InvalidSpec condition", || async {
        let cc = clusters.get("c1").await.ok()?;
        let status = cc.status?;
        let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (c.reason == "InvalidSpec" && status.observed_generation == cc.metadata.generation)
            .then(|| c.message.clone())
    })
    .await;
    assert!(message.contains("spec.config.group.id"), "{message}");

    // Deleting the cluster removes its children (owner references, garbage collector).
    clusters
        .delete("c1", &DeleteParams::foreground())
        .await
        .expect("delete cluster");
    eventually(60, "children garbage-collected", || async {
        let gone = sets.get_opt("c1").await.ok()?.is_none()
            && services.get_opt("c1-api").await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
}

#[tokio::test]
async fn invalid_resources_are_refused_with_the_field_named() {
    let (client, ns) = setup("cc-cel").await;
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    let mut both = cluster("both");
    both.spec.external = Some(skiff_api::crd::ExternalCluster {
        url: "http://x:8083".into(),
    });
    let err = clusters
        .create(&PostParams::default(), &both)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("exactly one of spec.external and spec.bootstrapServers"),
        "{err}"
    );
    let mut negative = cluster("negative");
    negative.spec.replicas = -2;
    let err = clusters
        .create(&PostParams::default(), &negative)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("spec.replicas"), "{err}");
    for (name, names, says) in [
        ("bad-secret", vec!["Team_A"], "spec.connectorSecrets[0]"),
        (
            "twice",
            vec!["a", "a"],
            "spec.connectorSecrets[1]: Duplicate value",
        ),
    ] {
        let mut bad = cluster(name);
        bad.spec.connector_secrets = names.into_iter().map(String::from).collect();
        let err = clusters
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[tokio::test]
async fn missing_secret_is_a_condition_not_a_crash() {
    let (client, ns) = setup("cc-nosecret").await;
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(&PostParams::default(), &cluster("c2"))
        .await
        .expect("create");
    let state = eventually(30, "SecretMissing", || async {
        ready(&clusters.get("c2").await.ok()?.status?.conditions)
            .filter(|(_, r)| r == "SecretMissing")
    })
    .await;
    assert_eq!(state.0, "False");

    // The Secret created later is seen at once through the operator's watch on Secrets, not at
    // the next retry of a cluster that is not ready (15 s after the last).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(&PostParams::default(), &password_secret())
        .await
        .expect("secret");
    let sets: Api<StatefulSet> = Api::namespaced(client, &ns);
    eventually(
        5,
        "the statefulset right after the Secret exists",
        || async { sets.get_opt("c2").await.ok().flatten() },
    )
    .await;
}

#[tokio::test]
async fn two_replicas_one_leader_and_failover() {
    let client = common::client().await;
    let ns = common::namespace(&client, "lease").await;
    let config = |identity: &str| LeaseConfig {
        name: "skiff-operator".into(),
        namespace: ns.clone(),
        identity: identity.into(),
        duration: Duration::from_secs(3),
        renew_every: Duration::from_millis(500),
    };
    let (a_tx, a_rx) = watch::channel(false);
    let (b_tx, b_rx) = watch::channel(false);
    let a = tokio::spawn(leader::run(
        client.clone(),
        config("a"),
        Arc::new(Metrics::default()),
        a_tx,
    ));
    let b = tokio::spawn(leader::run(
        client.clone(),
        config("b"),
        Arc::new(Metrics::default()),
        b_tx,
    ));
    eventually(20, "a leader", || async {
        (*a_rx.borrow() || *b_rx.borrow()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        *a_rx.borrow() != *b_rx.borrow(),
        "exactly one replica leads"
    );
    let (leader_task, follower_rx, follower) = if *a_rx.borrow() {
        (a, b_rx, "b")
    } else {
        (b, a_rx, "a")
    };
    leader_task.abort();
    eventually(20, "failover", || async {
        (*follower_rx.borrow()).then_some(())
    })
    .await;
    let lease = Api::<Lease>::namespaced(client, &ns)
        .get("skiff-operator")
        .await
        .expect("lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(follower)
    );
}
