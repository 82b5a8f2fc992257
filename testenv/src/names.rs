//! Names unique across test processes and runs, for topics, buckets and namespaces that tests
//! create on shared servers.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest name valid everywhere: S3 buckets and Kubernetes namespaces allow 63 characters.
const MAX_LEN: usize = 63;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Returns `prefix-<pid>-<counter>-<random>`, lowercase, at most 63 characters and valid as a
/// Kafka topic, an S3 bucket and a Kubernetes namespace name. Characters of `prefix` outside
/// `[a-z0-9-]` become `-`, and `prefix` is shortened when the name would be too long.
pub fn unique_name(prefix: &str) -> String {
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("-{}-{count}-{}", std::process::id(), random_hex());
    let mut clean: String = prefix
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(MAX_LEN.saturating_sub(suffix.len()));
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "t" } else { clean };
    format!("{clean}{suffix}")
}

/// Six hex digits from the standard library's randomly keyed hasher and the clock.
fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let hash = RandomState::new().hash_one(nanos);
    format!("{:06x}", hash & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    fn valid(name: &str) -> bool {
        (3..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
    }

    #[test]
    fn names_are_valid_and_distinct() {
        let a = unique_name("My_Topic.Name");
        let b = unique_name("My_Topic.Name");
        assert!(valid(&a), "{a}");
        assert!(a.starts_with("my-topic-name-"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn long_and_empty_prefixes_fit() {
        let long = unique_name(&"x".repeat(100));
        assert!(valid(&long), "{long}");
        let empty = unique_name("--");
        assert!(valid(&empty), "{empty}");
    }
}
