//! A throw-away certificate authority for tests of https and client certificates, made with the
//! `openssl` command as an operator would make one.

use std::time::Duration;

/// A throw-away certificate authority with a server certificate for 127.0.0.1 and a client
/// certificate, made with the `openssl` command as an operator would make them.
pub struct TestPki {
    /// Where the files are: `ca.pem`, `server.crt`/`server.key`/`server.p12`,
    /// `server-keystore.pem` (key and chain), `client.crt`/`client.key`, `client-identity.pem`.
    pub dir: tempfile::TempDir,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPki {
    /// The password of `server.p12`.
    pub const P12_PASSWORD: &'static str = "rest-p12-secret";

    /// Makes the CA, the certificates and the stores in a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("test PKI");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl command runs");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Extensions make version 3 certificates, the only version webpki accepts. Workers use
        // the server certificate as their client certificate when they forward requests.
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("test PKI");
        std::fs::write(
            dir.path().join("client.ext"),
            "extendedKeyUsage=clientAuth\n",
        )
        .expect("test PKI");
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=skiff-rest-test-ca",
        ]);
        for who in ["server", "client"] {
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={who}"),
            ]);
            let mut sign = vec![
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{who}.crt"),
                "-days",
                "2",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            sign.extend(["-extfile".into(), format!("{who}.ext")]);
            run(&sign.iter().map(String::as_str).collect::<Vec<_>>());
        }
        run(&[
            "pkcs12",
            "-export",
            "-in",
            "server.crt",
            "-inkey",
            "server.key",
            "-certfile",
            "ca.pem",
            "-out",
            "server.p12",
            "-passout",
            &format!("pass:{}", Self::P12_PASSWORD),
        ]);
        // A PEM keystore as Kafka reads one: the key, then the chain.
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("test PKI");
        std::fs::write(
            dir.path().join("server-keystore.pem"),
            format!(
                "{}{}{}",
                read("server.key"),
                read("server.crt"),
                read("ca.pem")
            ),
        )
        .expect("test PKI");
        std::fs::write(
            dir.path().join("client-identity.pem"),
            format!("{}{}", read("client.key"), read("client.crt")),
        )
        .expect("test PKI");
        TestPki { dir }
    }

    /// A file of this PKI, as a string path for properties.
    pub fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// A REST client that trusts this CA, with the client certificate when `identity` is set.
    pub fn client(&self, identity: bool) -> reqwest::Client {
        let ca = std::fs::read(self.dir.path().join("ca.pem")).expect("test PKI");
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("test PKI"));
        if identity {
            let pem = std::fs::read(self.dir.path().join("client-identity.pem")).expect("test PKI");
            b = b.identity(reqwest::Identity::from_pem(&pem).expect("test PKI"));
        }
        b.build().expect("test PKI")
    }
}
