//! Damaged, truncated and foreign objects give errors, never panics or garbage.

use skiff_format::{
    Compression, Format, FormatError, HEADER_LEN, Header, ObjectWriter, Record, TimestampType,
    decode, summarize,
};

const COMPRESSIONS: [Compression; 4] = [
    Compression::None,
    Compression::Zstd,
    Compression::Lz4,
    Compression::Gzip,
];

fn small_records() -> Vec<Record> {
    vec![
        Record {
            offset: 1,
            timestamp: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: Some(b"k".to_vec()),
            value: Some(b"value".to_vec()),
            headers: vec![Header {
                key: "h".into(),
                value: Some(vec![0, 1, 2]),
            }],
        },
        Record {
            offset: 2,
            timestamp: -1,
            timestamp_type: TimestampType::NotAvailable,
            key: None,
            value: None,
            headers: vec![Header {
                key: "n".into(),
                value: None,
            }],
        },
        // Repetitive, so every codec shrinks the body and is the one these tests exercise.
        Record {
            offset: 3,
            timestamp: 1_700_000_000_001,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(b"value ".repeat(50)),
            headers: vec![],
        },
    ]
}

fn write(format: Format, compression: Compression) -> Vec<u8> {
    let mut writer = ObjectWriter::new(format, compression);
    for record in small_records() {
        writer.push(&record);
    }
    let body = writer.finish();
    if format == Format::SkiffV1 {
        assert_eq!(body[8], compression as u8, "stored with {compression}");
    }
    body
}

/// Recomputes both Skiff checksums after a test edits an object on purpose.
fn reseal(body: &mut [u8]) {
    let crc = crc32c::crc32c(&body[HEADER_LEN..]);
    body[68..72].copy_from_slice(&crc.to_be_bytes());
    let crc = crc32c::crc32c(&body[..72]);
    body[72..76].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn skiff_truncated_at_any_byte_is_an_error() {
    for compression in COMPRESSIONS {
        let body = write(Format::SkiffV1, compression);
        for len in 0..body.len() {
            let error = decode(&body[..len]).unwrap_err();
            assert!(
                matches!(error, FormatError::Truncated { .. }),
                "{compression} at {len}: {error}"
            );
        }
        assert!(decode(&body).is_ok());
    }
}

#[test]
fn v0_truncated_inside_a_record_is_an_error_and_at_a_boundary_a_prefix() {
    let body = write(Format::InstaclustrV0, Compression::None);
    let records = small_records();
    let mut boundaries = 0;
    for len in 0..body.len() {
        match decode(&body[..len]) {
            Ok(decoded) => {
                boundaries += 1;
                assert!(decoded.records.len() < records.len());
                assert_eq!(decoded.records[..], records[..decoded.records.len()]);
            }
            Err(error) => assert!(matches!(error, FormatError::Truncated { .. }), "{error}"),
        }
    }
    // Only the empty object and the ends of records 0 and 1 decode: v0 cannot tell those from
    // whole.
    assert_eq!(boundaries, 3);
}

#[test]
fn flipped_bytes_in_skiff_objects_are_detected() {
    for compression in COMPRESSIONS {
        let body = write(Format::SkiffV1, compression);
        for position in 0..body.len() {
            let mut damaged = body.clone();
            damaged[position] ^= 0x5a;
            let error = decode(&damaged).unwrap_err();
            match position {
                0..4 => assert!(matches!(error, FormatError::UnknownFormat { .. })),
                4..6 => assert!(matches!(error, FormatError::UnsupportedVersion { .. })),
                6..8 => {}
                p if p < HEADER_LEN => assert!(
                    matches!(
                        error,
                        FormatError::ChecksumMismatch {
                            what: "Skiff header",
                            ..
                        }
                    ),
                    "{compression} at {position}: {error}"
                ),
                _ => assert!(
                    matches!(error, FormatError::ChecksumMismatch { what: "body", .. }),
                    "{compression} at {position}: {error}"
                ),
            }
        }
    }
}

#[test]
fn flipped_bytes_in_v0_objects_never_panic() {
    let body = write(Format::InstaclustrV0, Compression::None);
    for position in 0..body.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut damaged = body.clone();
            damaged[position] ^= mask;
            let _ = decode(&damaged);
            let _ = summarize(&damaged);
        }
    }
}

#[test]
fn foreign_objects_are_rejected_with_their_first_bytes() {
    let error = decode(b"PK\x03\x04 a zip file").unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown format: first bytes 50 4b 03 04 20 61 20 7a are neither Instaclustr v0 (00 00 00 00) nor Skiff (53 4b 46 42, \"SKFB\")"
    );
    for foreign in [
        &b"{\"k\":\"v\"}\n"[..],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0],
        &[0x28, 0xb5, 0x2f, 0xfd],
        &[0, 0, 0, 1, 0, 0],
    ] {
        assert!(matches!(
            decode(foreign),
            Err(FormatError::UnknownFormat { .. })
        ));
        assert!(summarize(foreign).is_err());
    }
    for short in [&b""[..], &[0][..], &[0, 0, 0][..], &b"SKF"[..]] {
        let error = decode(short).unwrap_err();
        assert!(error.to_string().contains("format marker"), "{error}");
    }
}

#[test]
fn v0_invalid_fields_are_reported() {
    let body = write(Format::InstaclustrV0, Compression::None);
    // Key length of record 0 (bytes 20..24) set to -2.
    let mut damaged = body.clone();
    damaged[20..24].copy_from_slice(&(-2i32).to_be_bytes());
    assert_eq!(
        decode(&damaged).unwrap_err().to_string(),
        "invalid key length -2 at byte 20 of the object inside record 0 (offset 1)"
    );
    // Header count of record 0 set to i32::MAX: no huge allocation, an error.
    let mut damaged = body.clone();
    damaged[28..32].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(decode(&damaged).is_err());
    // Header key of record 0 (at 4 + 28 + 1 + 5 + 4 = 42) made invalid UTF-8.
    let mut damaged = body.clone();
    damaged[42] = 0xff;
    let error = decode(&damaged).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("header key at byte 42 of the object inside header 0 of record 0 (offset 1) is not UTF-8"),
        "{error}"
    );
}

#[test]
fn skiff_bad_attributes_are_reported() {
    let mut body = write(Format::SkiffV1, Compression::None);
    body[HEADER_LEN] = 0x03;
    reseal(&mut body);
    assert_eq!(
        decode(&body).unwrap_err().to_string(),
        format!("invalid attributes byte 3 at byte {HEADER_LEN} of the object inside record 0")
    );
}

#[test]
fn skiff_summary_mismatch_is_reported() {
    let mut body = write(Format::SkiffV1, Compression::Zstd);
    body[28..36].copy_from_slice(&4u64.to_be_bytes());
    reseal(&mut body);
    assert_eq!(
        decode(&body).unwrap_err().to_string(),
        "summary mismatch: the Skiff header says record count 4, the body has 3"
    );
}

#[test]
fn skiff_trailing_bytes_are_reported() {
    let mut body = write(Format::SkiffV1, Compression::Lz4);
    let len = body.len();
    body.extend_from_slice(b"junk");
    assert!(matches!(
        decode(&body),
        Err(FormatError::TrailingBytes { position, extra: 4, .. }) if position == len
    ));
}

#[test]
fn skiff_lying_decompressed_length_is_caught_without_huge_allocation() {
    for compression in [Compression::Zstd, Compression::Lz4, Compression::Gzip] {
        let mut body = write(Format::SkiffV1, compression);
        body[60..68].copy_from_slice(&u64::MAX.to_be_bytes());
        reseal(&mut body);
        let error = decode(&body).unwrap_err();
        assert!(error.to_string().contains("decompressed length"), "{error}");
    }
}

#[test]
fn skiff_garbage_compressed_body_is_a_decompress_error() {
    for compression in [Compression::Zstd, Compression::Lz4, Compression::Gzip] {
        let mut body = write(Format::SkiffV1, compression);
        for byte in &mut body[HEADER_LEN..] {
            *byte = 0xa5;
        }
        reseal(&mut body);
        assert!(
            matches!(decode(&body), Err(FormatError::Decompress { .. })),
            "{compression}"
        );
    }
}
