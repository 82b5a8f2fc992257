//! `make demo`: the main job on one machine. Starts Kafka and an S3 server on loopback (from the
//! test environment), fills a topic, runs the real `skiff-worker` binary in standalone mode with
//! a backup connector file, restores the backup into a new topic through the REST API, and
//! prints what it compared.

use serde_json::{Value, json};
use skiff_testenv::records::{consume_all, differences, produce, sample_records};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 10_000;
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

fn say(msg: impl AsRef<str>) {
    println!("[demo] {}", msg.as_ref());
}

fn worker_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .ok_or("cannot find the target folder")?;
    let bin = dir.join("skiff-worker");
    bin.exists().then_some(bin.clone()).ok_or(format!(
        "{} is missing: run `make demo`, which builds it",
        bin.display()
    ))
}

/// Polls `f` every 500 ms until it returns `Some`, printing what `f` reports meanwhile.
async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "timed out after {STEP_TIMEOUT:?} waiting for {what}"
    ))
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

async fn run(worker: &mut Option<Child>) -> Result<(), String> {
    let started = Instant::now();
    say("starting Kafka (KRaft) and the S3 server (versitygw) on 127.0.0.1 ...");
    let kafka = skiff_testenv::kafka();
    let s3 = skiff_testenv::s3();
    say(format!(
        "Kafka at {}, S3 at {}",
        kafka.bootstrap, s3.endpoint
    ));

    let topic = skiff_testenv::unique_name("demo-orders");
    let restored = format!("{topic}-restored");
    let bucket = skiff_testenv::unique_name("demo-backups");
    skiff_testenv::create_topic(&topic, PARTITIONS)
        .await
        .map_err(|e| e.to_string())?;
    skiff_testenv::create_topic(&restored, PARTITIONS)
        .await
        .map_err(|e| e.to_string())?;
    skiff_testenv::create_bucket(&bucket)
        .await
        .map_err(|e| e.to_string())?;
    let records = sample_records(PARTITIONS, PER_PARTITION);
    let total = records.values().map(Vec::len).sum::<usize>();
    produce(&topic, &records).await.map_err(|e| e.to_string())?;
    say(format!(
        "produced {total} records to '{topic}' ({PARTITIONS} partitions; keys, tombstones, binary headers)"
    ));

    // Kept after the run, so the worker's log can be read.
    let dir = tempfile::Builder::new()
        .prefix("skiff-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    std::fs::write(
        dir.as_path().join("worker.properties"),
        format!(
            "bootstrap.servers={}\nlisteners=http://127.0.0.1:{port}\noffset.storage.file.filename={}\noffset.flush.interval.ms=1000\n",
            kafka.bootstrap,
            dir.as_path().join("offsets.json").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.as_path().join("backup.properties"),
        format!(
            "name=backup\nconnector.class=com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkConnector\naws.s3.bucket={bucket}\nprefix=demo\ntopics={topic}\ntasks.max=2\nflush.interval.ms=2000\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = dir.as_path().join("worker.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    say(format!(
        "starting: skiff-worker standalone worker.properties backup.properties (log: {})",
        log.display()
    ));
    // Credentials and endpoint come from the SDK's environment, as on a real deployment.
    *worker = Some(
        Command::new(worker_binary()?)
            .arg("standalone")
            .arg(dir.as_path().join("worker.properties"))
            .arg(dir.as_path().join("backup.properties"))
            .env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
            .env("AWS_REGION", &s3.region)
            .env("AWS_ENDPOINT_URL", &s3.endpoint)
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    wait_for("the worker's /health", || async {
        http.get(format!("{url}/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await?;
    say(format!("worker up at {url}; backing up ..."));

    let last_report = std::cell::Cell::new(Instant::now());
    let (last_report, http, url) = (&last_report, &http, &url);
    wait_for("the backup to commit every record", || async move {
        let v = get_json(http, &format!("{url}/connectors/backup/offsets")).await?;
        let done: i64 = v["offsets"]
            .as_array()?
            .iter()
            .filter_map(|o| o["offset"]["kafka_offset"].as_i64())
            .sum();
        if last_report.get().elapsed() > Duration::from_secs(2) {
            say(format!("backup: {done}/{total} records committed"));
            last_report.set(Instant::now());
        }
        (done as usize >= total).then_some(())
    })
    .await?;
    let listing = skiff_testenv::s3_client()
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let bytes: i64 = listing.contents().iter().filter_map(|o| o.size()).sum();
    say(format!(
        "backup done: {total} records in {} objects ({bytes} bytes, zstd) under s3://{bucket}/demo/{topic}/",
        listing.contents().len()
    ));

    let restore = json!({"name": "restore", "config": {
        "connector.class": "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceConnector",
        "aws.s3.bucket": bucket, "prefix": "demo", "s3.topics": topic,
        "topics.mapping": format!("{topic}:{restored}"), "tasks.max": "2"}});
    say(format!("POST {url}/connectors {restore}"));
    let resp = http
        .post(format!("{url}/connectors"))
        .json(&restore)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 201 {
        return Err(format!(
            "creating the restore connector answered {}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        ));
    }
    last_report.set(Instant::now());
    wait_for("the restore to finish", || async move {
        let v = get_json(http, &format!("{url}/connectors/restore/progress")).await?;
        if last_report.get().elapsed() > Duration::from_secs(2) {
            let n: u64 = v["tasks"]
                .as_array()?
                .iter()
                .filter_map(|t| t["progress"]["recordsRestored"].as_u64())
                .sum();
            say(format!("restore: {n}/{total} records"));
            last_report.set(Instant::now());
        }
        (v["done"] == json!(true)).then_some(())
    })
    .await?;
    say(format!("restore done into '{restored}'"));

    let copy = consume_all(&restored, PARTITIONS).map_err(|e| e.to_string())?;
    let diffs = differences(&records, &copy, true);
    if !diffs.is_empty() {
        for d in diffs.iter().take(20) {
            say(format!("DIFFERENCE: {d}"));
        }
        return Err(format!(
            "{} differences between '{topic}' and '{restored}'",
            diffs.len()
        ));
    }
    say(format!(
        "compared {total} records in {PARTITIONS} partitions of '{topic}' and '{restored}': partition, order, offset, key, value, headers and timestamp all identical"
    ));
    say(format!(
        "finished in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut worker = None;
    let result = run(&mut worker).await;
    if let Some(mut child) = worker {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = child.wait();
        say(format!(
            "worker stopped: {}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string())
        ));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[demo] FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
