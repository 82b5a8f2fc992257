//! Connector and task states as the REST API reports them, with a per-task progress document
//! that long jobs (restores) fill in.

use skiff_api::rest::State;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a consumer lag is shown: three of librdkafka's statistics intervals.
const LAG_FRESH: Duration = Duration::from_millis(3 * super::group_health::STATS_INTERVAL_MS);

/// A state plus the error trace that explains a FAILED one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub state: State,
    pub trace: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    connectors: BTreeMap<String, StateEntry>,
    tasks: BTreeMap<(String, u32), StateEntry>,
    progress: BTreeMap<(String, u32), serde_json::Value>,
    /// Records a sink task's partitions hold past what it has committed, and when that was
    /// read.
    lag: BTreeMap<(String, u32), (i64, Instant)>,
    /// Topics a source connector's tasks wrote to (`GET /connectors/{c}/topics`).
    topics: BTreeMap<String, BTreeSet<String>>,
}

/// Shared status table; tasks write their own entries, the REST API reads them.
#[derive(Debug, Clone, Default)]
pub struct StatusStore {
    inner: Arc<Mutex<Inner>>,
}

impl StatusStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps half-updated (each update is a
        // single insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a connector's state.
    pub fn set_connector(&self, name: &str, state: State, trace: Option<String>) {
        self.lock()
            .connectors
            .insert(name.to_string(), StateEntry { state, trace });
    }

    /// Records a task's state.
    pub fn set_task(&self, name: &str, task: u32, state: State, trace: Option<String>) {
        self.lock()
            .tasks
            .insert((name.to_string(), task), StateEntry { state, trace });
    }

    /// Replaces a task's progress document.
    pub fn set_progress(&self, name: &str, task: u32, progress: serde_json::Value) {
        self.lock()
            .progress
            .insert((name.to_string(), task), progress);
    }

    /// Records a sink task's consumer lag; ignored once the task is forgotten, so a late
    /// statistics report of a stopped task's consumer does not bring it back.
    pub fn set_lag(&self, name: &str, task: u32, lag: i64) {
        let mut g = self.lock();
        let key = (name.to_string(), task);
        if g.tasks.contains_key(&key) {
            g.lag.insert(key, (lag, Instant::now()));
        }
    }

    /// Every sink task's consumer lag of a connector, by task id, read within [`LAG_FRESH`]:
    /// librdkafka reports it only while the task polls its consumer, so a task stalled (an
    /// upload retrying, say) shows no lag rather than the last one, which may be 0.
    pub fn lags(&self, name: &str) -> BTreeMap<u32, i64> {
        self.lock()
            .lag
            .iter()
            .filter(|((c, _), (_, at))| c == name && at.elapsed() < LAG_FRESH)
            .map(|((_, t), (lag, _))| (*t, *lag))
            .collect()
    }

    /// A connector's state, if it has one.
    pub fn connector(&self, name: &str) -> Option<StateEntry> {
        self.lock().connectors.get(name).cloned()
    }

    /// A task's state, if it has one.
    pub fn task(&self, name: &str, task: u32) -> Option<StateEntry> {
        self.lock().tasks.get(&(name.to_string(), task)).cloned()
    }

    /// Every task's progress document of a connector, by task id.
    pub fn progress(&self, name: &str) -> BTreeMap<u32, serde_json::Value> {
        self.lock()
            .progress
            .iter()
            .filter(|((c, _), _)| c == name)
            .map(|((_, t), v)| (*t, v.clone()))
            .collect()
    }

    /// Notes topics a source connector's task wrote to.
    pub fn add_topics<'a>(&self, name: &str, topics: impl IntoIterator<Item = &'a str>) {
        let mut g = self.lock();
        let set = g.topics.entry(name.to_string()).or_default();
        for t in topics {
            if !set.contains(t) {
                set.insert(t.to_string());
            }
        }
    }

    /// The topics a source connector wrote to since it was created or its topics were reset.
    pub fn topics(&self, name: &str) -> Vec<String> {
        self.lock()
            .topics
            .get(name)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets a connector's topics (`PUT /connectors/{c}/topics/reset`, or deletion).
    pub fn reset_topics(&self, name: &str) {
        self.lock().topics.remove(name);
    }

    /// Forgets a task (its connector was reconfigured to fewer tasks, stopped or deleted).
    pub fn remove_task(&self, name: &str, task: u32) {
        let mut g = self.lock();
        g.tasks.remove(&(name.to_string(), task));
        g.progress.remove(&(name.to_string(), task));
        g.lag.remove(&(name.to_string(), task));
    }

    /// Forgets a connector and its tasks.
    pub fn remove_connector(&self, name: &str) {
        let mut g = self.lock();
        g.connectors.remove(name);
        g.tasks.retain(|(c, _), _| c != name);
        g.progress.retain(|(c, _), _| c != name);
        g.lag.retain(|(c, _), _| c != name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_task_keeps_no_lag() {
        let s = StatusStore::default();
        s.set_lag("c", 0, 5);
        assert!(s.lags("c").is_empty(), "a task without a state has no lag");
        s.set_task("c", 0, State::Running, None);
        s.set_lag("c", 0, 5);
        assert_eq!(s.lags("c"), BTreeMap::from([(0, 5)]));
        s.remove_task("c", 0);
        s.set_lag("c", 0, 7);
        assert!(s.lags("c").is_empty());
    }

    #[test]
    fn source_topics_accumulate_until_reset() {
        let s = StatusStore::default();
        s.add_topics("restore", ["b", "a"]);
        s.add_topics("restore", ["a"]);
        assert_eq!(s.topics("restore"), ["a", "b"]);
        assert!(s.topics("other").is_empty());
        s.remove_connector("restore");
        assert_eq!(
            s.topics("restore"),
            ["a", "b"],
            "a stop keeps them, as in Connect"
        );
        s.reset_topics("restore");
        assert!(s.topics("restore").is_empty());
    }
}
