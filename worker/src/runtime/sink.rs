//! The sink task loop: consumes with rdkafka in the consumer group `connect-<connector>` (as
//! Apache Connect does, so lag and offset tools work), hands records to the task in offset order,
//! and commits only the offsets the task reports durable.
//!
//! Rebalances: before partitions are given up, the consumer context waits on the task's barrier
//! (what it is still writing for them) and forwards the revocation over a channel. The loop takes
//! it in before anything else it does next and after every message: the task drops those
//! partitions' state, records of them fetched before the revocation are dropped unwritten (their
//! next owner reads them again from the committed offset), and records fetched after it come from
//! the new assignment.
//!
//! A task busy for a while (its uploads waiting on S3) does not stop the consumer: its partitions
//! are paused and the consumer polled until the task is free, so it stays in its group
//! ([`keeping_membership`]).

use super::consumer_lag;
use super::consumer_stats::ConsumerStatistics;
use super::group_health::{GroupHealth, STATS_INTERVAL_MS, StallLimits};
use super::kafka_trouble::KafkaTrouble;
use super::refusal::{Refusal, refused, refused_for_good};
use super::status::StatusStore;
use super::{TaskContext, TaskError, TopicPartition};
use crate::config::client::ClientRole;
use crate::groups::brokers::GroupAccess;
use crate::groups::previous_consumer;
use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientContext, Offset, Timestamp, TopicPartitionList};
use regex::Regex;
use skiff_format::{Header, Record, TimestampType};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

/// One consumed record and where it came from.
#[derive(Debug, Clone)]
pub struct SinkRecord {
    pub topic: String,
    pub partition: i32,
    pub record: Record,
}

/// What a sink connector's task implements; the loop below drives it.
#[async_trait]
pub trait SinkTask: Send {
    /// Takes a batch of records, in offset order per partition. May write some out.
    async fn put(&mut self, records: Vec<SinkRecord>) -> Result<(), TaskError>;
    /// Writes out what is due (everything when `all`), and returns for each partition the next
    /// offset whose records are all durable: what may be committed.
    async fn flush(&mut self, all: bool) -> Result<BTreeMap<TopicPartition, i64>, TaskError>;
    /// The partitions no longer belong to this task: drop their unwritten state.
    fn revoked(&mut self, partitions: &[TopicPartition]);
    /// What the consumer's rebalance callback waits for before it gives partitions up, so
    /// their next owner sees everything this task wrote (`None`: nothing to wait for).
    fn revocation_barrier(&self) -> Option<RevocationBarrier> {
        None
    }
    /// Kafka has been failing the consumer for a while (`Some`: what it said), or no longer
    /// (`None`), for the task's status.
    fn kafka_trouble(&mut self, _trouble: Option<String>) {}
}

/// Blocks until what a task has in flight for the given partitions is durable.
pub type RevocationBarrier = Arc<dyn Fn(&[TopicPartition]) + Send + Sync>;

/// Which topics a sink reads.
#[derive(Debug, Clone)]
pub enum Subscription {
    Topics(Vec<String>),
    /// Java-style full-match regex (built with [`anchored`]); re-evaluated as topics appear.
    Regex(Regex),
}

/// How often the task is asked to write out what is due and offsets are committed. Objects
/// close and offsets are committed up to this much after they are due: with a 1 s tick, a
/// backup's last records were committed up to 2 s after `flush.interval.ms` (measured in the
/// benchmark), so the tick is short and a commit carries only what moved (see [`Commits`]).
const FLUSH_TICK: Duration = Duration::from_millis(250);
/// How often every owned partition's offset is committed again, moved or not: an asynchronous
/// commit that failed is sent again at the latest then.
const FULL_COMMIT_EVERY: Duration = Duration::from_secs(5);

/// The offsets last committed, so that a commit carries only the partitions that moved.
struct Commits {
    last: BTreeMap<TopicPartition, i64>,
    last_full: Instant,
}

impl Commits {
    fn new() -> Self {
        Commits {
            last: BTreeMap::new(),
            last_full: Instant::now(),
        }
    }

    /// What of `offsets` (those of every partition the task owns) to commit now: the partitions
    /// whose offset moved since it was last committed, or all of them every
    /// [`FULL_COMMIT_EVERY`]. Counts them as committed; a full commit also forgets the
    /// partitions the task no longer owns.
    fn due(&mut self, offsets: BTreeMap<TopicPartition, i64>) -> BTreeMap<TopicPartition, i64> {
        if self.last_full.elapsed() >= FULL_COMMIT_EVERY {
            self.last_full = Instant::now();
            self.last.clone_from(&offsets);
            return offsets;
        }
        let due: BTreeMap<TopicPartition, i64> = offsets
            .into_iter()
            .filter(|(tp, o)| self.last.get(tp) != Some(o))
            .collect();
        self.last.extend(due.iter().map(|(tp, o)| (tp.clone(), *o)));
        due
    }
}
/// How often a regex subscription looks for new topics.
const TOPIC_REFRESH: Duration = Duration::from_secs(10);
/// Largest batch handed to the task at once.
const MAX_BATCH: usize = 2000;
/// Timeout for metadata and synchronous commit calls.
const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Forwards revocations from librdkafka's thread to the task loop, after the task's barrier.
/// Also hands librdkafka's statistics to the consumer's [`GroupHealth`].
struct RebalanceForwarder {
    revoked: mpsc::Sender<Vec<TopicPartition>>,
    barrier: Option<RevocationBarrier>,
    health: Arc<GroupHealth>,
    /// The task's span, so that rebalance lines from librdkafka's thread name the task.
    span: tracing::Span,
    /// A login or permission the cluster refused, which fails the task.
    refusal: Refusal,
    /// Where the consumer's lag goes: the task's entry in the status table (`/metrics`).
    lag: LagReport,
    /// The errors of a fault Kafka is going through, for the task's status; shared by the
    /// task's consumers, so a replacement carries on what its predecessor saw.
    trouble: Arc<KafkaTrouble>,
}

impl ClientContext for RebalanceForwarder {
    fn stats_raw(&self, statistics: &[u8]) {
        let Some(stats) = ConsumerStatistics::parse(statistics) else {
            return;
        };
        self.health.report(&stats);
        if let Some(lag) = consumer_lag::lag_of(&stats) {
            self.lag
                .status
                .set_lag(&self.lag.connector, self.lag.task, lag);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let _span = self.span.enter();
        self.refusal.note(&error, reason);
        if !refused_for_good(&error) {
            self.trouble.note(&error, reason);
        }
    }
}

impl ConsumerContext for RebalanceForwarder {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let _span = self.span.enter();
            let parts = partitions_of(tpl);
            let started = Instant::now();
            if let Some(barrier) = &self.barrier {
                barrier(&parts);
            }
            info!(
                partitions = parts.len(),
                waited_ms = started.elapsed().as_millis() as u64,
                "partitions revoked, after their uploads ended"
            );
            // The loop may be gone when the consumer closes; nothing to tell then.
            let _ = self.revoked.send(parts);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let _span = self.span.enter();
            info!(partitions = tpl.count(), "partitions assigned");
        }
    }
}

/// The task a consumer's lag is recorded for.
struct LagReport {
    status: StatusStore,
    connector: String,
    task: u32,
}

/// The partitions a librdkafka list names.
fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// Topics never backed up: Kafka's internal ones and the worker's own.
fn is_excluded_topic(topic: &str, internal: &BTreeSet<String>) -> bool {
    topic.starts_with("__") || internal.contains(topic)
}

/// The sink consumer's settings that Skiff chooses unless the worker's `consumer.` keys or the
/// connector's `consumer.override.` keys set them.
fn apply_consumer_defaults(cfg: &mut rdkafka::ClientConfig) {
    if cfg.get("auto.offset.reset").is_none() {
        cfg.set("auto.offset.reset", "earliest");
    }
    // librdkafka prefetches up to 64 MiB per consumer by default, on top of the task's own
    // buffers (`buffer.max.bytes`), and the task copies a batch of what is queued: with 100 KiB
    // records, 16 MiB gave a 2-task backup a peak of 200-228 MiB, 8 MiB 105-135 MiB, at the
    // same throughput (1 KiB and 100 KiB records, 1 and 2 tasks, measured); 4 MiB saved a
    // little more for about 7% more CPU per GB.
    if cfg.get("queued.max.messages.kbytes").is_none() {
        cfg.set("queued.max.messages.kbytes", "8192");
    }
    // Once that queue is full librdkafka waits `fetch.queue.backoff.ms` (1 s by default) before
    // fetching again, while a task drains 8 MiB in a fraction of that: the consumer sat idle
    // three quarters of the time (measured in the benchmark).
    if cfg.get("fetch.queue.backoff.ms").is_none() {
        cfg.set("fetch.queue.backoff.ms", "10");
    }
    // librdkafka also keeps 100,000 messages per partition queued whatever their size; with
    // small records their per-message overhead, not the payload cap above, sets the memory
    // (34 MB of a 2-task backup of 100 B records, measured).
    if cfg.get("queued.min.messages").is_none() {
        cfg.set("queued.min.messages", "20000");
    }
    // A dead worker's partitions wait for its consumer's session to end before the group gives
    // them to the task that took over: with librdkafka's (and the Java consumer's) 45 s, a
    // backup stalled 45 s after a kill, against 10 s for Connect's own group session.
    // librdkafka heartbeats from its own thread, so a busy task never misses one. A broker
    // restart longer than the session now times it out and the consumer rejoins; a rejoin that
    // never completes is the stuck group `group_health` replaces the consumer for.
    if cfg.get("session.timeout.ms").is_none() {
        cfg.set("session.timeout.ms", "10000");
        if cfg.get("heartbeat.interval.ms").is_none() {
            cfg.set("heartbeat.interval.ms", "3000");
        }
    }
}

/// Adjusts the settings of the `n`th consumer a sink task builds (0 first): a seam for tests
/// that need a consumer to misbehave in a real way.
pub type TuneConsumer = Arc<dyn Fn(&mut rdkafka::ClientConfig, u32) + Send + Sync>;

/// A sink task's consumer and what comes out of its librdkafka thread.
struct GroupConsumer {
    consumer: Arc<StreamConsumer<RebalanceForwarder>>,
    revoked: mpsc::Receiver<Vec<TopicPartition>>,
    health: Arc<GroupHealth>,
    /// Told once the consumer is closed, if someone waits for that.
    closed: Option<oneshot::Sender<()>>,
}

impl Drop for GroupConsumer {
    /// Closing leaves the group and runs the revocation callback, which blocks on the task's
    /// barrier, and a stuck consumer's close lasts as long as it stays stuck. So it happens on
    /// a thread of its own, which neither the async runtime nor its shutdown waits for.
    fn drop(&mut self) {
        let consumer = self.consumer.clone();
        let closed = self.closed.take();
        let closing = std::thread::Builder::new()
            .name("sink-consumer-close".into())
            .spawn(move || {
                close_when_last(consumer);
                if let Some(closed) = closed {
                    // Nobody waits any more when the wait timed out.
                    let _ = closed.send(());
                }
            });
        if let Err(e) = closing {
            warn!("no thread to close a sink consumer on ({e}): it closes where it was dropped");
        }
    }
}

/// Drops the consumer once this is its last reference (a commit may hold another for a moment),
/// so that the close happens here.
fn close_when_last(mut consumer: Arc<StreamConsumer<RebalanceForwarder>>) {
    loop {
        match Arc::try_unwrap(consumer) {
            Ok(last) => return drop(last),
            Err(shared) => {
                consumer = shared;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// How long a stopping or failing task waits for its consumer to leave the group.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

/// Ends a task and closes its consumer, waiting (up to [`CLOSE_WAIT`]) until it has left the
/// group. The task goes first: a task that ends with work in flight releases the barrier
/// before the closing consumer gives its partitions up.
async fn close<T: SinkTask>(task: T, mut group: GroupConsumer, task_name: &str) {
    drop(task);
    let (closed, waiting) = oneshot::channel();
    group.closed = Some(closed);
    drop(group);
    if tokio::time::timeout(CLOSE_WAIT, waiting).await.is_err() {
        warn!(
            task = task_name,
            "the sink consumer is still closing after {CLOSE_WAIT:?}; going on"
        );
    }
}

/// Why the consuming loop returned without an error.
enum Ended {
    /// The task was asked to stop, or abandoned.
    Stopped,
    /// The consumer's group membership never settled again; the description says how.
    Stuck(String),
}

/// Runs a sink task until it is asked to stop or fails. On a graceful stop, flushes and commits
/// within the graceful timeout; an abandoned task writes and commits nothing more.
pub async fn run<T: SinkTask>(
    ctx: TaskContext,
    task: T,
    subscription: Subscription,
) -> Result<(), TaskError> {
    run_with(ctx, task, subscription, Arc::new(|_, _| {})).await
}

/// [`run`], with the settings of each consumer it builds passed through `tune` last.
pub async fn run_with<T: SinkTask>(
    mut ctx: TaskContext,
    mut task: T,
    subscription: Subscription,
    tune: TuneConsumer,
) -> Result<(), TaskError> {
    let mut cfg = ctx.clients.client(ClientRole::Consumer)?.to_rdkafka();
    let group_id = ctx.clients.sink_group(&ctx.connector);
    let client_id = format!("connector-consumer-{}", ctx.task_name());
    cfg.set("group.id", &group_id)
        .set("client.id", &client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
    apply_consumer_defaults(&mut cfg);
    // One `consumer.group.instance.id` for every task would have them fence each other.
    cfg.remove("group.instance.id");
    let previous = PreviousConsumer::of(&ctx, group_id, client_id);
    let limits = StallLimits::of(&cfg);
    let internal: BTreeSet<String> = [
        "config.storage.topic",
        "offset.storage.topic",
        "status.storage.topic",
    ]
    .iter()
    .filter_map(|k| ctx.worker.raw.get(*k).cloned())
    .collect();
    let mut built = 0;
    let mut unsettled_in_a_row = 0;
    let trouble = Arc::new(KafkaTrouble::default());
    // The worker showed the task RUNNING when it started it; setting it again here could undo
    // a PAUSED the herder set meanwhile.
    info!(task = %ctx.task_name(), "sink task started");
    loop {
        let mut settings = cfg.clone();
        tune(&mut settings, built);
        built += 1;
        // A replaced consumer was this task's own; the first one's predecessors only when they
        // are known to be gone.
        if built > 1 || ctx.reclaims {
            let asking = ctx.clone();
            tokio::select! {
                // A stop goes on at once: the consumer built next sees it before consuming.
                _ = ctx.stopped() => {}
                _ = remove_previous_consumer(&asking, previous.as_ref()) => {}
            }
        }
        let mut group = build_consumer(
            &ctx,
            &settings,
            &task,
            limits.backed_off(unsettled_in_a_row),
            trouble.clone(),
        )?;
        let ended = consume(&mut ctx, &mut task, &mut group, &subscription, &internal).await;
        match ended {
            Ok(Ended::Stopped) => return finish(&ctx, task, group).await,
            Ok(Ended::Stuck(why)) => {
                if group.health.ever_settled() {
                    unsettled_in_a_row = 0;
                } else {
                    unsettled_in_a_row += 1;
                }
                warn!(task = %ctx.task_name(), "sink consumer replaced: {why}; librdkafka does not always rejoin its group after a broker restart. Its partitions' unwritten records are dropped uncommitted and read again");
                trouble.replaced(&why);
                if let Err(e) = give_up_partitions(&mut task, &group) {
                    close(task, group, &ctx.task_name()).await;
                    return Err(e);
                }
                // Closed without waiting: a stuck consumer may never finish closing.
                drop(group);
            }
            Err(e) => {
                close(task, group, &ctx.task_name()).await;
                return Err(e);
            }
        }
    }
}

/// Where a sink task's previous consumer is found: the task's group and client id, and the
/// worker's own group connection to remove it with. None where that connection cannot log in as
/// librdkafka would (GSSAPI, OAUTHBEARER): a killed consumer then holds its partitions until its
/// session ends, as before.
struct PreviousConsumer {
    access: GroupAccess,
    group: String,
    client_id: String,
}

impl PreviousConsumer {
    fn of(ctx: &TaskContext, group: String, client_id: String) -> Option<Self> {
        match GroupAccess::of(&ctx.clients) {
            Ok(access) => Some(PreviousConsumer {
                access,
                group,
                client_id,
            }),
            Err(e) => {
                debug!(task = %ctx.task_name(), "a killed consumer of the task is left to its session: {e}");
                None
            }
        }
    }
}

/// How long taking a previous consumer out of the group may take before the task goes on.
const REMOVAL_LIMIT: Duration = Duration::from_secs(15);

/// Before a consumer of the task joins its group: takes out a previous consumer of the task
/// that is still a member (see [`previous_consumer`]), so the group rebalances at once rather
/// than when that consumer's session ends. Only for consumers known to be gone: the task's own
/// replaced one, or those of a process that is gone ([`TaskContext::reclaims`]). On failure the
/// task goes on, and the group waits for the session as it would have.
async fn remove_previous_consumer(ctx: &TaskContext, previous: Option<&PreviousConsumer>) {
    let Some(p) = previous else { return };
    let removed = tokio::time::timeout(
        REMOVAL_LIMIT,
        previous_consumer::remove(&p.access, &p.group, &p.client_id),
    )
    .await
    .unwrap_or_else(|_| {
        Err(TaskError::Kafka(format!(
            "no answer within {REMOVAL_LIMIT:?}"
        )))
    });
    match removed {
        Ok(0) => {}
        Ok(n) => info!(
            task = %ctx.task_name(),
            "took {n} earlier consumer(s) of the task out of group {}, so its partitions move at once",
            p.group
        ),
        Err(e) => info!(
            task = %ctx.task_name(),
            "could not look for an earlier consumer of the task in group {}; one killed before would keep its partitions until its session (consumer.session.timeout.ms) ends: {e}",
            p.group
        ),
    }
}

/// Creates a consumer with the task's revocation barrier and a fresh revocation channel: a
/// replaced consumer's late revocations go nowhere.
fn build_consumer<T: SinkTask>(
    ctx: &TaskContext,
    settings: &rdkafka::ClientConfig,
    task: &T,
    limits: StallLimits,
    trouble: Arc<KafkaTrouble>,
) -> Result<GroupConsumer, TaskError> {
    let (tx, revoked) = mpsc::channel();
    let health = Arc::new(GroupHealth::new(limits));
    let consumer = settings.create_with_context(RebalanceForwarder {
        revoked: tx,
        barrier: task.revocation_barrier(),
        health: health.clone(),
        span: tracing::Span::current(),
        refusal: Refusal::new(ClientRole::Consumer),
        lag: LagReport {
            status: ctx.status.clone(),
            connector: ctx.connector.clone(),
            task: ctx.task,
        },
        trouble,
    })?;
    Ok(GroupConsumer {
        consumer: Arc::new(consumer),
        revoked,
        health,
        closed: None,
    })
}

/// Consumes until the task is asked to stop, fails, or the consumer is stuck.
async fn consume<T: SinkTask>(
    ctx: &mut TaskContext,
    task: &mut T,
    group: &mut GroupConsumer,
    subscription: &Subscription,
    internal: &BTreeSet<String>,
) -> Result<Ended, TaskError> {
    // Held mutably, so that the future needs the receiver to be `Send` only, not `Sync`.
    let GroupConsumer {
        consumer,
        revoked: rx,
        health,
        ..
    } = group;
    let mut subscribed: Vec<String> = Vec::new();
    resubscribe(consumer, subscription, internal, &mut subscribed, health).await?;

    let mut errors = ConsumeErrors::default();
    let mut commits = Commits::new();
    let mut flush_tick = tokio::time::interval(FLUSH_TICK);
    let mut refresh_tick = tokio::time::interval(TOPIC_REFRESH);
    loop {
        tokio::select! {
            // A stop wins over more records.
            biased;
            _ = ctx.stopped() => return Ok(Ended::Stopped),
            _ = flush_tick.tick() => {
                if let Some(refused) = consumer.context().refusal.take() {
                    return Err(refused);
                }
                if let Some(shown) = consumer.context().trouble.changed() {
                    task.kafka_trouble(shown);
                }
                apply_revocations(rx, task);
                let mut held = HeldBack::default();
                let mut offsets =
                    keeping_membership(task.flush(false), consumer, rx, internal, &mut errors, &mut held)
                        .await?;
                // Partitions revoked while the task was writing out: their offsets were worked
                // out from what it held for them, which is dropped.
                held.take_revocations(rx);
                for revoked in &held.revoked {
                    offsets.retain(|tp, _| !revoked.contains(tp));
                }
                commit(consumer, commits.due(offsets), CommitMode::Async).await?;
                deliver_held(task, held, consumer, rx, internal, &mut errors).await?;
                if !subscribed.is_empty()
                    && let Some(stall) = health.stuck()
                {
                    // A consumer whose topics are all gone (or not made yet) idles in its
                    // group by design.
                    if stall.idle && !any_topic_exists(consumer, &subscribed).await {
                        health.restart();
                    } else {
                        return Ok(Ended::Stuck(stall.description));
                    }
                }
            }
            _ = refresh_tick.tick(), if matches!(subscription, Subscription::Regex(_)) => {
                resubscribe(consumer, subscription, internal, &mut subscribed, health).await?;
            }
            first = consumer.recv() => {
                let first = match first {
                    Ok(m) => m,
                    Err(e) => {
                        consumer.context().trouble.note_consuming(&e);
                        errors.failed(e)?;
                        continue;
                    }
                };
                errors.cleared();
                consumer.context().trouble.clear();
                apply_revocations(rx, task);
                let mut held = HeldBack::default();
                push_message(&mut held.records, &first, internal);
                drop(first);
                while held.records.len() < MAX_BATCH {
                    let Some(next) = consumer.recv().now_or_never() else { break };
                    let next = match next {
                        Ok(m) => m,
                        Err(e) => {
                            errors.failed(e)?;
                            break;
                        }
                    };
                    // Records of the revoked partitions fetched before the revocation are
                    // dropped: uncommitted, they are read again by the partitions' next owner,
                    // and this task must write nothing more for them. The task takes the
                    // revocations (and those of the last poll, which returned no record) before
                    // the batch.
                    held.take_revocations(rx);
                    push_message(&mut held.records, &next, internal);
                }
                deliver_held(task, held, consumer, rx, internal, &mut errors).await?;
            }
        }
    }
}

/// Whether the cluster has one of `topics`; a cluster that cannot say counts as having one.
async fn any_topic_exists(
    consumer: &Arc<StreamConsumer<RebalanceForwarder>>,
    topics: &[String],
) -> bool {
    cluster_topics(consumer)
        .await
        .map_or(true, |names| names.iter().any(|n| topics.contains(n)))
}

/// The names of the cluster's topics, from a metadata request off the async runtime.
async fn cluster_topics(
    consumer: &Arc<StreamConsumer<RebalanceForwarder>>,
) -> Result<Vec<String>, TaskError> {
    let c = consumer.clone();
    let md = tokio::task::spawn_blocking(move || c.fetch_metadata(None, KAFKA_CALL_TIMEOUT))
        .await
        .map_err(|e| TaskError::Other(e.to_string()))??;
    Ok(md.topics().iter().map(|t| t.name().to_string()).collect())
}

/// A stopped task writes out what it holds and commits it, unless it was abandoned.
async fn finish<T: SinkTask>(
    ctx: &TaskContext,
    mut task: T,
    group: GroupConsumer,
) -> Result<(), TaskError> {
    if !ctx.abandoned() {
        info!(task = %ctx.task_name(), "sink task stopping: flushing and committing");
        apply_revocations(&group.revoked, &mut task);
        let offsets = task.flush(true).await?;
        // The session may run out while the task writes out what it holds.
        if !ctx.abandoned() {
            let committed = commit(&group.consumer, offsets, CommitMode::Sync).await;
            close(task, group, &ctx.task_name()).await;
            return committed;
        }
    }
    warn!(task = %ctx.task_name(), "sink task abandoned: its records not yet in the bucket are dropped uncommitted, for the partitions' next owner to back up");
    close(task, group, &ctx.task_name()).await;
    Ok(())
}

/// Before a stuck consumer is replaced: waits for the uploads of the partitions it still
/// holds, as a rebalance would, and has the task drop their state, so the replacement starts
/// them again from their committed offsets. Fails (and so fails the task) when the consumer
/// cannot say what it holds: keeping state the replacement would add to again could duplicate
/// records.
fn give_up_partitions<T: SinkTask>(task: &mut T, group: &GroupConsumer) -> Result<(), TaskError> {
    apply_revocations(&group.revoked, task);
    let held = partitions_of(&group.consumer.assignment()?);
    if !held.is_empty() {
        if let Some(barrier) = task.revocation_barrier() {
            barrier(&held);
        }
        task.revoked(&held);
    }
    Ok(())
}

/// How long consuming may keep failing (broker restarting, leader moving, network cut) before
/// the task fails.
const CONSUME_ERROR_LIMIT: Duration = Duration::from_secs(300);
/// Errors this far apart belong to separate faults.
const CONSUME_ERROR_GAP: Duration = Duration::from_secs(60);

/// The consumer's errors: librdkafka reconnects and retries by itself, as the Java consumer does,
/// so a non-fatal error is logged and ridden out; a fatal one, or errors that go on for
/// [`CONSUME_ERROR_LIMIT`] without a record in between, fail the task.
#[derive(Default)]
struct ConsumeErrors {
    /// First and latest error of the current run of errors.
    run: Option<(Instant, Instant)>,
}

impl ConsumeErrors {
    fn failed(&mut self, e: KafkaError) -> Result<(), TaskError> {
        self.failed_at(e, Instant::now())
    }

    fn failed_at(&mut self, e: KafkaError, now: Instant) -> Result<(), TaskError> {
        if matches!(e, KafkaError::MessageConsumptionFatal(_)) {
            return Err(e.into());
        }
        if refused_for_good(&e) {
            return Err(refused(ClientRole::Consumer, &e.to_string()));
        }
        let first = match self.run {
            Some((first, latest)) if now.duration_since(latest) < CONSUME_ERROR_GAP => first,
            _ => now,
        };
        self.run = Some((first, now));
        if now.duration_since(first) >= CONSUME_ERROR_LIMIT {
            return Err(e.into());
        }
        warn!(
            "consuming failed, retrying (the task fails if this lasts {CONSUME_ERROR_LIMIT:?}): {e}"
        );
        Ok(())
    }

    /// A record arrived: the fault is over.
    fn cleared(&mut self) {
        self.run = None;
    }
}

/// How long a call into the task may leave the consumer unpolled before its partitions are
/// paused and the consumer is polled while the call goes on (as Apache Connect's runtime does
/// while a sink task asks to be retried). A task waiting on S3, its upload lanes busy retrying,
/// would otherwise leave the group once `max.poll.interval.ms` passed, its partitions moving to
/// another task while its own uploads of them still run, and its lag would go unreported.
const PAUSE_AFTER: Duration = Duration::from_secs(5);

/// What the consumer delivered while the task was busy: records fetched before the pause took
/// effect or from partitions assigned meanwhile, and the revocations of that time, in order,
/// for the task once it is free.
#[derive(Default)]
struct HeldBack {
    records: Vec<SinkRecord>,
    revoked: Vec<Vec<TopicPartition>>,
}

impl HeldBack {
    /// Takes in the revocations forwarded so far; the records held of those partitions are
    /// dropped (their next owner reads them again from the committed offset).
    fn take_revocations(&mut self, rx: &mut mpsc::Receiver<Vec<TopicPartition>>) {
        while let Ok(revoked) = rx.try_recv() {
            self.records.retain(|r| {
                !revoked
                    .iter()
                    .any(|(t, p)| *t == r.topic && *p == r.partition)
            });
            self.revoked.push(revoked);
        }
    }
}

/// Pauses every partition the consumer is assigned now, adding them to `paused`.
fn pause_assignment(
    consumer: &StreamConsumer<RebalanceForwarder>,
    paused: &mut BTreeSet<TopicPartition>,
) -> Result<(), TaskError> {
    let assigned = consumer.assignment()?;
    if assigned.count() > 0 {
        consumer.pause(&assigned)?;
        paused.extend(partitions_of(&assigned));
    }
    Ok(())
}

/// Resumes every partition in `paused` and every one assigned now. librdkafka keeps a
/// partition paused through its revocation and a later assignment, so one revoked while paused
/// and assigned again would otherwise never be read.
fn resume_all(
    consumer: &StreamConsumer<RebalanceForwarder>,
    paused: &BTreeSet<TopicPartition>,
) -> Result<(), TaskError> {
    let mut all = paused.clone();
    all.extend(partitions_of(&consumer.assignment()?));
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in &all {
        tpl.add_partition(topic, *partition);
    }
    consumer.resume(&tpl)?;
    Ok(())
}

/// Runs one call into the task, `put` or `flush`; once it has taken [`PAUSE_AFTER`], pauses the
/// consumer's partitions and polls it until the call returns, so that it stays in its group and
/// reports its statistics and faults. librdkafka fetches a paused partition again from the
/// record after the last one it delivered: none is skipped or read twice.
async fn keeping_membership<R>(
    call: impl Future<Output = Result<R, TaskError>>,
    consumer: &StreamConsumer<RebalanceForwarder>,
    rx: &mut mpsc::Receiver<Vec<TopicPartition>>,
    internal: &BTreeSet<String>,
    errors: &mut ConsumeErrors,
    held: &mut HeldBack,
) -> Result<R, TaskError> {
    tokio::pin!(call);
    let slow = tokio::time::sleep(PAUSE_AFTER);
    tokio::pin!(slow);
    let mut paused = false;
    let mut pausing = BTreeSet::new();
    loop {
        tokio::select! {
            biased;
            done = &mut call => {
                let done = done?;
                if paused {
                    resume_all(consumer, &pausing)?;
                    info!("task free again: its partitions are resumed");
                }
                return Ok(done);
            }
            _ = &mut slow, if !paused => {
                pause_assignment(consumer, &mut pausing)?;
                paused = true;
                info!("task busy for over {PAUSE_AFTER:?} (waiting on S3?): its partitions are paused and the consumer stays in its group meanwhile");
            }
            polled = consumer.recv(), if paused => {
                held.take_revocations(rx);
                match polled {
                    Ok(m) => {
                        consumer.context().trouble.clear();
                        push_message(&mut held.records, &m, internal);
                        drop(m);
                        // From a partition assigned since the last pause.
                        pause_assignment(consumer, &mut pausing)?;
                    }
                    Err(e) => {
                        consumer.context().trouble.note_consuming(&e);
                        errors.failed(e)?;
                    }
                }
            }
        }
    }
}

/// Hands the task the revocations and then the records held back, keeping the consumer in its
/// group while it takes them in (which may hold back more).
async fn deliver_held<T: SinkTask>(
    task: &mut T,
    mut held: HeldBack,
    consumer: &StreamConsumer<RebalanceForwarder>,
    rx: &mut mpsc::Receiver<Vec<TopicPartition>>,
    internal: &BTreeSet<String>,
    errors: &mut ConsumeErrors,
) -> Result<(), TaskError> {
    loop {
        held.take_revocations(rx);
        for revoked in held.revoked.drain(..) {
            task.revoked(&revoked);
        }
        if held.records.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut held.records);
        keeping_membership(task.put(batch), consumer, rx, internal, errors, &mut held).await?;
    }
}

fn apply_revocations<T: SinkTask>(rx: &mpsc::Receiver<Vec<TopicPartition>>, task: &mut T) {
    while let Ok(revoked) = rx.try_recv() {
        task.revoked(&revoked);
    }
}

fn push_message<M: Message>(batch: &mut Vec<SinkRecord>, m: &M, internal: &BTreeSet<String>) {
    if is_excluded_topic(m.topic(), internal) {
        return;
    }
    let (timestamp, timestamp_type) = match m.timestamp() {
        Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
        Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
        Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
    };
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| Header {
                    key: h.key.to_string(),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect()
        })
        .unwrap_or_default();
    batch.push(SinkRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        record: Record {
            offset: m.offset(),
            timestamp,
            timestamp_type,
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
        },
    });
}

/// Commits `offsets` for the partitions this consumer still owns.
async fn commit(
    consumer: &Arc<StreamConsumer<RebalanceForwarder>>,
    offsets: BTreeMap<TopicPartition, i64>,
    mode: CommitMode,
) -> Result<(), TaskError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let assigned = consumer.assignment()?;
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        if assigned.find_partition(&topic, partition).is_some() {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
    }
    if tpl.count() == 0 {
        return Ok(());
    }
    let c = consumer.clone();
    let res = tokio::time::timeout(
        KAFKA_CALL_TIMEOUT,
        tokio::task::spawn_blocking(move || c.commit(&tpl, mode)),
    )
    .await;
    match res {
        Ok(Ok(Ok(()))) => Ok(()),
        // A commit that fails leaves the records to be consumed again; the task skips what is
        // already durable, so this is a warning, not a failure.
        Ok(Ok(Err(e))) => {
            warn!("offset commit failed (will be retried): {e}");
            Ok(())
        }
        Ok(Err(e)) => Err(TaskError::Other(format!("offset commit task failed: {e}"))),
        Err(_) => {
            warn!("offset commit timed out after {KAFKA_CALL_TIMEOUT:?} (will be retried)");
            Ok(())
        }
    }
}

/// Subscribes to the topics the subscription names; for a regex, to the matching topics that
/// exist now (Java semantics: the whole name must match), leaving out internal topics.
async fn resubscribe(
    consumer: &Arc<StreamConsumer<RebalanceForwarder>>,
    subscription: &Subscription,
    internal: &BTreeSet<String>,
    current: &mut Vec<String>,
    health: &GroupHealth,
) -> Result<(), TaskError> {
    let wanted: Vec<String> = match subscription {
        Subscription::Topics(t) => t.clone(),
        Subscription::Regex(re) => {
            let mut names: Vec<String> = cluster_topics(consumer)
                .await?
                .into_iter()
                .filter(|n| !is_excluded_topic(n, internal) && re.is_match(n))
                .collect();
            names.sort();
            names
        }
    };
    if &wanted != current && !wanted.is_empty() {
        let refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        health.restart();
        info!(topics = ?wanted, "subscribed");
        *current = wanted;
    }
    Ok(())
}

/// Compiles a `topics.regex` with Java's `Pattern.matches` semantics: the whole name must match.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_consume_errors_are_ridden_out_until_they_last_too_long() {
        use rdkafka::types::RDKafkaErrorCode::{BrokerTransportFailure, Fatal};
        let transport = || KafkaError::MessageConsumption(BrokerTransportFailure);
        let t0 = Instant::now();
        let mut errors = ConsumeErrors::default();
        assert!(errors.failed_at(transport(), t0).is_ok());
        // Errors every 10 s for almost the limit: still retried.
        let mut t = t0;
        while t + Duration::from_secs(10) < t0 + CONSUME_ERROR_LIMIT {
            t += Duration::from_secs(10);
            assert!(errors.failed_at(transport(), t).is_ok());
        }
        assert!(
            errors
                .failed_at(transport(), t0 + CONSUME_ERROR_LIMIT)
                .is_err()
        );
        // A record in between, or a long quiet gap, starts a new run.
        errors.cleared();
        assert!(
            errors
                .failed_at(transport(), t0 + CONSUME_ERROR_LIMIT * 2)
                .is_ok()
        );
        let later = t0 + CONSUME_ERROR_LIMIT * 2 + CONSUME_ERROR_GAP * 2;
        assert!(errors.failed_at(transport(), later).is_ok());
        assert!(
            errors
                .failed_at(KafkaError::MessageConsumptionFatal(Fatal), later)
                .is_err()
        );
    }

    #[test]
    fn a_commit_carries_the_partitions_that_moved_and_all_of_them_now_and_then() {
        let tp = |p: i32| ("t".to_string(), p);
        let offsets = |a: i64, b: i64| BTreeMap::from([(tp(0), a), (tp(1), b)]);
        let mut commits = Commits::new();
        assert_eq!(commits.due(offsets(5, 7)), offsets(5, 7), "first: all");
        assert_eq!(commits.due(offsets(5, 7)), BTreeMap::new(), "nothing moved");
        assert_eq!(
            commits.due(offsets(5, 9)),
            BTreeMap::from([(tp(1), 9)]),
            "only the one that moved"
        );
        commits.last_full -= FULL_COMMIT_EVERY;
        assert_eq!(
            commits.due(offsets(5, 9)),
            offsets(5, 9),
            "all, after a while"
        );
        assert_eq!(commits.due(offsets(5, 9)), BTreeMap::new());
        commits.last_full -= FULL_COMMIT_EVERY;
        let kept = BTreeMap::from([(tp(0), 5)]);
        assert_eq!(commits.due(kept.clone()), kept, "all that is still owned");
        assert_eq!(commits.last, kept, "a revoked partition is forgotten");
    }

    #[test]
    fn consumer_defaults_apply_only_where_nothing_is_configured() {
        let mut cfg = rdkafka::ClientConfig::new();
        apply_consumer_defaults(&mut cfg);
        assert_eq!(cfg.get("session.timeout.ms"), Some("10000"));
        assert_eq!(cfg.get("heartbeat.interval.ms"), Some("3000"));
        assert_eq!(cfg.get("fetch.queue.backoff.ms"), Some("10"));
        assert_eq!(cfg.get("queued.max.messages.kbytes"), Some("8192"));
        assert_eq!(cfg.get("auto.offset.reset"), Some("earliest"));
        let mut cfg = rdkafka::ClientConfig::new();
        cfg.set("session.timeout.ms", "45000")
            .set("auto.offset.reset", "latest");
        apply_consumer_defaults(&mut cfg);
        assert_eq!(cfg.get("session.timeout.ms"), Some("45000"));
        assert_eq!(
            cfg.get("heartbeat.interval.ms"),
            None,
            "librdkafka's own, fitting the session given"
        );
        assert_eq!(cfg.get("auto.offset.reset"), Some("latest"));
    }

    #[test]
    fn regex_matches_whole_names_only() {
        let re = anchored("orders.*").unwrap();
        assert!(re.is_match("orders"));
        assert!(re.is_match("orders-eu"));
        assert!(!re.is_match("old-orders"));
        let re = anchored("a|ab").unwrap();
        assert!(re.is_match("ab"));
    }

    #[test]
    fn internal_topics_are_excluded() {
        let internal: BTreeSet<String> = ["connect-configs".to_string()].into();
        assert!(is_excluded_topic("__consumer_offsets", &internal));
        assert!(is_excluded_topic("__transaction_state", &internal));
        assert!(is_excluded_topic("connect-configs", &internal));
        assert!(!is_excluded_topic("orders", &internal));
    }

    /// A sink task that counts its full flushes (the ones a stopping task does).
    struct CountsFullFlushes(Arc<std::sync::atomic::AtomicUsize>);

    #[async_trait]
    impl SinkTask for CountsFullFlushes {
        async fn put(&mut self, _records: Vec<SinkRecord>) -> Result<(), TaskError> {
            Ok(())
        }

        async fn flush(&mut self, all: bool) -> Result<BTreeMap<TopicPartition, i64>, TaskError> {
            if all {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(BTreeMap::new())
        }

        fn revoked(&mut self, _partitions: &[TopicPartition]) {}
    }

    /// Runs a sink task (its consumer pointed at a closed port), stops it with `how`, and
    /// returns how many times it wrote out everything it held.
    async fn full_flushes_when_stopped(how: super::super::StopRequest, lapsed: bool) -> usize {
        let (ctx, stop, session_lapsed) = TaskContext::for_test("backup");
        session_lapsed.send_replace(lapsed);
        let flushes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = CountsFullFlushes(flushes.clone());
        let running = tokio::spawn(run(ctx, task, Subscription::Topics(vec!["orders".into()])));
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.send_replace(how);
        tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the task stops")
            .unwrap()
            .unwrap();
        flushes.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_stopped_sink_task_writes_out_what_it_holds_and_an_abandoned_one_does_not() {
        use super::super::StopRequest;
        assert_eq!(
            full_flushes_when_stopped(StopRequest::Graceful, false).await,
            1
        );
        assert_eq!(
            full_flushes_when_stopped(StopRequest::Abandon, false).await,
            0
        );
        // The worker's session ran out while the task was being stopped gracefully.
        assert_eq!(
            full_flushes_when_stopped(StopRequest::Graceful, true).await,
            0
        );
    }
}
