//! Fuzzes object key parsing, which a restore applies to every key it lists, the bucket's
//! foreign files included: any prefix and key (the input up to its first newline, and the rest)
//! give a result or `None`, never a panic, and a key that parses is exactly the canonical key of
//! what it parsed to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_format::{normalize_prefix, parse_object_key};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (prefix, key) = text.split_once('\n').unwrap_or(("", text));
    let Some(parsed) = parse_object_key(prefix, key) else {
        return;
    };
    assert!(parsed.first_offset >= 0 && parsed.first_offset <= parsed.last_offset);
    assert!(parsed.partition >= 0);
    assert_eq!(parsed.to_key(prefix), key);
    assert!(key.starts_with(&normalize_prefix(prefix)));
});
