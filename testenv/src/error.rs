//! Errors of the fixture helpers (topics, buckets); the server accessors panic instead.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::Duration;

/// Why a fixture could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kafka client failed (connection, timeout, metadata).
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The broker refused to create a topic.
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        /// The topic asked for.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// The topic exists but not all partitions had a leader in time.
    #[error("topic {topic} has no leader for every partition after {waited:?}")]
    TopicNotReady {
        /// The topic asked for.
        topic: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The task that polls topic metadata panicked or was cancelled.
    #[error("waiting for the topic's leaders: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The S3 server refused or failed a request.
    #[error("s3 {operation} {bucket}: {message}")]
    S3 {
        /// The S3 operation, e.g. `CreateBucket`.
        operation: &'static str,
        /// The bucket it was about.
        bucket: String,
        /// The SDK's error with its context.
        message: String,
    },
}
