//! The S3 backup sink. Records of each partition go into objects named by their first and last
//! offsets; offsets are committed only after the objects holding them are in the bucket; on
//! (re)assignment a partition resumes after the last offset already in the bucket, so after a
//! crash or rebalance the bucket holds each record once. Objects are compressed and uploaded in
//! the background ([`super::backup_upload`]) while the task consumes. Memory is one budget per
//! task (`buffer.max.bytes`, open buffers and objects waiting for upload alike), not a buffer per
//! partition.

use super::backup_metadata;
use super::backup_progress::BackupProgress;
use super::backup_upload::{BackupCalls, Sealed, Uploaded, Uploader};
use super::config_def::{ConfigDef, ConfigType};
use super::gaps;
use super::number;
use crate::config::client::ClientRole;
use crate::config::properties::Properties;
use crate::runtime::sink::{self, RevocationBarrier, SinkRecord, SinkTask};
use crate::runtime::{TaskContext, TaskError, TopicPartition};
use crate::storage::retry_s3;
use crate::storage::s3::S3Settings;
use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use skiff_format::{Compression, Format, ObjectWriter, parse_object_key};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Longest a rebalance waits for the revoked partitions' uploads: under librdkafka's default
/// `max.poll.interval.ms` (5 min), past which the group drops this member and hands its
/// partitions on anyway.
const REBALANCE_WAIT_LIMIT: Duration = Duration::from_secs(240);
/// Longest a background metadata sampling may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(120);

/// Settings shared by the S3 sink and source.
pub const S3_DEFS: &[ConfigDef] = &[
    ConfigDef::required(
        "aws.s3.bucket",
        ConfigType::String,
        "S3",
        "The bucket that holds the backup.",
    ),
    ConfigDef::optional(
        "prefix",
        ConfigType::String,
        Some(""),
        "S3",
        "Key prefix for every object; a '/' is appended when missing.",
    ),
    ConfigDef::optional(
        "aws.accessKeyId",
        ConfigType::Password,
        None,
        "S3",
        "Static access key id; leave unset to use the default chain (IRSA, Pod Identity, env, profile, instance role).",
    ),
    ConfigDef::optional(
        "aws.secretKey",
        ConfigType::Password,
        None,
        "S3",
        "Static secret key, with aws.accessKeyId.",
    ),
    ConfigDef::optional(
        "aws.region",
        ConfigType::String,
        None,
        "S3",
        "The bucket's region (default: the SDK's region chain, else us-east-1).",
    ),
    ConfigDef::optional(
        "aws.role.arn",
        ConfigType::String,
        None,
        "S3",
        "A role to assume with STS on top of the base credentials.",
    ),
    ConfigDef::optional(
        "s3.endpoint",
        ConfigType::String,
        None,
        "S3",
        "Endpoint of an S3-compatible store (default: AWS, or AWS_ENDPOINT_URL).",
    ),
    ConfigDef::optional(
        "s3.enablePathStyle",
        ConfigType::Boolean,
        None,
        "S3",
        "Path-style addressing; automatic for IP-address and localhost endpoints.",
    ),
    ConfigDef::optional(
        "s3.sse",
        ConfigType::String,
        None,
        "S3",
        "Server-side encryption: AES256 or aws:kms.",
    )
    .one_of(&["AES256", "aws:kms", "aws:kms:dsse"]),
    ConfigDef::optional(
        "s3.sse.kms.key.id",
        ConfigType::String,
        None,
        "S3",
        "KMS key id for s3.sse=aws:kms.",
    ),
    ConfigDef::optional(
        "s3.storage.class",
        ConfigType::String,
        None,
        "S3",
        "Storage class of written objects, e.g. STANDARD_IA. An archive class (GLACIER, DEEP_ARCHIVE) needs each object restored in S3 before a restore can read it.",
    )
    .one_of(&[
        "STANDARD",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
        "REDUCED_REDUNDANCY",
        "EXPRESS_ONEZONE",
        "OUTPOSTS",
        "SNOW",
    ]),
];

/// The sink's own settings.
pub const DEFS: &[ConfigDef] = &[
    S3_DEFS[0], S3_DEFS[1], S3_DEFS[2], S3_DEFS[3], S3_DEFS[4], S3_DEFS[5], S3_DEFS[6], S3_DEFS[7], S3_DEFS[8], S3_DEFS[9], S3_DEFS[10],
    ConfigDef::optional("format", ConfigType::String, Some("skiff-v1"), "Backup", "Object format: skiff-v1 (compressed, checksummed, time-indexed) or instaclustr-v0 (byte-compatible with Instaclustr's connector).").one_of(&["skiff-v1", "skiff", "instaclustr-v0"]),
    ConfigDef::optional("compression", ConfigType::String, Some("zstd"), "Backup", "Compression of skiff-v1 objects. An object is stored uncompressed, as its header records, when its compressed form would be no smaller, or, from 128 KiB, when four 16 KiB samples shrink by less than a tenth (random, encrypted or already compressed values; repetition only across more than 16 KiB is missed).").one_of(&["zstd", "lz4", "gzip", "none"]),
    ConfigDef::optional("compression.level", ConfigType::Int, None, "Backup", "Compression level: zstd 1-19 (default 3; 1 is about twice as fast for a slightly larger object), gzip 1-9 (default 6). Not used by lz4 or none."),
    ConfigDef::optional("flush.size", ConfigType::Long, Some("0"), "Backup", "Close an object after this many records (0: no record limit)."),
    ConfigDef::optional("flush.size.bytes", ConfigType::Long, Some("8388608"), "Backup", "Close an object once its records reach this many bytes."),
    ConfigDef::optional("flush.interval.ms", ConfigType::Long, Some("60000"), "Backup", "Close an object once its first record is this old, so quiet topics are still backed up."),
    ConfigDef::optional("metadata.interval.ms", ConfigType::Long, Some("60000"), "Backup", "How often the backup records its topics' partition counts and configs and the consumer groups' committed offsets, for restores."),
    ConfigDef::optional("s3.retry.timeout.ms", ConfigType::Long, Some("900000"), "Backup", "How long a failing upload is retried (with backoff) before the task fails; the task keeps its records meanwhile. Refusals (403 access denied, 404 no such bucket) fail the task at once."),
    ConfigDef::optional("s3.upload.concurrency", ConfigType::Long, Some("4"), "Backup", "Objects uploaded at once, each from a different partition (a partition's objects are written one after another, in offset order). Objects waiting for upload count against buffer.max.bytes."),
    ConfigDef::optional("buffer.max.bytes", ConfigType::Long, Some("67108864"), "Backup", "Memory budget of one task for all its partitions; the fullest buffers are written early to stay under it."),
];

/// Checks the sink's own rules.
pub fn validate(config: &Properties) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let n = |k: &str| config.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let (Some(flush), Some(budget)) = (n("flush.size.bytes"), n("buffer.max.bytes"))
        && budget < flush
    {
        errors.push((
            "buffer.max.bytes".into(),
            format!("buffer.max.bytes ({budget}) must be at least flush.size.bytes ({flush})"),
        ));
    }
    if let Some(error) = level_error(config) {
        errors.push(("compression.level".into(), error));
    }
    if n("s3.upload.concurrency").is_some_and(|v| !(1..=64).contains(&v)) {
        errors.push((
            "s3.upload.concurrency".into(),
            "s3.upload.concurrency must be between 1 and 64".into(),
        ));
    }
    if n("flush.size.bytes").is_some_and(|v| v <= 0) {
        errors.push((
            "flush.size.bytes".into(),
            "flush.size.bytes must be positive".into(),
        ));
    }
    let kms_key = config
        .get("s3.sse.kms.key.id")
        .is_some_and(|k| !k.trim().is_empty());
    let kms = config
        .get("s3.sse")
        .is_some_and(|v| v.trim().starts_with("aws:kms"));
    if kms_key && !kms {
        errors.push((
            "s3.sse.kms.key.id".into(),
            "s3.sse.kms.key.id needs s3.sse=aws:kms (or aws:kms:dsse): set it, or remove the key id".into(),
        ));
    }
    if let Err(e) = S3Settings::from_config(config)
        && config.contains_key("aws.s3.bucket")
    {
        errors.push((e.key.into(), TaskError::from(e).to_string()));
    }
    errors
}

/// What is wrong with `compression.level` for the chosen compression, if anything.
fn level_error(config: &Properties) -> Option<String> {
    let raw = config.get("compression.level")?.trim();
    let codec = config.get("compression").map_or("zstd", |c| c.trim());
    let range = match codec {
        "zstd" => 1..=19,
        "gzip" => 1..=9,
        _ => {
            return Some(format!(
                "compression.level applies to zstd and gzip, not '{codec}': remove it"
            ));
        }
    };
    match raw.parse::<i64>() {
        Ok(level) if range.contains(&level) => None,
        _ => Some(format!(
            "compression.level '{raw}' must be {} to {} for {codec}",
            range.start(),
            range.end()
        )),
    }
}

/// Runs one backup task.
pub async fn run_task(ctx: TaskContext, config: Properties) -> Result<(), TaskError> {
    let subscription =
        super::subscription(&config).map_err(|(k, e)| TaskError::Config(format!("{k}: {e}")))?;
    let task = S3SinkTask::new(&ctx, &config).await?;
    sink::run(ctx, task, subscription).await
}

/// One partition's unwritten records and where it stands.
struct PartitionState {
    /// First offset not yet in the bucket, from the bucket's listing when the partition was
    /// opened; records below it are already backed up and are skipped.
    durable_next: Option<i64>,
    /// The offset after the last record seen.
    consumed_next: Option<i64>,
    writer: Option<ObjectWriter>,
    opened_at: Instant,
    /// The uploader's epoch before the batch that took the partition up: its objects are not
    /// written once the partition was revoked after that (see [`super::backup_upload::PendingUploads::revoke`]).
    epoch: u64,
}

/// The backup task.
struct S3SinkTask {
    /// The store, retry limit and progress the task's S3 calls use (shared with its uploads).
    calls: BackupCalls,
    format: Format,
    compression: Compression,
    /// `compression.level`, when set.
    level: Option<i32>,
    flush_records: usize,
    flush_bytes: usize,
    flush_interval: Duration,
    budget: usize,
    metadata_interval: Duration,
    last_metadata: Option<Instant>,
    metadata_job: Option<tokio::task::JoinHandle<()>>,
    partitions: HashMap<TopicPartition, PartitionState>,
    /// Bytes held against the budget: open writers plus sealed objects not yet uploaded.
    buffered: usize,
    /// The part of `buffered` sealed and waiting for (or in) upload.
    in_flight: usize,
    uploader: Uploader,
    ctx: TaskContext,
    /// Asks the broker where a partition's log starts, made on the first jump in offsets.
    probe: Option<Arc<BaseConsumer>>,
    gap_checked: HashMap<TopicPartition, Instant>,
}

impl Drop for S3SinkTask {
    /// A graceful stop leaves its last metadata sampling to finish; an abandoned task, whose
    /// partitions may have another owner, stops it.
    fn drop(&mut self) {
        if self.ctx.abandoned()
            && let Some(job) = &self.metadata_job
        {
            job.abort();
        }
    }
}

/// At most one log-start lookup per partition in this interval (compacted topics jump often).
const GAP_CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// Timeout of one log-start lookup.
const GAP_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

impl S3SinkTask {
    async fn new(ctx: &TaskContext, config: &Properties) -> Result<Self, TaskError> {
        let settings = S3Settings::from_config(config)?;
        let store = settings.connect().await?;
        let format: Format = config
            .get("format")
            .map(String::as_str)
            .unwrap_or("skiff-v1")
            .parse()
            .map_err(|_| TaskError::Config("'format' must be skiff-v1 or instaclustr-v0".into()))?;
        let compression: Compression = config
            .get("compression")
            .map(String::as_str)
            .unwrap_or("zstd")
            .parse()
            .map_err(|_| {
                TaskError::Config("'compression' must be zstd, lz4, gzip or none".into())
            })?;
        info!(bucket = %store.bucket(), prefix = %store.settings.prefix, ?format, ?compression, "backup task configured");
        let calls = BackupCalls {
            store,
            retry_limit: Duration::from_millis(number(config, "s3.retry.timeout.ms", 900_000u64)?),
            ctx: ctx.clone(),
            progress: Arc::new(BackupProgress::new(ctx.clone())),
        };
        let lanes = number(config, "s3.upload.concurrency", 4usize)?;
        let uploader = Uploader::start(calls.clone(), lanes);
        Ok(S3SinkTask {
            calls,
            format,
            compression,
            level: config
                .get("compression.level")
                .map(|l| l.trim().parse::<i32>())
                .transpose()
                .map_err(|_| {
                    TaskError::Config("'compression.level' must be a whole number".into())
                })?,
            flush_records: number(config, "flush.size", 0usize)?,
            flush_bytes: number(config, "flush.size.bytes", 8 * 1024 * 1024usize)?,
            flush_interval: Duration::from_millis(number(config, "flush.interval.ms", 60_000u64)?),
            budget: number(config, "buffer.max.bytes", 64 * 1024 * 1024usize)?,
            metadata_interval: Duration::from_millis(number(
                config,
                "metadata.interval.ms",
                60_000u64,
            )?),
            last_metadata: None,
            metadata_job: None,
            partitions: HashMap::new(),
            buffered: 0,
            in_flight: 0,
            uploader,
            ctx: ctx.clone(),
            probe: None,
            gap_checked: HashMap::new(),
        })
    }

    /// Called when a partition's offsets jump past `expected`: reports the records that were
    /// deleted from Kafka before this backup read them. A failed lookup is logged, not fatal.
    async fn check_gap(&mut self, tp: &TopicPartition, expected: i64) {
        if self
            .gap_checked
            .get(tp)
            .is_some_and(|t| t.elapsed() < GAP_CHECK_INTERVAL)
        {
            return;
        }
        self.gap_checked.insert(tp.clone(), Instant::now());
        let probe = match &self.probe {
            Some(p) => p.clone(),
            None => {
                let made = self
                    .ctx
                    .clients
                    .client(ClientRole::Consumer)
                    .map_err(|e| e.to_string())
                    .and_then(|c| {
                        c.to_rdkafka()
                            .create::<BaseConsumer>()
                            .map_err(|e| e.to_string())
                    });
                match made {
                    Ok(p) => self.probe.insert(Arc::new(p)).clone(),
                    Err(e) => {
                        warn!("cannot check for deleted records: {e}");
                        return;
                    }
                }
            }
        };
        let (topic, partition) = tp.clone();
        let low = tokio::task::spawn_blocking(move || {
            probe.fetch_watermarks(&topic, partition, GAP_LOOKUP_TIMEOUT)
        })
        .await;
        match low {
            Ok(Ok((low, _))) => {
                if let Some(w) = gaps::gap_warning(tp, expected, low) {
                    warn!("{w}");
                    self.calls.progress.warn(w);
                }
            }
            Ok(Err(e)) => {
                warn!(topic = %tp.0, partition = tp.1, "cannot check for deleted records: {e}")
            }
            Err(e) => warn!("cannot check for deleted records: {e}"),
        }
    }

    fn folder(&self, tp: &TopicPartition) -> String {
        format!("{}{}/{}/", self.calls.store.settings.prefix, tp.0, tp.1)
    }

    /// Finds where the bucket's copy of a partition ends. The listing is retried like an
    /// upload, so an S3 outage when a partition is first seen (task start, rebalance) is ridden
    /// out and reported instead of failing the task.
    async fn open(&mut self, tp: &TopicPartition, epoch: u64) -> Result<PartitionState, TaskError> {
        // Objects this task sealed before the partition was revoked must be in the listing.
        while self.uploader.pending().oldest(tp).is_some() {
            self.finish_next().await?;
        }
        let folder = self.folder(tp);
        let keys = retry_s3(&mut self.calls, &format!("listing {folder}"), |store| {
            let folder = folder.clone();
            async move { store.list_keys(&folder, None).await }
        })
        .await?;
        let last = keys
            .iter()
            .filter_map(|k| parse_object_key(&self.calls.store.settings.prefix, k))
            .filter(|k| k.topic == tp.0 && k.partition == tp.1)
            .map(|k| k.last_offset)
            .max();
        debug!(topic = %tp.0, partition = tp.1, ?last, "opened partition");
        Ok(PartitionState {
            durable_next: last.map(|l| l + 1),
            consumed_next: None,
            writer: None,
            opened_at: Instant::now(),
            epoch,
        })
    }

    /// Seals one partition's buffered records into an object and hands it to the uploader.
    async fn seal(&mut self, tp: &TopicPartition) -> Result<(), TaskError> {
        let Some(state) = self.partitions.get_mut(tp) else {
            return Ok(());
        };
        let Some(writer) = state.writer.take() else {
            return Ok(());
        };
        let epoch = state.epoch;
        let (Some(first), Some(last)) = (writer.first_offset(), writer.last_offset()) else {
            return Ok(());
        };
        let len = writer.encoded_len();
        self.in_flight += len;
        self.uploader
            .seal(Sealed {
                tp: tp.clone(),
                writer,
                epoch,
                first,
                last,
                len,
            })
            .await
    }

    /// Takes in an upload's result: its records are durable, or the task fails (nothing of that
    /// object or any later one is committed; the records are consumed again on restart).
    fn finished(&mut self, done: Result<Uploaded, TaskError>) -> Result<(), TaskError> {
        let up = done?;
        self.in_flight = self.in_flight.saturating_sub(up.len);
        self.buffered = self.buffered.saturating_sub(up.len);
        if !up.written {
            return Ok(());
        }
        if let Some(state) = self.partitions.get_mut(&up.tp) {
            state.durable_next = Some(
                state
                    .durable_next
                    .map_or(up.last + 1, |d| d.max(up.last + 1)),
            );
        }
        Ok(())
    }

    /// Takes in every upload that finished meanwhile.
    fn collect_finished(&mut self) -> Result<(), TaskError> {
        while let Some(done) = self.uploader.try_done() {
            self.finished(done)?;
        }
        Ok(())
    }

    /// Waits for the next upload to finish and takes it in; call it with uploads pending.
    async fn finish_next(&mut self) -> Result<(), TaskError> {
        match self.uploader.next_done().await {
            Some(done) => self.finished(done),
            None => Err(TaskError::Other("the uploader stopped".into())),
        }
    }

    /// Waits until every sealed object is in the bucket.
    async fn wait_uploads(&mut self) -> Result<(), TaskError> {
        while self.in_flight > 0 {
            self.finish_next().await?;
        }
        Ok(())
    }

    fn report(&self) {
        let (buffered, partitions) = (self.buffered, self.partitions.len());
        self.calls.progress.update(|s| {
            s.buffered = buffered;
            s.partitions = partitions;
        });
    }

    /// Records the topics' shape and the consumer groups' offsets beside the backup, every
    /// `metadata.interval.ms` and when the task stops. It runs in the background, one sampling
    /// at a time, so a cluster with many consumer groups never delays uploads or commits; a
    /// failure is logged and shown among the progress warnings until a sampling succeeds, never
    /// fatal: the records matter more than their metadata, but a restore needs it to create
    /// topics and move consumer groups.
    fn record_metadata(&mut self, now: bool) {
        let due = self
            .last_metadata
            .is_none_or(|t| t.elapsed() >= self.metadata_interval);
        let busy = self.metadata_job.as_ref().is_some_and(|j| !j.is_finished());
        if !(now || due) || busy || self.partitions.is_empty() {
            return;
        }
        self.last_metadata = Some(Instant::now());
        let mut topics: Vec<String> = self.partitions.keys().map(|(t, _)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        let own_group = self.ctx.clients.sink_group(&self.ctx.connector);
        let (clients, store, interval, progress) = (
            self.ctx.clients.clone(),
            self.calls.store.clone(),
            self.metadata_interval,
            self.calls.progress.clone(),
        );
        self.metadata_job = Some(tokio::spawn(async move {
            let sampled = tokio::time::timeout(
                METADATA_TIMEOUT,
                backup_metadata::write(&clients, &store, &topics, &own_group),
            )
            .await;
            let failed = match sampled {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!(
                    "could not record topic and consumer group metadata (retried in {interval:?}; a restore cannot create topics or move groups without it): {e}"
                )),
                Err(_) => Some(format!(
                    "recording topic and consumer group metadata took over {METADATA_TIMEOUT:?}; retried in {interval:?}"
                )),
            };
            if let Some(why) = &failed {
                warn!("{why}");
            }
            progress.update(|s| s.metadata_error = failed);
        }));
    }

    /// Over budget: seals the fullest buffers until what stays open is under half the budget,
    /// then waits for uploads until the task is back under its budget.
    async fn shed(&mut self) -> Result<(), TaskError> {
        self.collect_finished()?;
        while self.buffered.saturating_sub(self.in_flight) > self.budget / 2 {
            let fullest = self
                .partitions
                .iter()
                .filter_map(|(tp, s)| s.writer.as_ref().map(|w| (w.encoded_len(), tp.clone())))
                .max();
            let Some((_, tp)) = fullest else { break };
            self.seal(&tp).await?;
        }
        while self.buffered > self.budget && self.in_flight > 0 {
            self.finish_next().await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SinkTask for S3SinkTask {
    async fn put(&mut self, records: Vec<SinkRecord>) -> Result<(), TaskError> {
        self.collect_finished()?;
        // The records were read before any revocation from here on.
        let epoch = self.uploader.pending().epoch();
        for r in records {
            let tp: TopicPartition = (r.topic, r.partition);
            if !self.partitions.contains_key(&tp) {
                let state = self.open(&tp, epoch).await?;
                self.partitions.insert(tp.clone(), state);
            }
            let Some(state) = self.partitions.get_mut(&tp) else {
                continue;
            };
            let offset = r.record.offset;
            let expected = state.consumed_next.or(state.durable_next);
            state.consumed_next = Some(
                state
                    .consumed_next
                    .map_or(offset + 1, |c| c.max(offset + 1)),
            );
            if let Some(expected) = expected.filter(|e| offset > *e) {
                self.check_gap(&tp, expected).await;
            }
            let Some(state) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if state.durable_next.is_some_and(|d| offset < d) {
                continue;
            }
            if let Some(w) = &state.writer
                && w.last_offset().is_some_and(|l| offset <= l)
            {
                continue;
            }
            // A new object starts with its header (or version field): counted like its records,
            // since sealing and revoking take its whole encoded length off the budget.
            let (writer, before) = match &mut state.writer {
                Some(w) => {
                    let len = w.encoded_len();
                    (w, len)
                }
                None => {
                    state.opened_at = Instant::now();
                    (
                        state.writer.insert(
                            ObjectWriter::new(self.format, self.compression).with_level(self.level),
                        ),
                        0,
                    )
                }
            };
            writer.push(&r.record);
            let after = writer.encoded_len();
            let full = after >= self.flush_bytes
                || (self.flush_records > 0 && writer.record_count() >= self.flush_records);
            self.buffered += after - before;
            if full {
                self.seal(&tp).await?;
            } else if self.buffered > self.budget {
                // Checked per record, so a large batch cannot overshoot the budget.
                self.shed().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, all: bool) -> Result<BTreeMap<TopicPartition, i64>, TaskError> {
        if self.ctx.abandoned() {
            // Nothing more is written or committed: another worker may own the partitions.
            return Ok(BTreeMap::new());
        }
        self.collect_finished()?;
        let due: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| {
                s.writer.as_ref().is_some_and(|w| w.record_count() > 0)
                    && (all || s.opened_at.elapsed() >= self.flush_interval)
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in due {
            self.seal(&tp).await?;
        }
        if all {
            self.wait_uploads().await?;
        }
        self.record_metadata(all);
        let mut committable = BTreeMap::new();
        let pending = self.uploader.pending();
        for (tp, s) in &self.partitions {
            if pending.fenced(tp, s.epoch) {
                // Revoked, its state not yet dropped: what it held is not written.
                continue;
            }
            let next = pending
                .oldest(tp)
                .or_else(|| s.writer.as_ref().and_then(ObjectWriter::first_offset))
                .or(s.consumed_next);
            if let Some(n) = next {
                committable.insert(tp.clone(), n);
            }
        }
        self.report();
        Ok(committable)
    }

    fn revocation_barrier(&self) -> Option<RevocationBarrier> {
        let pending = self.uploader.pending().clone();
        let limit = self.calls.retry_limit.min(REBALANCE_WAIT_LIMIT);
        Some(Arc::new(move |parts: &[TopicPartition]| {
            pending.revoke(parts, limit)
        }))
    }

    fn kafka_trouble(&mut self, trouble: Option<String>) {
        self.calls.progress.update(|s| s.kafka_error = trouble);
    }

    fn revoked(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(s) = self.partitions.remove(tp)
                && let Some(w) = s.writer
            {
                self.buffered = self.buffered.saturating_sub(w.encoded_len());
                debug!(topic = %tp.0, partition = tp.1, records = w.record_count(), "partition revoked: dropping unwritten records (they are not committed)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    fn fields(errors: Vec<(String, String)>) -> Vec<String> {
        errors.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    }

    #[test]
    fn compression_level_is_checked_against_its_codec() {
        assert!(validate(&props(&[("compression.level", "1")])).is_empty());
        assert!(
            validate(&props(&[
                ("compression", "gzip"),
                ("compression.level", "9")
            ]))
            .is_empty()
        );
        let too_high = validate(&props(&[("compression.level", "30")]));
        assert_eq!(fields(too_high.clone()), ["compression.level"]);
        assert!(too_high[0].1.contains("1 to 19"), "{too_high:?}");
        assert_eq!(
            fields(validate(&props(&[
                ("compression", "gzip"),
                ("compression.level", "12")
            ]))),
            ["compression.level"]
        );
        let lz4 = validate(&props(&[
            ("compression", "lz4"),
            ("compression.level", "3"),
        ]));
        assert!(lz4[0].1.contains("remove it"), "{lz4:?}");
        assert_eq!(
            fields(validate(&props(&[("compression.level", "fast")]))),
            ["compression.level"]
        );
    }

    #[test]
    fn budget_and_upload_lanes_are_checked() {
        assert_eq!(
            fields(validate(&props(&[
                ("flush.size.bytes", "1000"),
                ("buffer.max.bytes", "999"),
            ]))),
            ["buffer.max.bytes"]
        );
        assert_eq!(
            fields(validate(&props(&[("s3.upload.concurrency", "0")]))),
            ["s3.upload.concurrency"]
        );
        assert!(validate(&props(&[("s3.upload.concurrency", "8")])).is_empty());
    }

    #[test]
    fn encryption_and_s3_settings_errors_name_their_own_field() {
        assert_eq!(
            fields(validate(&props(&[("s3.sse.kms.key.id", "alias/backups")]))),
            ["s3.sse.kms.key.id"]
        );
        assert!(
            validate(&props(&[
                ("s3.sse", "aws:kms"),
                ("s3.sse.kms.key.id", "alias/backups")
            ]))
            .is_empty()
        );
        assert_eq!(
            fields(validate(&props(&[
                ("aws.s3.bucket", "b"),
                ("s3.enablePathStyle", "maybe")
            ]))),
            ["s3.enablePathStyle"]
        );
        assert_eq!(
            fields(validate(&props(&[
                ("aws.s3.bucket", "b"),
                ("aws.secretKey", "s")
            ]))),
            ["aws.accessKeyId"]
        );
        let missing_secret = validate(&props(&[
            ("aws.s3.bucket", "b"),
            ("aws.accessKeyId", "AKIAXXXX"),
        ]));
        assert_eq!(fields(missing_secret.clone()), ["aws.secretKey"]);
        assert!(
            missing_secret[0].1.contains("go together") && !missing_secret[0].1.contains("AKIA"),
            "{missing_secret:?}"
        );
    }
}
