//! Checks of a `ConnectCluster` spec beyond what the CRD schema enforces, each error naming the
//! field, so an invalid spec becomes a clear `Ready=False` condition instead of a failing loop.

use super::worker_properties::reserved;
use skiff_api::crd::{ConnectClusterSpec, property_string};
use std::fmt;

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.config.group.id`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Every problem of `spec`; empty when it can be reconciled.
pub fn validate(spec: &ConnectClusterSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match (&spec.external, &spec.bootstrap_servers) {
        (Some(_), Some(_)) | (None, None) => errors.push(error(
            "spec",
            "exactly one of spec.external and spec.bootstrapServers must be set",
        )),
        (None, Some(servers)) if servers.trim().is_empty() => {
            errors.push(error("spec.bootstrapServers", "must not be empty"));
        }
        _ => {}
    }
    if let Some(external) = &spec.external
        && reqwest::Url::parse(&external.url).map(|u| u.scheme().starts_with("http")) != Ok(true)
    {
        errors.push(error(
            "spec.external.url",
            format!("{:?} is not an http(s) URL", external.url),
        ));
    }
    if spec.replicas < 0 {
        errors.push(error("spec.replicas", "must not be negative"));
    }
    if spec
        .group_id
        .as_deref()
        .is_some_and(|g| g.trim().is_empty())
    {
        errors.push(error("spec.groupId", "must not be empty"));
    }
    // The workers refuse to start on a level they cannot parse: caught here, the pods are not
    // rolled into a crash loop.
    if let Some(level) = spec.logging.as_ref().and_then(|l| l.level.as_deref())
        && let Err(e) = tracing_subscriber::EnvFilter::try_new(level)
    {
        errors.push(error(
            "spec.logging.level",
            format!(
                "{level:?} is not a log level or tracing directives ({e}): use e.g. info, debug or info,skiff_worker::connectors=debug"
            ),
        ));
    }
    for (key, value) in &spec.config {
        let field = format!("spec.config.{key}");
        if reserved(key) {
            let fix = if key.starts_with("listeners.https.")
                || key.starts_with("rest.basic.auth.")
                || key == "rest.extension.classes"
            {
                ": set spec.rest instead"
            } else {
                ""
            };
            errors.push(error(
                field,
                format!("is set by the operator and cannot be overridden{fix}"),
            ));
        } else if property_string(value).is_none() {
            errors.push(error(field, "must be a string, number or boolean"));
        }
    }
    errors
}

/// The errors as one condition message.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect_cluster::test_support::cluster;
    use serde_json::json;
    use skiff_api::crd::ExternalCluster;

    #[test]
    fn a_minimal_cluster_is_valid() {
        assert!(validate(&cluster("c").spec).is_empty());
    }

    #[test]
    fn a_log_level_the_workers_cannot_parse_is_refused() {
        let mut spec = cluster("c").spec;
        spec.logging = Some(skiff_api::crd::Logging {
            level: Some("info,skiff_worker::connectors=debug".into()),
            format: None,
        });
        assert!(validate(&spec).is_empty());
        spec.logging = Some(skiff_api::crd::Logging {
            level: Some("info,skiff=loud".into()),
            format: None,
        });
        let errors = validate(&spec);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "spec.logging.level");
        assert!(errors[0].message.contains("loud"), "{}", errors[0].message);
    }

    #[test]
    fn external_and_bootstrap_servers_exclude_each_other() {
        let mut spec = cluster("c").spec;
        spec.external = Some(ExternalCluster {
            url: "http://connect:8083".into(),
        });
        assert_eq!(validate(&spec)[0].field, "spec");
        spec.bootstrap_servers = None;
        assert!(validate(&spec).is_empty());
        spec.external = None;
        assert_eq!(validate(&spec)[0].field, "spec");
    }

    #[test]
    fn rest_security_keys_point_to_spec_rest() {
        let mut spec = cluster("c").spec;
        spec.config = serde_json::from_value(json!({
            "listeners.https.ssl.keystore.location": "/k.p12",
            "rest.basic.auth.credentials.file": "/users",
            "rest.advertised.port": "9000"
        }))
        .unwrap();
        let errors = validate(&spec);
        assert_eq!(errors.len(), 3, "{errors:?}");
        for e in &errors {
            let wants_hint = !e.field.ends_with("rest.advertised.port");
            assert_eq!(e.message.contains("spec.rest"), wants_hint, "{e}");
        }
    }

    #[test]
    fn errors_name_their_fields() {
        let mut spec = cluster("c").spec;
        spec.replicas = -1;
        spec.group_id = Some(" ".into());
        spec.config = serde_json::from_value(json!({"group.id": "x", "nested": {"a": 1}})).unwrap();
        let fields: Vec<_> = validate(&spec).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "spec.replicas",
                "spec.groupId",
                "spec.config.group.id",
                "spec.config.nested"
            ]
        );
        spec.replicas = 1;
        spec.group_id = None;
        spec.config.clear();
        spec.external = Some(ExternalCluster {
            url: "ftp://x".into(),
        });
        spec.bootstrap_servers = None;
        let errors = validate(&spec);
        assert_eq!(errors[0].field, "spec.external.url");
        assert!(describe(&errors).starts_with("spec.external.url: "));
    }
}
