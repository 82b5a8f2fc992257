//! A rolling restart of a three-worker distributed cluster in the middle of a backup, as a
//! StatefulSet update does it: each worker in turn is stopped gracefully (SIGTERM) and started
//! again under the same `group.instance.id`, and the next one goes only once the backup has caught
//! up with what was produced meanwhile. Every task keeps running somewhere, each ends up with a
//! consumer in the group, and the bucket holds every record exactly once.

mod common;

use common::*;

/// Stops a worker process with SIGTERM and waits (at most 60 s) for it to exit.
fn stop_gracefully(mut worker: WorkerProcess) {
    let pid = worker.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM {pid} failed");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(exited) = worker.0.try_wait().unwrap() {
            println!("worker {pid} exited: {exited}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker {pid} did not stop within 60 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_keeps_the_backup_complete() {
    let (group, topic, bucket) = fresh_group_topic_and_bucket("dist-roll", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let identity = |i: usize| format!("group.instance.id=roll-{i}\n");
    let mut workers: Vec<Option<WorkerProcess>> = (0..3)
        .map(|i| {
            Some(spawn_distributed_with(
                dir.path(),
                &group,
                ports[i],
                &identity(i),
            ))
        })
        .collect();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();

    let mut sink = backup_config(&bucket, &topic);
    sink.insert("tasks.max".into(), "3".into());
    sink.insert("flush.size".into(), "100".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_when_led(&urls[0], "roll-backup", serde_json::Value::Object(sink)).await;
    let placed = eventually(90, "the three tasks to run", || async {
        let w = task_workers(&urls[0], "roll-backup").await?;
        (w.len() == 3).then_some(w)
    })
    .await;
    println!("tasks on {placed:?}");

    let all = sample_records(3, 1200);
    let parts = slices(&all, 4);
    produce(&topic, &parts[0]).await;
    let mut expected = 900;
    eventually(90, "the first slice to be committed", || async {
        (committed_records(&urls[0], "roll-backup", &topic).await? >= expected).then_some(())
    })
    .await;

    for i in 0..3 {
        let started = std::time::Instant::now();
        stop_gracefully(workers[i].take().unwrap());
        workers[i] = Some(spawn_distributed_with(
            dir.path(),
            &group,
            ports[i],
            &identity(i),
        ));
        produce(&topic, &parts[i + 1]).await;
        expected += 900;
        let other = &urls[(i + 1) % 3];
        eventually(120, "the backup to catch up after the restart", || async {
            (committed_records(other, "roll-backup", &topic).await? >= expected).then_some(())
        })
        .await;
        println!(
            "worker {i} restarted; backup caught up {:?} after its stop",
            started.elapsed()
        );
    }

    let states = eventually(60, "every task running after the roll", || async {
        let w = task_workers(&urls[0], "roll-backup").await?;
        (w.len() == 3).then_some(w)
    })
    .await;
    println!("tasks on {states:?} after the roll");
    eventually(60, "a consumer for each backup task", || async {
        let members = sink_group_members("roll-backup").await;
        consumers_for_every_task(&members, "roll-backup", 3).then_some(())
    })
    .await;
    drop(workers);
    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;
}
