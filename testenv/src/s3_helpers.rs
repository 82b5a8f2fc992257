//! S3 fixtures: a client for the test S3 server and buckets on it.

use crate::error::Error;
use crate::servers::s3;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use std::time::Duration;

/// A client for [`s3()`]: static credentials, path-style addressing, and timeouts so that a hung
/// server fails the test instead of stalling it.
pub fn s3_client() -> aws_sdk_s3::Client {
    let server = s3();
    let credentials = Credentials::new(
        &server.access_key,
        &server.secret_key,
        None,
        None,
        "skiff-testenv",
    );
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(120))
        .build();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&server.endpoint)
        .region(Region::new(server.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(true)
        .timeout_config(timeouts)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates the bucket `name` on [`s3()`].
pub async fn create_bucket(name: &str) -> Result<(), Error> {
    s3_client()
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(|err| Error::S3 {
            operation: "CreateBucket",
            bucket: name.to_owned(),
            message: DisplayErrorContext(err).to_string(),
        })?;
    Ok(())
}
