//! A Connect cluster whose REST API needs https and basic auth: with `spec.rest` the operator
//! reads the CA and the user from Secrets and manages connectors through it; without them the
//! cluster is not Ready, and says why. The cluster is a real Skiff worker on loopback.

mod common;

use common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_api::crd::{ConnectCluster, KafkaConnector};
use skiff_testenv::pki::TestPki;
use std::collections::BTreeMap;

fn secret(name: &str, data: &[(&str, Vec<u8>)]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.clone())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_are_managed_through_https_and_basic_auth_from_secrets() {
    let (client, ns) = setup("rest-sec").await;
    let pki = TestPki::new();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let ca = std::fs::read(pki.dir.path().join("ca.pem")).expect("ca");
    for s in [
        secret("rest-cert", &[("ca.crt", ca)]),
        secret(
            "rest-user",
            &[
                ("username", b"operator".to_vec()),
                ("password", b"op-s3cret".to_vec()),
            ],
        ),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("secret");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut props = skiff_worker::config::properties::Properties::new();
    for (k, v) in [
        (
            "bootstrap.servers",
            skiff_testenv::kafka().bootstrap.clone(),
        ),
        ("listeners", "https://127.0.0.1:0".into()),
        ("listeners.https.ssl.keystore.type", "PEM".into()),
        (
            "listeners.https.ssl.keystore.location",
            pki.path("server-keystore.pem"),
        ),
        ("rest.basic.auth.username", "operator".into()),
        ("rest.basic.auth.password", "op-s3cret".into()),
        (
            "offset.storage.file.filename",
            dir.path().join("offsets.json").display().to_string(),
        ),
    ] {
        props.insert(k.into(), v);
    }
    let worker = skiff_worker::standalone::start(
        props,
        Vec::new(),
        skiff_worker::rest::LogControl::new(None, "info"),
    )
    .await
    .expect("worker");
    let url = format!("https://127.0.0.1:{}", worker.addr.port());

    let clusters: Api<ConnectCluster> = Api::namespaced(client.clone(), &ns);
    let mut secured = external_cluster("secured", &url);
    secured.spec.rest = serde_json::from_value(json!({
        "tls": {"secretName": "rest-cert"},
        "basicAuth": {"secretName": "rest-user"}
    }))
    .expect("rest");
    clusters
        .create(&PostParams::default(), &secured)
        .await
        .expect("cluster");
    clusters
        .create(&PostParams::default(), &external_cluster("bare", &url))
        .await
        .expect("cluster");
    eventually(60, "the secured cluster to be Ready", || async {
        let status = clusters.get("secured").await.ok()?.status?;
        (ready(&status.conditions)?.0 == "True").then_some(())
    })
    .await;
    let message = eventually(
        60,
        "the bare cluster to say why it is not Ready",
        || async {
            let status = clusters.get("bare").await.ok()?.status?;
            let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
            (c.status == "False").then(|| c.message.clone())
        },
    )
    .await;
    assert!(
        message.contains("UnknownIssuer") || message.to_lowercase().contains("certificate"),
        "the message should say the certificate is not trusted: {message}"
    );

    let topic = skiff_testenv::unique_name("rest-sec");
    let file = dir.path().join("sink.txt").display().to_string();
    let connectors: Api<KafkaConnector> = Api::namespaced(client.clone(), &ns);
    connectors
        .create(
            &PostParams::default(),
            &connector("guarded", "secured", &topic, &file),
        )
        .await
        .expect("connector");
    wait_state(&connectors, "guarded", "Running", "RUNNING").await;
    let r = pki
        .client(false)
        .get(format!("{url}/connectors/guarded/config"))
        .basic_auth("operator", Some("op-s3cret"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let status =
        serde_json::to_string(&connectors.get("guarded").await.expect("kc").status).expect("json");
    assert!(
        !status.contains("op-s3cret"),
        "the status shows the password"
    );
    worker.stop().await;
}
