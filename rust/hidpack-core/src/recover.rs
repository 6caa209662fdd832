//! `hidpack recover`: rewrite a recording whose writer did not close it (no footer, a torn
//! tail, a write-ahead tail beside it, damaged blocks) as a clean, complete file.
//!
//! # Safe at every step
//! The new file is written to a temporary beside the destination, fsynced and renamed into
//! place ([`crate::fsio::Temp`]); an existing destination other than the source is replaced
//! only with `overwrite`. A kill at any point leaves either the old recording (with its tail)
//! or the new, complete one: a reader never merges a tail into a file that has its footer
//! ([`crate::Reader::attach_tail`]), so a kill between the rename and the removal of the tail
//! duplicates nothing, and a second `recover` of the result is a no-op rewrite. The source is
//! locked meanwhile, so a live recorder's file cannot be recovered under it. A tail is deleted
//! only once every one of its events is in the new file; one that could not be merged whole is
//! moved aside (`<file>.wal.unmerged-<n>`), never deleted.

use std::io::BufWriter;
use std::path::Path;

use crate::error::Result;
use crate::fsio;
use crate::reader::{Reader, ALL_KINDS};
use crate::writer::{tail_path, Writer, WriterOptions};

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
    /// Where a tail that could not be merged whole was moved.
    pub tail_moved_to: Option<std::path::PathBuf>,
}

/// Read `src` (and `<src>.wal`) and write every readable event to `dst`, keeping the header
/// (metadata, wall clock, policy). `dst` may be `src`: the new file replaces it atomically. An
/// existing `dst` other than `src` is replaced only with `overwrite`.
pub fn recover(src: &Path, dst: &Path, overwrite: bool) -> Result<RecoverReport> {
    let same = match (src.canonicalize(), dst.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same && !overwrite && std::fs::symlink_metadata(dst).is_ok() {
        return Err(fsio::exists(dst, "pass --force (overwrite=True) to replace it"));
    }
    // The source's lock: a live writer holds it.
    let src_lock = fsio::open_recording(src)?;
    fsio::lock(&src_lock, src)?;
    let r = Reader::open(src)?;
    let mut header = r.header().clone();
    let mut rep = RecoverReport { blocks_read: r.blocks().len() as u64, ..RecoverReport::default() };
    if !matches!(serde_json::from_str::<serde_json::Value>(&header.metadata), Ok(serde_json::Value::Object(_))) {
        // Keep the text, in a form every reader can parse.
        let text = std::mem::take(&mut header.metadata);
        header.metadata = serde_json::json!({ "hidpack:invalid_metadata": text }).to_string();
        rep.problems.push("header metadata was not a JSON object; its text is kept under \"hidpack:invalid_metadata\"".into());
    }
    let temp = fsio::Temp::beside(dst)?;
    let out = temp.file.try_clone().map_err(|e| fsio::err(temp.path(), "open", e))?;
    let mut w = Writer::with_header(BufWriter::with_capacity(1 << 16, out), WriterOptions::default(), header)?;
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
    // A tail is deleted only when every checkpoint in it is in the new file.
    let tail_whole = r.tail().is_some_and(|t| t.whole && t.not_merged.is_none());
    for p in r.problems() {
        rep.events_lost += p.events_lost.unwrap_or(0);
        rep.problems.push(format!("offset {}: {}", p.offset, p.error));
    }
    drop(r);
    temp.commit(dst, true)?;
    if same {
        // Every event of the tail is in the new file (a tail beside a complete file is never
        // merged again, so a kill before this point duplicates nothing). A tail that was not
        // merged whole is kept, moved aside.
        let tp = tail_path(src);
        if std::fs::symlink_metadata(&tp).is_ok() {
            if tail_whole {
                std::fs::remove_file(&tp).map_err(|e| fsio::err(&tp, "remove", e))?;
                fsio::sync_dir(&tp)?;
            } else {
                rep.tail_moved_to = Some(fsio::move_aside(&tp, "unmerged")?);
            }
        }
    }
    drop(src_lock);
    Ok(rep)
}
