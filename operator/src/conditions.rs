//! The `Ready` condition both resources carry, with the transition time kept while the status
//! does not change (so `kubectl wait` and dashboards see real transitions only).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The condition type both resources report.
pub const READY: &str = "Ready";

/// Whether a resource is ready, why, and in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// `True` or `False` as a boolean.
    pub ready: bool,
    /// CamelCase reason, e.g. `PodsNotReady`.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
}

impl Readiness {
    /// A ready state.
    pub fn ready(reason: &str, message: impl Into<String>) -> Self {
        Self {
            ready: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A not-ready state.
    pub fn not_ready(reason: &str, message: impl Into<String>) -> Self {
        Self {
            ready: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The `Ready` condition for `readiness`, keeping the previous transition time when the status
/// is unchanged.
pub fn ready_condition(
    readiness: &Readiness,
    generation: Option<i64>,
    previous: &[Condition],
    now: Timestamp,
) -> Condition {
    let status = if readiness.ready { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == READY && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: READY.into(),
        status: status.into(),
        reason: readiness.reason.clone(),
        message: readiness.message.clone(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The previous `Ready` condition's status and reason, to tell whether an Event is due.
pub fn ready_state(conditions: &[Condition]) -> Option<(bool, &str)> {
    conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| (c.status == "True", c.reason.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_is_kept_while_status_holds() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let first = ready_condition(&Readiness::not_ready("A", "a"), Some(1), &[], t0);
        let same = ready_condition(
            &Readiness::not_ready("B", "b"),
            Some(2),
            std::slice::from_ref(&first),
            t1,
        );
        assert_eq!(same.last_transition_time, Time(t0));
        assert_eq!(same.reason, "B");
        assert_eq!(same.observed_generation, Some(2));
        let flipped = ready_condition(&Readiness::ready("Ready", ""), Some(2), &[same], t1);
        assert_eq!(flipped.last_transition_time, Time(t1));
        assert_eq!(flipped.status, "True");
        assert_eq!(ready_state(&[flipped]), Some((true, "Ready")));
    }
}
