//! Background uploads for the backup sink: sealed objects are compressed and written while the
//! task goes on consuming, in several lanes (`s3.upload.concurrency`). A partition always uses
//! the same lane and a lane writes one object at a time, in the order they were sealed, so each
//! partition's objects land in offset order: when an upload fails for good, the objects sealed
//! after it are never written, and the bucket never holds a later object past a hole that a
//! restart's listing would skip over.
//!
//! Rebalances wait for the uploads of revoked partitions ([`PendingUploads::revoke`]), so the
//! partition's next owner lists the bucket only after everything this task sealed is in it. A
//! revocation also fences the partition: an object of it sealed from records read before the
//! revocation (the task may still be taking in a batch while the consumer keeps its place in
//! the group) is dropped, not written, since the next owner may already be writing from the
//! committed offset and a late object past its end would hide a hole from a restart's listing.

use super::backup_progress::BackupProgress;
use crate::runtime::{TaskContext, TaskError, TopicPartition};
use crate::storage::s3::{PutOutcome, Store};
use crate::storage::{RetryingTask, retry_s3};
use skiff_format::{ObjectWriter, object_key};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::{debug, warn};

/// An object's records, sealed and handed to the uploader.
pub struct Sealed {
    pub tp: TopicPartition,
    pub writer: ObjectWriter,
    /// [`PendingUploads::epoch`] when the task took up the partition: an object from before the
    /// partition's latest revocation is not written.
    pub epoch: u64,
    /// Offset of its first record (the object key's first half).
    pub first: i64,
    /// Offset of its last record.
    pub last: i64,
    /// What the records count against the task's memory budget.
    pub len: usize,
}

/// An object done with: in the bucket, or dropped because its partition was revoked.
#[derive(Debug)]
pub struct Uploaded {
    pub tp: TopicPartition,
    /// Offset of its last record: the partition is durable up to here, when `written`.
    pub last: i64,
    /// What it counted against the budget ([`Sealed::len`]).
    pub len: usize,
    /// Whether it is in the bucket; `false`: its partition was revoked before it was written.
    pub written: bool,
}

/// First offsets of the objects sealed but not yet in the bucket, per partition, shared with
/// the consumer's rebalance callback. An object whose upload failed stays listed: nothing from
/// its first offset on may be committed.
#[derive(Default)]
pub struct PendingUploads {
    state: Mutex<PendingState>,
    changed: Condvar,
}

#[derive(Default)]
struct PendingState {
    /// Per partition: its lane, and the first offsets of its objects not yet in the bucket.
    firsts: HashMap<TopicPartition, (usize, VecDeque<i64>)>,
    /// Lanes stopped by a failure: their partitions' listed objects will not be written.
    dead: HashSet<usize>,
    /// The uploader is gone (its task ended): nothing listed will be written.
    stopped: bool,
    /// Counts revocations.
    epoch: u64,
    /// Per partition, the epoch its latest revocation started: objects of it sealed from an
    /// earlier epoch are not written.
    revoked_at: HashMap<TopicPartition, u64>,
}

impl PendingState {
    /// Whether an upload of one of `parts` may still land in the bucket.
    fn writing_any(&self, parts: &[TopicPartition]) -> bool {
        !self.stopped
            && parts.iter().any(|p| {
                self.firsts
                    .get(p)
                    .is_some_and(|(lane, _)| !self.dead.contains(lane))
            })
    }
}

impl PendingUploads {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, tp: &TopicPartition, lane: usize, first: i64) {
        self.lock()
            .firsts
            .entry(tp.clone())
            .or_insert_with(|| (lane, VecDeque::new()))
            .1
            .push_back(first);
    }

    /// The oldest object of `tp` is in the bucket.
    fn written(&self, tp: &TopicPartition) {
        let mut s = self.lock();
        if let Some((_, q)) = s.firsts.get_mut(tp) {
            q.pop_front();
            if q.is_empty() {
                s.firsts.remove(tp);
            }
        }
        drop(s);
        self.changed.notify_all();
    }

    fn lane_failed(&self, lane: usize) {
        self.lock().dead.insert(lane);
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// The current epoch: a partition taken up now is not fenced by the revocations so far.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Whether an object of `tp` sealed in `epoch` comes from before the partition's latest
    /// revocation.
    pub fn fenced(&self, tp: &TopicPartition, epoch: u64) -> bool {
        self.lock().revoked_at.get(tp).is_some_and(|at| epoch < *at)
    }

    /// The partitions are given up (the consumer's rebalance callback): waits until no upload
    /// of them can still land, or `limit` passed, then fences them, so that nothing sealed from
    /// what the task read before is written afterwards.
    pub fn revoke(&self, parts: &[TopicPartition], limit: Duration) {
        self.wait_for(parts, limit);
        let mut s = self.lock();
        s.epoch += 1;
        let epoch = s.epoch;
        for p in parts {
            s.revoked_at.insert(p.clone(), epoch);
        }
    }

    /// First offset of the oldest object of `tp` not yet in the bucket: nothing from there on
    /// may be committed.
    pub fn oldest(&self, tp: &TopicPartition) -> Option<i64> {
        self.lock()
            .firsts
            .get(tp)
            .and_then(|(_, q)| q.front().copied())
    }

    /// Blocks (on the consumer's thread, inside a rebalance) until no upload of `parts` can
    /// still land, or `limit` passed.
    fn wait_for(&self, parts: &[TopicPartition], limit: Duration) {
        let wait = || {
            let deadline = Instant::now() + limit;
            let mut s = self.lock();
            while s.writing_any(parts) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    warn!(
                        "rebalance: uploads of revoked partitions still running after {limit:?}; \
                         letting the rebalance go on (their next owner may write some records again)"
                    );
                    return;
                }
                s = self
                    .changed
                    .wait_timeout(s, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        // The uploads run on the runtime this thread belongs to: hand its work to another
        // thread while this one waits. A single-threaded runtime could not run them meanwhile.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => {
                if self.lock().writing_any(parts) {
                    warn!("rebalance: cannot wait for uploads on a single-threaded runtime");
                }
            }
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        }
    }
}

/// The task's side of the uploader.
pub struct Uploader {
    lanes: Vec<mpsc::Sender<(Sealed, OwnedSemaphorePermit)>>,
    /// One permit per lane: a lane holds one object at a time, so a partition holds at most its
    /// open buffer and one object being written.
    idle: Vec<Arc<Semaphore>>,
    /// Picks a partition's lane.
    lane_of: RandomState,
    done: mpsc::UnboundedReceiver<Result<Uploaded, TaskError>>,
    pending: Arc<PendingUploads>,
    jobs: Vec<tokio::task::JoinHandle<()>>,
}

impl Uploader {
    /// Starts the background uploader of one task with `lanes` uploads at a time (at least one).
    pub fn start(calls: BackupCalls, lanes: usize) -> Self {
        let (done_tx, done) = mpsc::unbounded_channel();
        let pending = Arc::new(PendingUploads::default());
        let (mut senders, mut idle, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
        for lane in 0..lanes.max(1) {
            let (queue, rx) = mpsc::channel(1);
            idle.push(Arc::new(Semaphore::new(1)));
            let worker = UploadWorker {
                lane,
                calls: calls.clone(),
            };
            jobs.push(tokio::spawn(worker.run(
                rx,
                done_tx.clone(),
                pending.clone(),
            )));
            senders.push(queue);
        }
        Uploader {
            lanes: senders,
            idle,
            lane_of: RandomState::new(),
            done,
            pending,
            jobs,
        }
    }

    /// The pending objects, for commits and rebalances.
    pub fn pending(&self) -> &Arc<PendingUploads> {
        &self.pending
    }

    /// Hands an object to its partition's lane once the lane's previous upload is done. It is
    /// listed as pending from then on: a revocation while it waits for the lane (the consumer
    /// is polled meanwhile) must not wait for it, since nothing sends it while the task is held
    /// in the rebalance; the revocation fences it instead.
    pub async fn seal(&mut self, sealed: Sealed) -> Result<(), TaskError> {
        let lane = (self.lane_of.hash_one(&sealed.tp) % self.lanes.len() as u64) as usize;
        if let Ok(permit) = self.idle[lane].clone().acquire_owned().await {
            self.pending.add(&sealed.tp, lane, sealed.first);
            if self.lanes[lane].send((sealed, permit)).await.is_ok() {
                return Ok(());
            }
        }
        // The lane stopped after a failure, whose result is queued: that failure is the answer.
        while let Ok(r) = self.done.try_recv() {
            r?;
        }
        Err(TaskError::Other(
            "an earlier upload failed; the backup stopped there".into(),
        ))
    }

    /// A finished upload, if one is ready.
    pub fn try_done(&mut self) -> Option<Result<Uploaded, TaskError>> {
        self.done.try_recv().ok()
    }

    /// Waits for the next finished upload; only call it with uploads pending.
    pub async fn next_done(&mut self) -> Option<Result<Uploaded, TaskError>> {
        self.done.recv().await
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        for job in &self.jobs {
            job.abort();
        }
        self.pending.stop();
    }
}

/// What a backup's S3 calls need: the store, how long a failing call is retried, whether the
/// task is stopping, and where a failing call is shown. The task's listings and every upload
/// lane share one.
#[derive(Clone)]
pub struct BackupCalls {
    pub store: Store,
    /// `s3.retry.timeout.ms`.
    pub retry_limit: Duration,
    pub ctx: TaskContext,
    pub progress: Arc<BackupProgress>,
}

impl RetryingTask for BackupCalls {
    fn store(&self) -> Store {
        self.store.clone()
    }

    fn retry_limit(&self) -> Duration {
        self.retry_limit
    }

    fn stopping(&self) -> bool {
        self.ctx.stopping()
    }

    fn show_error(&mut self, error: Option<String>) {
        self.progress.update(|s| s.last_error = error);
    }
}

/// The background half of one lane: compresses and writes each object, retrying S3 as the task
/// would.
struct UploadWorker {
    lane: usize,
    calls: BackupCalls,
}

impl UploadWorker {
    async fn run(
        mut self,
        mut queue: mpsc::Receiver<(Sealed, OwnedSemaphorePermit)>,
        done: mpsc::UnboundedSender<Result<Uploaded, TaskError>>,
        pending: Arc<PendingUploads>,
    ) {
        while let Some((sealed, _busy)) = queue.recv().await {
            let tp = sealed.tp.clone();
            match self.upload(sealed, &pending).await {
                Ok(uploaded) => {
                    // The result is queued before the rebalance callback is released, so the
                    // task learns of it before it handles the revocation.
                    let gone = done.send(Ok(uploaded)).is_err();
                    pending.written(&tp);
                    if gone {
                        break;
                    }
                }
                Err(e) => {
                    // The failed object stays pending, so no commit passes it; the lane takes
                    // nothing more, so no later object of its partitions is written.
                    queue.close();
                    let _ = done.send(Err(e));
                    pending.lane_failed(self.lane);
                    break;
                }
            }
        }
    }

    /// An abandoned task's partitions may already have another owner: none of its objects is
    /// written from then on (one already being sent cannot be called back).
    fn refuse_if_abandoned(&self) -> Result<(), TaskError> {
        if self.calls.ctx.abandoned() {
            return Err(TaskError::Other(
                "object not written: the task was abandoned (its worker's group session ran out)"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn upload(
        &mut self,
        sealed: Sealed,
        pending: &PendingUploads,
    ) -> Result<Uploaded, TaskError> {
        let Sealed {
            tp,
            writer,
            epoch,
            first,
            last,
            len,
        } = sealed;
        let dropped = |tp: TopicPartition| {
            debug!(topic = %tp.0, partition = tp.1, first, last, "object not written: its partition was revoked (the next owner backs these records up)");
            Ok(Uploaded {
                tp,
                last,
                len,
                written: false,
            })
        };
        if pending.fenced(&tp, epoch) {
            return dropped(tp);
        }
        let count = writer.record_count();
        self.refuse_if_abandoned()?;
        let body = tokio::task::spawn_blocking(move || bytes::Bytes::from(writer.finish()))
            .await
            .map_err(|e| TaskError::Other(format!("compressing an object failed: {e}")))?;
        self.refuse_if_abandoned()?;
        let bytes = body.len();
        let key = object_key(&self.calls.store.settings.prefix, &tp.0, tp.1, first, last);
        let meta = [("skiff-records", count.to_string())];
        let mut calls = ObjectCalls {
            calls: &mut self.calls,
            pending,
            tp: &tp,
            epoch,
        };
        let outcome = match retry_s3(&mut calls, &format!("uploading {key}"), |store| {
            let (key, body, meta) = (key.clone(), body.clone(), meta.clone());
            async move { store.put_new(&key, body, &meta).await }
        })
        .await
        {
            Err(_) if pending.fenced(&tp, epoch) => return dropped(tp),
            outcome => outcome?,
        };
        if outcome == PutOutcome::AlreadyExists {
            warn!(%key, "object already in the bucket (written by an earlier owner); keeping it");
        }
        self.calls.progress.update(|s| {
            s.objects += 1;
            s.records += count as u64;
            s.bytes += bytes as u64;
            s.last_object = Some(key);
        });
        Ok(Uploaded {
            tp,
            last,
            len,
            written: true,
        })
    }
}

/// The retries of one object's upload: they also end when its partition is revoked.
struct ObjectCalls<'a> {
    calls: &'a mut BackupCalls,
    pending: &'a PendingUploads,
    tp: &'a TopicPartition,
    epoch: u64,
}

impl RetryingTask for ObjectCalls<'_> {
    fn store(&self) -> Store {
        self.calls.store()
    }

    fn retry_limit(&self) -> Duration {
        self.calls.retry_limit()
    }

    fn stopping(&self) -> bool {
        self.calls.stopping() || self.pending.fenced(self.tp, self.epoch)
    }

    fn show_error(&mut self, error: Option<String>) {
        self.calls.show_error(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn tp(p: i32) -> TopicPartition {
        ("t".to_string(), p)
    }

    #[test]
    fn oldest_pending_object_bounds_the_commit() {
        let pending = PendingUploads::default();
        assert_eq!(pending.oldest(&tp(0)), None);
        pending.add(&tp(0), 0, 100);
        pending.add(&tp(0), 0, 200);
        pending.add(&tp(1), 1, 7);
        assert_eq!(pending.oldest(&tp(0)), Some(100));
        pending.written(&tp(0));
        assert_eq!(pending.oldest(&tp(0)), Some(200));
        pending.written(&tp(0));
        assert_eq!(pending.oldest(&tp(0)), None);
        assert_eq!(pending.oldest(&tp(1)), Some(7));
    }

    #[test]
    fn revocation_waits_for_the_revoked_partitions_uploads_only() {
        let pending = Arc::new(PendingUploads::default());
        pending.add(&tp(0), 0, 0);
        pending.add(&tp(1), 1, 0);
        let uploader = {
            let pending = pending.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(300));
                pending.written(&tp(0));
            })
        };
        let started = Instant::now();
        pending.wait_for(&[tp(0)], Duration::from_secs(30));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250),
            "returned after {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(10),
            "returned after {waited:?}"
        );
        // Partition 1 still has an upload pending, but nothing waits on it.
        let started = Instant::now();
        pending.wait_for(&[tp(0), tp(2)], Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_millis(100));
        uploader.join().unwrap();
    }

    #[test]
    fn revocation_stops_waiting_when_the_uploader_stops_or_at_the_limit() {
        let pending = Arc::new(PendingUploads::default());
        pending.add(&tp(0), 0, 0);
        let started = Instant::now();
        pending.wait_for(&[tp(0)], Duration::from_millis(200));
        assert!(started.elapsed() >= Duration::from_millis(200));
        let stopper = {
            let pending = pending.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                pending.stop();
            })
        };
        let started = Instant::now();
        pending.wait_for(&[tp(0)], Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            pending.oldest(&tp(0)),
            Some(0),
            "a stopped uploader's objects stay pending"
        );
        stopper.join().unwrap();
    }

    #[test]
    fn a_failed_lane_holds_back_commits_but_not_rebalances_and_not_other_lanes() {
        let pending = PendingUploads::default();
        pending.add(&tp(0), 0, 40);
        pending.add(&tp(1), 1, 90);
        pending.lane_failed(0);
        assert_eq!(
            pending.oldest(&tp(0)),
            Some(40),
            "records of a failed upload must never be committed"
        );
        let started = Instant::now();
        pending.wait_for(&[tp(0)], Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_millis(100));
        let started = Instant::now();
        pending.wait_for(&[tp(0), tp(1)], Duration::from_millis(200));
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "lane 1 is still writing partition 1"
        );
    }

    /// An uploader whose store is a closed port, and the task's context.
    async fn uploader_to_nowhere() -> (Uploader, tokio::sync::watch::Sender<bool>) {
        let (ctx, _stop, lapsed) = TaskContext::for_test("backup");
        let settings =
            crate::storage::s3::S3Settings::from_config(&crate::config::properties::props(&[
                ("aws.s3.bucket", "b"),
                ("s3.endpoint", "http://127.0.0.1:1"),
                ("aws.region", "us-east-1"),
                ("aws.accessKeyId", "k"),
                ("aws.secretKey", "s"),
            ]))
            .unwrap();
        let calls = BackupCalls {
            store: settings.connect().await.unwrap(),
            retry_limit: Duration::from_millis(300),
            ctx: ctx.clone(),
            progress: Arc::new(BackupProgress::new(ctx.clone())),
        };
        (Uploader::start(calls, 1), lapsed)
    }

    fn one_record_object() -> Sealed {
        let mut writer = ObjectWriter::new(
            skiff_format::Format::SkiffV1,
            skiff_format::Compression::None,
        );
        writer.push(&skiff_format::Record {
            offset: 5,
            timestamp: 1,
            timestamp_type: skiff_format::TimestampType::CreateTime,
            key: None,
            value: Some(b"v".to_vec()),
            headers: vec![],
        });
        let len = writer.encoded_len();
        Sealed {
            tp: tp(0),
            writer,
            epoch: 0,
            first: 5,
            last: 5,
            len,
        }
    }

    #[test]
    fn a_revocation_fences_what_was_taken_up_before_it_only() {
        let pending = PendingUploads::default();
        let before = pending.epoch();
        assert!(!pending.fenced(&tp(0), before));
        pending.revoke(&[tp(0)], Duration::from_secs(1));
        assert!(
            pending.fenced(&tp(0), before),
            "sealed before the revocation"
        );
        assert!(!pending.fenced(&tp(1), before), "another partition");
        let after = pending.epoch();
        assert!(!pending.fenced(&tp(0), after), "taken up again afterwards");
        pending.revoke(&[tp(1)], Duration::from_secs(1));
        assert!(
            !pending.fenced(&tp(0), after),
            "a later revocation of another partition"
        );
    }

    #[tokio::test]
    async fn an_object_of_a_revoked_partition_is_dropped_unwritten() {
        let (mut uploader, _lapsed) = uploader_to_nowhere().await;
        let object = one_record_object();
        uploader
            .pending()
            .revoke(std::slice::from_ref(&object.tp), Duration::from_secs(1));
        let len = object.len;
        uploader.seal(object).await.unwrap();
        // The store is a closed port: an upload attempt would fail.
        let done = uploader.next_done().await.unwrap().unwrap();
        assert!(!done.written && done.len == len, "{done:?}");
        assert_eq!(uploader.pending().oldest(&tp(0)), None);
    }

    #[tokio::test]
    async fn an_abandoned_tasks_objects_are_not_written() {
        let (mut uploader, lapsed) = uploader_to_nowhere().await;
        lapsed.send_replace(true);
        uploader.seal(one_record_object()).await.unwrap();
        let err = uploader.next_done().await.unwrap().unwrap_err().to_string();
        assert!(err.contains("abandoned"), "{err}");
        // Not abandoned, the same object is sent (and fails on the closed port).
        let (mut uploader, _lapsed) = uploader_to_nowhere().await;
        uploader.seal(one_record_object()).await.unwrap();
        let err = uploader.next_done().await.unwrap().unwrap_err().to_string();
        assert!(!err.contains("abandoned"), "{err}");
    }
}
