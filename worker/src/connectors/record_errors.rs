//! Connect's error handling for records a sink task cannot convert: `errors.tolerance`
//! (`none` fails the task, `all` skips the record), `errors.log.enable` (log each one) and
//! `errors.deadletterqueue.topic.name` (write it, as it was read, to a dead letter queue, with
//! `errors.deadletterqueue.context.headers.enable` adding where it came from and why).
//!
//! Only the FileStream sink converts. The S3 sink stores records' bytes as they are, so none
//! of its records can fail this way, and these settings have nothing to act on there.

use crate::config::client::ClientRole;
use crate::config::properties::Properties;
use crate::runtime::sink::SinkRecord;
use crate::runtime::{TaskContext, TaskError};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use tracing::warn;

/// How long a dead letter waits for Kafka before the task fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to do with a record that failed, per the connector's `errors.*` settings.
pub struct RecordErrors {
    tolerate: bool,
    log: bool,
    dead_letters: Option<DeadLetters>,
    connector: String,
    task: u32,
}

/// The dead letter queue: its topic and the producer that writes to it.
struct DeadLetters {
    topic: String,
    context_headers: bool,
    producer: FutureProducer,
}

fn flag(config: &Properties, key: &str) -> bool {
    config
        .get(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Connect's checks of a sink's dead letter queue: it may not be a topic the sink reads.
pub fn rule_errors(config: &Properties) -> Vec<(String, String)> {
    let key = "errors.deadletterqueue.topic.name";
    let Some(dlq) = config.get(key).map(|t| t.trim()).filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let listed = config
        .get("topics")
        .is_some_and(|t| t.split(',').any(|t| t.trim() == dlq));
    let matched = config
        .get("topics.regex")
        .filter(|r| !r.trim().is_empty())
        .and_then(|r| crate::runtime::sink::anchored(r).ok())
        .is_some_and(|r| r.is_match(dlq));
    if listed || matched {
        vec![(
            key.into(),
            format!(
                "The DLQ topic '{dlq}' may not be included in the list of topics ('topics' or 'topics.regex') consumed by the connector"
            ),
        )]
    } else {
        Vec::new()
    }
}

impl RecordErrors {
    /// Reads the connector's `errors.*` settings; with a dead letter queue, creates its topic
    /// when missing (`errors.deadletterqueue.topic.replication.factor`, default 3, -1 for the
    /// broker's default) and its producer, from the connector's producer settings.
    pub async fn new(ctx: &TaskContext, config: &Properties) -> Result<Self, TaskError> {
        let tolerate = config
            .get("errors.tolerance")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("all"));
        let topic = config
            .get("errors.deadletterqueue.topic.name")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let dead_letters = match topic {
            Some(topic) if tolerate => {
                let replication = config
                    .get("errors.deadletterqueue.topic.replication.factor")
                    .map_or(Ok(3), |v| v.trim().parse::<i32>())
                    .map_err(|e| {
                        TaskError::Config(format!(
                            "errors.deadletterqueue.topic.replication.factor: {e}"
                        ))
                    })?;
                create_topic(ctx, &topic, replication).await?;
                let mut producer = ctx.clients.client(ClientRole::Producer)?.to_rdkafka();
                producer.set(
                    "client.id",
                    format!("connector-dlq-producer-{}", ctx.task_name()),
                );
                Some(DeadLetters {
                    topic,
                    context_headers: flag(config, "errors.deadletterqueue.context.headers.enable"),
                    producer: producer.create()?,
                })
            }
            _ => None,
        };
        Ok(RecordErrors {
            tolerate,
            log: flag(config, "errors.log.enable"),
            dead_letters,
            connector: ctx.connector.clone(),
            task: ctx.task,
        })
    }

    /// A record failed at `stage` (as Connect names it, e.g. `VALUE_CONVERTER`): fails the task
    /// unless errors are tolerated; otherwise logs it when asked, and writes it to the dead
    /// letter queue when there is one, before the task goes on.
    pub async fn failed(
        &self,
        record: &SinkRecord,
        stage: &str,
        error: &str,
    ) -> Result<(), TaskError> {
        let at = format!(
            "{}-{} at offset {}",
            record.topic, record.partition, record.record.offset
        );
        if !self.tolerate {
            return Err(TaskError::Other(format!(
                "Tolerance exceeded in error handler: stage {stage} failed for the record of {at}: {error} (errors.tolerance=all skips such records)"
            )));
        }
        if self.log {
            warn!(stage, "skipping the record of {at}: {error}");
        }
        let Some(dlq) = &self.dead_letters else {
            return Ok(());
        };
        let mut headers = OwnedHeaders::new();
        for h in &record.record.headers {
            headers = headers.insert(Header {
                key: &h.key,
                value: h.value.as_deref(),
            });
        }
        if dlq.context_headers {
            let context = [
                ("__connect.errors.topic", record.topic.clone()),
                ("__connect.errors.partition", record.partition.to_string()),
                ("__connect.errors.offset", record.record.offset.to_string()),
                ("__connect.errors.connector.name", self.connector.clone()),
                ("__connect.errors.task.id", self.task.to_string()),
                ("__connect.errors.stage", stage.to_string()),
                ("__connect.errors.exception.message", error.to_string()),
            ];
            for (key, value) in &context {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
        }
        let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&dlq.topic).headers(headers);
        if let Some(k) = record.record.key.as_deref() {
            out = out.key(k);
        }
        if let Some(v) = record.record.value.as_deref() {
            out = out.payload(v);
        }
        dlq.producer
            .send(out, DELIVERY_TIMEOUT)
            .await
            .map_err(|(e, _)| {
                TaskError::Kafka(format!(
                    "cannot write the record of {at} to the dead letter queue {}: {e}",
                    dlq.topic
                ))
            })?;
        Ok(())
    }
}

/// Creates the dead letter queue's topic (one partition, as Connect does) unless it exists.
async fn create_topic(ctx: &TaskContext, topic: &str, replication: i32) -> Result<(), TaskError> {
    let admin: AdminClient<DefaultClientContext> = ctx
        .clients
        .client(ClientRole::Admin)?
        .to_rdkafka()
        .create()?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let created = tokio::time::timeout(
        Duration::from_secs(60),
        admin.create_topics([&new], &options),
    )
    .await
    .map_err(|_| TaskError::Kafka(format!("creating the dead letter queue {topic} timed out")))??;
    for result in created {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(TaskError::Kafka(format!(
                    "cannot create the dead letter queue {topic}: {code} (errors.deadletterqueue.topic.replication.factor is {replication})"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn the_dead_letter_queue_may_not_be_a_topic_the_sink_reads() {
        let errs = |pairs: &[(&str, &str)]| rule_errors(&props(pairs));
        assert!(
            errs(&[
                ("topics", "a,b"),
                ("errors.deadletterqueue.topic.name", "dlq")
            ])
            .is_empty()
        );
        let listed = errs(&[
            ("topics", "a, dlq"),
            ("errors.deadletterqueue.topic.name", "dlq"),
        ]);
        assert_eq!(listed.len(), 1);
        assert!(
            listed[0]
                .1
                .contains("The DLQ topic 'dlq' may not be included"),
            "{listed:?}"
        );
        assert_eq!(
            errs(&[
                ("topics.regex", "d.*"),
                ("errors.deadletterqueue.topic.name", "dlq")
            ])
            .len(),
            1
        );
        assert!(errs(&[("topics", "a")]).is_empty());
    }
}
