//! Schemathesis against a real worker: property-based requests generated from the worker's own
//! `GET /openapi.json` (examples, boundary values, random and schema-violating data, and
//! sequences that follow the document's links), with every schemathesis check: no 5xx, status
//! codes, content types, headers and bodies as documented, invalid requests refused and valid ones
//! accepted, except where Connect's own behaviour differs and `schemathesis/schemathesis.toml`
//! says why. Two runs: the whole API with generated names, then every `{name}` aimed at a real
//! running connector so pause, stop, offsets and restarts reach the connector. The seed is
//! printed; SKIFF_FUZZ_SEED replays a run.

mod common;

use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest one `st run` may take (about 15 s here) before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// Test cases per operation and phase.
const EXAMPLES: &str = "20";
/// The connector the second run aims every `{name}` at.
const CONNECTOR: &str = "st-existing";

/// The committed settings: the checks each operation runs.
fn settings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/schemathesis.toml")
}

/// Runs `st run` against `url` with `config` and `workers` concurrent requesters; panics with its
/// report unless every check passed.
async fn st_run(url: &str, config: &Path, seed: u64, workers: u32, extra: &[&str], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(skiff_testenv::schemathesis());
    cmd.current_dir(dir.path())
        .arg("--no-color")
        .arg("--config-file")
        .arg(config)
        .args(["run", &format!("{url}/openapi.json")])
        .args([
            "--workers",
            &workers.to_string(),
            "--max-examples",
            EXAMPLES,
        ])
        .args(["--seed", &seed.to_string()])
        .args(["--request-timeout", "10", "--generation-database", "none"])
        .args(extra)
        .kill_on_drop(true);
    let out = tokio::time::timeout(RUN_LIMIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: st run took longer than {RUN_LIMIT:?}"))
        .expect("start st");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what}: schemathesis found failures (seed {seed}; SKIFF_FUZZ_SEED={seed} replays):\n{report}"
    );
    let summary = report
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_default()
        .trim();
    eprintln!("{what}: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_conforms_to_the_openapi_document() {
    let seed = std::env::var("SKIFF_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u32>) as u64;
    eprintln!("schemathesis seed {seed} (SKIFF_FUZZ_SEED={seed} replays)");
    let worker = start_worker().await;
    let out = tempfile::tempdir().unwrap();
    let topic = skiff_testenv::unique_name("st");
    skiff_testenv::create_topic(&topic, 2).await.unwrap();
    let config = json!({
        "connector.class": "FileStreamSink",
        "topics": topic,
        "file": out.path().join("sink.txt").display().to_string(),
    });
    create_connector(&worker.url, CONNECTOR, config.as_object().unwrap().clone()).await;

    st_run(&worker.url, &settings(), seed, 2, &[], "generated names").await;

    // The same settings, with every `{name}` the real connector, every `{task}` its task 0 and
    // every `{plugin}` its class.
    // DELETE of the connector is left out so the run keeps something to aim at.
    let pinned = out.path().join("pinned.toml");
    let mut text = std::fs::read_to_string(settings()).unwrap();
    text.push_str(&format!(
        "\n[parameters]\n\"path.name\" = \"{CONNECTOR}\"\n\"path.task\" = 0\n\"path.plugin\" = \"FileStreamSink\"\n"
    ));
    std::fs::write(&pinned, text).unwrap();
    st_run(
        &worker.url,
        &pinned,
        seed,
        // One requester: concurrent pauses, stops and offset changes of one connector would make
        // the answers depend on timing, which the seed does not replay.
        1,
        &["--exclude-operation-id", "deleteConnector"],
        "a real connector",
    )
    .await;

    // The worker still serves, and the connector is still there.
    let info = get_json(format!("{}/", worker.url)).await;
    assert!(info.is_some_and(|i| i["version"].is_string()));
    let status = get_json(format!("{}/connectors/{CONNECTOR}/status", worker.url))
        .await
        .expect("the connector survives the run");
    assert_eq!(status["name"], CONNECTOR);
}
