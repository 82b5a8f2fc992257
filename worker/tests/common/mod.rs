//! Shared helpers of the worker's integration tests: a worker started in-process against the
//! real Kafka and S3 servers of the test environment, a REST client, and record fixtures.
#![allow(dead_code)]

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use skiff_format::{Record, TimestampType};
use skiff_worker::config::properties::Properties;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A running in-process worker and its REST base URL.
pub struct TestWorker {
    pub url: String,
    pub running: skiff_worker::standalone::Running,
    pub offsets_file: tempfile::TempPath,
}

/// Worker properties pointing at the test Kafka.
pub fn worker_props(offsets_file: &std::path::Path) -> Properties {
    let mut p = Properties::new();
    p.insert("bootstrap.servers".into(), skiff_testenv::kafka().bootstrap.clone());
    p.insert("listeners".into(), "http://127.0.0.1:0".into());
    p.insert("offset.storage.file.filename".into(), offsets_file.display().to_string());
    p.insert("offset.flush.interval.ms".into(), "500".into());
    p.insert("key.converter".into(), "org.apache.kafka.connect.converters.ByteArrayConverter".into());
    p.insert("value.converter".into(), "org.apache.kafka.connect.converters.ByteArrayConverter".into());
    p
}

/// Starts a worker in this process.
pub async fn start_worker() -> TestWorker {
    let offsets_file = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::remove_file(&offsets_file).ok();
    let logs = skiff_worker::rest::LogControl::new(None, "info");
    let running = skiff_worker::standalone::start(worker_props(&offsets_file), Vec::new(), logs).await.unwrap();
    TestWorker { url: format!("http://{}", running.addr), running, offsets_file }
}

/// The S3 settings of a connector writing to `bucket` on the test server.
pub fn s3_config(bucket: &str) -> serde_json::Map<String, Value> {
    let s3 = skiff_testenv::s3();
    let mut m = serde_json::Map::new();
    m.insert("aws.s3.bucket".into(), bucket.into());
    m.insert("s3.endpoint".into(), s3.endpoint.clone().into());
    m.insert("aws.region".into(), s3.region.clone().into());
    m.insert("aws.accessKeyId".into(), s3.access_key.clone().into());
    m.insert("aws.secretKey".into(), s3.secret_key.clone().into());
    m
}

/// A REST client with a timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// Polls `f` every 250 ms until it returns `Some`, or panics after `secs` with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A varied record set: keys, null keys, tombstones, empty values, binary and null headers.
pub fn sample_records(partitions: i32, per_partition: usize) -> BTreeMap<i32, Vec<Record>> {
    let mut out = BTreeMap::new();
    let base = 1_700_000_000_000i64;
    for p in 0..partitions {
        let mut v = Vec::new();
        for i in 0..per_partition {
            let n = p as usize * 100_000 + i;
            let key = if i % 7 == 3 { None } else { Some(format!("key-{n}").into_bytes()) };
            let value = match i % 11 {
                5 => None,
                6 => Some(Vec::new()),
                _ => Some(format!("value-{n}-{}", "x".repeat(i % 50)).into_bytes()),
            };
            let headers = match i % 5 {
                0 => vec![],
                1 => vec![skiff_format::Header { key: "bin".into(), value: Some(vec![0, 255, 1, 254]) }],
                2 => vec![skiff_format::Header { key: "null".into(), value: None }, skiff_format::Header { key: "dup".into(), value: Some(b"a".to_vec()) }, skiff_format::Header { key: "dup".into(), value: Some(b"b".to_vec()) }],
                _ => vec![skiff_format::Header { key: "trace".into(), value: Some(format!("t{n}").into_bytes()) }],
            };
            v.push(Record { offset: i as i64, timestamp: base + n as i64, timestamp_type: TimestampType::CreateTime, key, value, headers });
        }
        out.insert(p, v);
    }
    out
}

/// Produces records to their partitions, in order, and waits for every acknowledgement.
pub async fn produce(topic: &str, records: &BTreeMap<i32, Vec<Record>>) {
    let producer: FutureProducer = skiff_testenv::kafka().client_config().set("enable.idempotence", "true").set("linger.ms", "5").create().unwrap();
    let mut futs = Vec::new();
    for (p, recs) in records {
        for r in recs {
            let mut headers = OwnedHeaders::new();
            for h in &r.headers {
                headers = headers.insert(Header { key: &h.key, value: h.value.as_deref() });
            }
            let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).partition(*p).timestamp(r.timestamp).headers(headers);
            if let Some(k) = &r.key {
                fr = fr.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                fr = fr.payload(v.as_slice());
            }
            futs.push(producer.send(fr, Duration::from_secs(30)));
        }
    }
    for f in futs {
        f.await.unwrap();
    }
}

/// Reads every record of a topic's partitions from the beginning up to their end offsets.
pub fn consume_all(topic: &str, partitions: i32) -> BTreeMap<i32, Vec<Record>> {
    let consumer: BaseConsumer = skiff_testenv::kafka().client_config().set("group.id", "skiff-test-reader").set("enable.auto.commit", "false").create().unwrap();
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(low)).unwrap();
        consumer.assign(&tpl).unwrap();
        let mut recs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut next = low;
        while next < high {
            assert!(Instant::now() < deadline, "timed out reading {topic}/{p}");
            let Some(m) = consumer.poll(Duration::from_millis(500)) else { continue };
            let m = m.unwrap();
            next = m.offset() + 1;
            let (timestamp, timestamp_type) = match m.timestamp() {
                rdkafka::Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
                rdkafka::Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
                rdkafka::Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
            };
            let headers = m.headers().map(|hs| hs.iter().map(|h| skiff_format::Header { key: h.key.to_string(), value: h.value.map(<[u8]>::to_vec) }).collect()).unwrap_or_default();
            recs.push(Record { offset: m.offset(), timestamp, timestamp_type, key: m.key().map(<[u8]>::to_vec), value: m.payload().map(<[u8]>::to_vec), headers });
        }
        out.insert(p, recs);
    }
    out
}

/// Every record in the bucket's backup of `topic`, decoded, by partition, in key order.
pub async fn objects_in_bucket(bucket: &str, prefix: &str, topic: &str) -> BTreeMap<i32, Vec<(String, Vec<Record>)>> {
    let client = skiff_testenv::s3_client();
    let mut out: BTreeMap<i32, Vec<(String, Vec<Record>)>> = BTreeMap::new();
    let mut token = None;
    loop {
        let mut req = client.list_objects_v2().bucket(bucket).prefix(format!("{prefix}{topic}/"));
        if let Some(t) = token.take() {
            req = req.continuation_token(t);
        }
        let page = req.send().await.unwrap();
        for o in page.contents() {
            let key = o.key().unwrap().to_string();
            let parsed = skiff_format::parse_object_key(prefix, &key).unwrap_or_else(|| panic!("foreign key {key}"));
            let body = client.get_object().bucket(bucket).key(&key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
            let decoded = skiff_format::decode(&body).unwrap();
            out.entry(parsed.partition).or_default().push((key, decoded.records));
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    out
}

/// Compares two record sets field by field; timestamps types are compared only when `types`.
pub fn assert_same_records(expected: &BTreeMap<i32, Vec<Record>>, actual: &BTreeMap<i32, Vec<Record>>, check_offsets: bool) {
    assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>(), "partitions differ");
    for (p, exp) in expected {
        let act = &actual[p];
        assert_eq!(exp.len(), act.len(), "partition {p}: {} records expected, {} found", exp.len(), act.len());
        for (i, (e, a)) in exp.iter().zip(act).enumerate() {
            if check_offsets {
                assert_eq!(e.offset, a.offset, "partition {p} record {i}: offset");
            }
            assert_eq!(e.key, a.key, "partition {p} record {i}: key");
            assert_eq!(e.value, a.value, "partition {p} record {i}: value");
            assert_eq!(e.headers, a.headers, "partition {p} record {i}: headers");
            assert_eq!(e.timestamp, a.timestamp, "partition {p} record {i}: timestamp");
        }
    }
}
