//! The S3 client and the few calls the connectors make, each with timeouts and the SDK's
//! retries with backoff (5xx, throttling, broken connections).

use crate::config::properties::Properties;
use crate::runtime::TaskError;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use std::time::Duration;

/// Where and how to reach the bucket, from the connector's settings.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Normalised: empty, or ending with `/`.
    pub prefix: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub path_style: Option<bool>,
    access_key: Option<String>,
    secret_key: Option<String>,
    pub role_arn: Option<String>,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub storage_class: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    // Keys are secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("static_keys", &self.access_key.is_some())
            .field("role_arn", &self.role_arn)
            .finish()
    }
}

fn non_empty(config: &Properties, key: &str) -> Option<String> {
    config
        .get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// An S3 setting that cannot work, with the key it is about, so that validation shows the
/// message under that field.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SettingError {
    pub key: &'static str,
    pub message: String,
}

impl From<SettingError> for TaskError {
    fn from(e: SettingError) -> Self {
        TaskError::Config(e.message)
    }
}

impl S3Settings {
    /// Reads the Instaclustr keys (`aws.s3.bucket`, `prefix`, `aws.accessKeyId`, `aws.secretKey`,
    /// `aws.region`, `aws.role.arn`, `s3.endpoint`, `s3.enablePathStyle`) and Skiff's
    /// encryption and storage-class keys.
    pub fn from_config(config: &Properties) -> Result<Self, SettingError> {
        let bucket = non_empty(config, "aws.s3.bucket").ok_or_else(|| SettingError {
            key: "aws.s3.bucket",
            message: "'aws.s3.bucket' is required: the bucket that holds the backup".into(),
        })?;
        let path_style = match non_empty(config, "s3.enablePathStyle") {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            Some(v) => {
                return Err(SettingError {
                    key: "s3.enablePathStyle",
                    message: format!("'s3.enablePathStyle' must be true or false, not '{v}'"),
                });
            }
        };
        let access_key = non_empty(config, "aws.accessKeyId");
        let secret_key = non_empty(config, "aws.secretKey");
        if access_key.is_some() != secret_key.is_some() {
            return Err(SettingError {
                key: if access_key.is_some() {
                    "aws.secretKey"
                } else {
                    "aws.accessKeyId"
                },
                message: "'aws.accessKeyId' and 'aws.secretKey' go together: set both, or neither to use the default credentials chain (IRSA, Pod Identity, env, profile)".into(),
            });
        }
        Ok(S3Settings {
            bucket,
            prefix: skiff_format::normalize_prefix(
                config.get("prefix").map(String::as_str).unwrap_or(""),
            ),
            region: non_empty(config, "aws.region"),
            endpoint: non_empty(config, "s3.endpoint"),
            path_style,
            access_key,
            secret_key,
            role_arn: non_empty(config, "aws.role.arn"),
            sse: non_empty(config, "s3.sse"),
            sse_kms_key_id: non_empty(config, "s3.sse.kms.key.id"),
            storage_class: non_empty(config, "s3.storage.class"),
        })
    }

    /// Path-style addressing when asked, or when the endpoint is an IP address or `localhost`,
    /// where virtual-host addressing cannot work.
    fn use_path_style(&self) -> bool {
        if let Some(p) = self.path_style {
            return p;
        }
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        endpoint.is_some_and(|e| {
            let host = e.split("://").nth(1).unwrap_or(&e);
            let host = host.split(['/', ':']).next().unwrap_or(host);
            host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
        })
    }

    /// Builds the client: static keys when given, else the default chain; `aws.role.arn`
    /// assumes that role on top.
    pub async fn connect(&self) -> Result<Store, TaskError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(120))
                    .operation_timeout(Duration::from_secs(600))
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            );
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let (Some(a), Some(s)) = (&self.access_key, &self.secret_key) {
            loader = loader.credentials_provider(Credentials::new(
                a,
                s,
                None,
                None,
                "skiff-connector-config",
            ));
        }
        let mut base = loader.load().await;
        if base.region().is_none() {
            base = base.into_builder().region(Region::new("us-east-1")).build();
        }
        let mut builder =
            aws_sdk_s3::config::Builder::from(&base).force_path_style(self.use_path_style());
        if let Some(arn) = &self.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name("skiff")
                .configure(&base)
                .build()
                .await;
            builder = builder.credentials_provider(provider);
        }
        if let Some(e) = &self.endpoint {
            builder = builder.endpoint_url(e);
        }
        Ok(Store {
            client: Client::from_conf(builder.build()),
            settings: self.clone(),
        })
    }
}

/// A bucket to read and write objects in.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    pub settings: S3Settings,
}

/// What a conditional write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// An object with this key was there already (same key = same offsets = same records).
    AlreadyExists,
}

/// An S3 failure as a task error. A service error is told by its code and message only: the
/// raw error carries the response body, which echoes the access key id on signature errors.
fn storage_error<E>(what: &str, key: &str, e: aws_sdk_s3::error::SdkError<E>) -> TaskError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    match &e {
        aws_sdk_s3::error::SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let err = se.err();
            let text = format!(
                "{what} {key}: HTTP {status} {}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            );
            if refused(status) {
                TaskError::StorageRefused(text)
            } else {
                TaskError::Storage(text)
            }
        }
        _ => TaskError::Storage(format!("{what} {key}: {}", error_chain(&e))),
    }
}

/// Whether an HTTP status is a refusal that retrying will not change (4xx other than request
/// timeout, conflicting concurrent writes and throttling).
fn refused(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 409 | 429)
}

/// The HTTP status of a failed call, when the store answered.
fn http_status<E>(e: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Why a permission check failed: the permission to grant on a 403, else the store's error.
fn access_error(
    permission: &str,
    verb: &str,
    bucket: &str,
    path: &str,
    status: Option<u16>,
    e: &(dyn std::error::Error + 'static),
) -> String {
    match status {
        Some(403) => format!(
            "cannot {verb} s3://{bucket}/{path}: access denied; grant {permission} on it to the connector's credentials"
        ),
        _ => format!("cannot {verb} s3://{bucket}/{path}: {}", error_chain(e)),
    }
}

/// An error and its causes, `: `-joined, without the SDK's debug dump (shown in statuses).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

impl Store {
    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// Checks the bucket exists and is reachable with these credentials.
    pub async fn check_bucket(&self) -> Result<(), String> {
        match self.client.head_bucket().bucket(self.bucket()).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(match http_status(&e) {
                Some(404) => format!(
                    "bucket '{}' does not exist: create it or fix aws.s3.bucket",
                    self.bucket()
                ),
                Some(403) => format!(
                    "access to bucket '{}' is denied: check the credentials and the bucket policy (s3:ListBucket, s3:GetObject, s3:PutObject)",
                    self.bucket()
                ),
                _ => format!(
                    "bucket '{}' cannot be reached: {}",
                    self.bucket(),
                    storage_error("cannot reach bucket", self.bucket(), e)
                ),
            }),
        }
    }

    /// Checks what a connector will do with the bucket, so a missing permission is reported when
    /// the connector is validated or created instead of failing a task later: reach it
    /// (HeadBucket), list the prefix (s3:ListBucket), then write (backups, s3:PutObject) or read
    /// (restores, s3:GetObject; a 404 proves the read is allowed) the small object `probe`
    /// under the prefix.
    pub async fn check_access(&self, probe: &str, write: bool) -> Result<(), String> {
        self.check_bucket().await?;
        let prefix = self.settings.prefix.clone();
        let bucket = self.bucket();
        if let Err(e) = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
        {
            return Err(access_error(
                "s3:ListBucket",
                "list",
                bucket,
                &prefix,
                http_status(&e),
                &e,
            ));
        }
        let key = format!("{prefix}{probe}");
        if write {
            let body = serde_json::json!({"purpose": "written by Skiff to check s3:PutObject; safe to delete"});
            if let Err(e) = self
                .put_request(&key)
                .content_type("application/json")
                .body(ByteStream::from(body.to_string().into_bytes()))
                .send()
                .await
            {
                return Err(access_error(
                    "s3:PutObject",
                    "write",
                    bucket,
                    &key,
                    http_status(&e),
                    &e,
                ));
            }
        } else if let Err(e) = self
            .client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            && http_status(&e) != Some(404)
        {
            return Err(access_error(
                "s3:GetObject",
                "read",
                bucket,
                &key,
                http_status(&e),
                &e,
            ));
        }
        Ok(())
    }

    /// A PutObject of `key` with the connector's encryption and storage class: every object
    /// the connector writes gets them (data, metadata and the access check alike), so a bucket
    /// policy that refuses unencrypted writes refuses none of them.
    fn put_request(&self, key: &str) -> PutObjectFluentBuilder {
        let s = &self.settings;
        let mut req = self.client.put_object().bucket(&s.bucket).key(key);
        if let Some(sse) = &s.sse {
            req = req.server_side_encryption(ServerSideEncryption::from(sse.as_str()));
        }
        if let Some(kms) = &s.sse_kms_key_id {
            req = req.ssekms_key_id(kms);
        }
        if let Some(sc) = &s.storage_class {
            req = req.storage_class(StorageClass::from(sc.as_str()));
        }
        req
    }

    /// Writes an object unless one with the same key exists (`If-None-Match: *`), so two
    /// writers of the same partition never overwrite each other.
    pub async fn put_new(
        &self,
        key: &str,
        body: bytes::Bytes,
        metadata: &[(&str, String)],
    ) -> Result<PutOutcome, TaskError> {
        let mut req = self
            .put_request(key)
            .if_none_match("*")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(body));
        for (k, v) in metadata {
            req = req.metadata(*k, v);
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                if status == Some(412) || e.code() == Some("PreconditionFailed") {
                    Ok(PutOutcome::AlreadyExists)
                } else {
                    Err(storage_error("cannot write", key, e))
                }
            }
        }
    }

    /// Every key under `prefix` (after `start_after`), in key order.
    pub async fn list_keys(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, TaskError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(self.bucket())
                .prefix(prefix);
            if let Some(t) = &token {
                req = req.continuation_token(t);
            } else if let Some(sa) = start_after {
                req = req.start_after(sa);
            }
            let out = req
                .send()
                .await
                .map_err(|e| storage_error("cannot list", prefix, e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(keys)
    }

    /// The "folders" directly under `prefix` (ListObjectsV2 with delimiter `/`), without the
    /// prefix and the trailing `/`.
    pub async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, TaskError> {
        let mut out_names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(self.bucket())
                .prefix(prefix)
                .delimiter("/");
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let out = req
                .send()
                .await
                .map_err(|e| storage_error("cannot list", prefix, e))?;
            for cp in out.common_prefixes() {
                if let Some(p) = cp.prefix() {
                    let name = p.strip_prefix(prefix).unwrap_or(p).trim_end_matches('/');
                    if !name.is_empty() {
                        out_names.push(name.to_string());
                    }
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out_names)
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, TaskError> {
        self.get_range(key, None).await
    }

    /// Reads the first `len` bytes of an object (all of it with `None`).
    pub async fn get_range(&self, key: &str, len: Option<usize>) -> Result<Vec<u8>, TaskError> {
        let mut req = self.client.get_object().bucket(self.bucket()).key(key);
        if let Some(n) = len {
            req = req.range(format!("bytes=0-{}", n.saturating_sub(1)));
        }
        let out = req
            .send()
            .await
            .map_err(|e| storage_error("cannot read", key, e))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| TaskError::Storage(format!("cannot read {key}: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Writes a small JSON document (backup metadata), overwriting.
    pub async fn put_json(&self, key: &str, value: &serde_json::Value) -> Result<(), TaskError> {
        let body = serde_json::to_vec_pretty(value).map_err(|e| TaskError::Other(e.to_string()))?;
        self.put_request(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| storage_error("cannot write", key, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn every_write_carries_the_encryption_and_storage_class() {
        let settings = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("s3.sse", "aws:kms"),
            ("s3.sse.kms.key.id", "alias/backups"),
            ("s3.storage.class", "STANDARD_IA"),
        ]))
        .unwrap();
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        let store = Store {
            client: Client::from_conf(conf),
            settings,
        };
        let req = store.put_request("p/_skiff/topics/t.json");
        assert_eq!(
            req.get_server_side_encryption(),
            &Some(ServerSideEncryption::AwsKms)
        );
        assert_eq!(req.get_ssekms_key_id().as_deref(), Some("alias/backups"));
        assert_eq!(req.get_storage_class(), &Some(StorageClass::StandardIa));
        assert_eq!(req.get_bucket().as_deref(), Some("b"));
    }

    #[test]
    fn only_refusals_are_final() {
        assert!(refused(403) && refused(404) && refused(400));
        assert!(!refused(408) && !refused(409) && !refused(429));
        assert!(!refused(500) && !refused(503));
    }

    #[test]
    fn denied_access_names_the_permission_to_grant() {
        let e = Outer(Middle(std::io::Error::other("reset")));
        let denied = access_error("s3:PutObject", "write", "b", "p/_skiff/x", Some(403), &e);
        assert_eq!(
            denied,
            "cannot write s3://b/p/_skiff/x: access denied; grant s3:PutObject on it to the connector's credentials"
        );
        let other = access_error("s3:ListBucket", "list", "b", "p/", Some(500), &e);
        assert!(
            other.starts_with("cannot list s3://b/p/: dispatch failure"),
            "{other}"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Outer(#[source] Middle);
    #[derive(Debug, thiserror::Error)]
    #[error("io error")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn error_chains_read_as_one_line_without_debug_dumps() {
        let e = Outer(Middle(std::io::Error::other("Connection refused")));
        assert_eq!(
            error_chain(&e),
            "dispatch failure: io error: Connection refused"
        );
    }

    #[test]
    fn path_style_is_automatic_for_ip_and_localhost_endpoints() {
        let s = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("s3.endpoint", "http://127.0.0.1:7070"),
        ]))
        .unwrap();
        assert!(s.use_path_style());
        let s = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("s3.endpoint", "http://localhost:7070"),
        ]))
        .unwrap();
        assert!(s.use_path_style());
        let s = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("s3.endpoint", "https://s3.eu-west-1.amazonaws.com"),
        ]))
        .unwrap();
        assert!(!s.use_path_style());
        let s = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("s3.endpoint", "http://10.0.0.1"),
            ("s3.enablePathStyle", "false"),
        ]))
        .unwrap();
        assert!(!s.use_path_style());
    }

    #[test]
    fn keys_must_come_in_pairs_and_are_never_printed() {
        let err = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("aws.accessKeyId", "AKIAXXXX"),
        ]))
        .err()
        .unwrap();
        assert!(err.to_string().contains("aws.secretKey"));
        let s = S3Settings::from_config(&props(&[
            ("aws.s3.bucket", "b"),
            ("aws.accessKeyId", "AKIAXXXX"),
            ("aws.secretKey", "verysecret"),
        ]))
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("AKIAXXXX") && !dbg.contains("verysecret"),
            "{dbg}"
        );
    }

    #[test]
    fn prefix_gets_a_slash_and_bucket_is_required() {
        let s = S3Settings::from_config(&props(&[("aws.s3.bucket", "b"), ("prefix", "backups")]))
            .unwrap();
        assert_eq!(s.prefix, "backups/");
        assert!(S3Settings::from_config(&props(&[])).is_err());
    }
}
