//! The decision-record reader (records come from the repository: untrusted until checked):
//! any bytes give a record or an error, never a panic, and a record it accepts is written
//! and read back unchanged (what `verify` and `history` read is what was stored).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::promotion::record::DecisionRecord;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let Ok(record) = DecisionRecord::parse(text) else { return };
    let _ = record.path();
    let written = record.to_text();
    let reread = DecisionRecord::parse(&written).unwrap_or_else(|error| panic!("{error} in\n{written}"));
    assert_eq!(reread, record, "the record changed on the way back");
    assert_eq!(reread.to_text(), written);
});
