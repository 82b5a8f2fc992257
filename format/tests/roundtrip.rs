//! Every format and compression round-trips every record shape.

use skiff_format::{
    Compression, Format, HEADER_LEN, HEADER_LEN_MAX, Header, MAGIC, ObjectWriter, Record, Summary,
    TimestampType, VERSION, decode, detect_format, summarize,
};

const FORMATS: [Format; 2] = [Format::InstaclustrV0, Format::SkiffV1];
const COMPRESSIONS: [Compression; 4] = [
    Compression::None,
    Compression::Zstd,
    Compression::Lz4,
    Compression::Gzip,
];

fn record(offset: i64) -> Record {
    Record {
        offset,
        timestamp: 1_700_000_000_000 + offset % 1_000_000,
        timestamp_type: TimestampType::CreateTime,
        key: Some(format!("key-{offset}").into_bytes()),
        value: Some(format!("value-{offset}").into_bytes()),
        headers: vec![],
    }
}

/// Nulls, tombstones, empty vs null, binary and repeated headers, a big value, offset gaps.
fn shapes() -> Vec<Record> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    vec![
        record(10),
        Record {
            key: None,
            ..record(11)
        },
        Record {
            value: None,
            ..record(12)
        },
        Record {
            key: Some(vec![]),
            value: Some(vec![]),
            ..record(13)
        },
        Record {
            headers: vec![
                Header {
                    key: "bin".into(),
                    value: Some(all_bytes.clone()),
                },
                Header {
                    key: "bin".into(),
                    value: Some(vec![0xff, 0x00]),
                },
                Header {
                    key: "null".into(),
                    value: None,
                },
                Header {
                    key: "empty".into(),
                    value: Some(vec![]),
                },
                Header {
                    key: "ключ-🔑".into(),
                    value: Some(b"\xc3\x28 not utf-8".to_vec()),
                },
                Header {
                    key: String::new(),
                    value: Some(vec![1]),
                },
            ],
            key: Some(all_bytes),
            ..record(20)
        },
        Record {
            timestamp: -1,
            timestamp_type: TimestampType::NotAvailable,
            ..record(21)
        },
        Record {
            timestamp: 1_600_000_000_000,
            timestamp_type: TimestampType::LogAppendTime,
            ..record(22)
        },
        Record {
            value: Some(big),
            ..record(1_000_000)
        },
        Record {
            key: None,
            value: None,
            ..record(i64::MAX)
        },
    ]
}

fn write(format: Format, compression: Compression, records: &[Record]) -> Vec<u8> {
    let mut writer = ObjectWriter::new(format, compression);
    for record in records {
        writer.try_push(record).unwrap();
    }
    writer.finish()
}

/// What v0 gives back: it does not store the timestamp type.
fn as_v0(record: &Record) -> Record {
    let timestamp_type = if record.timestamp >= 0 {
        TimestampType::CreateTime
    } else {
        TimestampType::NotAvailable
    };
    Record {
        timestamp_type,
        ..record.clone()
    }
}

#[test]
fn every_format_and_compression_round_trips() {
    let records = shapes();
    for format in FORMATS {
        for compression in COMPRESSIONS {
            let body = write(format, compression, &records);
            let decoded = decode(&body).unwrap();
            assert_eq!(decoded.format, format);
            assert_eq!(detect_format(&body).unwrap(), format);
            let expected: Vec<Record> = match format {
                Format::InstaclustrV0 => records.iter().map(as_v0).collect(),
                Format::SkiffV1 => records.clone(),
            };
            assert_eq!(decoded.records, expected, "{format} {compression}");
        }
    }
}

#[test]
fn compression_levels_apply_and_round_trip() {
    // Varied but compressible values, so the levels' outputs differ.
    let records: Vec<Record> = (0..2000)
        .map(|i| Record {
            value: Some(
                format!(
                    "event {i} from sensor {} reading {}",
                    i % 37,
                    i * 7919 % 1000
                )
                .into_bytes(),
            ),
            ..record(i)
        })
        .collect();
    for (compression, fast, small) in [(Compression::Zstd, 1, 19), (Compression::Gzip, 1, 9)] {
        let body = |level: i32| {
            let mut w = ObjectWriter::new(Format::SkiffV1, compression).with_level(Some(level));
            for r in &records {
                w.try_push(r).unwrap();
            }
            w.finish()
        };
        let (fast_body, small_body) = (body(fast), body(small));
        assert_ne!(
            fast_body, small_body,
            "{compression}: the level is not applied"
        );
        assert!(small_body.len() <= fast_body.len(), "{compression}");
        for b in [fast_body, small_body] {
            assert_eq!(b[8], compression as u8, "the header names the codec");
            assert_eq!(decode(&b).unwrap().records, records);
        }
    }
}

#[test]
fn skiff_summary_is_in_the_header() {
    let records = shapes();
    let expected = Summary {
        first_offset: 10,
        last_offset: i64::MAX,
        record_count: records.len() as u64,
        min_timestamp: -1,
        max_timestamp: 1_700_000_000_000 + i64::MAX % 1_000_000,
    };
    for compression in COMPRESSIONS {
        let body = write(Format::SkiffV1, compression, &records);
        assert_eq!(&body[..4], &MAGIC);
        assert_eq!(&body[4..6], &VERSION.to_be_bytes());
        assert_eq!(decode(&body).unwrap().summary, Some(expected));
        assert_eq!(summarize(&body[..HEADER_LEN_MAX]).unwrap(), Some(expected));
        assert_eq!(summarize(&body[..HEADER_LEN]).unwrap(), Some(expected));
        assert!(summarize(&body[..HEADER_LEN - 1]).is_err());
    }
}

#[test]
fn compression_is_recorded_and_shrinks_repetitive_data() {
    let records: Vec<Record> = (0..2000).map(record).collect();
    let plain = write(Format::SkiffV1, Compression::None, &records);
    for (code, compression) in COMPRESSIONS.into_iter().enumerate() {
        let body = write(Format::SkiffV1, compression, &records);
        assert_eq!(body[8], code as u8);
        if compression != Compression::None {
            assert!(
                body.len() * 2 < plain.len(),
                "{compression}: {} vs {}",
                body.len(),
                plain.len()
            );
        }
    }
}

#[test]
fn empty_skiff_object_round_trips() {
    for compression in COMPRESSIONS {
        let body = write(Format::SkiffV1, compression, &[]);
        let decoded = decode(&body).unwrap();
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.summary.unwrap().record_count, 0);
        assert_eq!(decoded.summary.unwrap().first_offset, -1);
    }
}

#[test]
fn writer_tracks_counts_offsets_and_size() {
    let mut writer = ObjectWriter::new(Format::SkiffV1, Compression::Zstd);
    assert_eq!(writer.encoded_len(), HEADER_LEN);
    assert_eq!(writer.record_count(), 0);
    assert_eq!(writer.first_offset(), None);
    writer.push(&record(3));
    let after_one = writer.encoded_len();
    // attributes 1 + fixed 28 + "key-3" 5 + "value-3" 7
    assert_eq!(after_one, HEADER_LEN + 41);
    writer.push(&record(9));
    assert_eq!(writer.record_count(), 2);
    assert_eq!(writer.first_offset(), Some(3));
    assert_eq!(writer.last_offset(), Some(9));
    assert!(writer.encoded_len() > after_one);
}

#[test]
fn try_push_rejects_offsets_that_do_not_increase() {
    let mut writer = ObjectWriter::new(Format::SkiffV1, Compression::None);
    writer.try_push(&record(5)).unwrap();
    let len = writer.encoded_len();
    for offset in [5, 4] {
        let error = writer.try_push(&record(offset)).unwrap_err();
        assert!(
            error.to_string().contains("does not follow offset 5"),
            "{error}"
        );
    }
    assert_eq!(writer.encoded_len(), len);
    assert_eq!(writer.record_count(), 1);
}

#[test]
fn push_keeps_out_of_order_records_and_the_summary_covers_them() {
    let mut writer = ObjectWriter::new(Format::SkiffV1, Compression::Lz4);
    for offset in [7, 3, 9] {
        writer.push(&record(offset));
    }
    assert_eq!(
        (writer.first_offset(), writer.last_offset()),
        (Some(7), Some(9))
    );
    let decoded = decode(&writer.finish()).unwrap();
    let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [7, 3, 9]);
    let summary = decoded.summary.unwrap();
    assert_eq!((summary.first_offset, summary.last_offset), (3, 9));
}

#[test]
fn summary_ranges_tell_which_objects_to_skip() {
    let summary = Summary {
        first_offset: 100,
        last_offset: 199,
        record_count: 100,
        min_timestamp: 1000,
        max_timestamp: 2000,
    };
    assert!(summary.may_contain_timestamps(2000, 3000));
    assert!(!summary.may_contain_timestamps(2001, 3000));
    assert!(summary.may_contain_timestamps(0, 1001));
    assert!(!summary.may_contain_timestamps(0, 1000));
    assert!(summary.may_contain_offsets(199, 300));
    assert!(!summary.may_contain_offsets(200, 300));
    assert!(!summary.may_contain_offsets(0, 99));
    let empty = Summary {
        record_count: 0,
        ..summary
    };
    assert!(!empty.may_contain_timestamps(i64::MIN, i64::MAX));
}

#[test]
fn names_parse_and_display() {
    assert_eq!("instaclustr-v0".parse(), Ok(Format::InstaclustrV0));
    assert_eq!("skiff-v1".parse(), Ok(Format::SkiffV1));
    assert_eq!(" Skiff ".parse(), Ok(Format::SkiffV1));
    assert!(
        "v2".parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("instaclustr-v0")
    );
    for compression in COMPRESSIONS {
        assert_eq!(compression.to_string().parse(), Ok(compression));
    }
    assert_eq!(Format::default().to_string(), "skiff-v1");
    assert_eq!(Compression::default(), Compression::Zstd);
    assert!("snappy".parse::<Compression>().is_err());
}

/// Values no codec can shrink, like encrypted or already compressed payloads.
fn random_values(count: i64, len: usize, seed: u64) -> Vec<Record> {
    let mut state = seed | 1;
    (0..count)
        .map(|i| {
            let value = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            Record {
                value: Some(value),
                ..record(i)
            }
        })
        .collect()
}

#[test]
fn incompressible_records_are_stored_uncompressed_and_round_trip() {
    let records = random_values(600, 1024, 7);
    for compression in [Compression::Zstd, Compression::Lz4, Compression::Gzip] {
        let body = write(Format::SkiffV1, compression, &records);
        assert_eq!(
            body[8],
            Compression::None as u8,
            "{compression}: random values were compressed"
        );
        assert_eq!(decode(&body).unwrap().records, records, "{compression}");
    }
}

#[test]
fn a_body_is_judged_by_all_of_it_not_by_its_start() {
    // A random first quarter, then text that compresses well: the whole body still shrinks.
    let mut records = random_values(150, 1024, 11);
    records.extend((150..800).map(|i| Record {
        value: Some(format!("{:>1000}", format!("order {i} shipped")).into_bytes()),
        ..record(i)
    }));
    let body = write(Format::SkiffV1, Compression::Zstd, &records);
    assert_eq!(
        body[8],
        Compression::Zstd as u8,
        "the body was not compressed"
    );
    let raw: usize = records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, Vec::len))
        .sum();
    assert!(
        body.len() < raw / 2,
        "{} bytes for {raw} bytes of values",
        body.len()
    );
    assert_eq!(decode(&body).unwrap().records, records);
}
