//! What a sink task's status says while Kafka keeps failing its consumer. librdkafka rides out
//! a broker restart, a moved leader or a cut network by itself, and only reports the errors to
//! its callback; without this, a backup stalled for minutes by such a fault showed RUNNING with
//! no error anywhere but the log, and the operator kept the connector Ready.
//!
//! A fault is shown once it lasts: errors [`LASTING`] apart within one run, all brokers down,
//! or a consumer replaced for not settling in its group. A single error (a connection the
//! broker closed while idle) is not shown. It goes away when a record arrives, or when no
//! error came for [`SHOWN_FOR`]: librdkafka repeats an identical connection error only every
//! 30 s, so a fault that goes on keeps it shown.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Errors this far apart in one run mean the fault lasts.
const LASTING: Duration = Duration::from_secs(10);
/// How long after its latest error a fault stays shown.
const SHOWN_FOR: Duration = Duration::from_secs(60);

/// The current run of Kafka errors of one sink task's consumer.
#[derive(Default)]
pub struct KafkaTrouble {
    run: Mutex<Option<Run>>,
    /// What [`KafkaTrouble::changed`] handed out last.
    handed: Mutex<Option<String>>,
}

struct Run {
    first: Instant,
    latest: Instant,
    said: String,
    /// Shown at once, however short the run: all brokers down, a replaced consumer.
    severe: bool,
}

impl KafkaTrouble {
    /// Counts an error librdkafka reported.
    pub fn note(&self, error: &KafkaError, reason: &str) {
        let severe = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        self.note_at(format!("{error}: {reason}"), severe, true, Instant::now());
    }

    /// Counts an error the consumer returned instead of a record. It says less than the
    /// callback's error of the same fault (no broker, no reason), so it does not replace it.
    pub fn note_consuming(&self, error: &KafkaError) {
        self.note_at(error.to_string(), false, false, Instant::now());
    }

    /// Counts a consumer replaced because its group membership never settled again.
    pub fn replaced(&self, why: &str) {
        self.note_at(
            format!("the consumer was replaced: {why}"),
            true,
            true,
            Instant::now(),
        );
    }

    /// A record arrived: the fault is over.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// The text the task's status shows now, if any.
    pub fn shown(&self) -> Option<String> {
        self.shown_at(Instant::now())
    }

    /// The text the task's status shows now, when it differs from the one handed out last.
    pub fn changed(&self) -> Option<Option<String>> {
        let shown = self.shown();
        let mut handed = self.handed.lock().unwrap_or_else(PoisonError::into_inner);
        (*handed != shown).then(|| {
            handed.clone_from(&shown);
            shown
        })
    }

    /// Adds an error to the current run, or starts a new one; `telling` says whether its words
    /// replace those of the run's earlier errors.
    fn note_at(&self, said: String, severe: bool, telling: bool, now: Instant) {
        let mut run = self.lock();
        match run.as_mut() {
            Some(r) if now.duration_since(r.latest) < SHOWN_FOR => {
                r.latest = now;
                if telling {
                    r.said = said;
                }
                r.severe |= severe;
            }
            _ => {
                *run = Some(Run {
                    first: now,
                    latest: now,
                    said,
                    severe,
                })
            }
        }
    }

    fn shown_at(&self, now: Instant) -> Option<String> {
        let run = self.lock();
        let r = run.as_ref()?;
        let lasting = r.severe || r.latest.duration_since(r.first) >= LASTING;
        (lasting && now.duration_since(r.latest) < SHOWN_FOR).then(|| {
            format!(
                "Kafka: {}; the consumer keeps retrying (is the broker reachable?)",
                r.said
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Run>> {
        self.run.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn a_single_error_is_not_shown_but_a_lasting_run_is_until_it_ends() {
        let trouble = KafkaTrouble::default();
        let t0 = Instant::now();
        trouble.note_at("Disconnected".into(), false, true, t0);
        assert_eq!(trouble.shown_at(at(t0, 1)), None);
        trouble.note_at("Connection refused".into(), false, true, at(t0, 30));
        let shown = trouble.shown_at(at(t0, 31)).unwrap();
        assert!(shown.starts_with("Kafka: Connection refused; "), "{shown}");
        assert!(trouble.shown_at(at(t0, 89)).is_some());
        assert_eq!(trouble.shown_at(at(t0, 90)), None);
        // An error long after starts a new run, not shown alone.
        trouble.note_at("Disconnected".into(), false, true, at(t0, 200));
        assert_eq!(trouble.shown_at(at(t0, 201)), None);
    }

    #[test]
    fn all_brokers_down_and_replacements_are_shown_at_once_and_a_record_clears_them() {
        let trouble = KafkaTrouble::default();
        let t0 = Instant::now();
        trouble.note_at("1/1 brokers are down".into(), true, true, t0);
        assert!(trouble.shown_at(t0).is_some());
        trouble.clear();
        assert_eq!(trouble.shown_at(t0), None);
        trouble.replaced("no coordinator for 90 s");
        let shown = trouble.shown().unwrap();
        assert!(
            shown.contains("the consumer was replaced: no coordinator for 90 s"),
            "{shown}"
        );
    }

    #[test]
    fn a_change_is_handed_out_once() {
        let trouble = KafkaTrouble::default();
        assert_eq!(trouble.changed(), None);
        trouble.replaced("stuck");
        assert!(trouble.changed().unwrap().unwrap().contains("stuck"));
        assert_eq!(trouble.changed(), None);
        trouble.clear();
        assert_eq!(trouble.changed(), Some(None));
        assert_eq!(trouble.changed(), None);
    }

    #[test]
    fn a_consuming_error_keeps_the_callbacks_words() {
        let trouble = KafkaTrouble::default();
        let transport = KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure);
        trouble.note(
            &transport,
            "Connect to ipv4#127.0.0.1:9092 failed: Connection refused",
        );
        trouble.note_consuming(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::BrokerTransportFailure,
        ));
        trouble.replaced("stuck");
        trouble.note_consuming(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::BrokerTransportFailure,
        ));
        assert!(trouble.shown().unwrap().contains("replaced: stuck"));
        trouble.clear();
        trouble.note_consuming(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::BrokerTransportFailure,
        ));
        assert!(
            trouble
                .lock()
                .as_ref()
                .unwrap()
                .said
                .contains("Message consumption error")
        );
    }

    #[test]
    fn all_brokers_down_is_severe() {
        let trouble = KafkaTrouble::default();
        trouble.note(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert!(trouble.shown().unwrap().contains("1/1 brokers are down"));
    }
}
