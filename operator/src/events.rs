//! Kubernetes Events for readiness transitions, so `kubectl describe` tells what happened
//! without an Event on every resync.

use crate::conditions::{Readiness, ready_state};
use crate::context::Context;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::{Event, EventType};

/// Publishes an Event when `readiness` differs from the previous `Ready` condition.
pub async fn on_transition(
    ctx: &Context,
    reference: &ObjectReference,
    previous: &[Condition],
    readiness: &Readiness,
) {
    if ready_state(previous) == Some((readiness.ready, readiness.reason.as_str())) {
        return;
    }
    publish(
        ctx,
        reference,
        readiness.ready,
        &readiness.reason,
        &readiness.message,
        "Reconcile",
    )
    .await;
}

/// Publishes one Event; a failure to record it is logged, never fatal.
pub async fn publish(
    ctx: &Context,
    reference: &ObjectReference,
    normal: bool,
    reason: &str,
    note: &str,
    action: &str,
) {
    let event = Event {
        type_: if normal {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}
