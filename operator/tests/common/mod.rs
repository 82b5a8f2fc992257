//! Shared setup of the operator integration tests: a client of the test API server, the CRDs
//! installed, a fresh namespace per test, and the operator running in-process on it.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResourceExt};
use skiff_api::crd::{ConnectCluster, KafkaConnector};
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
