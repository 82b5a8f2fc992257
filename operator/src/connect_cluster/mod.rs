//! The `ConnectCluster` controller: pure builders of the worker StatefulSet, its Services,
//! ConfigMap and PodDisruptionBudget, spec validation, status, exclusive connector management,
//! and the reconcile loop.

mod config_map;
mod exclusive;
mod hash;
pub mod names;
mod pdb;
mod reconcile;
mod secrets;
mod services;
mod stateful_set;
mod status;
#[cfg(test)]
mod test_support;
mod validate;
mod worker_properties;

pub use reconcile::run;
pub use secrets::{rest_trust_key, secret_value};
pub use stateful_set::config_hash_of;
