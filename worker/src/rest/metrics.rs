//! `GET /metrics`: Prometheus text with connector and task states, each task's counters
//! (records, bytes, objects) from its progress document, and each sink task's consumer lag.

use super::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::fmt::Write;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Escapes a label value for the Prometheus text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Whether a progress figure only grows (a Prometheus counter, for `rate()`) or goes up and
/// down (a gauge).
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Progress figures exported as metrics: (document key, metric name, kind, help).
const FIGURES: &[(&str, &str, Kind, &str)] = &[
    (
        "recordsWritten",
        "skiff_sink_records_written_total",
        Kind::Counter,
        "Records a backup task wrote to S3.",
    ),
    (
        "bytesWritten",
        "skiff_sink_bytes_written_total",
        Kind::Counter,
        "Object bytes a backup task wrote to S3.",
    ),
    (
        "objectsWritten",
        "skiff_sink_objects_written_total",
        Kind::Counter,
        "Objects a backup task wrote to S3.",
    ),
    (
        "bufferedBytes",
        "skiff_sink_buffered_bytes",
        Kind::Gauge,
        "Bytes a backup task holds in memory.",
    ),
    (
        "recordsRestored",
        "skiff_source_records_restored_total",
        Kind::Counter,
        "Records a restore task wrote to Kafka.",
    ),
    (
        "bytesRead",
        "skiff_source_bytes_read_total",
        Kind::Counter,
        "Object bytes a restore task read from S3.",
    ),
    (
        "objectsRead",
        "skiff_source_objects_read_total",
        Kind::Counter,
        "Objects a restore task read.",
    ),
    (
        "objectsTotal",
        "skiff_source_objects_total",
        Kind::Gauge,
        "Objects a restore task has to read.",
    ),
];

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP skiff_connector_state 1 for the connector's current state.\n# TYPE skiff_connector_state gauge"
    );
    let mut tasks_out = String::from(
        "# HELP skiff_task_state 1 for the task's current state.\n# TYPE skiff_task_state gauge\n",
    );
    let mut counters: Vec<String> = FIGURES
        .iter()
        .map(|(_, m, kind, h)| format!("# HELP {m} {h}\n# TYPE {m} {}\n", kind.as_str()))
        .collect();
    let mut lags = String::from(
        "# HELP skiff_sink_consumer_lag_records Records a sink task's partitions hold past what its consumer has read (librdkafka's consumer_lag, every 10 s); growing while the task runs means the backup falls behind.\n# TYPE skiff_sink_consumer_lag_records gauge\n",
    );
    let mut done = String::from(
        "# HELP skiff_source_done 1 once a restore task restored everything.\n# TYPE skiff_source_done gauge\n",
    );
    for name in s.herder.connectors().await {
        let Ok(st) = s.herder.status(&name).await else {
            continue;
        };
        let c = label(&name);
        let _ = writeln!(
            out,
            "skiff_connector_state{{connector=\"{c}\",state=\"{}\"}} 1",
            st.connector.state.as_str()
        );
        for t in &st.tasks {
            let _ = writeln!(
                tasks_out,
                "skiff_task_state{{connector=\"{c}\",task=\"{}\",state=\"{}\"}} 1",
                t.id,
                t.state.as_str()
            );
        }
        for (task, lag) in s.herder.lags(&name) {
            let _ = writeln!(
                lags,
                "skiff_sink_consumer_lag_records{{connector=\"{c}\",task=\"{task}\"}} {lag}"
            );
        }
        if let Ok(progress) = s.herder.progress(&name).await {
            for (task, doc) in progress {
                for (i, (key, metric, _, _)) in FIGURES.iter().enumerate() {
                    if let Some(v) = doc.get(*key).and_then(serde_json::Value::as_f64) {
                        let _ = writeln!(
                            counters[i],
                            "{metric}{{connector=\"{c}\",task=\"{task}\"}} {v}"
                        );
                    }
                }
                if let Some(d) = doc.get("done").and_then(serde_json::Value::as_bool) {
                    let _ = writeln!(
                        done,
                        "skiff_source_done{{connector=\"{c}\",task=\"{task}\"}} {}",
                        u8::from(d)
                    );
                }
            }
        }
    }
    out.push_str(&tasks_out);
    for c in counters {
        out.push_str(&c);
    }
    out.push_str(&done);
    out.push_str(&lags);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
