//! `hidpack recover`: rewrite a recording whose writer did not close it (no footer, a torn
//! tail, a write-ahead tail beside it, damaged blocks) as a clean, complete file.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::error::{Error, Result};
use crate::reader::{Reader, ALL_KINDS};
use crate::writer::{tail_path, with_suffix, Writer, WriterOptions};

/// What [`recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoverReport {
    /// Events written to the new file.
    pub events: u64,
    /// Blocks read (from the file and its tail).
    pub blocks_read: u64,
    /// Of the events, how many came from the write-ahead tail.
    pub tail_events: u64,
    /// Events known lost (damaged blocks).
    pub events_lost: u64,
    /// What was skipped, one line each.
    pub problems: Vec<String>,
}

/// Read `src` (and `<src>.wal`) and write every readable event to `dst`, keeping the header
/// (metadata, wall clock, policy). `dst` may be `src`: the new file is written beside it and
/// renamed over it, and the tail is then deleted.
pub fn recover(src: &Path, dst: &Path) -> Result<RecoverReport> {
    let r = Reader::open(src)?;
    let tmp = with_suffix(dst, ".recovering");
    let f = File::create(&tmp)?;
    let sync = f.try_clone()?;
    let mut w = Writer::with_header(BufWriter::with_capacity(1 << 16, f), WriterOptions::default(), r.header().clone())?;
    let mut rep = RecoverReport { blocks_read: r.blocks().len() as u64, ..RecoverReport::default() };
    for i in 0..r.blocks().len() {
        // read() skips (and reports) a block that fails its checks.
        let t = r.read(None, None, ALL_KINDS, Some(&[i]))?;
        w.write_table(&t)?;
        rep.events += t.len() as u64;
        if r.is_tail_block(i) {
            rep.tail_events += t.len() as u64;
        }
    }
    w.close()?;
    drop(w);
    sync.sync_all()?;
    for p in r.problems() {
        rep.events_lost += p.events_lost.unwrap_or(0);
        rep.problems.push(format!("offset {}: {}", p.offset, p.error));
    }
    let same = src.canonicalize().ok().zip(dst.canonicalize().ok()).is_some_and(|(a, b)| a == b);
    drop(r);
    std::fs::rename(&tmp, dst).map_err(|e| Error::Usage(format!("cannot move {} to {}: {e}", tmp.display(), dst.display())))?;
    if same {
        let tp = tail_path(src);
        if tp.exists() {
            std::fs::remove_file(tp)?;
        }
    }
    Ok(rep)
}
