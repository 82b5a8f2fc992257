//! Instaclustr v0 golden bytes, written by hand from the specification (not by the writer).

use skiff_format::{
    Compression, Format, Header, ObjectWriter, Record, TimestampType, decode, summarize,
};

/// Parses hex with whitespace and `#` comments.
fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

const GOLDEN: &str = "
    00 00 00 00                 # int32 version 0
    # record: offset 0, timestamp 1700000000000, key \"k1\", value \"hello\", 2 headers
    00 00 00 00 00 00 00 00     # offset 0
    00 00 01 8b cf e5 68 00     # timestamp 1700000000000
    00 00 00 02                 # key length 2
    00 00 00 05                 # value length 5
    00 00 00 02                 # header count 2
    6b 31                       # key \"k1\"
    68 65 6c 6c 6f              # value \"hello\"
    00 00 00 01  68             # header key length 1, \"h\"
    00 00 00 02  01 ff          # header value length 2, 01 ff
    00 00 00 01  6e             # header key length 1, \"n\"
    ff ff ff ff                 # header value null
    # record: offset 5 (a gap), timestamp -1, null key, tombstone, no headers
    00 00 00 00 00 00 00 05
    ff ff ff ff ff ff ff ff
    ff ff ff ff                 # key null
    ff ff ff ff                 # value null
    00 00 00 00                 # no headers
    # record: offset 6, timestamp 1, empty key, empty value, header \"e\" with empty value
    00 00 00 00 00 00 00 06
    00 00 00 00 00 00 00 01
    00 00 00 00                 # key length 0
    00 00 00 00                 # value length 0
    00 00 00 01                 # header count 1
    00 00 00 01  65             # header key \"e\"
    00 00 00 00                 # header value length 0
";

fn golden_records() -> Vec<Record> {
    vec![
        Record {
            offset: 0,
            timestamp: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: Some(b"k1".to_vec()),
            value: Some(b"hello".to_vec()),
            headers: vec![
                Header {
                    key: "h".into(),
                    value: Some(vec![0x01, 0xff]),
                },
                Header {
                    key: "n".into(),
                    value: None,
                },
            ],
        },
        Record {
            offset: 5,
            timestamp: -1,
            timestamp_type: TimestampType::NotAvailable,
            key: None,
            value: None,
            headers: vec![],
        },
        Record {
            offset: 6,
            timestamp: 1,
            timestamp_type: TimestampType::CreateTime,
            key: Some(vec![]),
            value: Some(vec![]),
            headers: vec![Header {
                key: "e".into(),
                value: Some(vec![]),
            }],
        },
    ]
}

#[test]
fn writer_produces_the_golden_bytes() {
    let mut writer = ObjectWriter::new(Format::InstaclustrV0, Compression::None);
    for record in golden_records() {
        writer.push(&record);
    }
    assert_eq!(writer.record_count(), 3);
    assert_eq!(writer.first_offset(), Some(0));
    assert_eq!(writer.last_offset(), Some(6));
    assert_eq!(writer.encoded_len(), hex(GOLDEN).len());
    assert_eq!(writer.finish(), hex(GOLDEN));
}

#[test]
fn compression_is_ignored_for_v0() {
    for compression in [Compression::Zstd, Compression::Lz4, Compression::Gzip] {
        let mut writer = ObjectWriter::new(Format::InstaclustrV0, compression);
        for record in golden_records() {
            writer.push(&record);
        }
        assert_eq!(writer.finish(), hex(GOLDEN), "{compression}");
    }
}

#[test]
fn reader_decodes_the_golden_bytes() {
    let decoded = decode(&hex(GOLDEN)).unwrap();
    assert_eq!(decoded.format, Format::InstaclustrV0);
    assert_eq!(decoded.summary, None);
    assert_eq!(decoded.records, golden_records());
}

#[test]
fn v0_has_no_summary() {
    assert_eq!(summarize(&hex(GOLDEN)).unwrap(), None);
    assert_eq!(summarize(&hex("00 00 00 00")).unwrap(), None);
}

#[test]
fn empty_object_is_the_version_field_alone() {
    let writer = ObjectWriter::new(Format::InstaclustrV0, Compression::None);
    assert_eq!(writer.encoded_len(), 4);
    assert_eq!(writer.finish(), hex("00 00 00 00"));
    assert!(decode(&hex("00 00 00 00")).unwrap().records.is_empty());
}

#[test]
fn timestamp_type_is_not_stored_in_v0() {
    let mut record = golden_records().remove(0);
    record.timestamp_type = TimestampType::LogAppendTime;
    let mut writer = ObjectWriter::new(Format::InstaclustrV0, Compression::None);
    writer.push(&record);
    let body = writer.finish();
    let decoded = decode(&body).unwrap().records.remove(0);
    assert_eq!(decoded.timestamp_type, TimestampType::CreateTime);
    record.timestamp_type = TimestampType::CreateTime;
    assert_eq!(decoded, record);
}

#[test]
fn truncation_error_names_position_record_and_sizes() {
    let mut record = golden_records().remove(0);
    record.value = Some(vec![7; 100]);
    let mut writer = ObjectWriter::new(Format::InstaclustrV0, Compression::None);
    writer.push(&record);
    let body = writer.finish();
    // version 4 + fixed 28 + key 2 = value starts at byte 34; keep 12 value bytes.
    let error = decode(&body[..34 + 12]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "object truncated at byte 34 inside record 0 (offset 0): expected 100 value bytes, found 12"
    );
}
