//! Shared setup of the operator integration tests: a client of the test API server, the CRDs
//! installed, a fresh namespace per test, and the operator running in-process on it.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde_json::json;
use skiff_api::crd::{ConnectCluster, KafkaConnector};
use skiff_api::rest::ConnectorConfig;
use skiff_operator::connect_rest::{ConnectRest, http_client};
use skiff_operator::context::Context;
use skiff_operator::metrics::Metrics;
use skiff_operator::scope::WatchScope;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A client of the test API server.
pub async fn client() -> Client {
    skiff_operator::install_crypto_provider();
    let path = &skiff_testenv::kube().kubeconfig;
    let kubeconfig = Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    Client::try_from(config).expect("kube client")
}

/// Applies both CRDs and waits until they are established.
pub async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("skiff-operator-tests").force();
    for crd in [ConnectCluster::crd(), KafkaConnector::crd()] {
        let name = crd.metadata.name.clone().expect("crd name");
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .expect("apply crd");
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .expect("crd established in time")
            .expect("watch crd");
    }
}

/// Creates a namespace with a unique name.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = skiff_testenv::unique_name(prefix);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

/// Starts both controllers on `namespace` with a short resync; they stop with the test runtime.
pub fn start_operator(client: &Client, namespace: &str) {
    let http = skiff_operator::connect_rest::http_client().expect("http client");
    let ctx = Arc::new(Context::new(
        client.clone(),
        http,
        Arc::new(Metrics::default()),
        Some("test".into()),
        Duration::from_secs(3),
    ));
    let scope = WatchScope {
        namespaces: vec![namespace.to_owned()],
    };
    tokio::spawn(async move { skiff_operator::run(ctx, &scope).await });
}

/// Everything a test needs: client, namespace with the operator running on it.
pub async fn setup(prefix: &str) -> (Client, String) {
    let client = client().await;
    install_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    start_operator(&client, &ns);
    (client, ns)
}

/// Polls `check` every 250 ms until it returns `Some`, failing after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The `Ready` condition's status and reason of a status's conditions.
pub fn ready(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Apache's file sink, which both the peer and Skiff workers run.
pub const FILE_SINK: &str = "org.apache.kafka.connect.file.FileStreamSinkConnector";

/// A ConnectCluster for a Connect cluster the operator does not run.
pub fn external_cluster(name: &str, url: &str) -> ConnectCluster {
    serde_json::from_value(json!({
        "apiVersion": "skiff.dev/v1alpha1",
        "kind": "ConnectCluster",
        "metadata": {"name": name},
        "spec": {"external": {"url": url}}
    }))
    .expect("cluster")
}

/// A FileStreamSink KafkaConnector on `cluster`.
pub fn connector(name: &str, cluster: &str, topic: &str, file: &str) -> KafkaConnector {
    serde_json::from_value(json!({
        "apiVersion": "skiff.dev/v1alpha1",
        "kind": "KafkaConnector",
        "metadata": {"name": name},
        "spec": {
            "clusterRef": cluster,
            "class": FILE_SINK,
            "tasksMax": 1,
            "config": {"topics": topic, "file": file}
        }
    }))
    .expect("connector")
}

/// A REST client of the Apache Kafka Connect peer.
pub fn rest() -> ConnectRest {
    ConnectRest::new(
        http_client().expect("http"),
        &skiff_testenv::connect_peer().url,
    )
}

/// The peer's config of connector `name`, if it exists.
pub async fn remote_config(name: &str) -> Option<ConnectorConfig> {
    rest().connector_config(name).await.ok().flatten()
}

/// Ready status, reason and connector state of a resource.
pub async fn state_of(api: &Api<KafkaConnector>, name: &str) -> Option<(String, String, String)> {
    let kc = api.get(name).await.ok()?;
    let status = kc.status?;
    let (ready, reason) = ready(&status.conditions)?;
    Some((ready, reason, status.connector_status?.state))
}

/// Waits until the resource is Ready with `want_reason` and the connector in `want_state`.
pub async fn wait_state(
    api: &Api<KafkaConnector>,
    name: &str,
    want_reason: &str,
    want_state: &str,
) {
    let what = format!("{name} {want_reason}/{want_state}");
    eventually(60, &what, || async {
        let (ready, reason, state) = state_of(api, name).await?;
        (ready == "True" && reason == want_reason && state == want_state).then_some(())
    })
    .await;
}

/// A Skiff worker in this process, with its REST URL.
pub async fn skiff_worker() -> (skiff_worker::standalone::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut props = skiff_worker::config::properties::Properties::new();
    props.insert(
        "bootstrap.servers".into(),
        skiff_testenv::kafka().bootstrap.clone(),
    );
    props.insert("listeners".into(), "http://127.0.0.1:0".into());
    props.insert(
        "offset.storage.file.filename".into(),
        dir.path().join("offsets.json").display().to_string(),
    );
    let logs = skiff_worker::rest::LogControl::new(None, "info");
    let running = skiff_worker::standalone::start(props, Vec::new(), logs)
        .await
        .expect("skiff worker");
    (running, dir)
}

/// Notes of the Events with `reason` about the object `name` in `ns`.
pub async fn event_notes(client: &Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .map(|list| {
            list.items
                .into_iter()
                .filter(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
                .filter_map(|e| e.note)
                .collect()
        })
        .unwrap_or_default()
}

/// Sets annotation `key` on KafkaConnector `name`, then waits until the operator has removed it.
pub async fn annotate_and_wait(api: &Api<KafkaConnector>, name: &str, key: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    eventually(60, &format!("{key}={value} handled"), || async {
        let kc = api.get(name).await.ok()?;
        (!kc.annotations().contains_key(key)).then_some(())
    })
    .await;
}
