//! A compacted topic used as a replicated log, as Connect's `KafkaBasedLog`: created if
//! missing, read from the beginning by a background reader that hands every record to the
//! store that owns the topic, written with an idempotent producer, and "read to the end" on
//! demand so a worker sees everything written before it asked.

use super::DistributedError;
use crate::config::client::ClientRole;
use crate::config::worker::WorkerConfig;
use futures::StreamExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Every Kafka call of the log gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How one internal topic is created when missing.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// `-1`: the broker's default.
    pub replication_factor: i32,
}

/// Receives each record read from the topic (key, value, offset), in order per partition.
pub type Apply = Box<dyn FnMut(Option<&[u8]>, Option<&[u8]>, i64) + Send>;

/// A topic read from the start by a background task and written through one producer.
pub struct KafkaLog {
    topic: String,
    producer: FutureProducer,
    consumer: Arc<StreamConsumer>,
    /// Next offset to be applied, per partition.
    positions: watch::Receiver<BTreeMap<i32, i64>>,
    reader: tokio::task::JoinHandle<()>,
}

fn kafka(what: &str, topic: &str) -> impl Fn(rdkafka::error::KafkaError) -> DistributedError {
    let ctx = format!("{what} (topic {topic})");
    move |e| DistributedError::Kafka(format!("{ctx}: {e}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DistributedError> + Send + 'static,
) -> Result<T, DistributedError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DistributedError::Kafka(e.to_string()))?
}

/// Creates the topic (compacted) unless it exists.
async fn ensure_topic(worker: &WorkerConfig, spec: &TopicSpec) -> Result<(), DistributedError> {
    let admin: AdminClient<DefaultClientContext> = worker
        .client(ClientRole::Admin)?
        .to_rdkafka()
        .create()
        .map_err(kafka("cannot create an admin client", &spec.name))?;
    let topic = NewTopic::new(
        &spec.name,
        spec.partitions,
        TopicReplication::Fixed(spec.replication_factor),
    )
    .set("cleanup.policy", "compact");
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = tokio::time::timeout(TIMEOUT, admin.create_topics([&topic], &opts))
        .await
        .map_err(|_| DistributedError::Kafka(format!("creating topic {} timed out", spec.name)))?
        .map_err(kafka("cannot create the topic", &spec.name))?;
    for r in results {
        match r {
            Ok(t) => info!(topic = %t, "created internal topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(DistributedError::Kafka(format!(
                    "cannot create internal topic {t}: {code} (check {}.replication.factor against the number of brokers)",
                    spec.name
                )));
            }
        }
    }
    Ok(())
}

impl KafkaLog {
    /// Creates the topic if needed, reads it to the end through `apply`, and keeps reading
    /// in the background.
    pub async fn open(
        worker: &WorkerConfig,
        spec: TopicSpec,
        mut apply: Apply,
    ) -> Result<KafkaLog, DistributedError> {
        ensure_topic(worker, &spec).await?;
        let topic = spec.name.clone();
        let mut pcfg = worker.client(ClientRole::Producer)?.to_rdkafka();
        pcfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            // Java's partitioner, so a key lands where an Apache Connect worker puts it.
            .set("partitioner", "murmur2_random");
        let producer: FutureProducer = pcfg
            .create()
            .map_err(kafka("cannot create a producer", &topic))?;
        let mut ccfg = worker.client(ClientRole::Consumer)?.to_rdkafka();
        ccfg.set("group.id", format!("skiff-log-{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: Arc<StreamConsumer> = Arc::new(
            ccfg.create()
                .map_err(kafka("cannot create a consumer", &topic))?,
        );
        let partitions = {
            let c = consumer.clone();
            let t = topic.clone();
            blocking(move || {
                let md = c
                    .fetch_metadata(Some(&t), TIMEOUT)
                    .map_err(kafka("cannot read metadata", &t))?;
                Ok(md
                    .topics()
                    .iter()
                    .flat_map(|mt| mt.partitions().iter().map(|p| p.id()))
                    .collect::<Vec<i32>>())
            })
            .await?
        };
        if partitions.is_empty() {
            return Err(DistributedError::Kafka(format!(
                "internal topic {topic} has no partitions"
            )));
        }
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(&topic, *p, Offset::Beginning)
                .map_err(kafka("cannot assign", &topic))?;
        }
        consumer
            .assign(&tpl)
            .map_err(kafka("cannot assign", &topic))?;
        let (tx, positions) = watch::channel(partitions.iter().map(|p| (*p, 0)).collect());
        let reader_consumer = consumer.clone();
        let reader_topic = topic.clone();
        let reader = tokio::spawn(async move {
            let mut stream = reader_consumer.stream();
            while let Some(m) = stream.next().await {
                match m {
                    Ok(m) => {
                        apply(m.key(), m.payload(), m.offset());
                        let (p, o) = (m.partition(), m.offset());
                        tx.send_modify(|pos: &mut BTreeMap<i32, i64>| {
                            pos.insert(p, o + 1);
                        });
                    }
                    Err(e) => {
                        warn!(topic = %reader_topic, "reading internal topic: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let log = KafkaLog {
            topic,
            producer,
            consumer,
            positions,
            reader,
        };
        log.read_to_end().await?;
        Ok(log)
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic's end offsets, by partition.
    async fn end_offsets(&self) -> Result<Vec<(i32, i64)>, DistributedError> {
        let c = self.consumer.clone();
        let t = self.topic.clone();
        let parts: Vec<i32> = self.positions.borrow().keys().copied().collect();
        // One ListOffsets request for every partition (`Offset::End` is the "latest"
        // timestamp): a request per partition waited behind the reader's fetch on the same
        // connection each time, 0.5 s per partition, 12 s for the offsets topic.
        blocking(move || {
            let mut tpl = TopicPartitionList::new();
            for p in parts {
                tpl.add_partition_offset(&t, p, Offset::End)
                    .map_err(kafka("cannot read the end offsets", &t))?;
            }
            let found = c
                .offsets_for_times(tpl, TIMEOUT)
                .map_err(kafka("cannot read the end offsets", &t))?;
            found
                .elements()
                .iter()
                .map(|e| match (e.error(), e.offset()) {
                    (Ok(()), Offset::Offset(end)) => Ok((e.partition(), end)),
                    (Ok(()), other) => Err(DistributedError::Kafka(format!(
                        "no end offset for {t}-{}: {other:?}",
                        e.partition()
                    ))),
                    (Err(err), _) => Err(kafka("cannot read the end offsets", &t)(err)),
                })
                .collect::<Result<Vec<(i32, i64)>, _>>()
        })
        .await
    }

    /// Waits until every record written before this call has been applied.
    pub async fn read_to_end(&self) -> Result<(), DistributedError> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let mut pause = Duration::from_millis(250);
        let ends = loop {
            match self.end_offsets().await {
                Ok(ends) => break ends,
                // A topic just created (workers starting together race to create it) may not
                // have its leaders known yet, and a leader may be moving: ask again.
                Err(e) if tokio::time::Instant::now() + pause < deadline => {
                    warn!(topic = %self.topic, "end offsets not known yet, asking again: {e}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        };
        let mut rx = self.positions.clone();
        let caught_up = rx.wait_for(|pos| {
            ends.iter()
                .all(|(p, end)| pos.get(p).copied().unwrap_or(0) >= *end)
        });
        match tokio::time::timeout(TIMEOUT, caught_up).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(DistributedError::Kafka(format!(
                "the reader of {} stopped",
                self.topic
            ))),
            Err(_) => Err(DistributedError::Kafka(format!(
                "could not read {} to its end within {TIMEOUT:?}",
                self.topic
            ))),
        }
    }

    /// Writes one record and waits for the brokers' acknowledgement; `None` is a tombstone.
    pub async fn send(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), DistributedError> {
        let mut record = FutureRecord::to(&self.topic).key(key);
        if let Some(v) = value {
            record = record.payload(v);
        }
        self.producer
            .send(record, TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(e, _)| DistributedError::Kafka(format!("writing to {}: {e}", self.topic)))
    }
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
