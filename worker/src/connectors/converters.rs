//! Apache Connect's three built-in converters, for the connectors that convert: the FileStream
//! pair. The S3 connectors store and restore Kafka's bytes as they are, whatever converter is
//! named, as they do in Connect with `ByteArrayConverter` (a backup must not change a byte).
//!
//! A connector's `key.converter` / `value.converter` (and `<...>.schemas.enable`) win over the
//! worker's, as in Connect. The FileStream connectors carry strings (Connect's `STRING`
//! schema), so this module turns a line into a converter's bytes and back.

use crate::config::properties::Properties;
use serde_json::Value;

/// The converter classes Skiff has, as `GET /connector-plugins?connectorsOnly=false` lists them.
pub const CLASSES: &[&str] = &[
    "org.apache.kafka.connect.converters.ByteArrayConverter",
    "org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.storage.StringConverter",
];

/// A converter, as a task applies it to one side of a record (key or value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// Bytes as they are.
    ByteArray,
    /// UTF-8 text.
    String,
    /// JSON; with `schemas`, the `{"schema", "payload"}` envelope.
    Json { schemas: bool },
}

/// The class a converter setting names, by full name or simple class name, as Connect's plugin
/// aliases accept it.
fn find(class: &str) -> Option<&'static str> {
    let class = class.trim();
    CLASSES.iter().copied().find(|full| {
        let simple = full.rsplit('.').next().unwrap_or(full);
        class == *full || class == simple
    })
}

/// What is wrong with a `key.converter` / `value.converter` value, in Connect's words.
pub fn class_error(key: &str, class: &str) -> Option<String> {
    find(class).is_none().then(|| {
        format!(
            "Invalid value {class} for configuration {key}: Class {class} could not be found. Skiff has {}",
            CLASSES.join(", ")
        )
    })
}

impl Converter {
    /// The converter of `side` (`key` or `value`): the connector's `<side>.converter`, else the
    /// worker's; `<side>.converter.schemas.enable` likewise (default true).
    pub fn of(side: &str, worker: &Properties, connector: &Properties) -> Result<Self, String> {
        let key = format!("{side}.converter");
        let setting = |k: &str| {
            connector
                .get(k)
                .or_else(|| worker.get(k))
                .map(|v| v.trim().to_string())
        };
        let class = setting(&key).unwrap_or_else(|| CLASSES[1].to_string());
        let Some(full) = find(&class) else {
            return Err(class_error(&key, &class).unwrap_or_default());
        };
        Ok(match full.rsplit('.').next().unwrap_or(full) {
            "ByteArrayConverter" => Converter::ByteArray,
            "StringConverter" => Converter::String,
            _ => {
                let schemas_key = format!("{key}.schemas.enable");
                let schemas = match setting(&schemas_key).as_deref() {
                    None => true,
                    Some(v) if v.eq_ignore_ascii_case("true") => true,
                    Some(v) if v.eq_ignore_ascii_case("false") => false,
                    Some(v) => {
                        return Err(format!(
                            "Invalid value {v} for configuration {schemas_key}: Expected value to be either true or false"
                        ));
                    }
                };
                Converter::Json { schemas }
            }
        })
    }

    /// A string value (Connect's `STRING` schema) as this converter writes it to Kafka.
    /// `ByteArrayConverter` takes its UTF-8 bytes (Connect's refuses strings outright).
    pub fn from_string(self, text: &str) -> Vec<u8> {
        match self {
            Converter::ByteArray | Converter::String => text.as_bytes().to_vec(),
            // Field order as Connect's JsonConverter writes it.
            Converter::Json { schemas: true } => format!(
                r#"{{"schema":{{"type":"string","optional":false}},"payload":{}}}"#,
                Value::String(text.into())
            )
            .into_bytes(),
            Converter::Json { schemas: false } => {
                Value::String(text.into()).to_string().into_bytes()
            }
        }
    }

    /// A record's bytes read through this converter, as the text Connect's FileStreamSink
    /// writes (the converted value's `toString`); `None` (a null value) is `null`.
    /// `ByteArrayConverter` writes the bytes themselves.
    pub fn to_text(self, bytes: Option<&[u8]>) -> Result<Vec<u8>, String> {
        let Some(bytes) = bytes else {
            return Ok(b"null".to_vec());
        };
        match self {
            Converter::ByteArray => Ok(bytes.to_vec()),
            Converter::String => Ok(String::from_utf8_lossy(bytes).into_owned().into_bytes()),
            Converter::Json { schemas } => {
                let value: Value = serde_json::from_slice(bytes).map_err(|e| {
                    format!("Converting byte[] to Kafka Connect data failed due to serialization error: {e}")
                })?;
                let payload = if schemas {
                    match value {
                        Value::Object(mut envelope)
                            if envelope.len() == 2
                                && envelope.contains_key("schema")
                                && envelope.contains_key("payload") =>
                        {
                            envelope.remove("payload").unwrap_or(Value::Null)
                        }
                        _ => {
                            return Err("JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.".into());
                        }
                    }
                } else {
                    value
                };
                Ok(java_text(&payload).into_bytes())
            }
        }
    }
}

/// A converted JSON value as Java's `toString` prints Connect data: maps `{k=v, ...}`, lists
/// `[a, b]`, strings bare.
fn java_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(java_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{k}={}", java_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;

    #[test]
    fn the_connectors_converter_wins_over_the_workers_and_json_is_the_default() {
        let worker = props(&[
            (
                "value.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            ("key.converter.schemas.enable", "false"),
        ]);
        let none = props(&[]);
        assert_eq!(
            Converter::of("value", &worker, &none),
            Ok(Converter::String)
        );
        assert_eq!(
            Converter::of("key", &worker, &none),
            Ok(Converter::Json { schemas: false })
        );
        assert_eq!(
            Converter::of("value", &none, &none),
            Ok(Converter::Json { schemas: true })
        );
        let connector = props(&[("value.converter", "ByteArrayConverter")]);
        assert_eq!(
            Converter::of("value", &worker, &connector),
            Ok(Converter::ByteArray)
        );
        let bad = props(&[("value.converter", "io.confluent.connect.avro.AvroConverter")]);
        let err = Converter::of("value", &worker, &bad).unwrap_err();
        assert!(
            err.starts_with("Invalid value io.confluent.connect.avro.AvroConverter for configuration value.converter: Class io.confluent.connect.avro.AvroConverter could not be found."),
            "{err}"
        );
        let flag = props(&[("value.converter.schemas.enable", "maybe")]);
        assert!(
            Converter::of("value", &none, &flag)
                .unwrap_err()
                .contains("value.converter.schemas.enable")
        );
    }

    #[test]
    fn strings_are_written_as_each_converter_writes_them() {
        assert_eq!(
            Converter::Json { schemas: true }.from_string("a \"b\""),
            br#"{"schema":{"type":"string","optional":false},"payload":"a \"b\""}"#
        );
        assert_eq!(
            Converter::Json { schemas: false }.from_string("x"),
            br#""x""#
        );
        assert_eq!(Converter::String.from_string("x"), b"x");
        assert_eq!(Converter::ByteArray.from_string("x"), b"x");
    }

    #[test]
    fn records_are_read_back_as_connects_file_sink_writes_them() {
        let json = Converter::Json { schemas: true };
        assert_eq!(
            json.to_text(Some(
                br#"{"schema":{"type":"string","optional":false},"payload":"line"}"#
            )),
            Ok(b"line".to_vec())
        );
        assert_eq!(json.to_text(None), Ok(b"null".to_vec()));
        let plain = json.to_text(Some(br#"{"a":1}"#)).unwrap_err();
        assert!(plain.contains("set schemas.enable=false"), "{plain}");
        assert!(
            json.to_text(Some(b"{oops"))
                .unwrap_err()
                .starts_with("Converting byte[] to Kafka Connect data failed")
        );
        let schemaless = Converter::Json { schemas: false };
        assert_eq!(
            schemaless.to_text(Some(br#"{"a":1,"b":[true,"x"],"c":null}"#)),
            Ok(b"{a=1, b=[true, x], c=null}".to_vec())
        );
        assert_eq!(
            Converter::String.to_text(Some(b"text")),
            Ok(b"text".to_vec())
        );
        assert_eq!(
            Converter::ByteArray.to_text(Some(&[0xff, 0x00])),
            Ok(vec![0xff, 0x00])
        );
    }
}
