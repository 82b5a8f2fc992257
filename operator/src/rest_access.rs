//! How the operator reaches a cluster's REST API when `spec.rest` secures it: the certificate to
//! trust (the TLS Secret's `ca.crt`, else its `tls.crt`) and the basic-auth user, read from the
//! Secrets at every reconcile so a rotated Secret is used at once. The values stay in memory.

use crate::connect_cluster::{rest_trust_key, secret_value};
use crate::connect_rest::{BasicAuth, ConnectRest, http_client_trusting};
use crate::context::Context;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use skiff_api::crd::RestSecurity;

/// Why the operator cannot call a secured cluster; the message names the Secret and key.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A Secret `spec.rest` names is missing, or lacks a key.
    #[error("{0}")]
    Secret(String),
    /// Reading the Secret failed.
    #[error("reading Secret {name}: {source}")]
    Kube {
        /// The Secret.
        name: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// The certificate in the Secret is not PEM the client can use.
    #[error("Secret {name} key {key}: {message}")]
    Certificate {
        /// The Secret.
        name: String,
        /// The key holding the certificate.
        key: String,
        /// Why it cannot be used.
        message: String,
    },
}

/// A Secret of the cluster's namespace.
async fn secret(ctx: &Context, ns: &str, name: &str) -> Result<Secret, AccessError> {
    Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|source| AccessError::Kube {
            name: name.into(),
            source,
        })?
        .ok_or_else(|| AccessError::Secret(format!("Secret {name} does not exist")))
}

/// One key of a Secret, as bytes; an empty value counts as missing.
fn value(secret: &Secret, key: &str) -> Result<Vec<u8>, AccessError> {
    secret_value(secret, key)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            AccessError::Secret(format!("Secret {} has no key {key}", secret.name_any()))
        })
}

/// The REST client for a cluster of namespace `ns` at `url`: plain without `spec.rest`, else
/// trusting its certificate and sending its user.
pub async fn connect_rest(
    ctx: &Context,
    ns: &str,
    security: Option<&RestSecurity>,
    url: &str,
) -> Result<ConnectRest, AccessError> {
    let Some(rest) = security else {
        return Ok(ConnectRest::new(ctx.http.clone(), url));
    };
    let http = match &rest.tls {
        Some(tls) => {
            let s = secret(ctx, ns, &tls.secret_name).await?;
            let key = rest_trust_key(&s);
            let pem = value(&s, key)?;
            http_client_trusting(Some(&pem)).map_err(|e| AccessError::Certificate {
                name: tls.secret_name.clone(),
                key: key.into(),
                message: e.to_string(),
            })?
        }
        None => ctx.http.clone(),
    };
    let client = ConnectRest::new(http, url);
    let Some(auth) = &rest.basic_auth else {
        return Ok(client);
    };
    let s = secret(ctx, ns, &auth.secret_name).await?;
    // Without a trailing line end, as the workers read the same files.
    let text = |key: &str| {
        String::from_utf8(value(&s, key)?)
            .map(|v| v.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|_| {
                AccessError::Secret(format!(
                    "Secret {} key {key} is not UTF-8 text",
                    auth.secret_name
                ))
            })
    };
    Ok(client.with_basic_auth(BasicAuth {
        username: text(&auth.username_key)?,
        password: text(&auth.password_key)?,
    }))
}
