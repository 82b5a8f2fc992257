//! kill -9 the worker binary at seeded random moments of a backup and of a restore, restart it,
//! and show that the bucket holds every record exactly once and the restored topic equals the
//! source record for record: nothing lost, nothing duplicated.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts `skiff-worker standalone` on `port` with `connector` (a JSON file) and the offsets file.
/// A killed worker's sink consumer stays in the group until its session (60 s here) ends, unless
/// the restarted worker takes it out, as it does before its own consumer joins.
fn spawn_worker(dir: &Path, port: u16, connector: &Value) -> WorkerProcess {
    let props = format!(
        "bootstrap.servers={}\nlisteners=http://127.0.0.1:{port}\noffset.storage.file.filename={}\noffset.flush.interval.ms=200\nconsumer.session.timeout.ms={SINK_SESSION_MS}\nconsumer.heartbeat.interval.ms=2000\n",
        skiff_testenv::kafka().bootstrap,
        dir.join("offsets.json").display()
    );
    std::fs::write(dir.join("worker.properties"), props).unwrap();
    std::fs::write(
        dir.join("connector.json"),
        serde_json::to_vec(connector).unwrap(),
    )
    .unwrap();
    WorkerProcess(
        Command::new(env!("CARGO_BIN_EXE_skiff-worker"))
            .arg("standalone")
            .arg(dir.join("worker.properties"))
            .arg(dir.join("connector.json"))
            .env("SKIFF_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// The sink consumers' session: longer than the wait for the backup after the last kill, so the
/// backup completes only if each restarted worker took its killed consumer out of the group.
const SINK_SESSION_MS: u64 = 60_000;

/// SIGKILL, as a lost node or an OOM kill ends a worker.
fn kill9(worker: WorkerProcess) {
    drop(worker);
}

/// One trial in `make test`; `make chaos` sets `SKIFF_CRASH_TRIALS` for a soak run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_backup_and_restore_lose_and_duplicate_nothing() {
    let trials: u32 = std::env::var("SKIFF_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let first_seed: u64 = std::env::var("SKIFF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let (mut lost, mut duplicated) = (0, 0);
    for t in 0..trials {
        let seed = first_seed.wrapping_add(u64::from(t));
        println!(
            "crash trial {} of {trials}, seed {seed} (rerun with SKIFF_CRASH_SEED={seed})",
            t + 1
        );
        let (l, d) = trial(seed).await;
        lost += l;
        duplicated += d;
    }
    println!(
        "crash trials: {trials} run, 8 kills each, records lost {lost}, duplicated {duplicated}"
    );
}

/// How many records of `expected` are missing from `actual`, and how many `actual` holds more
/// than once (or holds without their being expected), matched by partition, key and value.
fn lost_and_duplicated(
    expected: &BTreeMap<i32, Vec<skiff_format::Record>>,
    actual: &BTreeMap<i32, Vec<skiff_format::Record>>,
) -> (i64, i64) {
    type Id = (i32, Option<Vec<u8>>, Option<Vec<u8>>);
    let mut counts: BTreeMap<Id, i64> = BTreeMap::new();
    for (p, records) in expected {
        for r in records {
            *counts
                .entry((*p, r.key.clone(), r.value.clone()))
                .or_default() += 1;
        }
    }
    for (p, records) in actual {
        for r in records {
            *counts
                .entry((*p, r.key.clone(), r.value.clone()))
                .or_default() -= 1;
        }
    }
    let lost = counts.values().filter(|c| **c > 0).sum();
    let duplicated = -counts.values().filter(|c| **c < 0).sum::<i64>();
    (lost, duplicated)
}

/// Kills a backup 5 times and a restore 3 times at moments drawn from `seed`, then checks the
/// bucket and the restored topic record for record; returns the records lost and duplicated.
async fn trial(seed: u64) -> (i64, i64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let topic = skiff_testenv::unique_name("crash");
    let restored = format!("{topic}-r");
    let bucket = skiff_testenv::unique_name("crash");
    skiff_testenv::create_topic(&topic, 2).await.unwrap();
    skiff_testenv::create_topic(&restored, 2).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    let mut sink = s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert("topics".into(), topic.clone().into());
    sink.insert("flush.size".into(), "97".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    let sink = json!({"name": "crash-backup", "config": sink});

    // Produce in rounds while the worker is killed and restarted at random moments.
    let all = sample_records(2, 3000);
    let rounds = 5;
    let mut worker = spawn_worker(dir.path(), port, &sink);
    for round in 0..rounds {
        let mut chunk: BTreeMap<i32, Vec<skiff_format::Record>> = BTreeMap::new();
        for (p, recs) in &all {
            let per = recs.len() / rounds;
            chunk.insert(*p, recs[round * per..(round + 1) * per].to_vec());
        }
        produce(&topic, &chunk).await;
        let wait = rng.random_range(200..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        println!("backup round {round}: kill -9 after {wait} ms");
        kill9(worker);
        worker = spawn_worker(dir.path(), port, &sink);
    }
    let last = std::cell::Cell::new(-1i64);
    eventually(40, "the backup to commit every record", || async {
        let sum = committed_records(&url, "crash-backup", &topic).await;
        if let Some(s) = sum
            && s != last.get()
        {
            println!("committed {s} of 6000");
            last.set(s);
        }
        (sum? >= 6000).then_some(())
    })
    .await;
    kill9(worker);

    // Exactly once in the bucket: no two objects overlap and together they hold every record.
    assert_bucket_holds_exactly(&bucket, "", &topic, &all).await;

    // Restore slowly and kill it at random moments; the target must equal the source.
    let mut source = s3_config(&bucket);
    source.insert("connector.class".into(), "AwsStorageSourceConnector".into());
    source.insert(
        "topics.mapping".into(),
        format!("{topic}:{restored}").into(),
    );
    source.insert("maxRecordsPerSecond".into(), "2500".into());
    let source = json!({"name": "crash-restore", "config": source});
    std::fs::remove_file(dir.path().join("offsets.json")).ok();
    let mut worker = spawn_worker(dir.path(), port, &source);
    for round in 0..3 {
        let wait = rng.random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        println!("restore round {round}: kill -9 after {wait} ms");
        kill9(worker);
        worker = spawn_worker(dir.path(), port, &source);
    }
    let done = eventually(120, "the restore to report done", || async {
        let v = get_json(format!("{url}/connectors/crash-restore/progress")).await?;
        (v["done"] == json!(true)).then_some(v)
    })
    .await;
    println!("restore progress when done: {done}");
    kill9(worker);
    let copy = consume_all(&restored, 2);
    let (lost, duplicated) = lost_and_duplicated(&all, &copy);
    println!("5 backup kills, 3 restore kills; records lost {lost}, duplicated {duplicated}");
    assert_same_records(&all, &copy, true);
    (lost, duplicated)
}

#[test]
fn lost_and_duplicated_are_counted_apart() {
    let records = sample_records(1, 4);
    let mut copy = records.clone();
    let gone = copy.get_mut(&0).unwrap().remove(1);
    let again = copy[&0][0].clone();
    copy.get_mut(&0).unwrap().push(again);
    assert_eq!(lost_and_duplicated(&records, &copy), (1, 1), "{gone:?}");
    assert_eq!(lost_and_duplicated(&records, &records), (0, 0));
}
