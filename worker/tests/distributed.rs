//! Distributed mode against the real Kafka of the test environment: Skiff reads the internal
//! topics the Apache Connect peer wrote, Apache Connect takes over the topics Skiff wrote, and
//! in-process Skiff workers form a cluster, share work, forward writes to the leader and take
//! over a departed worker's tasks.

mod common;

use common::{create_when_led, eventually, get_json, http, set_target};
use serde_json::{Value, json};
use skiff_worker::config::properties::Properties;
use skiff_worker::config::worker::WorkerConfig;
use skiff_worker::distributed::kafka_log::{
    KafkaLog, MakeReader, TopicSpec, assigned_reader, topic_partitions,
};
use skiff_worker::distributed::{ConfigStore, StatusKey, StatusLog};
use skiff_worker::rest::LogControl;
use skiff_worker::standalone::Running;

fn spec(name: &str, partitions: i32) -> TopicSpec {
    TopicSpec {
        name: name.to_string(),
        partitions,
        replication_factor: -1,
    }
}

fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn skiff_reads_the_topics_apache_connect_wrote() {
    let peer = skiff_testenv::connect_peer();
    let name = skiff_testenv::unique_name("apache-fs");
    let file = tempfile::NamedTempFile::new().unwrap();
    let resp = http()
        .post(format!("{}/connectors", peer.url))
        .json(&json!({"name": name, "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "topics": "apache-fs-input",
            "file": file.path().display().to_string(),
            "tasks.max": "1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    // Apache generates task configs only for a started connector: a pause that wins the race
    // with the first start leaves it without tasks.
    eventually(
        60,
        "Apache Connect to create the connector's task",
        || async {
            let tasks = get_json(format!("{}/connectors/{name}/tasks", peer.url)).await?;
            (tasks.as_array()?.len() == 1).then_some(())
        },
    )
    .await;
    set_target(&peer.url, &name, "pause").await;
    let worker = WorkerConfig::from_properties(props(&[(
        "bootstrap.servers",
        &skiff_testenv::kafka().bootstrap,
    )]))
    .unwrap();
    let (store, _restarts) = ConfigStore::open(&worker, spec(&peer.config_topic, 1))
        .await
        .unwrap();
    let snapshot = eventually(
        60,
        "the connector and its paused task in the config topic",
        || {
            let store = &store;
            let name = name.clone();
            async move {
                let s = store.sync().await.ok()?;
                (s.task_configs(&name).len() == 1
                    && s.target(&name) == skiff_api::rest::TargetState::Paused)
                    .then_some(s)
            }
        },
    )
    .await;
    assert_eq!(
        snapshot.connectors[&name]["connector.class"],
        "org.apache.kafka.connect.file.FileStreamSinkConnector"
    );
    assert_eq!(snapshot.task_configs(&name)[0]["topics"], "apache-fs-input");
    let status = StatusLog::open(&worker, spec(&peer.status_topic, 5))
        .await
        .unwrap();
    let peer_id = peer.url.trim_start_matches("http://").to_string();
    let st = eventually(60, "the connector's PAUSED status", || {
        let v = status.get(&StatusKey::Connector(name.clone()));
        async move { v.filter(|v| v.state == "PAUSED") }
    })
    .await;
    assert_eq!(st.worker_id, peer_id);
    http()
        .delete(format!("{}/connectors/{name}", peer.url))
        .send()
        .await
        .unwrap();
    eventually(60, "the deletion in the config topic", || {
        let store = &store;
        let name = name.clone();
        async move {
            let s = store.sync().await.ok()?;
            (!s.connectors.contains_key(&name)).then_some(())
        }
    })
    .await;
}

/// librdkafka's consumer of assigned partitions sometimes stops fetching after a broker
/// restart (librdkafka issue 5153); here the first reader of an internal topic is paused, which
/// looks the same from outside. The log must notice and read on with a new consumer.
#[tokio::test(flavor = "multi_thread")]
async fn an_internal_topic_reader_that_stops_fetching_is_replaced() {
    use rdkafka::consumer::Consumer;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let worker = WorkerConfig::from_properties(props(&[(
        "bootstrap.servers",
        &skiff_testenv::kafka().bootstrap,
    )]))
    .unwrap();
    let topic = skiff_testenv::unique_name("stalled-log");
    let usual = assigned_reader(&worker, &topic).unwrap();
    let built = Arc::new(AtomicUsize::new(0));
    let counter = built.clone();
    let make: MakeReader = Arc::new(move |next| {
        let consumer = usual(next)?;
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            consumer.pause(&consumer.assignment().unwrap()).unwrap();
        }
        Ok(consumer)
    });
    let applied = Arc::new(Mutex::new(Vec::new()));
    let sink = applied.clone();
    let apply = Box::new(move |_: Option<&[u8]>, v: Option<&[u8]>, offset: i64| {
        sink.lock().unwrap().push((offset, v.map(|v| v.to_vec())));
    });
    let log = KafkaLog::open_with(&worker, spec(&topic, 1), apply, make)
        .await
        .unwrap();
    for v in [&b"one"[..], b"two"] {
        log.send(b"k", Some(v)).await.unwrap();
    }
    log.read_to_end()
        .await
        .expect("the stalled reader should have been replaced within 30 s");
    assert_eq!(
        *applied.lock().unwrap(),
        vec![(0, Some(b"one".to_vec())), (1, Some(b"two".to_vec()))],
        "every record once, in order"
    );
    assert_eq!(built.load(Ordering::SeqCst), 2, "one replacement");
}

/// Right after a worker creates an internal topic, the metadata may list no partitions for it
/// yet (a worker exited on that in CI): the lookup asks again until they show up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_shows_no_partitions_yet_is_asked_about_again() {
    use rdkafka::consumer::BaseConsumer;
    let worker = WorkerConfig::from_properties(props(&[(
        "bootstrap.servers",
        &skiff_testenv::kafka().bootstrap,
    )]))
    .unwrap();
    let lookup: std::sync::Arc<BaseConsumer> = std::sync::Arc::new(
        worker
            .client(skiff_worker::config::client::ClientRole::Consumer)
            .unwrap()
            .to_rdkafka()
            .create()
            .unwrap(),
    );
    let topic = skiff_testenv::unique_name("late-topic");
    let asking = {
        let (lookup, topic) = (lookup.clone(), topic.clone());
        tokio::spawn(async move { topic_partitions(&lookup, &topic).await })
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        !asking.is_finished(),
        "it waits while the topic has no partitions"
    );
    skiff_testenv::create_topic(&topic, 3).await.unwrap();
    let found = tokio::time::timeout(std::time::Duration::from_secs(30), asking)
        .await
        .expect("found once the topic exists")
        .unwrap()
        .unwrap();
    assert_eq!(found, vec![0, 1, 2]);
}

/// The properties of a distributed worker of `group` (fast sessions, small internal topics,
/// string converters as the Apache peer here has, so lines pass unchanged), plus `extra`.
fn group_props(group: &str, extra: &[(&str, &str)]) -> Properties {
    let mut p = props(&[
        (
            "key.converter",
            "org.apache.kafka.connect.storage.StringConverter",
        ),
        (
            "value.converter",
            "org.apache.kafka.connect.storage.StringConverter",
        ),
        ("listeners", "http://127.0.0.1:0"),
        ("group.id", group),
        ("config.storage.topic", &format!("{group}-configs")),
        ("offset.storage.topic", &format!("{group}-offsets")),
        ("status.storage.topic", &format!("{group}-status")),
        ("config.storage.replication.factor", "-1"),
        ("offset.storage.replication.factor", "-1"),
        ("status.storage.replication.factor", "-1"),
        ("offset.storage.partitions", "3"),
        ("status.storage.partitions", "2"),
        ("heartbeat.interval.ms", "500"),
        ("session.timeout.ms", "6000"),
        ("offset.flush.interval.ms", "500"),
    ]);
    p.extend(props(extra));
    p
}

async fn start_worker(group: &str) -> (Running, String) {
    let p = group_props(
        group,
        &[("bootstrap.servers", &skiff_testenv::kafka().bootstrap)],
    );
    let running = skiff_worker::distributed::start(p, LogControl::new(None, "info"))
        .await
        .unwrap();
    let url = format!("http://{}", running.addr);
    (running, url)
}

async fn status(url: &str, name: &str) -> Option<Value> {
    let r = http()
        .get(format!("{url}/connectors/{name}/status"))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

/// Worker ids of the connector's tasks in one state, once there are `n` of them.
async fn tasks_in(url: &str, name: &str, state: &str, n: usize) -> Option<Vec<String>> {
    let s = status(url, name).await?;
    let tasks = s["tasks"].as_array()?;
    let ids: Vec<String> = tasks
        .iter()
        .filter(|t| t["state"] == state)
        .filter_map(|t| t["worker_id"].as_str().map(str::to_string))
        .collect();
    (ids.len() == n).then_some(ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_shares_work_forwards_writes_and_fails_over() {
    let group = skiff_testenv::unique_name("skiff-dist");
    let topic = skiff_testenv::unique_name("dist-input");
    skiff_testenv::create_topic(&topic, 4).await.unwrap();
    let (w1, url1) = start_worker(&group).await;
    let (w2, url2) = start_worker(&group).await;
    let id1 = url1.trim_start_matches("http://").to_string();
    let id2 = url2.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let name = "dist-fs";
    // Created through whichever worker; the non-leader forwards it.
    create_when_led(
        &url2,
        name,
        json!({"connector.class": "FileStreamSink", "topics": topic,
            "file": dir.path().join("out.txt").display().to_string(), "tasks.max": "4"}),
    )
    .await;
    let owners = eventually(60, "four RUNNING tasks on both workers", || {
        tasks_in(&url1, name, "RUNNING", 4)
    })
    .await;
    assert!(owners.contains(&id1) && owners.contains(&id2), "{owners:?}");
    // Both workers answer status from the status topic alike.
    eventually(30, "the same status on the other worker", || {
        tasks_in(&url2, name, "RUNNING", 4)
    })
    .await;

    // Any worker restarts any task: the ones running elsewhere are forwarded to their owner.
    for task in 0..4 {
        let r = http()
            .post(format!("{url1}/connectors/{name}/tasks/{task}/restart"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "task {task}: {}", r.text().await.unwrap());
    }
    eventually(30, "four RUNNING tasks after the restarts", || {
        tasks_in(&url1, name, "RUNNING", 4)
    })
    .await;

    // Pause and resume through each worker (one of them is not the leader).
    for url in [&url1, &url2] {
        set_target(url, name, "pause").await;
        eventually(30, "four PAUSED tasks", || tasks_in(url, name, "PAUSED", 4)).await;
        set_target(url, name, "resume").await;
        eventually(30, "four RUNNING tasks again", || {
            tasks_in(url, name, "RUNNING", 4)
        })
        .await;
    }

    // Worker 1 goes away: its tasks resume on worker 2.
    let started = std::time::Instant::now();
    w1.stop().await;
    eventually(60, "every task RUNNING on worker 2", || {
        let (url2, id2) = (url2.clone(), id2.clone());
        async move {
            let owners = tasks_in(&url2, name, "RUNNING", 4).await?;
            owners.iter().all(|o| *o == id2).then_some(())
        }
    })
    .await;
    println!("tasks moved within {:?}", started.elapsed());

    // Delete through the remaining worker.
    let r = http()
        .delete(format!("{url2}/connectors/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let list: Vec<String> = http()
        .get(format!("{url2}/connectors"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.is_empty(), "{list:?}");
    w2.stop().await;
}

/// An Apache Kafka Connect worker (distributed mode) started by a test; killed on drop.
struct ApacheWorker {
    url: String,
    _process: common::WorkerProcess,
    _dir: tempfile::TempDir,
}

/// Starts an Apache worker of `group` on the topics `start_worker` names, with the peer's
/// installation and string converters (lines of text pass unchanged).
async fn start_apache_worker(group: &str) -> ApacheWorker {
    let peer = skiff_testenv::connect_peer();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let properties = format!(
        "bootstrap.servers={bootstrap}\ngroup.id={group}\n\
         config.storage.topic={group}-configs\noffset.storage.topic={group}-offsets\n\
         status.storage.topic={group}-status\nconfig.storage.replication.factor=-1\n\
         offset.storage.replication.factor=-1\nstatus.storage.replication.factor=-1\n\
         key.converter=org.apache.kafka.connect.storage.StringConverter\n\
         value.converter=org.apache.kafka.connect.storage.StringConverter\n\
         offset.flush.interval.ms=500\nlisteners=http://127.0.0.1:{port}\n\
         rest.advertised.host.name=127.0.0.1\nrest.advertised.port={port}\n\
         plugin.path={plugins}\nplugin.discovery=service_load\n",
        bootstrap = skiff_testenv::kafka().bootstrap,
        plugins = peer.home.join("plugins").display(),
    );
    let file = dir.path().join("worker.properties");
    std::fs::write(&file, properties).unwrap();
    let log = std::fs::File::create(dir.path().join("console.log")).unwrap();
    let process = std::process::Command::new("java")
        .args(["-Xmx256m", "-Xms64m", "-cp"])
        .arg(format!("{}/lib/*", peer.home.display()))
        .arg("org.apache.kafka.connect.cli.ConnectDistributed")
        .arg(&file)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("java runs");
    ApacheWorker {
        url: format!("http://127.0.0.1:{port}"),
        _process: common::WorkerProcess(process),
        _dir: dir,
    }
}

/// Lines of a text file (empty when it does not exist yet).
fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apache_connect_takes_over_the_topics_skiff_wrote() {
    let group = skiff_testenv::unique_name("handback");
    let topic = skiff_testenv::unique_name("handback-lines");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    let output = dir.path().join("output.txt");
    std::fs::write(&input, "one\ntwo\nthree\nfour\nfive\n").unwrap();

    // Skiff runs a file source and a file sink, then stops with the sink paused.
    let (skiff, url) = start_worker(&group).await;
    create_when_led(
        &url,
        "lines-in",
        json!({
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": input.display().to_string(), "topic": topic, "tasks.max": "1"}),
    )
    .await;
    create_when_led(
        &url,
        "lines-out",
        json!({
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": output.display().to_string(), "topics": topic, "tasks.max": "1"}),
    )
    .await;
    eventually(60, "Skiff to copy the five lines", || async {
        (lines(&output).len() == 5).then_some(())
    })
    .await;
    let skiff_offsets = eventually(30, "the source's offset at the end of the file", || async {
        let o = get_json(format!("{url}/connectors/lines-in/offsets")).await?;
        (o["offsets"][0]["offset"]["position"] == json!(24)).then_some(o)
    })
    .await;
    set_target(&url, "lines-out", "pause").await;
    eventually(30, "the sink PAUSED", || async {
        let s = status(&url, "lines-out").await?;
        (s["connector"]["state"] == "PAUSED").then_some(())
    })
    .await;
    skiff.stop().await;

    // Apache Connect, started on the same group and topics, finds both connectors as Skiff left
    // them: configs, the paused state, the source's position and the sink's committed offsets.
    let apache = start_apache_worker(&group).await;
    let a = apache.url.clone();
    eventually(
        180,
        "Apache to run the source and hold the sink paused",
        || async {
            let src = status(&a, "lines-in").await?;
            let sink = status(&a, "lines-out").await?;
            (src["tasks"][0]["state"] == "RUNNING" && sink["connector"]["state"] == "PAUSED")
                .then_some(())
        },
    )
    .await;
    let config = get_json(format!("{a}/connectors/lines-out/config"))
        .await
        .unwrap();
    assert_eq!(
        config["file"],
        json!(output.display().to_string()),
        "{config}"
    );
    assert_eq!(config["topics"], json!(topic), "{config}");
    let apache_offsets = get_json(format!("{a}/connectors/lines-in/offsets"))
        .await
        .unwrap();
    assert_eq!(apache_offsets, skiff_offsets);

    // Three more lines: Apache's source continues after Skiff's position, and its sink, resumed,
    // after the offsets Skiff's sink committed: each line arrives once.
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str("six\nseven\neight\n");
    std::fs::write(&input, text).unwrap();
    set_target(&a, "lines-out", "resume").await;
    eventually(120, "all eight lines in the output", || async {
        (lines(&output).len() >= 8).then_some(())
    })
    .await;
    // Let a duplicate, if any, arrive before comparing.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        lines(&output),
        [
            "one", "two", "three", "four", "five", "six", "seven", "eight"
        ]
    );
}

/// A distributed worker of `group` that reaches Kafka only through the SASL_SSL listener.
async fn start_secure_worker(
    group: &str,
    mechanism: &str,
    password: &str,
) -> anyhow::Result<Running> {
    let secure = &skiff_testenv::kafka().secure;
    let module = if mechanism == "PLAIN" {
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    } else {
        "org.apache.kafka.common.security.scram.ScramLoginModule"
    };
    let jaas = format!(
        "{module} required username=\"{}\" password=\"{password}\";",
        secure.username
    );
    let ca = secure.ca_file.display().to_string();
    let p = group_props(
        group,
        &[
            ("bootstrap.servers", &secure.bootstrap),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", mechanism),
            ("sasl.jaas.config", &jaas),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &ca),
        ],
    );
    skiff_worker::distributed::start(p, LogControl::new(None, "info")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_forms_over_sasl_ssl_with_scram_and_plain() {
    let group = skiff_testenv::unique_name("secure");
    let topic = skiff_testenv::unique_name("secure-lines");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    let password = &skiff_testenv::kafka().secure.password;
    let scram = start_secure_worker(&group, "SCRAM-SHA-512", password)
        .await
        .expect("a SCRAM-SHA-512 worker starts");
    let plain = start_secure_worker(&group, "PLAIN", password)
        .await
        .expect("a PLAIN worker starts");
    let url = format!("http://{}", scram.addr);
    let dir = tempfile::tempdir().unwrap();
    for name in ["secure-a", "secure-b"] {
        let config = json!({
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": dir.path().join(name).display().to_string(), "topics": topic, "tasks.max": "1"});
        create_when_led(&url, name, config).await;
    }
    // Both members share the work (connectors and tasks), so both joined over SASL_SSL.
    let owners = eventually(
        60,
        "both tasks RUNNING, the work on both workers",
        || async {
            let mut owners = std::collections::BTreeSet::new();
            for name in ["secure-a", "secure-b"] {
                let s = status(&url, name).await?;
                (s["tasks"][0]["state"] == "RUNNING").then_some(())?;
                owners.insert(s["connector"]["worker_id"].as_str()?.to_string());
                owners.insert(s["tasks"][0]["worker_id"].as_str()?.to_string());
            }
            (owners.len() == 2).then_some(owners)
        },
    )
    .await;
    assert!(owners.contains(&plain.addr.to_string()), "{owners:?}");
    assert!(owners.contains(&scram.addr.to_string()), "{owners:?}");
    // Their sink consumers read through the same listener.
    skiff_testenv::records::produce(&topic, &skiff_testenv::records::sample_records(1, 20))
        .await
        .unwrap();
    eventually(60, "both files to hold the 20 records", || async {
        let n = |f: &str| {
            std::fs::read(dir.path().join(f))
                .map(|b| b.iter().filter(|c| **c == b'\n').count())
                .unwrap_or(0)
        };
        (n("secure-a") == 20 && n("secure-b") == 20).then_some(())
    })
    .await;
    scram.stop().await;
    plain.stop().await;

    // A wrong password is an error at start, in bounded time, naming authentication.
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        start_secure_worker(&group, "SCRAM-SHA-512", "not-the-password"),
    )
    .await
    .expect("a bad password fails the start in bounded time")
    .err()
    .expect("a bad password is refused");
    let text = format!("{err:#}");
    assert!(text.to_lowercase().contains("auth"), "{text}");
    assert!(
        !text.contains("not-the-password"),
        "the error shows the password: {text}"
    );
    println!("wrong password refused in {:?}: {text}", started.elapsed());
}

/// Workers that serve https, ask for client certificates and for basic auth still forward writes
/// to their leader and task restarts to the task's owner: the user's credentials go along, over
/// TLS with the worker's own certificate.
#[tokio::test(flavor = "multi_thread")]
async fn writes_through_a_follower_reach_the_leader_over_https_with_the_users_credentials() {
    let pki = skiff_testenv::pki::TestPki::new();
    let users = pki.dir.path().join("users.properties");
    std::fs::write(&users, "admin: adm1n-pass\n").unwrap();
    let group = skiff_testenv::unique_name("skiff-tls");
    let topic = skiff_testenv::unique_name("tls-input");
    skiff_testenv::create_topic(&topic, 2).await.unwrap();
    let (keystore, ca) = (pki.path("server.p12"), pki.path("ca.pem"));
    let mut urls = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let p = group_props(
            &group,
            &[
                ("bootstrap.servers", &skiff_testenv::kafka().bootstrap),
                ("listeners", "https://127.0.0.1:0"),
                ("listeners.https.ssl.keystore.location", &keystore),
                (
                    "listeners.https.ssl.keystore.password",
                    skiff_testenv::pki::TestPki::P12_PASSWORD,
                ),
                ("listeners.https.ssl.truststore.location", &ca),
                (
                    "rest.basic.auth.credentials.file",
                    &users.display().to_string(),
                ),
            ],
        );
        let w = skiff_worker::distributed::start(p, LogControl::new(None, "info"))
            .await
            .unwrap();
        urls.push(format!("https://{}", w.addr));
        workers.push(w);
    }
    let client = pki.client(true);
    let dir = tempfile::tempdir().unwrap();
    // One connector created through each worker: one of the two requests is forwarded.
    for (i, url) in urls.iter().enumerate() {
        let name = format!("tls-fs-{i}");
        let body = json!({"name": name, "config": {"connector.class": "FileStreamSink",
            "topics": topic, "file": dir.path().join(format!("{i}.txt")).display().to_string()}});
        eventually(60, "the cluster to accept the connector", || async {
            let r = client
                .post(format!("{url}/connectors"))
                .basic_auth("admin", Some("adm1n-pass"))
                .json(&body)
                .send()
                .await
                .ok()?;
            assert_ne!(
                r.status(),
                401,
                "the forwarded request lost its credentials"
            );
            (r.status() == 201).then_some(())
        })
        .await;
        let r = client
            .post(format!("{url}/connectors"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "no credentials, no forwarding");
    }
    let task_running = |url: String, name: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("{url}/connectors/{name}/status"))
                .basic_auth("admin", Some("adm1n-pass"))
                .send()
                .await
                .ok()?;
            let status: Value = r.json().await.ok()?;
            (status["tasks"][0]["state"] == "RUNNING").then_some(())
        }
    };
    for url in &urls {
        eventually(60, "both connectors listed by every worker", || async {
            let r = client
                .get(format!("{url}/connectors"))
                .basic_auth("admin", Some("adm1n-pass"))
                .send()
                .await
                .ok()?;
            let list: Value = r.json().await.ok()?;
            (list.as_array()?.len() == 2).then_some(())
        })
        .await;
    }
    // Both tasks restarted through each worker: each runs on one of them, so one of its two
    // restarts is forwarded to its owner.
    for url in &urls {
        for name in ["tls-fs-0", "tls-fs-1"] {
            eventually(60, "the task to run", || {
                task_running(url.clone(), name.to_string())
            })
            .await;
            eventually(30, "the restart to be accepted", || async {
                let r = client
                    .post(format!("{url}/connectors/{name}/tasks/0/restart"))
                    .basic_auth("admin", Some("adm1n-pass"))
                    .send()
                    .await
                    .ok()?;
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                // 409 while the task's owner is not known yet (it is being restarted).
                assert!(status == 204 || status == 409, "{status}: {text}");
                (status == 204).then_some(())
            })
            .await;
        }
    }
    for (i, url) in urls.iter().enumerate() {
        let r = client
            .put(format!("{url}/connectors/tls-fs-{i}/pause"))
            .basic_auth("admin", Some("adm1n-pass"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
    for w in workers {
        w.stop().await;
    }
}

/// A backup with `topics.regex` (the seed's `.*`, narrowed here to this test's names) backs up a
/// topic created after it started, and never the worker's own internal topics (config, offsets,
/// status: they hold connector configs, secrets among them) nor Kafka's (`__consumer_offsets`).
#[tokio::test(flavor = "multi_thread")]
async fn a_regex_backup_takes_new_topics_and_never_internal_ones() {
    let group = skiff_testenv::unique_name("regex");
    let bucket = skiff_testenv::unique_name("regex");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let (running, url) = start_worker(&group).await;
    let mut sink = common::s3_config(&bucket);
    sink.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    sink.insert(
        "topics.regex".into(),
        format!("{group}.*|__consumer_offsets").into(),
    );
    sink.insert("flush.interval.ms".into(), "300".into());
    create_when_led(&url, "regex-backup", Value::Object(sink)).await;
    eventually(60, "the backup task to run", || async {
        tasks_in(&url, "regex-backup", "RUNNING", 1).await
    })
    .await;

    // Created after the backup started: picked up within the 10 s topic refresh.
    let later = format!("{group}-orders");
    skiff_testenv::create_topic(&later, 1).await.unwrap();
    let records = common::sample_records(1, 20);
    common::produce(&later, &records).await;
    eventually(90, "the new topic in the bucket", || async {
        (common::committed_records(&url, "regex-backup", &later).await? >= 20).then_some(())
    })
    .await;
    common::assert_bucket_holds_exactly(&bucket, "", &later, &records).await;
    let s3 = skiff_testenv::s3_client();
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let folders: std::collections::BTreeSet<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key()?.split('/').next().map(str::to_string))
        .collect();
    let expected: std::collections::BTreeSet<String> = [later.clone(), "_skiff".to_string()].into();
    assert_eq!(
        folders, expected,
        "only the new topic and the backup's metadata"
    );
    running.stop().await;
}
