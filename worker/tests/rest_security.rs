//! The REST API over https and behind basic auth, configured with Apache Connect's keys:
//! `listeners=https://...` with `listeners.https.ssl.*` (PEM or PKCS12 keystores, client
//! certificates), and `rest.extension.classes` naming Connect's basic-auth extension with the
//! JAAS file `KAFKA_OPTS` names. Certificates come from a throw-away CA made with `openssl`.

mod common;

use common::{WorkerProcess, eventually, free_port, worker_props};
use serde_json::{Value, json};
use skiff_testenv::pki::TestPki;
use skiff_worker::rest::LogControl;
use std::process::{Command, Stdio};

async fn start(extra: &[(&str, String)]) -> skiff_worker::standalone::Running {
    let offsets = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let mut p = worker_props(&offsets);
    for (k, v) in extra {
        p.insert(k.to_string(), v.clone());
    }
    skiff_worker::standalone::start(p, Vec::new(), LogControl::new(None, "info"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn https_and_basic_auth_let_in_only_known_users() {
    let pki = TestPki::new();
    let users = pki.dir.path().join("users.properties");
    std::fs::write(&users, "admin: adm1n-pass\nreader: r3ader-pass\n").unwrap();
    let (http_port, https_port) = (free_port(), free_port());
    let worker = start(&[
        (
            "listeners",
            format!("https://127.0.0.1:{https_port}, http://127.0.0.1:{http_port}"),
        ),
        ("listeners.https.ssl.keystore.type", "PEM".into()),
        (
            "listeners.https.ssl.keystore.location",
            pki.path("server-keystore.pem"),
        ),
        (
            "rest.basic.auth.credentials.file",
            users.display().to_string(),
        ),
    ])
    .await;
    assert_eq!(
        worker.addr.port(),
        http_port,
        "http is advertised when served, as in Connect"
    );
    let https = format!("https://127.0.0.1:{https_port}");
    let client = pki.client(false);

    // No credentials, a wrong password, an unknown user: 401 in Connect's error shape.
    for (user, password) in [
        (None, None),
        (Some("admin"), Some("wrong")),
        (Some("eve"), Some("x")),
    ] {
        let mut req = client.get(format!("{https}/connectors"));
        if let Some(u) = user {
            req = req.basic_auth(u, password);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{user:?}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"Kafka Connect\""
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error_code"], 401, "{body}");
    }
    // Probes need no credentials.
    let r = client.get(format!("{https}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A known user works the API, over https and over the plain listener alike; the Location of
    // a connector created over https is an https URL.
    let out = pki.dir.path().join("sink.txt");
    let r = client
        .post(format!("{https}/connectors"))
        .basic_auth("admin", Some("adm1n-pass"))
        .json(&json!({"name": "tls-fs", "config": {
            "connector.class": "FileStreamSink", "topics": "tls-fs-in",
            "file": out.display().to_string()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("{https}/connectors/tls-fs"));
    let r = common::http()
        .get(format!("http://127.0.0.1:{http_port}/connectors"))
        .basic_auth("reader", Some("r3ader-pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!(["tls-fs"]));
    let r = common::http()
        .get(format!("http://127.0.0.1:{http_port}/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the plain listener asks for credentials too"
    );

    // A client that does not trust the CA cannot talk to the https listener.
    let untrusting = common::http().get(format!("{https}/")).send().await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    worker.stop().await;
}

/// The worker process as Apache Connect users start theirs: a properties file, and the JAAS file
/// of the basic-auth extension named in `KAFKA_OPTS`.
#[tokio::test(flavor = "multi_thread")]
async fn a_pkcs12_keystore_and_required_client_certificates_with_apache_jaas_setup() {
    let pki = TestPki::new();
    let dir = pki.dir.path();
    std::fs::write(dir.join("users.properties"), "ops: 0ps-pass\n").unwrap();
    std::fs::write(
        dir.join("connect-jaas.conf"),
        format!(
            "KafkaConnect {{\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file=\"{}\";\n}};\n",
            dir.join("users.properties").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let props = format!(
        "bootstrap.servers={bootstrap}\n\
         listeners=https://127.0.0.1:{port}\n\
         listeners.https.ssl.keystore.location={p12}\n\
         listeners.https.ssl.keystore.type=PKCS12\n\
         listeners.https.ssl.keystore.password={password}\n\
         listeners.https.ssl.truststore.location={ca}\n\
         listeners.https.ssl.truststore.type=PEM\n\
         listeners.https.ssl.client.auth=required\n\
         rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension\n\
         offset.storage.file.filename={offsets}\n",
        bootstrap = skiff_testenv::kafka().bootstrap,
        p12 = pki.path("server.p12"),
        password = TestPki::P12_PASSWORD,
        ca = pki.path("ca.pem"),
        offsets = dir.join("offsets.json").display(),
    );
    std::fs::write(dir.join("worker.properties"), props).unwrap();
    let _worker = WorkerProcess(
        Command::new(env!("CARGO_BIN_EXE_skiff-worker"))
            .arg("standalone")
            .arg(dir.join("worker.properties"))
            .env(
                "KAFKA_OPTS",
                format!(
                    "-Xmx256m -Djava.security.auth.login.config={}",
                    dir.join("connect-jaas.conf").display()
                ),
            )
            .env("SKIFF_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let https = format!("https://127.0.0.1:{port}");
    let with_cert = pki.client(true);
    let root = eventually(60, "the worker to answer over https", || async {
        let r = with_cert
            .get(format!("{https}/"))
            .basic_auth("ops", Some("0ps-pass"))
            .send()
            .await
            .ok()?;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.ok()
    })
    .await;
    assert!(root["version"].is_string(), "{root}");
    let r = with_cert.get(format!("{https}/")).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "a certificate does not replace the password"
    );
    let without_cert = pki
        .client(false)
        .get(format!("{https}/health"))
        .send()
        .await;
    assert!(
        without_cert.is_err(),
        "a client without a certificate got in: {without_cert:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_keystore_password_stops_the_worker_with_the_key_named() {
    let pki = TestPki::new();
    let offsets = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let mut p = worker_props(&offsets);
    p.insert("listeners".into(), "https://127.0.0.1:0".into());
    p.insert("ssl.keystore.location".into(), pki.path("server.p12"));
    p.insert("ssl.keystore.password".into(), "not-the-password".into());
    let e = skiff_worker::standalone::start(p, Vec::new(), LogControl::new(None, "info"))
        .await
        .err()
        .expect("the worker must not start")
        .to_string();
    assert!(e.contains("ssl.keystore.location"), "{e}");
    assert!(!e.contains("not-the-password"), "the password leaked: {e}");
}

/// The shape the operator renders for `spec.rest`: a PEM key and chain and the certificate to
/// trust as `${dir:...}` references to a mounted `kubernetes.io/tls` Secret, and the user as
/// references to a mounted basic-auth Secret.
#[tokio::test(flavor = "multi_thread")]
async fn the_operators_secret_file_references_serve_https_and_basic_auth() {
    let pki = TestPki::new();
    let tls_dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("server.crt", "tls.crt"),
        ("server.key", "tls.key"),
        ("ca.pem", "ca.crt"),
    ] {
        std::fs::copy(pki.dir.path().join(from), tls_dir.path().join(to)).unwrap();
    }
    let auth_dir = tempfile::tempdir().unwrap();
    std::fs::write(auth_dir.path().join("username"), "operator").unwrap();
    std::fs::write(auth_dir.path().join("password"), "op-s3cret").unwrap();
    let tls = |key: &str| format!("${{dir:{}:{key}}}", tls_dir.path().display());
    let auth = |key: &str| format!("${{dir:{}:{key}}}", auth_dir.path().display());
    let port = free_port();
    let worker = start(&[
        ("listeners", format!("https://127.0.0.1:{port}")),
        ("rest.advertised.listener", "https".into()),
        ("config.providers", "dir".into()),
        (
            "config.providers.dir.class",
            "org.apache.kafka.common.config.provider.DirectoryConfigProvider".into(),
        ),
        ("listeners.https.ssl.keystore.type", "PEM".into()),
        (
            "listeners.https.ssl.keystore.certificate.chain",
            tls("tls.crt"),
        ),
        ("listeners.https.ssl.keystore.key", tls("tls.key")),
        ("listeners.https.ssl.truststore.type", "PEM".into()),
        ("listeners.https.ssl.truststore.certificates", tls("ca.crt")),
        ("rest.basic.auth.username", auth("username")),
        ("rest.basic.auth.password", auth("password")),
    ])
    .await;
    let https = format!("https://127.0.0.1:{port}");
    let client = pki.client(false);
    let r = client
        .get(format!("{https}/connectors"))
        .basic_auth("operator", Some("op-s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{https}/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    worker.stop().await;
}

/// `metrics.listener` serves `/metrics` to Prometheus without the credentials the REST API
/// wants, and nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_listener_serves_only_metrics_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.properties");
    std::fs::write(&users, "admin: adm1n-pass\n").unwrap();
    let (rest_port, metrics_port) = (free_port(), free_port());
    let worker = start(&[
        ("listeners", format!("http://127.0.0.1:{rest_port}")),
        (
            "rest.basic.auth.credentials.file",
            users.display().to_string(),
        ),
        (
            "metrics.listener",
            format!("http://127.0.0.1:{metrics_port}"),
        ),
    ])
    .await;
    let client = reqwest::Client::new();
    let rest = format!("http://127.0.0.1:{rest_port}");
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let r = client.get(format!("{rest}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the REST listener still wants credentials");
    let through_rest = client
        .get(format!("{rest}/metrics"))
        .basic_auth("admin", Some("adm1n-pass"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("# TYPE skiff_task_state gauge"), "{body}");
    assert_eq!(body, through_rest, "the same metrics on both listeners");
    for path in ["/connectors", "/", "/connector-plugins"] {
        let r = client.get(format!("{metrics}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} on the metrics listener");
    }
    let r = client
        .post(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_metrics_port_stops_the_worker_at_start_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let offsets = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let mut p = worker_props(&offsets);
    p.insert(
        "metrics.listener".into(),
        format!("http://127.0.0.1:{port}"),
    );
    let e = skiff_worker::standalone::start(p, Vec::new(), LogControl::new(None, "info"))
        .await
        .err()
        .expect("the worker started on a taken metrics port");
    assert!(format!("{e:#}").contains("metrics.listener"), "{e:#}");
}
