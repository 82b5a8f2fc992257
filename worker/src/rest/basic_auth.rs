//! HTTP basic authentication for the REST API, as Apache Connect's
//! `BasicAuthSecurityRestExtension` does it: every request must carry a user and password from
//! the credentials file (`user: password` lines, the format of Connect's
//! `PropertyFileLoginModule`), or it gets 401. `GET /health` stays open, so Kubernetes probes
//! need no credentials; it tells nothing but whether the worker is up.

use super::error::ApiError;
use crate::config::ConfigError;
use crate::config::properties::read_properties;
use crate::config::rest::BasicUser;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Users and a digest of each password (the passwords themselves are not kept).
pub struct Credentials {
    users: BTreeMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} users)", self.users.len())
    }
}

fn digest(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Credentials {
    /// The users of the credentials file and the one given in the properties; `None` when
    /// neither is set (no authentication). An empty file is an error: it would lock every user
    /// out.
    pub fn load(
        file: Option<&Path>,
        user: Option<&BasicUser>,
    ) -> Result<Option<Self>, ConfigError> {
        let mut users = BTreeMap::new();
        if let Some(path) = file {
            users.extend(
                read_properties(path)?
                    .into_iter()
                    .map(|(user, password)| (user, digest(&password))),
            );
            if users.is_empty() {
                return Err(ConfigError::invalid(
                    crate::config::rest::CREDENTIALS_FILE_KEY,
                    format!(
                        "{} holds no user: add `user: password` lines",
                        path.display()
                    ),
                ));
            }
        }
        if let Some(u) = user {
            users.insert(u.username.clone(), digest(&u.password));
        }
        Ok((file.is_some() || user.is_some()).then_some(Credentials { users }))
    }

    /// Whether an `Authorization` header value names a known user with the right password.
    /// Every check compares a whole digest, so the time taken says nothing of the password.
    fn allows(&self, authorization: &str) -> bool {
        let Some(encoded) = authorization
            .strip_prefix("Basic ")
            .or_else(|| authorization.strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        let given = digest(password);
        let (known, expected) = match self.users.get(user) {
            Some(d) => (true, *d),
            None => (false, digest("")),
        };
        let same = given
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        known && same
    }
}

/// Axum middleware: lets through requests with valid credentials and `GET /health`.
pub async fn require(
    State(credentials): State<Arc<Credentials>>,
    req: Request,
    next: Next,
) -> Response {
    let open = req.method() == Method::GET && req.uri().path() == "/health";
    let allowed = open
        || req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| credentials.allows(v));
    if allowed {
        return next.run(req).await;
    }
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "User cannot access the resource.").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Kafka Connect\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    fn credentials(text: &str) -> Result<Credentials, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.properties");
        std::fs::write(&path, text).unwrap();
        Credentials::load(Some(&path), None)
            .map(|c| c.expect("a file was given"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn only_a_known_user_with_its_password_passes() {
        let c = credentials("admin: s3cret:with-colon\nops=other\n").unwrap();
        assert!(c.allows(&basic("admin:s3cret:with-colon")));
        assert!(c.allows(&basic("ops:other")));
        assert!(!c.allows(&basic("admin:wrong")));
        assert!(!c.allows(&basic("nobody:")));
        assert!(!c.allows(&basic("admin")));
        assert!(!c.allows("Bearer abc"));
        assert!(!c.allows("Basic not-base64!"));
    }

    #[test]
    fn a_user_from_the_properties_joins_the_file_users() {
        let user = BasicUser {
            username: "operator".into(),
            password: "op-pass".into(),
        };
        let c = Credentials::load(None, Some(&user)).unwrap().unwrap();
        assert!(c.allows(&basic("operator:op-pass")));
        assert!(!c.allows(&basic("operator:other")));
        assert!(Credentials::load(None, None).unwrap().is_none());
    }

    #[test]
    fn an_empty_file_is_refused_and_debug_shows_no_password() {
        let e = credentials("# nobody yet\n").unwrap_err();
        assert!(e.contains("rest.basic.auth.credentials.file"), "{e}");
        let c = credentials("admin: hunter2\n").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
