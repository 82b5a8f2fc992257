//! Whether a distributed worker is in its group, for `GET /health` (KIP-1017's "unhealthy"): a
//! worker out of its group for longer than a slow rebalance can take runs nothing and will not
//! get work until something changes, so probes should see it, with the reason.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The membership loop's last word on this worker's place in the group.
#[derive(Debug)]
pub struct MembershipHealth {
    group: String,
    /// Out of the group longer than this is stuck: a join may wait a whole rebalance timeout
    /// for the slowest member, the sync as long again for the leader's assignment, and the
    /// session is how long the coordinator itself waits for a silent member.
    limit: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the coordinator last counted this worker a member (or the worker started).
    in_group_at: Instant,
    /// What went wrong since, as last logged.
    problem: Option<String>,
}

impl MembershipHealth {
    /// A worker of `group` that has just started.
    pub fn new(group: &str, rebalance_timeout: Duration, session_timeout: Duration) -> Self {
        MembershipHealth {
            group: group.to_string(),
            limit: rebalance_timeout * 2 + session_timeout,
            state: Mutex::new(State {
                in_group_at: Instant::now(),
                problem: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The coordinator answered this worker as a member (a sync or a heartbeat).
    pub fn in_group(&self) {
        let mut s = self.state();
        s.in_group_at = Instant::now();
        s.problem = None;
    }

    /// Something kept this worker from the group; the last one is what `/health` reports.
    pub fn trouble(&self, problem: &str) {
        self.state().problem = Some(problem.to_string());
    }

    /// `Err` with the reason when the worker has been out of its group too long.
    pub fn check(&self) -> Result<(), String> {
        let s = self.state();
        verdict(
            &self.group,
            s.in_group_at.elapsed(),
            self.limit,
            s.problem.as_deref(),
        )
    }
}

fn verdict(
    group: &str,
    out_for: Duration,
    limit: Duration,
    problem: Option<&str>,
) -> Result<(), String> {
    if out_for <= limit {
        return Ok(());
    }
    Err(format!(
        "this worker has not been a member of group {group} for {} s (longer than \
         2 x rebalance.timeout.ms + session.timeout.ms = {} s), so it runs no connectors or \
         tasks; last problem: {}",
        out_for.as_secs(),
        limit.as_secs(),
        problem.unwrap_or(
            "none logged: a rebalance that does not end, or an assignment still being applied"
        )
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(130);

    #[test]
    fn out_of_the_group_longer_than_two_rebalances_and_a_session_is_unhealthy() {
        assert!(verdict("g", Duration::from_secs(129), LIMIT, Some("x")).is_ok());
        assert!(verdict("g", LIMIT, LIMIT, None).is_ok());
        let message = verdict(
            "connect-cluster",
            Duration::from_secs(131),
            LIMIT,
            Some("cannot reach the group coordinator: connection refused"),
        )
        .unwrap_err();
        assert!(
            message.contains("group connect-cluster for 131 s"),
            "{message}"
        );
        assert!(message.contains("= 130 s"), "{message}");
        assert!(message.ends_with("connection refused"), "{message}");
    }

    #[test]
    fn a_fresh_worker_is_healthy() {
        assert!(MembershipHealth::new("g", LIMIT, LIMIT).check().is_ok());
    }

    #[test]
    fn the_last_problem_is_reported_until_the_worker_is_back_in_its_group() {
        let health = MembershipHealth::new("g", Duration::ZERO, Duration::ZERO);
        health.trouble("refused");
        health.trouble("fenced");
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            health
                .check()
                .unwrap_err()
                .ends_with("last problem: fenced")
        );
        health.in_group();
        assert!(health.state().problem.is_none());
    }
}
