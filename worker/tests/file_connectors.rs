//! The FileStream connectors convert as Apache Connect's do: values go through the connector's,
//! else the worker's, `value.converter` (JsonConverter with its schema envelope by default),
//! and a sink record that does not convert fails the task, or with `errors.tolerance=all` is
//! skipped, logged and written to the dead letter queue with Connect's context headers.

mod common;

use common::*;
use serde_json::{Value, json};
use skiff_format::{Header, Record, TimestampType};
use std::collections::BTreeMap;

fn record(offset: i64, value: &str) -> Record {
    Record {
        offset,
        timestamp: 1_700_000_000_000 + offset,
        timestamp_type: TimestampType::CreateTime,
        key: Some(format!("k{offset}").into_bytes()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![Header {
            key: "origin".into(),
            value: Some(b"test".to_vec()),
        }],
    }
}

fn file_config(class: &str, file: &std::path::Path) -> serde_json::Map<String, Value> {
    let mut c = serde_json::Map::new();
    c.insert("connector.class".into(), class.into());
    c.insert("file".into(), file.display().to_string().into());
    c
}

async fn task_state(url: &str, name: &str) -> Option<(String, String)> {
    let s = get_json(format!("{url}/connectors/{name}/status")).await?;
    let t = &s["tasks"][0];
    Some((
        t["state"].as_str()?.to_string(),
        t["trace"].as_str().unwrap_or_default().to_string(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_file_source_writes_lines_through_the_converter() {
    let topic = skiff_testenv::unique_name("lines");
    let plain = skiff_testenv::unique_name("lines-plain");
    for t in [&topic, &plain] {
        skiff_testenv::create_topic(t, 1).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "first line\nsecond \"quoted\"\n").unwrap();
    // The worker's default: JsonConverter, schemas enabled.
    let worker = start_worker_with(
        &skiff_testenv::kafka().bootstrap,
        &[(
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        )],
    )
    .await;
    let mut c = file_config("FileStreamSource", &input);
    c.insert("topic".into(), topic.clone().into());
    create_connector(&worker.url, "lines", c).await;
    let mut c = file_config("FileStreamSource", &input);
    c.insert("topic".into(), plain.clone().into());
    c.insert("value.converter".into(), "StringConverter".into());
    create_connector(&worker.url, "lines-plain", c).await;

    let values = |topic: String| async move {
        eventually(60, "both lines in the topic", || async {
            let got = consume_all(&topic, 1);
            let values: Vec<String> = got[&0]
                .iter()
                .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
                .collect();
            (values.len() == 2).then_some(values)
        })
        .await
    };
    assert_eq!(
        values(topic).await,
        [
            r#"{"schema":{"type":"string","optional":false},"payload":"first line"}"#,
            r#"{"schema":{"type":"string","optional":false},"payload":"second \"quoted\""}"#,
        ]
    );
    assert_eq!(values(plain).await, ["first line", "second \"quoted\""]);
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_the_file_sink_cannot_convert_fails_it_or_goes_to_the_dead_letter_queue() {
    let topic = skiff_testenv::unique_name("convert");
    let dlq = skiff_testenv::unique_name("convert-dlq");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    let envelope = |s: &str| json!({"schema": {"type": "string", "optional": false}, "payload": s});
    let records = vec![
        record(0, &envelope("one").to_string()),
        record(1, r#"{"plain": "json"}"#),
        record(2, &envelope("three").to_string()),
    ];
    produce(&topic, &BTreeMap::from([(0, records)])).await;
    let dir = tempfile::tempdir().unwrap();
    let worker = start_worker().await;

    // errors.tolerance=none (the default): the task fails on the second record, with
    // JsonConverter's words.
    let strict = dir.path().join("strict.txt");
    let mut c = file_config("FileStreamSink", &strict);
    c.insert("topics".into(), topic.clone().into());
    c.insert(
        "value.converter".into(),
        "org.apache.kafka.connect.json.JsonConverter".into(),
    );
    create_connector(&worker.url, "strict", c).await;
    let trace = eventually(60, "the strict sink to fail", || async {
        let (state, trace) = task_state(&worker.url, "strict").await?;
        (state == "FAILED").then_some(trace)
    })
    .await;
    assert!(
        trace.contains("Tolerance exceeded")
            && trace.contains("offset 1")
            && trace.contains("set schemas.enable=false"),
        "{trace}"
    );

    // errors.tolerance=all with a dead letter queue: the other two reach the file, the bad one
    // the queue, as it was read, with Connect's context headers.
    let tolerant = dir.path().join("tolerant.txt");
    let mut c = file_config("FileStreamSink", &tolerant);
    c.insert("topics".into(), topic.clone().into());
    c.insert("value.converter".into(), "JsonConverter".into());
    c.insert("errors.tolerance".into(), "all".into());
    c.insert("errors.log.enable".into(), "true".into());
    c.insert(
        "errors.deadletterqueue.topic.name".into(),
        dlq.clone().into(),
    );
    c.insert(
        "errors.deadletterqueue.topic.replication.factor".into(),
        "1".into(),
    );
    c.insert(
        "errors.deadletterqueue.context.headers.enable".into(),
        "true".into(),
    );
    create_connector(&worker.url, "tolerant", c).await;
    eventually(60, "the good records in the file", || async {
        let text = std::fs::read_to_string(&tolerant).ok()?;
        (text == "one\nthree\n").then_some(())
    })
    .await;
    let dead = eventually(60, "the bad record in the dead letter queue", || async {
        let got = skiff_testenv::records::consume_all(&dlq, 1).ok()?;
        got.get(&0).filter(|r| !r.is_empty()).cloned()
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(&br#"{"plain": "json"}"#[..]));
    assert_eq!(dead[0].key.as_deref(), Some(&b"k1"[..]));
    let header = |k: &str| {
        dead[0]
            .headers
            .iter()
            .find(|h| h.key == k)
            .and_then(|h| h.value.clone())
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(header("origin").as_deref(), Some("test"));
    assert_eq!(header("__connect.errors.topic"), Some(topic.clone()));
    assert_eq!(header("__connect.errors.offset").as_deref(), Some("1"));
    assert_eq!(
        header("__connect.errors.stage").as_deref(),
        Some("VALUE_CONVERTER")
    );
    assert_eq!(
        header("__connect.errors.connector.name").as_deref(),
        Some("tolerant")
    );
    assert_eq!(
        task_state(&worker.url, "tolerant").await.unwrap().0,
        "RUNNING"
    );
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_converter_or_a_dead_letter_queue_the_sink_reads_is_refused() {
    let worker = start_worker().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = file_config("FileStreamSink", &dir.path().join("x.txt"));
    c.insert("topics".into(), "orders,orders-dlq".into());
    c.insert(
        "value.converter".into(),
        "io.confluent.connect.avro.AvroConverter".into(),
    );
    c.insert(
        "errors.deadletterqueue.topic.name".into(),
        "orders-dlq".into(),
    );
    let resp = http()
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": "refused", "config": c}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let message = resp.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("Class io.confluent.connect.avro.AvroConverter could not be found")
            && message.contains("The DLQ topic 'orders-dlq' may not be included"),
        "{message}"
    );
    worker.running.stop().await;
}
