//! What a distributed herder is busy with, for `GET /health` (KIP-1017). Apache Connect's health
//! check waits for its herder thread and, when the thread does not get to it within 10 s,
//! answers 500 naming the stage that holds it and since when. Skiff's herder work (applying an
//! assignment, reconciling after a config change, a restart) runs under one lock while its
//! group heartbeats go on elsewhere, so a herder stuck there, stopping a task that does not stop,
//! say, stayed "healthy". Each piece of that work records its stage here; `/health` reports a
//! stage that has lasted longer than the limit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A stage longer than this is stuck, as Apache Connect's health check has it.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);

/// The herder's current stage, if it is busy.
#[derive(Debug, Default)]
pub struct Busy {
    current: Mutex<Option<Stage>>,
}

#[derive(Debug, Clone)]
struct Stage {
    what: String,
    since: Instant,
}

/// Ends a stage when dropped, bringing back the one it interrupted.
#[must_use = "the stage ends when this guard drops"]
pub struct StageGuard<'a> {
    busy: &'a Busy,
    previous: Option<Stage>,
}

impl Busy {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<Stage>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the herder is now `what` (a phrase such as "stopping task backup-0") until
    /// the guard drops. Call it only while holding the herder's lock: stages of one holder nest,
    /// those of two at once would overwrite each other.
    pub fn enter(&self, what: impl Into<String>) -> StageGuard<'_> {
        let stage = Stage {
            what: what.into(),
            since: Instant::now(),
        };
        let previous = self.current().replace(stage);
        StageGuard {
            busy: self,
            previous,
        }
    }

    /// `Err` naming the stage when the herder has been in one stage longer than `limit`.
    pub fn check(&self, limit: Duration) -> Result<(), String> {
        let Some(stage) = self.current().clone() else {
            return Ok(());
        };
        verdict(&stage.what, stage.since.elapsed(), limit)
    }
}

impl Drop for StageGuard<'_> {
    fn drop(&mut self) {
        *self.busy.current() = self.previous.take();
    }
}

fn verdict(what: &str, for_: Duration, limit: Duration) -> Result<(), String> {
    if for_ <= limit {
        return Ok(());
    }
    Err(format!(
        "this worker has been {what} for {:.1} s (longer than {} s), so it cannot take on new \
         work: configuration changes, rebalances and restarts wait until that ends",
        for_.as_secs_f64(),
        limit.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_longer_than_the_limit_is_reported() {
        assert!(verdict("stopping task a-0", Duration::from_secs(10), STUCK_AFTER).is_ok());
        let e = verdict("stopping task a-0", Duration::from_secs(11), STUCK_AFTER).unwrap_err();
        assert!(
            e.contains("has been stopping task a-0 for 11.0 s (longer than 10 s)"),
            "{e}"
        );
    }

    #[test]
    fn a_stage_ends_with_its_guard_and_brings_back_the_one_it_interrupted() {
        let busy = Busy::default();
        let limit = Duration::ZERO;
        assert!(busy.check(limit).is_ok());
        let outer = busy.enter("applying an assignment");
        {
            let _inner = busy.enter("stopping task a-0");
            std::thread::sleep(Duration::from_millis(5));
            assert!(busy.check(limit).unwrap_err().contains("stopping task a-0"));
        }
        assert!(
            busy.check(limit)
                .unwrap_err()
                .contains("applying an assignment")
        );
        drop(outer);
        assert!(busy.check(limit).is_ok());
    }
}
