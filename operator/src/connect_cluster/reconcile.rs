//! The ConnectCluster controller: validate, build the children, apply them, and report status.
//! An invalid spec or a missing Secret becomes a condition, never an error loop.

use super::config_map::build_config_map;
use super::exclusive::delete_unmanaged;
use super::hash::config_hash;
use super::names::service_url;
use super::pdb::build_pdb;
use super::secrets::{has_key, referenced_secrets, rest_secret_keys, rest_trust_key};
use super::services::{build_api_service, build_headless_service};
use super::stateful_set::build_stateful_set;
use super::status::{
    Replicas, RestProbe, build_status, describe, external_readiness, managed_readiness,
};
use super::validate::{self, validate};
use super::worker_properties::{render, worker_properties};
use crate::apply::{apply, apply_status};
use crate::conditions::Readiness;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events;
use crate::rest_access::connect_rest;
use crate::scope::scoped;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use skiff_api::crd::ConnectCluster;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How soon a cluster that is not ready yet is checked again.
const NOT_READY_REQUEUE: Duration = Duration::from_secs(15);

/// Runs the controller for the clusters `api` sees until the watch ends.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let ns = namespace.as_deref();
    let client = &ctx.client;
    let (clusters, sets, services, config_maps, pdbs, secrets) = (
        scoped::<ConnectCluster>(client, ns),
        scoped::<StatefulSet>(client, ns),
        scoped::<Service>(client, ns),
        scoped::<ConfigMap>(client, ns),
        scoped::<PodDisruptionBudget>(client, ns),
        // Names and versions are all the trigger needs: watched as metadata only, so no Secret's
        // data in the namespace (Helm releases, certificates) ever reaches the operator this way.
        scoped::<PartialObjectMeta<Secret>>(client, ns),
    );
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=skiff-operator");
    let controller = Controller::new(clusters, watcher::Config::default().any_semantic());
    let store = controller.store();
    controller
        .owns(sets, owned.clone())
        .owns(services, owned.clone())
        .owns(config_maps, owned.clone())
        .owns(pdbs, owned)
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: PartialObjectMeta<Secret>| {
                let ns = secret.namespace();
                let name = secret.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|cc| {
                        cc.namespace() == ns && referenced_secrets(&cc.spec).contains(&name)
                    })
                    .map(|cc| ObjectRef::from_obj(&*cc))
                    .collect::<Vec<_>>()
            },
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connectcluster controller");
            }
        })
        .await;
}

/// Reconciles one cluster.
pub async fn reconcile(cc: Arc<ConnectCluster>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.connect_cluster.reconciled();
    let ns = cc
        .namespace()
        .ok_or_else(|| Error::NoNamespace(cc.name_any()))?;
    let name = cc.name_any();
    let errors = validate(&cc.spec);
    let (url, replicas, rest, readiness) = if !errors.is_empty() {
        let readiness = Readiness::not_ready("InvalidSpec", validate::describe(&errors));
        (None, Replicas::default(), RestProbe::Skipped, readiness)
    } else if let Some(external) = &cc.spec.external {
        let rest = probe(&ctx, &cc, &external.url).await;
        let readiness = external_readiness(&rest);
        (
            Some(external.url.clone()),
            Replicas::default(),
            rest,
            readiness,
        )
    } else {
        let url = service_url(&cc);
        match apply_children(&cc, &ctx, &ns).await? {
            Ok(replicas) => {
                let rest = if replicas.ready > 0 {
                    probe(&ctx, &cc, &url).await
                } else {
                    RestProbe::Skipped
                };
                let readiness = managed_readiness(cc.spec.replicas, replicas.ready, &rest);
                (Some(url), replicas, rest, readiness)
            }
            Err(readiness) => (
                Some(url),
                Replicas::default(),
                RestProbe::Skipped,
                readiness,
            ),
        }
    };
    if let (true, RestProbe::Up(_), Some(url)) =
        (cc.spec.exclusive_connector_management, &rest, &url)
    {
        match connect_rest(&ctx, &ns, cc.spec.rest.as_ref(), url).await {
            Ok(rest) => {
                if let Err(e) = delete_unmanaged(&cc, &ctx, &ns, &rest).await {
                    tracing::warn!(cluster = %name, error = %e, "could not delete unmanaged connectors");
                }
            }
            Err(e) => {
                tracing::warn!(cluster = %name, error = %e, "could not delete unmanaged connectors")
            }
        }
    }
    tracing::info!("connectcluster {}", describe(&cc, &readiness));
    let previous = cc
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    events::on_transition(&ctx, &cc.object_ref(&()), &previous, &readiness).await;
    let status = build_status(&cc, url, replicas, &rest, &readiness, Timestamp::now());
    let api: Api<ConnectCluster> = Api::namespaced(ctx.client.clone(), &ns);
    apply_status(&api, &name, &status).await?;
    ctx.backoff.succeeded(&key(&cc));
    Ok(if readiness.ready || readiness.reason == "InvalidSpec" {
        Action::requeue(ctx.resync)
    } else {
        Action::requeue(NOT_READY_REQUEUE)
    })
}

/// Applies every child; a referenced Secret that does not exist yet is a readiness problem,
/// not an error.
async fn apply_children(
    cc: &ConnectCluster,
    ctx: &Context,
    ns: &str,
) -> Result<Result<Replicas, Readiness>> {
    let client = ctx.client.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut versions = BTreeMap::new();
    for name in referenced_secrets(&cc.spec) {
        match secrets.get_metadata_opt(&name).await? {
            Some(meta) => {
                versions.insert(name, meta.resource_version().unwrap_or_default());
            }
            None => {
                return Ok(Err(Readiness::not_ready(
                    "SecretMissing",
                    format!("Secret {name} does not exist"),
                )));
            }
        }
    }
    let mut trust = "tls.crt";
    for (field, secret, keys) in rest_secret_keys(cc) {
        let Some(found) = secrets.get_opt(&secret).await? else {
            continue; // reported as SecretMissing above, should it vanish in between
        };
        if let Some(key) = keys.iter().find(|k| !has_key(&found, k)) {
            return Ok(Err(Readiness::not_ready(
                "SecretMissing",
                format!("Secret {secret} has no key {key} ({field})"),
            )));
        }
        if field == "spec.rest.tls" {
            trust = rest_trust_key(&found);
        }
    }
    let properties = render(&worker_properties(cc, trust));
    let hash = config_hash(&properties, &versions);
    apply(
        &Api::namespaced(client.clone(), ns),
        &build_config_map(cc, &properties),
    )
    .await?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    apply(&services, &build_headless_service(cc)).await?;
    apply(&services, &build_api_service(cc)).await?;
    let sts = apply(
        &Api::namespaced(client.clone(), ns),
        &build_stateful_set(cc, &hash, &ctx.worker_image),
    )
    .await?;
    apply(
        &Api::<PodDisruptionBudget>::namespaced(client, ns),
        &build_pdb(cc),
    )
    .await?;
    let status = sts.status.unwrap_or_default();
    Ok(Ok(Replicas {
        current: status.replicas,
        ready: status.ready_replicas.unwrap_or(0),
    }))
}

/// Asks a REST API for its plugins, with the cluster's `spec.rest` credentials.
async fn probe(ctx: &Context, cc: &ConnectCluster, url: &str) -> RestProbe {
    let ns = cc.namespace().unwrap_or_default();
    let rest = match connect_rest(ctx, &ns, cc.spec.rest.as_ref(), url).await {
        Ok(rest) => rest,
        Err(e) => return RestProbe::Down(e.to_string()),
    };
    match rest.plugins().await {
        Ok(plugins) => RestProbe::Up(plugins),
        Err(e) => RestProbe::Down(e.to_string()),
    }
}

fn key(cc: &ConnectCluster) -> String {
    format!(
        "ConnectCluster/{}/{}",
        cc.namespace().unwrap_or_default(),
        cc.name_any()
    )
}

/// Requeues a failed reconcile with growing delays.
pub fn error_policy(cc: Arc<ConnectCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.connect_cluster.failed();
    let delay = ctx.backoff.failed(&key(&cc));
    tracing::warn!(cluster = %cc.name_any(), %error, ?delay, "connectcluster reconcile failed");
    Action::requeue(delay)
}
