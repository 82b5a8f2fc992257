//! Apache's FileStream connectors under their class names: a sink that appends each record's
//! value as a line to a file, and a source that turns a file's lines into records. They give the
//! REST conformance tests a connector that Skiff and Apache Connect both have. Unlike the S3
//! connectors they convert, as Connect's do: values go through the connector's (or worker's)
//! `value.converter`, and a sink record that does not convert is handled per `errors.*`.

use super::config_def::{ConfigDef, ConfigType, Importance};
use super::converters::Converter;
use super::record_errors::RecordErrors;
use crate::config::properties::Properties;
use crate::runtime::offsets::JsonMap;
use crate::runtime::sink::{self, SinkRecord, SinkTask};
use crate::runtime::source::{self, SourceRecord, SourceTask};
use crate::runtime::{TaskContext, TaskError, TopicPartition};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// FileStreamSink's settings.
pub const SINK_DEFS: &[ConfigDef] = &[ConfigDef::optional(
    "file",
    ConfigType::String,
    None,
    "Common",
    "Destination filename. If not specified, the standard output will be used",
)
.importance(Importance::High)];

/// FileStreamSource's settings.
pub const SOURCE_DEFS: &[ConfigDef] = &[
    ConfigDef::optional("file", ConfigType::String, None, "Common", "Source filename. If not specified, the standard input will be used").importance(Importance::High),
    ConfigDef::required("topic", ConfigType::List, "Common", "The topic to publish data to").importance(Importance::High),
    ConfigDef::optional("batch.size", ConfigType::Int, Some("2000"), "Common", "The maximum number of records the source task can read from the file each time it is polled").importance(Importance::Low),
];

/// Runs a FileStreamSink task.
pub async fn run_sink_task(ctx: TaskContext, config: Properties) -> Result<(), TaskError> {
    let subscription =
        super::subscription(&config).map_err(|(k, e)| TaskError::Config(format!("{k}: {e}")))?;
    let path = config.get("file").filter(|f| !f.is_empty()).cloned();
    let value = Converter::of("value", &ctx.worker.raw, &config).map_err(TaskError::Config)?;
    let errors = RecordErrors::new(&ctx, &config).await?;
    sink::run(
        ctx,
        FileSink {
            path,
            value,
            errors,
            next: BTreeMap::new(),
        },
        subscription,
    )
    .await
}

struct FileSink {
    path: Option<String>,
    value: Converter,
    errors: RecordErrors,
    next: BTreeMap<TopicPartition, i64>,
}

#[async_trait]
impl SinkTask for FileSink {
    async fn put(&mut self, records: Vec<SinkRecord>) -> Result<(), TaskError> {
        let mut out = Vec::new();
        for r in &records {
            match self.value.to_text(r.record.value.as_deref()) {
                Ok(text) => {
                    out.extend_from_slice(&text);
                    out.push(b'\n');
                }
                Err(e) => self.errors.failed(r, "VALUE_CONVERTER", &e).await?,
            }
            self.next
                .insert((r.topic.clone(), r.partition), r.record.offset + 1);
        }
        match &self.path {
            Some(p) => {
                let mut f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .await
                    .map_err(|e| TaskError::Other(format!("cannot open {p}: {e}")))?;
                f.write_all(&out)
                    .await
                    .map_err(|e| TaskError::Other(format!("cannot write {p}: {e}")))?;
                f.sync_data()
                    .await
                    .map_err(|e| TaskError::Other(format!("cannot sync {p}: {e}")))?;
            }
            None => tokio::io::stdout()
                .write_all(&out)
                .await
                .map_err(|e| TaskError::Other(e.to_string()))?,
        }
        Ok(())
    }

    async fn flush(&mut self, _all: bool) -> Result<BTreeMap<TopicPartition, i64>, TaskError> {
        Ok(self.next.clone())
    }

    fn revoked(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.next.remove(tp);
        }
    }
}

/// Runs a FileStreamSource task.
pub async fn run_source_task(ctx: TaskContext, config: Properties) -> Result<(), TaskError> {
    let path = config
        .get("file")
        .filter(|f| !f.is_empty())
        .cloned()
        .ok_or_else(|| {
            TaskError::Config(
                "'file' is required: Skiff's FileStreamSource does not read standard input".into(),
            )
        })?;
    let topic = config.get("topic").cloned().unwrap_or_default();
    let batch = super::number(&config, "batch.size", 2000usize)?;
    let value = Converter::of("value", &ctx.worker.raw, &config).map_err(TaskError::Config)?;
    let mut partition = JsonMap::new();
    partition.insert("filename".into(), Value::String(path.clone()));
    let position = ctx
        .offsets
        .get(&ctx.connector, &partition)
        .and_then(|o| o.get("position").and_then(Value::as_u64))
        .unwrap_or(0);
    source::run(
        ctx,
        FileSource {
            path,
            topic,
            batch,
            value,
            partition,
            position,
        },
    )
    .await
}

struct FileSource {
    path: String,
    topic: String,
    batch: usize,
    value: Converter,
    partition: JsonMap,
    position: u64,
}

#[async_trait]
impl SourceTask for FileSource {
    async fn poll(&mut self) -> Result<Vec<SourceRecord>, TaskError> {
        let mut f = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TaskError::Other(format!("cannot open {}: {e}", self.path))),
        };
        f.seek(std::io::SeekFrom::Start(self.position))
            .await
            .map_err(|e| TaskError::Other(e.to_string()))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .await
            .map_err(|e| TaskError::Other(e.to_string()))?;
        let mut out = Vec::new();
        let mut consumed = 0usize;
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if out.len() >= self.batch || !line.ends_with(b"\n") {
                break;
            }
            consumed += line.len();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            let mut offset = JsonMap::new();
            offset.insert("position".into(), json!(self.position + consumed as u64));
            out.push(SourceRecord {
                topic: self.topic.clone(),
                partition: None,
                timestamp: None,
                key: None,
                value: Some(self.value.from_string(&text)),
                headers: Vec::new(),
                source_partition: self.partition.clone(),
                source_offset: offset,
            });
        }
        self.position += consumed as u64;
        Ok(out)
    }
}
