//! Restore cases against the real Kafka broker and S3 server: objects in Instaclustr's v0
//! format built by hand from its specification, point-in-time and offset-range restores, and corrupt objects
//! (reported with their key, or skipped and listed, as configured).

mod common;

use common::*;
use serde_json::{Value, json};
use skiff_format::{Compression, Format, ObjectWriter, Record, TimestampType};
use std::collections::BTreeMap;

/// A v0 object written byte by byte from the specification, independent of Skiff's writer.
fn v0_object(records: &[Record]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0i32.to_be_bytes());
    let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(-1i32, |v| v.len() as i32);
    for r in records {
        b.extend_from_slice(&r.offset.to_be_bytes());
        b.extend_from_slice(&r.timestamp.to_be_bytes());
        b.extend_from_slice(&len(&r.key).to_be_bytes());
        b.extend_from_slice(&len(&r.value).to_be_bytes());
        b.extend_from_slice(&(r.headers.len() as i32).to_be_bytes());
        b.extend_from_slice(r.key.as_deref().unwrap_or_default());
        b.extend_from_slice(r.value.as_deref().unwrap_or_default());
        for h in &r.headers {
            b.extend_from_slice(&(h.key.len() as i32).to_be_bytes());
            b.extend_from_slice(h.key.as_bytes());
            b.extend_from_slice(&len(&h.value).to_be_bytes());
            b.extend_from_slice(h.value.as_deref().unwrap_or_default());
        }
    }
    b
}

async fn put(bucket: &str, key: &str, body: Vec<u8>) {
    skiff_testenv::s3_client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// Writes each partition's records as objects of `per_object` records.
async fn write_backup(
    bucket: &str,
    prefix: &str,
    topic: &str,
    records: &BTreeMap<i32, Vec<Record>>,
    per_object: usize,
    v0: bool,
) {
    for (p, recs) in records {
        for chunk in recs.chunks(per_object) {
            let key = skiff_format::object_key(
                prefix,
                topic,
                *p,
                chunk[0].offset,
                chunk[chunk.len() - 1].offset,
            );
            let body = if v0 {
                v0_object(chunk)
            } else {
                let mut w = ObjectWriter::new(Format::SkiffV1, Compression::Zstd);
                for r in chunk {
                    w.push(r);
                }
                w.finish()
            };
            put(bucket, &key, body).await;
        }
    }
}

async fn create(worker: &TestWorker, name: &str, config: serde_json::Map<String, Value>) {
    let resp = http()
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": name, "config": config}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

async fn progress_done(worker: &TestWorker, name: &str) -> Value {
    let url = format!("{}/connectors/{name}/progress", worker.url);
    eventually(90, "the restore to report done", || {
        let url = url.clone();
        async move {
            let v: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            (v["done"] == json!(true)).then_some(v)
        }
    })
    .await
}

fn restore_config(bucket: &str, topic: &str, target: &str) -> serde_json::Map<String, Value> {
    let mut c = s3_config(bucket);
    c.insert(
        "connector.class".into(),
        "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceConnector".into(),
    );
    c.insert("s3.topics".into(), topic.into());
    c.insert("topics.mapping".into(), format!("{topic}:{target}").into());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restores_instaclustr_v0_objects_with_a_topic_prefix() {
    let bucket = skiff_testenv::unique_name("v0");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let topic = "payments";
    let target = skiff_testenv::unique_name("payments");
    // kafka.topicPrefix turns the mapped name into "<prefix>-<name>".
    skiff_testenv::create_topic(&format!("dr-{target}"), 2)
        .await
        .unwrap();
    let mut records = sample_records(2, 250);
    // Offset gaps, as a compacted topic leaves them.
    for recs in records.values_mut() {
        for (i, r) in recs.iter_mut().enumerate() {
            r.offset = (i as i64) * 3 + 10;
        }
    }
    write_backup(&bucket, "legacy/", topic, &records, 40, true).await;
    let worker = start_worker().await;
    let mut c = restore_config(&bucket, topic, &target);
    c.insert("prefix".into(), "legacy".into());
    c.insert("kafka.topicPrefix".into(), "dr".into());
    create(&worker, "v0", c).await;
    progress_done(&worker, "v0").await;
    let copy = consume_all(&format!("dr-{target}"), 2);
    assert_same_records(&records, &copy, false);
    for recs in copy.values() {
        assert!(
            recs.iter()
                .all(|r| r.timestamp_type == TimestampType::CreateTime)
        );
    }
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn point_in_time_restore_takes_only_the_range() {
    let bucket = skiff_testenv::unique_name("pit");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let topic = "events";
    let target = skiff_testenv::unique_name("events");
    skiff_testenv::create_topic(&target, 1).await.unwrap();
    let records = sample_records(1, 600);
    write_backup(&bucket, "", topic, &records, 50, false).await;
    let (from, to) = (records[&0][120].timestamp, records[&0][430].timestamp);
    let worker = start_worker().await;
    let mut c = restore_config(&bucket, topic, &target);
    c.insert("restore.timestamp.from".into(), from.to_string().into());
    c.insert("restore.timestamp.to".into(), to.to_string().into());
    create(&worker, "pit", c).await;
    let progress = progress_done(&worker, "pit").await;
    let expected: BTreeMap<i32, Vec<Record>> = [(
        0,
        records[&0]
            .iter()
            .filter(|r| r.timestamp >= from && r.timestamp < to)
            .cloned()
            .collect(),
    )]
    .into();
    assert_eq!(expected[&0].len(), 310);
    let copy = consume_all(&target, 1);
    assert_same_records(&expected, &copy, false);
    // Objects wholly outside the range are skipped after reading their header only.
    let read = progress["tasks"][0]["progress"]["bytesRead"]
        .as_u64()
        .unwrap();
    let listing = skiff_testenv::s3_client()
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let total: i64 = listing.contents().iter().filter_map(|o| o.size()).sum();
    // 12 objects of 50 records; the range [120, 430) touches objects 2..=8 only.
    assert!(
        read > 0 && (read as i64) < total * 8 / 12,
        "read {read} of {total} bytes"
    );
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offset_range_restore_takes_only_the_listed_offsets() {
    let bucket = skiff_testenv::unique_name("ranges");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let topic = "ledger";
    let target = skiff_testenv::unique_name("ledger");
    skiff_testenv::create_topic(&target, 3).await.unwrap();
    let records = sample_records(3, 300);
    write_backup(&bucket, "", topic, &records, 100, false).await;
    let worker = start_worker().await;

    // A range naming a partition the backup lacks is refused with the entry named.
    let mut c = restore_config(&bucket, topic, &target);
    c.insert("restore.offset.ranges".into(), "ledger/7:0-10".into());
    create(&worker, "ranges-bad", c).await;
    let url = format!("{}/connectors/ranges-bad/status", worker.url);
    let trace = eventually(60, "the connector to fail", || {
        let url = url.clone();
        async move {
            let v: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            (v["connector"]["state"] == "FAILED").then(|| {
                v["connector"]["trace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        }
    })
    .await;
    assert!(
        trace.contains("restore.offset.ranges names ledger/7"),
        "{trace}"
    );
    let _ = http()
        .delete(format!("{}/connectors/ranges-bad", worker.url))
        .send()
        .await;

    // [150, 250) of partition 0, [280, end) of every other partition, and a range of partition
    // 2 past what the backup holds (reported, nothing restored there).
    let mut c = restore_config(&bucket, topic, &target);
    c.insert(
        "restore.offset.ranges".into(),
        "ledger/0:150-250, ledger/*:280-, ledger/2:500-600".into(),
    );
    create(&worker, "ranges", c).await;
    let progress = progress_done(&worker, "ranges").await;
    let expected: BTreeMap<i32, Vec<Record>> = records
        .iter()
        .map(|(p, recs)| {
            let keep = |o: i64| match p {
                0 => (150..250).contains(&o),
                2 => (500..600).contains(&o),
                _ => o >= 280,
            };
            (
                *p,
                recs.iter().filter(|r| keep(r.offset)).cloned().collect(),
            )
        })
        .collect();
    assert_eq!(expected[&0].len(), 100);
    assert_eq!(expected[&1].len(), 20);
    let copy = consume_all(&target, 3);
    assert_same_records(&expected, &copy, false);
    // Only objects overlapping a range are read: 2 of partition 0's 3, 1 of partition 1's, none
    // of partition 2's.
    let parts = &progress["tasks"][0]["progress"]["partitions"];
    assert_eq!(parts["ledger/0"]["objectsTotal"], json!(2), "{progress}");
    assert_eq!(parts["ledger/1"]["objectsTotal"], json!(1), "{progress}");
    assert_eq!(parts["ledger/2"]["objectsTotal"], json!(0), "{progress}");
    let warnings = progress["tasks"][0]["progress"]["warnings"].to_string();
    assert!(
        warnings.contains(
            "offsets 500-600 of ledger/2, but the backup of that partition holds offsets 0 to 299"
        ),
        "{warnings}"
    );
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupt_objects_fail_with_their_key_or_are_skipped_and_listed() {
    let bucket = skiff_testenv::unique_name("corrupt");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let topic = "ledger";
    let records = sample_records(1, 100);
    write_backup(&bucket, "", topic, &records, 25, false).await;
    // Flip one byte in the body of the second object.
    let second = skiff_format::object_key("", topic, 0, 25, 49);
    let client = skiff_testenv::s3_client();
    let mut body = client
        .get_object()
        .bucket(&bucket)
        .key(&second)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec();
    let last = body.len() - 3;
    body[last] ^= 0x55;
    put(&bucket, &second, body).await;

    let worker = start_worker().await;
    let target = skiff_testenv::unique_name("ledger");
    skiff_testenv::create_topic(&target, 1).await.unwrap();
    create(&worker, "fails", restore_config(&bucket, topic, &target)).await;
    let url = format!("{}/connectors/fails/status", worker.url);
    let trace = eventually(60, "the task to fail", || {
        let url = url.clone();
        async move {
            let v: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            (v["tasks"][0]["state"] == "FAILED").then(|| {
                v["tasks"][0]["trace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        }
    })
    .await;
    assert!(
        trace.contains(&second),
        "the trace names the object: {trace}"
    );
    // Nothing after the corrupt object was written: the first object's 25 records only.
    assert_eq!(consume_all(&target, 1)[&0].len(), 25);

    // The third object cut after its tenth record, at a record boundary, as Instaclustr's
    // format allows (it decodes cleanly: only its name says records are missing).
    let third = skiff_format::object_key("", topic, 0, 50, 74);
    put(&bucket, &third, v0_object(&records[&0][50..60])).await;
    let mut c = restore_config(&bucket, topic, &skiff_testenv::unique_name("ledger"));
    c.insert(
        "restore.offset.ranges".into(),
        format!("{topic}/0:50-").into(),
    );
    let trace = failed_trace(&worker, "fails-cut", c).await;
    assert!(
        trace.contains(&third) && trace.contains("truncated"),
        "the trace names the cut object: {trace}"
    );

    // A file that is no backup object, in the partition's folder.
    let foreign = format!("{topic}/0/notes.txt");
    put(&bucket, &foreign, b"not records".to_vec()).await;
    let c = restore_config(&bucket, topic, &skiff_testenv::unique_name("ledger"));
    let trace = failed_trace(&worker, "fails-foreign", c).await;
    assert!(
        trace.contains(&foreign) && trace.contains("not a backup object"),
        "the trace names the foreign object: {trace}"
    );

    // Skipping: all three are listed, and only the intact objects' 50 records are restored.
    let target2 = skiff_testenv::unique_name("ledger");
    skiff_testenv::create_topic(&target2, 1).await.unwrap();
    let mut c = restore_config(&bucket, topic, &target2);
    c.insert("restore.on.corrupt".into(), "skip".into());
    create(&worker, "skips", c).await;
    let progress = progress_done(&worker, "skips").await;
    let mut skipped: Vec<String> = progress["tasks"][0]["progress"]["skippedObjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    skipped.sort();
    let mut expected = vec![second, third, foreign];
    expected.sort();
    assert_eq!(skipped, expected, "{progress}");
    let restored = consume_all(&target2, 1);
    let offsets: Vec<i64> = restored[&0].iter().map(|r| r.offset).collect();
    assert_eq!(restored[&0].len(), 50, "{offsets:?}");
    worker.running.stop().await;
}

/// Creates a restore expected to fail; returns its task's trace.
async fn failed_trace(
    worker: &TestWorker,
    name: &str,
    config: serde_json::Map<String, Value>,
) -> String {
    if let Some(target) = config["topics.mapping"]
        .as_str()
        .and_then(|m| m.split_once(':'))
        .map(|(_, t)| t.to_string())
    {
        skiff_testenv::create_topic(&target, 1).await.unwrap();
    }
    create(worker, name, config).await;
    let url = format!("{}/connectors/{name}/status", worker.url);
    eventually(60, "the task to fail", || async {
        let v = get_json(url.clone()).await?;
        (v["tasks"][0]["state"] == "FAILED").then(|| {
            v["tasks"][0]["trace"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_with_too_few_partitions_is_a_clear_error() {
    let bucket = skiff_testenv::unique_name("parts");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    write_backup(&bucket, "", "wide", &sample_records(3, 5), 5, false).await;
    let target = skiff_testenv::unique_name("narrow");
    skiff_testenv::create_topic(&target, 1).await.unwrap();
    let worker = start_worker().await;
    let mut c = restore_config(&bucket, "wide", &target);
    c.insert("tasks.max".into(), "1".into());
    create(&worker, "narrow", c).await;
    let url = format!("{}/connectors/narrow/status", worker.url);
    let trace = eventually(60, "the task to fail", || {
        let url = url.clone();
        async move {
            let v: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            (v["tasks"][0]["state"] == "FAILED").then(|| {
                v["tasks"][0]["trace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        }
    })
    .await;
    assert!(
        trace.contains(&target) && trace.contains("at least 2 partitions"),
        "{trace}"
    );
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restoring_records_older_than_the_targets_retention_warns() {
    let topic = skiff_testenv::unique_name("old");
    let kept = format!("{topic}-kept");
    let deleting = format!("{topic}-week");
    let bucket = skiff_testenv::unique_name("old");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    skiff_testenv::create_topic_with(&kept, 1, &[("retention.ms", "-1")])
        .await
        .unwrap();
    skiff_testenv::create_topic_with(&deleting, 1, &[("retention.ms", "604800000")])
        .await
        .unwrap();
    // The fixtures' timestamps are from 2023.
    let records = sample_records(1, 50);
    write_backup(&bucket, "", &topic, &records, 25, false).await;
    let worker = start_worker().await;

    create(&worker, "into-kept", restore_config(&bucket, &topic, &kept)).await;
    let p = progress_done(&worker, "into-kept").await;
    assert_eq!(p["tasks"][0]["progress"]["warnings"], json!([]), "{p}");

    create(
        &worker,
        "into-week",
        restore_config(&bucket, &topic, &deleting),
    )
    .await;
    let p = progress_done(&worker, "into-week").await;
    let warnings = p["tasks"][0]["progress"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "one warning per target topic: {p}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains(&format!("'{deleting}'")) && w.contains("retention.ms=604800000"),
        "{w}"
    );
    assert!(w.contains("retention.ms=-1"), "the fix is named: {w}");
    // The restore itself still writes every record (reading them back would race the broker's
    // retention check, which deletes them).
    assert_eq!(
        p["tasks"][0]["progress"]["recordsRestored"],
        json!(50),
        "{p}"
    );
}

/// Records of 900 KB: a poll hands the producer at most 8 MiB, so the 27 MB restore takes
/// several polls that end inside objects; every record arrives once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_records_are_restored_exactly_in_byte_bounded_batches() {
    let bucket = skiff_testenv::unique_name("large");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let topic = "large";
    let target = skiff_testenv::unique_name("large");
    skiff_testenv::create_topic(&target, 1).await.unwrap();
    let mut records = sample_records(1, 30);
    for (i, r) in records.get_mut(&0).unwrap().iter_mut().enumerate() {
        r.value = Some(vec![b'a' + (i % 26) as u8; 900_000]);
    }
    write_backup(&bucket, "", topic, &records, 7, false).await;
    let worker = start_worker().await;
    create(&worker, "large", restore_config(&bucket, topic, &target)).await;
    progress_done(&worker, "large").await;
    assert_same_records(&records, &consume_all(&target, 1), false);
    worker.running.stop().await;
}

/// `POST /connectors/{name}/restart` restarts the connector, which, as in Connect, computes its
/// task configurations again: a restore of every topic under the prefix takes up the topics
/// backed up since it started. Before, a plain restart of a running connector did nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_restore_takes_up_topics_backed_up_since_it_started() {
    let bucket = skiff_testenv::unique_name("rescan");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let dr = skiff_testenv::unique_name("dr");
    let (first, second) = ("orders", "refunds");
    for topic in [first, second] {
        skiff_testenv::create_topic(&format!("{dr}-{topic}"), 1)
            .await
            .unwrap();
    }
    let records = sample_records(1, 120);
    write_backup(&bucket, "", first, &records, 50, false).await;
    let worker = start_worker().await;
    let mut c = s3_config(&bucket);
    c.insert(
        "connector.class".into(),
        "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceConnector".into(),
    );
    c.insert("kafka.topicPrefix".into(), dr.clone().into());
    create(&worker, "rescan", c).await;
    progress_done(&worker, "rescan").await;
    assert_same_records(&records, &consume_all(&format!("{dr}-{first}"), 1), false);

    write_backup(&bucket, "", second, &records, 50, false).await;
    let resp = http()
        .post(format!("{}/connectors/rescan/restart", worker.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let url = format!("{}/connectors/rescan/progress", worker.url);
    eventually(
        60,
        "the restarted restore to take the new topic up",
        || async {
            let v = get_json(url.clone()).await?;
            let done = v["tasks"][0]["progress"]["partitions"][format!("{second}/0")]["done"]
                == json!(true);
            done.then_some(())
        },
    )
    .await;
    assert_same_records(&records, &consume_all(&format!("{dr}-{second}"), 1), false);
    // The first topic was not restored twice.
    assert_same_records(&records, &consume_all(&format!("{dr}-{first}"), 1), false);
    worker.running.stop().await;
}
