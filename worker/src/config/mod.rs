//! Worker and connector configuration: `.properties` parsing, the worker's keys, config providers
//! (`${file:...}`, `${env:...}`, `${dir:...}`) and the mapping of Java client settings onto
//! librdkafka.

pub mod client;
pub mod connector_clients;
pub mod override_policy;
pub mod properties;
pub mod providers;
pub mod rest;
pub mod tls_store;
pub mod worker;

use thiserror::Error;

/// A configuration problem, always naming the key and the fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid value for '{key}': {message}")]
    Invalid { key: String, message: String },
    #[error("missing required setting '{key}': {message}")]
    Missing { key: String, message: String },
}

impl ConfigError {
    /// An invalid value for `key`, with a message that says what to do instead.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Keys whose values are secrets: never logged, never returned by the REST API unresolved
/// values aside (a `${...}` reference is not a secret).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.ends_with("sasl.jaas.config")
        || k.contains("accesskeyid")
        || k.contains("access.key")
        || k.ends_with("ssl.key.pem")
        || k.ends_with("ssl.keystore.key")
        || k.contains("session.token")
}

/// The value to show for `key` in a log line: secrets are masked unless they are a
/// `${provider:...}` reference, which names where the secret lives, not the secret.
pub fn display_value<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret_key(key) && !providers::is_reference(value) {
        "[hidden]"
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_but_references_are_shown() {
        assert_eq!(display_value("aws.secretKey", "abc"), "[hidden]");
        assert_eq!(display_value("aws.accessKeyId", "AKIA"), "[hidden]");
        assert_eq!(
            display_value("sasl.jaas.config", "${file:/s/jaas:cfg}"),
            "${file:/s/jaas:cfg}"
        );
        assert_eq!(display_value("aws.s3.bucket", "b"), "b");
    }
}
