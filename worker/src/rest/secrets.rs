//! Secret values never leave the worker through the REST API: settings that hold secrets (S3
//! keys, passwords, JAAS configs) are shown as `[hidden]` unless they are `${...}` references.
//! A `[hidden]` value sent back (a GET, edited, then PUT) means "keep the stored value", so
//! clients can round-trip a configuration without ever seeing the secret.

use super::ApiError;
use crate::config::display_value;
use crate::config::properties::Properties;
use skiff_api::rest::{ConnectorInfo, TaskInfo};

/// What a hidden value reads as.
pub const HIDDEN: &str = "[hidden]";

/// Replaces secret values by `[hidden]`.
pub fn mask(config: &mut Properties) {
    for (k, v) in config.iter_mut() {
        let shown = display_value(k, v);
        if shown != v.as_str() {
            *v = shown.to_string();
        }
    }
}

/// Masks a ConnectorInfo's configuration.
pub fn mask_info(mut info: ConnectorInfo) -> ConnectorInfo {
    mask(&mut info.config);
    info
}

/// Masks every task configuration.
pub fn mask_tasks(mut tasks: Vec<TaskInfo>) -> Vec<TaskInfo> {
    for t in &mut tasks {
        mask(&mut t.config);
    }
    tasks
}

/// Puts the stored values back where a request sent `[hidden]`.
pub fn restore_hidden(new: &mut Properties, stored: Option<&Properties>) -> Result<(), ApiError> {
    for (k, v) in new.iter_mut() {
        if v == HIDDEN {
            match stored.and_then(|s| s.get(k)) {
                Some(old) => *v = old.clone(),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "'{k}' is '{HIDDEN}' but no value is stored for it: give the real value or a ${{file:...}}/${{env:...}} reference"
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn secrets_are_hidden_and_round_trip() {
        let stored = props(&[
            ("aws.secretKey", "s3cr3t"),
            ("aws.accessKeyId", "AKIA1"),
            ("producer.sasl.jaas.config", "${file:/etc/jaas:cfg}"),
            ("aws.s3.bucket", "b"),
        ]);
        let mut shown = stored.clone();
        mask(&mut shown);
        assert_eq!(shown["aws.secretKey"], HIDDEN);
        assert_eq!(shown["aws.accessKeyId"], HIDDEN);
        assert_eq!(shown["producer.sasl.jaas.config"], "${file:/etc/jaas:cfg}");
        assert_eq!(shown["aws.s3.bucket"], "b");
        let mut back = shown.clone();
        back.insert("aws.s3.bucket".into(), "other".into());
        restore_hidden(&mut back, Some(&stored)).unwrap();
        assert_eq!(back["aws.secretKey"], "s3cr3t");
        assert_eq!(back["aws.s3.bucket"], "other");
        let mut fresh = props(&[("aws.secretKey", HIDDEN)]);
        assert!(restore_hidden(&mut fresh, None).is_err());
    }
}
