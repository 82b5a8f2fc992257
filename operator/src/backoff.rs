//! Growing requeue delays for failing reconciles, per object, reset by a success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Failure counts per object key (`namespace/name`); the context owns the only instance.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

/// First retry delay.
const BASE: Duration = Duration::from_secs(2);
/// Longest retry delay.
const MAX: Duration = Duration::from_secs(300);

impl Backoff {
    /// Records a failure of `key` and returns how long to wait before retrying it.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        delay(*n)
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

/// `BASE * 2^(n-1)`, capped at `MAX`.
fn delay(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    BASE.saturating_mul(factor).min(MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_cap_and_reset() {
        let b = Backoff::default();
        assert_eq!(b.failed("a"), Duration::from_secs(2));
        assert_eq!(b.failed("a"), Duration::from_secs(4));
        assert_eq!(b.failed("b"), Duration::from_secs(2));
        for _ in 0..20 {
            b.failed("a");
        }
        assert_eq!(b.failed("a"), MAX);
        b.succeeded("a");
        assert_eq!(b.failed("a"), Duration::from_secs(2));
    }
}
