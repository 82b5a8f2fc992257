//! The KafkaConnector controller: make the cluster's connector match the resource through the
//! REST API, and report what the cluster says. Each connector reconciles on its own task, so a
//! hanging cluster delays only its own connectors' calls (which time out anyway).

use super::annotations::remove_annotation;
use super::cluster::{cluster_name, rest_url};
use super::desired::{desired_config, needs_update};
use super::offsets::offsets_request;
use super::restart::{auto_restart_due, auto_restart_settled, parse_restart, parse_restart_task};
use super::status::{
    has_failure, instance_status, progress_summary, readiness, state_action, task_statuses,
    with_progress,
};
use crate::apply::apply_status;
use crate::conditions::{Readiness, ready_condition, ready_state};
use crate::connect_rest::{ConnectRest, RestError};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events;
use crate::rest_access::{AccessError, connect_rest};
use crate::scope::scoped;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use skiff_api::crd::{
    AutoRestartStatus, ConnectCluster, KafkaConnector, KafkaConnectorStatus, RESTART_ANNOTATION,
    RESTART_TASK_ANNOTATION,
};
use skiff_api::rest::ConnectorStateInfo;
use std::sync::Arc;
use std::time::Duration;

/// Finalizer that deletes the connector from its cluster before the resource goes.
pub const FINALIZER: &str = "skiff.dev/connector";
/// How soon a connector that is not ready yet is checked again.
const NOT_READY_REQUEUE: Duration = Duration::from_secs(10);
/// Reason of a config the cluster refused; not retried until the resource changes.
const CONFIG_REJECTED: &str = "ConfigRejected";

/// Runs the controller for the connectors in `namespace` (or all) until the watch ends.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let ns = namespace.as_deref();
    let connectors = scoped::<KafkaConnector>(&ctx.client, ns);
    let clusters = scoped::<ConnectCluster>(&ctx.client, ns);
    let controller = Controller::new(connectors, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            clusters,
            watcher::Config::default(),
            move |cc: ConnectCluster| {
                let ns = cc.namespace();
                let name = cc.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|kc| {
                        kc.namespace() == ns && cluster_name(kc).as_deref() == Some(name.as_str())
                    })
                    .map(|kc| ObjectRef::from_obj(&*kc))
                    .collect::<Vec<_>>()
            },
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "kafkaconnector controller");
            }
        })
        .await;
}

/// Reconciles one connector behind the finalizer.
pub async fn reconcile(kc: Arc<KafkaConnector>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.kafka_connector.reconciled();
    let ns = kc
        .namespace()
        .ok_or_else(|| Error::NoNamespace(kc.name_any()))?;
    let api: Api<KafkaConnector> = Api::namespaced(ctx.client.clone(), &ns);
    let action = finalizer(&api, FINALIZER, kc, |event| async {
        match event {
            Finalizer::Apply(kc) => apply(&kc, &ctx, &ns).await,
            Finalizer::Cleanup(kc) => cleanup(&kc, &ctx, &ns).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    Ok(action)
}

/// Where the connector's cluster answers, or why it cannot be reached. A `spec.rest` Secret that
/// cannot be read is a readiness problem here and an error when deleting (see [`cleanup`]).
async fn target(
    kc: &KafkaConnector,
    ctx: &Context,
    ns: &str,
) -> Result<(Option<String>, Result<ConnectRest, Readiness>)> {
    let (name, access) = locate(kc, ctx, ns).await?;
    let rest = match access {
        Err(why) => Err(why),
        Ok(Err(e)) => Err(Readiness::not_ready("ClusterUnreachable", e.to_string())),
        Ok(Ok(rest)) => Ok(rest),
    };
    Ok((name, rest))
}

/// The cluster a connector names and a client for it: `Err` when there is no cluster to call,
/// `Ok(Err)` when its `spec.rest` Secrets cannot be read.
async fn locate(
    kc: &KafkaConnector,
    ctx: &Context,
    ns: &str,
) -> Result<(
    Option<String>,
    Result<Result<ConnectRest, AccessError>, Readiness>,
)> {
    let Some(name) = cluster_name(kc) else {
        let why = Readiness::not_ready(
            "ClusterNotSpecified",
            "set spec.clusterRef or the skiff.dev/cluster label",
        );
        return Ok((None, Err(why)));
    };
    let clusters: Api<ConnectCluster> = Api::namespaced(ctx.client.clone(), ns);
    let cluster = clusters.get_opt(&name).await?;
    let access = match rest_url(&name, cluster.as_ref()) {
        Err(why) => Err(why),
        Ok(url) => {
            let security = cluster.as_ref().and_then(|c| c.spec.rest.as_ref());
            Ok(connect_rest(ctx, ns, security, &url).await)
        }
    };
    Ok((Some(name), access))
}

/// Deletes the connector from its cluster; a cluster that is gone has nothing left to delete.
/// A cluster whose `spec.rest` Secrets cannot be read (deleted in the same `kubectl delete`, or
/// an API error) keeps the finalizer and is retried, so the connector is not left running.
async fn cleanup(kc: &KafkaConnector, ctx: &Context, ns: &str) -> Result<Action> {
    if let (_, Ok(access)) = locate(kc, ctx, ns).await? {
        let rest = access?;
        rest.delete(&kc.name_any()).await?;
        events::publish(
            ctx,
            &kc.object_ref(&()),
            true,
            "Deleted",
            "connector deleted from the cluster",
            "Delete",
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Brings the connector in line with the resource and writes its status.
async fn apply(kc: &KafkaConnector, ctx: &Context, ns: &str) -> Result<Action> {
    let name = kc.name_any();
    let (cluster, rest) = target(kc, ctx, ns).await?;
    let mut status = KafkaConnectorStatus {
        cluster,
        tasks_max: Some(kc.spec.tasks_max),
        auto_restart: kc.status.as_ref().and_then(|s| s.auto_restart.clone()),
        ..Default::default()
    };
    let outcome = match (rest, desired_config(kc)) {
        (_, Err(e)) => Readiness::not_ready("InvalidSpec", e.to_string()),
        (Err(why), _) => why,
        (Ok(rest), Ok(desired)) => {
            match converge(kc, ctx, &rest, &name, &desired, &mut status).await {
                Ok(readiness) => readiness,
                Err(RestError::Status {
                    status: 400,
                    message,
                }) => Readiness::not_ready(
                    CONFIG_REJECTED,
                    format!("the cluster refused the config: {message}"),
                ),
                Err(e) => Readiness::not_ready("ClusterUnreachable", e.to_string()),
            }
        }
    };
    let previous = kc
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    events::on_transition(ctx, &kc.object_ref(&()), &previous, &outcome).await;
    status.conditions = vec![ready_condition(
        &outcome,
        kc.metadata.generation,
        &previous,
        Timestamp::now(),
    )];
    status.observed_generation = kc.metadata.generation;
    let api: Api<KafkaConnector> = Api::namespaced(ctx.client.clone(), ns);
    apply_status(&api, &name, &status).await?;
    ctx.backoff.succeeded(&key(kc));
    Ok(
        if outcome.ready || outcome.reason == CONFIG_REJECTED || outcome.reason == "InvalidSpec" {
            Action::requeue(ctx.resync)
        } else {
            Action::requeue(NOT_READY_REQUEUE)
        },
    )
}

/// Whether the cluster already refused this generation's config.
fn rejected_this_generation(kc: &KafkaConnector) -> bool {
    kc.status.as_ref().is_some_and(|s| {
        s.observed_generation == kc.metadata.generation
            && ready_state(&s.conditions).is_some_and(|(_, reason)| reason == CONFIG_REJECTED)
    })
}

/// The REST steps: config, target state, restarts, offsets requests; then the cluster's status.
async fn converge(
    kc: &KafkaConnector,
    ctx: &Context,
    rest: &ConnectRest,
    name: &str,
    desired: &skiff_api::rest::ConnectorConfig,
    status: &mut KafkaConnectorStatus,
) -> Result<Readiness, RestError> {
    if rejected_this_generation(kc) {
        let previous = kc
            .status
            .as_ref()
            .and_then(|s| s.conditions.first())
            .map(|c| c.message.clone());
        return Ok(Readiness::not_ready(
            CONFIG_REJECTED,
            previous.unwrap_or_default(),
        ));
    }
    let current = rest.connector_config(name).await?;
    if needs_update(name, desired, current.as_ref()) {
        rest.put_connector_config(name, desired).await?;
        let what = if current.is_some() {
            "connector config updated"
        } else {
            "connector created"
        };
        events::publish(
            ctx,
            &kc.object_ref(&()),
            true,
            "ConfigApplied",
            what,
            "PutConfig",
        )
        .await;
    }
    let mut info = rest.status(name).await?;
    if let Some(verb) = info
        .as_ref()
        .and_then(|i| state_action(i.connector.state, kc.spec.state))
    {
        rest.set_state(name, verb).await?;
        info = rest.status(name).await?;
    }
    if restarts(kc, ctx, rest, name, info.as_ref(), status).await? {
        info = rest.status(name).await?;
    }
    offsets_request(
        kc,
        ctx,
        rest,
        name,
        info.as_ref().map(|i| i.connector.state),
    )
    .await?;
    status.topics = rest.topics(name).await?;
    status.progress = rest
        .progress(name)
        .await?
        .filter(|doc| doc["tasks"].is_array())
        .map(|doc| progress_summary(&doc));
    status.connector_status = info.as_ref().map(instance_status);
    status.tasks = info.as_ref().map(task_statuses).unwrap_or_default();
    Ok(with_progress(
        readiness(info.as_ref(), kc.spec.state),
        status.progress.as_ref(),
    ))
}

/// Performs restarts asked for by annotation or due by `autoRestart`; true when one happened.
async fn restarts(
    kc: &KafkaConnector,
    ctx: &Context,
    rest: &ConnectRest,
    name: &str,
    info: Option<&ConnectorStateInfo>,
    status: &mut KafkaConnectorStatus,
) -> Result<bool, RestError> {
    let reference = kc.object_ref(&());
    let mut restarted = false;
    let annotations = kc.annotations();
    if let Some(value) = annotations.get(RESTART_ANNOTATION) {
        match parse_restart(value) {
            Ok(r) => {
                rest.restart(name, r.include_tasks, r.only_failed).await?;
                events::publish(
                    ctx,
                    &reference,
                    true,
                    "Restarted",
                    "connector restarted by annotation",
                    "Restart",
                )
                .await;
                restarted = true;
            }
            Err(e) => {
                events::publish(ctx, &reference, false, "InvalidAnnotation", &e, "Restart").await
            }
        }
        remove_annotation(ctx, kc, RESTART_ANNOTATION).await;
    }
    if let Some(value) = annotations.get(RESTART_TASK_ANNOTATION) {
        match parse_restart_task(value) {
            Ok(task) => {
                rest.restart_task(name, task).await?;
                let note = format!("task {task} restarted by annotation");
                events::publish(ctx, &reference, true, "TaskRestarted", &note, "Restart").await;
                restarted = true;
            }
            Err(e) => {
                events::publish(ctx, &reference, false, "InvalidAnnotation", &e, "Restart").await
            }
        }
        remove_annotation(ctx, kc, RESTART_TASK_ANNOTATION).await;
    }
    let Some(auto) = kc.spec.auto_restart.as_ref().filter(|a| a.enabled) else {
        return Ok(restarted);
    };
    let Some(info) = info else {
        return Ok(restarted);
    };
    let so_far = status.auto_restart.clone().unwrap_or_default();
    let now = Timestamp::now();
    let last = so_far.last_restart_timestamp.as_ref().map(|t| t.0);
    if !has_failure(info) {
        if info.connector.state == skiff_api::rest::State::Running
            && auto_restart_settled(so_far.count, last, now)
        {
            status.auto_restart = Some(AutoRestartStatus::default());
        }
        return Ok(restarted);
    }
    if auto_restart_due(so_far.count, last, auto.max_restarts, now) {
        rest.restart(name, true, true).await?;
        let count = so_far.count.saturating_add(1);
        status.auto_restart = Some(AutoRestartStatus {
            count,
            last_restart_timestamp: Some(Time(now)),
        });
        let note = format!("failed connector or tasks restarted automatically (restart {count})");
        events::publish(ctx, &reference, false, "AutoRestarted", &note, "Restart").await;
        restarted = true;
    }
    Ok(restarted)
}

fn key(kc: &KafkaConnector) -> String {
    format!(
        "KafkaConnector/{}/{}",
        kc.namespace().unwrap_or_default(),
        kc.name_any()
    )
}

/// Requeues a failed reconcile with growing delays.
pub fn error_policy(kc: Arc<KafkaConnector>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.kafka_connector.failed();
    let delay = ctx.backoff.failed(&key(&kc));
    tracing::warn!(connector = %kc.name_any(), %error, ?delay, "kafkaconnector reconcile failed");
    Action::requeue(delay)
}
