//! The Kafka broker restarts in the middle of a backup and of a restore (a rolling upgrade, a
//! crashed pod): the tasks ride it out and reconnect by themselves; the bucket and the restored
//! topic hold every record exactly once.
//! This binary holds this one test because the restart interrupts every client of the shared
//! test broker.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_restarts_during_backup_and_restore_lose_and_duplicate_nothing() {
    // A failure here is a reconnect that went wrong, and the client's messages are what explain
    // it, the group's trace (`cgrp`) above all: the test output shows them when it fails.
    let _logs = LogOnFailure::install("info,librdkafka=debug");
    let topic = skiff_testenv::unique_name("restart");
    let bucket = skiff_testenv::unique_name("restart");
    skiff_testenv::create_topic(&topic, 2).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let worker = start_worker_with(
        &skiff_testenv::kafka().bootstrap,
        &[("consumer.debug", "cgrp")],
    )
    .await;
    let url = worker.url.clone();
    let all = sample_records(2, 1500);
    let parts = slices(&all, 6);

    let mut sink = backup_config(&bucket, &topic);
    sink.insert("flush.size".into(), "100".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_connector(&url, "restart-backup", sink).await;
    produce(&topic, &parts[0]).await;
    eventually(90, "the first slice to be committed", || async {
        (committed_records(&url, "restart-backup", &topic).await? >= 500).then_some(())
    })
    .await;

    // Records keep arriving while the broker goes down and comes back.
    let producer = {
        let (topic, rest) = (topic.clone(), parts[1..3].to_vec());
        tokio::spawn(async move {
            for slice in rest {
                produce(&topic, &slice).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    tokio::task::spawn_blocking(skiff_testenv::restart_kafka)
        .await
        .unwrap();
    producer.await.unwrap();
    for slice in &parts[3..] {
        produce(&topic, slice).await;
    }
    eventually(180, "the backup to catch up after the restart", || async {
        let status = get_json(format!("{url}/connectors/restart-backup/status")).await?;
        assert_ne!(
            status["tasks"][0]["state"], "FAILED",
            "the task failed after the broker restart: {status}"
        );
        (committed_records(&url, "restart-backup", &topic).await? >= 3000).then_some(())
    })
    .await;
    let status = get_json(format!("{url}/connectors/restart-backup/status"))
        .await
        .unwrap();
    assert_eq!(
        status["tasks"][0]["state"], "RUNNING",
        "the task must survive a broker restart: {status}"
    );
    eventually(
        70,
        "the backup's status to be clear of the restart",
        || async {
            progress(&url, "restart-backup").await?["lastError"]
                .is_null()
                .then_some(())
        },
    )
    .await;
    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;

    // The restore: 300 records a second, so the restart lands in the middle of it.
    let restored = format!("{topic}-r");
    skiff_testenv::create_topic(&restored, 2).await.unwrap();
    let mut source = restore_config(&bucket, &topic, &restored);
    source.insert("maxRecordsPerSecond".into(), "300".into());
    create_connector(&url, "restart-restore", source).await;
    restore_started(&url, "restart-restore").await;
    tokio::task::spawn_blocking(skiff_testenv::restart_kafka)
        .await
        .unwrap();
    let during = progress(&url, "restart-restore").await.unwrap();
    assert_eq!(
        during["done"], false,
        "the restore finished before the restart: the test proves nothing ({during})"
    );
    restore_finished(&url, "restart-restore", 180, "after the restart").await;
    assert_same_records(&all, &consume_all(&restored, 2), true);
}
