//! KafkaConnector operations beyond the lifecycle, against the real API server and real Connect
//! workers: offsets listed, altered and reset by annotation (Apache Kafka Connect peer),
//! exclusive connector management, and auto-restart of a task an S3 outage failed (Skiff
//! workers in this process, S3 behind toxiproxy).

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_api::crd::{ConnectCluster, KafkaConnector};
use skiff_operator::connect_rest::{ConnectRest, http_client};

/// The peer's offsets of connector `name`.
async fn peer_offsets(name: &str) -> Value {
    rest().offsets(name).await.expect("GET offsets")
}

#[tokio::test]
async fn offsets_are_listed_altered_and_reset_by_annotation() {
    let (client, ns) = setup("kc-offsets").await;
    let peer = skiff_testenv::connect_peer();
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(
            &PostParams::default(),
            &external_cluster("apache", &peer.url),
        )
        .await
        .expect("cluster");
    let name = skiff_testenv::unique_name("offsets");
    let topic = skiff_testenv::unique_name("offsets-topic");
    skiff_testenv::create_topic(&topic, 2).await.expect("topic");
    let mut kc = connector(&name, "apache", &topic, "/tmp/skiff-offsets.txt");
    kc.spec.list_offsets =
        serde_json::from_value(json!({"toConfigMap": {"name": "listed"}})).expect("listOffsets");
    kc.spec.alter_offsets =
        serde_json::from_value(json!({"fromConfigMap": {"name": "wanted"}})).expect("alterOffsets");
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    connectors
        .create(&PostParams::default(), &kc)
        .await
        .expect("connector");
    wait_state(&connectors, &name, "Running", "RUNNING").await;

    // Altering a running connector is refused with the fix named, and the request is dropped.
    annotate_and_wait(&connectors, &name, "skiff.dev/connector-offsets", "alter").await;
    let refused = event_notes(&client, &ns, &name, "OffsetsRefused").await;
    assert!(
        refused.iter().any(|n| n.contains("spec.state: stopped")),
        "{refused:?}"
    );

    // Stopped, the offsets in the ConfigMap are set on the cluster.
    let wanted = json!({"offsets": [
        {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 5}},
        {"partition": {"kafka_topic": topic, "kafka_partition": 1}, "offset": {"kafka_offset": 7}}
    ]});
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "wanted"},
        "data": {"offsets.json": wanted.to_string()}
    }))
    .expect("configmap");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &config_map)
        .await
        .expect("create configmap");
    let stop = json!({"spec": {"state": "stopped"}});
    connectors
        .patch(&name, &PatchParams::default(), &Patch::Merge(&stop))
        .await
        .expect("stop");
    annotate_and_wait(&connectors, &name, "skiff.dev/connector-offsets", "alter").await;
    let mut offsets = peer_offsets(&name).await["offsets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    offsets.sort_by_key(|o| o["partition"]["kafka_partition"].as_i64());
    assert_eq!(offsets, wanted["offsets"].as_array().cloned().unwrap());
    assert_eq!(
        event_notes(&client, &ns, &name, "OffsetsAltered")
            .await
            .len(),
        1
    );

    // Listing writes what the cluster has into the ConfigMap, owned by the connector.
    annotate_and_wait(&connectors, &name, "skiff.dev/connector-offsets", "list").await;
    let listed = config_maps.get("listed").await.expect("listed configmap");
    let owner = &listed.metadata.owner_references.clone().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("KafkaConnector", name.as_str())
    );
    let doc: Value = serde_json::from_str(&listed.data.expect("data")["offsets.json"])
        .expect("offsets.json is JSON");
    assert_eq!(doc["offsets"].as_array().map(Vec::len), Some(2), "{doc}");

    // Reset deletes them.
    annotate_and_wait(&connectors, &name, "skiff.dev/connector-offsets", "reset").await;
    assert_eq!(peer_offsets(&name).await["offsets"], json!([]));
    assert_eq!(
        event_notes(&client, &ns, &name, "OffsetsReset").await.len(),
        1
    );
    rest().delete(&name).await.expect("clean up the peer");
}

#[tokio::test]
async fn exclusive_management_deletes_connectors_without_a_resource() {
    let (client, ns) = setup("kc-exclusive").await;
    let (worker, dir) = skiff_worker().await;
    let url = format!("http://{}", worker.addr);
    let worker_rest = ConnectRest::new(http_client().expect("http"), &url);
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(&PostParams::default(), &external_cluster("solo", &url))
        .await
        .expect("cluster");
    let topic = skiff_testenv::unique_name("exclusive");
    skiff_testenv::create_topic(&topic, 1).await.expect("topic");
    let file = |n: &str| dir.path().join(n).display().to_string();
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    connectors
        .create(
            &PostParams::default(),
            &connector("kept", "solo", &topic, &file("kept.txt")),
        )
        .await
        .expect("connector");
    wait_state(&connectors, "kept", "Running", "RUNNING").await;
    // A second ConnectCluster on the same workers: its connector is not a stray.
    clusters
        .create(&PostParams::default(), &external_cluster("solo-twin", &url))
        .await
        .expect("twin cluster");
    connectors
        .create(
            &PostParams::default(),
            &connector("twin-kept", "solo-twin", &topic, &file("twin.txt")),
        )
        .await
        .expect("twin connector");
    wait_state(&connectors, "twin-kept", "Running", "RUNNING").await;
    let mut rogue = skiff_api::rest::ConnectorConfig::new();
    rogue.insert("connector.class".into(), FILE_SINK.into());
    rogue.insert("topics".into(), topic.clone());
    rogue.insert("file".into(), file("rogue.txt"));
    worker_rest
        .put_connector_config("rogue", &rogue)
        .await
        .expect("create through REST");

    // Shared management (the default): a connector made through the REST API is left alone
    // over several resyncs of the cluster (3 s each here).
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let mut names = worker_rest.connectors().await.expect("list");
    names.sort();
    assert_eq!(names, ["kept", "rogue", "twin-kept"]);

    // Exclusive management: it is deleted, and the one with a resource stays.
    let exclusive = json!({"spec": {"exclusiveConnectorManagement": true}});
    clusters
        .patch("solo", &PatchParams::default(), &Patch::Merge(&exclusive))
        .await
        .expect("exclusive");
    eventually(60, "the rogue connector deleted", || async {
        let mut names = worker_rest.connectors().await.ok()?;
        names.sort();
        (names == ["kept", "twin-kept"]).then_some(())
    })
    .await;
    let notes = event_notes(&client, &ns, "solo", "ConnectorDeleted").await;
    assert!(
        notes.iter().any(|n| n.contains("rogue")),
        "an Event names the deleted connector: {notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains("kept")),
        "a connector with a resource was deleted: {notes:?}"
    );
    wait_state(&connectors, "kept", "Running", "RUNNING").await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_restart_recovers_a_task_an_s3_outage_failed() {
    let (client, ns) = setup("kc-autorestart").await;
    let (worker, _dir) = skiff_worker().await;
    let url = format!("http://{}", worker.addr);
    let s3 = skiff_testenv::s3();
    let proxy = skiff_testenv::toxiproxy()
        .proxy(
            &skiff_testenv::unique_name("kc-autorestart"),
            s3.endpoint.trim_start_matches("http://"),
        )
        .await
        .expect("proxy");
    let name = skiff_testenv::unique_name("nightly");
    let topic = skiff_testenv::unique_name("autorestart");
    let bucket = skiff_testenv::unique_name("autorestart");
    skiff_testenv::create_topic(&topic, 1).await.expect("topic");
    skiff_testenv::create_bucket(&bucket).await.expect("bucket");
    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    clusters
        .create(&PostParams::default(), &external_cluster("skiff", &url))
        .await
        .expect("cluster");
    let kc: KafkaConnector = serde_json::from_value(json!({
        "apiVersion": "skiff.dev/v1alpha1",
        "kind": "KafkaConnector",
        "metadata": {"name": name},
        "spec": {
            "clusterRef": "skiff",
            "class": "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector",
            "autoRestart": {"enabled": true},
            "config": {
                "topics": topic, "aws.s3.bucket": bucket, "s3.endpoint": proxy.http_url(),
                "aws.region": s3.region, "aws.accessKeyId": s3.access_key,
                "aws.secretKey": s3.secret_key, "flush.size": "100", "flush.interval.ms": "500",
                "s3.retry.timeout.ms": "30000"
            }
        }
    }))
    .expect("connector");
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    connectors
        .create(&PostParams::default(), &kc)
        .await
        .expect("create");
    wait_state(&connectors, &name, "Running", "RUNNING").await;

    // S3 goes away while records arrive: the task retries (Ready=False, TaskRetrying), then
    // fails after s3.retry.timeout.ms, and the operator restarts it at once.
    proxy.set_enabled(false).await.expect("S3 down");
    let records = skiff_testenv::records::sample_records(1, 200);
    skiff_testenv::records::produce(&topic, &records)
        .await
        .expect("produce");
    eventually(60, "TaskRetrying while S3 is down", || async {
        let status = connectors.get(&name).await.ok()?.status?;
        ready(&status.conditions).filter(|(s, r)| s == "False" && r == "TaskRetrying")
    })
    .await;
    let restarted = eventually(150, "an automatic restart", || async {
        let status = connectors.get(&name).await.ok()?.status?;
        status.auto_restart.filter(|a| a.count == 1)
    })
    .await;
    assert!(restarted.last_restart_timestamp.is_some());

    // S3 is back before the restarted task gives up: it backs everything up. The count stays
    // until the connector has run healthy for the next restart's backoff (2 minutes), so a task
    // that fails again soon after each restart is not restarted in a tight loop.
    proxy.set_enabled(true).await.expect("S3 up");
    let status = eventually(90, "all records backed up after the restart", || async {
        let status = connectors.get(&name).await.ok()?.status?;
        (status.progress.as_ref()?.records == 200
            && ready(&status.conditions)? == ("True".to_owned(), "Running".to_owned()))
            .then_some(status)
    })
    .await;
    assert_eq!(status.progress.and_then(|p| p.last_error), None);
    assert_eq!(status.auto_restart.map(|a| a.count), Some(1));
    let notes = event_notes(&client, &ns, &name, "AutoRestarted").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    worker.stop().await;
}
