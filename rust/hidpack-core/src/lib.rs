//! # hidpack-core
//!
//! The file format, codec, writer and reader of **hidpack**, a recorder of human computer input
//! (mouse moves, clicks, scrolls, keys, text, focus changes) for people who train computer-use
//! agents on billions of such events. Pure Rust: the Python bindings live in a separate crate.
//!
//! * [`model`]: the event kinds and their fields; coordinates as exact fixed point.
//! * [`table`]: [`EventTable`], events in columnar form, the unit of encoding and decoding.
//! * [`bytes`]: the shared leaf: varints, zigzag, and the bounds-checked [`bytes::Cursor`].
//! * [`binned`]: the `BINNED` integer coder (bins, rANS, predictors), which the codec uses.
//! * [`codec`]: how a table becomes the bytes of a block and back (codec v1).
//! * [`frame`]: the frames a file is made of: zstd data frames, hidpack records in skippable
//!   frames, the zstd seekable-format seek table.
//! * [`writer`]: [`Writer`], a synchronous writer (the capture engine feeds it from its thread).
//! * [`reader`]: [`Reader`], which reads complete, torn and damaged files and says what it skipped.
//! * `ordered` (private): `in_order`, the ordered parallel map reads decode blocks and files with;
//!   `placed` (private): a read of whole blocks writing each block's rows into its slice of the output.
//! * [`wide`]: the wide (union) table of a read: one column per field, one row per event.
//! * [`from_wide`]: the other way, for writes: a table given as one column per field (Python's
//!   dict) made into an [`EventTable`], checked, with errors naming the caller's row.
//! * [`many`]: [`many::read_many`], the events of many files as one table, read on several threads.
//! * [`policy`]: privacy policies, enforced inside every push before an event reaches the ring.
//! * [`ring`]: the bounded multi-producer ring of the capture path (push never blocks or allocates).
//! * [`capture`]: [`Recorder`]: producer handles, the encoder thread, checkpoints to a write-ahead
//!   tail, gaps for drops and pauses, rotation.
//!
//! A file is a valid zstd stream (`zstd -t` passes, `zstd -dc` prints the block payloads) that
//! ends in a seek table stock seekable-zstd readers use. The normative spec is `docs/FORMAT.md`.
//!
//! ```
//! use hidpack_core::{Event, Reader, Writer, WriterOptions, reader::ALL_KINDS};
//! let mut w = Writer::new(Vec::new(), WriterOptions::default())?;
//! w.push(0, &Event::Move { x: 100 << 16, y: 200 << 16, buttons: None })?;
//! w.push(8_000_000, &Event::Key { pressed: true, usage: Some(0x04), native: None })?;
//! let bytes = w.into_inner()?;
//! let r = Reader::from_source(bytes)?;
//! let t = r.read(None, None, ALL_KINDS, None)?;
//! assert_eq!(t.len(), 2);
//! # Ok::<(), hidpack_core::Error>(())
//! ```

pub mod actions;
pub mod capture;
pub mod binned;
pub mod bytes;
pub mod codec;
pub mod error;
pub mod frame;
pub mod from_wide;
mod fsio;
pub mod many;
pub mod narrow;
pub mod model;
mod ordered;
mod placed;
pub mod policy;
mod predicted;
pub mod reader;
pub mod recover;
pub mod ring;
pub mod table;
pub mod wide;
pub mod writer;

pub use capture::{Clock, Recorder, RecorderOptions, Stats};
pub use error::{Error, Result, ValueError};
pub use model::{Event, Field, Kind};
pub use reader::{Problem, Reader};
pub use table::{Column, EventTable};
pub use writer::{SyncPolicy, WriteStats, Writer, WriterOptions};
pub mod tokens;

/// Helpers shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// A xorshift64 generator: deterministic test data from a seed (not 0).
    pub(crate) fn xorshift(mut r: u64) -> impl FnMut() -> u64 {
        move || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        }
    }
}
