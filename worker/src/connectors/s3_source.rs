//! The S3 restore source. Reads backups in Instaclustr's v0 format and Skiff's own, and writes
//! each backed-up partition into the same partition of the target topic, in order, with keys,
//! values, headers and timestamps as they were.
//!
//! Exactly once in the target: before a partition's first record, the task stores the target
//! partition's end offset as `targetOffset` in the source offset; every stored offset carries
//! the target offset after its record. On restart, the target's end offset minus the stored
//! `targetOffset` is the number of records written after the last stored offset, and exactly
//! those are skipped. This holds while nothing else writes to the target partitions.

use super::backup_metadata::{self, GroupOffsets, TopicManifest};
use super::config_def::{ConfigDef, ConfigType};
use super::number;
use super::offset_ranges::{OffsetRange, OffsetRanges};
use super::retention;
use super::s3_sink::S3_DEFS;
use crate::config::client::ClientRole;
use crate::config::properties::Properties;
use crate::runtime::offsets::JsonMap;
use crate::runtime::source::{self, SourceRecord, SourceTask};
use crate::runtime::{TaskContext, TaskError};
use crate::storage::s3::{S3Settings, Store};
use crate::storage::{RetryingTask, retry_s3};
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use skiff_format::{HEADER_LEN_MAX, Record, decode, parse_object_key, summarize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The source's own settings.
pub const DEFS: &[ConfigDef] = &[
    S3_DEFS[0], S3_DEFS[1], S3_DEFS[2], S3_DEFS[3], S3_DEFS[4], S3_DEFS[5], S3_DEFS[6], S3_DEFS[7],
    ConfigDef::optional("s3.topics", ConfigType::List, Some(""), "Restore", "Backed-up topics to restore (comma list); empty restores every topic found under the prefix."),
    ConfigDef::optional("kafka.topicPrefix", ConfigType::String, Some(""), "Restore", "Writes topic T to '<kafka.topicPrefix>-T' (Instaclustr's naming)."),
    ConfigDef::optional("topics.mapping", ConfigType::List, Some(""), "Restore", "Renames topics: 'src:dst,src2:dst2'; applied before kafka.topicPrefix."),
    ConfigDef::optional("maxRecordsPerSecond", ConfigType::Long, Some("0"), "Restore", "Per-task rate limit; 0 means unlimited (Instaclustr's default was 500)."),
    ConfigDef::optional("restore.timestamp.from", ConfigType::Long, None, "Restore", "Restore only records with timestamp >= this (ms since the epoch)."),
    ConfigDef::optional("restore.timestamp.to", ConfigType::Long, None, "Restore", "Restore only records with timestamp < this (ms since the epoch)."),
    ConfigDef::optional("restore.offset.ranges", ConfigType::List, Some(""), "Restore", "Restore only these offsets: '<topic>/<partition>:<from>-<to>' entries, comma separated, each the range [from, to) of the backed-up partition's offsets (either end may be left empty; '*' as the partition means every partition of the topic). When set, partitions not listed are not restored; objects outside the ranges are not downloaded."),
    ConfigDef::optional("restore.on.corrupt", ConfigType::String, Some("fail"), "Restore", "What a corrupt or foreign object does: fail the task (naming the object), or skip it and report it in the progress.").one_of(&["fail", "skip"]),
    ConfigDef::optional("restore.create.topics", ConfigType::Boolean, Some("false"), "Restore", "Create missing target topics like the backed-up ones (partition count and topic configs from the backup's metadata)."),
    ConfigDef::optional("restore.consumer.groups", ConfigType::List, Some(""), "Restore", "Consumer groups whose backed-up offsets are translated to the restored topics and committed ('*': every group in the backup); groups with active members are left alone and reported."),
    ConfigDef::optional("restore.mode", ConfigType::String, Some("once"), "Restore", "once: restore what is there and report done; follow: keep restoring objects as they appear.").one_of(&["once", "follow"]),
    ConfigDef::optional("s3.retry.timeout.ms", ConfigType::Long, Some("900000"), "Restore", "How long a failing S3 read is retried (with backoff) before the task fails; the restore resumes where it stopped. Refusals (403 access denied, 404 no such bucket) fail the task at once."),
];

/// Key of the source offset holding the consumer-group translations found so far
/// (`{"<group>": <target offset>}`), so a restarted restore still moves the groups it passed.
const GROUPS_KEY: &str = "groups";
/// Task setting that lists the partitions a task restores (`topic/partition,...`).
const PARTITIONS_KEY: &str = "restore.partitions";
/// Most records handed to the producer per poll.
const MAX_BATCH: usize = 5000;
/// Most key and value bytes handed to the producer per poll (at least one record): the batch
/// stays in memory until Kafka has taken all of it, and 5,000 records of 100 KiB were 500 MB.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How often `follow` mode looks for new objects.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(30);
/// Timeout of metadata and watermark calls.
const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Folder under the prefix where Skiff keeps backup metadata, never a topic.
pub const METADATA_FOLDER: &str = "_skiff";

/// Checks the source's own rules.
pub fn validate(config: &Properties) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if let Err(e) = mapping(config) {
        errors.push(("topics.mapping".into(), e));
    }
    if let Some(p) = config.get("kafka.topicPrefix").filter(|p| !p.is_empty())
        && !p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        errors.push((
            "kafka.topicPrefix".into(),
            format!(
                "'{p}' is not a valid topic name prefix: use letters, digits, '.', '_' and '-'"
            ),
        ));
    }
    if let Err(e) = offset_ranges(config) {
        errors.push(("restore.offset.ranges".into(), e));
    }
    let ts = |k: &str| config.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let (Some(f), Some(t)) = (ts("restore.timestamp.from"), ts("restore.timestamp.to"))
        && f >= t
    {
        errors.push((
            "restore.timestamp.to".into(),
            format!("restore.timestamp.to ({t}) must be after restore.timestamp.from ({f})"),
        ));
    }
    errors
}

/// `restore.offset.ranges`, parsed.
fn offset_ranges(config: &Properties) -> Result<OffsetRanges, String> {
    OffsetRanges::parse(
        config
            .get("restore.offset.ranges")
            .map_or("", String::as_str),
    )
}

/// `topics.mapping` as pairs.
fn mapping(config: &Properties) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in config
        .get("topics.mapping")
        .map(String::as_str)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (src, dst) = pair
            .split_once(':')
            .ok_or_else(|| format!("'{pair}' is not 'source:target'"))?;
        if src.trim().is_empty() || dst.trim().is_empty() {
            return Err(format!("'{pair}' is not 'source:target'"));
        }
        out.insert(src.trim().to_string(), dst.trim().to_string());
    }
    Ok(out)
}

/// The topic a backed-up topic is restored into.
pub fn target_topic(config: &Properties, topic: &str) -> Result<String, TaskError> {
    let map = mapping(config).map_err(|e| TaskError::Config(format!("topics.mapping: {e}")))?;
    let base = map.get(topic).cloned().unwrap_or_else(|| topic.to_string());
    Ok(
        match config
            .get("kafka.topicPrefix")
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
        {
            Some(p) => format!("{p}-{base}"),
            None => base,
        },
    )
}

/// Lists the backed-up partitions and deals them out to at most `max_tasks` tasks.
pub async fn task_configs(
    config: &Properties,
    resolved: &Properties,
    max_tasks: u32,
) -> Result<Vec<Properties>, TaskError> {
    let store = S3Settings::from_config(resolved)?.connect().await?;
    let prefix = store.settings.prefix.clone();
    let wanted: Vec<String> = config
        .get("s3.topics")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let found: Vec<String> = store
        .list_folders(&prefix)
        .await?
        .into_iter()
        .filter(|t| t != METADATA_FOLDER)
        .collect();
    let topics = if wanted.is_empty() {
        found.clone()
    } else {
        wanted
    };
    let mut partitions = Vec::new();
    for topic in &topics {
        let mut parts: Vec<i32> = store
            .list_folders(&format!("{prefix}{topic}/"))
            .await?
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        if parts.is_empty() {
            return Err(TaskError::Config(format!(
                "s3.topics names '{topic}', but s3://{}/{prefix}{topic}/ holds no backup (topics found: {})",
                store.bucket(),
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            )));
        }
        parts.sort_unstable();
        partitions.extend(parts.into_iter().map(|p| format!("{topic}/{p}")));
    }
    if partitions.is_empty() {
        return Err(TaskError::Config(format!(
            "no backup found under s3://{}/{prefix}: check aws.s3.bucket and prefix",
            store.bucket()
        )));
    }
    let ranges = offset_ranges(config).map_err(TaskError::Config)?;
    if !ranges.is_empty() {
        let found: Vec<(String, i32)> = partitions
            .iter()
            .filter_map(|tp| {
                let (t, p) = tp.rsplit_once('/')?;
                Some((t.to_owned(), p.parse().ok()?))
            })
            .collect();
        let unmatched = ranges.unmatched(&found);
        if !unmatched.is_empty() {
            return Err(TaskError::Config(format!(
                "restore.offset.ranges names {}, but the backup under s3://{}/{prefix} has no such partition among the topics restored",
                unmatched.join(", "),
                store.bucket()
            )));
        }
        partitions = found
            .into_iter()
            .filter(|(t, p)| ranges.for_partition(t, *p).is_some())
            .map(|(t, p)| format!("{t}/{p}"))
            .collect();
    }
    let n = (max_tasks.max(1) as usize).min(partitions.len());
    let mut tasks: Vec<Vec<String>> = vec![Vec::new(); n];
    for (i, p) in partitions.into_iter().enumerate() {
        tasks[i % n].push(p);
    }
    Ok(tasks
        .into_iter()
        .map(|parts| {
            let mut c = config.clone();
            c.insert(PARTITIONS_KEY.into(), parts.join(","));
            c
        })
        .collect())
}

/// Checks that an object holds the offsets its name promises: a v0 object cut between two
/// records decodes cleanly, and only this check notices that records are missing.
fn check_range(
    prefix: &str,
    key: &str,
    obj: skiff_format::DecodedObject,
) -> Result<skiff_format::DecodedObject, String> {
    let Some(named) = parse_object_key(prefix, key) else {
        return Err("not a backup object name".into());
    };
    let first = obj.records.first().map(|r| r.offset);
    let last = obj.records.last().map(|r| r.offset);
    if first != Some(named.first_offset) || last != Some(named.last_offset) {
        return Err(format!(
            "the object holds offsets {} to {} but its name says {} to {}: it is truncated or was not written by a backup",
            first.map_or("none".into(), |o| o.to_string()),
            last.map_or("none".into(), |o| o.to_string()),
            named.first_offset,
            named.last_offset
        ));
    }
    Ok(obj)
}

/// Runs one restore task.
pub async fn run_task(ctx: TaskContext, config: Properties) -> Result<(), TaskError> {
    run_task_with(ctx, config, Arc::new(|_, _| {})).await
}

/// [`run_task`], with each producer's settings passed through `tune` (see
/// [`source::TuneProducer`]).
pub async fn run_task_with(
    ctx: TaskContext,
    config: Properties,
    tune: source::TuneProducer,
) -> Result<(), TaskError> {
    let task = S3SourceTask::new(&ctx, &config).await?;
    source::run_with(ctx, task, tune).await
}

/// Where one partition's restore stands.
struct Cursor {
    topic: String,
    partition: i32,
    target: String,
    source_partition: JsonMap,
    /// Objects still to read, in offset order.
    keys: VecDeque<String>,
    /// Records of the object being read.
    pending: VecDeque<Record>,
    current_key: String,
    current_range: (i64, i64),
    /// Original offset of the last record read (restored or deliberately skipped).
    last_read: i64,
    /// The target offset the next restored record will get.
    target_next: i64,
    /// Records already in the target from before a crash, still to be skipped.
    skip: u64,
    opened: bool,
    done: bool,
    objects_total: usize,
    objects_read: usize,
    records: u64,
    bytes: u64,
    /// Consumer groups to move: (group, committed offset in the backed-up partition, the
    /// target offset it translates to once known).
    translations: Vec<(String, i64, Option<i64>)>,
    /// The original offsets restored (`restore.offset.ranges`).
    range: OffsetRange,
}

struct S3SourceTask {
    ctx: TaskContext,
    store: Store,
    cursors: Vec<Cursor>,
    index: usize,
    from: Option<i64>,
    to: Option<i64>,
    skip_corrupt: bool,
    follow: bool,
    create_topics: bool,
    /// Backed-up offsets of the consumer groups to move (`restore.consumer.groups`).
    groups: Vec<GroupOffsets>,
    /// What happened to each group, for the progress document.
    group_results: BTreeMap<String, Value>,
    rate: u64,
    probe: Arc<BaseConsumer>,
    skipped_objects: Vec<String>,
    last_follow: Instant,
    /// An error met after some good records of the same batch; raised on the next poll.
    deferred: Option<TaskError>,
    /// How long a failing S3 read is retried.
    retry_timeout: Duration,
    /// The S3 error being retried, shown in the progress document until a read succeeds.
    last_error: Option<String>,
    /// Each target topic's time retention (`None`: keeps records), looked up when opened.
    retention: BTreeMap<String, Option<i64>>,
    /// Problems that do not stop the restore but need the user (progress `warnings`).
    warnings: Vec<String>,
    /// Each cursor's counters as of the last acknowledged batch: what a rewind goes back to.
    delivered: Vec<Counters>,
    /// How many objects had been skipped as of the last acknowledged batch.
    delivered_skipped: usize,
}

/// A cursor's progress counters.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    records: u64,
    bytes: u64,
    objects_read: usize,
}

/// The consumer a task reads the target partitions' end offsets with.
fn probe(ctx: &TaskContext) -> Result<BaseConsumer, TaskError> {
    let mut cfg = ctx.clients.client(ClientRole::Consumer)?.to_rdkafka();
    cfg.set("group.id", format!("connect-{}-probe", ctx.connector))
        .set("enable.auto.commit", "false");
    Ok(cfg.create()?)
}

impl S3SourceTask {
    async fn new(ctx: &TaskContext, config: &Properties) -> Result<Self, TaskError> {
        let store = S3Settings::from_config(config)?.connect().await?;
        let target_prefix = config.get("kafka.topicPrefix").cloned().unwrap_or_default();
        let ranges = offset_ranges(config).map_err(TaskError::Config)?;
        let mut cursors = Vec::new();
        for tp in config
            .get(PARTITIONS_KEY)
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            let (topic, partition) = tp
                .rsplit_once('/')
                .and_then(|(t, p)| Some((t.to_string(), p.parse::<i32>().ok()?)))
                .ok_or_else(|| TaskError::Config(format!("bad task partition '{tp}'")))?;
            let mut sp = JsonMap::new();
            sp.insert(
                "source".into(),
                Value::String(format!("{topic}/{partition}")),
            );
            sp.insert("targetPrefix".into(), Value::String(target_prefix.clone()));
            let range = ranges.for_partition(&topic, partition).unwrap_or_default();
            cursors.push(Cursor {
                range,
                target: target_topic(config, &topic)?,
                topic,
                partition,
                source_partition: sp,
                keys: VecDeque::new(),
                pending: VecDeque::new(),
                current_key: String::new(),
                current_range: (-1, -1),
                last_read: -1,
                target_next: 0,
                skip: 0,
                opened: false,
                done: false,
                objects_total: 0,
                objects_read: 0,
                records: 0,
                bytes: 0,
                translations: Vec::new(),
            });
        }
        let probe = probe(ctx)?;
        let ts = |k: &str| number::<i64>(config, k, i64::MIN).map(|v| (v != i64::MIN).then_some(v));
        let mut task = S3SourceTask {
            ctx: ctx.clone(),
            store,
            cursors,
            index: 0,
            from: ts("restore.timestamp.from")?,
            to: ts("restore.timestamp.to")?,
            skip_corrupt: config
                .get("restore.on.corrupt")
                .is_some_and(|v| v.eq_ignore_ascii_case("skip")),
            groups: Vec::new(),
            group_results: BTreeMap::new(),
            create_topics: config
                .get("restore.create.topics")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            follow: config
                .get("restore.mode")
                .is_some_and(|v| v.eq_ignore_ascii_case("follow")),
            rate: number(config, "maxRecordsPerSecond", 0u64)?,
            probe: Arc::new(probe),
            delivered: Vec::new(),
            delivered_skipped: 0,
            skipped_objects: Vec::new(),
            last_follow: Instant::now(),
            deferred: None,
            retry_timeout: Duration::from_millis(number(
                config,
                "s3.retry.timeout.ms",
                900_000u64,
            )?),
            last_error: None,
            retention: BTreeMap::new(),
            warnings: Vec::new(),
        };
        let groups: Vec<String> = config
            .get("restore.consumer.groups")
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        task.load_groups(&groups).await?;
        Ok(task)
    }

    /// The target topic's partition count and the partition's end offset (-1 when the
    /// partition does not exist).
    async fn probe_target(&self, topic: &str, partition: i32) -> Result<(usize, i64), TaskError> {
        let probe = self.probe.clone();
        let t = topic.to_string();
        tokio::task::spawn_blocking(
            move || -> Result<(usize, i64), rdkafka::error::KafkaError> {
                let md = probe.fetch_metadata(Some(&t), KAFKA_CALL_TIMEOUT)?;
                let count = md
                    .topics()
                    .first()
                    .map(|m| m.partitions().len())
                    .unwrap_or(0);
                if (partition as usize) >= count {
                    return Ok((count, -1));
                }
                let (_, high) = probe.fetch_watermarks(&t, partition, KAFKA_CALL_TIMEOUT)?;
                Ok((count, high))
            },
        )
        .await
        .map_err(|e| TaskError::Other(e.to_string()))?
        .map_err(|e| TaskError::Kafka(e.to_string()))
    }

    /// The target partition's end offset; creates a missing target topic when asked to, with
    /// the backed-up partition count and topic configs.
    async fn target_end(
        &self,
        source_topic: &str,
        topic: &str,
        partition: i32,
    ) -> Result<i64, TaskError> {
        let (mut partitions, mut high) = self.probe_target(topic, partition).await?;
        if partitions == 0 && self.create_topics {
            self.create_target(source_topic, topic).await?;
            (partitions, high) = self.probe_target(topic, partition).await?;
        }
        if high < 0 {
            return Err(TaskError::Config(format!(
                "target topic '{topic}' has {partitions} partition(s), but the backup has partition {partition}: create '{topic}' with at least {} partitions (partitions are restored one to one), or set restore.create.topics=true for missing topics",
                partition + 1
            )));
        }
        Ok(high)
    }

    /// Creates `target` like the backed-up `source` topic: its manifest's partition count and
    /// configs, or the partition count found in the bucket when the backup has no manifest.
    async fn create_target(&self, source: &str, target: &str) -> Result<(), TaskError> {
        let prefix = self.store.settings.prefix.clone();
        let manifest: Option<TopicManifest> =
            backup_metadata::read(&self.store, &backup_metadata::topic_key(&prefix, source))
                .await?;
        let (partitions, configs) = match manifest {
            Some(m) => (m.partitions, m.configs),
            None => {
                let found = self
                    .store
                    .list_folders(&format!("{prefix}{source}/"))
                    .await?;
                (
                    found
                        .iter()
                        .filter_map(|p| p.parse::<i32>().ok())
                        .max()
                        .map_or(1, |m| m + 1),
                    BTreeMap::new(),
                )
            }
        };
        let admin: AdminClient<DefaultClientContext> = self
            .ctx
            .clients
            .client(ClientRole::Admin)?
            .to_rdkafka()
            .create()?;
        let mut new = NewTopic::new(target, partitions, TopicReplication::Fixed(-1));
        for (k, v) in &configs {
            new = new.set(k, v);
        }
        let res = admin
            .create_topics(
                [&new],
                &AdminOptions::new()
                    .operation_timeout(Some(KAFKA_CALL_TIMEOUT))
                    .request_timeout(Some(KAFKA_CALL_TIMEOUT)),
            )
            .await?;
        for r in res {
            match r {
                Ok(_) => info!(
                    topic = target,
                    partitions, "created the target topic like the backed-up one"
                ),
                // Another task created it first.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    return Err(TaskError::Kafka(format!("cannot create topic {t}: {code}")));
                }
            }
        }
        Ok(())
    }

    /// Reads the backed-up offsets of the groups named by `restore.consumer.groups` (`*`: all).
    async fn load_groups(&mut self, wanted: &[String]) -> Result<(), TaskError> {
        let prefix = self.store.settings.prefix.clone();
        let names: Vec<String> = if wanted.iter().any(|g| g == "*") {
            backup_metadata::group_names(&self.store, &prefix).await?
        } else {
            wanted.to_vec()
        };
        for g in names {
            match backup_metadata::read_group(&self.store, &prefix, &g).await? {
                Some(offsets) => self.groups.push(offsets),
                None => {
                    return Err(TaskError::Config(format!(
                        "restore.consumer.groups names '{g}', but the backup holds no offsets for it (the backup samples them every metadata.interval.ms)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Commits each group's translated offset on the restored partition, only ever forward. A
    /// group with active members refuses the commit; that is reported, not forced.
    async fn move_groups(&mut self, i: usize) {
        let c = &mut self.cursors[i];
        let end = c.target_next;
        let (target, partition) = (c.target.clone(), c.partition);
        let done: Vec<(String, i64)> = c
            .translations
            .drain(..)
            .map(|(g, _, t)| (g, t.unwrap_or(end)))
            .collect();
        for (group, offset) in done {
            let mut cfg = match self.ctx.clients.client(ClientRole::Consumer) {
                Ok(c) => c.to_rdkafka(),
                Err(e) => {
                    self.group_results
                        .insert(group, json!(format!("not moved: {e}")));
                    continue;
                }
            };
            cfg.set("group.id", &group)
                .set("enable.auto.commit", "false");
            let (t, g) = (target.clone(), group.clone());
            // Only forward: a group already at or past the translated offset (moved by an
            // earlier run, or consuming since) is left where it is.
            let res = tokio::task::spawn_blocking(
                move || -> Result<Option<i64>, rdkafka::error::KafkaError> {
                    let consumer: BaseConsumer = cfg.create()?;
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition(&t, partition);
                    let now = consumer
                        .committed_offsets(tpl, KAFKA_CALL_TIMEOUT)?
                        .elements()
                        .first()
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        });
                    if let Some(now) = now.filter(|now| *now >= offset) {
                        return Ok(Some(now));
                    }
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition_offset(&t, partition, Offset::Offset(offset))?;
                    consumer.commit(&tpl, CommitMode::Sync).map(|()| None)
                },
            )
            .await;
            let entry = self
                .group_results
                .entry(g.clone())
                .or_insert_with(|| json!({}));
            let key = format!("{target}/{partition}");
            match res {
                Ok(Ok(None)) => {
                    info!(group = %g, %key, offset, "moved consumer group");
                    entry[&key] = json!(offset);
                }
                Ok(Ok(Some(now))) => {
                    entry[&key] = json!(format!(
                        "not moved: already at {now}, at or past the translated offset {offset}"
                    ));
                }
                Ok(Err(e)) => {
                    warn!(group = %g, %key, "cannot move consumer group (does it have active members?): {e}");
                    entry[&key] = json!(format!("not moved: {e}"));
                }
                Err(e) => entry[&key] = json!(format!("not moved: {e}")),
            }
        }
    }

    /// Finds where a partition resumes: the stored offset, the target's end, the objects left.
    async fn open(&mut self, i: usize) -> Result<(), TaskError> {
        let (topic, partition, target, sp, range) = {
            let c = &self.cursors[i];
            (
                c.topic.clone(),
                c.partition,
                c.target.clone(),
                c.source_partition.clone(),
                c.range,
            )
        };
        let end = self.target_end(&topic, &target, partition).await?;
        if !self.retention.contains_key(&target) {
            let r = retention::time_retention(&self.ctx.clients, &target)
                .await
                .unwrap_or_else(|e| {
                    warn!(%target, "cannot read the target topic's retention: {e}");
                    None
                });
            self.retention.insert(target.clone(), r);
        }
        let stored = self.ctx.offsets.get(&self.ctx.connector, &sp);
        let int = |m: &JsonMap, k: &str| m.get(k).and_then(Value::as_i64);
        let (last_read, target_next, skip) = match &stored {
            Some(o) => {
                let last = int(o, "lastReadOffset").unwrap_or(-1);
                match int(o, "targetOffset") {
                    Some(t) if end >= t => (last, t, (end - t) as u64),
                    Some(t) => {
                        warn!(%target, partition, "target partition ends at {end}, before the stored position {t}: records were deleted from it; restoring what follows the stored position");
                        (last, end, 0)
                    }
                    // Written by Instaclustr's connector: resume after its last read offset.
                    None => (last, end, 0),
                }
            }
            None => {
                // Record the target's end before writing anything, so a crash before the first
                // stored offset still knows what this restore wrote.
                let mut o = JsonMap::new();
                o.insert("startOffset".into(), json!(-1));
                o.insert("endOffset".into(), json!(-1));
                o.insert("s3ObjectKey".into(), json!(""));
                o.insert("lastReadOffset".into(), json!(-1));
                o.insert("targetOffset".into(), json!(end));
                self.ctx
                    .offsets
                    .put(&self.ctx.connector, vec![(sp.clone(), Some(o))]);
                source::flush_offsets(&self.ctx).await?;
                (-1, end, 0)
            }
        };
        let prefix = self.store.settings.prefix.clone();
        let folder = format!("{prefix}{topic}/{partition}/");
        let keys = retry_s3(self, &format!("listing {folder}"), |store| {
            let folder = folder.clone();
            async move { store.list_keys(&folder, None).await }
        })
        .await?;
        let mut objects = Vec::new();
        let mut held: Option<(i64, i64)> = None;
        let mut in_range = false;
        for k in keys {
            match parse_object_key(&prefix, &k) {
                Some(ok) if ok.topic == topic && ok.partition == partition => {
                    held = Some(held.map_or((ok.first_offset, ok.last_offset), |(a, b)| {
                        (a.min(ok.first_offset), b.max(ok.last_offset))
                    }));
                    let overlaps = range.overlaps(ok.first_offset, ok.last_offset);
                    in_range |= overlaps;
                    if ok.last_offset > last_read && overlaps {
                        objects.push(k);
                    }
                }
                _ => self.report_foreign(&k)?,
            }
        }
        let key = format!("{topic}/{partition}");
        if range != OffsetRange::default() && !in_range {
            let holds = held.map_or("no objects".to_owned(), |(a, b)| {
                format!("offsets {a} to {b}")
            });
            let w = format!(
                "restore.offset.ranges asks for offsets {range} of {key}, but the backup of that partition holds {holds}: nothing restored there"
            );
            if !self.warnings.contains(&w) {
                warn!("{w}");
                self.warnings.push(w);
            }
        }
        // Translations found by an earlier run travel in the stored offset.
        let known: BTreeMap<String, i64> = stored
            .as_ref()
            .and_then(|o| o.get(GROUPS_KEY))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(g, t)| Some((g.clone(), t.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut translations = Vec::new();
        for g in &self.groups {
            let Some(&committed) = g.offsets.get(&key) else {
                continue;
            };
            if let Some(&translated) = known.get(&g.group) {
                translations.push((g.group.clone(), committed, Some(translated)));
            } else if committed > last_read || last_read < 0 {
                translations.push((g.group.clone(), committed, None));
            } else {
                self.group_results
                    .entry(g.group.clone())
                    .or_insert_with(|| json!({}))[&key] = json!(
                    "not moved: an earlier run passed the group's position without recording where it went (offsets written by Instaclustr's connector or an older Skiff)"
                );
            }
        }
        let c = &mut self.cursors[i];
        c.translations = translations;
        c.objects_total = c.objects_read + objects.len();
        c.keys = objects.into();
        c.last_read = last_read;
        c.target_next = target_next;
        c.skip = skip;
        c.opened = true;
        info!(%topic, partition, %target, resume_after = last_read, skip, objects = c.keys.len(), "restoring partition");
        Ok(())
    }

    fn report_foreign(&mut self, key: &str) -> Result<(), TaskError> {
        if self.skip_corrupt {
            warn!(%key, "skipping an object that is not a backup object");
            self.skipped_objects.push(key.to_string());
            Ok(())
        } else {
            Err(TaskError::Corrupt { key: key.to_string(), message: "not a backup object (its name is not <topic>/<partition>/<first>-<last>); set restore.on.corrupt=skip to skip it".into() })
        }
    }

    /// Loads the next object of a partition that may hold wanted records.
    async fn load_next(&mut self, i: usize) -> Result<bool, TaskError> {
        while let Some(key) = self.cursors[i].keys.pop_front() {
            self.cursors[i].objects_read += 1;
            if self.from.is_some() || self.to.is_some() {
                let head = retry_s3(self, &format!("reading the header of {key}"), |store| {
                    let key = key.clone();
                    async move { store.get_range(&key, Some(HEADER_LEN_MAX)).await }
                })
                .await?;
                if let Ok(Some(s)) = summarize(&head) {
                    let before = self.from.is_some_and(|f| s.max_timestamp < f);
                    let after = self.to.is_some_and(|t| s.min_timestamp >= t);
                    if before || after {
                        continue;
                    }
                }
            }
            let body = retry_s3(self, &format!("reading {key}"), |store| {
                let key = key.clone();
                async move { store.get(&key).await }
            })
            .await?;
            let size = body.len() as u64;
            match decode(&body)
                .map_err(|e| e.to_string())
                .and_then(|obj| check_range(&self.store.settings.prefix, &key, obj))
            {
                Ok(obj) => {
                    let c = &mut self.cursors[i];
                    c.bytes += size;
                    c.current_range = obj
                        .records
                        .first()
                        .zip(obj.records.last())
                        .map(|(a, b)| (a.offset, b.offset))
                        .unwrap_or((-1, -1));
                    c.current_key = key;
                    c.pending = obj.records.into();
                    return Ok(true);
                }
                Err(e) if self.skip_corrupt => {
                    warn!(%key, "skipping corrupt object: {e}");
                    self.skipped_objects.push(key);
                }
                Err(e) => {
                    return Err(TaskError::Corrupt {
                        key,
                        message: format!("{e}; set restore.on.corrupt=skip to skip it"),
                    });
                }
            }
        }
        Ok(false)
    }

    fn wanted(&self, r: &Record) -> bool {
        self.from.is_none_or(|f| r.timestamp >= f) && self.to.is_none_or(|t| r.timestamp < t)
    }

    fn report(&self) {
        let parts: serde_json::Map<String, Value> = self
            .cursors
            .iter()
            .map(|c| {
                (
                    format!("{}/{}", c.topic, c.partition),
                    json!({
                        "target": format!("{}/{}", c.target, c.partition),
                        "recordsRestored": c.records,
                        "bytesRead": c.bytes,
                        "objectsRead": c.objects_read,
                        "objectsTotal": c.objects_total,
                        "lastReadOffset": c.last_read,
                        "done": c.done,
                    }),
                )
            })
            .collect();
        let done = self.cursors.iter().all(|c| c.done);
        self.ctx.status.set_progress(
            &self.ctx.connector,
            self.ctx.task,
            json!({
                "done": done,
                "recordsRestored": self.cursors.iter().map(|c| c.records).sum::<u64>(),
                "bytesRead": self.cursors.iter().map(|c| c.bytes).sum::<u64>(),
                "objectsRead": self.cursors.iter().map(|c| c.objects_read).sum::<usize>(),
                "objectsTotal": self.cursors.iter().map(|c| c.objects_total).sum::<usize>(),
                "skippedObjects": self.skipped_objects,
                "lastError": self.last_error,
                "warnings": self.warnings,
                "groups": self.group_results,
                "partitions": parts,
            }),
        );
    }

    /// Takes up to `MAX_BATCH` records or `MAX_BATCH_BYTES` of partition `i`; with a rate
    /// limit, a tenth of a second's worth, so the limit paces reads and writes evenly instead
    /// of in bursts.
    async fn take(&mut self, i: usize) -> Result<Vec<SourceRecord>, TaskError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let retention = self
            .retention
            .get(&self.cursors[i].target)
            .copied()
            .flatten();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let most = match self.rate {
            0 => MAX_BATCH,
            rate => usize::try_from(rate / 10)
                .unwrap_or(MAX_BATCH)
                .clamp(1, MAX_BATCH),
        };
        while out.len() < most && bytes < MAX_BATCH_BYTES {
            if self.cursors[i].pending.is_empty() {
                match self.load_next(i).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    // Write the good records read so far first; fail on the next poll.
                    Err(e) if !out.is_empty() => {
                        self.deferred = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            let Some(r) = self.cursors[i].pending.pop_front() else {
                continue;
            };
            let wanted = self.wanted(&r) && self.cursors[i].range.contains(r.offset);
            let c = &mut self.cursors[i];
            if r.offset <= c.last_read {
                continue; // Overlapping objects from an at-least-once sink: already read.
            }
            c.last_read = r.offset;
            if !wanted {
                continue;
            }
            let target_offset = c.target_next;
            for (_, committed, translated) in c.translations.iter_mut() {
                if translated.is_none() && r.offset >= *committed {
                    *translated = Some(target_offset);
                }
            }
            if c.skip > 0 {
                c.skip -= 1;
                c.target_next += 1;
                continue;
            }
            c.target_next += 1;
            c.records += 1;
            if let Some(w) = retention
                .and_then(|ms| retention::warning(&c.target, ms, r.timestamp, now))
                .filter(|_| {
                    !self
                        .warnings
                        .iter()
                        .any(|w| w.contains(&format!("'{}'", c.target)))
                })
            {
                warn!("{w}");
                self.warnings.push(w);
            }
            let mut so = JsonMap::new();
            so.insert("startOffset".into(), json!(c.current_range.0));
            so.insert("endOffset".into(), json!(c.current_range.1));
            so.insert("s3ObjectKey".into(), json!(c.current_key));
            so.insert("lastReadOffset".into(), json!(r.offset));
            so.insert("targetOffset".into(), json!(c.target_next));
            let translated: JsonMap = c
                .translations
                .iter()
                .filter_map(|(g, _, t)| Some((g.clone(), json!((*t)?))))
                .collect();
            if !translated.is_empty() {
                so.insert(GROUPS_KEY.into(), Value::Object(translated));
            }
            bytes += r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len);
            out.push(SourceRecord {
                topic: c.target.clone(),
                partition: Some(c.partition),
                timestamp: (r.timestamp >= 0).then_some(r.timestamp),
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                source_partition: c.source_partition.clone(),
                source_offset: so,
            });
        }
        Ok(out)
    }
}

impl RetryingTask for S3SourceTask {
    fn store(&self) -> Store {
        self.store.clone()
    }

    fn retry_limit(&self) -> Duration {
        self.retry_timeout
    }

    fn stopping(&self) -> bool {
        self.ctx.stopping()
    }

    fn show_error(&mut self, error: Option<String>) {
        if error.is_none() {
            info!("S3 reads work again");
        }
        self.last_error = error;
        self.report();
    }
}

#[async_trait]
impl SourceTask for S3SourceTask {
    async fn poll(&mut self) -> Result<Vec<SourceRecord>, TaskError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let n = self.cursors.len();
        for _ in 0..n {
            let i = self.index % n;
            if !self.cursors[i].done {
                if !self.cursors[i].opened {
                    self.open(i).await?;
                }
                let batch = self.take(i).await?;
                if batch.is_empty() {
                    self.move_groups(i).await;
                    self.cursors[i].done = true;
                    // A rewind leaves done partitions alone, and what they skipped with them.
                    self.delivered_skipped = self.skipped_objects.len();
                    info!(topic = %self.cursors[i].topic, partition = self.cursors[i].partition, records = self.cursors[i].records, "partition restored");
                    self.report();
                    self.index += 1;
                    continue;
                }
                if self.rate > 0 {
                    tokio::time::sleep(Duration::from_secs_f64(
                        batch.len() as f64 / self.rate as f64,
                    ))
                    .await;
                }
                return Ok(batch);
            }
            self.index += 1;
        }
        if self.follow && self.last_follow.elapsed() >= FOLLOW_INTERVAL {
            self.last_follow = Instant::now();
            for c in &mut self.cursors {
                c.done = false;
                c.opened = false;
            }
        }
        Ok(Vec::new())
    }

    fn committed(&mut self) {
        self.delivered_skipped = self.skipped_objects.len();
        self.delivered = self
            .cursors
            .iter()
            .map(|c| Counters {
                records: c.records,
                bytes: c.bytes,
                objects_read: c.objects_read,
            })
            .collect();
        self.report();
    }

    fn rewindable(&self) -> bool {
        true
    }

    /// Every partition not yet done opens again from its stored offset (the target's end then
    /// tells how many of the dropped records were written after all), with a new probe in case
    /// the old one's connection is stuck too.
    fn rewind(&mut self) {
        match probe(&self.ctx) {
            Ok(p) => self.probe = Arc::new(p),
            Err(e) => warn!("keeping the old end-offset probe: a new one failed: {e}"),
        }
        self.deferred = None;
        self.skipped_objects.truncate(self.delivered_skipped);
        for (i, c) in self.cursors.iter_mut().enumerate() {
            if c.done {
                continue;
            }
            let at = self.delivered.get(i).copied().unwrap_or_default();
            c.records = at.records;
            c.bytes = at.bytes;
            c.objects_read = at.objects_read;
            c.keys.clear();
            c.pending.clear();
            c.opened = false;
        }
        self.report();
    }

    fn delivery_waiting(&mut self, waiting: Option<String>) {
        self.last_error = waiting;
        self.report();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn target_names_apply_mapping_then_prefix() {
        let c = props(&[
            ("topics.mapping", "orders:orders-restored, a:b"),
            ("kafka.topicPrefix", "dr"),
        ]);
        assert_eq!(target_topic(&c, "orders").unwrap(), "dr-orders-restored");
        assert_eq!(target_topic(&c, "other").unwrap(), "dr-other");
        assert_eq!(target_topic(&props(&[]), "t").unwrap(), "t");
    }

    #[test]
    fn bad_mapping_ranges_and_time_range_are_reported_by_key() {
        let errs = validate(&props(&[
            ("topics.mapping", "nocolon"),
            ("restore.offset.ranges", "orders/0:9-3"),
            ("restore.timestamp.from", "10"),
            ("restore.timestamp.to", "5"),
        ]));
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "topics.mapping",
                "restore.offset.ranges",
                "restore.timestamp.to"
            ]
        );
        assert!(errs[1].1.contains("'orders/0:9-3'"), "{}", errs[1].1);
    }
}
