//! A full backup with S3 keys and a Kafka login (`consumer.override.sasl.jaas.config`) in the
//! connector configuration: no log line (at debug level), REST response, status or metric
//! contains a key or a password, and a configuration read back with `[hidden]` values can be
//! written again unchanged.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_never_leave_the_worker() {
    let s3 = skiff_testenv::s3();
    let topic = skiff_testenv::unique_name("secret");
    let bucket = skiff_testenv::unique_name("secret");
    skiff_testenv::create_topic(&topic, 2).await.unwrap();
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    produce(&topic, &sample_records(2, 200)).await;

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    std::fs::write(
        dir.path().join("worker.properties"),
        format!(
            "bootstrap.servers={}\nlisteners=http://127.0.0.1:{port}\noffset.storage.file.filename={}\n",
            skiff_testenv::kafka().bootstrap,
            dir.path().join("offsets.json").display()
        ),
    )
    .unwrap();
    let log_path = dir.path().join("worker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_skiff-worker"))
        .arg("standalone")
        .arg(dir.path().join("worker.properties"))
        .env("SKIFF_LOG_LEVEL", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let http = http();
    eventually(30, "the worker to start", || async {
        http.get(format!("{url}/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await;

    let mut responses = Vec::new();
    let mut config = s3_config(&bucket);
    config.insert("connector.class".into(), "AwsStorageSinkConnector".into());
    config.insert("topics".into(), topic.clone().into());
    config.insert("flush.interval.ms".into(), "500".into());
    let resp = http
        .post(format!("{url}/connectors"))
        .json(&json!({"name": "secret-backup", "config": config}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    responses.push(resp.text().await.unwrap());
    eventually(60, "the backup to commit", || async {
        (committed_records(&url, "secret-backup", &topic).await? >= 400).then_some(())
    })
    .await;

    // A backup that logs in to Kafka as its own user, with the password written in its
    // configuration, and one whose password is wrong.
    let secure = &skiff_testenv::kafka().secure;
    let login = |password: &str| {
        let mut c = config.clone();
        for (k, v) in [
            ("bootstrap.servers", secure.bootstrap.clone()),
            ("security.protocol", "SASL_SSL".into()),
            ("sasl.mechanism", "PLAIN".into()),
            (
                "sasl.jaas.config",
                format!(
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{}\" password=\"{password}\";",
                    secure.username
                ),
            ),
            ("ssl.truststore.type", "PEM".into()),
            (
                "ssl.truststore.location",
                secure.ca_file.display().to_string(),
            ),
        ] {
            c.insert(format!("consumer.override.{k}"), v.into());
        }
        c.insert("prefix".into(), "login".into());
        c
    };
    let wrong_login = "WRONG-kafka-password-0123456789";
    for (name, c) in [
        ("secret-login", login(&secure.password)),
        ("secret-bad-login", login(wrong_login)),
    ] {
        let resp = http
            .post(format!("{url}/connectors"))
            .json(&json!({"name": name, "config": c}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        responses.push(resp.text().await.unwrap());
    }
    eventually(60, "the backup with its own login to commit", || async {
        (committed_records(&url, "secret-login", &topic).await? >= 400).then_some(())
    })
    .await;

    // A wrong secret fails the task; the failure trace must not echo it either.
    let wrong = "WRONG-secret-value-0123456789";
    let mut bad = config.clone();
    bad.insert("aws.secretKey".into(), wrong.into());
    let resp = http
        .post(format!("{url}/connectors"))
        .json(&json!({"name": "secret-bad", "config": bad}))
        .send()
        .await
        .unwrap();
    responses.push(resp.text().await.unwrap());
    eventually(60, "the connector with the wrong key to fail", || async {
        let v: Value = http
            .get(format!("{url}/connectors/secret-bad/status"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["tasks"][0]["state"] == "FAILED").then_some(())
    })
    .await;
    let resp = http
        .put(format!(
            "{url}/connector-plugins/AwsStorageSinkConnector/config/validate"
        ))
        .json(&bad)
        .send()
        .await
        .unwrap();
    responses.push(resp.text().await.unwrap());

    for path in [
        "/connectors?expand=info&expand=status",
        "/connectors/secret-backup",
        "/connectors/secret-backup/config",
        "/connectors/secret-backup/tasks",
        "/connectors/secret-backup/status",
        "/connectors/secret-backup/progress",
        "/connectors/secret-bad/status",
        "/connectors/secret-login/config",
        "/connectors/secret-login/offsets",
        "/connectors/secret-bad-login/status",
        "/metrics",
    ] {
        responses.push(
            http.get(format!("{url}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }

    // Read back (hidden), write back: accepted, and the connector keeps its real keys.
    let shown: Value = http
        .get(format!("{url}/connectors/secret-backup/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["aws.secretKey"], "[hidden]", "{shown}");
    let mut edited = shown.clone();
    edited["flush.interval.ms"] = json!("700");
    let resp = http
        .put(format!("{url}/connectors/secret-backup/config"))
        .json(&edited)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    responses.push(resp.text().await.unwrap());
    produce(&topic, &sample_records(2, 10)).await;
    eventually(
        60,
        "the updated backup to commit with the kept keys",
        || async { (committed_records(&url, "secret-backup", &topic).await? >= 420).then_some(()) },
    )
    .await;

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(worker.id().to_string())
        .status();
    assert!(worker.wait().unwrap().success());
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.lines().count() > 20,
        "expected debug logs, got:\n{logs}"
    );
    for secret in [
        s3.secret_key.as_str(),
        s3.access_key.as_str(),
        wrong,
        secure.password.as_str(),
        wrong_login,
    ] {
        for (i, r) in responses.iter().enumerate() {
            assert!(
                !r.contains(secret),
                "response {i} contains a credential: {r}"
            );
        }
        let leaks: Vec<String> = logs
            .lines()
            .filter(|l| l.contains(secret))
            .map(|l| l.replace(secret, "<CREDENTIAL>"))
            .collect();
        assert!(
            leaks.is_empty(),
            "the log contains a credential:\n{}",
            leaks.join("\n")
        );
    }
}
