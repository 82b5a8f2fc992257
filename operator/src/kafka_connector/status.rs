//! A connector's status from what the REST API reports, and its readiness given the state the
//! resource asks for.

use crate::conditions::Readiness;
use serde_json::Value;
use skiff_api::crd::{ConnectorProgress, ConnectorTargetState, InstanceStatus, TaskStatus};
use skiff_api::rest::{ConnectorStateInfo, State};

/// The connector part of a REST status.
pub fn instance_status(info: &ConnectorStateInfo) -> InstanceStatus {
    InstanceStatus {
        state: info.connector.state.as_str().into(),
        worker_id: info.connector.worker_id.clone(),
        trace: info.connector.trace.clone(),
    }
}

/// The tasks of a REST status.
pub fn task_statuses(info: &ConnectorStateInfo) -> Vec<TaskStatus> {
    info.tasks
        .iter()
        .map(|t| TaskStatus {
            id: i32::try_from(t.id).unwrap_or(i32::MAX),
            state: t.state.as_str().into(),
            worker_id: t.worker_id.clone(),
            trace: t.trace.clone(),
        })
        .collect()
}

/// Sums a Skiff progress document (`{"done", "tasks": [{"id", "progress": {..}}]}`) over its
/// tasks: backup tasks count `recordsWritten`, restore tasks `recordsRestored`.
pub fn progress_summary(doc: &Value) -> ConnectorProgress {
    let tasks = doc["tasks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let sum = |keys: &[&str]| -> i64 {
        tasks
            .iter()
            .flat_map(|t| keys.iter().filter_map(|k| t["progress"][*k].as_i64()))
            .sum()
    };
    let restore = tasks
        .iter()
        .any(|t| t["progress"].get("recordsRestored").is_some());
    let errors: Vec<String> = tasks
        .iter()
        .filter_map(|t| {
            let e = t["progress"]["lastError"].as_str()?;
            Some(format!("task {}: {e}", t["id"]))
        })
        .collect();
    let mut warnings: Vec<String> = tasks
        .iter()
        .flat_map(|t| {
            t["progress"]["warnings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect();
    warnings.sort();
    warnings.dedup();
    ConnectorProgress {
        done: restore.then(|| doc["done"] == Value::Bool(true)),
        records: sum(&["recordsWritten", "recordsRestored"]),
        bytes: sum(&["bytesWritten", "bytesRead"]),
        objects: sum(&["objectsWritten", "objectsRead"]),
        last_error: (!errors.is_empty()).then(|| errors.join("; ")),
        warnings,
    }
}

/// Readiness with the progress too: a running connector whose tasks keep retrying a failing S3
/// call (it fails after `s3.retry.timeout.ms`) or ride out a Kafka fault is not doing its job,
/// though nothing has failed yet, so it is not Ready meanwhile.
pub fn with_progress(readiness: Readiness, progress: Option<&ConnectorProgress>) -> Readiness {
    match progress.and_then(|p| p.last_error.as_deref()) {
        Some(error) if readiness.ready => {
            Readiness::not_ready("TaskRetrying", format!("a task keeps retrying: {error}"))
        }
        _ => readiness,
    }
}

/// Whether the connector or one of its tasks has failed.
pub fn has_failure(info: &ConnectorStateInfo) -> bool {
    info.connector.state == State::Failed || info.tasks.iter().any(|t| t.state == State::Failed)
}

/// The state the cluster reports when it has done what the resource asks.
pub fn expected_state(target: ConnectorTargetState) -> State {
    match target {
        ConnectorTargetState::Running => State::Running,
        ConnectorTargetState::Paused => State::Paused,
        ConnectorTargetState::Stopped => State::Stopped,
    }
}

/// Readiness: the connector is in the asked-for state and nothing failed.
pub fn readiness(info: Option<&ConnectorStateInfo>, target: ConnectorTargetState) -> Readiness {
    let Some(info) = info else {
        return Readiness::not_ready("ConnectorStarting", "the cluster reports no status yet");
    };
    let state = info.connector.state;
    if state == State::Failed {
        let first_line = info
            .connector
            .trace
            .as_deref()
            .and_then(|t| t.lines().next())
            .unwrap_or("no trace");
        return Readiness::not_ready("ConnectorFailed", format!("connector failed: {first_line}"));
    }
    if let Some(task) = info.tasks.iter().find(|t| t.state == State::Failed) {
        let first_line = task
            .trace
            .as_deref()
            .and_then(|t| t.lines().next())
            .unwrap_or("no trace");
        return Readiness::not_ready(
            "TaskFailed",
            format!("task {} failed: {first_line}", task.id),
        );
    }
    let expected = expected_state(target);
    if state != expected {
        return Readiness::not_ready(
            "StateChanging",
            format!(
                "connector is {}, expected {}",
                state.as_str(),
                expected.as_str()
            ),
        );
    }
    let reason = match target {
        ConnectorTargetState::Running => "Running",
        ConnectorTargetState::Paused => "Paused",
        ConnectorTargetState::Stopped => "Stopped",
    };
    Readiness::ready(
        reason,
        format!(
            "connector is {} with {} task(s)",
            state.as_str(),
            info.tasks.len()
        ),
    )
}

/// The REST call that moves the connector toward the target, if one is needed.
pub fn state_action(current: State, target: ConnectorTargetState) -> Option<&'static str> {
    match (target, current) {
        (ConnectorTargetState::Running, State::Paused | State::Stopped) => Some("resume"),
        (ConnectorTargetState::Paused, State::Running | State::Stopped | State::Unassigned) => {
            Some("pause")
        }
        (ConnectorTargetState::Stopped, s) if s != State::Stopped => Some("stop"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::rest::{ConnectorState, ConnectorType, TaskState};

    fn info(state: State, tasks: &[State]) -> ConnectorStateInfo {
        ConnectorStateInfo {
            name: "c".into(),
            connector: ConnectorState {
                state,
                worker_id: "w:8083".into(),
                version: None,
                trace: None,
            },
            tasks: tasks
                .iter()
                .enumerate()
                .map(|(i, s)| TaskState {
                    id: i as u32,
                    state: *s,
                    worker_id: "w:8083".into(),
                    version: None,
                    trace: (*s == State::Failed).then(|| "boom\n at x".into()),
                })
                .collect(),
            connector_type: ConnectorType::Sink,
        }
    }

    #[test]
    fn a_retrying_task_makes_a_ready_connector_not_ready() {
        let ready = Readiness::ready("Running", "running");
        let healthy = ConnectorProgress::default();
        assert_eq!(with_progress(ready.clone(), Some(&healthy)), ready);
        assert_eq!(with_progress(ready.clone(), None), ready);
        let failing = ConnectorProgress {
            last_error: Some("task 0: S3 error: connection refused".into()),
            ..Default::default()
        };
        let r = with_progress(ready, Some(&failing));
        assert_eq!((r.ready, r.reason.as_str()), (false, "TaskRetrying"));
        assert!(r.message.contains("task 0: S3 error: connection refused"));
        let paused = Readiness::not_ready("Paused", "paused");
        assert_eq!(with_progress(paused.clone(), Some(&failing)), paused);
    }

    #[test]
    fn sums_backup_and_restore_progress() {
        let backup = serde_json::json!({"name": "b", "done": false, "tasks": [
            {"id": 0, "progress": {"recordsWritten": 10, "bytesWritten": 100, "objectsWritten": 1, "lastError": null}},
            {"id": 1, "progress": {"recordsWritten": 5, "bytesWritten": 50, "objectsWritten": 2, "lastError": "S3 error: connection refused"}}]});
        let p = progress_summary(&backup);
        assert_eq!((p.done, p.records, p.bytes, p.objects), (None, 15, 150, 3));
        assert_eq!(
            p.last_error.as_deref(),
            Some("task 1: S3 error: connection refused")
        );
        let restore = serde_json::json!({"name": "r", "done": true, "tasks": [
            {"id": 0, "progress": {"done": true, "recordsRestored": 7, "bytesRead": 70, "objectsRead": 1, "warnings": ["w"]}},
            {"id": 1, "progress": {"done": true, "recordsRestored": 3, "bytesRead": 30, "objectsRead": 1, "warnings": ["w"]}}]});
        let p = progress_summary(&restore);
        assert_eq!(
            (p.done, p.records, p.bytes, p.objects),
            (Some(true), 10, 100, 2)
        );
        assert_eq!((p.last_error, p.warnings), (None, vec!["w".to_string()]));
        assert_eq!(
            progress_summary(&serde_json::json!({"tasks": []})),
            ConnectorProgress::default()
        );
    }

    #[test]
    fn maps_rest_status_into_the_resource_status() {
        let i = info(State::Running, &[State::Running, State::Failed]);
        assert_eq!(instance_status(&i).state, "RUNNING");
        let tasks = task_statuses(&i);
        assert_eq!(tasks[1].id, 1);
        assert_eq!(tasks[1].state, "FAILED");
        assert_eq!(tasks[1].trace.as_deref(), Some("boom\n at x"));
        assert!(has_failure(&i));
    }

    #[test]
    fn readiness_follows_state_and_failures() {
        use ConnectorTargetState::*;
        assert!(readiness(Some(&info(State::Running, &[State::Running])), Running).ready);
        let failed = readiness(Some(&info(State::Running, &[State::Failed])), Running);
        assert_eq!(
            (failed.reason.as_str(), failed.message.as_str()),
            ("TaskFailed", "task 0 failed: boom")
        );
        assert_eq!(
            readiness(Some(&info(State::Running, &[])), Paused).reason,
            "StateChanging"
        );
        assert_eq!(
            readiness(Some(&info(State::Paused, &[State::Paused])), Paused).reason,
            "Paused"
        );
        assert_eq!(
            readiness(Some(&info(State::Stopped, &[])), Stopped).reason,
            "Stopped"
        );
        assert_eq!(readiness(None, Running).reason, "ConnectorStarting");
        assert_eq!(
            readiness(Some(&info(State::Failed, &[])), Running).reason,
            "ConnectorFailed"
        );
    }

    #[test]
    fn state_actions_only_when_needed() {
        use ConnectorTargetState::*;
        assert_eq!(state_action(State::Running, Running), None);
        assert_eq!(state_action(State::Paused, Running), Some("resume"));
        assert_eq!(state_action(State::Stopped, Running), Some("resume"));
        assert_eq!(state_action(State::Running, Paused), Some("pause"));
        assert_eq!(state_action(State::Paused, Paused), None);
        assert_eq!(state_action(State::Running, Stopped), Some("stop"));
        assert_eq!(state_action(State::Stopped, Stopped), None);
        assert_eq!(state_action(State::Failed, Running), None);
    }
}
