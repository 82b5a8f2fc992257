//! The membership loop: find the coordinator, join, let the leader assign, sync, heartbeat, and
//! rejoin when the coordinator starts a rebalance, the member is fenced or unknown, or this
//! worker asks for it. Runs until shutdown, then leaves the group.
//!
//! A worker cut off from the coordinator stops its work once the coordinator may have given it
//! to another member (its session ran out), before it can talk to Kafka again: otherwise a
//! restore's records waiting in its producer would be written after the new owner took over.

use super::group::{self, JoinError, Joined, MemberSettings, codes, named};
use super::membership_health::MembershipHealth;
use super::protocol::{Assignment, MemberMetadata};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

/// What the membership loop needs from the worker.
#[async_trait::async_trait]
pub trait GroupHandler: Send + Sync {
    /// This worker's metadata for JoinGroup (URL, config offset, what it runs).
    fn metadata(&self) -> MemberMetadata;
    /// As leader: every member's assignment.
    async fn assign(&self, joined: &Joined) -> Vec<(String, Assignment)>;
    /// A new assignment for this member.
    async fn assigned(&self, joined: &Joined, assignment: Assignment);
    /// This member is no longer in the group (fenced or its session expired): stop all work.
    async fn lost(&self);
    /// The lease ran out while an assignment may still be being applied: start nothing more
    /// and write nothing more until the session is held again (`lost` follows once the
    /// assignment in progress is done).
    fn lease_lapsed(&self);
    /// The coordinator answered a sync: the session is held again. Called before the
    /// assignment is applied, so a lapse while applying it is not undone.
    fn session_held(&self);
}

/// How long a JoinGroup answer may have taken to arrive, taken off the lease it renews.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// Logs what keeps this worker from its group and keeps it for `GET /health`.
fn trouble(health: &MembershipHealth, problem: String) {
    warn!("{problem}");
    health.trouble(&problem);
}

/// Backoff between failed attempts, capped.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((250u64 << attempt.min(5)).min(5_000))
}

/// How long this member may keep its work without news from the coordinator: until the send
/// time of the last request the coordinator answered as from a member, plus the session timeout.
/// The coordinator's session clock started later (when that request arrived), so no other member
/// can have been given the work before this runs out.
#[derive(Debug, Default)]
struct Lease(Option<Instant>);

impl Lease {
    fn renew(&mut self, sent: Instant, session: Duration) {
        self.0 = Some(sent + session);
    }

    /// Time left; `None` when no work is held under it.
    fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    /// True once, when it has run out.
    fn take_expired(&mut self) -> bool {
        let expired = self.remaining() == Some(Duration::ZERO);
        if expired {
            self.0 = None;
        }
        expired
    }
}

/// What the heartbeat loop ends with.
enum Next {
    /// A rebalance began, this worker asked for one, or it must rejoin after revoking work.
    Rejoin,
    /// The coordinator no longer counts this worker a member: its work stops before it rejoins.
    Lost { forget_member_id: bool },
    /// The connection failed, the coordinator moved, or the worker shuts down.
    Reconnect,
}

/// Stops all work when the lease ran out (the coordinator may have moved it).
async fn stop_if_expired(lease: &mut Lease, session: Duration, handler: &Arc<dyn GroupHandler>) {
    if lease.take_expired() {
        warn!(
            "no answer from the group coordinator within the session ({session:?}): stopping all \
             work until this worker rejoins, so no other worker runs it at the same time"
        );
        handler.lost().await;
    }
}

/// Runs a step outside the group protocol that can outlast a session (finding and connecting
/// to the coordinator, removing a previous incarnation) and stops the work the moment the lease
/// runs out, not after the step. Joining and syncing are not watched: the coordinator does not
/// expire a member waiting in either, however long a slow member keeps the rebalance open, so
/// a long wait there is no reason to stop (a cut that begins during a rebalance is noticed when
/// the request times out).
async fn watched<T>(
    step: impl Future<Output = T>,
    lease: &mut Lease,
    session: Duration,
    handler: &Arc<dyn GroupHandler>,
) -> T {
    tokio::pin!(step);
    loop {
        let Some(left) = lease.remaining() else {
            return step.await;
        };
        tokio::select! {
            out = &mut step => return out,
            _ = tokio::time::sleep(left) => stop_if_expired(lease, session, handler).await,
        }
    }
}

/// The backoff, cut short when the lease runs out first.
fn wait_before_retry(attempt: u32, lease: &Lease) -> Duration {
    let pause = backoff(attempt);
    lease.remaining().map_or(pause, |left| pause.min(left))
}

/// Runs membership until `shutdown` turns true; `rejoin` asks for a rebalance; `health` hears
/// when the coordinator counts this worker a member and what kept it out.
pub async fn run(
    settings: MemberSettings,
    handler: Arc<dyn GroupHandler>,
    rejoin: Arc<Notify>,
    health: Arc<MembershipHealth>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut member_id = String::new();
    let mut attempt = 0u32;
    let mut lease = Lease::default();
    let session = settings.session_timeout;
    let mut restarted_static = settings.instance_id.is_some();
    while !*shutdown.borrow() {
        stop_if_expired(&mut lease, session, &handler).await;
        let connecting = group::connect_coordinator(&settings);
        let connected = watched(connecting, &mut lease, session, &handler);
        let mut conn = match connected.await {
            Ok(c) => c,
            Err(e) => {
                trouble(&health, format!("cannot reach the group coordinator: {e}"));
                attempt += 1;
                sleep_or_shutdown(wait_before_retry(attempt, &lease), &mut shutdown).await;
                continue;
            }
        };
        if restarted_static {
            let forgetting = group::forget_previous_incarnation(&mut conn, &settings);
            let forgot = watched(forgetting, &mut lease, session, &handler);
            if let Err(e) = forgot.await {
                trouble(&health, e.to_string());
                attempt += 1;
                sleep_or_shutdown(wait_before_retry(attempt, &lease), &mut shutdown).await;
                continue;
            }
            restarted_static = false;
        }
        'join: loop {
            if *shutdown.borrow() {
                break;
            }
            stop_if_expired(&mut lease, session, &handler).await;
            let metadata = handler.metadata();
            let joined = match group::join(&mut conn, &settings, &member_id, &metadata).await {
                Ok(j) => j,
                Err(JoinError::Retry(id)) => {
                    member_id = id;
                    continue;
                }
                Err(JoinError::Coordinator) => {
                    health.trouble("the group coordinator moved or is still loading");
                    break;
                }
                Err(JoinError::Failed(e)) => {
                    trouble(&health, e.to_string());
                    attempt += 1;
                    sleep_or_shutdown(wait_before_retry(attempt, &lease), &mut shutdown).await;
                    break;
                }
            };
            // The coordinator restarted this member's session clock when it completed the join
            // (and again when it completes the sync): the answer's arrival, less a margin for
            // its way back, is a start the coordinator's clock cannot precede.
            let join_answered = Instant::now();
            member_id = joined.member_id.clone();
            let assignments = if joined.leader_id == joined.member_id {
                handler.assign(&joined).await
            } else {
                Vec::new()
            };
            let assignment = match group::sync(&mut conn, &settings, &joined, assignments).await {
                Ok(Ok(a)) => a,
                Ok(Err(codes::REBALANCE_IN_PROGRESS)) => {
                    health.trouble("a new rebalance began before this worker's sync completed");
                    continue;
                }
                Ok(Err(code)) => {
                    if code == codes::UNKNOWN_MEMBER_ID || code == codes::ILLEGAL_GENERATION {
                        member_id.clear();
                    }
                    trouble(
                        &health,
                        format!("SyncGroup failed with {}; rejoining", named(code)),
                    );
                    continue;
                }
                Err(e) => {
                    trouble(&health, e.to_string());
                    break;
                }
            };
            attempt = 0;
            health.in_group();
            let margin = ANSWER_MARGIN.min(session / 4);
            lease.renew(
                join_answered.checked_sub(margin).unwrap_or(join_answered),
                session,
            );
            info!(
                generation = joined.generation,
                leader = %assignment.leader_url,
                assigned = ?assignment.assigned,
                revoked = ?assignment.revoked,
                "joined the group"
            );
            let must_rejoin = !assignment.revoked.is_empty();
            handler.session_held();
            // Applying an assignment (stopping revoked work, starting new work) may take longer
            // than a session: heartbeats go on meanwhile, and nothing rejoins before it is done.
            let applying = handler.assigned(&joined, assignment);
            tokio::pin!(applying);
            let mut applied = false;
            // A rebalance that began while the assignment was being applied: heartbeats (which
            // keep the session alive during a rebalance) go on until it is applied.
            let mut rejoin_pending = false;
            // The first heartbeat goes at once, with its own time-out rather than the lease's, so
            // the lease counts from a fresh answer even when the sync waited long for a slow
            // leader (the coordinator restarted the session when it answered the sync).
            let mut pause = Duration::ZERO;
            let mut first_heartbeat = true;
            let next = loop {
                tokio::select! {
                    _ = &mut applying, if !applied => {
                        applied = true;
                        if must_rejoin || rejoin_pending {
                            break Next::Rejoin;
                        }
                        continue;
                    }
                    _ = tokio::time::sleep(pause) => pause = settings.heartbeat_interval,
                    _ = tokio::time::sleep(lease.remaining().unwrap_or(session)), if !first_heartbeat && lease.remaining().is_some() => {
                        // Not heard from the coordinator for a session (heartbeats failing or
                        // hanging): no new work from the assignment in progress; everything
                        // stops once it is done.
                        handler.lease_lapsed();
                        health.trouble(&format!(
                            "no answer from the group coordinator within the session ({session:?})"
                        ));
                        break Next::Reconnect;
                    }
                    _ = rejoin.notified(), if applied => break Next::Rejoin,
                    _ = shutdown.changed() => {
                        if *shutdown.borrow() {
                            break Next::Reconnect;
                        }
                    }
                }
                let sent = Instant::now();
                let limit = if first_heartbeat {
                    session
                } else {
                    lease.remaining().unwrap_or(session)
                };
                first_heartbeat = false;
                match group::heartbeat(&mut conn, &settings, joined.generation, &member_id, limit)
                    .await
                {
                    Ok(codes::NONE) => {
                        lease.renew(sent, session);
                        health.in_group();
                    }
                    Ok(codes::REBALANCE_IN_PROGRESS) => {
                        lease.renew(sent, session);
                        health.in_group();
                        if applied {
                            break Next::Rejoin;
                        }
                        rejoin_pending = true;
                    }
                    Ok(
                        code @ (codes::UNKNOWN_MEMBER_ID
                        | codes::ILLEGAL_GENERATION
                        | codes::FENCED_INSTANCE_ID),
                    ) => {
                        trouble(
                            &health,
                            format!(
                                "heartbeat refused with {}: this worker left the group",
                                group::member_error(code)
                            ),
                        );
                        break Next::Lost {
                            forget_member_id: code == codes::UNKNOWN_MEMBER_ID,
                        };
                    }
                    Ok(codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE) => {
                        break Next::Reconnect;
                    }
                    Ok(code) => trouble(&health, format!("heartbeat failed with {}", named(code))),
                    Err(e) => {
                        trouble(&health, format!("heartbeat failed: {e}"));
                        break Next::Reconnect;
                    }
                }
            };
            if !applied {
                if matches!(next, Next::Lost { .. }) || lease.remaining() == Some(Duration::ZERO) {
                    handler.lease_lapsed();
                }
                // The lease may also run out while the assignment is still being applied.
                tokio::select! {
                    _ = &mut applying => {}
                    _ = tokio::time::sleep(lease.remaining().unwrap_or(session)), if lease.remaining().is_some() => {
                        handler.lease_lapsed();
                        health.trouble(
                            "the session ran out while this worker was still applying its \
                             assignment (starting or stopping connectors and tasks, which may be \
                             waiting for Kafka); it rejoins once that is done",
                        );
                        applying.await;
                    }
                }
            }
            match next {
                Next::Rejoin => continue 'join,
                Next::Lost { forget_member_id } => {
                    lease = Lease::default();
                    handler.lost().await;
                    if forget_member_id {
                        member_id.clear();
                    }
                    continue 'join;
                }
                Next::Reconnect => break 'join,
            }
        }
        if *shutdown.borrow() && !member_id.is_empty() {
            if let Err(e) = group::leave(&mut conn, &settings, &member_id).await {
                warn!("could not leave the group: {e}");
            }
            return;
        }
    }
}

async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_runs_out_once_and_holds_nothing_after() {
        let mut lease = Lease::default();
        assert_eq!(lease.remaining(), None);
        assert!(!lease.take_expired());
        lease.renew(Instant::now(), Duration::from_secs(60));
        assert!(
            lease
                .remaining()
                .is_some_and(|d| d > Duration::from_secs(59))
        );
        assert!(!lease.take_expired());
        let long_ago = Instant::now().checked_sub(Duration::from_secs(2)).unwrap();
        lease.renew(long_ago, Duration::from_secs(1));
        assert_eq!(lease.remaining(), Some(Duration::ZERO));
        assert!(lease.take_expired());
        assert!(!lease.take_expired());
        assert_eq!(lease.remaining(), None);
    }

    #[test]
    fn a_retry_waits_no_longer_than_the_lease() {
        let mut lease = Lease::default();
        assert_eq!(wait_before_retry(5, &lease), backoff(5));
        lease.renew(Instant::now(), Duration::from_millis(300));
        assert!(wait_before_retry(5, &lease) <= Duration::from_millis(300));
    }
}
