//! Test support: gives integration tests real, running servers (Kafka, an S3 server, an Apache
//! Kafka Connect peer, a Kubernetes API server and a fault-injecting proxy) on 127.0.0.1.
//!
//! The servers are installed by `make testenv` (`tests/testenv.sh install`) and started on first
//! use, once per test process, by `tests/testenv.sh up <component>`; a server that is already up
//! (from an earlier test process or `tests/testenv.sh up`) is reused. When a server cannot be
//! started the accessor panics with the script's output and the server's log: tests never skip.
//!
//! ```no_run
//! # async fn demo() -> Result<(), skiff_testenv::Error> {
//! let topic = skiff_testenv::unique_name("backup");
//! skiff_testenv::create_topic(&topic, 3).await?;
//! let bucket = skiff_testenv::unique_name("backup");
//! skiff_testenv::create_bucket(&bucket).await?;
//! # Ok(()) }
//! ```

mod env_file;
mod error;
pub mod faults;
mod kafka_admin;
mod names;
mod paths;
pub mod pki;
pub mod records;
pub mod s3_errors;
mod s3_helpers;
mod servers;

pub use error::Error;
pub use kafka_admin::{create_topic, create_topic_on, create_topic_with};
pub use names::unique_name;
pub use s3_helpers::{create_bucket, s3_client};
pub use servers::{
    ConnectPeer, Kafka, Kube, ProxiedListener, S3, SecureListener, connect_peer, kafka,
    kafka_three, kube, log_tail, restart_kafka, s3, schemathesis, start_kafka_three_node,
    stop_kafka_three_node, toxiproxy,
};
