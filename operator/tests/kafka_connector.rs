//! The KafkaConnector controller against the real API server and the Apache Kafka Connect peer
//! (an `external` ConnectCluster): create, update, pause, resume, stop, restart, drift repair,
//! refused configs, a missing cluster, and delete; and a backup's progress from a Skiff worker.

mod common;

use common::*;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_api::crd::{ConnectCluster, KafkaConnector};

#[tokio::test]
async fn connector_lifecycle_on_apache_connect() {
    let (client, ns) = setup("kc-life").await;
    let peer = skiff_testenv::connect_peer();
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(
            &PostParams::default(),
            &external_cluster("apache", &peer.url),
        )
        .await
        .expect("cluster");
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    let name = skiff_testenv::unique_name("life");
    let topic = skiff_testenv::unique_name("life-topic");
    connectors
        .create(
            &PostParams::default(),
            &connector(&name, "apache", &topic, "/tmp/skiff-life-1.txt"),
        )
        .await
        .expect("connector");

    // Create.
    wait_state(&connectors, &name, "Running", "RUNNING").await;
    let config = remote_config(&name).await.expect("connector exists");
    assert_eq!(config["connector.class"], FILE_SINK);
    assert_eq!(config["file"], "/tmp/skiff-life-1.txt");
    let kc = connectors.get(&name).await.expect("get");
    assert!(
        kc.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"skiff.dev/connector".to_owned())
    );
    let status = kc.status.expect("status");
    assert_eq!(status.cluster.as_deref(), Some("apache"));
    assert_eq!(status.tasks_max, Some(1));
    assert_eq!(status.observed_generation, kc.metadata.generation);
    assert_eq!(
        status.progress, None,
        "Apache Connect has no progress endpoint"
    );

    // Update, including tasksMax through the scale subresource.
    let patch = json!({"spec": {"config": {"file": "/tmp/skiff-life-2.txt"}}});
    connectors
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("update");
    eventually(30, "updated config", || async {
        remote_config(&name)
            .await
            .filter(|c| c["file"] == "/tmp/skiff-life-2.txt")
    })
    .await;
    let scale = json!({"spec": {"replicas": 2}});
    connectors
        .patch_scale(&name, &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale");
    eventually(30, "tasks.max 2", || async {
        remote_config(&name).await.filter(|c| c["tasks.max"] == "2")
    })
    .await;

    // Pause, resume, stop, run again.
    for (state, reason, rest_state) in [
        ("paused", "Paused", "PAUSED"),
        ("running", "Running", "RUNNING"),
        ("stopped", "Stopped", "STOPPED"),
        ("running", "Running", "RUNNING"),
    ] {
        let patch = json!({"spec": {"state": state}});
        connectors
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("state");
        wait_state(&connectors, &name, reason, rest_state).await;
    }

    // Drift repair: a change behind the operator's back is put back.
    let mut drifted = remote_config(&name).await.expect("config");
    drifted.insert("file".into(), "/tmp/skiff-drift.txt".into());
    rest()
        .put_connector_config(&name, &drifted)
        .await
        .expect("drift");
    eventually(30, "drift repaired", || async {
        remote_config(&name)
            .await
            .filter(|c| c["file"] == "/tmp/skiff-life-2.txt")
    })
    .await;
    // ... and so is a deletion.
    rest().delete(&name).await.expect("delete behind the back");
    eventually(30, "connector recreated", || async {
        remote_config(&name).await
    })
    .await;
    wait_state(&connectors, &name, "Running", "RUNNING").await;

    // Restart by annotation: done, then the annotation is removed.
    let restart = json!({"metadata": {"annotations": {"skiff.dev/restart": "includeTasks"}}});
    connectors
        .patch(&name, &PatchParams::default(), &Patch::Merge(&restart))
        .await
        .expect("annotate");
    eventually(30, "restart annotation removed", || async {
        let kc = connectors.get(&name).await.ok()?;
        (!kc.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("skiff.dev/restart"))
        .then_some(())
    })
    .await;

    // Delete: the finalizer removes the connector from the cluster first.
    connectors
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    eventually(30, "resource gone", || async {
        connectors
            .get_opt(&name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        remote_config(&name).await.is_none(),
        "connector deleted from the cluster"
    );
}

#[tokio::test]
async fn refused_config_becomes_a_condition() {
    let (client, ns) = setup("kc-refused").await;
    let peer = skiff_testenv::connect_peer();
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(
            &PostParams::default(),
            &external_cluster("apache", &peer.url),
        )
        .await
        .expect("cluster");
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    let name = skiff_testenv::unique_name("refused");
    let mut kc = connector(&name, "apache", "t", "/tmp/skiff-refused.txt");
    kc.spec.class = "com.example.DoesNotExist".into();
    connectors
        .create(&PostParams::default(), &kc)
        .await
        .expect("connector");
    let message = eventually(60, "ConfigRejected", || async {
        let status = connectors.get(&name).await.ok()?.status?;
        let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (c.reason == "ConfigRejected").then(|| c.message.clone())
    })
    .await;
    assert!(message.contains("DoesNotExist"), "{message}");
    assert!(remote_config(&name).await.is_none());
    connectors
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    eventually(30, "resource gone", || async {
        connectors
            .get_opt(&name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn connector_waits_for_its_cluster() {
    let (client, ns) = setup("kc-wait").await;
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    let name = skiff_testenv::unique_name("waiting");
    let topic = skiff_testenv::unique_name("waiting-topic");
    connectors
        .create(
            &PostParams::default(),
            &connector(&name, "later", &topic, "/tmp/skiff-wait.txt"),
        )
        .await
        .expect("connector");
    eventually(30, "ClusterNotFound", || async {
        ready(&connectors.get(&name).await.ok()?.status?.conditions)
            .filter(|(s, r)| s == "False" && r == "ClusterNotFound")
    })
    .await;
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    let peer = skiff_testenv::connect_peer();
    clusters
        .create(
            &PostParams::default(),
            &external_cluster("later", &peer.url),
        )
        .await
        .expect("cluster");
    wait_state(&connectors, &name, "Running", "RUNNING").await;

    // The cluster deleted under the connector: a clear condition.
    clusters
        .delete("later", &DeleteParams::default())
        .await
        .expect("delete cluster");
    eventually(30, "ClusterNotFound after delete", || async {
        ready(&connectors.get(&name).await.ok()?.status?.conditions)
            .filter(|(s, r)| s == "False" && r == "ClusterNotFound")
    })
    .await;
    rest().delete(&name).await.expect("clean up the peer");
}

#[tokio::test]
async fn config_keys_owned_by_spec_fields_are_an_invalid_spec() {
    let (client, ns) = setup("kc-invalid").await;
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    let mut kc = connector("invalid", "none", "t", "/tmp/skiff-invalid.txt");
    kc.spec.config.insert("tasks.max".into(), json!(3));
    connectors
        .create(&PostParams::default(), &kc)
        .await
        .expect("connector");
    let message = eventually(30, "InvalidSpec", || async {
        let status = connectors.get("invalid").await.ok()?.status?;
        let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (c.reason == "InvalidSpec").then(|| c.message.clone())
    })
    .await;
    assert!(message.contains("spec.config.tasks.max"), "{message}");
    let mut bad_tasks = connector("zero", "none", "t", "/tmp/x");
    bad_tasks.spec.tasks_max = 0;
    let err = connectors
        .create(&PostParams::default(), &bad_tasks)
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("spec.tasksMax must be at least 1"),
        "{err}"
    );
}

#[tokio::test]
async fn backup_progress_on_a_skiff_cluster_reaches_the_status() {
    let (client, ns) = setup("kc-progress").await;
    let (worker, _dir) = skiff_worker().await;
    let url = format!("http://{}", worker.addr);
    let topic = skiff_testenv::unique_name("progress");
    let bucket = skiff_testenv::unique_name("progress");
    skiff_testenv::create_topic(&topic, 1).await.expect("topic");
    skiff_testenv::create_bucket(&bucket).await.expect("bucket");
    let records = skiff_testenv::records::sample_records(1, 300);
    skiff_testenv::records::produce(&topic, &records)
        .await
        .expect("produce");
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(&PostParams::default(), &external_cluster("skiff", &url))
        .await
        .expect("cluster");
    let s3 = skiff_testenv::s3();
    let kc: KafkaConnector = serde_json::from_value(json!({
        "apiVersion": "skiff.dev/v1alpha1",
        "kind": "KafkaConnector",
        "metadata": {"name": "nightly"},
        "spec": {
            "clusterRef": "skiff",
            "class": "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector",
            "config": {
                "topics": topic, "aws.s3.bucket": bucket, "s3.endpoint": s3.endpoint,
                "aws.region": s3.region, "aws.accessKeyId": s3.access_key,
                "aws.secretKey": s3.secret_key, "flush.size": "100", "flush.interval.ms": "500"
            }
        }
    }))
    .expect("connector");
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    connectors
        .create(&PostParams::default(), &kc)
        .await
        .expect("create");
    let status = eventually(90, "300 records backed up in the status", || async {
        let status = connectors.get("nightly").await.ok()?.status?;
        (status.progress.as_ref()?.records == 300).then_some(status)
    })
    .await;
    let progress = status.progress.clone().expect("progress");
    assert_eq!(progress.objects, 3, "flush.size=100: {progress:?}");
    assert!(progress.bytes > 0, "{progress:?}");
    assert_eq!(progress.done, None, "a backup is never done: {progress:?}");
    assert_eq!(progress.last_error, None);
    let text = serde_json::to_string(&status).expect("json");
    assert!(
        !text.contains(&s3.secret_key),
        "the status shows the secret key"
    );
    // `kubectl get` shows readiness and the records backed up.
    let k8s_env = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/testenv/k8s.env"),
    )
    .expect("k8s.env");
    let kubectl = k8s_env
        .lines()
        .find_map(|l| l.strip_prefix("KUBECTL="))
        .expect("KUBECTL in k8s.env");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(kubectl)
            .args(["get", "kafkaconnector", "nightly", "-n", &ns])
            .env("KUBECONFIG", &skiff_testenv::kube().kubeconfig)
            .output(),
    )
    .await
    .expect("kubectl in time")
    .expect("kubectl runs");
    let table = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| row.get(i))
    };
    assert_eq!(column("READY"), Some(&"True"), "{table}");
    assert_eq!(column("RECORDS"), Some(&"300"), "{table}");

    // A second connector carrying the same secret that the cluster refuses: its condition
    // message, and every Event the operator published in the namespace, are free of it.
    let refused: KafkaConnector = serde_json::from_value(json!({
        "apiVersion": "skiff.dev/v1alpha1", "kind": "KafkaConnector",
        "metadata": {"name": "refused"},
        "spec": {
            "clusterRef": "skiff",
            "class": "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector",
            "config": {
                "topics": topic, "aws.s3.bucket": bucket, "aws.accessKeyId": s3.access_key,
                "aws.secretKey": s3.secret_key, "flush.size": "lots"
            }
        }
    }))
    .expect("connector");
    connectors
        .create(&PostParams::default(), &refused)
        .await
        .expect("create");
    let refusal = eventually(60, "the refusal as a condition", || async {
        let status = connectors.get("refused").await.ok()?.status?;
        let text = serde_json::to_string(&status).ok()?;
        text.contains("ConfigRejected").then_some(text)
    })
    .await;
    assert!(refusal.contains("flush.size"), "{refusal}");
    assert!(
        !refusal.contains(&s3.secret_key),
        "the status shows the secret key"
    );
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    let listed = eventually(30, "the operator's events", || async {
        let list = events.list(&Default::default()).await.ok()?;
        let text = serde_json::to_string(&list.items).ok()?;
        (text.contains("ConfigApplied") && text.contains("refused")).then_some(text)
    })
    .await;
    assert!(
        !listed.contains(&s3.secret_key),
        "an Event shows the secret key"
    );
    worker.stop().await;
}
