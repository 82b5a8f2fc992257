//! Packaging against the real API server of the test environment: the Helm chart lints,
//! renders, refuses bad values by field, and installs the operator with least-privilege RBAC;
//! every rendered object and the plain bundle pass the API server's dry run; the examples are
//! accepted and the broken one is refused naming its field; the chart's CRDs and the bundle
//! are what the generators produce. Tests fail, never skip, when a server cannot start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Longest any one helm or kubectl call may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `KEY=VALUE` lines of a test environment env file.
fn env_file(component: &str) -> BTreeMap<String, String> {
    let path = repo_root()
        .join("target/testenv")
        .join(format!("{component}.env"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The tools and the admin kubeconfig of the running test environment.
struct Tools {
    kubectl: String,
    helm: String,
    kubeconfig: PathBuf,
}

fn tools() -> Tools {
    let kubeconfig = skiff_testenv::kube().kubeconfig.clone();
    let up = std::process::Command::new("bash")
        .arg(repo_root().join("tests/testenv.sh"))
        .args(["up", "helm"])
        .output()
        .expect("run tests/testenv.sh up helm");
    assert!(
        up.status.success(),
        "`tests/testenv.sh up helm` failed:\n{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    Tools {
        kubectl: env_file("k8s")["KUBECTL"].clone(),
        helm: env_file("helm")["HELM"].clone(),
        kubeconfig,
    }
}

/// What a command printed and whether it succeeded.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Both streams, for assertion messages.
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Tools {
    /// Runs `program args` with the test kubeconfig and `stdin`, bounded by [`COMMAND_TIMEOUT`].
    async fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(repo_root())
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "HELM_CACHE_HOME",
                repo_root().join("target/testenv/helm-home/cache"),
            )
            .env(
                "HELM_CONFIG_HOME",
                repo_root().join("target/testenv/helm-home/config"),
            )
            .env(
                "HELM_DATA_HOME",
                repo_root().join("target/testenv/helm-home/data"),
            )
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{program} {args:?} took longer than {COMMAND_TIMEOUT:?}"))
            .expect("wait for command");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn kubectl(&self, args: &[&str]) -> Output {
        self.run(&self.kubectl, args, None).await
    }

    async fn kubectl_in(&self, args: &[&str], stdin: &str) -> Output {
        self.run(&self.kubectl, args, Some(stdin)).await
    }

    async fn helm(&self, args: &[&str]) -> Output {
        self.run(&self.helm, args, None).await
    }

    /// Runs kubectl and fails the test when it fails.
    async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(out.ok, "kubectl {args:?} failed:\n{}", out.all());
        out.stdout
    }

    /// Runs helm and fails the test when it fails.
    async fn helm_ok(&self, args: &[&str]) -> String {
        let out = self.helm(args).await;
        assert!(out.ok, "helm {args:?} failed:\n{}", out.all());
        out.stdout
    }

    /// A fresh namespace.
    async fn namespace(&self, prefix: &str) -> String {
        let name = skiff_testenv::unique_name(prefix);
        self.kubectl_ok(&["create", "namespace", &name]).await;
        name
    }

    /// Whether `sa` in `ns` may do `verb` on `resource` (`kind` or `kind/name`); `scope` holds
    /// `-n <ns>` or `-A`, and `--subresource=<s>` when asking about a subresource.
    async fn can(&self, sa: &str, ns: &str, verb: &str, resource: &str, scope: &[&str]) -> bool {
        let who = format!("--as=system:serviceaccount:{ns}:{sa}");
        let mut args = vec!["auth", "can-i", verb, resource, who.as_str()];
        args.extend_from_slice(scope);
        let out = self.kubectl(&args).await;
        match out.stdout.trim() {
            "yes" => true,
            "no" => false,
            _ => panic!("kubectl {args:?} gave no answer:\n{}", out.all()),
        }
    }
}

/// The verbs the operator uses on each resource in the namespaces it watches (from
/// operator/src: watches, server-side apply, status patches, finalizers, Events).
const OPERATOR_NEEDS: &[(&str, &[&str])] = &[
    ("connectclusters.skiff.dev", &["get", "list", "watch"]),
    (
        "kafkaconnectors.skiff.dev",
        &["get", "list", "watch", "patch"],
    ),
    (
        "statefulsets.apps",
        &["get", "list", "watch", "create", "patch"],
    ),
    ("services", &["get", "list", "watch", "create", "patch"]),
    ("configmaps", &["get", "list", "watch", "create", "patch"]),
    (
        "poddisruptionbudgets.policy",
        &["get", "list", "watch", "create", "patch"],
    ),
    ("secrets", &["get", "list", "watch"]),
    ("events.events.k8s.io", &["create", "patch"]),
];

/// What the operator never needs, anywhere.
const OPERATOR_NEVER: &[(&str, &str)] = &[
    ("delete", "statefulsets.apps"),
    ("delete", "connectclusters.skiff.dev"),
    ("update", "connectclusters.skiff.dev"),
    ("create", "pods"),
    ("create", "secrets"),
    ("patch", "secrets"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
];

async fn assert_operator_can(tools: &Tools, sa: &str, release_ns: &str, scope: &[&str]) {
    for (resource, verbs) in OPERATOR_NEEDS {
        for verb in *verbs {
            assert!(
                tools.can(sa, release_ns, verb, resource, scope).await,
                "operator may not {verb} {resource} ({scope:?})"
            );
        }
    }
    for resource in ["connectclusters.skiff.dev", "kafkaconnectors.skiff.dev"] {
        let mut status_scope = scope.to_vec();
        status_scope.push("--subresource=status");
        assert!(
            tools
                .can(sa, release_ns, "patch", resource, &status_scope)
                .await,
            "operator may not patch the status of {resource} ({scope:?})"
        );
    }
    for (verb, resource) in OPERATOR_NEVER {
        assert!(
            !tools.can(sa, release_ns, verb, resource, scope).await,
            "operator may {verb} {resource} ({scope:?}) but never needs to"
        );
    }
}

#[test]
fn chart_crds_equal_the_generated_crds() {
    let root = repo_root();
    let names = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").file_name())
            .collect();
        names.sort();
        names
    };
    let generated = root.join("crds");
    let chart = root.join("charts/skiff/crds");
    assert_eq!(
        names(&generated),
        names(&chart),
        "charts/skiff/crds lists other files than crds/: run `make chart`"
    );
    for name in names(&generated) {
        let a = std::fs::read(generated.join(&name)).expect("read crd");
        let b = std::fs::read(chart.join(&name)).expect("read chart crd");
        assert!(
            a == b,
            "charts/skiff/crds/{} differs from crds/: run `make chart`",
            name.to_string_lossy()
        );
    }
}

#[tokio::test]
async fn manifests_bundle_is_what_the_chart_renders() {
    let tools = tools();
    let script = repo_root().join("hack/gen-manifests.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--check")
        .env("HELM", &tools.helm)
        .output()
        .await
        .expect("run hack/gen-manifests.sh --check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn chart_lints_renders_and_refuses_bad_values_by_field() {
    let tools = tools();
    let kube_version = ["--kube-version", "v1.37.2"];
    let lint = tools
        .helm_ok(&[
            "lint",
            "--strict",
            "charts/skiff",
            kube_version[0],
            kube_version[1],
        ])
        .await;
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let everything = [
        "--set",
        "replicas=2,networkPolicy.enabled=true,metrics.serviceMonitor.enabled=true",
        "--set",
        "watchNamespaces={team-a,team-b},connectCluster.enabled=true",
        "--set",
        "connectCluster.spec.bootstrapServers=kafka:9092",
        "--set",
        "workerImage.repository=registry.example.com/skiff-worker,workerImage.tag=1.2.3",
    ];
    let mut args = vec!["template", "skiff", "charts/skiff", "-n", "skiff"];
    args.extend_from_slice(&kube_version);
    args.extend_from_slice(&everything);
    let rendered = tools.helm_ok(&args).await;
    for kind in [
        "kind: Deployment",
        "kind: ServiceMonitor",
        "kind: NetworkPolicy",
        "kind: ConnectCluster",
        "kind: Role\n",
    ] {
        assert!(rendered.contains(kind), "{kind} not rendered");
    }
    assert!(
        !rendered.contains("kind: ClusterRole"),
        "a namespaced install rendered a ClusterRole"
    );
    assert!(
        rendered.contains("- --worker-image=registry.example.com/skiff-worker:1.2.3\n"),
        "workerImage did not reach the operator's --worker-image"
    );
    for (set, field) in [
        ("replicas=many", "/replicas"),
        ("leaderElection.enabled=false,replicas=3", "/replicas"),
        ("watchNamespaces={Not_A_Namespace}", "/watchNamespaces/0"),
        ("metrics.port=80", "/metrics/port"),
        ("connectCluster.enabled=true", "/connectCluster/spec"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("workerImage.repository=", "/workerImage/repository"),
        ("unknownKey=1", "unknownKey"),
    ] {
        let out = tools
            .helm(&["template", "x", "charts/skiff", "--set", set])
            .await;
        assert!(!out.ok, "--set {set} was accepted");
        assert!(
            out.stderr.contains(field),
            "--set {set}: the error does not name {field}:\n{}",
            out.stderr
        );
    }

    // The workers' metrics port is open to any pod by default, to metricsFrom when given; the
    // REST port stays closed to both.
    let ingress = |extra: &'static str| {
        let tools = &tools;
        async move {
            let mut args = vec!["template", "skiff", "charts/skiff", "-n", "skiff"];
            args.extend_from_slice(&kube_version);
            args.extend_from_slice(&["--set", "networkPolicy.enabled=true"]);
            if !extra.is_empty() {
                args.extend_from_slice(&["--set-json", extra]);
            }
            let rendered = tools.helm_ok(&args).await;
            let policy = rendered
                .split("\n---")
                .find(|d| d.contains("kind: NetworkPolicy"))
                .expect("a NetworkPolicy");
            let v: serde_json::Value = serde_yaml_ng::from_str(policy).unwrap();
            v["spec"]["ingress"].as_array().unwrap().clone()
        }
    };
    let open = ingress("").await;
    assert_eq!(open[0]["ports"][0]["port"], 8083);
    assert_eq!(open[1]["ports"][0]["port"], 9404);
    assert!(open[1].get("from").is_none(), "{open:?}");
    let monitoring = r#"networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]"#;
    let limited = ingress(monitoring).await;
    assert_eq!(
        limited[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    assert!(
        !limited[0].to_string().contains("monitoring"),
        "metricsFrom reached the REST port: {limited:?}"
    );
}

#[tokio::test]
async fn helm_install_creates_the_operator_with_least_privilege() {
    let tools = tools();
    let release_ns = tools.namespace("skiff-rel").await;
    let watched = tools.namespace("skiff-watched").await;
    let other = tools.namespace("skiff-other").await;
    let release = skiff_testenv::unique_name("skiff");
    let watch = format!("watchNamespaces={{{watched}}}");
    let install = tools
        .helm_ok(&[
            "install",
            &release,
            "charts/skiff",
            "-n",
            &release_ns,
            "--set",
            &watch,
            "--wait",
            "--timeout",
            "120s",
        ])
        .await;
    assert!(
        install.contains("port-forward svc/<name>-api 8083"),
        "NOTES do not say how to reach a cluster's REST API:\n{install}"
    );

    for crd in ["connectclusters.skiff.dev", "kafkaconnectors.skiff.dev"] {
        tools.kubectl_ok(&["get", "crd", crd]).await;
    }
    let sa = &release;
    for object in [
        format!("deployment/{release}"),
        format!("serviceaccount/{sa}"),
        format!("service/{release}-metrics"),
        format!("role/{release}-leader-election"),
        format!("rolebinding/{release}-leader-election"),
    ] {
        tools.kubectl_ok(&["-n", &release_ns, "get", &object]).await;
    }
    for object in [format!("role/{release}"), format!("rolebinding/{release}")] {
        tools.kubectl_ok(&["-n", &watched, "get", &object]).await;
    }
    let available = tools
        .kubectl_ok(&[
            "-n",
            &release_ns,
            "get",
            &format!("deployment/{release}"),
            "-o",
            "jsonpath={.status.availableReplicas}",
        ])
        .await;
    assert_eq!(available, "1", "the operator Deployment is not available");

    assert_operator_can(&tools, sa, &release_ns, &["-n", &watched]).await;
    for (verb, resource) in [("get", "secrets"), ("list", "connectclusters.skiff.dev")] {
        assert!(
            !tools
                .can(sa, &release_ns, verb, resource, &["-n", &other])
                .await,
            "operator may {verb} {resource} in a namespace it does not watch"
        );
    }
    for verb in ["get", "list"] {
        assert!(
            !tools.can(sa, &release_ns, verb, "secrets", &["-A"]).await,
            "a namespaced install may {verb} Secrets cluster-wide"
        );
    }
    let lease = format!("leases.coordination.k8s.io/{release}");
    for verb in ["get", "update"] {
        assert!(
            tools
                .can(sa, &release_ns, verb, &lease, &["-n", &release_ns])
                .await
        );
        assert!(
            !tools
                .can(
                    sa,
                    &release_ns,
                    verb,
                    "leases.coordination.k8s.io/other",
                    &["-n", &release_ns]
                )
                .await,
            "operator may {verb} a Lease that is not its own"
        );
    }
    assert!(
        tools
            .can(
                sa,
                &release_ns,
                "create",
                "leases.coordination.k8s.io",
                &["-n", &release_ns]
            )
            .await
    );

    // Server-side apply is how the operator writes: creating a child needs create and patch.
    let who = format!("--as=system:serviceaccount:{release_ns}:{sa}");
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa-probe}\ndata: {a: b}\n";
    let out = tools
        .kubectl_in(
            &[
                "-n",
                &watched,
                "apply",
                "--server-side",
                "--field-manager=skiff-operator",
                &who,
                "-f",
                "-",
            ],
            config_map,
        )
        .await;
    assert!(
        out.ok,
        "the operator's account cannot server-side apply:\n{}",
        out.all()
    );

    operator_works_with_its_service_account(&tools, &release, &release_ns, &watched).await;

    tools
        .helm_ok(&["uninstall", &release, "-n", &release_ns, "--wait"])
        .await;
    for ns in [&release_ns, &watched, &other] {
        tools
            .kubectl_ok(&["delete", "namespace", ns, "--wait=false"])
            .await;
    }
}

/// A kubeconfig for the test API server that authenticates with a token of `sa` in `ns`.
async fn service_account_kubeconfig(tools: &Tools, sa: &str, ns: &str) -> PathBuf {
    let field = |path: &'static str| async move {
        tools
            .kubectl_ok(&[
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                &format!("jsonpath={{{path}}}"),
            ])
            .await
    };
    let server = field(".clusters[0].cluster.server").await;
    let ca = field(".clusters[0].cluster.certificate-authority-data").await;
    let token = tools
        .kubectl_ok(&["-n", ns, "create", "token", sa, "--duration=15m"])
        .await;
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: sa\n  user:\n    token: {}\n\
         contexts:\n- name: sa\n  context: {{cluster: test, user: sa}}\ncurrent-context: sa\n",
        token.trim()
    );
    let path = std::env::temp_dir().join(format!("{}.kubeconfig", skiff_testenv::unique_name(sa)));
    std::fs::write(&path, config).expect("write kubeconfig");
    path
}

/// Runs the operator binary with the chart's arguments and only its ServiceAccount's token, and
/// sees it lead, build a cluster's children, handle a connector (finalizer, status) and record
/// Events without a single Forbidden error: the RBAC is not just plausible but sufficient.
async fn operator_works_with_its_service_account(
    tools: &Tools,
    release: &str,
    release_ns: &str,
    watched: &str,
) {
    let kubeconfig = service_account_kubeconfig(tools, release, release_ns).await;
    let log_path = kubeconfig.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("create operator log");
    let mut operator = Command::new(env!("CARGO_BIN_EXE_skiff-operator"))
        .args([
            "--listen=127.0.0.1:0",
            "--leader-election=true",
            &format!("--lease-name={release}"),
            &format!("--namespace={watched}"),
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", release_ns)
        .env("POD_NAME", "packaging-test")
        .env("RUST_LOG", "info,kube=warn")
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start skiff-operator");

    let resources = "apiVersion: skiff.dev/v1alpha1\nkind: ConnectCluster\nmetadata: {name: rbac}\n\
        spec: {replicas: 1, bootstrapServers: 'kafka:9092'}\n---\n\
        apiVersion: skiff.dev/v1alpha1\nkind: KafkaConnector\nmetadata: {name: rbac-backup}\n\
        spec: {clusterRef: rbac, class: AwsStorageSinkConnector, config: {aws.s3.bucket: b, topics: t}}\n";
    let out = tools
        .kubectl_in(&["-n", watched, "apply", "-f", "-"], resources)
        .await;
    assert!(out.ok, "apply the probe resources:\n{}", out.all());

    let checks: [(&str, &[&str]); 6] = [
        (
            "the lease",
            &[
                "-n",
                release_ns,
                "get",
                &format!("lease/{release}"),
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
        ),
        (
            "the StatefulSet",
            &["-n", watched, "get", "statefulset/rbac", "-o", "name"],
        ),
        (
            "the PodDisruptionBudget and ConfigMap",
            &[
                "-n",
                watched,
                "get",
                "pdb/rbac",
                "configmap/rbac-config",
                "service/rbac-api",
                "-o",
                "name",
            ],
        ),
        (
            "the cluster's status",
            &[
                "-n",
                watched,
                "get",
                "connectcluster/rbac",
                "-o",
                "jsonpath={.status.conditions[0].reason}",
            ],
        ),
        (
            "the connector's finalizer and status",
            &[
                "-n",
                watched,
                "get",
                "kafkaconnector/rbac-backup",
                "-o",
                "jsonpath={.metadata.finalizers[0]} {.status.conditions[0].reason}",
            ],
        ),
        (
            "an Event",
            &[
                "-n",
                watched,
                "get",
                "events.events.k8s.io",
                "-o",
                "jsonpath={.items[*].reportingController}",
            ],
        ),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for (what, args) in checks {
        loop {
            let out = tools.kubectl(args).await;
            let text = out.stdout.trim();
            let done = out.ok
                && match what {
                    "the lease" => text == "packaging-test",
                    "the connector's finalizer and status" => {
                        text.starts_with("skiff.dev/connector ")
                            && text.len() > "skiff.dev/connector ".len()
                    }
                    "an Event" => text.contains("skiff-operator"),
                    _ => !text.is_empty(),
                };
            if done {
                break;
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            assert!(
                tokio::time::Instant::now() < deadline,
                "the operator, with only its ServiceAccount, did not produce {what}:\n{}\n--- operator log ---\n{log}",
                out.all()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    operator.kill().await.expect("stop skiff-operator");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something:\n{log}"
    );
    // Without the operator, the finalizer would keep the connector (and its namespace) forever.
    tools
        .kubectl_ok(&[
            "-n",
            watched,
            "patch",
            "kafkaconnector/rbac-backup",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await;
    std::fs::remove_file(&kubeconfig).ok();
    std::fs::remove_file(&log_path).ok();
}

#[tokio::test]
async fn cluster_wide_install_uses_a_cluster_role() {
    let tools = tools();
    let release_ns = tools.namespace("skiff-all").await;
    let release = skiff_testenv::unique_name("skiff");
    tools
        .helm_ok(&[
            "install",
            &release,
            "charts/skiff",
            "-n",
            &release_ns,
            "--set",
            "replicas=2",
        ])
        .await;
    tools.kubectl_ok(&["get", "clusterrole", &release]).await;
    tools
        .kubectl_ok(&["get", "clusterrolebinding", &release])
        .await;
    assert_operator_can(&tools, &release, &release_ns, &["-A"]).await;
    let probe = tools
        .kubectl_ok(&[
            "-n",
            &release_ns,
            "get",
            &format!("deployment/{release}"),
            "-o",
            "jsonpath={.spec.template.spec.containers[0].readinessProbe.httpGet.path} {.spec.strategy.type}",
        ])
        .await;
    assert_eq!(
        probe, "/healthz RollingUpdate",
        "standby replicas would block rollouts"
    );
    tools
        .helm_ok(&["uninstall", &release, "-n", &release_ns, "--wait"])
        .await;
    tools
        .kubectl_ok(&["delete", "namespace", &release_ns, "--wait=false"])
        .await;
}

/// Applies the chart's CRDs, so the server validates custom resources against this tree's schema.
async fn apply_crds(tools: &Tools) {
    tools
        .kubectl_ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=skiff-packaging-tests",
            "-f",
            "charts/skiff/crds/",
        ])
        .await;
    tools
        .kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/connectclusters.skiff.dev",
            "crd/kafkaconnectors.skiff.dev",
        ])
        .await;
}

#[tokio::test]
async fn rendered_objects_and_bundle_pass_server_side_dry_run() {
    let tools = tools();
    apply_crds(&tools).await;
    let ns = tools.namespace("skiff-dry").await;
    // Every optional object except the ServiceMonitor, whose CRD this API server lacks.
    let set = format!(
        "replicas=2,networkPolicy.enabled=true,watchNamespaces={{{ns}}},connectCluster.enabled=true,connectCluster.spec.bootstrapServers=kafka:9092"
    );
    let rendered = tools
        .helm_ok(&[
            "template",
            "skiff",
            "charts/skiff",
            "-n",
            &ns,
            "--include-crds",
            "--kube-version",
            "v1.37.2",
            "--set",
            &set,
        ])
        .await;
    let out = tools
        .kubectl_in(&["apply", "--dry-run=server", "-f", "-"], &rendered)
        .await;
    assert!(
        out.ok,
        "the rendered chart fails the dry run:\n{}",
        out.all()
    );
    assert!(
        out.stdout
            .contains("networkpolicy.networking.k8s.io/skiff-worker-rest"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("connectcluster.skiff.dev/connect"),
        "{}",
        out.stdout
    );

    // The bundle installs into namespace "skiff"; dry-run it in a fresh namespace instead.
    let bundle = std::fs::read_to_string(repo_root().join("manifests/skiff.yaml"))
        .expect("read manifests/skiff.yaml")
        .replace("namespace: skiff\n", &format!("namespace: {ns}\n"));
    let out = tools
        .kubectl_in(&["apply", "--dry-run=server", "-f", "-"], &bundle)
        .await;
    assert!(
        out.ok,
        "manifests/skiff.yaml fails the dry run:\n{}",
        out.all()
    );
    for object in [
        "customresourcedefinition.apiextensions.k8s.io/connectclusters.skiff.dev",
        "deployment.apps/skiff",
        "clusterrole.rbac.authorization.k8s.io/skiff",
    ] {
        assert!(
            out.stdout.contains(object),
            "{object} missing:\n{}",
            out.stdout
        );
    }
    tools
        .kubectl_ok(&["delete", "namespace", &ns, "--wait=false"])
        .await;
}

#[tokio::test]
async fn examples_are_accepted_and_the_broken_one_is_refused_by_field() {
    let tools = tools();
    apply_crds(&tools).await;
    let ns = tools.namespace("skiff-examples").await;
    let out = tools
        .kubectl(&["-n", &ns, "apply", "-f", "manifests/examples/"])
        .await;
    assert!(out.ok, "the examples were refused:\n{}", out.all());
    for object in [
        "connectcluster.skiff.dev/connect",
        "connectcluster.skiff.dev/connect-irsa",
        "kafkaconnector.skiff.dev/backup",
        "kafkaconnector.skiff.dev/restore-orders",
        "secret/s3-credentials",
        "serviceaccount/skiff-backup",
    ] {
        assert!(
            out.stdout.contains(object),
            "{object} not applied:\n{}",
            out.stdout
        );
    }
    let broken = tools
        .kubectl(&["-n", &ns, "apply", "-f", "manifests/examples/broken/"])
        .await;
    assert!(
        !broken.ok,
        "the broken example was accepted:\n{}",
        broken.all()
    );
    assert!(
        broken.stderr.contains("spec.tasksMax") && broken.stderr.contains("at least 1"),
        "the refusal does not name the field:\n{}",
        broken.stderr
    );
    tools
        .kubectl_ok(&["delete", "namespace", &ns, "--wait=false"])
        .await;
}
