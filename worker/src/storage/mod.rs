//! S3 access for the backup connectors: building an aws-sdk-s3 client from the Instaclustr keys
//! (static keys, region, endpoint, path style, AssumeRole) or the SDK's default chain (env,
//! profile, IRSA/web identity, Pod Identity, instance metadata), with timeouts and retries.

pub mod backoff;
pub mod retry;
pub mod s3;

pub use backoff::Backoff;
pub use retry::{RetryingTask, retry_s3};
pub use s3::{S3Settings, Store};
