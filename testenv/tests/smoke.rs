//! Proves that each test server is the real thing: records go through Kafka, objects (including
//! a multipart upload) through S3, and the Connect peer answers its REST API with its plugins.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use skiff_testenv::{
    connect_peer, create_bucket, create_topic, kafka, log_tail, s3_client, unique_name,
};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::timeout;

const RECORDS: usize = 20;

#[tokio::test]
async fn kafka_produces_and_consumes() {
    let topic = unique_name("smoke");
    create_topic(&topic, 3).await.unwrap();

    let producer: FutureProducer = kafka()
        .client_config()
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    for i in 0..RECORDS {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let record = FutureRecord::to(&topic).key(&key).payload(&value);
        producer
            .send(record, Duration::from_secs(20))
            .await
            .map_err(|(err, _)| format!("{err}\n{}", log_tail("kafka")))
            .unwrap();
    }

    let consumer: StreamConsumer = kafka()
        .client_config()
        .set("group.id", unique_name("smoke-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = BTreeSet::new();
    timeout(Duration::from_secs(60), async {
        while seen.len() < RECORDS {
            let message = consumer.recv().await.unwrap();
            let value = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            assert_eq!(key.replace("key", "value"), value);
            seen.insert(value);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "consumed {} of {RECORDS}\n{}",
            seen.len(),
            log_tail("kafka")
        )
    });
    let expected: BTreeSet<String> = (0..RECORDS).map(|i| format!("value-{i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn s3_puts_lists_gets_and_uploads_multipart() {
    let bucket = unique_name("smoke");
    create_bucket(&bucket).await.unwrap();
    let client = s3_client();

    client
        .put_object()
        .bucket(&bucket)
        .key("dir/a.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let listed = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/a.txt"]);
    let got = client
        .get_object()
        .bucket(&bucket)
        .key("dir/a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello"
    );

    // Three parts: two of exactly 5 MiB (the S3 minimum for all but the last) and a short one.
    let sizes = [5 << 20, 5 << 20, 1234];
    let upload = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    let mut whole = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let number = i32::try_from(i).unwrap() + 1;
        let body: Vec<u8> = (0..*size).map(|j| ((j + i) % 251) as u8).collect();
        whole.extend_from_slice(&body);
        let part = client
            .upload_part()
            .bucket(&bucket)
            .key("big.bin")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("big.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = client
        .get_object()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), whole.len());
    assert!(
        body.as_ref() == whole.as_slice(),
        "multipart object differs"
    );
}

#[tokio::test]
async fn connect_peer_answers_rest() {
    let peer = connect_peer();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let root: serde_json::Value = http
        .get(format!("{}/", peer.url))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(root["version"].is_string(), "{root}");
    assert!(root["kafka_cluster_id"].is_string(), "{root}");

    let plugins: Vec<serde_json::Value> = http
        .get(format!("{}/connector-plugins", peer.url))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let classes: Vec<&str> = plugins.iter().filter_map(|p| p["class"].as_str()).collect();
    assert!(
        classes.contains(&"org.apache.kafka.connect.file.FileStreamSinkConnector"),
        "{classes:?}\n{}",
        log_tail("connect")
    );
}
