//! kill -9 of one of two distributed workers (real binaries, one `group.id`) in the middle of a
//! backup: the survivor takes the dead worker's task over once its session expires, and the
//! bucket ends up with every record exactly once.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_backup_task_moves_and_nothing_is_lost() {
    let (group, topic, bucket) = fresh_group_topic_and_bucket("dist-crash", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let a = spawn_distributed(dir.path(), &group, port_a);
    let b = spawn_distributed(dir.path(), &group, port_b);
    let url_a = format!("http://127.0.0.1:{port_a}");
    let id_b = format!("127.0.0.1:{port_b}");

    let mut sink = backup_config(&bucket, &topic);
    sink.insert("tasks.max".into(), "2".into());
    sink.insert("flush.size".into(), "100".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_when_led(&url_a, "dist-backup", serde_json::Value::Object(sink)).await;
    let workers = eventually(90, "a task on each worker", || async {
        let w = task_workers(&url_a, "dist-backup").await?;
        (w.len() == 2 && w.contains(&id_b)).then_some(w)
    })
    .await;
    println!("tasks on {workers:?}");

    let all = sample_records(2, 1000);
    let halves = halves(&all);
    produce(&topic, &halves[0]).await;
    eventually(90, "the first half to be committed", || async {
        (committed_records(&url_a, "dist-backup", &topic).await? >= 1000).then_some(())
    })
    .await;

    drop(b); // kill -9
    let killed = std::time::Instant::now();
    produce(&topic, &halves[1]).await;
    let id_a = format!("127.0.0.1:{port_a}");
    eventually(120, "the survivor to run both tasks", || async {
        let w = task_workers(&url_a, "dist-backup").await?;
        (w.len() == 2 && w.iter().all(|w| *w == id_a)).then_some(())
    })
    .await;
    println!(
        "both tasks on the survivor {:?} after the kill",
        killed.elapsed()
    );
    eventually(120, "every record to be committed", || async {
        (committed_records(&url_a, "dist-backup", &topic).await? >= 2000).then_some(())
    })
    .await;
    println!(
        "every record committed {:?} after the kill",
        killed.elapsed()
    );
    drop(a);

    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;
}
