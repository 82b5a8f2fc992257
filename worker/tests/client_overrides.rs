//! A connector's own Kafka client settings (`consumer.override.*` and the like, KIP-458) against
//! the real broker: a backup that logs in with its own credentials and keeps its offsets in the
//! consumer group it names, and a worker whose policy refuses overrides it does not allow.

mod common;

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};
use std::time::Duration;

/// The SASL_SSL listener's settings, as a worker or connector gives them, with `password`.
fn sasl_ssl(prefix: &str, password: &str) -> Vec<(String, String)> {
    let secure = &skiff_testenv::kafka().secure;
    let jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{}\" password=\"{password}\";",
        secure.username
    );
    [
        ("bootstrap.servers", secure.bootstrap.clone()),
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", "PLAIN".to_string()),
        ("sasl.jaas.config", jaas),
        ("ssl.truststore.type", "PEM".to_string()),
        (
            "ssl.truststore.location",
            secure.ca_file.display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{prefix}{k}"), v))
    .collect()
}

/// The offsets committed in `group` on `topic`'s partitions, summed, read by the test itself.
fn committed_in_group(group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &skiff_testenv::kafka().bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw().filter(|o| *o >= 0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_logs_in_with_its_own_credentials_and_names_its_consumer_group() {
    let topic = skiff_testenv::unique_name("own-login");
    let bucket = skiff_testenv::unique_name("own-login");
    let group = skiff_testenv::unique_name("team-a-backup");
    skiff_testenv::create_topic(&topic, 2).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let records = sample_records(2, 150);
    produce(&topic, &records).await;

    // The worker's consumers would log in with a wrong password: only a backup that uses its
    // own `consumer.override.` credentials can read the topic. Its password is a file, as in a
    // mounted Secret's folder, read through the `dir` provider.
    let mut extra = sasl_ssl("consumer.", "not-the-password");
    extra.push(("config.providers".into(), "dir".into()));
    extra.push((
        "config.providers.dir.class".into(),
        "org.apache.kafka.common.config.provider.DirectoryConfigProvider".into(),
    ));
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let worker = start_worker_with(&skiff_testenv::kafka().bootstrap, &extra).await;
    let secret_dir = tempfile::tempdir().unwrap();
    let password = &skiff_testenv::kafka().secure.password;
    std::fs::write(secret_dir.path().join("password"), password).unwrap();
    let reference = format!("${{dir:{}:password}}", secret_dir.path().display());
    let mut config = backup_config(&bucket, &topic);
    config.insert("flush.interval.ms".into(), "1000".into());
    for (k, v) in sasl_ssl("consumer.override.", &reference) {
        config.insert(k, v.into());
    }
    config.insert("consumer.override.group.id".into(), group.clone().into());
    create_connector(&worker.url, "own-login", config).await;

    eventually(90, "the backup to commit every record", || async {
        let sum = committed_records(&worker.url, "own-login", &topic).await?;
        (sum >= 300).then_some(())
    })
    .await;
    assert_bucket_holds_exactly(&bucket, "", &topic, &records).await;
    assert_eq!(
        committed_in_group(&group, &topic, 2),
        300,
        "the offsets are in the group the connector named"
    );
    assert_eq!(
        committed_in_group(&format!("connect-{}", "own-login"), &topic, 2),
        0,
        "and not in Connect's default group"
    );

    // The REST API shows where the password lives, never the password.
    let shown = get_json(format!("{}/connectors/own-login/config", worker.url))
        .await
        .unwrap();
    let jaas = shown["consumer.override.sasl.jaas.config"]
        .as_str()
        .unwrap();
    assert!(jaas.contains(&reference), "{jaas}");
    assert!(!shown.to_string().contains(password.as_str()));

    // A value librdkafka cannot take is refused at once, naming the connector's key.
    let mut bad = backup_config(&bucket, &topic);
    bad.insert("consumer.override.security.protocol".into(), "TLS".into());
    let message = refused_create(&worker.url, "bad-protocol", &bad).await;
    assert!(
        message.contains("consumer.override.security.protocol") && message.contains("TLS"),
        "{message}"
    );
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_refuses_the_overrides_its_policy_does_not_allow() {
    let worker = start_worker_with(
        &skiff_testenv::kafka().bootstrap,
        &[
            ("connector.client.config.override.policy", "Allowlist"),
            (
                "connector.client.config.override.allowlist",
                "sasl.jaas.config",
            ),
        ],
    )
    .await;
    let bucket = skiff_testenv::unique_name("policy");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let mut config = backup_config(&bucket, "policy-topic");
    config.insert(
        "consumer.override.sasl.jaas.config".into(),
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"s3cret\";".into(),
    );
    config.insert("consumer.override.max.poll.records".into(), "10".into());

    let message = refused_create(&worker.url, "refused", &config).await;
    assert!(
        message
            .contains("The 'Allowlist' policy does not allow 'max.poll.records' to be overridden")
            && message.contains("consumer.override.max.poll.records"),
        "{message}"
    );

    let mut named = config.clone();
    named.insert("name".into(), "refused".into());
    let errors = validation_errors(&worker.url, "AwsStorageSinkConnector", &named).await;
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["consumer.override.max.poll.records"],
        "{errors:?}"
    );

    // What the allowlist names passes.
    config.remove("consumer.override.max.poll.records");
    create_connector(&worker.url, "allowed", config).await;
    worker.running.stop().await;
}

/// The message of the 400 that `POST /connectors` answers for `name` with `config`.
async fn refused_create(url: &str, name: &str, config: &serde_json::Map<String, Value>) -> String {
    let resp = http()
        .post(format!("{url}/connectors"))
        .json(&json!({"name": name, "config": config}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    body["message"].as_str().unwrap().to_string()
}

/// The trace of the connector's first task, once that task is FAILED (within 60 s).
async fn failed_task_trace(url: &str, connector: &str) -> String {
    eventually(60, "the task to fail", || async {
        let v = get_json(format!("{url}/connectors/{connector}/status")).await?;
        (v["tasks"][0]["state"] == "FAILED").then(|| v["tasks"][0]["trace"].to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_whose_own_login_is_refused_fails_with_the_brokers_reason() {
    let topic = skiff_testenv::unique_name("bad-login");
    let bucket = skiff_testenv::unique_name("bad-login");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let worker = start_worker_with(&skiff_testenv::kafka().bootstrap, &[]).await;
    let mut config = backup_config(&bucket, &topic);
    for (k, v) in sasl_ssl("consumer.override.", "not-the-password") {
        config.insert(k, v.into());
    }
    create_connector(&worker.url, "bad-login", config).await;
    let trace = failed_task_trace(&worker.url, "bad-login").await;
    assert!(trace.contains("uthentication"), "{trace}");
    assert!(!trace.contains("not-the-password"), "{trace}");
    worker.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_whose_own_login_is_refused_fails_with_the_brokers_reason() {
    let topic = skiff_testenv::unique_name("bad-producer");
    let target = format!("{topic}-restored");
    let bucket = skiff_testenv::unique_name("bad-producer");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    skiff_testenv::create_topic(&target, 1).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    produce(&topic, &sample_records(1, 50)).await;
    let worker = start_worker_with(&skiff_testenv::kafka().bootstrap, &[]).await;
    let mut backup = backup_config(&bucket, &topic);
    backup.insert("flush.interval.ms".into(), "500".into());
    create_connector(&worker.url, "backup", backup).await;
    eventually(60, "the backup to commit", || async {
        (committed_records(&worker.url, "backup", &topic).await? >= 50).then_some(())
    })
    .await;

    let mut restore = restore_config(&bucket, &topic, &target);
    for (k, v) in sasl_ssl("producer.override.", "not-the-password") {
        restore.insert(k, v.into());
    }
    create_connector(&worker.url, "restore", restore).await;
    let trace = failed_task_trace(&worker.url, "restore").await;
    assert!(
        trace.contains("uthentication") && trace.contains("producer.override.sasl.jaas.config"),
        "{trace}"
    );
    worker.running.stop().await;
}
