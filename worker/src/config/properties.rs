//! Reads Java `.properties` files (escapes, continuations, `=`/`:` separators) with the
//! `java-properties` crate, and connector files written as JSON (`{"name", "config"}` or a flat
//! map), as `connect-standalone.sh` accepts both.

use super::ConfigError;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// A flat string map of settings, sorted so output is stable.
pub type Properties = BTreeMap<String, String>;

/// Parses `.properties` text, already decoded, with Java's rules: `\u` escapes decoded,
/// surrogate pairs included.
pub fn parse_properties(text: &str, origin: &str) -> Result<Properties, ConfigError> {
    let text = join_surrogate_escapes(text);
    let mut map = Properties::new();
    java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8)
        .read_into(|k, v| {
            map.insert(k, v);
        })
        .map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
    Ok(map)
}

/// A `.properties` file's bytes as Java's `Properties.load` of a stream reads them (Kafka's
/// scripts load worker and connector files so): ISO-8859-1, one character per byte.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Java's `Properties.store` writes a character beyond the Basic Multilingual Plane (an emoji
/// in a password, say) as two `\u` escapes, a UTF-16 surrogate pair, which Java reads back but
/// the `java-properties` crate refuses; each such escaped pair becomes the character itself
/// before the crate parses the text. A lone surrogate is left for the crate to refuse.
fn join_surrogate_escapes(text: &str) -> Cow<'_, str> {
    if !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied, mut backslashes) = (0, 0, 0usize);
    while i < bytes.len() {
        // A backslash after an even run of them escapes what follows; after an odd run it is
        // itself escaped.
        if bytes[i] == b'\\'
            && backslashes % 2 == 0
            && let Some(c) = surrogate_pair(&text[i..])
        {
            out.push_str(&text[copied..i]);
            out.push(c);
            i += 12;
            copied = i;
            backslashes = 0;
            continue;
        }
        backslashes = if bytes[i] == b'\\' {
            backslashes + 1
        } else {
            0
        };
        i += 1;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The character that `s` starts with when it starts with an escaped surrogate pair
/// (`\uD83D\uDE00`).
fn surrogate_pair(s: &str) -> Option<char> {
    let unit = |at: usize| {
        let esc = s.get(at..at + 6)?;
        let hex = esc.strip_prefix("\\u")?;
        u16::from_str_radix(hex, 16).ok()
    };
    let high = unit(0).filter(|u| (0xD800..0xDC00).contains(u))?;
    let low = unit(6).filter(|u| (0xDC00..0xE000).contains(u))?;
    char::decode_utf16([high, low]).next()?.ok()
}

/// Reads a `.properties` file (ISO-8859-1, as Java reads it).
pub fn read_properties(path: &Path) -> Result<Properties, ConfigError> {
    let bytes = read_bytes(path)?;
    parse_properties(&latin1(&bytes), &path.display().to_string())
}

/// Reads a connector file: JSON (`{"name":..,"config":{..}}` or a flat object, UTF-8) when it
/// starts with `{`, `.properties` (ISO-8859-1) otherwise. Values in JSON may be strings,
/// numbers or booleans.
pub fn read_connector_file(path: &Path) -> Result<Properties, ConfigError> {
    let bytes = read_bytes(path)?;
    let origin = path.display().to_string();
    if bytes.trim_ascii_start().starts_with(b"{") {
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Parse {
            path: origin.clone(),
            message: format!("a JSON connector file must be UTF-8: {e}"),
        })?;
        parse_connector_json(&text, &origin)
    } else {
        parse_properties(&latin1(&bytes), &origin)
    }
}

/// Parses a JSON connector definition into a flat map that includes `name`.
pub fn parse_connector_json(text: &str, origin: &str) -> Result<Properties, ConfigError> {
    let parse_err = |message: String| ConfigError::Parse {
        path: origin.to_string(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| parse_err("expected a JSON object".into()))?;
    let mut out = Properties::new();
    let (flat, name) = match obj.get("config") {
        Some(serde_json::Value::Object(config)) => (config, obj.get("name")),
        Some(_) => return Err(parse_err("'config' must be a JSON object".into())),
        None => (obj, None),
    };
    for (k, v) in flat {
        out.insert(k.clone(), json_scalar(k, v).map_err(parse_err)?);
    }
    if let Some(name) = name {
        out.insert("name".into(), json_scalar("name", name).map_err(parse_err)?);
    }
    Ok(out)
}

/// Connect accepts strings, numbers and booleans as config values and keeps them as strings.
pub fn json_scalar(key: &str, v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!(
            "value of '{key}' must be a string, number or boolean"
        )),
    }
}

/// Properties from `(key, value)` pairs, for unit tests.
#[cfg(test)]
pub fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_rules_apply() {
        let text = "# comment\n! also comment\na=1\nb : two\nc three\nlong = x\\\n    y\nesc=tab\\tnl\\nu\\u0041\nkey\\ with\\ space=v\nempty=\n";
        let p = parse_properties(text, "t").unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "two");
        assert_eq!(p["c"], "three");
        assert_eq!(p["long"], "xy");
        assert_eq!(p["esc"], "tab\tnl\nuA");
        assert_eq!(p["key with space"], "v");
        assert_eq!(p["empty"], "");
    }

    #[test]
    fn json_connector_files_in_both_shapes() {
        let nested = r#"{"name":"s3","config":{"connector.class":"X","tasks.max":2,"flag":true}}"#;
        let p = parse_connector_json(nested, "t").unwrap();
        assert_eq!(p["name"], "s3");
        assert_eq!(p["tasks.max"], "2");
        assert_eq!(p["flag"], "true");
        let flat = r#"{"name":"s3","connector.class":"X"}"#;
        assert_eq!(parse_connector_json(flat, "t").unwrap()["name"], "s3");
    }

    #[test]
    fn json_rejects_nested_values_with_the_key_named() {
        let err = parse_connector_json(r#"{"config":{"a":{"b":1}}}"#, "t").unwrap_err();
        assert!(err.to_string().contains("'a'"), "{err}");
    }

    proptest::proptest! {
        /// Any text, however broken (lone escapes, `\u` without digits, control characters),
        /// parses or is refused with an error; never a panic.
        #[test]
        fn any_properties_text_parses_or_is_refused(text in "\\PC*|[=:\\\\ \t\n\ru0-9a-fA-F#!]{0,64}") {
            let _ = parse_properties(&text, "fuzz");
        }

        /// What a `.properties` writer puts out (escaped keys and values) reads back the same,
        /// characters beyond the Basic Multilingual Plane (two `\u` escapes) included.
        #[test]
        fn written_properties_read_back(
            pairs in proptest::collection::btree_map(
                "[a-z][a-z0-9._-]{0,15}",
                "[\\x{9}\\x{a}\\x{d}\\x{20}-\\x{d7ff}\\x{e000}-\\x{fffd}\\x{10000}-\\x{10ffff}]{0,20}",
                0..8,
            )
        ) {
            let text: String = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}\n", escape_value(v)))
                .collect();
            let read = parse_properties(&text, "fuzz").unwrap();
            proptest::prop_assert_eq!(read, pairs);
        }

        /// Any text as a JSON connector file is a connector or an error; never a panic.
        #[test]
        fn any_connector_json_parses_or_is_refused(text in "\\PC*|\\{[\"a-z:,{}\\[\\] 0-9.]{0,40}\\}") {
            let _ = parse_connector_json(&text, "fuzz");
        }
    }

    #[test]
    fn a_surrogate_pair_escape_reads_as_the_character_java_wrote() {
        // Java's Properties.store output for "p\u{1F600}ss" and an escaped backslash.
        let read = parse_properties(
            "password=p\\uD83D\\uDE00ss\nkey.\\uD83D\\uDE00=\\\\\\uD83D\\uDE00\n",
            "worker.properties",
        )
        .unwrap();
        assert_eq!(read["password"], "p\u{1F600}ss");
        assert_eq!(read["key.\u{1F600}"], "\\\u{1F600}");
        let read = parse_properties("k=\\u00A1\\uD83D\\uDE00\n", "worker.properties").unwrap();
        assert_eq!(
            read["k"], "\u{A1}\u{1F600}",
            "a BMP escape before the pair stays itself"
        );
        // What the operator renders for such a value.
        let read = parse_properties("client.id=\\u00E9\\uD83D\\uDE00\\u007F\n", "w").unwrap();
        assert_eq!(read["client.id"], "\u{e9}\u{1F600}\u{7f}");
    }

    #[test]
    fn files_are_read_as_java_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        // `.properties`: ISO-8859-1, so a Latin-1 byte is its character and UTF-8 bytes are
        // two characters, as in Java (write `\u00e9` to be safe in both).
        let latin = read_properties(&file("a.properties", b"k=caf\xe9\n")).unwrap();
        assert_eq!(latin["k"], "caf\u{e9}");
        let utf8 = read_properties(&file("b.properties", "k=caf\u{e9}\n".as_bytes())).unwrap();
        assert_eq!(utf8["k"], "caf\u{c3}\u{a9}");
        let props = read_connector_file(&file("c.properties", b"name=n\nk=caf\xe9\n")).unwrap();
        assert_eq!(props["k"], "caf\u{e9}");
        // JSON connector files are UTF-8, as Jackson reads them.
        let json = "  {\"name\": \"n\", \"config\": {\"k\": \"caf\u{e9}\"}}";
        let props = read_connector_file(&file("d.json", json.as_bytes())).unwrap();
        assert_eq!(props["k"], "caf\u{e9}");
        let e = read_connector_file(&file("e.json", b"{\"k\": \"\xe9\"}")).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }

    #[test]
    fn an_escaped_backslash_before_u_is_not_an_escape() {
        // Each `\\` is one backslash, so what follows is text, not a surrogate pair.
        let read = parse_properties("path=C:\\\\uD83D\\\\uDE00\n", "worker.properties").unwrap();
        assert_eq!(read["path"], "C:\\uD83D\\uDE00");
    }

    #[test]
    fn a_lone_surrogate_escape_is_refused_with_the_line_named() {
        let err = parse_properties("a=b\npassword=\\uD83D\n", "worker.properties").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("worker.properties") && text.contains("line_number = 2"),
            "{text}"
        );
    }

    /// Escapes a value the way Java's `Properties.store` does (leading spaces, backslashes,
    /// line ends, non-ASCII as `\uXXXX`).
    fn escape_value(v: &str) -> String {
        let mut out = String::new();
        for (i, c) in v.chars().enumerate() {
            match c {
                ' ' if i == 0 => out.push_str("\\ "),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{0c}' => out.push_str("\\f"),
                '=' | ':' | '#' | '!' => {
                    out.push('\\');
                    out.push(c);
                }
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04X}"));
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}
