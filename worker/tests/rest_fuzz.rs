//! Fuzzes the REST API: every path and method of the worker's OpenAPI document, with random
//! names, query strings and bodies (random JSON, JSON shaped like connector requests, invalid
//! UTF-8, nothing), against a worker running on the real Kafka with one real connector. Every
//! answer must be a success or a Connect-shaped client error (`error_code` equal to the status, a
//! message); no 5xx, no panic, and the worker answers `GET /` after each round. The seed is
//! printed; SKIFF_FUZZ_SEED replays a run and SKIFF_FUZZ_REQUESTS sets its length (default
//! 1,500).

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// Random JSON, nested at most `depth` levels.
fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e6),
        4 => Value::String(random_text(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..4))
                .map(|_| (random_text(rng), random_json(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// Short text mixing the keys and values the API knows with arbitrary characters.
fn random_text(rng: &mut StdRng) -> String {
    const KNOWN: &[&str] = &[
        "name",
        "config",
        "connector.class",
        "tasks.max",
        "topics",
        "topics.regex",
        "aws.s3.bucket",
        "offsets",
        "partition",
        "offset",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "level",
        "DEBUG",
        "AwsStorageSinkConnector",
        "AwsStorageSourceConnector",
        "-1",
        "",
        "${file:/etc/passwd:x}",
        "../../etc",
        "fuzzed",
    ];
    match rng.random_range(0..3) {
        0 => KNOWN[rng.random_range(0..KNOWN.len())].to_string(),
        1 => (0..rng.random_range(0..12))
            .map(|_| rng.random_range(' '..='~'))
            .collect(),
        _ => (0..rng.random_range(0..6))
            .map(|_| char::from_u32(rng.random_range(0..0x2_0000)).unwrap_or('\u{fffd}'))
            .collect(),
    }
}

/// A path segment: the real connector, a known plugin, or something odd (percent-encoded).
fn random_segment(rng: &mut StdRng, real: &str) -> String {
    match rng.random_range(0..5) {
        0 => real.to_string(),
        1 => "AwsStorageSinkConnector".to_string(),
        2 => rng.random_range(-2i64..5).to_string(),
        3 => "x".repeat(rng.random_range(0..300)),
        _ => percent_encode(&random_text(rng)),
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An offsets-shaped body (`PATCH /connectors/{c}/offsets`), with random values where Connect
/// expects a partition and an offset.
fn random_offsets(rng: &mut StdRng) -> Value {
    let entries: Vec<Value> = (0..rng.random_range(0..3))
        .map(|_| {
            let partition = if rng.random() {
                json!({"kafka_topic": random_text(rng), "kafka_partition": random_json(rng, 0)})
            } else {
                random_json(rng, 2)
            };
            let offset = if rng.random() {
                json!({"kafka_offset": random_json(rng, 0)})
            } else {
                random_json(rng, 2)
            };
            json!({"partition": partition, "offset": offset})
        })
        .collect();
    json!({"offsets": entries})
}

/// A body: random JSON, a connector- or offsets-shaped object, invalid UTF-8 or none.
fn random_body(rng: &mut StdRng) -> Option<Vec<u8>> {
    match rng.random_range(0..6) {
        5 => Some(random_offsets(rng).to_string().into_bytes()),
        0 => None,
        1 => Some((0..rng.random_range(0..40)).map(|_| rng.random()).collect()),
        2 => Some(random_json(rng, 3).to_string().into_bytes()),
        _ => {
            let mut config = Map::new();
            for _ in 0..rng.random_range(0..6) {
                config.insert(random_text(rng), random_json(rng, 1));
            }
            let body = if rng.random() {
                json!({"name": random_text(rng), "config": config})
            } else {
                Value::Object(config)
            };
            Some(body.to_string().into_bytes())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_get_client_errors_never_server_errors() {
    let seed: u64 = std::env::var("SKIFF_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let requests: usize = std::env::var("SKIFF_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    println!("SKIFF_FUZZ_SEED={seed} SKIFF_FUZZ_REQUESTS={requests}");
    let mut rng = StdRng::seed_from_u64(seed);

    let worker = start_worker().await;
    let bucket = skiff_testenv::unique_name("fuzz");
    let topic = skiff_testenv::unique_name("fuzz");
    skiff_testenv::create_bucket(&bucket).await.unwrap();
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    let sink = backup_config(&bucket, &topic);
    create_connector(&worker.url, "fuzz-target", sink.clone()).await;

    let doc: Value = serde_json::from_str(include_str!("../src/rest/openapi.json")).unwrap();
    let mut operations = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            operations.push((path.clone(), method.to_uppercase()));
        }
    }
    let client = http();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..requests {
        let (template, method) = &operations[rng.random_range(0..operations.len())];
        let mut path = template.clone();
        for param in ["{name}", "{task}", "{plugin}", "{logger}"] {
            if path.contains(param) {
                path = path.replace(param, &random_segment(&mut rng, "fuzz-target"));
            }
        }
        if rng.random_bool(0.3) {
            let key = [
                "expand",
                "includeTasks",
                "onlyFailed",
                "forward",
                "scope",
                "x",
            ][rng.random_range(0..6)];
            path = format!("{path}?{key}={}", percent_encode(&random_text(&mut rng)));
        }
        let body = random_body(&mut rng);
        let mut req = client.request(method.parse().unwrap(), format!("{}{path}", worker.url));
        if let Some(b) = &body {
            req = req
                .header("content-type", "application/json")
                .body(b.clone());
        }
        let resp = req.send().await.unwrap_or_else(|e| {
            panic!("request {i} ({method} {path}) got no answer: {e} (seed {seed})")
        });
        let status = resp.status().as_u16();
        *statuses.entry(status).or_default() += 1;
        let text = resp.text().await.unwrap();
        let shown = || {
            format!(
                "request {i}: {method} {path} body {:?} -> {status} {text} (SKIFF_FUZZ_SEED={seed})",
                body.as_ref()
                    .map(|b| String::from_utf8_lossy(b).to_string())
            )
        };
        assert!(status < 500, "server error: {}", shown());
        if status >= 400 {
            let err: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("error body is not JSON: {}", shown()));
            assert_eq!(err["error_code"], status, "error_code: {}", shown());
            assert!(
                err["message"].as_str().is_some_and(|m| !m.is_empty()),
                "no message: {}",
                shown()
            );
        }
        if i % 100 == 99 {
            let alive = client.get(format!("{}/", worker.url)).send().await;
            assert!(
                alive.is_ok_and(|r| r.status() == 200),
                "the worker stopped answering after request {i} (seed {seed})"
            );
            // A random DELETE may have removed the real connector: bring it back, so paths
            // naming it keep reaching a live connector.
            if get_json(format!("{}/connectors/fuzz-target", worker.url))
                .await
                .is_some_and(|c| c["error_code"] == 404)
            {
                create_connector(&worker.url, "fuzz-target", sink.clone()).await;
            }
        }
    }
    println!("answers by status: {statuses:?}");
}
