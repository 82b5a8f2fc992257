//! The brain behind the REST API: keeps connector configurations and target states, starts and
//! stops connectors and their tasks in the runtime, and answers status questions. Standalone mode
//! keeps configurations in memory (as Apache's standalone worker does) and source offsets in the
//! offsets file.

mod sink_offsets;
mod standalone;

pub use standalone::Herder;
use thiserror::Error;

/// Why a request cannot be done; maps one to one onto Connect's HTTP error codes.
#[derive(Debug, Error)]
pub enum HerderError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

impl HerderError {
    /// The HTTP status Connect uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            HerderError::NotFound(_) => 404,
            HerderError::Conflict(_) => 409,
            HerderError::BadRequest(_) => 400,
            HerderError::Internal(_) => 500,
        }
    }
}
