//! Object keys: `<prefix><topic>/<partition>/<first %019d>-<last %019d>`, Instaclustr's layout,
//! zero-padded so that listing order is offset order.

/// Digits in an offset in a key.
const OFFSET_DIGITS: usize = 19;
/// Kafka's longest topic name.
const MAX_TOPIC_LEN: usize = 249;

/// The parts of a backup object's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// The source topic.
    pub topic: String,
    /// The source partition.
    pub partition: i32,
    /// Offset of the object's first record.
    pub first_offset: i64,
    /// Offset of the object's last record.
    pub last_offset: i64,
}

impl ObjectKey {
    /// The key under `prefix`.
    pub fn to_key(&self, prefix: &str) -> String {
        object_key(
            prefix,
            &self.topic,
            self.partition,
            self.first_offset,
            self.last_offset,
        )
    }
}

/// A prefix as Instaclustr uses it: trimmed, blank becomes "", otherwise it ends with '/'.
pub fn normalize_prefix(prefix: &str) -> String {
    let prefix = prefix.trim();
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// The key of the object holding offsets `first..=last` of a partition (offsets are
/// non-negative, as in Kafka; the prefix is normalised first).
pub fn object_key(prefix: &str, topic: &str, partition: i32, first: i64, last: i64) -> String {
    format!(
        "{}{topic}/{partition}/{first:0width$}-{last:0width$}",
        normalize_prefix(prefix),
        width = OFFSET_DIGITS
    )
}

/// The parts of `key` when it is a backup object under `prefix`, `None` for anything else
/// (other files, deeper paths, non-canonical numbers, illegal topic names).
pub fn parse_object_key(prefix: &str, key: &str) -> Option<ObjectKey> {
    let rest = key.strip_prefix(normalize_prefix(prefix).as_str())?;
    let mut parts = rest.split('/');
    let (topic, partition, range) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_topic_name(topic) {
        return None;
    }
    let partition = parse_partition(partition)?;
    let (first, last) = range.split_once('-')?;
    let (first_offset, last_offset) = (parse_offset(first)?, parse_offset(last)?);
    (first_offset <= last_offset).then(|| ObjectKey {
        topic: topic.to_owned(),
        partition,
        first_offset,
        last_offset,
    })
}

/// Whether Kafka accepts `name` as a topic name.
fn is_topic_name(name: &str) -> bool {
    (1..=MAX_TOPIC_LEN).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A partition written as `%d`: digits without a sign or leading zeros.
fn parse_partition(text: &str) -> Option<i32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// An offset written as `%019d`.
fn parse_offset(text: &str) -> Option<i64> {
    (text.len() == OFFSET_DIGITS && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}
