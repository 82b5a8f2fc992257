//! End to end against the real Kafka broker and S3 server: back a topic up through the REST API,
//! check the bucket record for record, restore it into a new topic and compare again.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

async fn wait_committed(url: &str, connector: &str, topic: &str, expected: i64) {
    eventually(90, "the sink to commit every record", || async {
        let sum = committed_records(url, connector, topic).await?;
        (sum >= expected).then_some(())
    })
    .await;
}

async fn wait_restored(url: &str, connector: &str) -> Value {
    let http = http();
    eventually(90, "the restore to report done", || {
        let http = http.clone();
        async move {
            let v: Value = http
                .get(format!("{url}/connectors/{connector}/progress"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["done"] == json!(true)).then_some(v)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_then_restore_round_trips_every_record() {
    let topic = skiff_testenv::unique_name("orders");
    let restored = format!("{topic}-restored");
    let bucket = skiff_testenv::unique_name("backup");
    skiff_testenv::create_topic(&topic, 3).await.unwrap();
    skiff_testenv::create_topic(&restored, 3).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let records = sample_records(3, 400);
    produce(&topic, &records).await;

    let worker = start_worker().await;
    let http = http();
    let mut sink = s3_config(&bucket);
    sink.insert(
        "connector.class".into(),
        "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector".into(),
    );
    sink.insert("topics".into(), topic.clone().into());
    sink.insert("prefix".into(), "nightly".into());
    sink.insert("flush.interval.ms".into(), "1000".into());
    sink.insert("flush.size".into(), "150".into());
    let resp = http
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": "backup", "config": sink}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    wait_committed(&worker.url, "backup", &topic, 3 * 400).await;

    // The bucket holds every record once, in order, in objects named by their offsets.
    let objects = objects_in_bucket(&bucket, "nightly/", &topic).await;
    let mut in_bucket: BTreeMap<i32, Vec<skiff_format::Record>> = BTreeMap::new();
    for (p, objs) in &objects {
        assert!(
            objs.len() >= 3,
            "partition {p}: flush.size=150 should give at least 3 objects, got {}",
            objs.len()
        );
        for (key, recs) in objs {
            let parsed = skiff_format::parse_object_key("nightly/", key).unwrap();
            assert_eq!(parsed.first_offset, recs[0].offset, "{key}");
            assert_eq!(parsed.last_offset, recs[recs.len() - 1].offset, "{key}");
        }
        in_bucket.insert(*p, objs.iter().flat_map(|(_, r)| r.clone()).collect());
    }
    assert_same_records(&records, &in_bucket, true);
    for recs in in_bucket.values() {
        assert!(
            recs.iter()
                .all(|r| r.timestamp_type == skiff_format::TimestampType::CreateTime)
        );
    }

    let mut source = s3_config(&bucket);
    source.insert(
        "connector.class".into(),
        "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceConnector".into(),
    );
    source.insert("prefix".into(), "nightly/".into());
    source.insert("s3.topics".into(), topic.clone().into());
    source.insert(
        "topics.mapping".into(),
        format!("{topic}:{restored}").into(),
    );
    source.insert("tasks.max".into(), "2".into());
    let resp = http
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": "restore", "config": source}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let progress = wait_restored(&worker.url, "restore").await;
    let total: u64 = progress["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["progress"]["recordsRestored"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1200, "{progress}");

    let copy = consume_all(&restored, 3);
    assert_same_records(&records, &copy, true);

    let status: Value = http
        .get(format!("{}/connectors/restore/status", worker.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["connector"]["state"], "RUNNING", "{status}");
    assert_eq!(status["tasks"].as_array().unwrap().len(), 2, "{status}");

    // The restore's active topics are the ones it wrote to, until reset.
    let topics_url = format!("{}/connectors/restore/topics", worker.url);
    let topics = get_json(topics_url.clone()).await.unwrap();
    assert_eq!(topics, json!({"restore": {"topics": [restored]}}));
    let resp = http
        .put(format!("{topics_url}/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let topics = get_json(topics_url).await.unwrap();
    assert_eq!(topics, json!({"restore": {"topics": []}}));
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_deleted_before_they_were_backed_up_are_reported() {
    let topic = skiff_testenv::unique_name("gap");
    let bucket = skiff_testenv::unique_name("gap");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let records = sample_records(1, 200);
    let first: BTreeMap<i32, Vec<skiff_format::Record>> =
        BTreeMap::from([(0, records[&0][..100].to_vec())]);
    let second: BTreeMap<i32, Vec<skiff_format::Record>> =
        BTreeMap::from([(0, records[&0][100..].to_vec())]);
    produce(&topic, &first).await;
    let worker = start_worker().await;
    let http = http();
    let mut sink = s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert("topics".into(), topic.clone().into());
    sink.insert("flush.size".into(), "50".into());
    sink.insert("flush.interval.ms".into(), "300".into());
    create_connector(&worker.url, "gap", sink).await;
    wait_committed(&worker.url, "gap", &topic, 100).await;

    // While the backup is stopped, records 100..149 arrive and are deleted (as retention would).
    let resp = http
        .put(format!("{}/connectors/gap/stop", worker.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    produce(&topic, &second).await;
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        skiff_testenv::kafka().client_config().create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(150))
        .unwrap();
    admin
        .delete_records(&tpl, &rdkafka::admin::AdminOptions::new())
        .await
        .unwrap();
    set_target(&worker.url, "gap", "resume").await;
    wait_committed(&worker.url, "gap", &topic, 200).await;
    let progress = get_json(format!("{}/connectors/gap/progress", worker.url))
        .await
        .unwrap();
    let warnings = &progress["tasks"][0]["progress"]["warnings"];
    assert_eq!(warnings.as_array().map(Vec::len), Some(1), "{progress}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.starts_with(&format!("records 100..149 of {topic}/0 were deleted")),
        "{w}"
    );
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validate_checks_the_bucket_and_the_access_each_connector_needs() {
    let bucket = skiff_testenv::unique_name("validate");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let worker = start_worker().await;
    let s3 = skiff_testenv::s3_client();
    let probe = "vp/_skiff/access-check.json";

    // A restore only reads: it passes and writes nothing.
    let mut source = s3_config(&bucket);
    source.insert("connector.class".into(), "AwsStorageSourceConnector".into());
    source.insert("prefix".into(), "vp".into());
    source.insert("name".into(), "validate-restore".into());
    assert_eq!(
        validation_errors(&worker.url, "AwsStorageSourceConnector", &source).await,
        BTreeMap::new()
    );
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(
        listed.key_count(),
        Some(0),
        "a restore's validation wrote to the bucket"
    );

    // A backup lists and writes: it passes once it has written its probe object.
    let mut sink = s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert("topics".into(), "t".into());
    sink.insert("prefix".into(), "vp".into());
    sink.insert("name".into(), "validate-backup".into());
    assert_eq!(
        validation_errors(&worker.url, "AwsStorageSinkConnector", &sink).await,
        BTreeMap::new()
    );
    s3.head_object()
        .bucket(&bucket)
        .key(probe)
        .send()
        .await
        .expect("the write check left its probe object under the prefix's _skiff folder");

    // A missing bucket is reported on aws.s3.bucket with the fix.
    sink.insert("aws.s3.bucket".into(), format!("{bucket}-missing").into());
    let errors = validation_errors(&worker.url, "AwsStorageSinkConnector", &sink).await;
    let text = errors["aws.s3.bucket"].join(" ");
    assert!(
        text.contains("does not exist: create it or fix aws.s3.bucket"),
        "{errors:?}"
    );
    worker.running.stop().await;
}
