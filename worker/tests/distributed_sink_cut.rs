//! A network partition between one of two distributed workers and Kafka, in the middle of a
//! backup, while the cut-off worker still reaches S3. Its backup task holds records it consumed
//! but has not written yet (objects close every 30 s). The other worker's task takes the
//! partition over once the cut-off consumer's 6 s session ends, and backs it up from the start.
//! The cut-off worker keeps its Connect session longer (15 s), so its task is still running when
//! the partition has moved. When that session runs out, the task must drop what it holds: an
//! object written then would overlap the new owner's. The bucket must hold every record exactly
//! once.
//!
//! The test waits for the objects rather than for committed offsets: a connector stopped right
//! after a task moved can leave offsets behind what its objects hold (a sibling task's consumer
//! leaving revokes the other's partitions before it commits), which the next run skips over.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_off_backup_task_writes_nothing_after_its_partition_moved() {
    let (group, topic, bucket) = fresh_group_topic_and_bucket("sink-cut", 2).await;
    let kafka = skiff_testenv::kafka();
    let proxies = kafka_cut_proxies().await;

    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let cut_off = format!(
        "bootstrap.servers={}\nsession.timeout.ms=15000\nheartbeat.interval.ms=3000\n",
        kafka.proxied.bootstrap
    );
    let a = spawn_distributed_with(dir.path(), &group, port_a, &cut_off);
    let b = spawn_distributed(dir.path(), &group, port_b);
    let url_b = format!("http://127.0.0.1:{port_b}");
    let (id_a, id_b) = (format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}"));

    let mut sink = backup_config(&bucket, &topic);
    sink.insert("tasks.max".into(), "2".into());
    sink.insert("flush.interval.ms".into(), "30000".into());
    create_when_led(&url_b, "cut-backup", serde_json::Value::Object(sink)).await;
    let placed = eventually(90, "a backup task on each worker", || async {
        let w = task_workers(&url_b, "cut-backup").await?;
        (w.len() == 2 && w.contains(&id_a) && w.contains(&id_b)).then_some(w)
    })
    .await;
    println!("backup tasks on {placed:?}");
    eventually(60, "a consumer for each backup task", || async {
        consumers_for_every_task(&sink_group_members("cut-backup").await, "cut-backup", 2)
            .then_some(())
    })
    .await;

    let all = sample_records(2, 2000);
    let parts = slices(&all, 40);
    for part in &parts[..8] {
        produce(&topic, part).await;
    }
    // Both tasks consume these and hold them: their objects close only after 30 s.
    tokio::time::sleep(Duration::from_secs(4)).await;

    for p in &proxies {
        p.set_enabled(false).await.unwrap();
    }
    let cut_at = Instant::now();
    for part in &parts[8..] {
        produce(&topic, part).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eventually(60, "the other worker to run both backup tasks", || async {
        let w = task_workers(&url_b, "cut-backup").await?;
        (w.len() == 2 && w.iter().all(|w| *w == id_b)).then_some(())
    })
    .await;
    println!(
        "both backup tasks on {id_b}, seen {:?} after the cut",
        cut_at.elapsed()
    );
    // The other worker writes its objects within 30 s of taking the partition.
    eventually(120, "every record to be in the bucket", || async {
        let objects = objects_in_bucket(&bucket, "", &topic).await;
        let records: usize = objects.values().flatten().map(|(_, r)| r.len()).sum();
        (records >= 4000).then_some(())
    })
    .await;
    drop((a, b));

    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;
}
