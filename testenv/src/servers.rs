//! The running servers: each accessor starts its component once per test process through
//! `tests/testenv.sh up <component>` and returns what the component's env file says.

use crate::env_file;
use crate::paths::{repo_root, state_dir};
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Lines of each log file that [`log_tail`] returns.
const LOG_TAIL_LINES: usize = 60;

/// A Kafka cluster (KRaft) on loopback.
#[derive(Debug, Clone)]
pub struct Kafka {
    /// `bootstrap.servers` value: `127.0.0.1:<port>[,...]`.
    pub bootstrap: String,
    /// The same brokers' SASL_SSL listener (SCRAM-SHA-512 and PLAIN).
    pub secure: SecureListener,
    /// A plain listener meant to sit behind a fault proxy.
    pub proxied: ProxiedListener,
}

/// A plain listener whose brokers advertise addresses nothing listens on until a test puts a
/// proxy there (see [`crate::Toxiproxy::proxy_at`]): a client bootstrapped on it makes every one
/// of its connections through the proxy, so cutting the proxy cuts that client off Kafka alone.
/// One test at a time can hold the proxy's addresses.
#[derive(Debug, Clone)]
pub struct ProxiedListener {
    /// `bootstrap.servers` value, the advertised addresses.
    pub bootstrap: String,
    /// For each broker, the advertised address and the listener it should forward to.
    pub routes: Vec<(String, String)>,
}

/// A SASL_SSL listener: its addresses, the CA that signed its certificate and a user.
#[derive(Debug, Clone)]
pub struct SecureListener {
    /// `bootstrap.servers` value for `security.protocol=SASL_SSL`.
    pub bootstrap: String,
    /// PEM file of the CA to trust.
    pub ca_file: PathBuf,
    /// A user known to both mechanisms.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl Kafka {
    /// A client configuration with `bootstrap.servers` set, to add producer or consumer keys to.
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }
}

/// An S3 server (versitygw) with one root account.
#[derive(Debug, Clone)]
pub struct S3 {
    /// `http://127.0.0.1:<port>`; use path-style addressing.
    pub endpoint: String,
    /// The root account's access key id.
    pub access_key: String,
    /// The root account's secret key.
    pub secret_key: String,
    /// The region the server signs for.
    pub region: String,
}

/// An Apache Kafka Connect worker (distributed mode) attached to [`kafka()`].
#[derive(Debug, Clone)]
pub struct ConnectPeer {
    /// REST base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its `group.id`, unique per start, so a worker under test can join the same cluster.
    pub group_id: String,
    /// Its `config.storage.topic`.
    pub config_topic: String,
    /// Its `offset.storage.topic`.
    pub offset_topic: String,
    /// Its `status.storage.topic`.
    pub status_topic: String,
    /// The installed Apache Kafka Connect (`lib/`, `plugins/`), for tests that start more
    /// Apache workers.
    pub home: PathBuf,
}

/// A Kubernetes API server.
#[derive(Debug, Clone)]
pub struct Kube {
    /// A kubeconfig file with cluster-admin rights.
    pub kubeconfig: PathBuf,
}

/// The Kafka cluster, started on first use.
pub fn kafka() -> &'static Kafka {
    static KAFKA: OnceLock<Kafka> = OnceLock::new();
    KAFKA.get_or_init(|| kafka_from(&start("kafka"), "kafka"))
}

/// A second Kafka cluster of three nodes (replication factor 3, min ISR 2), started on first use,
/// for tests that stop a partition's leader ([`stop_kafka_three_node`]). Node ids are 1 to 3.
pub fn kafka_three() -> &'static Kafka {
    static KAFKA_THREE: OnceLock<Kafka> = OnceLock::new();
    KAFKA_THREE.get_or_init(|| kafka_from(&start("kafka3"), "kafka3"))
}

/// Stops node `id` of [`kafka_three`] (its data stays).
pub fn stop_kafka_three_node(id: i32) {
    kafka_three();
    run_script(&["stop-node", "kafka3", &id.to_string()], "kafka3");
}

/// Starts node `id` of [`kafka_three`] again and waits until it serves.
pub fn start_kafka_three_node(id: i32) {
    kafka_three();
    run_script(&["start-node", "kafka3", &id.to_string()], "kafka3");
}

fn kafka_from(env: &HashMap<String, String>, component: &str) -> Kafka {
    Kafka {
        bootstrap: required(env, component, "KAFKA_BOOTSTRAP"),
        secure: SecureListener {
            bootstrap: required(env, component, "KAFKA_SASL_SSL_BOOTSTRAP"),
            ca_file: required(env, component, "KAFKA_CA_FILE").into(),
            username: required(env, component, "KAFKA_SASL_USER"),
            password: required(env, component, "KAFKA_SASL_PASSWORD"),
        },
        proxied: proxied_listener(
            &required(env, component, "KAFKA_PROXIED_BOOTSTRAP"),
            &required(env, component, "KAFKA_PROXIED_UPSTREAMS"),
        ),
    }
}

/// Pairs each advertised address with its broker's listener.
fn proxied_listener(bootstrap: &str, upstreams: &str) -> ProxiedListener {
    let routes = bootstrap
        .split(',')
        .zip(upstreams.split(','))
        .map(|(a, u)| (a.to_string(), u.to_string()))
        .collect();
    ProxiedListener {
        bootstrap: bootstrap.to_string(),
        routes,
    }
}

/// The S3 server, started on first use.
pub fn s3() -> &'static S3 {
    static S3_SERVER: OnceLock<S3> = OnceLock::new();
    S3_SERVER.get_or_init(|| {
        let env = start("s3");
        S3 {
            endpoint: required(&env, "s3", "S3_ENDPOINT"),
            access_key: required(&env, "s3", "S3_ACCESS_KEY"),
            secret_key: required(&env, "s3", "S3_SECRET_KEY"),
            region: required(&env, "s3", "S3_REGION"),
        }
    })
}

/// The Apache Kafka Connect peer, started on first use (after [`kafka()`]).
pub fn connect_peer() -> &'static ConnectPeer {
    static CONNECT: OnceLock<ConnectPeer> = OnceLock::new();
    CONNECT.get_or_init(|| {
        kafka();
        let env = start("connect");
        ConnectPeer {
            url: required(&env, "connect", "CONNECT_URL"),
            group_id: required(&env, "connect", "CONNECT_GROUP_ID"),
            config_topic: required(&env, "connect", "CONNECT_CONFIG_TOPIC"),
            offset_topic: required(&env, "connect", "CONNECT_OFFSET_TOPIC"),
            status_topic: required(&env, "connect", "CONNECT_STATUS_TOPIC"),
            home: required(&env, "connect", "CONNECT_HOME").into(),
        }
    })
}

/// The Kubernetes API server, started on first use.
pub fn kube() -> &'static Kube {
    static KUBE: OnceLock<Kube> = OnceLock::new();
    KUBE.get_or_init(|| {
        let env = start("k8s");
        Kube {
            kubeconfig: PathBuf::from(required(&env, "k8s", "KUBECONFIG")),
        }
    })
}

/// The fault-injecting proxy's API, started on first use; see [`crate::faults`].
pub fn toxiproxy() -> &'static crate::faults::Toxiproxy {
    static TOXIPROXY: OnceLock<crate::faults::Toxiproxy> = OnceLock::new();
    TOXIPROXY.get_or_init(|| {
        let env = start("toxiproxy");
        crate::faults::Toxiproxy {
            url: required(&env, "toxiproxy", "TOXIPROXY_URL"),
        }
    })
}

/// The schemathesis CLI (`st`), installed by the test environment; nothing runs until a test
/// starts it against a worker.
pub fn schemathesis() -> &'static PathBuf {
    static ST: OnceLock<PathBuf> = OnceLock::new();
    ST.get_or_init(|| {
        let env = start("schemathesis");
        PathBuf::from(required(&env, "schemathesis", "SCHEMATHESIS"))
    })
}

/// The last lines of each of a component's log files, for tests to print when they fail.
pub fn log_tail(component: &str) -> String {
    let dir = state_dir().join(component);
    let Ok(entries) = fs::read_dir(&dir) else {
        return format!("(no logs: {} does not exist)", dir.display());
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    logs.sort();
    let mut out = String::new();
    for path in logs {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        out.push_str(&format!(
            "==> {} <==\n{}\n",
            path.display(),
            tail.join("\n")
        ));
    }
    if out.is_empty() {
        out = format!("(no *.log files in {})", dir.display());
    }
    out
}

/// Runs `tests/testenv.sh up <component>` and reads `<state>/<component>.env`; panics with
/// everything needed to see why when that fails.
fn start(component: &str) -> HashMap<String, String> {
    let state = state_dir();
    run_script(&["up", component], component);
    let env_path = state.join(format!("{component}.env"));
    match fs::read_to_string(&env_path) {
        Ok(text) => env_file::parse(&text),
        Err(err) => fail(
            component,
            &format!(
                "`up {component}` succeeded but {} is unreadable: {err}",
                env_path.display()
            ),
        ),
    }
}

/// Runs `tests/testenv.sh ARGS`, one such run at a time across test processes (nextest may start
/// several at once); panics with the script's output when it fails. Rust opens files
/// close-on-exec, so the servers the script leaves running do not inherit the lock.
fn run_script(args: &[&str], component: &str) {
    let state = state_dir();
    let lock = fs::create_dir_all(&state)
        .and_then(|()| File::create(state.join(".up.lock")))
        .and_then(|file| file.lock().map(|()| file));
    let script = repo_root().join("tests").join("testenv.sh");
    let output = Command::new("bash").arg(&script).args(args).output();
    drop(lock);
    let failure = match output {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`{} {}` failed ({}):\n{}{}",
            script.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(err) => Some(format!("could not run {}: {err}", script.display())),
    };
    if let Some(failure) = failure {
        fail(component, &failure);
    }
}

/// Restarts the Kafka cluster on its own data and ports (`tests/testenv.sh restart kafka`), for
/// tests of a broker restart; returns once the brokers accept connections again. Only a test
/// binary of its own should call it: other tests of the same process would see the outage.
pub fn restart_kafka() {
    kafka();
    run_script(&["restart", "kafka"], "kafka");
}

/// Reads one key of a component's env file, or panics naming the file's gap.
fn required(env: &HashMap<String, String>, component: &str, key: &str) -> String {
    match env.get(key) {
        Some(value) => value.clone(),
        None => fail(component, &format!("{component}.env has no {key}")),
    }
}

/// Stops the test: a missing server is a failure, in CI and locally alike, never a skip.
fn fail(component: &str, why: &str) -> ! {
    panic!(
        "test environment component `{component}` is not available: {why}\n\
         --- {component} logs ---\n{}\n\
         run `make testenv` first (it installs the servers; they start on demand)",
        log_tail(component)
    )
}
