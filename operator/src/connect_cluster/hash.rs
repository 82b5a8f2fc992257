//! The config hash in the pod template: it changes when the worker properties or any referenced
//! Secret changes, so that a rotation rolls the pods and a scale does not.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A short hex digest of the rendered properties and the referenced Secrets' resourceVersions.
pub fn config_hash(properties: &str, secret_versions: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(properties.as_bytes());
    for (name, version) in secret_versions {
        hasher.update(b"\0secret\0");
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(version.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_with_properties_or_secret_versions_only() {
        let none = BTreeMap::new();
        let v1 = BTreeMap::from([("s".to_owned(), "1".to_owned())]);
        let v2 = BTreeMap::from([("s".to_owned(), "2".to_owned())]);
        let base = config_hash("a=1\n", &none);
        assert_eq!(base.len(), 16);
        assert_eq!(base, config_hash("a=1\n", &none));
        assert_ne!(base, config_hash("a=2\n", &none));
        assert_ne!(config_hash("a=1\n", &v1), config_hash("a=1\n", &v2));
        assert_ne!(base, config_hash("a=1\n", &v1));
    }
}
