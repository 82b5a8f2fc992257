//! Shared helpers of the worker's integration tests: a worker started in-process against the
//! real Kafka and S3 servers of the test environment, a REST client, and record fixtures.
#![allow(dead_code)]

use serde_json::Value;
use skiff_format::Record;
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
    worker_props_on(&skiff_testenv::kafka().bootstrap, offsets_file)
}

/// Worker properties pointing at the Kafka cluster `bootstrap`.
pub fn worker_props_on(bootstrap: &str, offsets_file: &std::path::Path) -> Properties {
    let mut p = Properties::new();
    p.insert("bootstrap.servers".into(), bootstrap.into());
    p.insert("listeners".into(), "http://127.0.0.1:0".into());
    p.insert(
        "offset.storage.file.filename".into(),
        offsets_file.display().to_string(),
    );
    p.insert("offset.flush.interval.ms".into(), "500".into());
    p.insert(
        "key.converter".into(),
        "org.apache.kafka.connect.converters.ByteArrayConverter".into(),
    );
    p.insert(
        "value.converter".into(),
        "org.apache.kafka.connect.converters.ByteArrayConverter".into(),
    );
    p
}

/// Starts a worker in this process.
pub async fn start_worker() -> TestWorker {
    start_worker_on(&skiff_testenv::kafka().bootstrap).await
}

/// Starts a worker in this process against the Kafka cluster `bootstrap`.
pub async fn start_worker_on(bootstrap: &str) -> TestWorker {
    start_worker_with(bootstrap, &[]).await
}

/// Starts a worker in this process against the Kafka cluster `bootstrap`, with `extra` worker
/// properties.
pub async fn start_worker_with(bootstrap: &str, extra: &[(&str, &str)]) -> TestWorker {
    let offsets_file = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::remove_file(&offsets_file).ok();
    let logs = skiff_worker::rest::LogControl::new(None, "info");
    let mut props = worker_props_on(bootstrap, &offsets_file);
    props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let running = skiff_worker::standalone::start(props, Vec::new(), logs)
        .await
        .unwrap();
    TestWorker {
        url: format!("http://{}", running.addr),
        running,
        offsets_file,
    }
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

/// A backup (S3 sink) of `topic` into `bucket` on the test server, to add settings to.
pub fn backup_config(bucket: &str, topic: &str) -> serde_json::Map<String, Value> {
    let mut m = s3_config(bucket);
    m.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    m.insert("topics".into(), topic.into());
    m
}

/// A restore of `topic`'s backup in `bucket` into the topic `target`, to add settings to.
pub fn restore_config(bucket: &str, topic: &str, target: &str) -> serde_json::Map<String, Value> {
    let mut m = s3_config(bucket);
    m.insert("connector.class".into(), "AwsStorageSourceConnector".into());
    m.insert("topics.mapping".into(), format!("{topic}:{target}").into());
    m
}

/// Waits until a restore has written its first records.
pub async fn restore_started(url: &str, connector: &str) {
    eventually(60, "the restore to write its first records", || async {
        let p = progress(url, connector).await?;
        (p["recordsRestored"].as_u64()? > 0).then_some(())
    })
    .await;
}

/// Waits up to `secs` for a restore to report done, failing at once if its task FAILED;
/// `after` says after what (for the messages).
pub async fn restore_finished(url: &str, connector: &str, secs: u64, after: &str) {
    eventually(secs, &format!("the restore to finish {after}"), || async {
        let states = task_states(url, connector).await;
        assert!(
            !states.iter().any(|s| s == "FAILED"),
            "the restore task failed {after}"
        );
        let p = progress(url, connector).await?;
        (p["done"] == true).then_some(())
    })
    .await;
}

/// A REST client with a timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
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
    skiff_testenv::records::sample_records(partitions, per_partition)
}

/// Produces records to their partitions, in order, and waits for every acknowledgement.
pub async fn produce(topic: &str, records: &BTreeMap<i32, Vec<Record>>) {
    skiff_testenv::records::produce(topic, records)
        .await
        .unwrap();
}

/// Reads every record of a topic's partitions from the beginning up to their end offsets.
pub fn consume_all(topic: &str, partitions: i32) -> BTreeMap<i32, Vec<Record>> {
    skiff_testenv::records::consume_all(topic, partitions).unwrap()
}

/// Every record in the bucket's backup of `topic`, decoded, by partition, in key order.
pub async fn objects_in_bucket(
    bucket: &str,
    prefix: &str,
    topic: &str,
) -> BTreeMap<i32, Vec<(String, Vec<Record>)>> {
    let client = skiff_testenv::s3_client();
    let mut out: BTreeMap<i32, Vec<(String, Vec<Record>)>> = BTreeMap::new();
    let mut token = None;
    loop {
        let mut req = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{prefix}{topic}/"));
        if let Some(t) = token.take() {
            req = req.continuation_token(t);
        }
        let page = req.send().await.unwrap();
        for o in page.contents() {
            let key = o.key().unwrap().to_string();
            let parsed = skiff_format::parse_object_key(prefix, &key)
                .unwrap_or_else(|| panic!("foreign key {key}"));
            let body = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            let decoded = skiff_format::decode(&body).unwrap();
            out.entry(parsed.partition)
                .or_default()
                .push((key, decoded.records));
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    out
}

/// Fails with every difference between two record sets.
pub fn assert_same_records(
    expected: &BTreeMap<i32, Vec<Record>>,
    actual: &BTreeMap<i32, Vec<Record>>,
    check_offsets: bool,
) {
    let diffs = skiff_testenv::records::differences(expected, actual, check_offsets);
    assert!(
        diffs.is_empty(),
        "{} differences, first ones: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(10)]
    );
}

/// `GET url` as JSON; `None` on any failure (for polling with [`eventually`]).
pub async fn get_json(url: String) -> Option<Value> {
    http().get(url).send().await.ok()?.json().await.ok()
}

/// `GET {url}/health`: its status code and body, `None` while the worker does not answer.
pub async fn health(url: &str) -> Option<(u16, Value)> {
    let answer = http().get(format!("{url}/health")).send().await.ok()?;
    let status = answer.status().as_u16();
    Some((status, answer.json().await.ok()?))
}

/// `PUT {url}/connectors/{name}/{action}` (`pause` or `resume`); fails the test unless 202.
pub async fn set_target(url: &str, name: &str, action: &str) {
    let resp = http()
        .put(format!("{url}/connectors/{name}/{action}"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(
        status,
        202,
        "{action} {name}: {}",
        resp.text().await.unwrap()
    );
}

/// `POST {url}/connectors` with `name` and `config`; fails the test unless 201.
pub async fn create_connector(url: &str, name: &str, config: serde_json::Map<String, Value>) {
    let resp = http()
        .post(format!("{url}/connectors"))
        .json(&serde_json::json!({"name": name, "config": config}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

/// A worker process, killed (SIGKILL) when dropped, also when the test fails.
pub struct WorkerProcess(pub std::process::Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port for a worker process's REST listener.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Checks a sink's bucket: no two objects of a partition overlap, and together they hold
/// exactly `expected` (every record once, in order).
pub async fn assert_bucket_holds_exactly(
    bucket: &str,
    prefix: &str,
    topic: &str,
    expected: &BTreeMap<i32, Vec<Record>>,
) {
    let objects = objects_in_bucket(bucket, prefix, topic).await;
    let mut in_bucket = BTreeMap::new();
    for (p, objs) in &objects {
        let mut last = -1i64;
        for (key, _) in objs {
            let parsed = skiff_format::parse_object_key(prefix, key).unwrap();
            assert!(
                parsed.first_offset > last,
                "partition {p}: object {key} overlaps the previous one (ends at {last})"
            );
            last = parsed.last_offset;
        }
        in_bucket.insert(
            *p,
            objs.iter().flat_map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        );
    }
    assert_same_records(expected, &in_bucket, true);
}

/// How many records of `topic` a sink connector has committed (sum of its group's offsets for
/// that topic), from `GET /connectors/{c}/offsets`.
pub async fn committed_records(url: &str, connector: &str, topic: &str) -> Option<i64> {
    let v = get_json(format!("{url}/connectors/{connector}/offsets")).await?;
    Some(
        v["offsets"]
            .as_array()?
            .iter()
            .filter(|o| o["partition"]["kafka_topic"] == topic)
            .filter_map(|o| o["offset"]["kafka_offset"].as_i64())
            .sum(),
    )
}

/// The states of a connector's tasks, from its status.
pub async fn task_states(url: &str, connector: &str) -> Vec<String> {
    get_json(format!("{url}/connectors/{connector}/status"))
        .await
        .and_then(|s| {
            s["tasks"].as_array().map(|ts| {
                ts.iter()
                    .map(|t| t["state"].as_str().unwrap_or("").to_string())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The first task's progress document.
pub async fn progress(url: &str, connector: &str) -> Option<Value> {
    let p = get_json(format!("{url}/connectors/{connector}/progress")).await?;
    p["tasks"].get(0).map(|t| t["progress"].clone())
}

/// Creates a connector through `url`, retrying while the worker answers 409 (it has not joined
/// its group or does not know the leader yet); on time-out the panic shows the last answer.
pub async fn create_when_led(url: &str, name: &str, config: Value) {
    let body = serde_json::json!({"name": name, "config": config});
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = Instant::now();
        let answer = http()
            .post(format!("{url}/connectors"))
            .json(&body)
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        let last = match answer {
            Ok(r) if r.status() == 201 => return,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                // An earlier attempt was answered too late but went through.
                if status == 409 && text.contains("already exists") {
                    return;
                }
                format!("{status} {text}")
            }
            Err(e) => format!("{e} after {:?}", started.elapsed()),
        };
        assert!(
            Instant::now() < deadline,
            "timed out after 60s waiting for a leader to accept connector {name}; last answer: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts `skiff-worker distributed` on `port` in `group`; sessions of 6 s (the Connect group
/// and the sink consumers') so a lost worker is noticed quickly.
pub fn spawn_distributed(dir: &std::path::Path, group: &str, port: u16) -> WorkerProcess {
    spawn_distributed_with(dir, group, port, "")
}

/// [`spawn_distributed`] with more worker properties (`key=value` lines, later keys win).
pub fn spawn_distributed_with(
    dir: &std::path::Path,
    group: &str,
    port: u16,
    extra: &str,
) -> WorkerProcess {
    let props = format!(
        "bootstrap.servers={}\nlisteners=http://127.0.0.1:{port}\ngroup.id={group}\n\
         config.storage.topic={group}-configs\noffset.storage.topic={group}-offsets\n\
         status.storage.topic={group}-status\nconfig.storage.replication.factor=-1\n\
         offset.storage.replication.factor=-1\nstatus.storage.replication.factor=-1\n\
         heartbeat.interval.ms=1000\nsession.timeout.ms=6000\noffset.flush.interval.ms=500\n\
         consumer.session.timeout.ms=6000\nconsumer.heartbeat.interval.ms=1000\n{extra}\n",
        skiff_testenv::kafka().bootstrap
    );
    let path = dir.join(format!("worker-{port}.properties"));
    std::fs::write(&path, props).unwrap();
    // SKIFF_TEST_WORKER_LOG=info (or debug) shows the worker processes' logs.
    let log = std::env::var("SKIFF_TEST_WORKER_LOG").ok();
    WorkerProcess(
        std::process::Command::new(env!("CARGO_BIN_EXE_skiff-worker"))
            .arg("distributed")
            .arg(&path)
            .env("SKIFF_LOG_LEVEL", log.as_deref().unwrap_or("warn"))
            .stdout(if log.is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// The worker ids of a connector's tasks, when every task is RUNNING.
pub async fn task_workers(url: &str, name: &str) -> Option<Vec<String>> {
    let s = get_json(format!("{url}/connectors/{name}/status")).await?;
    s["tasks"]
        .as_array()?
        .iter()
        .map(|t| (t["state"] == "RUNNING").then(|| t["worker_id"].as_str().map(str::to_string))?)
        .collect()
}

/// Splits each partition's records into `n` consecutive slices.
pub fn slices(
    all: &BTreeMap<i32, Vec<skiff_format::Record>>,
    n: usize,
) -> Vec<BTreeMap<i32, Vec<skiff_format::Record>>> {
    (0..n)
        .map(|i| {
            all.iter()
                .map(|(p, recs)| {
                    let per = recs.len().div_ceil(n);
                    let end = ((i + 1) * per).min(recs.len());
                    (*p, recs[(i * per).min(end)..end].to_vec())
                })
                .collect()
        })
        .collect()
}

/// Each partition's records in two consecutive halves.
pub fn halves(all: &BTreeMap<i32, Vec<Record>>) -> [BTreeMap<i32, Vec<Record>>; 2] {
    let mut s = slices(all, 2);
    let second = s.pop().expect("two slices");
    let first = s.pop().expect("two slices");
    [first, second]
}

/// The client ids of the members of a sink connector's consumer group: one per running task
/// (a task's consumer is `connector-consumer-<connector>-<task>`). Statuses can be stale after
/// a crash; a task's consumer in the group shows that the task really runs.
pub async fn sink_group_members(connector: &str) -> Vec<String> {
    let group = format!("connect-{connector}");
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = skiff_testenv::kafka().client_config().create().unwrap();
        let groups = consumer
            .fetch_group_list(Some(&group), Duration::from_secs(10))
            .unwrap();
        let mut ids: Vec<String> = groups
            .groups()
            .iter()
            .flat_map(|g| g.members().iter().map(|m| m.client_id().to_string()))
            .collect();
        ids.sort();
        ids
    })
    .await
    .unwrap()
}

/// Whether `members` (from [`sink_group_members`]) are exactly one consumer for each of `tasks`
/// tasks (a task running twice would show two).
pub fn consumers_for_every_task(members: &[String], connector: &str, tasks: u32) -> bool {
    members.len() == tasks as usize
        && (0..tasks).all(|t| {
            let suffix = format!("{connector}-{t}");
            members.iter().filter(|m| m.ends_with(&suffix)).count() == 1
        })
}

/// One fault proxy per address of the test broker's proxied listener: a worker that bootstraps
/// on `kafka().proxied.bootstrap` reaches Kafka only through these, so disabling them cuts it
/// off from Kafka (and only from Kafka).
pub async fn kafka_cut_proxies() -> Vec<skiff_testenv::faults::Proxy> {
    let mut proxies = Vec::new();
    for (i, (listen, upstream)) in skiff_testenv::kafka().proxied.routes.iter().enumerate() {
        let name = skiff_testenv::unique_name(&format!("kafka-cut-{i}"));
        let proxy = skiff_testenv::toxiproxy()
            .proxy_at(&name, listen, upstream)
            .await
            .unwrap();
        proxies.push(proxy);
    }
    proxies
}

/// A distributed backup scenario's fresh names, all from `prefix`: a group id, a topic with
/// `partitions` partitions (created) and a bucket (created).
pub async fn fresh_group_topic_and_bucket(
    prefix: &str,
    partitions: i32,
) -> (String, String, String) {
    let group = skiff_testenv::unique_name(prefix);
    let topic = skiff_testenv::unique_name(prefix);
    let bucket = skiff_testenv::unique_name(prefix);
    skiff_testenv::create_topic(&topic, partitions)
        .await
        .unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    (group, topic, bucket)
}

/// The process's log, written to a file and printed only if the test fails: a passing run
/// leaves the CI output short, a failing one shows everything the clients said.
pub struct LogOnFailure {
    file: tempfile::NamedTempFile,
}

impl LogOnFailure {
    /// Installs the process-wide subscriber with `filter` (tracing's directive syntax); once
    /// per test binary, as a second subscriber cannot be installed.
    pub fn install(filter: &str) -> LogOnFailure {
        let file = tempfile::NamedTempFile::new().unwrap();
        let writer = std::sync::Mutex::new(file.reopen().unwrap());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_target(false)
            .with_ansi(false)
            .with_writer(writer)
            .try_init()
            .unwrap();
        LogOnFailure { file }
    }
}

impl Drop for LogOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.file.path()).unwrap_or_default();
            println!("---- the log of the failed test ----\n{log}");
        }
    }
}

/// The errors `PUT .../config/validate` reports per key.
pub async fn validation_errors(
    url: &str,
    plugin: &str,
    config: &serde_json::Map<String, Value>,
) -> BTreeMap<String, Vec<String>> {
    let v: Value = http()
        .put(format!("{url}/connector-plugins/{plugin}/config/validate"))
        .json(config)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let errors: Vec<String> = serde_json::from_value(c["value"]["errors"].clone()).ok()?;
            (!errors.is_empty()).then(|| (c["value"]["name"].as_str().unwrap().to_string(), errors))
        })
        .collect()
}
