//! The backup task's progress document (`GET /connectors/{c}/progress`, the KafkaConnector
//! status): counters shared by the task, which consumes, and its uploader, which writes objects
//! in the background, so each can report the moment something changes.

use crate::runtime::TaskContext;
use std::sync::{Mutex, PoisonError};

/// Warnings kept in the progress document.
const MAX_WARNINGS: usize = 20;

/// What the document shows.
#[derive(Default)]
pub struct Stats {
    pub objects: u64,
    pub records: u64,
    pub bytes: u64,
    pub last_object: Option<String>,
    /// The S3 call being retried, if any.
    pub last_error: Option<String>,
    /// The Kafka fault the consumer is riding out, if any; shown when no S3 call is failing.
    pub kafka_error: Option<String>,
    /// Holes in the backup: records deleted from Kafka before they were read (latest last).
    pub warnings: Vec<String>,
    /// Why the latest metadata sampling failed, if it did; shown among the warnings.
    pub metadata_error: Option<String>,
    /// Bytes held for upload: records not yet sealed into an object, and sealed objects not yet
    /// in the bucket.
    pub buffered: usize,
    pub partitions: usize,
}

/// The shared counters and the task they describe.
pub struct BackupProgress {
    ctx: TaskContext,
    stats: Mutex<Stats>,
}

impl BackupProgress {
    pub fn new(ctx: TaskContext) -> Self {
        BackupProgress {
            ctx,
            stats: Mutex::new(Stats::default()),
        }
    }

    /// Applies `change` and publishes the document.
    pub fn update(&self, change: impl FnOnce(&mut Stats)) {
        let doc = {
            let mut s = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut s);
            serde_json::json!({
                "objectsWritten": s.objects,
                "recordsWritten": s.records,
                "bytesWritten": s.bytes,
                "lastObject": s.last_object,
                "lastError": s.last_error.as_ref().or(s.kafka_error.as_ref()),
                "warnings": s.warnings.iter().chain(&s.metadata_error).collect::<Vec<_>>(),
                "bufferedBytes": s.buffered,
                "partitions": s.partitions,
            })
        };
        self.ctx
            .status
            .set_progress(&self.ctx.connector, self.ctx.task, doc);
    }

    /// Adds a warning, keeping the latest `MAX_WARNINGS`.
    pub fn warn(&self, warning: String) {
        self.update(|s| {
            if s.warnings.len() == MAX_WARNINGS {
                s.warnings.remove(0);
            }
            s.warnings.push(warning);
        });
    }
}
