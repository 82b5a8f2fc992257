//! Types shared by the Skiff worker and operator.
#[cfg(feature = "crd")]
pub mod crd;
pub mod rest;
