//! REST conformance: one scripted sequence of requests sent to a Skiff worker and to the Apache
//! Kafka Connect peer of the test environment. Status codes, `Location` headers and bodies must
//! agree after normalising only what must differ between two servers (see [`Side::normalise`]):
//! versions, commit, worker ids, connector names and file paths (unique per server), plugin
//! versions, and the plugins and connectors that only one server has. Deliberate differences are
//! explicit, commented exceptions at the step that meets them.
//!
//! Every difference is collected and printed with both replies before the test fails, so one run
//! shows them all.

mod common;

use common::{eventually, http, start_worker};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

const SINK: &str = "org.apache.kafka.connect.file.FileStreamSinkConnector";
const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
/// How long a state change may take on the distributed peer.
const SETTLE_SECS: u64 = 90;
/// Messages of a distributed worker's momentary refusals during a rebalance.
const TRANSIENT: &[&str] = &[
    "Cannot complete request momentarily",
    "Request cannot be completed because a rebalance is expected",
];

/// One server under comparison and the names it uses.
struct Side {
    label: &'static str,
    base: String,
    /// The connector created by `POST /connectors`.
    conn: String,
    /// The connector created by `PUT /connectors/{c2}/config`.
    other: String,
    /// The FileStreamSink output of each connector.
    file: String,
    file2: String,
}

/// A reply, normalised.
#[derive(Debug, Clone, PartialEq)]
struct Reply {
    status: u16,
    location: Option<String>,
    body: Value,
}

impl Side {
    /// A request template with this side's names: `{c}`, `{c2}`, `{file}`, `{file2}`.
    fn fill(&self, template: &str) -> String {
        template
            .replace("{c2}", &self.other)
            .replace("{c}", &self.conn)
            .replace("{file2}", &self.file2)
            .replace("{file}", &self.file)
    }

    fn unfill(&self, s: &str) -> String {
        s.replace(&self.file2, "{file2}")
            .replace(&self.file, "{file}")
            .replace(&self.other, "{c2}")
            .replace(&self.conn, "{c}")
    }

    /// What may differ between the two servers, made equal:
    /// - connector names and file paths (unique per server) become `{c}`, `{c2}`, `{file}`;
    /// - `worker_id` becomes `{worker}` (each server's own `host:port`);
    /// - a `trace` becomes `{trace}` (Java and Rust stack traces cannot match; its presence is
    ///   compared);
    /// - `version` and `commit` of `GET /` and plugin `version`s become `{version}`.
    fn normalise(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.unfill(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.normalise(v)).collect()),
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v) {
                            ("worker_id", Value::String(_)) => json!("{worker}"),
                            ("trace", Value::String(_)) => json!("{trace}"),
                            ("version" | "commit", Value::String(_)) => json!("{version}"),
                            (_, v) => self.normalise(v),
                        };
                        (self.unfill(&k), v)
                    })
                    .collect(),
            ),
            v => v,
        }
    }

    /// Sends a request. A distributed worker refuses requests for a moment around a rebalance
    /// (which every config change causes); those refusals are retried, bounded.
    async fn send(
        &self,
        http: &reqwest::Client,
        method: &Method,
        path: &str,
        body: Option<&str>,
    ) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(SETTLE_SECS);
        loop {
            let reply = self.send_once(http, method, path, body).await;
            let transient = reply.body["message"]
                .as_str()
                .is_some_and(|m| TRANSIENT.iter().any(|t| m.starts_with(t)));
            if !transient || Instant::now() > deadline {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn send_once(
        &self,
        http: &reqwest::Client,
        method: &Method,
        path: &str,
        body: Option<&str>,
    ) -> Reply {
        let url = format!("{}{}", self.base, self.fill(path));
        let mut req = http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(self.fill(b));
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {method} {url}: {e}", self.label));
        let status = resp.status().as_u16();
        // `Location` is absolute: the server's own address becomes `{base}`.
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| self.unfill(&percent_decode(&l.replace(&self.base, "{base}"))));
        let text = resp.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        let mut body = self.normalise(body);
        // The peer is shared with other tests: list only this test's connectors.
        if *method == Method::GET && (path.starts_with("/connectors?") || path == "/connectors") {
            match &mut body {
                Value::Array(a) => a.retain(|n| n == "{c}" || n == "{c2}"),
                Value::Object(m) => m.retain(|k, _| k == "{c}" || k == "{c2}"),
                _ => {}
            }
        }
        Reply {
            status,
            location,
            body,
        }
    }
}

/// Decodes `%XX` escapes (a `Location` carries the connector name percent-encoded).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The two sides and the differences found so far.
struct Suite {
    http: reqwest::Client,
    apache: Side,
    skiff: Side,
    diffs: Vec<String>,
}

impl Suite {
    /// Sends one request to both servers.
    async fn both(&self, method: Method, path: &str, body: Option<&str>) -> (Reply, Reply) {
        let a = self.apache.send(&self.http, &method, path, body).await;
        let s = self.skiff.send(&self.http, &method, path, body).await;
        (a, s)
    }

    /// Records a difference unless the two replies are equal.
    fn compare(&mut self, step: &str, a: &Reply, s: &Reply) {
        if a == s {
            println!("ok   {step}: {} {}", a.status, a.body);
        } else {
            let d = format!(
                "DIFF {step}\n  apache: {} {:?} {}\n  skiff:  {} {:?} {}",
                a.status, a.location, a.body, s.status, s.location, s.body
            );
            println!("{d}");
            self.diffs.push(d);
        }
    }

    /// Sends one request to both and compares the replies.
    async fn same(
        &mut self,
        step: &str,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (Reply, Reply) {
        self.same_except(step, method, path, body, |_| {}).await
    }

    /// As [`Suite::same`], with `except` applied to both replies first (a commented exception).
    async fn same_except(
        &mut self,
        step: &str,
        method: Method,
        path: &str,
        body: Option<&str>,
        except: impl Fn(&mut Reply),
    ) -> (Reply, Reply) {
        let (mut a, mut s) = self.both(method, path, body).await;
        except(&mut a);
        except(&mut s);
        self.compare(step, &a, &s);
        (a, s)
    }

    /// Polls `GET path` on each side until `ready` holds (bounded), then compares the replies.
    async fn settle(
        &mut self,
        step: &str,
        path: &str,
        ready: impl Fn(&Reply) -> bool,
    ) -> (Reply, Reply) {
        let mut replies = Vec::new();
        for side in [&self.apache, &self.skiff] {
            let deadline = Instant::now() + Duration::from_secs(SETTLE_SECS);
            let mut last = side.send(&self.http, &Method::GET, path, None).await;
            while !ready(&last) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
                last = side.send(&self.http, &Method::GET, path, None).await;
            }
            if !ready(&last) {
                let d = format!(
                    "DIFF {step}: {} did not settle within {SETTLE_SECS}s: {} {}",
                    side.label, last.status, last.body
                );
                println!("{d}");
                self.diffs.push(d);
            }
            replies.push(last);
        }
        let s = replies.pop().unwrap_or_else(|| unreachable!());
        let a = replies.pop().unwrap_or_else(|| unreachable!());
        self.compare(step, &a, &s);
        (a, s)
    }
}

fn state_is(r: &Reply, connector: &str, tasks: &[&str]) -> bool {
    r.status == 200
        && r.body["connector"]["state"] == connector
        && r.body["tasks"].as_array().is_some_and(|t| {
            t.len() == tasks.len() && t.iter().zip(tasks).all(|(t, want)| t["state"] == *want)
        })
}

/// The error body's message, with everything after `prefix` dropped (for messages that quote a
/// server-specific list). Apache sometimes puts the Java exception class before the message
/// (`org.apache.kafka.connect.errors.ConnectException: ...`, depending on the code path the
/// request took); that is dropped too.
fn cut_message(r: &mut Reply, prefix: &str) {
    if let Some(m) = r.body.get_mut("message") {
        let text = m.as_str().unwrap_or_default();
        let text = text
            .strip_prefix("org.apache.kafka.connect.errors.ConnectException: ")
            .unwrap_or(text);
        if text.starts_with(prefix) {
            *m = json!(format!("{prefix}..."));
        }
    }
}

fn only_filestream(r: &mut Reply) {
    if let Value::Array(a) = &mut r.body {
        a.retain(|p| {
            p["class"]
                .as_str()
                .is_some_and(|c| c.starts_with("org.apache.kafka.connect.file."))
        });
    }
}

async fn produce(topic: &str, values: &[&str]) {
    let producer: FutureProducer = skiff_testenv::kafka().client_config().create().unwrap();
    for v in values {
        producer
            .send(
                FutureRecord::<str, str>::to(topic).payload(v).key(v),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }
}

fn sink_config(topic: &str, file: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("connector.class".into(), json!(SINK));
    m.insert("tasks.max".into(), json!("1"));
    m.insert("topics".into(), json!(topic));
    m.insert("file".into(), json!(file));
    m.insert("key.converter".into(), json!(STRING_CONVERTER));
    m.insert("value.converter".into(), json!(STRING_CONVERTER));
    m
}

/// The per-connector endpoints and what Apache answers for a connector that does not exist.
const MISSING: &[(&str, &str)] = &[
    ("GET", "/connectors/{c}"),
    ("GET", "/connectors/{c}/config"),
    ("PATCH", "/connectors/{c}/config"),
    ("GET", "/connectors/{c}/status"),
    ("GET", "/connectors/{c}/tasks"),
    ("GET", "/connectors/{c}/tasks/0/status"),
    ("POST", "/connectors/{c}/tasks/0/restart"),
    ("POST", "/connectors/{c}/restart"),
    (
        "POST",
        "/connectors/{c}/restart?includeTasks=true&onlyFailed=false",
    ),
    ("PUT", "/connectors/{c}/pause"),
    ("PUT", "/connectors/{c}/resume"),
    ("PUT", "/connectors/{c}/stop"),
    ("GET", "/connectors/{c}/offsets"),
    ("DELETE", "/connectors/{c}/offsets"),
    ("GET", "/connectors/{c}/topics"),
    ("PUT", "/connectors/{c}/topics/reset"),
    ("DELETE", "/connectors/{c}"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skiff_answers_like_apache_connect() {
    let peer = skiff_testenv::connect_peer();
    let worker = start_worker().await;
    let dir = tempfile::tempdir().unwrap();
    let unique = skiff_testenv::unique_name("conf");
    let topic = format!("{unique}-in");
    skiff_testenv::create_topic(&topic, 1).await.unwrap();
    let side = |label, base: &str, tag: &str| Side {
        label,
        base: base.to_string(),
        conn: format!("{unique}-{tag}"),
        other: format!("{unique}-{tag}-put"),
        file: dir.path().join(format!("{tag}.txt")).display().to_string(),
        file2: dir
            .path()
            .join(format!("{tag}-put.txt"))
            .display()
            .to_string(),
    };
    let mut t = Suite {
        http: http(),
        apache: side("apache", &peer.url, "apache"),
        skiff: side("skiff", &worker.url, "skiff"),
        diffs: Vec::new(),
    };
    let create = json!({"name": "{c}", "config": sink_config(&topic, "{file}")}).to_string();

    // Skiff looks the Kafka cluster id up in the background: wait for it, then compare it too
    // (both servers use the same cluster).
    eventually(60, "Skiff's Kafka cluster id", || {
        let (http, url) = (t.http.clone(), worker.url.clone());
        async move {
            let v: Value = http
                .get(format!("{url}/"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["kafka_cluster_id"].is_string().then_some(())
        }
    })
    .await;
    t.same("GET /", Method::GET, "/", None).await;
    t.same("GET /health", Method::GET, "/health", None).await;
    t.same(
        "GET /connectors (none of ours)",
        Method::GET,
        "/connectors",
        None,
    )
    .await;
    t.same(
        "GET /connectors?expand=status (none)",
        Method::GET,
        "/connectors?expand=status",
        None,
    )
    .await;

    // Create. Exception: Apache in distributed mode answers `tasks: []` (the tasks are written
    // later, by the leader); Skiff runs in standalone mode and, like Apache's standalone herder,
    // has already computed the tasks when it answers. The rest of the body must match.
    let tasks_either = |r: &mut Reply| {
        if r.body["tasks"].as_array().is_some_and(|t| {
            t.is_empty()
                || t == &vec![json!({"connector": "{c}", "task": 0})]
                || t == &vec![json!({"connector": "{c2}", "task": 0})]
        }) {
            r.body["tasks"] = json!("[] or the tasks");
        }
    };
    let (a, _) = t
        .same_except(
            "POST /connectors",
            Method::POST,
            "/connectors",
            Some(&create),
            tasks_either,
        )
        .await;
    assert_eq!(a.status, 201, "the peer refused the connector: {}", a.body);
    t.same(
        "POST /connectors (duplicate)",
        Method::POST,
        "/connectors",
        Some(&create),
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (RUNNING)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;
    t.settle("GET /connectors/{c}", "/connectors/{c}", |r| {
        r.body["tasks"].as_array().is_some_and(|t| t.len() == 1)
    })
    .await;
    t.same(
        "GET /connectors/{c}/config",
        Method::GET,
        "/connectors/{c}/config",
        None,
    )
    .await;
    t.same(
        "GET /connectors/{c}/tasks",
        Method::GET,
        "/connectors/{c}/tasks",
        None,
    )
    .await;
    t.same(
        "GET /connectors/{c}/tasks/0/status",
        Method::GET,
        "/connectors/{c}/tasks/0/status",
        None,
    )
    .await;
    t.same(
        "GET /connectors/{c}/tasks/7/status",
        Method::GET,
        "/connectors/{c}/tasks/7/status",
        None,
    )
    .await;
    t.same(
        "GET /connectors/{c}/tasks/x/status",
        Method::GET,
        "/connectors/{c}/tasks/x/status",
        None,
    )
    .await;
    t.same("GET /connectors", Method::GET, "/connectors", None)
        .await;
    t.same(
        "GET /connectors?expand=status",
        Method::GET,
        "/connectors?expand=status",
        None,
    )
    .await;
    t.same(
        "GET /connectors?expand=info",
        Method::GET,
        "/connectors?expand=info",
        None,
    )
    .await;
    t.same(
        "GET /connectors?expand=status&expand=info",
        Method::GET,
        "/connectors?expand=status&expand=info",
        None,
    )
    .await;
    t.same(
        "GET /connectors?expand=bogus",
        Method::GET,
        "/connectors?expand=bogus",
        None,
    )
    .await;

    // Records flow: both sinks consume the same three records, commit them, and report the topic.
    produce(&topic, &["one", "two", "three"]).await;
    let committed = |r: &Reply| {
        r.body["offsets"]
            .as_array()
            .is_some_and(|o| o.len() == 1 && o[0]["offset"]["kafka_offset"] == 3)
    };
    t.settle(
        "GET /connectors/{c}/offsets (running)",
        "/connectors/{c}/offsets",
        committed,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/topics",
        "/connectors/{c}/topics",
        |r| {
            r.body["{c}"]["topics"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        },
    )
    .await;
    for s in [&t.apache, &t.skiff] {
        let lines = std::fs::read_to_string(&s.file).unwrap_or_default();
        assert_eq!(lines, "one\ntwo\nthree\n", "{} sink output", s.label);
    }
    t.same(
        "PUT /connectors/{c}/topics/reset",
        Method::PUT,
        "/connectors/{c}/topics/reset",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/topics (reset)",
        "/connectors/{c}/topics",
        |r| r.body["{c}"]["topics"] == json!([]),
    )
    .await;

    // Offsets can change only while STOPPED.
    let alter = json!({"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 1}}]}).to_string();
    t.same(
        "PATCH /connectors/{c}/offsets (running)",
        Method::PATCH,
        "/connectors/{c}/offsets",
        Some(&alter),
    )
    .await;
    t.same(
        "DELETE /connectors/{c}/offsets (running)",
        Method::DELETE,
        "/connectors/{c}/offsets",
        None,
    )
    .await;
    t.same(
        "PATCH /connectors/{c}/offsets (no offsets)",
        Method::PATCH,
        "/connectors/{c}/offsets",
        Some("{}"),
    )
    .await;

    // Configuration updates.
    let mut updated = sink_config(&topic, "{file}");
    updated.insert("errors.tolerance".into(), json!("all"));
    t.same(
        "PUT /connectors/{c}/config (update)",
        Method::PUT,
        "/connectors/{c}/config",
        Some(&Value::Object(updated).to_string()),
    )
    .await;
    t.same_except(
        "PUT /connectors/{c2}/config (create)",
        Method::PUT,
        "/connectors/{c2}/config",
        Some(&Value::Object(sink_config(&topic, "{file2}")).to_string()),
        tasks_either,
    )
    .await;
    let mut renamed = sink_config(&topic, "{file}");
    renamed.insert("name".into(), json!("other"));
    let renamed = json!({"name": "{c}", "config": renamed}).to_string();
    t.same(
        "POST /connectors (name mismatch)",
        Method::POST,
        "/connectors",
        Some(&renamed),
    )
    .await;
    t.same(
        "PUT /connectors/{c}/config (name mismatch)",
        Method::PUT,
        "/connectors/{c}/config",
        Some(&json!({"name": "other", "connector.class": SINK}).to_string()),
    )
    .await;
    t.same(
        "PATCH /connectors/{c}/config",
        Method::PATCH,
        "/connectors/{c}/config",
        Some(r#"{"errors.tolerance": null, "errors.log.enable": "true"}"#),
    )
    .await;
    t.same(
        "GET /connectors/{c}/config (patched)",
        Method::GET,
        "/connectors/{c}/config",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (RUNNING after updates)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;

    // Pause, resume, stop.
    t.same(
        "PUT /connectors/{c}/pause",
        Method::PUT,
        "/connectors/{c}/pause",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (PAUSED)",
        "/connectors/{c}/status",
        |r| state_is(r, "PAUSED", &["PAUSED"]),
    )
    .await;
    t.same(
        "PUT /connectors/{c}/pause (again)",
        Method::PUT,
        "/connectors/{c}/pause",
        None,
    )
    .await;
    t.same(
        "PUT /connectors/{c}/resume",
        Method::PUT,
        "/connectors/{c}/resume",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (RUNNING after resume)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;
    t.same(
        "PUT /connectors/{c}/stop",
        Method::PUT,
        "/connectors/{c}/stop",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (STOPPED)",
        "/connectors/{c}/status",
        |r| state_is(r, "STOPPED", &[]),
    )
    .await;
    t.settle("GET /connectors/{c} (STOPPED)", "/connectors/{c}", |r| {
        r.body["tasks"] == json!([])
    })
    .await;
    t.same(
        "GET /connectors/{c}/tasks (STOPPED)",
        Method::GET,
        "/connectors/{c}/tasks",
        None,
    )
    .await;
    t.same(
        "PUT /connectors/{c}/stop (again)",
        Method::PUT,
        "/connectors/{c}/stop",
        None,
    )
    .await;

    // Offsets while STOPPED.
    t.same(
        "GET /connectors/{c}/offsets (stopped)",
        Method::GET,
        "/connectors/{c}/offsets",
        None,
    )
    .await;
    t.same(
        "PATCH /connectors/{c}/offsets (stopped)",
        Method::PATCH,
        "/connectors/{c}/offsets",
        Some(&alter),
    )
    .await;
    t.same(
        "GET /connectors/{c}/offsets (altered)",
        Method::GET,
        "/connectors/{c}/offsets",
        None,
    )
    .await;
    t.same(
        "DELETE /connectors/{c}/offsets (stopped)",
        Method::DELETE,
        "/connectors/{c}/offsets",
        None,
    )
    .await;
    t.same(
        "GET /connectors/{c}/offsets (reset)",
        Method::GET,
        "/connectors/{c}/offsets",
        None,
    )
    .await;

    // Back to RUNNING, then restarts.
    t.same(
        "PUT /connectors/{c}/resume (from STOPPED)",
        Method::PUT,
        "/connectors/{c}/resume",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (RUNNING after stop)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;
    t.same(
        "POST /connectors/{c}/restart",
        Method::POST,
        "/connectors/{c}/restart",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (after restart)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;
    t.same(
        "POST /connectors/{c}/restart?includeTasks=true&onlyFailed=false",
        Method::POST,
        "/connectors/{c}/restart?includeTasks=true&onlyFailed=false",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (after full restart)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;
    t.same(
        "POST /connectors/{c}/restart?includeTasks=true&onlyFailed=true",
        Method::POST,
        "/connectors/{c}/restart?includeTasks=true&onlyFailed=true",
        None,
    )
    .await;
    t.same(
        "POST /connectors/{c}/tasks/0/restart",
        Method::POST,
        "/connectors/{c}/tasks/0/restart",
        None,
    )
    .await;
    t.same(
        "POST /connectors/{c}/tasks/7/restart",
        Method::POST,
        "/connectors/{c}/tasks/7/restart",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (after task restart)",
        "/connectors/{c}/status",
        |r| state_is(r, "RUNNING", &["RUNNING"]),
    )
    .await;

    // Delete, then every per-connector endpoint answers for a connector that does not exist.
    t.same(
        "DELETE /connectors/{c2}",
        Method::DELETE,
        "/connectors/{c2}",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c2}/status (deleted)",
        "/connectors/{c2}/status",
        |r| r.status == 404,
    )
    .await;
    // Created STOPPED (`initial_state`): no tasks, nothing runs.
    let stopped = json!({"name": "{c2}", "config": sink_config(&topic, "{file2}"), "initial_state": "STOPPED"}).to_string();
    t.same_except(
        "POST /connectors (initial_state STOPPED)",
        Method::POST,
        "/connectors",
        Some(&stopped),
        tasks_either,
    )
    .await;
    t.settle(
        "GET /connectors/{c2}/status (initial STOPPED)",
        "/connectors/{c2}/status",
        |r| state_is(r, "STOPPED", &[]),
    )
    .await;
    t.same(
        "GET /connectors/{c2}/tasks (initial STOPPED)",
        Method::GET,
        "/connectors/{c2}/tasks",
        None,
    )
    .await;
    t.same(
        "DELETE /connectors/{c2} (initial STOPPED)",
        Method::DELETE,
        "/connectors/{c2}",
        None,
    )
    .await;
    t.same(
        "DELETE /connectors/{c}",
        Method::DELETE,
        "/connectors/{c}",
        None,
    )
    .await;
    t.settle(
        "GET /connectors/{c}/status (deleted)",
        "/connectors/{c}/status",
        |r| r.status == 404,
    )
    .await;
    t.settle("GET /connectors (deleted)", "/connectors", |r| {
        r.body == json!([])
    })
    .await;
    for (method, path) in MISSING {
        let body = match *method {
            "PATCH" if path.ends_with("/offsets") => Some(alter.as_str()),
            "PATCH" => Some(r#"{"tasks.max": "1"}"#),
            _ => None,
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        t.same(&format!("{method} {path} (missing)"), method, path, body)
            .await;
    }
    t.same(
        "PATCH /connectors/{c}/offsets (missing)",
        Method::PATCH,
        "/connectors/{c}/offsets",
        Some(&alter),
    )
    .await;

    // Bad requests.
    t.same("GET /no/such/path", Method::GET, "/no/such/path", None)
        .await;
    t.same("DELETE / (wrong method)", Method::DELETE, "/", None)
        .await;
    t.same(
        "POST /connectors/{c}/status (wrong method)",
        Method::POST,
        "/connectors/{c}/status",
        None,
    )
    .await;
    // Exception: Apache answers a malformed body, a body of the wrong shape and a body without
    // `config` with 500 and a Jackson or NullPointerException message. These are client errors:
    // Skiff answers 400 with a message that names the problem. Both use the error body shape.
    let client_error = |r: &mut Reply| {
        if r.body["error_code"] == r.status
            && r.body["message"].is_string()
            && (r.status == 400 || r.status == 500)
        {
            *r = Reply {
                status: 0,
                location: None,
                body: json!({"error_code": "400 (Skiff) or 500 (Apache)", "message": "{message}"}),
            };
        }
    };
    t.same_except(
        "POST /connectors (malformed JSON)",
        Method::POST,
        "/connectors",
        Some(r#"{"name": "{c}", "config": {"#),
        client_error,
    )
    .await;
    t.same_except(
        "POST /connectors (array body)",
        Method::POST,
        "/connectors",
        Some("[1]"),
        client_error,
    )
    .await;
    t.same_except(
        "POST /connectors (no config)",
        Method::POST,
        "/connectors",
        Some(r#"{"name": "{c}"}"#),
        client_error,
    )
    .await;
    let (_, s) = t
        .both(Method::POST, "/connectors", Some(r#"{"name": "{c}"}"#))
        .await;
    assert_eq!(
        s.status, 400,
        "Skiff must refuse a body without config as a client error: {}",
        s.body
    );
    let unknown_class = json!({"name": "{c}", "config": {"connector.class": "com.example.NoSuchConnector", "topics": topic}}).to_string();
    // The message lists every installed plugin, which differ: compare up to the list.
    let no_class = "Failed to find any class that implements Connector and which name matches com.example.NoSuchConnector, available connectors are: ";
    t.same_except(
        "POST /connectors (unknown class)",
        Method::POST,
        "/connectors",
        Some(&unknown_class),
        |r| cut_message(r, no_class),
    )
    .await;
    t.same(
        "GET /connectors (none created by bad requests)",
        Method::GET,
        "/connectors",
        None,
    )
    .await;

    // Plugins: Skiff has more connectors and Apache more transformations; compare FileStream.
    t.same_except(
        "GET /connector-plugins",
        Method::GET,
        "/connector-plugins",
        None,
        only_filestream,
    )
    .await;
    t.same_except(
        "GET /connector-plugins?connectorsOnly=false",
        Method::GET,
        "/connector-plugins?connectorsOnly=false",
        None,
        only_filestream,
    )
    .await;
    // Every converter and other non-connector plugin Skiff lists must be one Apache lists.
    let (a, s) = t
        .both(Method::GET, "/connector-plugins?connectorsOnly=false", None)
        .await;
    for p in s
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["type"] != "sink" && p["type"] != "source")
    {
        if !a.body.as_array().is_some_and(|all| all.contains(p)) {
            t.diffs.push(format!(
                "DIFF GET /connector-plugins?connectorsOnly=false: Skiff lists {p}, Apache does not"
            ));
        }
    }
    let (a, s) = t
        .both(
            Method::GET,
            "/connector-plugins/FileStreamSinkConnector/config",
            None,
        )
        .await;
    compare_key_defs(&mut t, &a, &s);
    t.same(
        "GET /connector-plugins/NoSuchPlugin/config",
        Method::GET,
        "/connector-plugins/NoSuchPlugin/config",
        None,
    )
    .await;
    let valid = Value::Object(sink_config(&topic, "{file}")).to_string();
    let (a, s) = t
        .both(
            Method::PUT,
            "/connector-plugins/FileStreamSinkConnector/config/validate",
            Some(&valid),
        )
        .await;
    compare_validation(&mut t, "validate (valid)", &a, &s);
    let mut alias = sink_config(&topic, "{file}");
    alias.insert("connector.class".into(), json!("FileStreamSink"));
    let (a, s) = t
        .both(
            Method::PUT,
            "/connector-plugins/FileStreamSinkConnector/config/validate",
            Some(&Value::Object(alias).to_string()),
        )
        .await;
    compare_validation(&mut t, "validate (class alias)", &a, &s);
    let mut bad = sink_config(&topic, "{file}");
    bad.insert("tasks.max".into(), json!("0"));
    bad.insert("topics.regex".into(), json!("also.*"));
    bad.insert("errors.tolerance".into(), json!("sometimes"));
    let (a, s) = t
        .both(
            Method::PUT,
            "/connector-plugins/FileStreamSinkConnector/config/validate",
            Some(&Value::Object(bad).to_string()),
        )
        .await;
    compare_validation(&mut t, "validate (invalid)", &a, &s);
    t.same(
        "PUT validate (class mismatch)",
        Method::PUT,
        "/connector-plugins/FileStreamSourceConnector/config/validate",
        Some(&valid),
    )
    .await;

    // Loggers: Apache lists every log4j logger, Skiff its tracing targets; both list `root`.
    let (a, s) = t.both(Method::GET, "/admin/loggers", None).await;
    let root = |r: &Reply| Reply {
        status: r.status,
        location: r.location.clone(),
        body: r.body["root"].clone(),
    };
    t.compare("GET /admin/loggers (root)", &root(&a), &root(&s));
    t.same(
        "GET /admin/loggers/root",
        Method::GET,
        "/admin/loggers/root",
        None,
    )
    .await;

    worker.running.stop().await;
    assert!(
        t.diffs.is_empty(),
        "{} difference(s) from Apache Kafka Connect:\n{}",
        t.diffs.len(),
        t.diffs.join("\n")
    );
}

/// `GET /connector-plugins/{p}/config`: Apache lists every framework setting (transforms,
/// predicates, plugin versions) that Skiff does not have; every key Skiff lists must be listed by
/// Apache with the same type, requiredness and default.
fn compare_key_defs(t: &mut Suite, a: &Reply, s: &Reply) {
    let step = "GET /connector-plugins/FileStreamSinkConnector/config";
    if a.status != s.status {
        t.compare(step, a, s);
        return;
    }
    let pick = |d: &Value| json!({"name": d["name"], "type": d["type"], "required": d["required"], "default_value": d["default_value"], "importance": d["importance"]});
    let apache: Vec<Value> = a.body.as_array().into_iter().flatten().map(pick).collect();
    let mut ok = true;
    for d in s.body.as_array().into_iter().flatten() {
        let mine = pick(d);
        match apache.iter().find(|x| x["name"] == mine["name"]) {
            Some(x) if *x == mine => {}
            other => {
                ok = false;
                t.diffs.push(format!(
                    "DIFF {step}: key {}\n  apache: {other:?}\n  skiff:  {mine}",
                    mine["name"]
                ));
            }
        }
    }
    if ok {
        println!("ok   {step}");
    }
}

/// `PUT .../config/validate`: the plugin name, the error count and which keys carry errors.
fn compare_validation(t: &mut Suite, step: &str, a: &Reply, s: &Reply) {
    let summary = |r: &Reply| {
        let mut with_errors: Vec<Value> = r.body["configs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c["value"]["errors"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
            })
            .map(|c| c["value"]["name"].clone())
            .collect();
        with_errors.sort_by_key(|v| v.to_string());
        Reply {
            status: r.status,
            location: None,
            body: json!({"name": r.body["name"], "error_count": r.body["error_count"], "keys_with_errors": with_errors}),
        }
    };
    t.compare(step, &summary(a), &summary(s));
}
