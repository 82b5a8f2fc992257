//! The README's `curl` commands, run with the real `curl` binary against the `skiff-worker` binary:
//! list, create the Instaclustr S3 sink, get, status, delete (204), list again. Status codes,
//! `Location` and every response body are checked byte for byte.
//!
//! The README's connector is named `backup` and reads every topic (`topics.regex=.*`), so its
//! consumer group `connect-backup` would keep committed offsets for every topic of the shared
//! test Kafka; the group is deleted before and after, so other tests named `backup` start clean.

mod common;

use common::{WorkerProcess, free_port};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Deletes a consumer group, waiting (bounded) for its members to leave.
async fn delete_group(group: &str) {
    let admin: AdminClient<DefaultClientContext> =
        skiff_testenv::kafka().client_config().create().unwrap();
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = admin.delete_groups(&[group], &options).await.unwrap();
        match result.first() {
            // Members still leaving, or a coordinator still loading right after the broker
            // started: both pass.
            Some(Err((
                _,
                RDKafkaErrorCode::NonEmptyGroup
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotCoordinator,
            ))) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Some(Err((_, code))) if *code != RDKafkaErrorCode::GroupIdNotFound => {
                panic!("cannot delete consumer group {group}: {code}")
            }
            _ => return,
        }
    }
}

fn spawn_worker(dir: &Path, port: u16) -> WorkerProcess {
    let props = format!(
        "bootstrap.servers={}\nlisteners=http://127.0.0.1:{port}\noffset.storage.file.filename={}\n",
        skiff_testenv::kafka().bootstrap,
        dir.join("offsets.json").display()
    );
    std::fs::write(dir.join("worker.properties"), props).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_skiff-worker"))
        .arg("standalone")
        .arg(dir.join("worker.properties"))
        .env("SKIFF_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    WorkerProcess(child)
}

/// What one `curl` run gave: the status code (from the dumped headers), headers and body.
struct Curl {
    status: u16,
    headers: String,
    body: String,
}

/// Runs `curl` with `args` exactly as the README has them, plus `-D` to read the status line.
fn curl(dir: &Path, args: &[&str]) -> Curl {
    let dump = dir.join("headers.txt");
    let out = Command::new("curl")
        .args(args)
        .arg("-m")
        .arg("60")
        .arg("-D")
        .arg(&dump)
        .output()
        .expect("the curl binary must be installed");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers = std::fs::read_to_string(&dump).unwrap();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Curl {
        status,
        headers,
        body: String::from_utf8(out.stdout).unwrap(),
    }
}

fn header<'a>(c: &'a Curl, name: &str) -> Option<&'a str> {
    c.headers.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_commands_work_byte_for_byte() {
    delete_group("connect-backup").await;
    let bucket = skiff_testenv::unique_name("seed");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    let s3 = skiff_testenv::s3();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let worker = spawn_worker(dir.path(), port);
    let base = format!("localhost:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Command::new("curl")
        .args(["-sf", "-m", "2", "-o", "/dev/null", &format!("{base}/")])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "skiff-worker did not answer on {base} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // curl -s localhost:8083/connectors
    let list = curl(dir.path(), &["-s", &format!("{base}/connectors")]);
    assert_eq!((list.status, list.body.as_str()), (200, "[]"));

    // curl -s -X POST -H 'Content-Type: application/json' localhost:8083/connectors -d '{...}'
    let config: BTreeMap<&str, &str> = [
        (
            "connector.class",
            "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector",
        ),
        ("aws.s3.bucket", bucket.as_str()),
        ("topics.regex", ".*"),
        ("tasks.max", "1"),
        ("s3.endpoint", s3.endpoint.as_str()),
        ("aws.region", s3.region.as_str()),
        ("aws.accessKeyId", s3.access_key.as_str()),
        ("aws.secretKey", s3.secret_key.as_str()),
    ]
    .into_iter()
    .collect();
    let request = format!(
        r#"{{"name":"backup","config":{}}}"#,
        serde_json::to_string(&config).unwrap()
    );
    let created = curl(
        dir.path(),
        &[
            "-s",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            &format!("{base}/connectors"),
            "-d",
            &request,
        ],
    );
    // What the API shows: the request plus `name`, with the S3 keys hidden.
    let mut stored = config.clone();
    stored.insert("name", "backup");
    stored.insert("aws.accessKeyId", "[hidden]");
    stored.insert("aws.secretKey", "[hidden]");
    let info = format!(
        r#"{{"name":"backup","config":{},"tasks":[{{"connector":"backup","task":0}}],"type":"sink"}}"#,
        serde_json::to_string(&stored).unwrap()
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body, info);
    assert_eq!(
        header(&created, "location"),
        Some(format!("http://{base}/connectors/backup").as_str())
    );
    assert_eq!(header(&created, "content-type"), Some("application/json"));

    // curl -s localhost:8083/connectors/backup
    let got = curl(dir.path(), &["-s", &format!("{base}/connectors/backup")]);
    assert_eq!((got.status, got.body.as_str()), (200, info.as_str()));

    // curl -s localhost:8083/connectors/backup/status, once the task runs.
    let worker_id = format!("127.0.0.1:{port}");
    let version = env!("CARGO_PKG_VERSION");
    let running = format!(
        r#"{{"name":"backup","connector":{{"state":"RUNNING","worker_id":"{worker_id}","version":"{version}"}},"tasks":[{{"id":0,"state":"RUNNING","worker_id":"{worker_id}","version":"{version}"}}],"type":"sink"}}"#
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = curl(
            dir.path(),
            &["-s", &format!("{base}/connectors/backup/status")],
        );
        if status.body == running || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        (status.status, status.body.as_str()),
        (200, running.as_str())
    );

    // curl -s -X DELETE localhost:8083/connectors/backup     # 204
    let deleted = curl(
        dir.path(),
        &["-s", "-X", "DELETE", &format!("{base}/connectors/backup")],
    );
    assert_eq!((deleted.status, deleted.body.as_str()), (204, ""));

    let list = curl(dir.path(), &["-s", &format!("{base}/connectors")]);
    assert_eq!((list.status, list.body.as_str()), (200, "[]"));
    let openapi = curl(dir.path(), &["-s", &format!("{base}/openapi.json")]);
    let doc: serde_json::Value = serde_json::from_str(&openapi.body).unwrap();
    assert_eq!(
        (openapi.status, &doc["openapi"]),
        (200, &serde_json::json!("3.0.3"))
    );
    let gone = curl(dir.path(), &["-s", &format!("{base}/connectors/backup")]);
    assert_eq!(
        (gone.status, gone.body.as_str()),
        (
            404,
            r#"{"error_code":404,"message":"Connector backup not found"}"#
        )
    );
    drop(worker);
    delete_group("connect-backup").await;
}
