//! A network partition between one of two distributed workers and Kafka, in the middle of a
//! restore: the cut-off worker reaches Kafka only through a fault proxy (it bootstraps on the
//! test broker's proxied listener), the other directly. While the proxy is down, the cut-off
//! worker keeps reading S3 but cannot deliver; the other worker takes its restore task over once
//! its session expires. When the proxy comes back, nothing the cut-off worker had queued may
//! reach the target topic: it must have stopped its work when its session ran out. The restored
//! topic equals the backed-up one, record for record, with no duplicate.
//!
//! Two kinds of cut, one after the other (they share the proxied listener's addresses):
//! connections refused and reset, and a black hole (connections stay open, nothing arrives),
//! where every request of the cut-off worker hangs instead of failing.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Whether every task of a restore reports `done`.
async fn restore_done(url: &str, connector: &str) -> Option<()> {
    let p = get_json(format!("{url}/connectors/{connector}/progress")).await?;
    let tasks = p["tasks"].as_array()?;
    (!tasks.is_empty() && tasks.iter().all(|t| t["progress"]["done"] == true)).then_some(())
}

/// How the cut-off worker loses Kafka.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The proxy is disabled: open connections are reset, new ones refused.
    Refused,
    /// The proxy drops every byte both ways and keeps connections open.
    BlackHole,
}

async fn apply(proxies: &[skiff_testenv::faults::Proxy], cut: Cut, on: bool) {
    for p in proxies {
        match (cut, on) {
            (Cut::Refused, _) => p.set_enabled(!on).await.unwrap(),
            (Cut::BlackHole, true) => {
                for stream in ["upstream", "downstream"] {
                    let attrs = serde_json::json!({"timeout": 0});
                    p.add_toxic(stream, "timeout", stream, attrs).await.unwrap();
                }
            }
            (Cut::BlackHole, false) => {
                for stream in ["upstream", "downstream"] {
                    p.remove_toxic(stream).await.unwrap();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_cut_off_from_kafka_writes_nothing_after_its_task_moved() {
    for cut in [Cut::Refused, Cut::BlackHole] {
        println!("cut: {cut:?}");
        restore_across_a_cut(cut).await;
    }
}

async fn restore_across_a_cut(cut: Cut) {
    let (group, topic, bucket) = fresh_group_topic_and_bucket("dist-cut", 2).await;
    let kafka = skiff_testenv::kafka();
    let proxies = kafka_cut_proxies().await;

    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let through_proxy = format!("bootstrap.servers={}\n", kafka.proxied.bootstrap);
    let a = spawn_distributed_with(dir.path(), &group, port_a, &through_proxy);
    let b = spawn_distributed(dir.path(), &group, port_b);
    let url_b = format!("http://127.0.0.1:{port_b}");
    let (id_a, id_b) = (format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}"));

    // The backup to restore from.
    let all = sample_records(2, 3000);
    produce(&topic, &all).await;
    let mut sink = backup_config(&bucket, &topic);
    sink.insert("flush.size".into(), "500".into());
    create_when_led(&url_b, "cut-backup", serde_json::Value::Object(sink)).await;
    eventually(90, "the backup to be committed", || async {
        (committed_records(&url_b, "cut-backup", &topic).await? >= 6000).then_some(())
    })
    .await;
    let deleted = http()
        .delete(format!("{url_b}/connectors/cut-backup"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // The restore, 200 records a second per task, one task per partition, one on each worker.
    let restored = format!("{topic}-r");
    skiff_testenv::create_topic(&restored, 2).await.unwrap();
    let mut source = restore_config(&bucket, &topic, &restored);
    source.insert("maxRecordsPerSecond".into(), "200".into());
    source.insert("tasks.max".into(), "2".into());
    create_when_led(&url_b, "cut-restore", serde_json::Value::Object(source)).await;
    let placed = eventually(90, "a restore task on each worker", || async {
        let w = task_workers(&url_b, "cut-restore").await?;
        (w.len() == 2 && w.contains(&id_a) && w.contains(&id_b)).then_some(w)
    })
    .await;
    println!("restore tasks on {placed:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    apply(&proxies, cut, true).await;
    let cut_at = Instant::now();
    eventually(90, "the other worker to run both restore tasks", || async {
        let w = task_workers(&url_b, "cut-restore").await?;
        (w.len() == 2 && w.iter().all(|w| *w == id_b)).then_some(())
    })
    .await;
    println!(
        "both restore tasks on {id_b} {:?} after the cut",
        cut_at.elapsed()
    );
    // Long enough for the cut-off worker to read well ahead of what it delivered, had it kept
    // its task.
    tokio::time::sleep(Duration::from_secs(10)).await;
    apply(&proxies, cut, false).await;
    println!("proxy back {:?} after the cut", cut_at.elapsed());

    eventually(180, "the restore to finish", || async {
        let states = task_states(&url_b, "cut-restore").await;
        assert!(
            !states.iter().any(|s| s == "FAILED"),
            "a restore task failed: {states:?}"
        );
        restore_done(&url_b, "cut-restore").await
    })
    .await;
    // The cut-off worker reconnects within seconds (its client backoffs are at most 10 s):
    // anything it still held would reach the restored topic by then.
    tokio::time::sleep(Duration::from_secs(15)).await;
    drop((a, b));

    assert_same_records(&all, &consume_all(&restored, 2), true);
}
