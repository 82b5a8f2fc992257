//! Source offsets: `(connector, source partition) -> source offset`, the same key and value
//! shapes Connect uses (`["<connector>", {partition}]` -> `{offset}`). Standalone mode keeps them
//! in a local file written atomically (temp file, fsync, rename), so a crash leaves either the
//! old or the new file, never a torn one. Distributed mode writes them to the offsets topic
//! through an [`OffsetLog`]; the runtime sees the same store either way.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use thiserror::Error;

/// A source partition or offset: a JSON object.
pub type JsonMap = Map<String, Value>;

/// Reading or writing the offsets file failed.
#[derive(Debug, Error)]
pub enum OffsetError {
    #[error("cannot read offsets file {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write offsets file {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write offsets to the offsets topic: {0}")]
    Log(String),
}

/// One offset record: connector, source partition and offset (`None` removes it).
pub type OffsetRecord = (String, JsonMap, Option<JsonMap>);

/// Where a distributed worker persists offsets (the offsets topic); the file is the other place.
#[async_trait::async_trait]
pub trait OffsetLog: Send + Sync + std::fmt::Debug {
    /// Writes the records durably (acknowledged by the brokers) before returning.
    async fn write(&self, records: Vec<OffsetRecord>) -> Result<(), String>;
}

/// One line of the offsets file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    key: (String, JsonMap),
    value: JsonMap,
}

type Table = BTreeMap<(String, String), (JsonMap, JsonMap)>;

/// Source offsets in memory, persisted to a file or an offsets topic when one is configured.
#[derive(Debug, Default)]
pub struct OffsetStore {
    path: Option<PathBuf>,
    log: Option<Arc<dyn OffsetLog>>,
    /// Keyed by connector and the partition's canonical JSON text.
    table: Mutex<Table>,
    /// Keys changed in memory since the last flush (written to the log on flush).
    dirty: Mutex<BTreeSet<(String, String)>>,
    /// Serialises file writes so an older snapshot never overwrites a newer one.
    write_lock: tokio::sync::Mutex<()>,
}

impl OffsetStore {
    /// Opens (or starts) the offsets file at `path`; `None` keeps offsets in memory only.
    pub fn open(path: Option<&Path>) -> Result<Arc<Self>, OffsetError> {
        let mut table = Table::new();
        if let Some(p) = path {
            match std::fs::read(p) {
                Ok(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                    let entries: Vec<Entry> =
                        serde_json::from_slice(&bytes).map_err(|e| OffsetError::Read {
                            path: p.display().to_string(),
                            message: format!(
                                "{e}; the file is not a Skiff offsets file (JSON). Move it away to start from scratch"
                            ),
                        })?;
                    for e in entries {
                        let canon = Value::Object(e.key.1.clone()).to_string();
                        table.insert((e.key.0, canon), (e.key.1, e.value));
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(OffsetError::Read {
                        path: p.display().to_string(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(Arc::new(OffsetStore {
            path: path.map(Path::to_path_buf),
            table: Mutex::new(table),
            ..OffsetStore::default()
        }))
    }

    /// A store persisted through `log` (the offsets topic); records read back from the log
    /// arrive through [`OffsetStore::apply_remote`].
    pub fn with_log(log: Arc<dyn OffsetLog>) -> Arc<Self> {
        Arc::new(OffsetStore {
            log: Some(log),
            ..OffsetStore::default()
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dirty(&self) -> MutexGuard<'_, BTreeSet<(String, String)>> {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a record read from the offsets topic, unless this worker changed that key since
    /// its last flush (its own newer value wins).
    pub fn apply_remote(&self, connector: &str, partition: JsonMap, offset: Option<JsonMap>) {
        let canon = Value::Object(partition.clone()).to_string();
        let key = (connector.to_string(), canon);
        if self.dirty().contains(&key) {
            return;
        }
        let mut t = self.lock();
        match offset {
            Some(o) => {
                t.insert(key, (partition, o));
            }
            None => {
                t.remove(&key);
            }
        }
    }

    /// The stored offset of one source partition.
    pub fn get(&self, connector: &str, partition: &JsonMap) -> Option<JsonMap> {
        let canon = Value::Object(partition.clone()).to_string();
        self.lock()
            .get(&(connector.to_string(), canon))
            .map(|(_, v)| v.clone())
    }

    /// Every stored partition and offset of a connector.
    pub fn list(&self, connector: &str) -> Vec<(JsonMap, JsonMap)> {
        self.lock()
            .iter()
            .filter(|((c, _), _)| c == connector)
            .map(|(_, (p, o))| (p.clone(), o.clone()))
            .collect()
    }

    /// Sets (or, with `None`, removes) offsets in memory; `flush` persists them.
    pub fn put(&self, connector: &str, updates: Vec<(JsonMap, Option<JsonMap>)>) {
        let mut t = self.lock();
        let mut dirty = self.dirty();
        for (partition, offset) in updates {
            let canon = Value::Object(partition.clone()).to_string();
            let key = (connector.to_string(), canon);
            if self.log.is_some() {
                dirty.insert(key.clone());
            }
            match offset {
                Some(o) => {
                    t.insert(key, (partition, o));
                }
                None => {
                    t.remove(&key);
                }
            }
        }
    }

    /// Forgets which offsets changed since the last flush, so no later flush writes them: this
    /// worker lost its place in the group, and the tasks that moved them may run elsewhere by
    /// now, whose newer offsets this worker's would overwrite. Their values stay until records
    /// of those keys are read back from the offsets topic, which then replace them.
    pub fn forget_unflushed(&self) {
        self.dirty().clear();
    }

    /// Removes every offset of a connector (offsets reset).
    pub fn remove_connector(&self, connector: &str) {
        let mut t = self.lock();
        if self.log.is_some() {
            let mut dirty = self.dirty();
            dirty.extend(t.keys().filter(|(c, _)| c == connector).cloned());
        }
        t.retain(|(c, _), _| c != connector);
    }

    /// Persists the changes: the whole table to the offsets file atomically, or the changed
    /// keys to the offsets log; a no-op with neither.
    pub async fn flush(&self) -> Result<(), OffsetError> {
        if let Some(log) = &self.log {
            return self.flush_to_log(log.as_ref()).await;
        }
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let _guard = self.write_lock.lock().await;
        let entries: Vec<Entry> = self
            .lock()
            .iter()
            .map(|((c, _), (p, o))| Entry {
                key: (c.clone(), p.clone()),
                value: o.clone(),
            })
            .collect();
        let text = serde_json::to_vec_pretty(&entries).map_err(|e| OffsetError::Write {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        let result = tokio::task::spawn_blocking(move || write_atomically(&path, &text)).await;
        match result {
            Ok(r) => r,
            Err(e) => Err(OffsetError::Write {
                path: self
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

impl OffsetStore {
    async fn flush_to_log(&self, log: &dyn OffsetLog) -> Result<(), OffsetError> {
        let _guard = self.write_lock.lock().await;
        let keys = std::mem::take(&mut *self.dirty());
        if keys.is_empty() {
            return Ok(());
        }
        let records: Vec<OffsetRecord> = {
            let t = self.lock();
            keys.iter()
                .map(|k| match t.get(k) {
                    Some((p, o)) => (k.0.clone(), p.clone(), Some(o.clone())),
                    None => {
                        let partition = serde_json::from_str(&k.1).unwrap_or_default();
                        (k.0.clone(), partition, None)
                    }
                })
                .collect()
        };
        if let Err(e) = log.write(records).await {
            self.dirty().extend(keys);
            return Err(OffsetError::Log(e));
        }
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OffsetError> {
    use std::io::Write;
    let err = |source| OffsetError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> JsonMap {
        match v {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        }
    }

    #[tokio::test]
    async fn offsets_survive_a_reopen_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        let store = OffsetStore::open(Some(&path)).unwrap();
        let part = map(json!({"source": "t/0", "targetPrefix": ""}));
        store.put(
            "c",
            vec![(part.clone(), Some(map(json!({"lastReadOffset": 7}))))],
        );
        store.put(
            "other",
            vec![(part.clone(), Some(map(json!({"lastReadOffset": 1}))))],
        );
        store.flush().await.unwrap();
        let reopened = OffsetStore::open(Some(&path)).unwrap();
        assert_eq!(reopened.get("c", &part).unwrap()["lastReadOffset"], 7);
        reopened.remove_connector("c");
        assert!(reopened.get("c", &part).is_none());
        assert_eq!(reopened.list("other").len(), 1);
    }

    /// Records what the store writes, as the offsets topic would receive it.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<OffsetRecord>>);

    #[async_trait::async_trait]
    impl OffsetLog for Recorder {
        async fn write(&self, records: Vec<OffsetRecord>) -> Result<(), String> {
            self.0.lock().unwrap().extend(records);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_log_gets_only_changes_and_remote_records_do_not_override_them() {
        let log = Arc::new(Recorder::default());
        let store = OffsetStore::with_log(log.clone());
        let part = map(json!({"source": "t/0"}));
        store.apply_remote("c", part.clone(), Some(map(json!({"o": 1}))));
        store.put("c", vec![(part.clone(), Some(map(json!({"o": 2}))))]);
        // An older record read back before the flush does not undo the newer value.
        store.apply_remote("c", part.clone(), Some(map(json!({"o": 1}))));
        store.flush().await.unwrap();
        store.flush().await.unwrap();
        let written = log.0.lock().unwrap().clone();
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].2.as_ref().unwrap()["o"], 2);
        store.remove_connector("c");
        store.flush().await.unwrap();
        assert_eq!(log.0.lock().unwrap()[1], ("c".to_string(), part, None));
    }

    #[tokio::test]
    async fn offsets_forgotten_after_a_lost_session_are_never_written_and_yield_to_the_log() {
        let log = Arc::new(Recorder::default());
        let store = OffsetStore::with_log(log.clone());
        let part = map(json!({"source": "t/0"}));
        store.put("c", vec![(part.clone(), Some(map(json!({"o": 5}))))]);
        store.forget_unflushed();
        store.flush().await.unwrap();
        assert!(
            log.0.lock().unwrap().is_empty(),
            "a forgotten offset was written"
        );
        // The new owner's offset, read back from the topic, replaces this worker's.
        store.apply_remote("c", part.clone(), Some(map(json!({"o": 9}))));
        assert_eq!(store.get("c", &part).unwrap()["o"], 9);
    }

    #[test]
    fn a_foreign_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets");
        std::fs::write(&path, [0xac, 0xed, 0, 5]).unwrap();
        let err = OffsetStore::open(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("not a Skiff offsets file"), "{err}");
    }
}
