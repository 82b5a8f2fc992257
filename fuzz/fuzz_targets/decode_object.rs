//! Fuzzes object decoding: any bytes give a result or an error, never a panic, and whatever
//! decodes re-encodes to the same records (v0: to the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_format::{Compression, Format, ObjectWriter, decode, summarize};

fuzz_target!(|data: &[u8]| {
    let summary = summarize(data);
    let Ok(decoded) = decode(data) else {
        return;
    };
    assert_eq!(summary.ok(), Some(decoded.summary));
    let mut writer = ObjectWriter::new(decoded.format, Compression::None);
    for record in &decoded.records {
        writer.push(record);
    }
    let body = writer.finish();
    if decoded.format == Format::InstaclustrV0 {
        assert_eq!(body, data);
    }
    let again = decode(&body).expect("a re-encoded object decodes");
    assert_eq!(again.records, decoded.records);
    assert_eq!(again.summary, decoded.summary);
});
