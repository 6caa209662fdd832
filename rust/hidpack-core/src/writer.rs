//! The synchronous writer: events in, a complete hidpack file out.
//!
//! A [`Writer`] buffers events into the current block and closes the block when it holds
//! `block_events` events, or (event clock) when an event arrives `block_span_ns` or more after the
//! block's first event. Closing a block compresses its payload into one zstd frame and writes it
//! followed by its trailer record, so everything up to the last closed block survives a crash.
//! [`Writer::close`] writes the footer index and the seek table.
//!
//! The writer is single-threaded and takes whole [`EventTable`]s as well as single events, so the
//! capture engine's encoder thread can sit in front of it and feed it the batches it drains.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::codec::{encode_segment, Mode, MAX_BLOCK_EVENTS};
use crate::error::{Error, Result};
use crate::frame::{encode_seek_table, FEATURE_BINNED, FEATURE_BINNED_1_3, FEATURE_CLOCK_SPARSE, FEATURE_PREDICTED, hash32, raw_zstd_frame, BlockInfo, Header, Index, MAX_BLOCK_RAW};
use crate::model::{Event, NUM_KINDS};
use crate::table::{Column, EventTable};

/// Options of a [`Writer`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// zstd level (1..=22; negative levels are zstd's fast modes).
    pub level: i32,
    /// Close a block when it holds this many events.
    pub block_events: usize,
    /// Close a block when an event's timestamp is this far past the block's first event.
    pub block_span_ns: Option<i64>,
    /// Free metadata: a JSON object, stored verbatim.
    pub metadata: String,
    /// Unix time in ns at t = 0.
    pub wall_clock_ns: Option<i64>,
    /// fsync the file when it is closed.
    pub sync_on_close: bool,
    /// When to fsync while writing (files made with [`Writer::create`] only).
    pub sync: SyncPolicy,
    /// Let integer columns use the `BINNED` entropy-coded encoding (FORMAT.md §5.5). The header
    /// then carries the `BINNED` required-feature bit, which readers before it refuse cleanly;
    /// `false` writes files every v1 reader reads.
    pub binned: bool,
    /// Replace an existing file at the path ([`Writer::create`] and friends). Without it an
    /// existing path is an error: recordings are never overwritten unless the caller asks.
    pub overwrite: bool,
    /// Write to a temporary beside the path and rename it into place at [`Writer::close`]
    /// (bulk writes: a kill mid-write leaves the old file, or nothing, never a partial file).
    /// Not with a write-ahead tail (a live recording must be readable where it is).
    pub atomic: bool,
    /// Format minor version to write (with [`WriterOptions::binned`]): 4 (the default) writes
    /// format 1.4, whose clock grid stores its residues sparsely (predictor 9, FORMAT.md §5.5);
    /// 3 writes format 1.3, whose `BINNED` chunks may use the clock-grid and signed-steps
    /// predictors (7 and 8, FORMAT.md §5.5), the bytes a 1.3 writer wrote; 2 writes format 1.2, which leaves out the last block's trailer before the
    /// index (FORMAT.md §4.6);
    /// 1 writes format 1.1, compact trailers and index and the `PREDICTED` encoding (§4.5, §5.6),
    /// a trailer after every block; 0 writes format 1.0. Without `binned` the file is 1.0
    /// whatever this says.
    pub minor: u16,
    /// Format 1.3 and later: also try the clock-grid predictor on non-decreasing columns
    /// (FORMAT.md §5.5; predictor 9 in format 1.4, 7 in 1.3). `None` (the default) is the
    /// format's default, [`WriterOptions::tries_clock_grid`]. On stamps of Windows' 15.6 ms timer
    /// it stores `t` in about 18 % fewer bytes (a balabit import: 1.87 -> 1.78 B/event).
    /// Signed steps need no option: they decode nearly as fast as order-1 differences.
    pub clock_grid: Option<bool>,
}

/// When a writer calls fsync. Whatever the policy, a process crash (SIGKILL, a panic elsewhere)
/// loses nothing that was handed to the OS: the page cache survives the process. The policy is
/// about power loss and kernel crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Never (the OS writes back on its own, typically within 30 s).
    Never,
    /// After each block is closed (the write-ahead tail is not synced).
    Block,
    /// After each block and after each checkpoint of the write-ahead tail: a power loss loses at
    /// most one checkpoint interval.
    #[default]
    Interval,
}

impl SyncPolicy {
    pub fn name(self) -> &'static str {
        match self {
            SyncPolicy::Never => "never",
            SyncPolicy::Block => "block",
            SyncPolicy::Interval => "interval",
        }
    }
    pub fn from_name(s: &str) -> Option<SyncPolicy> {
        match s {
            "never" => Some(SyncPolicy::Never),
            "block" => Some(SyncPolicy::Block),
            "interval" => Some(SyncPolicy::Interval),
            _ => None,
        }
    }
}

/// The write-ahead tail of `path`: `<path>.wal` (see [`Writer::create_with_tail`]).
pub fn tail_path(path: &Path) -> PathBuf {
    with_suffix(path, ".wal")
}

/// `path` with `suffix` appended to its file name (`a.hpk` -> `a.hpk<suffix>`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The open write-ahead tail: a footerless hidpack file beside the main one, holding the events
/// of the open block that have been checkpointed.
struct Tail {
    file: File,
    path: PathBuf,
    /// Bytes of its header record (it is truncated back to this after each block).
    header_len: u64,
    pos: u64,
    /// Rows of the open block already in the tail, and the rows of each kind among them.
    rows: usize,
    kind_pos: [usize; NUM_KINDS],
    scratch: EventTable,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            level: 3,
            block_events: 65536,
            block_span_ns: None,
            metadata: "{}".into(),
            wall_clock_ns: None,
            sync_on_close: false,
            sync: SyncPolicy::Never,
            binned: true,
            overwrite: false,
            atomic: false,
            minor: crate::frame::FORMAT_MINOR,
            clock_grid: None,
        }
    }
}

/// Whether a writer of format 1.4 tries the clock grid when [`WriterOptions::clock_grid`] is
/// `None`: yes. Its sparse residues decode at about 4.1 ns a value against 2.8 for order-1
/// differences, a one-thread read of a long balabit recording's moves 3-4 % more CPU, for about
/// 5 % fewer bytes on Windows pointer logs (the `t` column about 18 %). (Format 1.3 never does
/// unless asked: its dense residues decode at 8-9 ns a value, and a 1.3 writer's bytes stay what
/// they were.)
pub const CLOCK_GRID_DEFAULT_1_4: bool = true;

impl WriterOptions {
    /// Whether the writer tries the clock grid: [`WriterOptions::clock_grid`] when set, else on
    /// for format 1.4 when [`CLOCK_GRID_DEFAULT_1_4`] says so, off for 1.3 (the one place the
    /// default is decided).
    pub fn tries_clock_grid(&self) -> bool {
        self.clock_grid.unwrap_or(CLOCK_GRID_DEFAULT_1_4 && self.minor >= 4)
    }
}

/// What a writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub events: u64,
    pub blocks: u64,
    pub bytes: u64,
}

/// Approximate payload bytes of strings in a block before it is closed regardless of its count.
const BLOCK_STRING_BYTES: usize = 32 << 20;
/// Largest metadata (JSON text) accepted.
pub const MAX_METADATA: usize = 1 << 20;
/// Most blocks listed in a footer index (the index record stays under the record limit); a file
/// with more blocks gets no index and is read by scanning.
pub const MAX_INDEX_BLOCKS: usize = 600_000;

/// Writes one hidpack file.
pub struct Writer<W: Write> {
    out: Option<W>,
    opts: WriterOptions,
    pos: u64,
    frames: Vec<(u32, u32)>,
    blocks: Vec<BlockInfo>,
    cur: EventTable,
    cur_first_t: i64,
    cur_string_bytes: usize,
    events: u64,
    /// Taken from this thread's cache ([`CompressorCache`]) and given back when the writer is dropped.
    compressor: Option<zstd::bulk::Compressor<'static>>,
    payload: Vec<u8>,
    file: Option<File>,
    header_bytes: Vec<u8>,
    tail: Option<Tail>,
    /// With [`WriterOptions::atomic`]: the temporary written, renamed over `dest` at close,
    /// and the destination's lock (an existing file being replaced).
    temp: Option<(crate::fsio::Temp, PathBuf, Option<File>)>,
    /// Format 1.1: compact records and the `PREDICTED` encoding.
    v1_1: bool,
    /// Format 1.2: the block closed by [`Writer::close`] gets no trailer, the index follows it.
    v1_2: bool,
    /// Format 1.3: the `BINNED` predictors clock grid and signed steps.
    v1_3: bool,
    /// Format 1.4 with the clock grid tried: it is written as predictor 9 (sparse residues).
    v1_4: bool,
}

impl Writer<BufWriter<File>> {
    /// Create `path` and write the header. The path must not exist unless
    /// [`WriterOptions::overwrite`] is set; a path with an unrecovered write-ahead tail beside it
    /// (`<path>.wal`: a recorder was killed) is refused either way. The file is locked while it
    /// is written: a second writer of the same path fails.
    pub fn create(path: impl AsRef<Path>, opts: WriterOptions) -> Result<Self> {
        let header = Header::new(opts.metadata.clone(), opts.wall_clock_ns);
        Writer::create_with_header(path, opts, header, false)
    }

    /// Like [`Writer::create`], with a write-ahead tail `<path>.wal` (see [`tail_path`]): every
    /// [`Writer::checkpoint`] appends the open block's new events to the tail, so a crash loses
    /// only what came after the last checkpoint, while the main file still gets large blocks
    /// (small blocks would cost ~200 bytes each). The tail is truncated whenever a block is
    /// closed and deleted by [`Writer::close`]. Readers ([`crate::Reader::open`]) merge a tail
    /// they find beside its file.
    pub fn create_with_tail(path: impl AsRef<Path>, opts: WriterOptions) -> Result<Self> {
        let header = Header::new(opts.metadata.clone(), opts.wall_clock_ns);
        Writer::create_with_header(path, opts, header, true)
    }

    /// Create `path` with a given header (see [`Writer::with_header`]), with or without a
    /// write-ahead tail.
    pub fn create_with_header(path: impl AsRef<Path>, opts: WriterOptions, header: Header, tail: bool) -> Result<Self> {
        use crate::fsio;
        let path = path.as_ref();
        let tp = tail_path(path);
        if std::fs::symlink_metadata(&tp).is_ok() {
            return Err(fsio::err(
                path,
                "create",
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!(
                        "it has an unrecovered write-ahead tail {} (a recorder was stopped without closing it): \
                         run `hidpack recover {}` first, or delete the tail to discard its events",
                        tp.display(),
                        path.display()
                    ),
                ),
            ));
        }
        let (f, temp) = if opts.atomic && !tail {
            // Refuse now what the rename would refuse later, and hold the lock of a file being
            // replaced so that a live writer of it makes this fail.
            let dest_lock = match std::fs::symlink_metadata(path) {
                Ok(_) if !opts.overwrite => return Err(fsio::exists(path, "pass overwrite=True (CLI: --force) to replace it")),
                Ok(md) if md.is_file() => {
                    let d = OpenOptions::new().read(true).open(path).map_err(|e| fsio::err(path, "open", e))?;
                    fsio::lock(&d, path)?;
                    Some(d)
                }
                Ok(_) => return Err(fsio::err(path, "replace", std::io::Error::other("not a regular file"))),
                Err(_) => None,
            };
            let t = fsio::Temp::beside(path)?;
            let f = t.file.try_clone().map_err(|e| fsio::err(t.path(), "open", e))?;
            (f, Some((t, path.to_path_buf(), dest_lock)))
        } else {
            (fsio::create(path, opts.overwrite)?, None)
        };
        // A handle to fsync through, only for a file that is synced before it is complete or at
        // close (a temporary is synced by its commit, through its own handle).
        let sync = if temp.is_none() && (opts.sync_on_close || opts.sync != SyncPolicy::Never) {
            Some(f.try_clone().map_err(|e| fsio::err(path, "open", e))?)
        } else {
            None
        };
        let mut w = Writer::with_header(BufWriter::with_capacity(1 << 16, f), opts, header)?;
        w.file = sync;
        w.temp = temp;
        if tail {
            let mut file = fsio::create_side_file(&tp)?;
            file.write_all(&w.header_bytes).map_err(|e| fsio::err(&tp, "write", e))?;
            let header_len = w.header_bytes.len() as u64;
            w.tail = Some(Tail {
                file,
                path: tp,
                header_len,
                pos: header_len,
                rows: 0,
                kind_pos: [0; NUM_KINDS],
                scratch: EventTable::new(),
            });
        }
        Ok(w)
    }
}

impl Writer<BufWriter<File>> {
    /// Stop as a killed process would: no footer, nothing more written (what is buffered and
    /// not checkpointed is lost), files closed and their locks released. For tests of crash
    /// recovery.
    #[doc(hidden)]
    pub fn crash(mut self) {
        if let Some(out) = self.out.take() {
            // A process's buffered bytes die with it: the buffer is dropped unwritten.
            drop(out.into_parts());
        }
        self.tail = None;
        self.file = None;
        self.temp = None;
    }
}

impl<W: Write> Writer<W> {
    /// Start a file on `out`, writing its header.
    pub fn new(out: W, opts: WriterOptions) -> Result<Self> {
        let header = Header::new(opts.metadata.clone(), opts.wall_clock_ns);
        Writer::with_header(out, opts, header)
    }

    /// Start a file with a given header (a rewrite keeps the original's; `opts.metadata` and
    /// `opts.wall_clock_ns` are ignored in favour of the header's).
    pub fn with_header(out: W, mut opts: WriterOptions, mut header: Header) -> Result<Self> {
        if opts.binned {
            header.required_features |= FEATURE_BINNED;
        }
        let minor = if opts.binned { opts.minor.min(crate::frame::FORMAT_MINOR) } else { 0 };
        let (v1_1, v1_2, v1_3) = (minor >= 1, minor >= 2, minor >= 3);
        if v1_1 {
            header.required_features |= FEATURE_PREDICTED;
            header.minor = header.minor.max(minor);
        }
        if v1_3 {
            header.required_features |= FEATURE_BINNED_1_3;
        }
        // bit 3 only where predictor 9 may be written: a 1.4 file without it is read by 1.3 readers
        let v1_4 = minor >= 4 && opts.tries_clock_grid();
        if v1_4 {
            header.required_features |= FEATURE_CLOCK_SPARSE;
        }
        if header.metadata.len() > MAX_METADATA {
            return Err(Error::Usage(format!(
                "metadata of {} bytes exceeds the {MAX_METADATA}-byte limit",
                header.metadata.len()
            )));
        }
        opts.metadata = header.metadata.clone();
        opts.wall_clock_ns = header.wall_clock_ns;
        if opts.block_events == 0 || opts.block_events as u64 > MAX_BLOCK_EVENTS {
            return Err(Error::Usage(format!(
                "block_events must be within 1..={MAX_BLOCK_EVENTS}, got {}",
                opts.block_events
            )));
        }
        if opts.block_span_ns.is_some_and(|s| s <= 0) {
            return Err(Error::Usage(format!("block_span_ns must be positive, got {:?}", opts.block_span_ns)));
        }
        match serde_json::from_str::<serde_json::Value>(&opts.metadata) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(other) => {
                return Err(Error::Usage(format!("metadata must be a JSON object, got {}", type_name(&other))))
            }
            Err(e) => return Err(Error::Usage(format!("metadata is not valid JSON: {e}"))),
        }
        let compressor = CompressorCache::take(opts.level)?;
        let mut w = Writer {
            out: Some(out),
            opts,
            pos: 0,
            frames: Vec::new(),
            blocks: Vec::new(),
            cur: EventTable::new(),
            cur_first_t: 0,
            cur_string_bytes: 0,
            events: 0,
            compressor: Some(compressor),
            payload: Vec::new(),
            file: None,
            temp: None,
            header_bytes: header.encode(),
            tail: None,
            v1_1,
            v1_2,
            v1_3,
            v1_4,
        };
        let hb = std::mem::take(&mut w.header_bytes);
        w.emit(&hb, 0)?;
        w.header_bytes = hb;
        Ok(w)
    }

    fn out(&mut self) -> Result<&mut W> {
        self.out.as_mut().ok_or_else(|| Error::Usage("writer is closed".into()))
    }

    fn emit(&mut self, bytes: &[u8], decompressed: u32) -> Result<()> {
        self.out()?.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        self.frames.push((bytes.len() as u32, decompressed));
        Ok(())
    }

    /// Would an event at `t` start a new block?
    #[inline]
    fn boundary_before(&self, t: i64) -> bool {
        let n = self.cur.len();
        n > 0
            && (n >= self.opts.block_events
                || self.cur_string_bytes >= BLOCK_STRING_BYTES
                || self.opts.block_span_ns.is_some_and(|s| t.saturating_sub(self.cur_first_t) >= s))
    }

    /// Append one event.
    pub fn push(&mut self, t: i64, ev: &Event) -> Result<()> {
        if self.out.is_none() {
            return Err(Error::Usage("writer is closed".into()));
        }
        if self.boundary_before(t) {
            self.flush()?;
        }
        if self.cur.is_empty() {
            self.cur_first_t = t;
        }
        self.cur.push(t, ev)?;
        self.cur_string_bytes += match ev {
            Event::Text { text } => text.len(),
            Event::Focus { app, title, .. } => app.as_ref().map_or(0, String::len) + title.as_ref().map_or(0, String::len),
            Event::Marker { label, .. } => label.len(),
            _ => 0,
        };
        Ok(())
    }

    /// Append every row of `table` (validated first: on error nothing is written).
    pub fn write_table(&mut self, table: &EventTable) -> Result<()> {
        if self.out.is_none() {
            return Err(Error::Usage("writer is closed".into()));
        }
        table.validate()?;
        let mut kind_pos = [0usize; NUM_KINDS];
        self.write_rows(table, 0, table.len(), &mut kind_pos)
    }

    /// Append rows `start..end` of a table that passed [`EventTable::validate`], column by
    /// column, closing blocks exactly where [`Writer::push`] of each row would.
    /// `kind_pos[k]` is the number of rows of kind k before `start` (all zero for `start` 0) and
    /// becomes the number before `end`, so consecutive ranges chain.
    pub fn write_rows(&mut self, table: &EventTable, start: usize, end: usize, kind_pos: &mut [usize; NUM_KINDS]) -> Result<()> {
        let start = self.close_blocks_in(table, start, end, kind_pos)?;
        self.keep_rows(table, start, end, kind_pos);
        Ok(())
    }

    /// Append every row of a table that passed [`EventTable::validate`] and that the writer may
    /// keep: what [`Writer::write_rows`] of all its rows does, except that a table that all goes
    /// into the open block while that block is empty (a file's one table, the common case)
    /// becomes the block itself instead of being copied into it.
    pub fn write_validated(&mut self, table: EventTable) -> Result<()> {
        let mut kind_pos = [0usize; NUM_KINDS];
        let end = table.len();
        let start = self.close_blocks_in(&table, 0, end, &mut kind_pos)?;
        if start == 0 && end > 0 && self.cur.is_empty() {
            self.cur_first_t = table.t[0];
            self.cur = table;
        } else {
            self.keep_rows(&table, start, end, &mut kind_pos);
        }
        Ok(())
    }

    /// Rows `start..end` into the open block (the pending rows [`Writer::close_blocks_in`] left).
    fn keep_rows(&mut self, table: &EventTable, start: usize, end: usize, kind_pos: &mut [usize; NUM_KINDS]) {
        if start < end {
            if self.cur.is_empty() {
                self.cur_first_t = table.t[start];
            }
            self.cur.extend_rows(table, start, end, kind_pos);
        }
    }

    /// The block-closing part of [`Writer::write_rows`]: every block that rows `start..end`
    /// complete is closed; returns the first row not yet in the writer (rows from there to `end`
    /// belong to the open block).
    fn close_blocks_in(&mut self, table: &EventTable, start: usize, end: usize, kind_pos: &mut [usize; NUM_KINDS]) -> Result<usize> {
        if self.out.is_none() {
            return Err(Error::Usage("writer is closed".into()));
        }
        if start > end || end > table.len() {
            return Err(Error::Usage(format!("rows {start}..{end} of a table of {} rows", table.len())));
        }
        let string_len = |k: usize, r: usize| -> usize {
            table.kinds[k]
                .cols
                .iter()
                .map(|c| match c {
                    Column::Str { offsets, .. } => (offsets[r + 1] - offsets[r]) as usize,
                    _ => 0,
                })
                .sum()
        };
        let has_strings: [bool; NUM_KINDS] =
            std::array::from_fn(|k| table.kinds[k].cols.iter().any(|c| matches!(c, Column::Str { .. })));
        // kind_pos: rows of each kind consumed so far; kind_row: scanned so far (of the kinds with
        // strings)
        let mut kind_row = *kind_pos;
        let first = start;
        let mut start = start;
        for i in first..end {
            let t = table.t[i];
            let k = table.kind[i] as usize;
            if i > start {
                // rows start..i are pending; would row i open a new block?
                let pending = i - start;
                let n = self.cur.len() + pending;
                let first = if self.cur.is_empty() { table.t[start] } else { self.cur_first_t };
                let cut = n >= self.opts.block_events
                    || self.cur_string_bytes >= BLOCK_STRING_BYTES
                    || self.opts.block_span_ns.is_some_and(|s| t.saturating_sub(first) >= s);
                if cut {
                    if self.cur.is_empty() {
                        self.cur_first_t = table.t[start];
                    }
                    self.cur.extend_rows(table, start, i, kind_pos);
                    self.flush()?;
                    start = i;
                }
            } else if self.boundary_before(t) {
                self.flush()?;
            }
            // only a kind with strings needs its row number (counted for every kind, each row's
            // increment waited for the one before in a run of one kind: a stall per row)
            if has_strings[k] {
                self.cur_string_bytes += string_len(k, kind_row[k]);
                kind_row[k] += 1;
            }
        }
        Ok(start)
    }

    /// Close the current block now (no-op when it is empty).
    pub fn flush(&mut self) -> Result<()> {
        self.close_block(true)
    }

    /// Close the current block (no-op when it is empty): its data frame, then its trailer unless
    /// `trailer` is false (format 1.2: the index follows it, FORMAT.md §4.6).
    fn close_block(&mut self, trailer: bool) -> Result<()> {
        if self.cur.is_empty() {
            return Ok(());
        }
        self.payload.clear();
        let mode = match (self.opts.binned, self.v1_3) {
            (true, true) if self.v1_4 => Mode::Binned14Clock,
            (true, true) if self.opts.tries_clock_grid() => Mode::Binned13Clock,
            (true, true) => Mode::Binned13,
            (true, false) => Mode::Binned,
            (false, _) => Mode::Bytes,
        };
        crate::codec::encode_segment_with(&self.cur, &mut self.payload, mode, self.v1_1);
        if self.payload.len() as u64 > MAX_BLOCK_RAW {
            return Err(Error::Usage(format!(
                "a block payload of {} bytes exceeds the {MAX_BLOCK_RAW}-byte limit; lower block_events",
                self.payload.len()
            )));
        }
        let compressor = self.compressor.as_mut().ok_or_else(|| Error::Usage("writer is closed".into()))?;
        let frame = compressor.compress(&self.payload)?;
        let (t_min, t_max) = self.cur.t_range().unwrap_or((0, 0));
        let counts = self.cur.counts().map(|c| c as u32);
        let info = BlockInfo {
            offset: self.pos,
            length: frame.len() as u32,
            raw_len: self.payload.len() as u32,
            hash: hash32(&frame),
            first_event: self.events,
            events: self.cur.len() as u32,
            t_min,
            t_max,
            counts,
        };
        let raw_len = info.raw_len;
        self.emit(&frame, raw_len)?;
        if trailer {
            let trailer = self.trailer(&info);
            self.emit(&trailer, 0)?;
        }
        // A closed block goes to the file at once (a crash keeps it), except in a temporary,
        // which nobody sees before it is complete: its bytes go in one write at the end.
        if self.temp.is_none() {
            self.out()?.flush()?;
        }
        if self.opts.sync != SyncPolicy::Never {
            if let Some(f) = &self.file {
                f.sync_data()?;
            }
        }
        self.events += u64::from(info.events);
        self.blocks.push(info);
        self.cur.clear();
        self.cur_string_bytes = 0;
        // The block is in the main file: the tail's copy of its events is no longer needed.
        // (A crash right here leaves them in both; readers skip tail events the file has.)
        if let Some(tail) = &mut self.tail {
            tail.file.set_len(tail.header_len)?;
            tail.file.seek(SeekFrom::Start(tail.header_len))?;
            tail.pos = tail.header_len;
            tail.rows = 0;
            tail.kind_pos = [0; NUM_KINDS];
        }
        Ok(())
    }

    /// Make every event accepted so far survive a crash of this process without closing the
    /// block: the open block's events not yet in the write-ahead tail are appended to it as one
    /// small block (fsynced under [`SyncPolicy::Interval`]). Without a tail, this only flushes
    /// the buffered bytes of closed blocks. Returns the events written to the tail.
    pub fn checkpoint(&mut self) -> Result<usize> {
        if self.out.is_none() {
            return Err(Error::Usage("writer is closed".into()));
        }
        self.out()?.flush()?;
        let Some(tail) = self.tail.as_mut() else { return Ok(0) };
        let n = self.cur.len() - tail.rows;
        if n == 0 {
            return Ok(0);
        }
        tail.scratch.clear();
        tail.scratch.extend_rows(&self.cur, tail.rows, self.cur.len(), &mut tail.kind_pos);
        self.payload.clear();
        // Byte encodings only, chosen without sizing them: a checkpoint lives until its block
        // closes (then the block is encoded with BINNED); entropy-coding it too would encode every
        // event twice.
        encode_segment(&tail.scratch, &mut self.payload, Mode::Fast);
        // Uncompressed: a checkpoint is small and frequent, and the tail lives only until the
        // block closes; zstd's per-frame table building would dominate the recorder's CPU.
        let frame = raw_zstd_frame(&self.payload);
        let (t_min, t_max) = tail.scratch.t_range().unwrap_or((0, 0));
        let info = BlockInfo {
            offset: tail.pos,
            length: frame.len() as u32,
            raw_len: self.payload.len() as u32,
            hash: hash32(&frame),
            first_event: self.events + tail.rows as u64,
            events: n as u32,
            t_min,
            t_max,
            counts: tail.scratch.counts().map(|c| c as u32),
        };
        let mut rec = frame;
        rec.extend_from_slice(&if self.v1_1 { info.encode_trailer_compact() } else { info.encode_trailer() });
        tail.file.write_all(&rec)?;
        tail.pos += rec.len() as u64;
        tail.rows = self.cur.len();
        if self.opts.sync == SyncPolicy::Interval {
            tail.file.sync_data()?;
        }
        Ok(n)
    }

    /// Events in the open block that are not yet checkpointed (lost if the process died now).
    pub fn unsaved_events(&self) -> usize {
        self.cur.len() - self.tail.as_ref().map_or(0, |t| t.rows)
    }

    /// Bytes of closed blocks (and header) in the main file.
    pub fn bytes_written(&self) -> u64 {
        self.pos
    }

    /// Write a block from an already encoded payload, as is (conformance generators and format
    /// tools; normal writers use [`Writer::push`] and [`Writer::write_table`]). `events` counts
    /// every event of the payload, including kinds this library does not know.
    #[doc(hidden)]
    pub fn write_raw_block(&mut self, payload: &[u8], events: u32, t_range: (i64, i64), counts: [u32; NUM_KINDS]) -> Result<()> {
        self.flush()?;
        let compressor = self.compressor.as_mut().ok_or_else(|| Error::Usage("writer is closed".into()))?;
        let frame = compressor.compress(payload)?;
        let info = BlockInfo {
            offset: self.pos,
            length: frame.len() as u32,
            raw_len: payload.len() as u32,
            hash: hash32(&frame),
            first_event: self.events,
            events,
            t_min: t_range.0,
            t_max: t_range.1,
            counts,
        };
        self.emit(&frame, info.raw_len)?;
        self.emit(&self.trailer(&info), 0)?;
        self.events += u64::from(events);
        self.blocks.push(info);
        Ok(())
    }

    /// Events accepted so far (in closed blocks and in the open one).
    pub fn events(&self) -> u64 {
        self.events + self.cur.len() as u64
    }

    /// Close the last block, write the index and the seek table. Idempotent.
    pub fn close(&mut self) -> Result<WriteStats> {
        if self.out.is_some() {
            self.finish()?;
            // No frame follows the footer: the context goes back for this thread's next writer.
            if let Some(c) = self.compressor.take() {
                CompressorCache::give(self.opts.level, c);
            }
            if self.opts.sync_on_close || self.opts.sync != SyncPolicy::Never {
                if let Some(f) = &self.file {
                    f.sync_all()?;
                }
            }
            if self.temp.is_none() {
                // The file is done: release it (and its lock) now, not when the writer is dropped.
                self.file = None;
            }
            // The file is complete: its tail is redundant (a reader never merges a tail into a
            // file that has its footer, so a kill before this line duplicates nothing).
            if let Some(tail) = self.tail.take() {
                drop(tail.file);
                std::fs::remove_file(&tail.path).map_err(|e| crate::fsio::err(&tail.path, "remove", e))?;
            }
            if let Some((temp, dest, _lock)) = self.temp.take() {
                self.file = None;
                temp.commit(&dest, self.opts.overwrite)?;
            }
        }
        Ok(self.stats())
    }

    /// Close the file and give back the sink.
    pub fn into_inner(mut self) -> Result<W> {
        self.finish()
    }

    /// Close the file and give back the sink with the file's figures: a file written into
    /// memory (`Writer<Vec<u8>>`) is then the bytes and what they hold.
    pub fn into_parts(mut self) -> Result<(W, WriteStats)> {
        let out = self.finish()?;
        Ok((out, self.stats()))
    }

    /// Write the footer (open block, index, seek table) and take the sink out of the writer.
    fn finish(&mut self) -> Result<W> {
        // 1.2: the last block's trailer is left out when the index will follow its frame.
        let index_follows = self.blocks.len() < MAX_INDEX_BLOCKS;
        self.close_block(!(self.v1_2 && index_follows))?;
        self.write_index()?;
        let seek = encode_seek_table(&self.frames);
        let mut out = self.out.take().ok_or_else(|| Error::Usage("writer is closed".into()))?;
        out.write_all(&seek)?;
        out.flush()?;
        self.pos += seek.len() as u64;
        Ok(out)
    }

    fn write_index(&mut self) -> Result<()> {
        if self.blocks.len() <= MAX_INDEX_BLOCKS {
            let index = Index { blocks: std::mem::take(&mut self.blocks) };
            let rec = if self.v1_1 { index.encode_compact() } else { index.encode() };
            self.blocks = index.blocks;
            self.emit(&rec, 0)?;
        }
        Ok(())
    }

    /// The trailer record of a closed block, in the file's format version.
    fn trailer(&self, info: &BlockInfo) -> Vec<u8> {
        if self.v1_1 {
            info.encode_trailer_compact()
        } else {
            info.encode_trailer()
        }
    }

    pub fn stats(&self) -> WriteStats {
        WriteStats { events: self.events(), blocks: self.blocks.len() as u64, bytes: self.pos }
    }
}

impl<W: Write> Drop for Writer<W> {
    fn drop(&mut self) {
        if self.temp.is_none() {
            // Best effort: a writer dropped without close still leaves a complete file.
            // (An atomic write dropped unclosed, by an error or a panic, is abandoned: its
            // temporary is removed and the destination keeps what it held.)
            let _ = self.close();
        }
        if let Some(c) = self.compressor.take() {
            CompressorCache::give(self.opts.level, c);
        }
    }
}

/// One zstd compression context per thread, kept between writers. A context costs an
/// allocation and the set-up of its tables (ZSTD_createCCtx and the first frame's workspace):
/// for a file of a few hundred events, a visible share of writing it. Each frame is a new
/// `ZSTD_compress2` with the same parameters (level, checksum, content size), so a reused
/// context writes the same bytes as a fresh one.
struct CompressorCache;

thread_local! {
    static CACHED_COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

impl CompressorCache {
    /// This thread's context when it was made for `level`, else a new one.
    fn take(level: i32) -> Result<zstd::bulk::Compressor<'static>> {
        if let Some((l, c)) = CACHED_COMPRESSOR.with(|s| s.borrow_mut().take()) {
            if l == level {
                return Ok(c);
            }
        }
        let mut c = zstd::bulk::Compressor::new(level)?;
        c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
        Ok(c)
    }

    /// Keep `c` for the next writer of this thread (one context per thread at most; during a
    /// thread's exit, when its slot is gone, `c` is freed).
    fn give(level: i32, c: zstd::bulk::Compressor<'static>) {
        let _ = CACHED_COMPRESSOR.try_with(|s| *s.borrow_mut() = Some((level, c)));
    }
}

fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
