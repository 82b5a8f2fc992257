//! Smoke tests for the Kubernetes part of the test environment: a real kube-apiserver with etcd,
//! kube-controller-manager, kube-scheduler and kwok (one fake node), plus the helm CLI.
//! They fail, never skip, when the environment is not up.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

const HOW_TO_START: &str = "run `make testenv`";
/// The node kwok plays (tests/testenv/k8s.sh).
const KWOK_NODE: &str = "kwok-node-0";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testenv crate lives in the workspace")
        .to_path_buf()
}

/// `KEY=VALUE` lines from `path`.
fn read_key_values(path: &Path) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

/// The env file `tests/testenv.sh up` writes for `component`; panics with how to start it.
fn testenv(component: &str) -> HashMap<String, String> {
    let state = std::env::var_os("SKIFF_TESTENV_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/testenv"));
    let path = state.join(format!("{component}.env"));
    read_key_values(&path).unwrap_or_else(|| {
        panic!(
            "{component} is not up ({} missing): {HOW_TO_START}",
            path.display()
        )
    })
}

fn pinned_kubernetes_version() -> String {
    let pins =
        read_key_values(&repo_root().join("tests/versions.env")).expect("tests/versions.env");
    pins["KUBERNETES_VERSION"].clone()
}

async fn client() -> Client {
    // aws-sdk-s3 and kube enable different rustls providers; pick one for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let env = testenv("k8s");
    let kubeconfig = Kubeconfig::read_from(&env["KUBECONFIG"])
        .unwrap_or_else(|e| panic!("reading the k8s kubeconfig: {e}; {HOW_TO_START}"));
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig of the test environment is valid");
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    config.write_timeout = Some(Duration::from_secs(30));
    let client = Client::try_from(config).expect("kube client");
    client
        .apiserver_version()
        .await
        .unwrap_or_else(|e| panic!("the k8s API server does not answer ({e}): {HOW_TO_START}"));
    client
}

/// Creates a namespace no other test run uses.
async fn unique_namespace(client: &Client, purpose: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let name = format!("smoke-{purpose}-{}-{nanos}", std::process::id());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

async fn delete_namespace(client: &Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete namespace");
}

#[tokio::test]
async fn configmap_create_get_patch_delete() {
    let client = client().await;
    let ns = unique_namespace(&client, "cm").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("smoke".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("a".to_owned(), "1".to_owned())])),
        ..ConfigMap::default()
    };
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");

    let got = api.get("smoke").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("1")
    );

    let patch = serde_json::json!({ "data": { "b": "2" } });
    let patched = api
        .patch("smoke", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    let data = patched.data.expect("patched data");
    assert_eq!(data.get("a").map(String::as_str), Some("1"));
    assert_eq!(data.get("b").map(String::as_str), Some("2"));

    api.delete("smoke", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(
        api.get_opt("smoke")
            .await
            .expect("get after delete")
            .is_none()
    );
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn statefulset_pods_become_ready_on_the_kwok_node() {
    let client = client().await;
    let ns = unique_namespace(&client, "sts").await;
    let labels = BTreeMap::from([("app".to_owned(), "smoke".to_owned())]);
    let sts = StatefulSet {
        metadata: ObjectMeta {
            name: Some("smoke".into()),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(2),
            service_name: Some("smoke".into()),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "main".into(),
                        // kwok never pulls or runs images.
                        image: Some("registry.invalid/smoke:1".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    };
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    sts_api
        .create(&PostParams::default(), &sts)
        .await
        .expect("create statefulset");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let status = sts_api
            .get_status("smoke")
            .await
            .expect("get statefulset")
            .status;
        if status.and_then(|s| s.ready_replicas) == Some(2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "StatefulSet did not get 2 ready replicas within 90 s (check `tests/testenv.sh logs k8s`)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("app=smoke"))
        .await
        .expect("list pods");
    let mut names: Vec<_> = pods
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["smoke-0", "smoke-1"]);
    for pod in &pods.items {
        let spec = pod.spec.as_ref().expect("pod spec");
        assert_eq!(spec.node_name.as_deref(), Some(KWOK_NODE));
        let status = pod.status.as_ref().expect("pod status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "pod {:?} is not Ready", pod.metadata.name);
    }
    delete_namespace(&client, &ns).await;
}

/// Runs helm with `args`; returns (success, stdout, stderr).
async fn helm(args: &[&str]) -> (bool, String, String) {
    let env = testenv("helm");
    let run = tokio::process::Command::new(&env["HELM"])
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("helm finished within 60 s")
        .unwrap_or_else(|e| panic!("running helm: {e}; {HOW_TO_START}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn helm_lints_and_renders_the_smoke_chart() {
    let chart = repo_root().join("tests/testenv/k8s/smoke-chart");
    let chart = chart.to_str().expect("utf-8 path");
    let kube_version = pinned_kubernetes_version();

    let (ok, stdout, stderr) = helm(&["lint", chart]).await;
    assert!(ok, "helm lint failed:\n{stdout}\n{stderr}");

    let (ok, rendered, stderr) = helm(&[
        "template",
        "demo",
        chart,
        "--kube-version",
        &kube_version,
        "--set",
        "greeting=hi",
    ])
    .await;
    assert!(ok, "helm template failed:\n{stderr}");
    assert!(rendered.contains("kind: ConfigMap"), "{rendered}");
    assert!(rendered.contains("name: demo-smoke"), "{rendered}");
    assert!(rendered.contains("greeting: \"hi\""), "{rendered}");
    assert!(
        rendered.contains(&format!("kubeVersion: \"{kube_version}\"")),
        "{rendered}"
    );

    // The chart's kubeVersion constraint is checked against --kube-version.
    let (ok, _, stderr) = helm(&["template", "demo", chart, "--kube-version", "v1.29.0"]).await;
    assert!(!ok, "helm accepted a Kubernetes version the chart excludes");
    assert!(stderr.contains("kubeVersion"), "{stderr}");
}
