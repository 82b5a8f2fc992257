//! `GET /health` of a distributed worker whose herder is stuck while its group membership is
//! fine (KIP-1017's other "unhealthy"): a backup paused while S3 swallows every request (a black
//! hole: connections open, no answer) cannot finish its graceful stop, which writes what it holds
//! first, so the herder waits on it until `task.shutdown.graceful.timeout.ms` and takes on no
//! other work meanwhile. The worker must say so, naming the stage, be healthy again once the stop
//! ends, and the backup must then lose nothing.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herder_stuck_stopping_a_task_is_unhealthy_until_the_stop_ends() {
    let group = skiff_testenv::unique_name("busy");
    let topic = skiff_testenv::unique_name("busy");
    let bucket = skiff_testenv::unique_name("busy");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let upstream = skiff_testenv::s3()
        .endpoint
        .trim_start_matches("http://")
        .to_string();
    let s3 = skiff_testenv::toxiproxy()
        .proxy(&skiff_testenv::unique_name("busy-s3"), &upstream)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A graceful stop may take 30 s: long enough for the herder to be seen stuck in it.
    let _worker = spawn_distributed_with(
        dir.path(),
        &group,
        port,
        "task.shutdown.graceful.timeout.ms=30000\n",
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut config = backup_config(&bucket, &topic);
    config.insert("s3.endpoint".into(), format!("http://{}", s3.listen).into());
    // Objects close only at the stop, so the task holds every record when it is paused.
    config.insert("flush.interval.ms".into(), "600000".into());
    create_when_led(&url, "busy-backup", Value::Object(config.clone())).await;
    let records = sample_records(1, 200);
    produce(&topic, &records).await;
    eventually(60, "the backup to hold the records", || async {
        let p = progress(&url, "busy-backup").await?;
        (p["bufferedBytes"].as_u64()? > 0).then_some(())
    })
    .await;
    assert_eq!(health(&url).await.map(|h| h.0), Some(200));

    s3.add_toxic("hole", "timeout", "upstream", json!({"timeout": 0}))
        .await
        .unwrap();
    let paused_at = Instant::now();
    set_target(&url, "busy-backup", "pause").await;
    let (seen_after, body) = eventually(40, "the stuck worker to report unhealthy", || async {
        let (status, body) = health(&url).await?;
        (status == 500).then(|| (paused_at.elapsed(), body))
    })
    .await;
    println!("unhealthy {seen_after:?} after the pause: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("stopping task busy-backup-0") && message.contains("longer than 10 s"),
        "{message}"
    );
    assert!(seen_after.as_secs() >= 10, "unhealthy after {seen_after:?}");

    // The stop ends when its 30 s are up: the task is aborted, with nothing committed.
    s3.remove_toxic("hole").await.unwrap();
    eventually(
        40,
        "the worker to be healthy once the stop ends",
        || async {
            let (status, body) = health(&url).await?;
            (status == 200 && body["status"] == "healthy").then_some(())
        },
    )
    .await;
    // Nothing was lost: resumed with short-lived objects, the backup writes every record once.
    config.insert("flush.interval.ms".into(), "1000".into());
    let resp = http()
        .put(format!("{url}/connectors/busy-backup/config"))
        .json(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    set_target(&url, "busy-backup", "resume").await;
    eventually(60, "the resumed backup to commit every record", || async {
        (committed_records(&url, "busy-backup", &topic).await? == 200).then_some(())
    })
    .await;
    assert_bucket_holds_exactly(&bucket, "", &topic, &records).await;
}
