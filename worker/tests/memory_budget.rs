//! One memory budget per task, not a buffer per partition: a task that owns a thousand
//! partitions keeps its buffered bytes under `buffer.max.bytes` by writing its fullest buffers
//! early, and still backs every record up exactly once.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_partitions_stay_within_the_budget() {
    const PARTITIONS: i32 = 1000;
    const BUDGET: u64 = 512 * 1024;
    let topic = skiff_testenv::unique_name("wide");
    let bucket = skiff_testenv::unique_name("wide");
    skiff_testenv::create_topic(&topic, PARTITIONS)
        .await
        .unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let records = sample_records(PARTITIONS, 12);
    let total: usize = records.values().map(Vec::len).sum();
    produce(&topic, &records).await;

    let worker = start_worker().await;
    let mut sink = s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert("topics".into(), topic.clone().into());
    sink.insert("buffer.max.bytes".into(), BUDGET.to_string().into());
    // Age and size never close an object here: only the budget does, until the final flush.
    sink.insert("flush.size.bytes".into(), BUDGET.to_string().into());
    sink.insert("flush.interval.ms".into(), "3600000".into());
    // The fast zstd level: many small objects, and the level must not change what they hold.
    sink.insert("compression.level".into(), "1".into());
    let resp = http()
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": "wide", "config": sink}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // Sample the task's buffered bytes while it consumes everything.
    let peak = std::cell::Cell::new(0u64);
    let url = format!("{}/connectors/wide/progress", worker.url);
    eventually(120, "every partition to be consumed", || {
        let url = url.clone();
        let peak = &peak;
        async move {
            let v: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            let p = &v["tasks"][0]["progress"];
            let buffered = p["bufferedBytes"].as_u64()?;
            peak.set(peak.get().max(buffered));
            let written = p["recordsWritten"].as_u64()?;
            (p["partitions"].as_u64()? == PARTITIONS as u64 && written > 0).then_some(())
        }
    })
    .await;
    let peak = peak.get();
    assert!(peak <= BUDGET, "buffered {peak} bytes, budget {BUDGET}");

    // Stopping flushes the rest; then the bucket holds every record once.
    worker.running.stop().await;
    let objects = objects_in_bucket(&bucket, "", &topic).await;
    let in_bucket: BTreeMap<i32, Vec<skiff_format::Record>> = objects
        .into_iter()
        .map(|(p, objs)| (p, objs.into_iter().flat_map(|(_, r)| r).collect()))
        .collect();
    assert_eq!(in_bucket.values().map(Vec::len).sum::<usize>(), total);
    assert_same_records(&records, &in_bucket, true);
}
