//! Any bytes as a hidpack file, from memory: open it, then decode every block one by one and
//! read every event of every kind. Errors are fine; a panic, an abort, a hang or unbounded
//! memory is a finding.
#![no_main]

use hidpack_core::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = Reader::from_source(data.to_vec()) else {
        return;
    };
    let _ = reader.header();
    for i in 0..reader.blocks().len() {
        let _ = reader.decode_block(i);
        let _ = reader.block_chunks(i);
    }
    let _ = reader.read(None, None, u16::MAX, None);
    let _ = reader.read(Some(0), Some(1_000_000_000), u16::MAX, None);
    let _ = reader.problems();
    let _ = reader.counts();
});
