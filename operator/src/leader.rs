//! Leader election through a `coordination.k8s.io/v1` Lease, so two operator replicas can run and
//! only one reconciles. The holder renews the Lease; another replica takes it over once it has not
//! been renewed for its duration. Writes use the Lease's resourceVersion, so two replicas racing
//! for it cannot both win.

use crate::metrics::Metrics;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// Where the Lease lives and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the Lease is renewed or checked.
    pub renew_every: Duration,
}

/// What to do with the Lease as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it.
    Create,
    /// This replica holds it: renew it.
    Renew,
    /// Another replica held it but let it expire: take it over.
    TakeOver,
    /// Another replica holds it: wait.
    Follow,
}

/// Decides from the Lease's spec, this replica's identity and the time.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == identity => Decision::Renew,
        None | Some("") => Decision::TakeOver,
        Some(_) => {
            let duration =
                SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
            let renewed = spec
                .renew_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            if now.duration_since(renewed) > duration {
                Decision::TakeOver
            } else {
                Decision::Follow
            }
        }
    }
}

/// The Lease spec written when this replica holds the Lease.
fn held_spec(
    config: &LeaseConfig,
    previous: Option<&LeaseSpec>,
    now: Timestamp,
    taking_over: bool,
) -> LeaseSpec {
    let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(config.identity.clone()),
        lease_duration_seconds: Some(i32::try_from(config.duration.as_secs()).unwrap_or(i32::MAX)),
        acquire_time: if taking_over || previous.is_none() {
            Some(MicroTime(now))
        } else {
            previous.and_then(|s| s.acquire_time.clone())
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if taking_over {
            transitions + 1
        } else {
            transitions
        }),
        ..Default::default()
    }
}

/// One round: reads the Lease, writes it if this replica holds or may take it; returns whether
/// this replica leads afterwards.
async fn round(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let lease = api.get_opt(&config.name).await?;
    let spec = lease.as_ref().and_then(|l| l.spec.as_ref());
    let decision = decide(spec, &config.identity, now);
    let written = match (decision, lease.as_ref()) {
        (Decision::Follow, _) => return Ok(false),
        (Decision::Create, _) | (_, None) => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    ..Default::default()
                },
                spec: Some(held_spec(config, None, now, false)),
            };
            api.create(&PostParams::default(), &lease).await
        }
        (decision, Some(current)) => {
            let mut next = current.clone();
            next.spec = Some(held_spec(config, spec, now, decision == Decision::TakeOver));
            api.replace(&config.name, &PostParams::default(), &next)
                .await
        }
    };
    match written {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keeps competing for the Lease forever, publishing whether this replica leads.
pub async fn run(
    client: Client,
    config: LeaseConfig,
    metrics: Arc<Metrics>,
    leading: watch::Sender<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    loop {
        let leads = match round(&api, &config).await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %e, "leader election round failed");
                false
            }
        };
        metrics.leader.store(leads, Ordering::Relaxed);
        leading.send_if_modified(|was| std::mem::replace(was, leads) != leads);
        tokio::time::sleep(config.renew_every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        let now = Timestamp::from_second(1_000).unwrap();
        assert_eq!(decide(None, "a", now), Decision::Create);
        assert_eq!(decide(Some(&spec("a", 990)), "a", now), Decision::Renew);
        assert_eq!(decide(Some(&spec("b", 990)), "a", now), Decision::Follow);
        assert_eq!(decide(Some(&spec("b", 900)), "a", now), Decision::TakeOver);
        assert_eq!(decide(Some(&spec("", 999)), "a", now), Decision::TakeOver);
    }

    #[test]
    fn taking_over_counts_a_transition() {
        let config = LeaseConfig {
            name: "l".into(),
            namespace: "ns".into(),
            identity: "a".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let now = Timestamp::from_second(1_000).unwrap();
        let taken = held_spec(&config, Some(&spec("b", 900)), now, true);
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.acquire_time, Some(MicroTime(now)));
        let renewed = held_spec(&config, Some(&taken), now, false);
        assert_eq!(renewed.lease_transitions, Some(1));
    }
}
