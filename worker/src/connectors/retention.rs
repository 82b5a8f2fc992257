//! Restored records keep their original timestamps, so a target topic with time retention
//! deletes the older ones at the broker's next retention check, minutes after a restore that
//! looked complete. The restore warns about it as soon as it writes such a record.

use crate::config::client::ClientRole;
use crate::config::connector_clients::ConnectorClients;
use crate::runtime::TaskError;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The topic's `retention.ms` when the broker deletes records by time (`cleanup.policy`
/// includes `delete` and `retention.ms` is not -1); `None` when it keeps them.
pub async fn time_retention(
    clients: &ConnectorClients,
    topic: &str,
) -> Result<Option<i64>, TaskError> {
    let admin: AdminClient<DefaultClientContext> =
        clients.client(ClientRole::Admin)?.to_rdkafka().create()?;
    let results = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await?;
    let Some(Ok(resource)) = results.into_iter().next() else {
        return Err(TaskError::Kafka(format!("cannot describe topic {topic}")));
    };
    let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
    Ok(deleting_retention(
        value("cleanup.policy").as_deref(),
        value("retention.ms").as_deref(),
    ))
}

/// `retention.ms` when it deletes records, from the two topic settings.
fn deleting_retention(cleanup_policy: Option<&str>, retention_ms: Option<&str>) -> Option<i64> {
    let deletes = cleanup_policy
        .unwrap_or("delete")
        .split(',')
        .any(|p| p.trim() == "delete");
    let ms = retention_ms?.trim().parse::<i64>().ok()?;
    (deletes && ms >= 0).then_some(ms)
}

/// The warning for restoring a record with `timestamp` into `topic`, when the topic's time
/// retention (`retention_ms`) has already passed for it at `now` (both ms since the epoch).
pub fn warning(topic: &str, retention_ms: i64, timestamp: i64, now: i64) -> Option<String> {
    (timestamp >= 0 && timestamp < now.saturating_sub(retention_ms)).then(|| {
        format!(
            "target topic '{topic}' deletes records older than retention.ms={retention_ms}, and the restored records are older (timestamp {timestamp}): the broker will delete them at its next retention check. Set retention.ms=-1 (or a longer retention) on '{topic}' and restart the restore, or restore a newer range with restore.timestamp.from"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_time_deletion_counts() {
        assert_eq!(
            deleting_retention(Some("delete"), Some("604800000")),
            Some(604800000)
        );
        assert_eq!(
            deleting_retention(Some("compact,delete"), Some("1000")),
            Some(1000)
        );
        assert_eq!(deleting_retention(None, Some("1000")), Some(1000));
        assert_eq!(deleting_retention(Some("compact"), Some("1000")), None);
        assert_eq!(deleting_retention(Some("delete"), Some("-1")), None);
        assert_eq!(deleting_retention(Some("delete"), None), None);
    }

    #[test]
    fn warns_only_for_records_past_retention() {
        let day = 86_400_000;
        let now = 1_800_000_000_000;
        let w = warning("orders", 7 * day, now - 8 * day, now).unwrap();
        assert!(
            w.contains("'orders'") && w.contains("retention.ms=604800000"),
            "{w}"
        );
        assert!(w.contains("retention.ms=-1"), "the fix is named: {w}");
        assert_eq!(warning("orders", 7 * day, now - 6 * day, now), None);
        assert_eq!(warning("orders", 7 * day, -1, now), None);
    }
}
