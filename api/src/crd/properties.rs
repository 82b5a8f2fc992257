//! Free-form property maps (`config:` blocks) whose values may be written as YAML strings,
//! numbers or booleans, and their normalisation to the flat string maps Kafka Connect uses.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;
use std::collections::BTreeMap;

/// A `config:` block: property name to scalar value.
pub type PropertyMap = BTreeMap<String, Value>;

/// Schema of a [`PropertyMap`]: an object whose values Kubernetes keeps as written.
pub(crate) fn property_map_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "x-kubernetes-preserve-unknown-fields": true },
        "description": "Properties as a flat map; values may be strings, numbers or booleans."
    })
}

/// A property whose value is not a scalar, named so the error can point at the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("property {key:?} must be a string, number or boolean")]
pub struct PropertyError {
    /// The offending property name.
    pub key: String,
}

/// The string form of one property value, as Kafka Connect echoes it; `None` for null, lists
/// and maps, which properties cannot hold.
pub fn property_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The flat string map of a [`PropertyMap`], or the first property that is not a scalar.
pub fn property_strings(map: &PropertyMap) -> Result<BTreeMap<String, String>, PropertyError> {
    map.iter()
        .map(|(k, v)| {
            property_string(v)
                .map(|s| (k.clone(), s))
                .ok_or_else(|| PropertyError { key: k.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_become_strings() {
        let map: PropertyMap =
            serde_json::from_value(json!({"a": "x", "b": 10, "c": true, "d": 1.5})).unwrap();
        let out = property_strings(&map).unwrap();
        assert_eq!(out["a"], "x");
        assert_eq!(out["b"], "10");
        assert_eq!(out["c"], "true");
        assert_eq!(out["d"], "1.5");
    }

    #[test]
    fn nested_values_are_refused_by_key() {
        let map: PropertyMap = serde_json::from_value(json!({"ok": 1, "bad": {"x": 1}})).unwrap();
        assert_eq!(property_strings(&map).unwrap_err().key, "bad");
    }
}
