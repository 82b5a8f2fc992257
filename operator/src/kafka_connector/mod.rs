//! The `KafkaConnector` controller: desired config and its diff against the cluster, target
//! state, restarts, offsets by annotation, status mapping, and the reconcile loop over the
//! Connect REST API.

mod annotations;
mod cluster;
mod desired;
mod offsets;
mod reconcile;
mod restart;
mod status;
#[cfg(test)]
mod test_support;

pub use cluster::{cluster_name, rest_url};
pub use reconcile::{FINALIZER, run};
