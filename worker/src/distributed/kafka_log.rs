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
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
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

/// How often the background reader checks that it is keeping up: records that were already
/// in the topic at one check must be applied by the next, or the reader's consumer is replaced.
/// librdkafka's consumer of assigned partitions sometimes stops fetching for good after a
/// broker restart (librdkafka issue 5153, open); a worker then served statuses that other
/// workers had long since changed.
const WATCH: Duration = Duration::from_secs(5);

/// Replacements of a reader that still makes no progress back off up to this long between
/// them (a record the consumer never hands over, such as a transaction marker at the end of
/// the topic, must not make the worker replace its consumer every few seconds).
const WATCH_MAX: Duration = Duration::from_secs(300);

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

/// Builds the background reader's consumer, assigned so that it reads each partition from
/// the given next offset.
pub type MakeReader =
    Arc<dyn Fn(&Positions) -> Result<StreamConsumer, DistributedError> + Send + Sync>;

/// Next offset to be applied, per partition.
pub type Positions = BTreeMap<i32, i64>;

/// A topic read from the start by a background task and written through one producer.
pub struct KafkaLog {
    topic: String,
    producer: FutureProducer,
    /// Asks for end offsets and metadata; never assigned, so its requests do not wait behind
    /// the reader's fetches.
    lookup: Arc<BaseConsumer>,
    /// Next offset to be applied, per partition.
    positions: watch::Receiver<Positions>,
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

/// The usual `MakeReader`: a consumer of the worker's client settings, assigned the topic's
/// partitions at the given offsets (0 means the beginning).
pub fn assigned_reader(worker: &WorkerConfig, topic: &str) -> Result<MakeReader, DistributedError> {
    let mut ccfg = worker.client(ClientRole::Consumer)?.to_rdkafka();
    ccfg.set("group.id", format!("skiff-log-{topic}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // An offset the topic no longer holds means reading it again from the start: every
        // store keeps the last record per key, so a replay ends in the same state, while
        // skipping to the end would lose records.
        .set("auto.offset.reset", "earliest");
    let topic = topic.to_string();
    Ok(Arc::new(move |next: &Positions| {
        let consumer: StreamConsumer = ccfg
            .create()
            .map_err(kafka("cannot create a consumer", &topic))?;
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next {
            let at = if *o == 0 {
                Offset::Beginning
            } else {
                Offset::Offset(*o)
            };
            tpl.add_partition_offset(&topic, *p, at)
                .map_err(kafka("cannot assign", &topic))?;
        }
        consumer
            .assign(&tpl)
            .map_err(kafka("cannot assign", &topic))?;
        Ok(consumer)
    }))
}

/// The end offsets of the given partitions of a topic, in one ListOffsets request.
async fn end_offsets(
    lookup: &Arc<BaseConsumer>,
    topic: &str,
    parts: Vec<i32>,
) -> Result<Vec<(i32, i64)>, DistributedError> {
    let c = lookup.clone();
    let t = topic.to_string();
    // One request for every partition (`Offset::End` is the "latest" timestamp): a request
    // per partition took 0.5 s each, 12 s for the offsets topic.
    blocking(move || {
        // Nothing else polls this consumer: serve the events it queued meanwhile (connection
        // errors, mostly) so that they do not pile up over the worker's life.
        for _ in 0..1000 {
            if c.poll(Duration::ZERO).is_none() {
                break;
            }
        }
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

/// Whether a reader has yet to apply records that were in the topic when `ends` were read:
/// some partition's next offset is short of that partition's end.
fn behind(ends: &[(i32, i64)], next: &Positions) -> bool {
    ends.iter()
        .any(|(p, end)| next.get(p).copied().unwrap_or(0) < *end)
}

/// Whether a reader is stuck: some partition is still short of where it ended at the last
/// check and not one record further than it was then. Judged per partition, since a consumer
/// may stop fetching only the partitions of one broker while the others move on.
fn stuck(ends: &[(i32, i64)], before: &Positions, now: &Positions) -> bool {
    ends.iter().any(|(p, end)| {
        let at = now.get(p).copied().unwrap_or(0);
        at < *end && before.get(p).copied().unwrap_or(0) == at
    })
}

/// What the background reader needs besides its current consumer.
struct Reader {
    topic: String,
    lookup: Arc<BaseConsumer>,
    make: MakeReader,
    apply: Apply,
    /// Next offset to be applied, per partition.
    positions: watch::Sender<Positions>,
}

/// Reads the topic for as long as the log lives, replacing the consumer whenever it stops
/// making progress.
async fn follow(mut r: Reader, first: StreamConsumer) {
    let mut consumer = first;
    let mut patience = WATCH;
    loop {
        let progressed = read_until_stuck(&mut r, &consumer, patience).await;
        patience = if progressed {
            WATCH
        } else {
            (patience * 2).min(WATCH_MAX)
        };
        let replacement = loop {
            let next = r.positions.borrow().clone();
            let make = r.make.clone();
            match blocking(move || make(&next)).await {
                Ok(c) => break c,
                Err(e) => warn!(topic = %r.topic, "cannot replace the reader's consumer: {e}"),
            }
            tokio::time::sleep(WATCH).await;
        };
        let retired = std::mem::replace(&mut consumer, replacement);
        // Closing a consumer waits until librdkafka has closed it, which a wedged one may
        // never do: off the runtime, and nothing waits for it.
        drop(tokio::task::spawn_blocking(move || drop(retired)));
    }
}

/// What the last answered check saw: where the topic ended, where the reader was, and when.
struct Check {
    ends: Vec<(i32, i64)>,
    before: Positions,
    at: tokio::time::Instant,
}

/// The end offsets of the reader's topic, asked in the background.
type Asking = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<(i32, i64)>, DistributedError>> + Send>,
>;

/// Applies records from `consumer` until it is stuck (see `stuck`) for about a `patience`, or
/// its stream ends; whether it applied anything at all.
async fn read_until_stuck(r: &mut Reader, consumer: &StreamConsumer, patience: Duration) -> bool {
    let started = r.positions.borrow().clone();
    let mut stream = consumer.stream();
    let mut check = tokio::time::interval(patience);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut then: Option<Check> = None;
    // The check in flight; the stream is read meanwhile.
    let mut asking: Option<Asking> = None;
    loop {
        tokio::select! {
            m = stream.next() => match m {
                Some(Ok(m)) => {
                    let (p, o) = (m.partition(), m.offset());
                    let expected = r.positions.borrow().get(&p).copied().unwrap_or(0);
                    if o < expected {
                        warn!(
                            topic = %r.topic,
                            partition = p,
                            "reading again from offset {o}: offset {expected} is no longer in the topic"
                        );
                    }
                    (r.apply)(m.key(), m.payload(), o);
                    r.positions.send_modify(|pos| {
                        pos.insert(p, o + 1);
                    });
                }
                Some(Err(e)) => {
                    warn!(topic = %r.topic, "reading internal topic: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                None => {
                    warn!(topic = %r.topic, "the reader's consumer stopped; reading on with a new one");
                    break;
                }
            },
            ends = async {
                match asking.as_mut() {
                    Some(answer) => answer.await,
                    None => std::future::pending().await,
                }
            }, if asking.is_some() => {
                asking = None;
                // While the brokers cannot say where the topic ends, nothing is judged.
                then = ends.ok().map(|ends| Check {
                    ends,
                    before: r.positions.borrow().clone(),
                    at: tokio::time::Instant::now(),
                });
            }
            _ = check.tick() => {
                let now = r.positions.borrow().clone();
                // A check answered late leaves too short a time to judge by; the next one will.
                if then.as_ref().is_some_and(|c| {
                    c.at.elapsed() >= patience / 2 && stuck(&c.ends, &c.before, &now)
                }) {
                    warn!(
                        topic = %r.topic,
                        "the reader of this internal topic fell behind and made no progress; reading on with a new consumer"
                    );
                    break;
                }
                if asking.is_none() {
                    let (lookup, topic) = (r.lookup.clone(), r.topic.clone());
                    let parts: Vec<i32> = now.keys().copied().collect();
                    asking = Some(Box::pin(async move { end_offsets(&lookup, &topic, parts).await }));
                }
            }
        }
    }
    *r.positions.borrow() != started
}

/// How long a topic may show no partitions in the metadata before the worker gives up on it:
/// right after a topic is created, a broker may not know its partitions yet.
const PARTITIONS_WAIT: Duration = Duration::from_secs(30);

/// The partition ids of `topic`, asking again with backoff while the metadata lists none (a
/// distributed worker exited on a topic it had just created, in CI).
pub async fn topic_partitions(
    lookup: &Arc<BaseConsumer>,
    topic: &str,
) -> Result<Vec<i32>, DistributedError> {
    let started = tokio::time::Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let partitions = {
            let (c, t) = (lookup.clone(), topic.to_string());
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
        if !partitions.is_empty() {
            return Ok(partitions);
        }
        if started.elapsed() >= PARTITIONS_WAIT {
            return Err(DistributedError::Kafka(format!(
                "internal topic {topic} has no partitions after {}s: check that it exists and that this worker may describe it",
                PARTITIONS_WAIT.as_secs()
            )));
        }
        warn!(%topic, "the internal topic shows no partitions yet; asking again");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

impl KafkaLog {
    /// Creates the topic if needed, reads it to the end through `apply`, and keeps reading
    /// in the background.
    pub async fn open(
        worker: &WorkerConfig,
        spec: TopicSpec,
        apply: Apply,
    ) -> Result<KafkaLog, DistributedError> {
        let make = assigned_reader(worker, &spec.name)?;
        KafkaLog::open_with(worker, spec, apply, make).await
    }

    /// `open`, with the reader's consumers built by `make` (a test stalls the first one to
    /// check that the reader replaces it).
    pub async fn open_with(
        worker: &WorkerConfig,
        spec: TopicSpec,
        apply: Apply,
        make: MakeReader,
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
        let lookup: Arc<BaseConsumer> = Arc::new(
            worker
                .client(ClientRole::Consumer)?
                .to_rdkafka()
                .create()
                .map_err(kafka("cannot create a consumer", &topic))?,
        );
        let partitions = topic_partitions(&lookup, &topic).await?;
        let start: Positions = partitions.iter().map(|p| (*p, 0)).collect();
        let first = {
            let (make, start) = (make.clone(), start.clone());
            blocking(move || make(&start)).await?
        };
        let (tx, positions) = watch::channel(start);
        let reader = tokio::spawn(follow(
            Reader {
                topic: topic.clone(),
                lookup: lookup.clone(),
                make,
                apply,
                positions: tx,
            },
            first,
        ));
        let log = KafkaLog {
            topic,
            producer,
            lookup,
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
        let parts: Vec<i32> = self.positions.borrow().keys().copied().collect();
        end_offsets(&self.lookup, &self.topic, parts).await
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
        let caught_up = rx.wait_for(|pos| !behind(&ends, pos));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_is_behind_until_it_has_applied_what_the_topic_held() {
        let ends = [(0, 5), (1, 0), (2, 3)];
        let at = |p0: i64, p2: i64| BTreeMap::from([(0, p0), (1, 0), (2, p2)]);
        assert!(behind(&ends, &at(4, 3)));
        assert!(behind(&ends, &at(5, 2)));
        assert!(!behind(&ends, &at(5, 3)));
        // Records written after the ends were read do not count.
        assert!(!behind(&ends, &at(9, 3)));
        // A partition the reader has no position for starts at 0.
        assert!(behind(&ends, &BTreeMap::from([(0, 5)])));
        assert!(!behind(&[], &BTreeMap::new()));
    }

    #[test]
    fn a_reader_is_stuck_when_a_partition_behind_its_end_has_not_moved() {
        let ends = [(0, 5), (1, 9)];
        let at = |p0: i64, p1: i64| BTreeMap::from([(0, p0), (1, p1)]);
        // Partition 0 moves on, partition 1 stays short of its end: stuck, though the
        // positions as a whole changed.
        assert!(stuck(&ends, &at(2, 4), &at(5, 4)));
        // Both move, or the one that stayed had reached its end: not stuck.
        assert!(!stuck(&ends, &at(2, 4), &at(3, 5)));
        assert!(stuck(&ends, &at(2, 9), &at(2, 9)));
        // Idle at the end: not stuck.
        assert!(!stuck(&ends, &at(5, 9), &at(5, 9)));
        // Nothing at all read since the check, records due: stuck.
        assert!(stuck(&ends, &at(0, 0), &at(0, 0)));
    }
}
