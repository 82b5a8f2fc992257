//! Object key layout: Instaclustr's, zero-padded, with foreign keys rejected.

use skiff_format::{ObjectKey, normalize_prefix, object_key, parse_object_key};

#[test]
fn prefixes_are_normalised_like_instaclustr() {
    assert_eq!(normalize_prefix(""), "");
    assert_eq!(normalize_prefix("  "), "");
    assert_eq!(normalize_prefix("a"), "a/");
    assert_eq!(normalize_prefix("a/"), "a/");
    assert_eq!(normalize_prefix(" a/b "), "a/b/");
}

#[test]
fn keys_are_zero_padded_and_sort_by_offset() {
    assert_eq!(
        object_key("", "orders", 3, 0, 41),
        "orders/3/0000000000000000000-0000000000000000041"
    );
    assert_eq!(
        object_key("backups", "t", 0, 5, i64::MAX),
        "backups/t/0/0000000000000000005-9223372036854775807"
    );
    let mut keys: Vec<String> = [(1000, 1999), (9, 99), (100, 999)]
        .iter()
        .map(|&(first, last)| object_key("p/", "t", 0, first, last))
        .collect();
    keys.sort();
    assert_eq!(keys[0], object_key("p/", "t", 0, 9, 99));
    assert_eq!(keys[2], object_key("p/", "t", 0, 1000, 1999));
}

#[test]
fn keys_round_trip() {
    for prefix in ["", "backups/", "a/b/c/", "x"] {
        for (topic, partition, first, last) in [
            ("orders", 0, 0, 0),
            ("my.topic_name-2", 2_147_483_647, 10, 20),
            ("t", 10, 0, i64::MAX),
        ] {
            let key = object_key(prefix, topic, partition, first, last);
            let parsed = parse_object_key(prefix, &key).unwrap();
            assert_eq!(
                parsed,
                ObjectKey {
                    topic: topic.into(),
                    partition,
                    first_offset: first,
                    last_offset: last,
                }
            );
            assert_eq!(parsed.to_key(prefix), key);
        }
    }
}

#[test]
fn instaclustr_keys_parse() {
    let parsed = parse_object_key(
        "prefix",
        "prefix/topic/12/0000000000000000100-0000000000000000199",
    )
    .unwrap();
    assert_eq!(parsed.topic, "topic");
    assert_eq!(parsed.partition, 12);
    assert_eq!((parsed.first_offset, parsed.last_offset), (100, 199));
}

#[test]
fn foreign_keys_are_rejected() {
    let good = "t/0/0000000000000000000-0000000000000000009";
    assert!(parse_object_key("", good).is_some());
    for key in [
        "other/file.txt",
        "t/x/0000000000000000000-0000000000000000009",
        "t/-1/0000000000000000000-0000000000000000009",
        "t/01/0000000000000000000-0000000000000000009",
        "t/+1/0000000000000000000-0000000000000000009",
        "t/2147483648/0000000000000000000-0000000000000000009",
        "t/0/0-9",
        "t/0/0000000000000000000-0000000000000000009.txt",
        "t/0/0000000000000000000_0000000000000000009",
        "t/0/0000000000000000009-0000000000000000000",
        "t/0/9999999999999999999-9999999999999999999",
        "t/0/-000000000000000001-0000000000000000009",
        "t/0/0000000000000000000-0000000000000000009/",
        "deeper/t/0/0000000000000000000-0000000000000000009",
        "t$/0/0000000000000000000-0000000000000000009",
        "../0/0000000000000000000-0000000000000000009",
        "/0/0000000000000000000-0000000000000000009",
        "t/0",
        "",
    ] {
        assert_eq!(parse_object_key("", key), None, "{key}");
    }
    assert_eq!(parse_object_key("backups/", good), None);
    assert_eq!(parse_object_key("back", &format!("backups/{good}")), None);
    assert!(parse_object_key("backups", &format!("backups/{good}")).is_some());
}
