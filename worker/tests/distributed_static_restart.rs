//! A distributed worker with a `group.instance.id` (static membership, as the operator runs
//! StatefulSet pods) killed with SIGKILL and started again under the same identity, well within
//! its 30 s session: it gets its own backup task back and runs it, without waiting for the
//! session to expire, and the bucket ends up with every record exactly once. A second connector
//! created before the kill makes the worker's last assignment (an increment) hold something
//! else than its backup task, so a restart that got back only that increment would fail.
//!
//! The sink consumers' sessions are 60 s here: the restarted task takes its killed consumer out
//! of the connector's group before its new consumer joins, so the group rebalances at once.
//! Otherwise the rebalance would wait for the killed consumer's session to end, and the backup
//! would not be complete within 45 s of the kill.

mod common;

use common::*;
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_static_member_gets_its_own_task_back() {
    let (group, topic, bucket) = fresh_group_topic_and_bucket("dist-static", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let identity = |name: &str| {
        format!(
            "group.instance.id={name}\nsession.timeout.ms=30000\n\
             consumer.session.timeout.ms=60000\nconsumer.heartbeat.interval.ms=3000\n"
        )
    };
    let a = spawn_distributed_with(dir.path(), &group, port_a, &identity("worker-a"));
    let b = spawn_distributed_with(dir.path(), &group, port_b, &identity("worker-b"));
    let url_a = format!("http://127.0.0.1:{port_a}");
    let url_b = format!("http://127.0.0.1:{port_b}");
    let id_b = format!("127.0.0.1:{port_b}");

    let mut sink = backup_config(&bucket, &topic);
    sink.insert("tasks.max".into(), "2".into());
    sink.insert("flush.size".into(), "100".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_when_led(&url_a, "static-backup", serde_json::Value::Object(sink)).await;
    let before = eventually(90, "a task on each worker", || async {
        let w = task_workers(&url_a, "static-backup").await?;
        (w.len() == 2 && w.contains(&id_b)).then_some(w)
    })
    .await;
    println!("tasks on {before:?}");

    let other_topic = skiff_testenv::unique_name("dist-static-other");
    skiff_testenv::create_topic(&other_topic, 1).await.unwrap();
    let file_sink = serde_json::json!({
        "connector.class": "FileStreamSink",
        "topics": other_topic,
        "file": dir.path().join("other.txt"),
    });
    create_when_led(&url_a, "static-other", file_sink).await;
    eventually(90, "the second connector's task to run", || async {
        let w = task_workers(&url_a, "static-other").await?;
        (w.len() == 1).then_some(())
    })
    .await;
    let before = eventually(30, "the backup tasks to stay put", || async {
        let w = task_workers(&url_a, "static-backup").await?;
        (w == before).then_some(w)
    })
    .await;

    let all = sample_records(2, 1000);
    let halves = halves(&all);
    produce(&topic, &halves[0]).await;
    eventually(90, "the first half to be committed", || async {
        (committed_records(&url_a, "static-backup", &topic).await? >= 1000).then_some(())
    })
    .await;

    drop(b); // kill -9
    let killed = std::time::Instant::now();
    let b = spawn_distributed_with(dir.path(), &group, port_b, &identity("worker-b"));
    produce(&topic, &halves[1]).await;
    // The task the restarted worker owned has no other owner while its session lasts: every
    // record is committed only once the restarted worker runs it again, and before the killed
    // consumer's 60 s session could have ended.
    eventually(45, "every record to be committed", || async {
        (committed_records(&url_b, "static-backup", &topic).await? >= 2000).then_some(())
    })
    .await;
    println!(
        "every record committed {:?} after the kill (worker session 30 s, sink consumers' 60 s)",
        killed.elapsed()
    );
    let after = task_workers(&url_a, "static-backup").await;
    assert_eq!(
        after.as_ref(),
        Some(&before),
        "each task back on the worker that ran it"
    );
    // The statuses could be the ones written before the kill: each task's consumer in the
    // group shows that both tasks really run (the survivor's alone would read both partitions
    // once the dead consumer's session ended).
    eventually(60, "a consumer for each backup task", || async {
        let members = sink_group_members("static-backup").await;
        println!("backup consumers: {members:?}");
        consumers_for_every_task(&members, "static-backup", 2).then_some(())
    })
    .await;
    drop((a, b));

    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;
}
