//! Property tests: arbitrary records round-trip, arbitrary bytes never panic.

use proptest::prelude::*;
use skiff_format::{
    Compression, Format, Header, ObjectWriter, Record, TimestampType, decode, object_key,
    parse_object_key, summarize,
};

fn bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))
}

fn records() -> impl Strategy<Value = Vec<Record>> {
    let header = (".{0,8}", bytes()).prop_map(|(key, value)| Header { key, value });
    let record = (
        0i64..1000,
        -1i64..=i64::MAX,
        0u8..3,
        bytes(),
        bytes(),
        proptest::collection::vec(header, 0..4),
    );
    proptest::collection::vec(record, 0..12).prop_map(|rows| {
        let mut offset = 0;
        rows.into_iter()
            .map(|(gap, timestamp, kind, key, value, headers)| {
                offset += gap + 1;
                Record {
                    offset,
                    timestamp,
                    timestamp_type: match kind {
                        0 => TimestampType::NotAvailable,
                        1 => TimestampType::CreateTime,
                        _ => TimestampType::LogAppendTime,
                    },
                    key,
                    value,
                    headers,
                }
            })
            .collect()
    })
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Zstd),
        Just(Compression::Lz4),
        Just(Compression::Gzip),
    ]
}

proptest! {
    #[test]
    fn skiff_round_trips(records in records(), compression in compression()) {
        let mut writer = ObjectWriter::new(Format::SkiffV1, compression);
        for record in &records {
            writer.try_push(record).unwrap();
        }
        let body = writer.finish();
        let decoded = decode(&body).unwrap();
        prop_assert_eq!(decoded.summary, summarize(&body).unwrap());
        prop_assert_eq!(decoded.records, records);
    }

    #[test]
    fn v0_round_trips_byte_for_byte(records in records()) {
        let mut writer = ObjectWriter::new(Format::InstaclustrV0, Compression::None);
        for record in &records {
            writer.push(record);
        }
        let body = writer.finish();
        let decoded = decode(&body).unwrap();
        prop_assert_eq!(decoded.records.len(), records.len());
        let mut again = ObjectWriter::new(Format::InstaclustrV0, Compression::None);
        for record in &decoded.records {
            again.push(record);
        }
        prop_assert_eq!(again.finish(), body);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..256), lead in 0u8..3) {
        match (lead, data.len() >= 4) {
            (0, true) => data[..4].copy_from_slice(&[0, 0, 0, 0]),
            (1, true) => data[..4].copy_from_slice(b"SKFB"),
            _ => {}
        }
        let _ = decode(&data);
        let _ = summarize(&data);
    }

    #[test]
    fn keys_round_trip(topic in "[a-zA-Z0-9._-]{1,40}", partition in 0i32.., first in 0i64.., len in 0i64..1000) {
        prop_assume!(topic != "." && topic != "..");
        let last = first.saturating_add(len);
        let key = object_key("pre", &topic, partition, first, last);
        let parsed = parse_object_key("pre/", &key).unwrap();
        prop_assert_eq!(parsed.to_key("pre"), key);
    }

    #[test]
    fn arbitrary_keys_never_panic(key in ".{0,80}") {
        let _ = parse_object_key("", &key);
    }
}
