//! Notices a sink consumer whose group membership never settles again, so the sink loop can
//! replace it. librdkafka sometimes never completes a rejoin after a broker restart: in CI a
//! backup's consumer timed its session out, gave its partitions up, and then got none back
//! while Kafka was up again, and the backup stopped with its task still RUNNING.
//!
//! The judgement comes from librdkafka's statistics (`cgrp.state` and `cgrp.join_state`),
//! sampled every [`STATS_INTERVAL_MS`] and timed by librdkafka's own clock (`ts`), since they
//! reach the loop only when it polls the consumer. A sample that shows the group settled
//! (coordinator up, join state steady) resets the clocks. Otherwise the time since the previous
//! sample counts towards the outer limit, and also towards the inner one unless the consumer is
//! waiting on something that bounds itself: the broker answering a JoinGroup or SyncGroup (the
//! other members have up to the rebalance timeout to join), or the task's own rebalance
//! callback.

use super::consumer_stats::ConsumerStatistics;
use serde::Deserialize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often librdkafka reports the statistics the judgement reads (`statistics.interval.ms`).
/// Each report lists every assigned partition; every 10 s keeps that cheap for big assignments.
pub const STATS_INTERVAL_MS: u64 = 10_000;
/// A verdict needs a sample read this recently: samples wait in the consumer's queue while the
/// task loop is busy writing, and the clocks must not judge before reading them.
const FRESH: Duration = Duration::from_millis(2 * STATS_INTERVAL_MS);
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

/// A consumer group's state as librdkafka reports it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupState {
    /// The coordinator state: `up` once it is known and connected.
    state: String,
    /// Where the member is in joining: `steady` once it has its assignment.
    join_state: String,
}

impl GroupState {
    fn settled(&self) -> bool {
        self.state == "up" && self.join_state == "steady"
    }

    /// Coordinator up and not joining: what librdkafka does while none of the subscribed
    /// topics exists, and also what a stuck rejoin can look like.
    fn idle(&self) -> bool {
        self.state == "up" && self.join_state == "init"
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

/// A consumer judged stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// How long, against which limit, in which state: for the log.
    pub description: String,
    /// The consumer sits idle in its group, coordinator up and not joining: the caller must
    /// check that a subscribed topic exists before it blames librdkafka.
    pub idle: bool,
}

/// The clocks of one consumer, fed by its statistics callback and read by the sink loop.
#[derive(Debug)]
pub struct GroupHealth {
    limits: StallLimits,
    clocks: Mutex<Clocks>,
}

#[derive(Debug, Default)]
struct Clocks {
    /// librdkafka's time of the previous sample.
    previous: Option<Duration>,
    /// When the latest sample was read.
    received: Option<Instant>,
    inner: Duration,
    outer: Duration,
    latest: Option<GroupState>,
    ever_settled: bool,
}

impl GroupHealth {
    /// A consumer's clocks, before any sample.
    pub fn new(limits: StallLimits) -> Self {
        GroupHealth {
            limits,
            clocks: Mutex::new(Clocks::default()),
        }
    }

    fn clocks(&self) -> MutexGuard<'_, Clocks> {
        self.clocks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads one statistics report. A report without a group or a time changes nothing.
    pub fn report(&self, stats: &ConsumerStatistics) {
        if let (Some(ts), Some(group)) = (stats.ts, &stats.cgrp) {
            self.observe(group.clone(), Duration::from_micros(ts));
        }
    }

    /// Takes one sample of the group's state, taken at `at` on librdkafka's clock.
    fn observe(&self, group: GroupState, at: Duration) {
        let mut c = self.clocks();
        let since = c.previous.map_or(Duration::ZERO, |p| at.saturating_sub(p));
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
        c.previous = Some(at);
        c.received = Some(Instant::now());
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

    /// Whether the consumer has been unsettled too long, judged on a fresh sample.
    pub fn stuck(&self) -> Option<Stall> {
        let c = self.clocks();
        let latest = c.latest.as_ref()?;
        if c.received.is_none_or(|r| r.elapsed() > FRESH) {
            return None;
        }
        let (clock, limit) = if c.inner >= self.limits.inner {
            (c.inner, self.limits.inner)
        } else if c.outer >= self.limits.outer {
            (c.outer, self.limits.outer)
        } else {
            return None;
        };
        Some(Stall {
            description: format!(
                "its group membership has not settled for {}s (limit {}s; coordinator state {}, join state {})",
                clock.as_secs(),
                limit.as_secs(),
                latest.state,
                latest.join_state
            ),
            idle: latest.idle(),
        })
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

    /// A report as librdkafka's JSON; one that does not parse is not read.
    fn report_json(h: &GroupHealth, json: &[u8]) {
        if let Some(stats) = ConsumerStatistics::parse(json) {
            h.report(&stats);
        }
    }

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

    /// Feeds one sample every 5 s for `secs` seconds after `*t`, advancing `*t`.
    fn samples(h: &GroupHealth, t: &mut Duration, secs: u64, g: &GroupState) {
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
        let mut t = Duration::from_secs(1000);
        h.observe(group("up", "steady"), t);
        let lost = group("query-coord", "wait-unassign-to-complete");
        samples(&h, &mut t, 85, &lost);
        assert_eq!(h.stuck(), None, "85 s: a broker restart may last that long");
        samples(&h, &mut t, 5, &lost);
        let stall = h.stuck().expect("90 s: stuck");
        assert!(
            stall.description.contains("90s") && stall.description.contains("query-coord"),
            "names how long and where: {stall:?}"
        );
        assert!(!stall.idle);
    }

    #[test]
    fn settling_resets_the_clocks() {
        let h = GroupHealth::new(limits());
        let mut t = Duration::from_secs(1000);
        samples(&h, &mut t, 80, &group("wait-coord", "init"));
        assert!(!h.ever_settled());
        samples(&h, &mut t, 5, &group("up", "steady"));
        assert!(h.ever_settled());
        samples(&h, &mut t, 85, &group("up", "init"));
        assert_eq!(h.stuck(), None);
        samples(&h, &mut t, 5, &group("up", "init"));
        assert!(
            h.stuck().is_some_and(|s| s.idle),
            "idle: the caller checks the topics"
        );
        h.restart();
        samples(&h, &mut t, 85, &group("up", "init"));
        assert_eq!(h.stuck(), None, "restart zeroed the 90 s before it");
    }

    #[test]
    fn waiting_for_the_other_members_counts_only_towards_the_outer_limit() {
        let h = GroupHealth::new(limits());
        let mut t = Duration::from_secs(1000);
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
    fn statistics_json_is_read_for_the_time_and_the_group_only() {
        let h = GroupHealth::new(limits());
        report_json(
            &h,
            br#"{"name":"c","ts":1000000,"cgrp":{"state":"query-coord","join_state":"init"}}"#,
        );
        assert!(!h.ever_settled());
        report_json(&h, b"not json");
        report_json(&h, br#"{"name":"producer","ts":2000000}"#);
        report_json(
            &h,
            br#"{"name":"c","cgrp":{"state":"up","join_state":"steady"}}"#,
        );
        assert!(
            !h.ever_settled(),
            "reports without a group or a time change nothing"
        );
        report_json(&h, br#"{"name":"c","ts":3000000,"brokers":{},"cgrp":{"state":"up","stateage":5,"join_state":"steady","rebalance_cnt":1}}"#);
        assert!(h.ever_settled());
    }

    #[test]
    fn samples_are_timed_by_librdkafka_and_a_verdict_needs_a_fresh_one() {
        let h = GroupHealth::new(limits());
        // Samples read in one burst after the loop was busy: their own times count.
        for n in 0..=19u64 {
            let json = format!(
                r#"{{"ts":{},"cgrp":{{"state":"query-coord","join_state":"init"}}}}"#,
                n * 5_000_000
            );
            report_json(&h, json.as_bytes());
        }
        assert!(h.stuck().is_some(), "95 s on librdkafka's clock");
        h.clocks().received = Instant::now().checked_sub(FRESH * 2);
        assert_eq!(h.stuck(), None, "no verdict on a stale sample");
    }
}
