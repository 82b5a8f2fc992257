//! The source task loop: polls the task, produces its records with an idempotent producer
//! (acks=all, order kept per partition), and stores each source partition's offset only after
//! every record up to it was acknowledged.

use super::offsets::JsonMap;
use super::{TaskContext, TaskError};
use crate::config::client::ClientRole;
use async_trait::async_trait;
use futures::future::try_join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use skiff_api::rest::State;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// One record a source task wants written, and the source position it stands for.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub topic: String,
    /// `None` lets the producer's partitioner choose.
    pub partition: Option<i32>,
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub source_partition: JsonMap,
    pub source_offset: JsonMap,
}

/// What a source connector's task implements; the loop below drives it.
#[async_trait]
pub trait SourceTask: Send {
    /// The next records to write, in order; empty when there is nothing to do right now.
    async fn poll(&mut self) -> Result<Vec<SourceRecord>, TaskError>;
    /// Called after the records of the last poll were acknowledged and their offsets stored.
    fn committed(&mut self) {}
}

/// How long to wait before polling again when a task had nothing.
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// How long one record may take to be acknowledged, retries included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the idempotent producer source tasks write with.
pub fn producer(ctx: &TaskContext) -> Result<FutureProducer, TaskError> {
    let mut cfg = ctx.worker.client(ClientRole::Producer)?.to_rdkafka();
    cfg.set(
        "client.id",
        format!("connector-producer-{}", ctx.task_name()),
    )
    .set("enable.idempotence", "true")
    .set("acks", "all")
    .set(
        "message.timeout.ms",
        DELIVERY_TIMEOUT.as_millis().to_string(),
    );
    if cfg.get("linger.ms").is_none() {
        cfg.set("linger.ms", "5");
    }
    if cfg.get("compression.type").is_none() {
        cfg.set("compression.type", "lz4");
    }
    Ok(cfg.create()?)
}

/// Runs a source task until it is asked to stop or fails.
pub async fn run<T: SourceTask>(mut ctx: TaskContext, mut task: T) -> Result<(), TaskError> {
    let producer = producer(&ctx)?;
    ctx.status
        .set_task(&ctx.connector, ctx.task, State::Running, None);
    info!(task = %ctx.task_name(), "source task started");
    let mut last_flush = Instant::now();
    while !ctx.stopping() {
        let records = tokio::select! {
            _ = ctx.stopped() => break,
            r = task.poll() => r?,
        };
        if records.is_empty() {
            tokio::select! {
                _ = ctx.stopped() => break,
                _ = tokio::time::sleep(IDLE_WAIT) => {}
            }
        } else {
            let latest = deliver(&producer, &records).await?;
            let topics: std::collections::BTreeSet<&str> =
                records.iter().map(|r| r.topic.as_str()).collect();
            ctx.status.add_topics(&ctx.connector, topics);
            ctx.offsets.put(&ctx.connector, latest);
            task.committed();
        }
        if last_flush.elapsed() >= ctx.worker.offset_flush_interval {
            flush_offsets(&ctx).await?;
            last_flush = Instant::now();
        }
    }
    info!(task = %ctx.task_name(), "source task stopping: flushing offsets");
    let _ = tokio::task::spawn_blocking({
        let p = producer.clone();
        move || p.flush(Duration::from_secs(30))
    })
    .await;
    flush_offsets(&ctx).await
}

/// Writes the offsets file, as a task error if it fails.
pub async fn flush_offsets(ctx: &TaskContext) -> Result<(), TaskError> {
    ctx.offsets
        .flush()
        .await
        .map_err(|e| TaskError::Other(e.to_string()))
}

/// Produces every record, waits for all acknowledgements, and returns the last source offset per
/// source partition.
async fn deliver(
    producer: &FutureProducer,
    records: &[SourceRecord],
) -> Result<Vec<(JsonMap, Option<JsonMap>)>, TaskError> {
    let mut pending = Vec::with_capacity(records.len());
    for r in records {
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&r.topic).headers(headers);
        if let Some(k) = &r.key {
            fr = fr.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            fr = fr.payload(v.as_slice());
        }
        if let Some(p) = r.partition {
            fr = fr.partition(p);
        }
        if let Some(t) = r.timestamp {
            fr = fr.timestamp(t);
        }
        let fut = loop {
            match producer.send_result(fr) {
                Ok(f) => break f,
                Err((e, back)) => {
                    // The local queue is full: wait for deliveries to drain it.
                    if matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        fr = back;
                    } else {
                        return Err(TaskError::Kafka(e.to_string()));
                    }
                }
            }
        };
        pending.push(fut);
    }
    let results = try_join_all(pending)
        .await
        .map_err(|_| TaskError::Kafka("producer closed before delivery".into()))?;
    for res in results {
        if let Err((e, _)) = res {
            warn!("delivery failed: {e}");
            return Err(TaskError::Kafka(format!("record not delivered: {e}")));
        }
    }
    let mut latest: BTreeMap<String, (JsonMap, JsonMap)> = BTreeMap::new();
    for r in records {
        let key = serde_json::Value::Object(r.source_partition.clone()).to_string();
        latest.insert(key, (r.source_partition.clone(), r.source_offset.clone()));
    }
    Ok(latest.into_values().map(|(p, o)| (p, Some(o))).collect())
}
