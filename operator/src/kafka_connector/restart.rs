//! Restarts: the `skiff.dev/restart` and `skiff.dev/restart-task` annotations, and when an
//! automatic restart of a failed connector is due (Strimzi's min(n²+n, 60) minutes), and when
//! its count is cleared.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What `skiff.dev/restart` asks for: `true`, or a comma list of `includeTasks`, `onlyFailed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartRequest {
    /// Restart the tasks too.
    pub include_tasks: bool,
    /// Restart only failed instances.
    pub only_failed: bool,
}

/// Parses the `skiff.dev/restart` value.
pub fn parse_restart(value: &str) -> Result<RestartRequest, String> {
    let mut request = RestartRequest {
        include_tasks: false,
        only_failed: false,
    };
    for word in value.split(',').map(str::trim) {
        match word {
            "true" | "" => {}
            "includeTasks" => request.include_tasks = true,
            "onlyFailed" => request.only_failed = true,
            other => {
                return Err(format!(
                    "unknown restart option {other:?} (true, includeTasks, onlyFailed)"
                ));
            }
        }
    }
    Ok(request)
}

/// Parses the `skiff.dev/restart-task` value: a task number.
pub fn parse_restart_task(value: &str) -> Result<u32, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a task number"))
}

/// Delay before automatic restart number `count + 1`: min(n²+n, 60) minutes.
pub fn auto_restart_delay(count: i32) -> SignedDuration {
    let n = i64::from(count.max(0));
    SignedDuration::from_mins((n * n + n).min(60))
}

/// Whether another automatic restart is due now.
pub fn auto_restart_due(
    count: i32,
    last: Option<Timestamp>,
    max: Option<i32>,
    now: Timestamp,
) -> bool {
    if max.is_some_and(|max| count >= max) {
        return false;
    }
    match last {
        None => true,
        Some(last) => now.duration_since(last) >= auto_restart_delay(count),
    }
}

/// Whether the restart count can be cleared: the connector is healthy and has stayed so for as
/// long as the next restart would have waited, so one that fails again soon after each restart
/// keeps backing off instead of being restarted at once every time.
pub fn auto_restart_settled(count: i32, last: Option<Timestamp>, now: Timestamp) -> bool {
    count > 0 && last.is_none_or(|last| now.duration_since(last) >= auto_restart_delay(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_annotation_values() {
        assert_eq!(
            parse_restart("true"),
            Ok(RestartRequest {
                include_tasks: false,
                only_failed: false
            })
        );
        assert_eq!(
            parse_restart("includeTasks,onlyFailed"),
            Ok(RestartRequest {
                include_tasks: true,
                only_failed: true
            })
        );
        assert!(parse_restart("yes").is_err());
        assert_eq!(parse_restart_task(" 2 "), Ok(2));
        assert!(parse_restart_task("x").is_err());
    }

    #[test]
    fn auto_restart_backs_off_and_stops_at_the_maximum() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        assert!(auto_restart_due(0, None, None, t0));
        assert_eq!(auto_restart_delay(1), SignedDuration::from_mins(2));
        assert_eq!(auto_restart_delay(10), SignedDuration::from_mins(60));
        let soon = t0 + SignedDuration::from_mins(1);
        let later = t0 + SignedDuration::from_mins(2);
        assert!(!auto_restart_due(1, Some(t0), None, soon));
        assert!(auto_restart_due(1, Some(t0), None, later));
        assert!(!auto_restart_due(3, None, Some(3), later));
    }

    #[test]
    fn the_count_clears_only_after_a_healthy_backoff_window() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let soon = t0 + SignedDuration::from_secs(20);
        let later = t0 + SignedDuration::from_mins(2);
        assert!(
            !auto_restart_settled(0, Some(t0), later),
            "nothing to clear"
        );
        assert!(
            !auto_restart_settled(1, Some(t0), soon),
            "healthy too briefly"
        );
        assert!(auto_restart_settled(1, Some(t0), later));
        assert!(
            !auto_restart_settled(2, Some(t0), later),
            "count 2 waits 6 minutes"
        );
    }
}
