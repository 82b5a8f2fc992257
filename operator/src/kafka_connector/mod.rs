//! The `KafkaConnector` controller: desired config and its diff against the cluster, target
//! state, restarts, status mapping, and the reconcile loop over the Connect REST API.

mod cluster;
mod desired;
mod reconcile;
mod restart;
mod status;
#[cfg(test)]
mod test_support;

pub use reconcile::{FINALIZER, run};
