//! Answers from Kafka that retrying will not change: a login the brokers refuse, or a user
//! without the ACLs the task needs. librdkafka reports them through its error callback and goes
//! on retrying, so a backup with a wrong password stayed RUNNING while it backed nothing up.
//! Connect's Java clients throw them, and the task fails with the reason; a task here notes them
//! in its client's context ([`Refusal::note`]) and fails on them ([`Refusal::take`]).

use super::TaskError;
use crate::config::client::ClientRole;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::sync::Mutex;
use tracing::warn;

/// Whether Kafka refused the client for good: its login, or its user's permissions.
pub fn refused_for_good(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    )
}

/// What a task's client was refused, if anything, until the task takes it.
pub struct Refusal {
    role: ClientRole,
    noted: Mutex<Option<String>>,
}

impl Refusal {
    /// Nothing refused yet, for a client of `role`.
    pub fn new(role: ClientRole) -> Self {
        Refusal {
            role,
            noted: Mutex::new(None),
        }
    }

    /// Logs an error librdkafka reported, and keeps it when it is a refusal for good.
    pub fn note(&self, error: &KafkaError, reason: &str) {
        warn!(target: "librdkafka", "librdkafka: {error}: {reason}");
        if refused_for_good(error)
            && let Ok(mut noted) = self.noted.lock()
        {
            noted.get_or_insert_with(|| format!("{error}: {reason}"));
        }
    }

    /// The refusal noted, as the task's error: what Kafka said and what to check.
    pub fn take(&self) -> Option<TaskError> {
        let said = self.noted.lock().ok()?.take()?;
        Some(refused(self.role, &said))
    }
}

/// The task error for a refusal of a client of `role`, naming the settings to check.
pub fn refused(role: ClientRole, said: &str) -> TaskError {
    let prefix = role.override_prefix();
    let client = prefix.trim_end_matches(".override.");
    TaskError::Kafka(format!(
        "Kafka refused this task's {client} ({said}): check its login (sasl.jaas.config, \
         sasl.mechanism, or the connector's {prefix}sasl.jaas.config) and that its user's ACLs \
         allow what the connector does"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_login_is_kept_for_the_task_and_other_errors_are_not() {
        let refusal = Refusal::new(ClientRole::Consumer);
        refusal.note(
            &KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "broker down",
        );
        assert!(
            refusal.take().is_none(),
            "a broker that is down may come back"
        );
        refusal.note(
            &KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed",
        );
        let err = refusal.take().expect("kept").to_string();
        assert!(err.contains("Authentication failed"), "{err}");
        assert!(err.contains("consumer.override.sasl.jaas.config"), "{err}");
        assert!(refusal.take().is_none(), "taken once");
    }
}
