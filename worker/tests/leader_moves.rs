//! Partition leaders moving under a backup and a restore, on a three-node Kafka cluster
//! (replication factor 3, min ISR 2): the node leading partition 0 is stopped (a controlled
//! shutdown, as in a rolling restart) in the middle of each, and started again later. The tasks
//! keep running, follow the new leaders, and the bucket and the restored topic hold every record
//! exactly once.

mod common;

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

/// The node leading `partition` of `topic` on the three-node cluster.
fn leader_of(topic: &str, partition: i32) -> i32 {
    let consumer: BaseConsumer = skiff_testenv::kafka_three()
        .client_config()
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    md.topics()[0]
        .partitions()
        .iter()
        .find(|p| p.id() == partition)
        .map(|p| p.leader())
        .unwrap()
}

async fn stop_node(id: i32) {
    tokio::task::spawn_blocking(move || skiff_testenv::stop_kafka_three_node(id))
        .await
        .unwrap();
}

async fn start_node(id: i32) {
    tokio::task::spawn_blocking(move || skiff_testenv::start_kafka_three_node(id))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_and_restore_follow_moving_partition_leaders() {
    let kafka = skiff_testenv::kafka_three();
    let topic = skiff_testenv::unique_name("leaders");
    let bucket = skiff_testenv::unique_name("leaders");
    skiff_testenv::create_topic_on(kafka, &topic, 2, &[])
        .await
        .unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let worker = start_worker_on(&kafka.bootstrap).await;
    let url = worker.url.clone();

    let mut sink = backup_config(&bucket, &topic);
    sink.insert("flush.size".into(), "100".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_connector(&url, "leaders-backup", sink).await;

    let all = sample_records(2, 3000);
    let thirds = slices(&all, 3);
    skiff_testenv::records::produce_to(kafka, &topic, &thirds[0])
        .await
        .unwrap();
    eventually(90, "the first third to be committed", || async {
        (committed_records(&url, "leaders-backup", &topic).await? >= 2000).then_some(())
    })
    .await;

    let leader = leader_of(&topic, 0);
    stop_node(leader).await;
    println!("backup: node {leader} (leader of partition 0) stopped");
    skiff_testenv::records::produce_to(kafka, &topic, &thirds[1])
        .await
        .unwrap();
    eventually(
        120,
        "the second third to be committed with a node down",
        || async {
            (committed_records(&url, "leaders-backup", &topic).await? >= 4000).then_some(())
        },
    )
    .await;
    println!(
        "backup: partition 0 now led by node {}",
        leader_of(&topic, 0)
    );
    start_node(leader).await;
    skiff_testenv::records::produce_to(kafka, &topic, &thirds[2])
        .await
        .unwrap();
    eventually(120, "every record to be committed", || async {
        (committed_records(&url, "leaders-backup", &topic).await? >= 6000).then_some(())
    })
    .await;
    assert_eq!(
        task_states(&url, "leaders-backup").await,
        ["RUNNING"],
        "the backup task must ride out the leader moves"
    );
    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;

    // The restore, throttled so a leader stops in the middle of it.
    let restored = format!("{topic}-r");
    skiff_testenv::create_topic_on(kafka, &restored, 2, &[])
        .await
        .unwrap();
    let mut source = restore_config(&bucket, &topic, &restored);
    source.insert("maxRecordsPerSecond".into(), "200".into());
    create_connector(&url, "leaders-restore", source).await;
    restore_started(&url, "leaders-restore").await;
    let leader = leader_of(&restored, 0);
    stop_node(leader).await;
    println!("restore: node {leader} (leader of partition 0) stopped");
    let during = progress(&url, "leaders-restore").await.unwrap();
    assert_eq!(
        during["done"], false,
        "the restore finished before the leader stopped: the test proves nothing ({during})"
    );
    restore_finished(&url, "leaders-restore", 180, "with a node down").await;
    start_node(leader).await;
    let restored_records = skiff_testenv::records::consume_all_from(kafka, &restored, 2).unwrap();
    assert_same_records(&all, &restored_records, true);
}
