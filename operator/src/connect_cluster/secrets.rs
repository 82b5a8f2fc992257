//! The Secrets a cluster references: their names (for the config hash), and the volumes, mounts
//! and environment variables through which workers read them. Values never leave the Secrets.

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, KeyToPath, Secret, SecretKeySelector, SecretVolumeSource, Volume,
    VolumeMount,
};
use skiff_api::crd::{ConnectCluster, ConnectClusterSpec};
use std::collections::BTreeSet;

/// Directory holding the SASL password as the file `password`.
pub const SASL_DIR: &str = "/var/run/skiff/kafka-sasl";
/// Directory holding the Kafka CA as `ca.crt`.
pub const CA_DIR: &str = "/var/run/skiff/kafka-ca";
/// Directory holding the client certificate as `tls.crt` and `tls.key`.
pub const CLIENT_CERT_DIR: &str = "/var/run/skiff/kafka-client";
/// Directory holding every key of the REST TLS Secret (`tls.crt`, `tls.key`, maybe `ca.crt`).
pub const REST_TLS_DIR: &str = "/var/run/skiff/rest-tls";
/// Directory holding the REST basic-auth user as the files `username` and `password`.
pub const REST_AUTH_DIR: &str = "/var/run/skiff/rest-auth";
/// Directory under which each of `spec.connectorSecrets` is mounted, in a folder of its name.
pub const CONNECTOR_SECRETS_DIR: &str = "/var/run/skiff/secrets";

/// The value of `key` in a Secret; an empty value counts as missing.
pub fn secret_value<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.as_slice())
        .filter(|v| !v.is_empty())
}

/// Whether a Secret holds a non-empty `key`.
pub fn has_key(secret: &Secret, key: &str) -> bool {
    secret_value(secret, key).is_some()
}

/// The `spec.rest` Secrets with the field naming them and the keys the workers read from each,
/// so a missing key is reported by name instead of as pods that never start.
pub fn rest_secret_keys(cc: &ConnectCluster) -> Vec<(&'static str, String, Vec<String>)> {
    let Some(rest) = &cc.spec.rest else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(tls) = &rest.tls {
        out.push((
            "spec.rest.tls",
            tls.secret_name.clone(),
            vec!["tls.crt".into(), "tls.key".into()],
        ));
    }
    if let Some(auth) = &rest.basic_auth {
        out.push((
            "spec.rest.basicAuth",
            auth.secret_name.clone(),
            vec![auth.username_key.clone(), auth.password_key.clone()],
        ));
    }
    out
}

/// The key of the REST TLS Secret that the workers and the operator trust: its CA when it has
/// one (cert-manager writes `ca.crt`), else the certificate itself (self-signed).
pub fn rest_trust_key(secret: &Secret) -> &'static str {
    if has_key(secret, "ca.crt") {
        "ca.crt"
    } else {
        "tls.crt"
    }
}

/// Names of every Secret the spec references.
pub fn referenced_secrets(spec: &ConnectClusterSpec) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(auth) = &spec.authentication {
        names.insert(auth.password_secret.name.clone());
    }
    if let Some(tls) = &spec.tls {
        if let Some(ca) = &tls.ca_secret {
            names.insert(ca.name.clone());
        }
        if let Some(cert) = &tls.client_certificate {
            names.insert(cert.secret_name.clone());
        }
    }
    if let Some(creds) = spec.s3.as_ref().and_then(|s| s.credentials_secret.as_ref()) {
        names.insert(creds.name.clone());
    }
    if let Some(rest) = &spec.rest {
        names.extend(rest.tls.iter().map(|t| t.secret_name.clone()));
        names.extend(rest.basic_auth.iter().map(|a| a.secret_name.clone()));
    }
    names.extend(spec.connector_secrets.iter().cloned());
    names
}

/// One Secret volume and where it is mounted; no items mounts every key under its own name.
fn secret_volume(
    volume: &str,
    secret: &str,
    items: Vec<(String, &str)>,
    dir: &str,
) -> (Volume, VolumeMount) {
    let items = (!items.is_empty()).then(|| {
        items
            .into_iter()
            .map(|(key, path)| KeyToPath {
                key,
                path: path.into(),
                ..Default::default()
            })
            .collect()
    });
    let volume = Volume {
        name: volume.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            items,
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mount = VolumeMount {
        name: volume.name.clone(),
        mount_path: dir.into(),
        read_only: Some(true),
        ..Default::default()
    };
    (volume, mount)
}

/// Volumes and mounts of the Kafka credentials and the REST API's certificate and user.
pub fn secret_volumes(spec: &ConnectClusterSpec) -> Vec<(Volume, VolumeMount)> {
    let mut out = Vec::new();
    if let Some(auth) = &spec.authentication {
        let secret = &auth.password_secret;
        out.push(secret_volume(
            "kafka-sasl",
            &secret.name,
            vec![(secret.key.clone(), "password")],
            SASL_DIR,
        ));
    }
    if let Some(tls) = &spec.tls {
        if let Some(ca) = &tls.ca_secret {
            out.push(secret_volume(
                "kafka-ca",
                &ca.name,
                vec![(ca.key.clone(), "ca.crt")],
                CA_DIR,
            ));
        }
        if let Some(cert) = &tls.client_certificate {
            let items = vec![
                (cert.certificate_key.clone(), "tls.crt"),
                (cert.key_key.clone(), "tls.key"),
            ];
            out.push(secret_volume(
                "kafka-client",
                &cert.secret_name,
                items,
                CLIENT_CERT_DIR,
            ));
        }
    }
    if let Some(rest) = &spec.rest {
        if let Some(tls) = &rest.tls {
            out.push(secret_volume(
                "rest-tls",
                &tls.secret_name,
                Vec::new(),
                REST_TLS_DIR,
            ));
        }
        if let Some(auth) = &rest.basic_auth {
            let items = vec![
                (auth.username_key.clone(), "username"),
                (auth.password_key.clone(), "password"),
            ];
            out.push(secret_volume(
                "rest-auth",
                &auth.secret_name,
                items,
                REST_AUTH_DIR,
            ));
        }
    }
    for (i, name) in spec.connector_secrets.iter().enumerate() {
        out.push(secret_volume(
            &format!("connector-secret-{i}"),
            name,
            Vec::new(),
            &format!("{CONNECTOR_SECRETS_DIR}/{name}"),
        ));
    }
    out
}

/// An environment variable read from a Secret key.
fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Environment variables for S3 access: static keys from a Secret, region and endpoint.
pub fn s3_env(spec: &ConnectClusterSpec) -> Vec<EnvVar> {
    let Some(s3) = &spec.s3 else {
        return Vec::new();
    };
    let mut env = Vec::new();
    if let Some(creds) = &s3.credentials_secret {
        env.push(secret_env(
            "AWS_ACCESS_KEY_ID",
            &creds.name,
            &creds.access_key_id_key,
        ));
        env.push(secret_env(
            "AWS_SECRET_ACCESS_KEY",
            &creds.name,
            &creds.secret_access_key_key,
        ));
    }
    let plain = |name: &str, value: &Option<String>| {
        value.as_ref().map(|v| EnvVar {
            name: name.into(),
            value: Some(v.clone()),
            ..Default::default()
        })
    };
    env.extend(plain("AWS_REGION", &s3.region));
    env.extend(plain("AWS_ENDPOINT_URL_S3", &s3.endpoint));
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::crd::{
        ClientCertificate, KafkaAuthentication, KafkaTls, RestBasicAuth, RestSecurity,
        RestTlsSecret, S3Access, S3CredentialsSecret, SaslMechanism, SecretKeyRef,
    };
    use std::collections::BTreeMap;

    fn spec_with_everything() -> ConnectClusterSpec {
        ConnectClusterSpec {
            authentication: Some(KafkaAuthentication {
                mechanism: SaslMechanism::ScramSha512,
                username: "u".into(),
                password_secret: SecretKeyRef {
                    name: "sasl".into(),
                    key: "pw".into(),
                },
            }),
            tls: Some(KafkaTls {
                ca_secret: Some(SecretKeyRef {
                    name: "ca".into(),
                    key: "ca.pem".into(),
                }),
                client_certificate: Some(ClientCertificate {
                    secret_name: "client".into(),
                    certificate_key: "tls.crt".into(),
                    key_key: "tls.key".into(),
                }),
            }),
            s3: Some(S3Access {
                credentials_secret: Some(S3CredentialsSecret {
                    name: "s3".into(),
                    access_key_id_key: "id".into(),
                    secret_access_key_key: "secret".into(),
                }),
                region: Some("eu-west-1".into()),
                endpoint: None,
            }),
            rest: Some(RestSecurity {
                tls: Some(RestTlsSecret {
                    secret_name: "rest-cert".into(),
                }),
                basic_auth: Some(RestBasicAuth {
                    secret_name: "rest-user".into(),
                    username_key: "user".into(),
                    password_key: "pass".into(),
                }),
            }),
            connector_secrets: vec!["team-a-login".into()],
            ..Default::default()
        }
    }

    #[test]
    fn every_reference_is_listed_mounted_or_exported() {
        let spec = spec_with_everything();
        let names: Vec<_> = referenced_secrets(&spec).into_iter().collect();
        assert_eq!(
            names,
            [
                "ca",
                "client",
                "rest-cert",
                "rest-user",
                "s3",
                "sasl",
                "team-a-login"
            ]
        );
        let volumes = secret_volumes(&spec);
        let dirs: Vec<_> = volumes.iter().map(|(_, m)| m.mount_path.as_str()).collect();
        assert_eq!(
            dirs,
            [
                SASL_DIR,
                CA_DIR,
                CLIENT_CERT_DIR,
                REST_TLS_DIR,
                REST_AUTH_DIR,
                "/var/run/skiff/secrets/team-a-login"
            ]
        );
        let connector_secret = volumes[5].0.secret.as_ref().unwrap();
        assert_eq!(
            (
                connector_secret.secret_name.as_deref(),
                &connector_secret.items
            ),
            (Some("team-a-login"), &None),
            "every key, as a file of its name"
        );
        let rest_tls = volumes[3].0.secret.as_ref().unwrap();
        assert_eq!(
            rest_tls.items, None,
            "every key of the TLS Secret, ca.crt if any"
        );
        let rest_auth = volumes[4].0.secret.as_ref().unwrap().items.clone().unwrap();
        assert_eq!(
            (rest_auth[1].key.as_str(), rest_auth[1].path.as_str()),
            ("pass", "password")
        );
        let sasl = volumes[0].0.secret.as_ref().unwrap();
        assert_eq!(sasl.items.as_ref().unwrap()[0].key, "pw");
        assert_eq!(sasl.items.as_ref().unwrap()[0].path, "password");
        let env = s3_env(&spec);
        let key_id = env[0]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!((key_id.name.as_str(), key_id.key.as_str()), ("s3", "id"));
        assert_eq!(env[2].value.as_deref(), Some("eu-west-1"));
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn the_ca_of_the_rest_secret_is_trusted_when_it_has_one() {
        let mut secret = Secret::default();
        assert_eq!(rest_trust_key(&secret), "tls.crt");
        secret.data = Some(BTreeMap::from([(
            "ca.crt".to_string(),
            k8s_openapi::ByteString(b"pem".to_vec()),
        )]));
        assert_eq!(rest_trust_key(&secret), "ca.crt");
        secret.data = Some(BTreeMap::from([(
            "ca.crt".to_string(),
            k8s_openapi::ByteString(Vec::new()),
        )]));
        assert_eq!(
            rest_trust_key(&secret),
            "tls.crt",
            "an empty ca.crt is no CA"
        );
    }

    #[test]
    fn the_keys_each_rest_secret_must_hold_are_named_with_their_field() {
        let mut cc = ConnectCluster::new("c", spec_with_everything());
        let keys = rest_secret_keys(&cc);
        assert_eq!(keys[0].0, "spec.rest.tls");
        assert_eq!(keys[0].2, ["tls.crt", "tls.key"]);
        assert_eq!(
            (keys[1].1.as_str(), keys[1].2.clone()),
            ("rest-user", vec!["user".to_string(), "pass".to_string()])
        );
        cc.spec.rest = None;
        assert!(rest_secret_keys(&cc).is_empty());
    }

    #[test]
    fn a_bare_spec_references_nothing() {
        let spec = ConnectClusterSpec::default();
        assert!(referenced_secrets(&spec).is_empty());
        assert!(secret_volumes(&spec).is_empty());
        assert!(s3_env(&spec).is_empty());
    }
}
