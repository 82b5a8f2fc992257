//! The offsets topic behind the runtime's [`OffsetStore`] (Connect's `KafkaOffsetBackingStore`):
//! source offsets keyed `["<connector>",{partition}]`, read by every worker so a task that moves
//! carries on from where its previous worker committed.

use super::DistributedError;
use super::kafka_log::{KafkaLog, TopicSpec};
use super::records;
use crate::config::worker::WorkerConfig;
use crate::runtime::offsets::{OffsetLog, OffsetRecord, OffsetStore};
use std::sync::{Arc, OnceLock};

/// Writes offset records to the offsets topic.
pub struct KafkaOffsetLog {
    log: OnceLock<KafkaLog>,
}

impl std::fmt::Debug for KafkaOffsetLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let topic = self.log.get().map_or("", KafkaLog::topic);
        f.debug_struct("KafkaOffsetLog")
            .field("topic", &topic)
            .finish()
    }
}

#[async_trait::async_trait]
impl OffsetLog for KafkaOffsetLog {
    async fn write(&self, records: Vec<OffsetRecord>) -> Result<(), String> {
        let log = self
            .log
            .get()
            .ok_or_else(|| "the offsets topic is not open".to_string())?;
        for (connector, partition, offset) in records {
            let key = records::offset_key(&connector, &partition);
            let value = offset.map(|o| serde_json::Value::Object(o).to_string());
            log.send(&key, value.as_deref().map(str::as_bytes))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Opens the offsets topic and returns the store the runtime uses, filled from the topic.
pub async fn open(
    worker: &WorkerConfig,
    spec: TopicSpec,
) -> Result<(Arc<OffsetStore>, Arc<KafkaOffsetLog>), DistributedError> {
    let sink = Arc::new(KafkaOffsetLog {
        log: OnceLock::new(),
    });
    let store = OffsetStore::with_log(sink.clone());
    let weak = Arc::downgrade(&store);
    let apply = Box::new(
        move |key: Option<&[u8]>, value: Option<&[u8]>, _offset: i64| {
            let (Some(store), Some(key)) = (weak.upgrade(), key) else {
                return;
            };
            if let Some((connector, partition, offset)) = records::decode_offset(key, value) {
                store.apply_remote(&connector, partition, offset);
            }
        },
    );
    let log = KafkaLog::open(worker, spec, apply).await?;
    // Set exactly once, here.
    let _ = sink.log.set(log);
    Ok((store, sink))
}

impl KafkaOffsetLog {
    /// Reads the offsets topic to its end, so a task starting here sees the offsets its
    /// previous worker committed.
    pub async fn sync(&self) -> Result<(), DistributedError> {
        match self.log.get() {
            Some(l) => l.read_to_end().await,
            None => Ok(()),
        }
    }
}
