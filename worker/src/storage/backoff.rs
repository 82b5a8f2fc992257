//! How long to wait between attempts at a failing S3 call, so a task rides out an outage of the
//! object store by itself (and fails, naming the error, only after a limit the user sets).

use std::time::{Duration, Instant};

/// The first wait after a failure.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Exponential backoff (1 s doubling to 30 s) that gives up once `limit` has passed since the
/// first failure. The clock starts at the first failure, not at creation, so one slow attempt
/// (the SDK's own retries can take many seconds) still leaves a failure reported and retried.
#[derive(Debug)]
pub struct Backoff {
    first_failure: Option<Instant>,
    next: Duration,
    limit: Duration,
}

impl Backoff {
    /// A backoff that has seen no failure yet.
    pub fn new(limit: Duration) -> Self {
        Backoff {
            first_failure: None,
            next: FIRST_WAIT,
            limit,
        }
    }

    /// Records a failure; the wait before the next attempt, or `None` when the limit has passed.
    pub fn next_wait(&mut self) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        if first.elapsed() >= self.limit {
            return None;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(MAX_WAIT);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(3600));
        let waits: Vec<u64> = (0..7).map(|_| b.next_wait().unwrap().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn gives_up_after_the_limit() {
        let mut b = Backoff::new(Duration::ZERO);
        assert_eq!(b.next_wait(), None);
    }

    #[test]
    fn the_clock_starts_at_the_first_failure() {
        let mut b = Backoff::new(Duration::from_millis(50));
        // A first attempt slower than the whole limit.
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(b.next_wait(), Some(FIRST_WAIT));
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(b.next_wait(), None);
    }
}
