//! Which Kafka client settings a connector may set for itself (KIP-458): the worker's
//! `connector.client.config.override.policy`, as Apache Connect names and applies it, and the
//! check of a connector's `consumer.override.`, `producer.override.` and `admin.override.` keys
//! against it and against the settings Skiff must keep.

use super::ConfigError;
use super::client::ClientRole;
use super::properties::Properties;
use std::collections::BTreeSet;

/// The worker key that names the policy.
pub const POLICY_KEY: &str = "connector.client.config.override.policy";
/// The worker key that lists what the `Allowlist` policy allows.
pub const ALLOWLIST_KEY: &str = "connector.client.config.override.allowlist";
/// What Apache's policies are named after, after their short name.
const CLASS_SUFFIX: &str = "ConnectorClientConfigOverridePolicy";
const CLASS_PACKAGE: &str = "org.apache.kafka.connect.connector.policy.";
/// The settings the `Principal` policy allows: who the client is, not how it behaves.
const PRINCIPAL_KEYS: [&str; 3] = ["sasl.jaas.config", "sasl.mechanism", "security.protocol"];

/// What a connector may override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverridePolicy {
    /// Any client setting (Connect's default since Kafka 3.0).
    All,
    /// No client setting.
    None,
    /// Only the client's identity: `sasl.jaas.config`, `sasl.mechanism`, `security.protocol`.
    Principal,
    /// Only the settings `connector.client.config.override.allowlist` names.
    Allowlist(BTreeSet<String>),
}

impl OverridePolicy {
    /// The policy a worker's properties name: `All`, `None`, `Principal` or `Allowlist`, by
    /// alias or by Apache's class name; anything else is an error that lists them.
    pub fn from_worker(worker: &Properties) -> Result<Self, ConfigError> {
        let given = worker.get(POLICY_KEY).map_or("All", |v| v.trim());
        let short = given.strip_prefix(CLASS_PACKAGE).unwrap_or(given);
        let short = short.strip_suffix(CLASS_SUFFIX).unwrap_or(short);
        match short {
            "All" => Ok(OverridePolicy::All),
            "None" => Ok(OverridePolicy::None),
            "Principal" => Ok(OverridePolicy::Principal),
            "Allowlist" => Ok(OverridePolicy::Allowlist(
                worker
                    .get(ALLOWLIST_KEY)
                    .map(|v| {
                        v.split(',')
                            .map(str::trim)
                            .filter(|k| !k.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            _ => Err(ConfigError::invalid(
                POLICY_KEY,
                format!(
                    "'{given}' is not a policy this worker knows: use All, None, Principal or \
                     Allowlist (with {ALLOWLIST_KEY})"
                ),
            )),
        }
    }

    /// The name Connect's messages give the policy.
    fn name(&self) -> &'static str {
        match self {
            OverridePolicy::All => "All",
            OverridePolicy::None => "None",
            OverridePolicy::Principal => "Principal",
            OverridePolicy::Allowlist(_) => "Allowlist",
        }
    }

    fn allows(&self, setting: &str) -> bool {
        match self {
            OverridePolicy::All => true,
            OverridePolicy::None => false,
            OverridePolicy::Principal => PRINCIPAL_KEYS.contains(&setting),
            OverridePolicy::Allowlist(keys) => keys.contains(setting),
        }
    }
}

const TASK_NAMES: &str = "each task's client is named after the task \
    (connector-consumer-<connector>-<task>, connector-producer-<connector>-<task>), which is how \
    a restarted worker finds its earlier consumers";
const SINK_COMMITS: &str = "a sink commits an offset only once its records are in S3";
const STATIC_MEMBERS: &str = "every task of a connector would share it and fence the others";
const RESTORE_SENDS: &str = "a restore sends each record until Kafka takes it, idempotently and \
    one request at a time, so that it leaves no gap and no duplicate";

/// The source producer's delivery settings that Skiff keeps (the producer drops them from the
/// worker's `producer.` keys too, with a warning).
pub const KEPT_PRODUCER_SETTINGS: [&str; 6] = [
    "delivery.timeout.ms",
    "message.timeout.ms",
    "retries",
    "message.send.max.retries",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
];

/// A client setting that Skiff sets itself whatever the connector says: the values it accepts
/// because they are what it uses anyway, and why.
fn kept(role: ClientRole, setting: &str) -> Option<(&'static [&'static str], &'static str)> {
    match (role, setting) {
        (ClientRole::Consumer | ClientRole::Producer, "client.id") => Some((&[], TASK_NAMES)),
        (ClientRole::Consumer, "group.instance.id") => Some((&[], STATIC_MEMBERS)),
        (ClientRole::Consumer, "enable.auto.commit") => Some((&["false"], SINK_COMMITS)),
        (ClientRole::Producer, "acks") => Some((&["all", "-1"], RESTORE_SENDS)),
        (ClientRole::Producer, "enable.idempotence") => Some((&["true"], RESTORE_SENDS)),
        (ClientRole::Producer, "transactional.id") => Some((&[], RESTORE_SENDS)),
        (ClientRole::Producer, s) if KEPT_PRODUCER_SETTINGS.contains(&s) => {
            Some((&[], RESTORE_SENDS))
        }
        _ => None,
    }
}

/// Every client override in a connector's configuration that the policy refuses, or that Skiff
/// cannot honour, as (key, message) pairs: the message says what to do instead.
pub fn check(policy: &OverridePolicy, connector: &Properties) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for role in ClientRole::ALL {
        for (key, value) in connector {
            let Some(setting) = key.strip_prefix(role.override_prefix()) else {
                continue;
            };
            if !policy.allows(setting) {
                errors.push((
                    key.clone(),
                    format!(
                        "The '{}' policy does not allow '{setting}' to be overridden in the \
                         connector configuration. Remove '{key}', or allow it with the worker's \
                         {POLICY_KEY}.",
                        policy.name()
                    ),
                ));
            } else if let Some((same_as_skiff, why)) = kept(role, setting)
                && !same_as_skiff.contains(&value.trim())
            {
                errors.push((
                    key.clone(),
                    format!(
                        "Skiff sets '{setting}' itself for this connector's clients: {why}. \
                         Remove '{key}'."
                    ),
                ));
            }
        }
    }
    errors
}

/// [`check`] as one error, the first, for where a configuration is used rather than validated
/// (a task started from a configuration another worker stored).
pub fn require_allowed(policy: &OverridePolicy, connector: &Properties) -> Result<(), ConfigError> {
    match check(policy, connector).into_iter().next() {
        Some((key, message)) => Err(ConfigError::invalid(key, message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    fn policy(pairs: &[(&str, &str)]) -> OverridePolicy {
        OverridePolicy::from_worker(&props(pairs)).expect("a known policy")
    }

    #[test]
    fn policies_are_named_by_alias_or_by_apache_class_and_all_is_the_default() {
        assert_eq!(policy(&[]), OverridePolicy::All);
        assert_eq!(policy(&[(POLICY_KEY, "None")]), OverridePolicy::None);
        assert_eq!(
            policy(&[(
                POLICY_KEY,
                "org.apache.kafka.connect.connector.policy.PrincipalConnectorClientConfigOverridePolicy"
            )]),
            OverridePolicy::Principal
        );
        assert_eq!(
            policy(&[(POLICY_KEY, "NoneConnectorClientConfigOverridePolicy")]),
            OverridePolicy::None
        );
        assert_eq!(
            policy(&[
                (POLICY_KEY, "Allowlist"),
                (ALLOWLIST_KEY, "max.poll.records, sasl.jaas.config")
            ]),
            OverridePolicy::Allowlist(
                [
                    "max.poll.records".to_string(),
                    "sasl.jaas.config".to_string()
                ]
                .into()
            )
        );
        let err = OverridePolicy::from_worker(&props(&[(POLICY_KEY, "Some")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(POLICY_KEY) && err.contains("Allowlist"),
            "{err}"
        );
    }

    #[test]
    fn the_policy_decides_which_overrides_pass_and_names_each_refused_key() {
        let config = props(&[
            ("consumer.override.max.poll.records", "10"),
            ("consumer.override.sasl.jaas.config", "x required;"),
            ("topics", "t"),
        ]);
        assert!(check(&OverridePolicy::All, &config).is_empty());
        let refused = check(&OverridePolicy::None, &config);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert_eq!(refused[0].0, "consumer.override.max.poll.records");
        assert!(
            refused[0].1.starts_with(
                "The 'None' policy does not allow 'max.poll.records' to be overridden in the \
                 connector configuration."
            ),
            "Connect's own words: {}",
            refused[0].1
        );
        let refused = check(&OverridePolicy::Principal, &config);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "consumer.override.max.poll.records");
        let allowlist = OverridePolicy::Allowlist(["max.poll.records".to_string()].into());
        let refused = check(&allowlist, &config);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "consumer.override.sasl.jaas.config");
        let err = require_allowed(&OverridePolicy::None, &config).unwrap_err();
        assert!(err.to_string().contains("consumer.override."), "{err}");
    }

    #[test]
    fn settings_skiff_keeps_are_refused_unless_they_say_what_skiff_does() {
        let config = props(&[
            ("consumer.override.client.id", "mine"),
            ("consumer.override.enable.auto.commit", "false"),
            ("producer.override.acks", "all"),
            ("producer.override.enable.idempotence", "false"),
            ("producer.override.retries", "3"),
            ("admin.override.client.id", "admin"),
        ]);
        let refused: Vec<String> = check(&OverridePolicy::All, &config)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            refused,
            [
                "consumer.override.client.id",
                "producer.override.enable.idempotence",
                "producer.override.retries"
            ]
        );
        let (_, why) = &check(&OverridePolicy::All, &config)[0];
        assert!(
            why.contains("Remove 'consumer.override.client.id'"),
            "{why}"
        );
    }
}
