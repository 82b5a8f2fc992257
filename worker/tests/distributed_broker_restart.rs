//! The Kafka broker restarts under a distributed cluster of two worker processes in the middle
//! of a backup: the workers' group connections and internal-topic clients reconnect by
//! themselves, the tasks keep running, the cluster still takes writes, and the bucket holds every
//! record once. This binary holds this one test because the restart interrupts every client of
//! the shared test broker.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_under_a_distributed_cluster_loses_and_duplicates_nothing() {
    let (group, topic, bucket) = fresh_group_topic_and_bucket("dist-restart", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let _a = spawn_distributed(dir.path(), &group, port_a);
    let _b = spawn_distributed(dir.path(), &group, port_b);
    let (url_a, url_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let mut sink = backup_config(&bucket, &topic);
    sink.insert("tasks.max".into(), "2".into());
    sink.insert("flush.size".into(), "100".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_when_led(&url_a, "restart-backup", serde_json::Value::Object(sink)).await;
    eventually(90, "both tasks running", || async {
        (task_workers(&url_a, "restart-backup").await?.len() == 2).then_some(())
    })
    .await;

    let all = sample_records(2, 1000);
    let halves = halves(&all);
    produce(&topic, &halves[0]).await;
    eventually(90, "the first half to be committed", || async {
        (committed_records(&url_a, "restart-backup", &topic).await? >= 1000).then_some(())
    })
    .await;

    let restarted = std::time::Instant::now();
    tokio::task::spawn_blocking(skiff_testenv::restart_kafka)
        .await
        .unwrap();
    produce(&topic, &halves[1]).await;
    eventually(180, "every record committed after the restart", || async {
        (committed_records(&url_a, "restart-backup", &topic).await? >= 2000).then_some(())
    })
    .await;
    println!(
        "caught up {:?} after the restart began",
        restarted.elapsed()
    );
    eventually(60, "both tasks running after the restart", || async {
        (task_workers(&url_b, "restart-backup").await?.len() == 2).then_some(())
    })
    .await;
    // The cluster still takes writes: its config topic and group work again.
    eventually(60, "a pause through the second worker", || async {
        let r = http()
            .put(format!("{url_b}/connectors/restart-backup/pause"))
            .send()
            .await
            .ok()?;
        (r.status() == 202).then_some(())
    })
    .await;
    let paused = |s: &serde_json::Value| {
        s["tasks"]
            .as_array()
            .is_some_and(|t| t.len() == 2 && t.iter().all(|t| t["state"] == "PAUSED"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let a = get_json(format!("{url_a}/connectors/restart-backup/status")).await;
        let b = get_json(format!("{url_b}/connectors/restart-backup/status")).await;
        if a.as_ref().is_some_and(paused) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "both tasks should be PAUSED; status through each worker: {a:?} / {b:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;
}
