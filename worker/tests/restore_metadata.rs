//! The backup records its topics' shape and the consumer groups' offsets; a restore recreates a
//! missing topic like the backed-up one and moves a consumer group to the translated offsets,
//! also when the worker restarts after the restore passed the group's position.

mod common;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use skiff_worker::config::connector_clients::ConnectorClients;
use skiff_worker::config::worker::WorkerConfig;
use skiff_worker::connectors::backup_metadata;
use skiff_worker::herder::sink_offsets;
use std::collections::BTreeMap;
use std::time::Duration;

fn admin() -> AdminClient<DefaultClientContext> {
    skiff_testenv::kafka().client_config().create().unwrap()
}

fn group_consumer(group: &str) -> BaseConsumer {
    skiff_testenv::kafka()
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Commits `offsets` (partition, offset) of `topic` for `group`, as an application that read
/// that far would have.
fn commit_offsets(group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let mut tpl = TopicPartitionList::new();
    for (partition, offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .unwrap();
    }
    group_consumer(group)
        .commit(&tpl, CommitMode::Sync)
        .unwrap();
}

/// The offsets `group` has committed on `partitions` of `topic`.
fn committed(group: &str, topic: &str, partitions: &[i32]) -> Vec<Offset> {
    let mut want = TopicPartitionList::new();
    for p in partitions {
        want.add_partition(topic, *p);
    }
    group_consumer(group)
        .committed_offsets(want, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .map(|e| e.offset())
        .collect()
}

/// The clients of a connector on the SASL_SSL listener, logged in with SCRAM.
fn sasl_ssl_worker(offsets_file: &std::path::Path) -> ConnectorClients {
    let secure = &skiff_testenv::kafka().secure;
    let mut props = worker_props_on(&secure.bootstrap, offsets_file);
    for (k, v) in [
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", "SCRAM-SHA-512".to_string()),
        (
            "sasl.jaas.config",
            format!(
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
                secure.username, secure.password
            ),
        ),
        ("ssl.truststore.type", "PEM".to_string()),
        (
            "ssl.truststore.location",
            secure.ca_file.display().to_string(),
        ),
    ] {
        props.insert(k.into(), v);
    }
    as_connector(WorkerConfig::from_properties(props).unwrap())
}

/// The clients of a connector that overrides none of `worker`'s settings.
fn as_connector(worker: WorkerConfig) -> ConnectorClients {
    ConnectorClients::of_worker(std::sync::Arc::new(worker))
}

/// Starts a worker on `offsets_file`, creates the `regroup` restore and waits until it is done;
/// returns the worker and the final progress document.
async fn restore_until_done(
    offsets_file: &std::path::Path,
    source: serde_json::Map<String, Value>,
) -> (skiff_worker::standalone::Running, Value) {
    let logs = skiff_worker::rest::LogControl::new(None, "info");
    let worker = skiff_worker::standalone::start(worker_props(offsets_file), Vec::new(), logs)
        .await
        .unwrap();
    let url = format!("http://{}", worker.addr);
    create_connector(&url, "regroup", source).await;
    let progress = eventually(60, "the restore to report done", || async {
        let v = get_json(format!("{url}/connectors/regroup/progress")).await?;
        (v["done"] == json!(true)).then_some(v)
    })
    .await;
    (worker, progress)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_recreates_the_topic_and_moves_consumer_groups() {
    let topic = skiff_testenv::unique_name("meta");
    let restored = format!("{topic}-copy");
    let bucket = skiff_testenv::unique_name("meta");
    let group = skiff_testenv::unique_name("billing-app");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let new = NewTopic::new(&topic, 2, TopicReplication::Fixed(1)).set("retention.ms", "123456789");
    for r in admin().create_topics([&new], &opts).await.unwrap() {
        r.unwrap();
    }
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let records = sample_records(2, 300);
    produce(&topic, &records).await;
    // An application has read up to offset 100 of partition 0 and 250 of partition 1.
    commit_offsets(&group, &topic, &[(0, 100), (1, 250)]);

    let worker = start_worker().await;
    let mut sink = s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert("topics".into(), topic.clone().into());
    sink.insert("flush.interval.ms".into(), "500".into());
    sink.insert("metadata.interval.ms".into(), "500".into());
    let resp = http()
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": "meta-backup", "config": sink}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    eventually(60, "the backup to commit", || async {
        (committed_records(&worker.url, "meta-backup", &topic).await? >= 600).then_some(())
    })
    .await;
    let s3 = skiff_testenv::s3_client();
    let manifest_key = format!("_skiff/topics/{topic}.json");
    let group_key = format!("_skiff/group-offsets/{group}/{topic}.json");
    let manifest: Value = eventually(30, "the topic manifest", || async {
        let body = s3
            .get_object()
            .bucket(&bucket)
            .key(&manifest_key)
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&body.body.collect().await.ok()?.into_bytes()).ok()
    })
    .await;
    assert_eq!(manifest["partitions"], 2, "{manifest}");
    assert_eq!(
        manifest["configs"]["retention.ms"], "123456789",
        "{manifest}"
    );
    let offsets: Value = eventually(30, "the group's offsets", || async {
        let body = s3
            .get_object()
            .bucket(&bucket)
            .key(&group_key)
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&body.body.collect().await.ok()?.into_bytes()).ok()
    })
    .await;
    assert_eq!(offsets["offsets"][format!("{topic}/0")], 100, "{offsets}");

    // Restore from partition 0's 51st record on: the group's offsets move with the records.
    let from = records[&0][50].timestamp.min(records[&1][50].timestamp);
    let mut source = s3_config(&bucket);
    source.insert("connector.class".into(), "AwsStorageSourceConnector".into());
    source.insert("s3.topics".into(), topic.clone().into());
    source.insert(
        "topics.mapping".into(),
        format!("{topic}:{restored}").into(),
    );
    source.insert("restore.create.topics".into(), "true".into());
    source.insert("restore.consumer.groups".into(), group.clone().into());
    source.insert("restore.timestamp.from".into(), from.to_string().into());
    let resp = http()
        .post(format!("{}/connectors", worker.url))
        .json(&json!({"name": "meta-restore", "config": source}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let url = format!("{}/connectors/meta-restore/progress", worker.url);
    let progress = eventually(90, "the restore to finish", || {
        let url = url.clone();
        async move {
            let v: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            (v["done"] == json!(true)).then_some(v)
        }
    })
    .await;

    let expected: BTreeMap<i32, Vec<skiff_format::Record>> = records
        .iter()
        .map(|(p, r)| {
            (
                *p,
                r.iter().filter(|r| r.timestamp >= from).cloned().collect(),
            )
        })
        .collect();
    assert_same_records(&expected, &consume_all(&restored, 2), false);
    // The copy was created with the backed-up topic's settings.
    let described = admin()
        .describe_configs(&[ResourceSpecifier::Topic(&restored)], &opts)
        .await
        .unwrap();
    let entries = described.into_iter().next().unwrap().unwrap();
    assert_eq!(
        entries
            .get("retention.ms")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("123456789")
    );
    // Partition 0 restored from original offset 50, so its offset 100 became 50; partition 1's
    // records are all newer than `from` (sample timestamps grow with the partition number), so
    // 250 stays 250.
    assert_eq!(
        committed(&group, &restored, &[0, 1]),
        vec![Offset::Offset(50), Offset::Offset(250)],
        "{progress}"
    );
    worker.running.stop().await;
}

/// Two backup tasks each read one of the group's topics, and each samples only its own: a
/// restore still moves the group on both. When a group's offsets were one file per group, each
/// task overwrote it with its topic alone, and the restore moved the group on one topic only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_read_by_two_backup_tasks_is_moved_on_every_topic() {
    let bucket = skiff_testenv::unique_name("twotasks");
    let group = skiff_testenv::unique_name("ledger-app");
    let topics = [
        skiff_testenv::unique_name("ledger-a"),
        skiff_testenv::unique_name("ledger-b"),
    ];
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    for (i, topic) in topics.iter().enumerate() {
        skiff_testenv::create_topic(topic, 1).await.unwrap();
        produce(topic, &sample_records(1, 200)).await;
        commit_offsets(&group, topic, &[(0, 50 + 100 * i as i64)]);
    }

    let worker = start_worker().await;
    let mut sink = s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert("topics".into(), topics.join(",").into());
    sink.insert("tasks.max".into(), "2".into());
    // One topic per task, whatever the member order.
    sink.insert(
        "consumer.override.partition.assignment.strategy".into(),
        "roundrobin".into(),
    );
    sink.insert("flush.interval.ms".into(), "500".into());
    sink.insert("metadata.interval.ms".into(), "500".into());
    create_connector(&worker.url, "twotasks-backup", sink).await;
    eventually(60, "both tasks to back their topic up", || async {
        let p = get_json(format!(
            "{}/connectors/twotasks-backup/progress",
            worker.url
        ))
        .await?;
        let tasks = p["tasks"].as_array()?;
        let busy = tasks
            .iter()
            .filter(|t| t["progress"]["recordsWritten"].as_u64() == Some(200))
            .count();
        (busy == 2).then_some(())
    })
    .await;
    // Several samplings by each task.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut source = s3_config(&bucket);
    source.insert("connector.class".into(), "AwsStorageSourceConnector".into());
    source.insert("s3.topics".into(), topics.join(",").into());
    source.insert("kafka.topicPrefix".into(), "copy".into());
    source.insert("restore.create.topics".into(), "true".into());
    source.insert("restore.consumer.groups".into(), group.clone().into());
    create_connector(&worker.url, "twotasks-restore", source).await;
    let progress = eventually(90, "the restore to finish", || async {
        let v = get_json(format!(
            "{}/connectors/twotasks-restore/progress",
            worker.url
        ))
        .await?;
        (v["done"] == json!(true)).then_some(v)
    })
    .await;
    for (i, topic) in topics.iter().enumerate() {
        assert_eq!(
            committed(&group, &format!("copy-{topic}"), &[0]),
            vec![Offset::Offset(50 + 100 * i as i64)],
            "the group on {topic}: {progress}"
        );
    }
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_passed_before_a_restart_is_still_moved() {
    let bucket = skiff_testenv::unique_name("regroup");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let topic = "payments";
    let group = skiff_testenv::unique_name("payments-app");
    let target = skiff_testenv::unique_name("payments");
    skiff_testenv::create_topic(&target, 1).await.unwrap();
    // The target already holds 50 records, so original offset 300 lands at 350.
    produce(&target, &sample_records(1, 50)).await;
    let records = sample_records(1, 1000);
    let s3 = skiff_testenv::s3_client();
    for chunk in records[&0].chunks(100) {
        let mut w = skiff_format::ObjectWriter::new(
            skiff_format::Format::SkiffV1,
            skiff_format::Compression::Zstd,
        );
        for r in chunk {
            w.push(r);
        }
        let key = skiff_format::object_key("", topic, 0, chunk[0].offset, chunk[99].offset);
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(w.finish().into())
            .send()
            .await
            .unwrap();
    }
    let offsets = json!({"group": group, "offsets": {format!("{topic}/0"): 300}});
    s3.put_object()
        .bucket(&bucket)
        .key(format!("_skiff/groups/{group}.json"))
        .body(offsets.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();

    let mut source = s3_config(&bucket);
    source.insert("connector.class".into(), "AwsStorageSourceConnector".into());
    source.insert("s3.topics".into(), topic.into());
    source.insert("topics.mapping".into(), format!("{topic}:{target}").into());
    source.insert("restore.consumer.groups".into(), group.clone().into());
    source.insert("maxRecordsPerSecond".into(), "150".into());
    let restored = |url: String| async move {
        let v = get_json(format!("{url}/connectors/regroup/progress")).await?;
        v["tasks"][0]["progress"]["recordsRestored"].as_u64()
    };

    // First run: stopped after passing offset 300, before the partition is done.
    let first = start_worker().await;
    create_connector(&first.url, "regroup", source.clone()).await;
    eventually(60, "the restore to pass the group's position", || async {
        restored(first.url.clone())
            .await
            .filter(|n| (400..1000).contains(n))
    })
    .await;
    let offsets_file = first.offsets_file;
    first.running.stop().await;

    // Second run, same offsets file: it finishes and moves the group to 350.
    let (second, progress) = restore_until_done(&offsets_file, source.clone()).await;
    let copy = consume_all(&target, 1);
    assert_eq!(
        copy[&0].len(),
        1050,
        "no record lost or repeated: {progress}"
    );
    assert_same_records(
        &records,
        &BTreeMap::from([(0, copy[&0][50..].to_vec())]),
        false,
    );
    assert_eq!(
        committed(&group, &target, &[0]),
        vec![Offset::Offset(350)],
        "{progress}"
    );
    second.stop().await;

    // The group's consumers move on; a later run of the finished restore leaves them there.
    let mut moved = TopicPartitionList::new();
    moved
        .add_partition_offset(&target, 0, Offset::Offset(900))
        .unwrap();
    group_consumer(&group)
        .commit(&moved, CommitMode::Sync)
        .unwrap();
    let (third, progress) = restore_until_done(&offsets_file, source).await;
    assert_eq!(
        committed(&group, &target, &[0]),
        vec![Offset::Offset(900)],
        "rewound: {progress}"
    );
    assert_eq!(
        consume_all(&target, 1)[&0].len(),
        1050,
        "records written again"
    );
    third.stop().await;
}

/// A cluster with many consumer groups: every group's offsets on the backed-up topic are
/// sampled, each group's own, and the backup's own group is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_offsets_of_every_group_among_many_are_sampled() {
    const GROUPS: i64 = 40;
    let topic = skiff_testenv::unique_name("many-groups");
    skiff_testenv::create_topic(&topic, 3).await.unwrap();
    produce(&topic, &sample_records(3, 200)).await;
    let prefix = skiff_testenv::unique_name("app");
    let own = format!("{prefix}-own");
    let names: Vec<String> = (0..GROUPS)
        .map(|g| format!("{prefix}-{g}"))
        .chain([own.clone()])
        .collect();
    let topic_for_commits = topic.clone();
    tokio::task::spawn_blocking(move || {
        for (g, name) in names.iter().enumerate() {
            // Group g has read g records of partition 0 and 2g of partition 2, none of 1.
            let mut tpl = TopicPartitionList::new();
            let g = g as i64;
            tpl.add_partition_offset(&topic_for_commits, 0, Offset::Offset(g))
                .unwrap();
            tpl.add_partition_offset(&topic_for_commits, 2, Offset::Offset(2 * g))
                .unwrap();
            group_consumer(name).commit(&tpl, CommitMode::Sync).unwrap();
        }
    })
    .await
    .unwrap();

    let offsets_file = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let worker = as_connector(WorkerConfig::from_properties(worker_props(&offsets_file)).unwrap());
    let manifest = backup_metadata::TopicManifest {
        topic: topic.clone(),
        partitions: 3,
        configs: BTreeMap::new(),
    };
    let expected: BTreeMap<String, BTreeMap<String, i64>> = (0..GROUPS)
        .map(|g| {
            (
                format!("{prefix}-{g}"),
                BTreeMap::from([(format!("{topic}/0"), g), (format!("{topic}/2"), 2 * g)]),
            )
        })
        .collect();
    let ours = |sampled: Vec<backup_metadata::GroupOffsets>| {
        sampled
            .into_iter()
            .filter(|g| g.group.starts_with(&prefix))
            .map(|g| (g.group, g.offsets))
            .collect::<BTreeMap<_, _>>()
    };
    let manifests = [manifest];
    let started = std::time::Instant::now();
    let batched = backup_metadata::group_offsets(&worker, &manifests, &own)
        .await
        .unwrap();
    let batched_took = started.elapsed();
    let started = std::time::Instant::now();
    let per_client = backup_metadata::group_offsets_per_client(&worker, &manifests, &own)
        .await
        .unwrap();
    eprintln!(
        "sampled {} groups in {batched_took:?} batched, {:?} with a client per group",
        batched.len(),
        started.elapsed()
    );
    assert_eq!(ours(batched), expected, "batched over the wire");
    // The same through the SASL_SSL listener, logged in with SCRAM.
    let secured = sasl_ssl_worker(&offsets_file);
    let over_sasl_ssl = backup_metadata::group_offsets(&secured, &manifests, &own)
        .await
        .unwrap();
    assert_eq!(ours(over_sasl_ssl), expected, "batched over SASL_SSL");
    assert_eq!(ours(per_client), expected, "a client per group");
}

/// A sink connector's offsets (`GET /connectors/{c}/offsets`) are its group's committed offsets:
/// read directly with one OffsetFetch, over PLAINTEXT and over SASL_SSL, they are those a
/// librdkafka consumer reads, partitions without an offset are left out, and a connector
/// whose group has none has an empty list.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sink_connectors_offsets_are_read_directly_as_a_consumer_reads_them() {
    let topic = skiff_testenv::unique_name("sink-offsets");
    skiff_testenv::create_topic(&topic, 3).await.unwrap();
    let name = skiff_testenv::unique_name("offsets-of");
    let group = format!("connect-{name}");
    let topic_for_commits = topic.clone();
    tokio::task::spawn_blocking(move || {
        commit_offsets(&group, &topic_for_commits, &[(0, 5), (2, 9)])
    })
    .await
    .unwrap();
    let offsets_file = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let plain = as_connector(WorkerConfig::from_properties(worker_props(&offsets_file)).unwrap());
    let secured = sasl_ssl_worker(&offsets_file);
    let ours = |listed: skiff_api::rest::ConnectorOffsets| {
        serde_json::to_value(listed).unwrap()["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["partition"]["kafka_topic"] == json!(topic))
            .cloned()
            .collect::<Vec<Value>>()
    };
    let expected: Vec<Value> = [(0, 5), (2, 9)]
        .iter()
        .map(|(p, o)| {
            json!({"partition": {"kafka_topic": topic, "kafka_partition": p},
                   "offset": {"kafka_offset": o}})
        })
        .collect();

    let direct = sink_offsets::list_directly(&plain, &name).await.unwrap();
    assert_eq!(ours(direct), expected, "directly over PLAINTEXT");
    let direct = sink_offsets::list_directly(&secured, &name).await.unwrap();
    assert_eq!(ours(direct), expected, "directly over SASL_SSL");
    let through = sink_offsets::list_through_consumer(&plain, &name)
        .await
        .unwrap();
    assert_eq!(ours(through), expected, "through a consumer");
    let none = sink_offsets::list_directly(&plain, &skiff_testenv::unique_name("never-ran"))
        .await
        .unwrap();
    assert!(none.offsets.is_empty(), "{none:?}");
}

/// A backup that cannot sample its metadata (here its admin client points at a closed port)
/// still backs every record up, and says among its progress warnings that a restore will lack
/// the topics' shape and the groups' offsets, instead of only logging it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_that_cannot_record_its_metadata_says_so() {
    let topic = skiff_testenv::unique_name("nometa");
    let bucket = skiff_testenv::unique_name("nometa");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    produce(&topic, &sample_records(1, 50)).await;
    let worker = start_worker().await;
    let mut sink = backup_config(&bucket, &topic);
    sink.insert("flush.interval.ms".into(), "300".into());
    sink.insert("metadata.interval.ms".into(), "500".into());
    sink.insert(
        "admin.override.bootstrap.servers".into(),
        "127.0.0.1:1".into(),
    );
    create_connector(&worker.url, "nometa", sink).await;
    let warning = eventually(90, "the metadata failure among the warnings", || async {
        let p = progress(&worker.url, "nometa").await?;
        p["warnings"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find(|w| w.starts_with("could not record topic and consumer group metadata"))
            .map(str::to_string)
    })
    .await;
    assert!(
        warning.contains("a restore cannot create topics"),
        "{warning}"
    );
    assert_eq!(
        committed_records(&worker.url, "nometa", &topic).await,
        Some(50)
    );
    worker.running.stop().await;
}
