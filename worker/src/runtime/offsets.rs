//! Source offsets: `(connector, source partition) -> source offset`, the same key and value
//! shapes Connect uses (`["<connector>", {partition}]` -> `{offset}`). Standalone mode keeps them
//! in a local file written atomically (temp file, fsync, rename), so a crash leaves either the
//! old or the new file, never a torn one.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
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
}

/// One line of the offsets file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    key: (String, JsonMap),
    value: JsonMap,
}

type Table = BTreeMap<(String, String), (JsonMap, JsonMap)>;

/// Source offsets in memory, persisted to a file when one is configured.
#[derive(Debug, Default)]
pub struct OffsetStore {
    path: Option<PathBuf>,
    /// Keyed by connector and the partition's canonical JSON text.
    table: Mutex<Table>,
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
            write_lock: tokio::sync::Mutex::new(()),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
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
        for (partition, offset) in updates {
            let canon = Value::Object(partition.clone()).to_string();
            let key = (connector.to_string(), canon);
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

    /// Removes every offset of a connector (offsets reset).
    pub fn remove_connector(&self, connector: &str) {
        self.lock().retain(|(c, _), _| c != connector);
    }

    /// Writes the table to the offsets file atomically; a no-op without a file.
    pub async fn flush(&self) -> Result<(), OffsetError> {
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

    #[test]
    fn a_foreign_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets");
        std::fs::write(&path, [0xac, 0xed, 0, 5]).unwrap();
        let err = OffsetStore::open(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("not a Skiff offsets file"), "{err}");
    }
}
