//! The source task loop: polls the task, produces its records with an idempotent producer
//! (acks=all, order kept per partition), and stores each source partition's offset only after
//! every record up to it was acknowledged.
//!
//! Records never time out in the producer: as Apache Connect sets `delivery.timeout.ms` to its
//! maximum, the producer retries until Kafka takes them, and the task shows the wait meanwhile.
//! A timed-out record would leave a gap that later records fill past (librdkafka bumps the
//! producer epoch and goes on), and the restore's resume point, counted from the target's end
//! offset, would then skip records; with no time-outs and librdkafka's gapless guarantee, what
//! reached a partition is always a prefix of what was sent to it. The resume point also needs
//! the old producer gone once its task is: a stopping task waits briefly for the acks it is owed
//! (an abandoned one does not wait), then purges what it has not sent and destroys its producer
//! before it returns.
//!
//! librdkafka's connection to a restarted broker sometimes never comes back (librdkafka issue
//! 5153; a restore waited on 30 records for good in CI). A task that can start again from its
//! stored offsets ([`SourceTask::rewind`]) gets a new producer once its records have waited
//! [`REPLACE_AFTER`] and a new client reaches the leaders of their partitions: the old producer
//! is purged and destroyed first, so what it wrote is settled before the task resumes.

use super::offsets::JsonMap;
use super::refusal::Refusal;
use super::{TaskContext, TaskError};
use crate::config::client::ClientRole;
use crate::config::connector_clients::ConnectorClients;
use crate::config::override_policy::KEPT_PRODUCER_SETTINGS;
use async_trait::async_trait;
use futures::future::try_join_all;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::sync::Arc;
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
    /// Called while Kafka has not acknowledged the last poll's records for a while (`Some`, what
    /// is waiting) and once they are (`None`), so the task can show it as its current error.
    fn delivery_waiting(&mut self, _waiting: Option<String>) {}
    /// Whether the task can start again from its stored offsets ([`SourceTask::rewind`]), which
    /// lets the runtime replace a producer that stopped delivering.
    fn rewindable(&self) -> bool {
        false
    }
    /// Called when the last poll's records were dropped with a replaced producer (some of them
    /// may be in Kafka): the next poll resumes after the stored offsets.
    fn rewind(&mut self) {}
}

/// Adjusts the settings of the `n`th producer a source task builds (0 first): a seam for tests
/// that need a producer to misbehave in a real way.
pub type TuneProducer = Arc<dyn Fn(&mut ClientConfig, u32) + Send + Sync>;

/// How long to wait before polling again when a task had nothing.
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// How long records may wait for Kafka before the task reports the wait.
const DELIVERY_REPORT_AFTER: Duration = Duration::from_secs(10);
/// How long records may wait for Kafka before a task that can rewind gets a new producer.
pub const REPLACE_AFTER: Duration = Duration::from_secs(60);
/// How long a replacement producer has to find the leaders of the waiting records' partitions.
const REPLACEMENT_CHECK: Duration = Duration::from_secs(10);
/// How long a replaced producer may take to be destroyed before the task goes on without it.
const RETIRE_WAIT: Duration = Duration::from_secs(30);
/// How long a stopping task still waits for the acknowledgements of records already sent (at
/// most half its graceful timeout), so their offsets are stored and they are not sent again.
const STOP_ACK_WAIT: Duration = Duration::from_secs(2);

/// A source task's producer, whose errors go through the task's [`Refusal`].
type SourceProducer = FutureProducer<ProducerErrors>;

/// The producer's context: librdkafka's errors are logged, and a refused login or permission
/// is kept for the task, which fails on it instead of waiting for acknowledgements for good.
struct ProducerErrors(Arc<Refusal>);

impl ClientContext for ProducerErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.note(&error, reason);
    }
}

/// How often a task waiting for acknowledgements looks for a refusal.
const REFUSAL_CHECK: Duration = Duration::from_millis(250);

/// Builds the idempotent producers of one source task, each passed through `tune` last.
struct Producers {
    config: ClientConfig,
    tune: TuneProducer,
    built: u32,
    /// What the cluster refused any of them, for good.
    refusal: Arc<Refusal>,
}

impl Producers {
    fn new(ctx: &TaskContext, tune: TuneProducer) -> Result<Self, TaskError> {
        Ok(Producers {
            config: producer_config(&ctx.clients, &ctx.task_name())?,
            tune,
            built: 0,
            refusal: Arc::new(Refusal::new(ClientRole::Producer)),
        })
    }

    fn next(&mut self) -> Result<SourceProducer, TaskError> {
        let mut config = self.config.clone();
        (self.tune)(&mut config, self.built);
        self.built += 1;
        Ok(config.create_with_context(ProducerErrors(self.refusal.clone()))?)
    }
}

/// The source producer's settings: no delivery time-out, and a fatal error rather than a gap
/// when a batch fails (see the module comment).
fn producer_config(clients: &ConnectorClients, task_name: &str) -> Result<ClientConfig, TaskError> {
    let mut cfg = clients.client(ClientRole::Producer)?.to_rdkafka();
    for key in KEPT_PRODUCER_SETTINGS {
        if cfg.get(key).is_some() {
            warn!(
                "producer.{key} is ignored for source tasks: they retry a record until Kafka \
                 takes it, one request at a time, so a restore leaves no gap and no duplicate"
            );
            cfg.remove(key);
        }
    }
    cfg.set("client.id", format!("connector-producer-{task_name}"))
        .set("enable.idempotence", "true")
        .set("enable.gapless.guarantee", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        // With several requests in flight, a partition leader that moves (a broker restarting)
        // answers the later ones OUT_OF_ORDER_SEQUENCE_NUMBER, and librdkafka then bumps the
        // producer epoch and sends again what the broker may already hold: 30 duplicated
        // records in the broker-restart test (librdkafka issue 4953, fix not released). One
        // request at a time keeps the idempotent producer's de-duplication intact.
        .set("max.in.flight.requests.per.connection", "1");
    if cfg.get("linger.ms").is_none() {
        cfg.set("linger.ms", "5");
    }
    if cfg.get("compression.type").is_none() {
        cfg.set("compression.type", "lz4");
    }
    Ok(cfg)
}

/// Runs a source task until it is asked to stop or fails.
pub async fn run<T: SourceTask>(ctx: TaskContext, task: T) -> Result<(), TaskError> {
    run_with(ctx, task, Arc::new(|_, _| {})).await
}

/// [`run`], with the settings of each producer it builds passed through `tune` last.
pub async fn run_with<T: SourceTask>(
    mut ctx: TaskContext,
    mut task: T,
    tune: TuneProducer,
) -> Result<(), TaskError> {
    let mut producers = Producers::new(&ctx, tune)?;
    let mut producer = producers.next()?;
    // The worker showed the task RUNNING when it started it; setting it again here could undo
    // a PAUSED the herder set meanwhile.
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
            let latest =
                match deliver(&mut ctx, &mut task, &producer, &mut producers, &records).await {
                    Ok(Delivery::Acknowledged(latest)) => latest,
                    Ok(Delivery::Stopped) => break,
                    Ok(Delivery::Replaced(next)) => {
                        retire(std::mem::replace(&mut producer, next)).await;
                        task.rewind();
                        task.delivery_waiting(None);
                        continue;
                    }
                    Err(e) => {
                        // Nothing of a failed task reaches Kafka after it is FAILED.
                        retire(producer).await;
                        return Err(e);
                    }
                };
            let topics: std::collections::BTreeSet<&str> =
                records.iter().map(|r| r.topic.as_str()).collect();
            ctx.status.add_topics(&ctx.connector, topics);
            if ctx.abandoned() {
                break;
            }
            ctx.offsets.put(&ctx.connector, latest);
            task.committed();
        }
        if last_flush.elapsed() >= ctx.worker.offset_flush_interval && !ctx.abandoned() {
            flush_offsets(&ctx).await?;
            last_flush = Instant::now();
        }
    }
    // Records not acknowledged by now are not in the stored offsets: drop them, so nothing of
    // this task reaches Kafka after it is gone.
    retire(producer).await;
    if ctx.abandoned() {
        warn!(task = %ctx.task_name(), "source task abandoned: its unacknowledged records were dropped and its offsets are left to the next owner");
        return Ok(());
    }
    info!(task = %ctx.task_name(), "source task stopped: flushing offsets");
    flush_offsets(&ctx).await
}

/// Purges what `producer` has not delivered and destroys it, on a thread of its own: destroying
/// a client blocks, and a stuck one may block long. Waits for that up to [`RETIRE_WAIT`].
async fn retire(producer: SourceProducer) {
    producer.purge(PurgeConfig::default().queue().inflight());
    let (destroyed, waiting) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("source-producer-close".into())
        .spawn(move || {
            drop(producer);
            // Nobody waits any more when the wait timed out.
            let _ = destroyed.send(());
        });
    if let Err(e) = spawned {
        warn!("no thread to destroy a source producer on ({e}); it is left running");
        return;
    }
    if tokio::time::timeout(RETIRE_WAIT, waiting).await.is_err() {
        warn!("a source producer is still being destroyed after {RETIRE_WAIT:?}; going on");
    }
}

/// A new producer from `producers`, if it finds a leader for every partition of `records`
/// within [`REPLACEMENT_CHECK`]; `None` (with the reason logged) otherwise.
async fn replacement(
    producers: &mut Producers,
    records: &[SourceRecord],
) -> Result<Option<SourceProducer>, TaskError> {
    let candidate = producers.next()?;
    let wanted: BTreeMap<&str, Vec<Option<i32>>> =
        records.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.topic.as_str()).or_default().push(r.partition);
            m
        });
    let wanted: Vec<(String, Vec<Option<i32>>)> = wanted
        .into_iter()
        .map(|(t, p)| (t.to_string(), p))
        .collect();
    let probe = candidate.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<(), String> {
        for (topic, partitions) in wanted {
            let md = probe
                .client()
                .fetch_metadata(Some(&topic), REPLACEMENT_CHECK)
                .map_err(|e| e.to_string())?;
            let leaders: BTreeMap<i32, i32> = md
                .topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| (p.id(), p.leader())))
                .collect();
            let led = |p: &i32| leaders.get(p).is_some_and(|l| *l >= 0);
            if leaders.is_empty() || partitions.iter().flatten().any(|p| !led(p)) {
                return Err(format!("no leader for every partition of '{topic}' yet"));
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| TaskError::Other(e.to_string()))?;
    match found {
        Ok(()) => Ok(Some(candidate)),
        Err(why) => {
            warn!("a new producer cannot deliver either ({why}); waiting on the old one");
            retire(candidate).await;
            Ok(None)
        }
    }
}

/// Writes the offsets file, as a task error if it fails.
pub async fn flush_offsets(ctx: &TaskContext) -> Result<(), TaskError> {
    ctx.offsets
        .flush()
        .await
        .map_err(|e| TaskError::Other(e.to_string()))
}

/// How a batch of records ended.
enum Delivery {
    /// Every record was acknowledged: the last source offset per source partition.
    Acknowledged(Vec<(JsonMap, Option<JsonMap>)>),
    /// The task was asked to stop first; nothing of the batch is stored.
    Stopped,
    /// The producer stopped delivering and this one replaces it; nothing of the batch is stored.
    Replaced(SourceProducer),
}

/// Produces every record and waits for all acknowledgements, or for a replacement producer
/// when they are overdue and the task can rewind.
async fn deliver<T: SourceTask>(
    ctx: &mut TaskContext,
    task: &mut T,
    producer: &SourceProducer,
    producers: &mut Producers,
    records: &[SourceRecord],
) -> Result<Delivery, TaskError> {
    let started = Instant::now();
    let mut next_report = DELIVERY_REPORT_AFTER;
    let mut next_replacement = REPLACE_AFTER;
    let mut reported = false;
    let mut report = |task: &mut T, what: &str| {
        let waiting = format!(
            "{} records {what} after {}s; the producer keeps retrying (is the broker reachable?)",
            records.len(),
            started.elapsed().as_secs()
        );
        warn!("{waiting}");
        task.delivery_waiting(Some(waiting));
        reported = true;
    };
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
                        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                    ) {
                        if ctx.stopping() {
                            return Ok(Delivery::Stopped);
                        }
                        if started.elapsed() >= next_report {
                            report(task, "not yet queued: the producer's queue is full");
                            next_report += DELIVERY_REPORT_AFTER;
                        }
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
    let mut all = try_join_all(pending);
    let mut refusal_check = tokio::time::interval(REFUSAL_CHECK);
    let results = loop {
        let until_report = next_report.saturating_sub(started.elapsed());
        tokio::select! {
            r = &mut all => break r,
            _ = refusal_check.tick() => {
                if let Some(refused) = producers.refusal.take() {
                    return Err(refused);
                }
            }
            _ = ctx.stopped() => {
                // An abandoned task's records may no longer be sent: the purge follows at once.
                let wait = if ctx.abandoned() {
                    Duration::ZERO
                } else {
                    STOP_ACK_WAIT.min(ctx.worker.task_shutdown_timeout / 2)
                };
                match tokio::time::timeout(wait, &mut all).await {
                    Ok(r) => break r,
                    Err(_) => return Ok(Delivery::Stopped),
                }
            }
            _ = tokio::time::sleep(until_report) => {
                report(task, "not yet acknowledged by Kafka");
                next_report += DELIVERY_REPORT_AFTER;
                if task.rewindable() && started.elapsed() >= next_replacement {
                    next_replacement += REPLACE_AFTER;
                    if let Some(next) = replacement(producers, records).await? {
                        warn!(
                            "source producer replaced: {} records waited {}s for Kafka while a new client reaches their partitions' leaders (librdkafka does not always reconnect after a broker restart); the task resumes after its stored offsets",
                            records.len(),
                            started.elapsed().as_secs()
                        );
                        return Ok(Delivery::Replaced(next));
                    }
                }
            }
        }
    }
    .map_err(|_| TaskError::Kafka("producer closed before delivery".into()))?;
    for res in results {
        if let Err((e, _)) = res {
            let fatal = producer
                .client()
                .fatal_error()
                .map(|(_, reason)| format!(" ({reason})"))
                .unwrap_or_default();
            warn!("delivery failed: {e}{fatal}");
            return Err(TaskError::Kafka(format!(
                "record not delivered: {e}{fatal}"
            )));
        }
    }
    if reported {
        info!("Kafka acknowledges records again");
        task.delivery_waiting(None);
    }
    let mut latest: BTreeMap<String, (JsonMap, JsonMap)> = BTreeMap::new();
    for r in records {
        let key = serde_json::Value::Object(r.source_partition.clone()).to_string();
        latest.insert(key, (r.source_partition.clone(), r.source_offset.clone()));
    }
    Ok(Delivery::Acknowledged(
        latest.into_values().map(|(p, o)| (p, Some(o))).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;
    use crate::config::worker::WorkerConfig;

    #[test]
    fn the_source_producer_is_set_never_to_time_out_and_to_be_gapless() {
        let worker = WorkerConfig::from_properties(props(&[
            ("bootstrap.servers", "127.0.0.1:9092"),
            ("producer.delivery.timeout.ms", "30000"),
            ("producer.retries", "3"),
            ("producer.max.in.flight.requests.per.connection", "5"),
            ("producer.linger.ms", "20"),
        ]))
        .unwrap();
        let clients = ConnectorClients::of_worker(Arc::new(worker));
        let cfg = producer_config(&clients, "restore-0").unwrap();
        assert_eq!(cfg.get("message.timeout.ms"), Some("0"));
        assert_eq!(
            cfg.get("delivery.timeout.ms"),
            None,
            "the user's time-out is dropped"
        );
        assert_eq!(cfg.get("enable.idempotence"), Some("true"));
        assert_eq!(cfg.get("enable.gapless.guarantee"), Some("true"));
        assert_eq!(
            cfg.get("max.in.flight.requests.per.connection"),
            Some("1"),
            "the user's value is replaced"
        );
        assert_eq!(cfg.get("acks"), Some("all"));
        assert_eq!(
            cfg.get("linger.ms"),
            Some("20"),
            "other overrides still apply"
        );
        assert_eq!(cfg.get("client.id"), Some("connector-producer-restore-0"));
        assert_eq!(
            cfg.get("topic.metadata.refresh.interval.ms"),
            Some("10000"),
            "a leaderless partition is looked up again within 10 s"
        );
        cfg.create::<rdkafka::producer::BaseProducer>()
            .expect("librdkafka accepts the settings");
    }
}
