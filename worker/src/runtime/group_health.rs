//! Notices a sink consumer whose group membership never settles again, so the sink loop can
//! replace it. librdkafka sometimes never completes a rejoin after a broker restart: in CI a
//! backup's consumer timed its session out, gave its partitions up, and then got none back
//! while Kafka was up again, and the backup stopped with its task still RUNNING.
//!
//! The judgement comes from librdkafka's statistics (`cgrp.state` and `cgrp.join_state`),
//! sampled every [`STATS_INTERVAL_MS`]. A sample that shows the group settled (coordinator up,
//! join state steady) resets the clocks. Otherwise the time since the previous sample counts
//! towards the outer limit, and also towards the inner one unless the consumer is waiting on
//! something that bounds itself: the broker answering a JoinGroup or SyncGroup (the other
//! members have up to the rebalance timeout to join), or the task's own rebalance callback.

use serde::Deserialize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often librdkafka reports the statistics the judgement reads (`statistics.interval.ms`).
pub const STATS_INTERVAL_MS: u64 = 5000;
/// librdkafka's defaults, for limits of a consumer whose configuration leaves them out.
const DEFAULT_SESSION: Duration = Duration::from_secs(45);
const DEFAULT_REBALANCE: Duration = Duration::from_secs(300);
/// The inner limit is never shorter than this: a broker restart alone takes tens of seconds.
const MIN_INNER: Duration = Duration::from_secs(30);

/// How long a consumer may stay unsettled before it counts as stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallLimits {
    /// Unsettled outside the self-bounding states: no coordinator, an unassign that does not
    /// complete. Two sessions: deferred offset commits alone hold an unassign for one.
    pub inner: Duration,
    /// Unsettled in any state: the rebalance timeout, two sessions and a minute.
    pub outer: Duration,
}

impl StallLimits {
    /// The limits of a consumer with these settings (`session.timeout.ms`,
    /// `max.poll.interval.ms`, librdkafka's defaults where unset or unreadable).
    pub fn of(config: &rdkafka::ClientConfig) -> Self {
        let ms = |key: &str, default: Duration| {
            config
                .get(key)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(default, Duration::from_millis)
        };
        let session = ms("session.timeout.ms", DEFAULT_SESSION);
        let rebalance = ms("max.poll.interval.ms", DEFAULT_REBALANCE);
        StallLimits {
            inner: (session * 2).max(MIN_INNER),
            outer: rebalance + session * 2 + Duration::from_secs(60),
        }
    }

    /// The limits after `replaced` consumers in a row never settled: doubled each time, up to
    /// eight times, so a long Kafka outage does not churn consumers every minute.
    pub fn backed_off(self, replaced: u32) -> Self {
        let factor = 1u32 << replaced.min(3);
        StallLimits {
            inner: self.inner * factor,
            outer: self.outer * factor,
        }
    }
}

/// The part of librdkafka's statistics the judgement reads.
#[derive(Debug, Deserialize)]
struct Statistics {
    cgrp: Option<GroupState>,
}

/// A consumer group's state as librdkafka reports it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupState {
    /// The coordinator state: `up` once it is known and connected.
    pub state: String,
    /// Where the member is in joining: `steady` once it has its assignment.
    pub join_state: String,
}

impl GroupState {
    fn settled(&self) -> bool {
        self.state == "up" && self.join_state == "steady"
    }

    /// Waiting on something that ends by itself: the broker's answer to a JoinGroup or
    /// SyncGroup, or the task's rebalance callback (whose barrier has its own limit).
    fn self_bounded(&self) -> bool {
        self.state == "up"
            && matches!(
                self.join_state.as_str(),
                "wait-join"
                    | "wait-sync"
                    | "wait-metadata"
                    | "wait-assign-call"
                    | "wait-unassign-call"
            )
    }
}

/// The clocks of one consumer, fed by its statistics callback and read by the sink loop.
#[derive(Debug)]
pub struct GroupHealth {
    limits: StallLimits,
    clocks: Mutex<Clocks>,
}

#[derive(Debug, Default)]
struct Clocks {
    previous: Option<Instant>,
    inner: Duration,
    outer: Duration,
    latest: Option<GroupState>,
    ever_settled: bool,
}

impl GroupHealth {
    pub fn new(limits: StallLimits) -> Self {
        GroupHealth {
            limits,
            clocks: Mutex::new(Clocks::default()),
        }
    }

    fn clocks(&self) -> std::sync::MutexGuard<'_, Clocks> {
        self.clocks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads one statistics report (librdkafka's JSON). A report without a group, or one that
    /// does not parse, changes nothing.
    pub fn report(&self, json: &[u8]) {
        if let Ok(Statistics { cgrp: Some(group) }) = serde_json::from_slice(json) {
            self.observe(group, Instant::now());
        }
    }

    /// Takes one sample of the group's state, taken at `now`.
    pub fn observe(&self, group: GroupState, now: Instant) {
        let mut c = self.clocks();
        let since = c
            .previous
            .map_or(Duration::ZERO, |p| now.saturating_duration_since(p));
        if group.settled() {
            c.inner = Duration::ZERO;
            c.outer = Duration::ZERO;
            c.ever_settled = true;
        } else {
            c.outer += since;
            if !group.self_bounded() {
                c.inner += since;
            }
        }
        c.previous = Some(now);
        c.latest = Some(group);
    }

    /// Starts the clocks again: the subscription changed, so the group is expected to be
    /// unsettled for a while.
    pub fn restart(&self) {
        let mut c = self.clocks();
        c.previous = None;
        c.inner = Duration::ZERO;
        c.outer = Duration::ZERO;
    }

    /// Whether the consumer has been unsettled too long, and if so, a description for the log.
    pub fn stuck(&self) -> Option<String> {
        let c = self.clocks();
        let latest = c.latest.as_ref()?;
        let (clock, limit) = if c.inner >= self.limits.inner {
            (c.inner, self.limits.inner)
        } else if c.outer >= self.limits.outer {
            (c.outer, self.limits.outer)
        } else {
            return None;
        };
        Some(format!(
            "its group membership has not settled for {}s (limit {}s; coordinator state {}, join state {})",
            clock.as_secs(),
            limit.as_secs(),
            latest.state,
            latest.join_state
        ))
    }

    /// Whether any sample showed the group settled: a consumer that never settled is replaced
    /// with longer limits (see [`StallLimits::backed_off`]).
    pub fn ever_settled(&self) -> bool {
        self.clocks().ever_settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(state: &str, join_state: &str) -> GroupState {
        GroupState {
            state: state.into(),
            join_state: join_state.into(),
        }
    }

    fn limits() -> StallLimits {
        StallLimits {
            inner: Duration::from_secs(90),
            outer: Duration::from_secs(450),
        }
    }

    /// Feeds one sample every 5 s for `secs` seconds from `*t`, advancing `*t`.
    fn samples(h: &GroupHealth, t: &mut Instant, secs: u64, g: &GroupState) {
        for _ in 0..secs / 5 {
            *t += Duration::from_secs(5);
            h.observe(g.clone(), *t);
        }
    }

    #[test]
    fn limits_follow_the_session_and_rebalance_timeouts() {
        let defaults = StallLimits::of(&rdkafka::ClientConfig::new());
        assert_eq!(defaults.inner, Duration::from_secs(90));
        assert_eq!(defaults.outer, Duration::from_secs(450));
        let mut cfg = rdkafka::ClientConfig::new();
        cfg.set("session.timeout.ms", "6000")
            .set("max.poll.interval.ms", "20000");
        let short = StallLimits::of(&cfg);
        assert_eq!(short.inner, MIN_INNER, "never under half a minute");
        assert_eq!(short.outer, Duration::from_secs(92));
        assert_eq!(defaults.backed_off(1).inner, Duration::from_secs(180));
        assert_eq!(defaults.backed_off(9).inner, Duration::from_secs(720));
    }

    #[test]
    fn a_consumer_without_a_coordinator_for_two_sessions_is_stuck() {
        let h = GroupHealth::new(limits());
        let mut t = Instant::now();
        h.observe(group("up", "steady"), t);
        samples(
            &h,
            &mut t,
            85,
            &group("query-coord", "wait-unassign-to-complete"),
        );
        assert_eq!(h.stuck(), None, "85 s: a broker restart may last that long");
        samples(
            &h,
            &mut t,
            5,
            &group("query-coord", "wait-unassign-to-complete"),
        );
        let why = h.stuck().expect("90 s: stuck");
        assert!(
            why.contains("90s") && why.contains("query-coord"),
            "names how long and where: {why}"
        );
    }

    #[test]
    fn settling_resets_the_clocks() {
        let h = GroupHealth::new(limits());
        let mut t = Instant::now();
        samples(&h, &mut t, 80, &group("wait-coord", "init"));
        assert!(!h.ever_settled());
        samples(&h, &mut t, 5, &group("up", "steady"));
        assert!(h.ever_settled());
        samples(&h, &mut t, 80, &group("up", "init"));
        assert_eq!(h.stuck(), None);
        h.restart();
        samples(&h, &mut t, 85, &group("up", "init"));
        assert_eq!(h.stuck(), None, "restart zeroed the 80 s before it");
    }

    #[test]
    fn waiting_for_the_other_members_counts_only_towards_the_outer_limit() {
        let h = GroupHealth::new(limits());
        let mut t = Instant::now();
        h.observe(group("up", "steady"), t);
        samples(&h, &mut t, 300, &group("up", "wait-join"));
        samples(&h, &mut t, 60, &group("up", "wait-unassign-call"));
        assert_eq!(
            h.stuck(),
            None,
            "self-bounded states are not the inner clock's"
        );
        samples(&h, &mut t, 90, &group("up", "wait-sync"));
        assert!(h.stuck().is_some(), "450 s unsettled in any state is stuck");
    }

    #[test]
    fn statistics_json_is_read_for_the_group_only() {
        let h = GroupHealth::new(limits());
        h.report(br#"{"name":"c","cgrp":{"state":"query-coord","join_state":"init"}}"#);
        assert!(!h.ever_settled());
        h.report(b"not json");
        h.report(br#"{"name":"producer"}"#);
        assert!(!h.ever_settled(), "reports without a group change nothing");
        h.report(br#"{"name":"c","brokers":{},"cgrp":{"state":"up","stateage":5,"join_state":"steady","rebalance_cnt":1}}"#);
        assert!(h.ever_settled());
    }
}
