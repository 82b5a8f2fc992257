//! The membership loop: find the coordinator, join, let the leader assign, sync, heartbeat, and
//! rejoin when the coordinator starts a rebalance, the member is fenced or unknown, or this
//! worker asks for it. Runs until shutdown, then leaves the group.

use super::group::{self, JoinError, Joined, MemberSettings, codes};
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
}

/// Backoff between failed attempts, capped.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((250u64 << attempt.min(5)).min(5_000))
}

/// Runs membership until `shutdown` turns true; `rejoin` asks for a rebalance.
pub async fn run(
    settings: MemberSettings,
    handler: Arc<dyn GroupHandler>,
    rejoin: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut member_id = String::new();
    let mut attempt = 0u32;
    while !*shutdown.borrow() {
        let mut conn = match group::connect_coordinator(&settings).await {
            Ok(c) => c,
            Err(e) => {
                warn!("cannot reach the group coordinator: {e}");
                attempt += 1;
                sleep_or_shutdown(backoff(attempt), &mut shutdown).await;
                continue;
            }
        };
        'join: loop {
            if *shutdown.borrow() {
                break;
            }
            let joined =
                match group::join(&mut conn, &settings, &member_id, &handler.metadata()).await {
                    Ok(j) => j,
                    Err(JoinError::Retry(id)) => {
                        member_id = id;
                        continue;
                    }
                    Err(JoinError::Coordinator) => break,
                    Err(JoinError::Failed(e)) => {
                        warn!("{e}");
                        attempt += 1;
                        sleep_or_shutdown(backoff(attempt), &mut shutdown).await;
                        break;
                    }
                };
            member_id = joined.member_id.clone();
            let assignments = if joined.leader_id == joined.member_id {
                handler.assign(&joined).await
            } else {
                Vec::new()
            };
            let assignment = match group::sync(&mut conn, &settings, &joined, assignments).await {
                Ok(Ok(a)) => a,
                Ok(Err(codes::REBALANCE_IN_PROGRESS)) => continue,
                Ok(Err(code)) => {
                    if code == codes::UNKNOWN_MEMBER_ID || code == codes::ILLEGAL_GENERATION {
                        member_id.clear();
                    }
                    warn!("SyncGroup failed with error {code}; rejoining");
                    continue;
                }
                Err(e) => {
                    warn!("{e}");
                    break;
                }
            };
            attempt = 0;
            info!(
                generation = joined.generation,
                leader = %assignment.leader_url,
                assigned = ?assignment.assigned,
                revoked = ?assignment.revoked,
                "joined the group"
            );
            let must_rejoin = !assignment.revoked.is_empty();
            handler.assigned(&joined, assignment).await;
            if must_rejoin {
                continue;
            }
            let mut last_ok = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(settings.heartbeat_interval) => {}
                    _ = rejoin.notified() => continue 'join,
                    _ = shutdown.changed() => {
                        if *shutdown.borrow() {
                            break 'join;
                        }
                    }
                }
                match group::heartbeat(&mut conn, &settings, joined.generation, &member_id).await {
                    Ok(codes::NONE) => last_ok = Instant::now(),
                    Ok(codes::REBALANCE_IN_PROGRESS) => continue 'join,
                    Ok(
                        code @ (codes::UNKNOWN_MEMBER_ID
                        | codes::ILLEGAL_GENERATION
                        | codes::FENCED_INSTANCE_ID),
                    ) => {
                        warn!("heartbeat refused with error {code}: this worker left the group");
                        handler.lost().await;
                        if code == codes::UNKNOWN_MEMBER_ID {
                            member_id.clear();
                        }
                        continue 'join;
                    }
                    Ok(codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE) => break 'join,
                    Ok(code) => warn!("heartbeat failed with error {code}"),
                    Err(e) => {
                        warn!("heartbeat failed: {e}");
                        if last_ok.elapsed() > settings.session_timeout {
                            handler.lost().await;
                        }
                        break 'join;
                    }
                }
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
