//! Errors of a reconcile; each one is requeued with backoff by the controllers.

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A resource without a namespace, which namespaced kinds always have.
    #[error("{0} has no namespace")]
    NoNamespace(String),
    /// The finalizer helper failed around a reconcile.
    #[error("finalizer: {0}")]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
    /// A Kafka Connect REST call failed in a way worth retrying.
    #[error("connect REST API: {0}")]
    Rest(#[from] crate::connect_rest::RestError),
    /// The Secrets of a cluster's `spec.rest` could not be read.
    #[error("{0}")]
    RestAccess(#[from] crate::rest_access::AccessError),
}

/// Result of operator steps.
pub type Result<T, E = Error> = std::result::Result<T, E>;
