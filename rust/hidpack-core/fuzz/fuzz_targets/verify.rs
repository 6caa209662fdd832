//! Any bytes as a hidpack file, from memory: open it and verify every block (what
//! `hidpack verify` does). Errors and reported problems are fine; a panic, an abort, a hang or
//! unbounded memory is a finding.
#![no_main]

use hidpack_core::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(reader) = Reader::from_source(data.to_vec()) {
        let _ = reader.verify();
    }
});
