//! One retry loop for every S3 call a task makes (backup uploads and listings, restore reads):
//! transient failures are retried with [`Backoff`] for the task's `s3.retry.timeout.ms` and shown
//! as the task's `lastError` meanwhile; refusals and a stopping task end it at once.

use super::{Backoff, Store};
use crate::runtime::TaskError;
use std::future::Future;
use std::time::Duration;
use tracing::warn;

/// What the retry loop needs from a task.
pub trait RetryingTask {
    /// The store the calls go to.
    fn store(&self) -> Store;
    /// How long a failing call is retried (`s3.retry.timeout.ms`).
    fn retry_limit(&self) -> Duration;
    /// Whether the task is being stopped (no more retries then).
    fn stopping(&self) -> bool;
    /// Shows the error being retried in the progress document (`None`: calls work again).
    fn show_error(&mut self, error: Option<String>);
}

/// Runs `op` against the task's store until it succeeds, fails for good, or the limit passes.
pub async fn retry_s3<R, T, Fut>(
    task: &mut R,
    what: &str,
    op: impl Fn(Store) -> Fut,
) -> Result<T, TaskError>
where
    R: RetryingTask,
    Fut: Future<Output = Result<T, TaskError>>,
{
    let mut backoff = Backoff::new(task.retry_limit());
    let mut failed = false;
    loop {
        match op(task.store()).await {
            Ok(v) => {
                if failed {
                    task.show_error(None);
                }
                return Ok(v);
            }
            Err(e) => match backoff
                .next_wait()
                .filter(|_| e.retriable() && !task.stopping())
            {
                Some(wait) => {
                    warn!("{what} failed, retrying in {wait:?}: {e}");
                    task.show_error(Some(e.to_string()));
                    failed = true;
                    tokio::time::sleep(wait).await;
                }
                None => return Err(e),
            },
        }
    }
}
