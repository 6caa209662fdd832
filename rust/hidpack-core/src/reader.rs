//! The reader: opens a hidpack file (complete, torn, or damaged), lists its blocks, decodes the
//! blocks a query needs and reports everything it had to skip.
//!
//! Opening reads the header, then the footer (seek table, then index). When the footer is missing
//! (the writer was killed) or damaged, the reader scans the file frame by frame from the header
//! on: every complete block is found, a torn tail is reported with its offset and length, and
//! bytes it cannot recognise are skipped up to the next frame magic. Every length read from the
//! file is checked against the file's size and the format's limits before anything is allocated.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::codec::{decode_payload_kinds, Budget, DecodeNotes, ALL_KIND_BITS};
use crate::error::{Error, Result};
use crate::frame::{
    check_record, decode_seek_table, hash32, le_u32, walk_zstd_frame, walk_zstd_frame_with, BlockInfo, Header, Index,
    HIDPACK_SKIPPABLE, MAX_BLOCK_RAW, MAX_FRAME, MAX_RECORD, SKIPPABLE_BASE, SKIPPABLE_MASK, TAG_HEADER,
    ZSTD_MAGIC,
};
use crate::model::{Kind, NUM_KINDS};
pub use crate::ordered::in_order;
use crate::table::EventTable;

/// Random-access bytes: a file, or a buffer in memory.
pub trait Source: Send + Sync {
    fn len(&self) -> u64;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// All the bytes, when they are in memory (a block's frame is then read in place, not
    /// copied out first); None for a source that reads from elsewhere.
    fn bytes(&self) -> Option<&[u8]> {
        None
    }
}

/// `buf.len()` bytes of `bytes` at `offset`; `UnexpectedEof` when they run past its end (no
/// arithmetic on the untrusted offset can wrap).
fn read_slice_at(bytes: &[u8], offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    let src = usize::try_from(offset)
        .ok()
        .and_then(|s| bytes.get(s..s.checked_add(buf.len())?))
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    buf.copy_from_slice(src);
    Ok(())
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        read_slice_at(self, offset, buf)
    }
    fn bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// A recording held in memory by any owner of its bytes: a `Vec<u8>`, an `Arc<[u8]>`, a
/// `bytes::Bytes`, or a foreign buffer (the Python bindings wrap a held `bytes` object in one, so
/// reading from Python's memory copies nothing). The bytes must not change while it is read.
pub struct MemorySource<B>(pub B);

impl<B: AsRef<[u8]> + Send + Sync> Source for MemorySource<B> {
    fn len(&self) -> u64 {
        self.0.as_ref().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        read_slice_at(self.0.as_ref(), offset, buf)
    }
    fn bytes(&self) -> Option<&[u8]> {
        Some(self.0.as_ref())
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        (**self).read_at(offset, buf)
    }
    fn bytes(&self) -> Option<&[u8]> {
        (**self).bytes()
    }
}

impl<S: Source + ?Sized> Source for std::sync::Arc<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        (**self).read_at(offset, buf)
    }
    fn bytes(&self) -> Option<&[u8]> {
        (**self).bytes()
    }
}

/// A file and its length at open time. A file of at most [`FileSource::WHOLE`] bytes is read
/// whole when opened: opening walks its header, seek table and index, and reading its one or two
/// blocks afterwards costs one system call, not six.
pub struct FileSource {
    file: File,
    len: u64,
    whole: Option<Vec<u8>>,
}

impl FileSource {
    /// Largest file read whole at open.
    pub const WHOLE: u64 = 256 << 10;

    /// `file`, whose length is `len`.
    pub fn new(file: File, len: u64) -> std::io::Result<Self> {
        let mut f = FileSource { file, len, whole: None };
        if len <= Self::WHOLE {
            // read into the Vec's spare room (no zeroing first), at most `len` bytes: a file
            // that grew since is read as it was, one that shrank fails as a short read
            let mut v = Vec::with_capacity(len as usize);
            std::io::Read::read_to_end(&mut std::io::Read::take(&f.file, len), &mut v)?;
            if v.len() as u64 != len {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "failed to fill whole buffer"));
            }
            f.whole = Some(v);
        }
        Ok(f)
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match &self.whole {
            Some(v) => v.read_at(offset, buf),
            None => self.read_file_at(offset, buf),
        }
    }
    fn bytes(&self) -> Option<&[u8]> {
        self.whole.as_deref()
    }
}

impl FileSource {
    #[cfg(unix)]
    fn read_file_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
    #[cfg(windows)]
    fn read_file_at(&self, mut offset: u64, mut buf: &mut [u8]) -> std::io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            let n = self.file.seek_read(buf, offset)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf = &mut buf[n..];
            offset += n as u64;
        }
        Ok(())
    }
}

/// Something the reader skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: u64,
    pub length: u64,
    pub error: String,
    /// Events known to be lost (from a trailer or the index), when known.
    pub events_lost: Option<u64>,
}

/// How the block list was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// From the footer index (the file was closed cleanly).
    Index,
    /// By scanning the file (no usable footer).
    Scanned,
}

/// Result of [`Reader::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub ok: bool,
    pub blocks: u64,
    pub events: u64,
    pub problems: Vec<Problem>,
}

/// What was read from a write-ahead tail found beside the file (a recording whose writer did not
/// close it: see [`crate::Writer::create_with_tail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailInfo {
    pub path: PathBuf,
    /// Blocks of the tail merged after the file's own.
    pub blocks: usize,
    /// Events they hold.
    pub events: u64,
    /// Tail events skipped because the file already holds them (the writer closed a block and
    /// was stopped before it could truncate the tail).
    pub duplicate_events: u64,
    /// Every checkpoint of the tail is accounted for: merged, or already in the file. False
    /// when a checkpoint was skipped (repeated, overlapping, damaged) or the tail was not
    /// merged at all ([`TailInfo::not_merged`]).
    pub whole: bool,
    /// Why the tail was not merged at all (it belongs to another recording, the file is
    /// complete, it is not a regular file, ...), or None.
    pub not_merged: Option<String>,
}

struct TailPart {
    reader: Box<Reader<FileSource>>,
    /// For each merged block (after the file's own), its index in the tail.
    map: Vec<usize>,
}

/// An open hidpack file.
pub struct Reader<S: Source = FileSource> {
    src: S,
    header: Header,
    header_end: u64,
    blocks: Vec<BlockInfo>,
    /// Per block: is its `hash` known (from a trailer or the index)?
    hash_known: Vec<bool>,
    /// Per block: the `first_event` its trailer or index entry states (a scan renumbers
    /// `first_event` by counting; a write-ahead tail needs the stated one). `None` for a frame
    /// found without a trailer.
    stated_first: Vec<Option<u64>>,
    layout: Layout,
    footer_error: Option<String>,
    problems: Mutex<Vec<Problem>>,
    notes: Mutex<DecodeNotes>,
    /// Blocks of the file itself; blocks after these come from the write-ahead tail.
    n_main: usize,
    tail: Option<TailPart>,
    tail_info: Option<TailInfo>,
}

impl Reader<FileSource> {
    /// Open a file. If a write-ahead tail (`<path>.wal`) of the same recording lies beside it,
    /// its events that the file lacks are appended as extra blocks ([`Reader::tail`]), so a
    /// recording whose writer was killed reads back complete up to its last checkpoint.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Reader::open_tail_if(path.as_ref(), |_| true)
    }

    /// [`Reader::open`] for a read of the events only (a fleet's files): the same events and
    /// problems, but a file whose footer is intact is not checked for a write-ahead tail beside
    /// it (a tail is never merged into such a file: see [`Reader::attach_tail`]), so that its
    /// [`Reader::tail`] is None, and opening it looks up one path, not two.
    pub fn open_for_events(path: impl AsRef<Path>) -> Result<Self> {
        Reader::open_tail_if(path.as_ref(), |r| r.layout != Layout::Index)
    }

    /// The file alone, then its write-ahead tail attached when `look` says to look for one
    /// and there is one.
    fn open_tail_if(path: &Path, look: impl Fn(&Self) -> bool) -> Result<Self> {
        let mut r = Reader::open_without_tail(path)?;
        if look(&r) {
            let tp = crate::writer::tail_path(path);
            if std::fs::symlink_metadata(&tp).is_ok() {
                r.attach_tail(tp);
            }
        }
        Ok(r)
    }

    /// This reader over the file's bytes in memory, the file itself closed: when the file was
    /// small enough to be read whole at open ([`FileSource::WHOLE`]) and no write-ahead tail was
    /// merged into it (None otherwise: the reader is dropped). For a caller that keeps many
    /// readers between two passes (a fleet's counts, then its read) without holding a file
    /// handle for each.
    pub fn into_memory(self) -> Option<Reader<Box<dyn Source>>> {
        if self.tail.is_some() {
            return None;
        }
        let Reader { src, header, header_end, blocks, hash_known, stated_first, layout, footer_error, problems, notes, n_main, tail, tail_info } = self;
        let src: Box<dyn Source> = Box::new(src.whole?);
        Some(Reader { src, header, header_end, blocks, hash_known, stated_first, layout, footer_error, problems, notes, n_main, tail, tail_info })
    }

    /// Open a file alone, ignoring any write-ahead tail beside it. Regular files only: a FIFO
    /// or device is refused at once, never waited on.
    pub fn open_without_tail(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (file, len) = crate::fsio::open_recording_len(path)?;
        Reader::from_source(FileSource::new(file, len).map_err(|e| crate::fsio::err(path, "read", e))?)
    }
}

impl<S: Source> Reader<S> {
    /// Merge the write-ahead tail at `path`:
    ///
    /// * never into a file that has its footer (it was closed after the tail's last checkpoint,
    ///   so every event of the tail is in it: a kill between the close, or a `recover`, and the
    ///   removal of the tail must not duplicate them);
    /// * never a tail that is not a regular file (opened without following a symlink, without
    ///   blocking), or that belongs to another recording (a different header);
    /// * its checkpoints in event order (`first_event`), each once: a checkpoint the file
    ///   already holds is skipped silently (killed between a block close and the tail's
    ///   truncation), one repeated or overlapping in the tail is skipped and reported, a hole
    ///   between checkpoints is reported with the events it lost.
    ///
    /// A tail whose own header is damaged is read with the file's header (the writer wrote the
    /// same bytes to both), so its intact checkpoints are not lost. What was done is in
    /// [`Reader::tail`]; anything skipped is also in [`Reader::problems`].
    pub fn attach_tail(&mut self, path: PathBuf) {
        let mut info = TailInfo { path: path.clone(), blocks: 0, events: 0, duplicate_events: 0, whole: false, not_merged: None };
        // A problem of the tail, reported as the file's.
        let say = |r: &Self, offset: u64, length: u64, what: String, events_lost: Option<u64>| {
            r.report(Problem { offset, length, error: format!("write-ahead tail {}: {what}", path.display()), events_lost })
        };
        let not_merged = |r: &mut Self, mut info: TailInfo, why: String, problem: bool| {
            if problem {
                r.report(Problem { offset: 0, length: 0, error: format!("write-ahead tail {} not merged: {why}", path.display()), events_lost: None });
            }
            info.not_merged = Some(why);
            r.tail_info = Some(info);
        };
        if self.layout == Layout::Index {
            not_merged(self, info, "the file is complete (its footer was written after the tail's last checkpoint)".into(), false);
            return;
        }
        let file = match crate::fsio::open_side_file(&path) {
            Ok(f) => f,
            Err(e) => return not_merged(self, info, e.to_string(), true),
        };
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return not_merged(self, info, e.to_string(), true),
        };
        if len == 0 {
            // Killed while creating it: it holds no events.
            info.whole = true;
            self.tail_info = Some(info);
            return;
        }
        let src = match FileSource::new(file, len) {
            Ok(s) => s,
            Err(e) => return not_merged(self, info, e.to_string(), true),
        };
        let mut header_damaged = false;
        let tail = match Reader::from_source(src) {
            Ok(t) if t.header != self.header => {
                return not_merged(self, info, "its header differs from the file's (another recording)".into(), true)
            }
            Ok(t) => t,
            Err(e) => {
                // The tail's header is damaged (or cut): its checkpoints follow the same header
                // bytes as the file's, so read them with the file's header.
                let Ok(f) = crate::fsio::open_side_file(&path) else { return };
                let Ok(src) = FileSource::new(f, len) else { return };
                if len < self.header_end {
                    return not_merged(self, info, format!("cut inside its header ({len} bytes): {e}"), len > 8);
                }
                say(self, 0, 0, format!("its header is damaged ({e}); its checkpoints were read with the file's header"), None);
                header_damaged = true;
                match Reader::with_known_header(src, self.header.clone(), self.header_end) {
                    Ok(t) => t,
                    Err(e) => return not_merged(self, info, e.to_string(), true),
                }
            }
        };
        let main_end = self.blocks[..self.n_main].iter().map(|b| b.first_event + u64::from(b.events)).max().unwrap_or(0);
        let mut whole = !header_damaged;
        let mut order: Vec<usize> = Vec::new();
        let n_tail = tail.stated_first.len();
        for (j, first) in tail.stated_first.iter().enumerate() {
            if first.is_some() {
                order.push(j);
            } else if j + 1 < n_tail {
                // The last frame without its trailer was cut by a kill inside the checkpoint (it
                // was never complete); one in the middle was damaged or moved: say so.
                whole = false;
                let b = &tail.blocks[j];
                say(self, b.offset, u64::from(b.length), format!("checkpoint frame at offset {} has no matching trailer; skipped", b.offset), None);
            }
        }
        if order.windows(2).any(|w| tail.stated_first[w[0]] > tail.stated_first[w[1]]) {
            say(self, 0, 0, "its checkpoints are out of order; merged in event order".into(), None);
            whole = false;
        }
        order.sort_by_key(|&j| tail.stated_first[j]);
        let mut next = main_end;
        let mut map = Vec::new();
        for j in order {
            let first = tail.stated_first[j].expect("stated");
            let mut b = tail.blocks[j].clone();
            b.first_event = first;
            let end = first + u64::from(b.events);
            if end <= main_end {
                info.duplicate_events += u64::from(b.events);
                continue;
            }
            if first < next {
                whole = false;
                let what = if end <= next { "repeats events already merged" } else { "overlaps events already merged" };
                say(self, b.offset, u64::from(b.length), format!("checkpoint of events {first}..{end} {what} (..{next}); skipped"), None);
                continue;
            }
            if first > next {
                whole = false;
                let what = format!("events {next}..{first} are missing before the checkpoint at offset {}", b.offset);
                say(self, b.offset, 0, what, Some(first - next));
            }
            next = end;
            info.blocks += 1;
            info.events += u64::from(b.events);
            self.blocks.push(b);
            self.hash_known.push(tail.hash_known[j]);
            self.stated_first.push(Some(first));
            map.push(j);
        }
        for p in tail.problems() {
            whole = false;
            self.report(Problem { error: format!("write-ahead tail {}: {}", path.display(), p.error), ..p });
        }
        info.whole = whole;
        self.tail_info = Some(info);
        self.tail = Some(TailPart { reader: Box::new(tail), map });
    }

    /// The write-ahead tail found at open, if any: what was merged, or why nothing was.
    pub fn tail(&self) -> Option<&TailInfo> {
        self.tail_info.as_ref()
    }

    /// Does block `i` come from the write-ahead tail (its offset is then in the tail file)?
    pub fn is_tail_block(&self, i: usize) -> bool {
        i >= self.n_main && i < self.blocks.len()
    }
}

fn read_vec<S: Source>(src: &S, offset: u64, n: u64) -> Result<Vec<u8>> {
    let avail = src.len().saturating_sub(offset);
    if n > avail {
        return Err(Error::Truncated { offset, needed: n, available: avail });
    }
    let mut v = vec![0u8; n as usize];
    src.read_at(offset, &mut v)?;
    Ok(v)
}

/// The last entry of the index record `body` when it is the block info of the pending data frame
/// `(offset, length, _)`, found by the scan path just before the index (FORMAT.md §4.6).
fn last_entry_of(body: &[u8], offset: u64, pending: (u64, u64, Option<u64>)) -> Option<BlockInfo> {
    let last = Index::decode(body, offset).ok()?.blocks.pop()?;
    (last.offset == pending.0 && u64::from(last.length) == pending.1).then_some(last)
}

fn hex_magic(m: u32) -> String {
    format!("{m:#010x}")
}

impl<S: Source> Reader<S> {
    /// Open from any [`Source`].
    pub fn from_source(src: S) -> Result<Self> {
        let len = src.len();
        if len < 8 {
            return Err(Error::format(0, format!("not a hidpack file: {len} bytes is too short for a header")));
        }
        let head = read_vec(&src, 0, 8)?;
        let magic = le_u32(&head, 0);
        if magic != HIDPACK_SKIPPABLE {
            return Err(Error::format(
                0,
                format!("not a hidpack file: expected magic {} at offset 0, found {}", hex_magic(HIDPACK_SKIPPABLE), hex_magic(magic)),
            ));
        }
        let size = u64::from(le_u32(&head, 4));
        if size > MAX_RECORD {
            return Err(Error::format(4, format!("header record claims {size} bytes, limit {MAX_RECORD}")));
        }
        let payload = read_vec(&src, 8, size)?;
        let body = check_record(&payload, 8)?;
        if body[..4] != TAG_HEADER {
            return Err(Error::format(8, format!("first record has tag {:?}, expected \"HPKH\"", String::from_utf8_lossy(&body[..4]))));
        }
        let header = Header::decode(body, 8)?;
        let mut r = Reader::bare(src, header, 8 + size, Layout::Index);
        match r.read_footer() {
            Ok(blocks) => {
                r.hash_known = vec![true; blocks.len()];
                r.stated_first = blocks.iter().map(|b| Some(b.first_event)).collect();
                r.blocks = blocks;
            }
            Err(e) => {
                r.footer_error = Some(e.to_string());
                r.layout = Layout::Scanned;
                r.scan()?;
            }
        }
        r.n_main = r.blocks.len();
        Ok(r)
    }

    /// A reader of `src` with its header known and no blocks yet.
    fn bare(src: S, header: Header, header_end: u64, layout: Layout) -> Self {
        Reader {
            src,
            header,
            header_end,
            blocks: Vec::new(),
            hash_known: Vec::new(),
            stated_first: Vec::new(),
            layout,
            footer_error: None,
            problems: Mutex::new(Vec::new()),
            notes: Mutex::new(DecodeNotes::default()),
            n_main: 0,
            tail: None,
            tail_info: None,
        }
    }

    /// Open from a source whose header record is damaged but known to be `header` (the first
    /// `header_end` bytes): its blocks are found by scanning after it.
    fn with_known_header(src: S, header: Header, header_end: u64) -> Result<Self> {
        let mut r = Reader::bare(src, header, header_end, Layout::Scanned);
        r.footer_error = Some("read with a known header".into());
        r.scan()?;
        r.n_main = r.blocks.len();
        Ok(r)
    }

    /// The same reader over its source boxed, so readers of files, of memory and of a caller's
    /// own sources have one type (the Python bindings hold any of them).
    pub fn into_dyn(self) -> Reader<Box<dyn Source>>
    where
        S: 'static,
    {
        let Reader { src, header, header_end, blocks, hash_known, stated_first, layout, footer_error, problems, notes, n_main, tail, tail_info } = self;
        let src: Box<dyn Source> = Box::new(src);
        Reader { src, header, header_end, blocks, hash_known, stated_first, layout, footer_error, problems, notes, n_main, tail, tail_info }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Bytes of the source (the file, or the recording in memory).
    pub fn source_len(&self) -> u64 {
        self.src.len()
    }
    pub fn blocks(&self) -> &[BlockInfo] {
        &self.blocks
    }
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// Why the footer could not be used (the file was not closed, or its footer is damaged).
    pub fn footer_error(&self) -> Option<&str> {
        self.footer_error.as_deref()
    }
    pub fn file_len(&self) -> u64 {
        self.src.len()
    }
    /// Everything skipped so far (at open, and by the reads since).
    pub fn problems(&self) -> Vec<Problem> {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }
    pub fn notes(&self) -> DecodeNotes {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }
    /// Puts back the decode notes of [`Reader::notes`]: a read that gives up and decodes the same
    /// blocks again another way (see [`crate::placed`]) counts them once.
    pub(crate) fn restore_notes(&self, notes: DecodeNotes) {
        if let Ok(mut n) = self.notes.lock() {
            *n = notes;
        }
    }
    /// Events listed in the block infos.
    pub fn event_count(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.events)).sum()
    }
    pub fn counts(&self) -> [u64; NUM_KINDS] {
        let mut c = [0u64; NUM_KINDS];
        for b in &self.blocks {
            for (i, n) in b.counts.iter().enumerate() {
                c[i] += u64::from(*n);
            }
        }
        c
    }

    fn report(&self, p: Problem) {
        if let Ok(mut v) = self.problems.lock() {
            if !v.iter().any(|q| q.offset == p.offset && q.error == p.error) {
                v.push(p);
            }
        }
    }

    fn read_footer(&self) -> Result<Vec<BlockInfo>> {
        let len = self.src.len();
        let max_tail = (len - self.header_end).min(MAX_RECORD);
        let foot = read_vec(&self.src, len - 9.min(len), 9.min(len))?;
        if foot.len() < 9 {
            return Err(Error::format(len, "no footer"));
        }
        let n = u64::from(le_u32(&foot, 0));
        let table_len = 8 + n * if foot[4] & 0x80 != 0 { 12 } else { 8 } + 9;
        if table_len > max_tail {
            return Err(Error::format(len, "seek table larger than the file"));
        }
        let tail = read_vec(&self.src, len - table_len, table_len)?;
        let (frames, table_len) = decode_seek_table(&tail, len)?;
        let sum: u64 = frames.iter().map(|f| u64::from(f.0)).sum();
        if sum + table_len != len {
            return Err(Error::format(len - table_len, format!("seek table covers {sum} bytes, file has {}", len - table_len)));
        }
        let (idx_len, _) = *frames.last().ok_or_else(|| Error::format(len, "empty seek table"))?;
        let idx_off = len - table_len - u64::from(idx_len);
        if u64::from(idx_len) < 12 || u64::from(idx_len) > MAX_RECORD {
            return Err(Error::format(idx_off, "index record size out of range"));
        }
        let rec = read_vec(&self.src, idx_off, u64::from(idx_len))?;
        if le_u32(&rec, 0) != HIDPACK_SKIPPABLE || u64::from(le_u32(&rec, 4)) + 8 != u64::from(idx_len) {
            return Err(Error::format(idx_off, "no index record before the seek table"));
        }
        let body = check_record(&rec[8..], idx_off + 8)?;
        if !crate::frame::is_index(body) {
            return Err(Error::format(idx_off, "record before the seek table is not an index"));
        }
        let index = Index::decode(body, idx_off + 8)?;
        let mut prev_end = self.header_end;
        for b in &index.blocks {
            if b.offset < prev_end
                || b.offset + u64::from(b.length) > idx_off
                || u64::from(b.raw_len) > MAX_BLOCK_RAW
                || u64::from(b.length) > MAX_FRAME
            {
                return Err(Error::format(idx_off, format!("index entry for offset {} is out of range", b.offset)));
            }
            prev_end = b.offset + u64::from(b.length);
        }
        Ok(index.blocks)
    }

    /// Find the blocks by walking the frames (no footer, or a damaged one).
    fn scan(&mut self) -> Result<()> {
        let len = self.src.len();
        let mut pos = self.header_end;
        let mut events = 0u64;
        let mut pending: Option<(u64, u64, Option<u64>)> = None; // data frame offset, length, content size
        while pos < len {
            if len - pos < 8 {
                self.finish_pending(&mut pending, &mut events);
                self.report(Problem {
                    offset: pos,
                    length: len - pos,
                    error: format!("truncated: {} trailing bytes are not a complete frame", len - pos),
                    events_lost: None,
                });
                break;
            }
            let h = read_vec(&self.src, pos, 8)?;
            let magic = le_u32(&h, 0);
            if magic == ZSTD_MAGIC {
                self.finish_pending(&mut pending, &mut events);
                match self.walk_frame(pos) {
                    Ok(info) => {
                        pending = Some((pos, info.len, info.content_size));
                        pos += info.len;
                    }
                    Err(Error::Truncated { needed, available, .. }) => {
                        self.report(Problem {
                            offset: pos,
                            length: len - pos,
                            error: format!(
                                "truncated block: its frame needs at least {needed} bytes, the file has {available} after offset {pos}"
                            ),
                            events_lost: None,
                        });
                        pos = len;
                    }
                    Err(e) => {
                        let next = self.resync(pos + 1)?;
                        self.report(Problem { offset: pos, length: next - pos, error: e.to_string(), events_lost: None });
                        pos = next;
                    }
                }
            } else if magic & SKIPPABLE_MASK == SKIPPABLE_BASE {
                let size = u64::from(le_u32(&h, 4));
                if pos + 8 + size > len {
                    self.finish_pending(&mut pending, &mut events);
                    // A damaged size, or the writer was killed while writing this record.
                    let next = self.resync(pos + 1)?;
                    let error = if next >= len {
                        format!("truncated: a record of {size} bytes at offset {pos} runs past the end of the file")
                    } else {
                        format!("a record of {size} bytes at offset {pos} runs past the end of the file; skipped to the next frame")
                    };
                    self.report(Problem { offset: pos, length: next - pos, error, events_lost: None });
                    pos = next;
                    continue;
                }
                if magic == HIDPACK_SKIPPABLE && size > MAX_RECORD {
                    self.finish_pending(&mut pending, &mut events);
                    self.report(Problem {
                        offset: pos,
                        length: 8 + size,
                        error: format!("hidpack record of {size} bytes exceeds the {MAX_RECORD}-byte limit; skipped"),
                        events_lost: None,
                    });
                } else if magic == HIDPACK_SKIPPABLE {
                    let rec = read_vec(&self.src, pos + 8, size)?;
                    match check_record(&rec, pos + 8) {
                        Ok(body) if crate::frame::is_trailer(body) => {
                            match BlockInfo::decode_trailer(body, pos + 8) {
                                Ok(info) if pending.is_some_and(|p| p.0 == info.offset && p.1 == u64::from(info.length)) => {
                                    pending = None;
                                    self.accept_trailer(info, &mut events);
                                }
                                Ok(_) | Err(_) => {
                                    self.finish_pending(&mut pending, &mut events);
                                }
                            }
                        }
                        Ok(body) if crate::frame::is_index(body) => match pending.and_then(|p| last_entry_of(body, pos + 8, p)) {
                            // 1.2: the last block has no trailer; the index entry after it tells the same (§4.6)
                            Some(info) => {
                                pending = None;
                                self.accept_trailer(info, &mut events);
                            }
                            None => self.finish_pending(&mut pending, &mut events),
                        },
                        Ok(body) if body[..4] == TAG_HEADER => {
                            self.finish_pending(&mut pending, &mut events);
                            self.report(Problem {
                                offset: pos,
                                length: 8 + size,
                                error: "a second file header inside the file (files were concatenated?); ignored".into(),
                                events_lost: None,
                            });
                        }
                        Ok(_) => self.finish_pending(&mut pending, &mut events), // index, unknown records
                        Err(e) => {
                            self.finish_pending(&mut pending, &mut events);
                            self.report(Problem { offset: pos, length: 8 + size, error: e.to_string(), events_lost: None });
                        }
                    }
                } else {
                    self.finish_pending(&mut pending, &mut events);
                }
                pos += 8 + size;
            } else {
                self.finish_pending(&mut pending, &mut events);
                let next = self.resync(pos + 1)?;
                self.report(Problem {
                    offset: pos,
                    length: next - pos,
                    error: format!("unrecognised bytes (magic {}) skipped up to the next frame", hex_magic(magic)),
                    events_lost: None,
                });
                pos = next;
            }
        }
        self.finish_pending(&mut pending, &mut events);
        Ok(())
    }

    fn accept_trailer(&mut self, mut info: BlockInfo, events: &mut u64) {
        self.stated_first.push(Some(info.first_event));
        info.first_event = *events;
        *events += u64::from(info.events);
        self.blocks.push(info);
        self.hash_known.push(true);
    }

    /// A data frame without a (valid) trailer: decode it to learn its time range and counts.
    fn finish_pending(&mut self, pending: &mut Option<(u64, u64, Option<u64>)>, events: &mut u64) {
        let Some((offset, length, content)) = pending.take() else { return };
        let probe = BlockInfo {
            offset,
            length: length.min(u64::from(u32::MAX)) as u32,
            raw_len: content.unwrap_or(0).min(u64::from(u32::MAX)) as u32,
            hash: 0,
            first_event: *events,
            events: 0,
            t_min: 0,
            t_max: 0,
            counts: [0; NUM_KINDS],
        };
        match self.decode_block_unchecked(&probe, false, ALL_KIND_BITS) {
            Ok((t, notes)) => {
                let (t_min, t_max) = t.t_range().unwrap_or((0, 0));
                let info = BlockInfo {
                    events: (t.len() as u64 + notes.unknown_kind_events) as u32,
                    t_min,
                    t_max,
                    counts: t.counts().map(|c| c as u32),
                    ..probe
                };
                *events += u64::from(info.events);
                self.blocks.push(info);
                self.hash_known.push(false);
                self.stated_first.push(None);
            }
            Err(e) => self.report(Problem { offset, length, error: e.to_string(), events_lost: None }),
        }
    }

    fn walk_frame(&self, pos: u64) -> Result<crate::frame::ZstdFrameInfo> {
        let avail = self.src.len() - pos;
        walk_zstd_frame_with(avail, pos, |at, buf| Ok(self.src.read_at(pos + at, buf)?))
    }

    /// Next offset at or after `from` holding a zstd or hidpack frame magic (or the file's end).
    fn resync(&self, from: u64) -> Result<u64> {
        let len = self.src.len();
        let mut pos = from;
        const WIN: u64 = 1 << 20;
        while pos + 4 <= len {
            let n = (len - pos).min(WIN + 3);
            let buf = read_vec(&self.src, pos, n)?;
            for i in 0..buf.len().saturating_sub(3) {
                let m = le_u32(&buf, i);
                if m == ZSTD_MAGIC || m == HIDPACK_SKIPPABLE {
                    return Ok(pos + i as u64);
                }
            }
            pos += n.saturating_sub(3).max(1);
        }
        Ok(len)
    }

    /// The decompressed payload of a block, its frame checked (size limits, content size,
    /// checksum, and the trailer's hash when `check_hash`).
    fn block_payload(&self, info: &BlockInfo, check_hash: bool) -> Result<Vec<u8>> {
        let off = info.offset;
        if u64::from(info.length) > MAX_FRAME {
            return Err(Error::corrupt(off, format!("data frame of {} bytes exceeds the {MAX_FRAME}-byte limit", info.length)));
        }
        // in place when the source holds its bytes, else copied out (into a zeroed buffer: reading
        // into a per-thread buffer kept between blocks instead, which zeroes nothing after the
        // first, did not lower a 2 M-event read's CPU, 3.2 MB of frames, in interleaved runs)
        let held = self.src.bytes().and_then(|b| {
            let start = usize::try_from(off).ok()?;
            b.get(start..start.checked_add(info.length as usize)?)
        });
        let copied;
        let frame: &[u8] = match held {
            Some(f) => f,
            None => {
                copied = read_vec(&self.src, off, u64::from(info.length))?;
                &copied
            }
        };
        if check_hash && hash32(frame) != info.hash {
            return Err(Error::corrupt(
                off,
                format!("data frame checksum mismatch: stored {:#010x}, computed {:#010x}", info.hash, hash32(frame)),
            ));
        }
        let fi = walk_zstd_frame(frame, off).map_err(|e| match e {
            Error::Truncated { .. } => Error::corrupt(off, format!("data frame shorter than its {} bytes", frame.len())),
            e => e,
        })?;
        let content = fi.content_size.ok_or_else(|| Error::corrupt(off, "data frame does not declare its content size"))?;
        if content > MAX_BLOCK_RAW {
            return Err(Error::corrupt(off, format!("block content size {content} exceeds the limit {MAX_BLOCK_RAW}")));
        }
        if info.raw_len != 0 && u64::from(info.raw_len) != content {
            return Err(Error::corrupt(off, format!("content size {content} differs from the recorded {}", info.raw_len)));
        }
        if !fi.has_checksum {
            return Err(Error::corrupt(off, "data frame has no content checksum"));
        }
        let mut payload = Vec::with_capacity(content as usize);
        // One decompression context per thread: creating one costs more than decoding a small block.
        thread_local! {
            static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
        }
        DCTX.with(|cell| -> Result<()> {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(zstd::bulk::Decompressor::new()?);
            }
            let dec = slot.as_mut().expect("initialised above");
            dec.decompress_to_buffer(&frame[..fi.len as usize], &mut payload)
                .map_err(|e| Error::corrupt(off, format!("zstd: {e}")))?;
            Ok(())
        })?;
        if payload.len() as u64 != content {
            return Err(Error::corrupt(off, format!("decompressed {} bytes, expected {content}", payload.len())));
        }
        Ok(payload)
    }

    fn decode_block_unchecked(&self, info: &BlockInfo, check_hash: bool, kinds: u16) -> Result<(EventTable, DecodeNotes)> {
        let off = info.offset;
        let payload = self.block_payload(info, check_hash)?;
        let mut table = EventTable::new();
        let mut notes = DecodeNotes::default();
        let mut budget = Budget::for_block(u64::from(info.events));
        decode_payload_kinds(&payload, off, &mut budget, &mut table, &mut notes, kinds)?;
        if notes != DecodeNotes::default() {
            if let Ok(mut n) = self.notes.lock() {
                n.unknown_fields += notes.unknown_fields;
                n.unknown_kind_events += notes.unknown_kind_events;
            }
        }
        Ok((table, notes))
    }

    /// Where the bytes of block `i` go: its column chunks (FORMAT.md §5), with their encodings
    /// and sizes before zstd. Decodes only the `kind` column.
    pub fn block_chunks(&self, i: usize) -> Result<Vec<crate::codec::ChunkInfo>> {
        let info = self.blocks.get(i).ok_or_else(|| Error::Usage(format!("block {i} does not exist ({} blocks)", self.blocks.len())))?;
        if i >= self.n_main {
            if let Some(tail) = &self.tail {
                return tail.reader.block_chunks(tail.map[i - self.n_main]);
            }
        }
        let check = self.hash_known.get(i).copied().unwrap_or(false);
        let payload = self.block_payload(info, check)?;
        crate::codec::chunk_layout(&payload)
            .map_err(|e| Error::corrupt(info.offset, format!("block payload: {e}")))
    }

    /// Decode block `i` (checked against its trailer/index info).
    pub fn decode_block(&self, i: usize) -> Result<EventTable> {
        self.decode_block_kinds(i, ALL_KIND_BITS)
    }

    /// [`Reader::decode_block`] with the columns of the kinds in `kinds` only (see
    /// [`decode_payload_kinds`]: the other kinds' rows are in `t` and `kind`, their columns empty).
    fn decode_block_kinds(&self, i: usize, kinds: u16) -> Result<EventTable> {
        let info = self.blocks.get(i).ok_or_else(|| Error::Usage(format!("block {i} does not exist ({} blocks)", self.blocks.len())))?;
        if i >= self.n_main {
            if let Some(tail) = &self.tail {
                return tail.reader.decode_block_kinds(tail.map[i - self.n_main], kinds);
            }
        }
        let check = self.hash_known.get(i).copied().unwrap_or(false);
        let (t, notes) = self.decode_block_unchecked(info, check, kinds)?;
        let n = t.len() as u64 + notes.unknown_kind_events;
        if n != u64::from(info.events) {
            return Err(Error::corrupt(info.offset, format!("block holds {n} events, its record says {}", info.events)));
        }
        Ok(t)
    }

    /// Events with `t0 <= t < t1` of the given kinds (bit k of `kinds` set = kind code k), from
    /// the given blocks (all when `None`). Only blocks whose time range and counts can match are
    /// decoded. A block that fails its checks is skipped and reported in [`Reader::problems`].
    pub fn read(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>) -> Result<EventTable> {
        self.read_threads(t0, t1, kinds, blocks, 1)
    }

    /// [`Reader::read`], decoding up to `threads` blocks at once (on scoped threads; the calling
    /// thread is one of them). The result, and the problems reported, are the same as `read`'s;
    /// at most `2 · threads` decoded blocks wait to be appended at any time.
    pub fn read_threads(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>, threads: usize) -> Result<EventTable> {
        let lo = t0.unwrap_or(i64::MIN);
        let wanted = self.wanted_blocks(lo, t1, kinds, blocks)?;
        let mut out = EventTable::new();
        let single = wanted.len() == 1;
        if !single {
            // room for every wanted event up front: appending block after block then never
            // moves the columns (growing them by doubling copied and faulted them in repeatedly)
            let mut counts = [0usize; NUM_KINDS];
            for &(i, _) in &wanted {
                for (k, c) in counts.iter_mut().enumerate() {
                    if (kinds >> k) & 1 == 1 {
                        *c += self.blocks[i].counts[k] as usize;
                    }
                }
            }
            // The counts come from the file (untrusted): a hint only, skipped past 64 events per
            // file byte, and reserved fallibly (the decode allocates for real).
            let total: u64 = counts.iter().map(|&c| c as u64).sum();
            if total <= u64::from(u32::MAX).min(self.src.len().saturating_mul(64)) {
                out.try_reserve(&counts);
            }
        }
        self.each_block(&wanted, threads, ALL_KIND_BITS, |i, whole, t| {
            // One block, wholly wanted: taken as is (no copy).
            if whole && single && t.len() as u64 == u64::from(self.blocks[i].events) {
                out = t;
            } else {
                out.extend_filtered(&t, lo, t1, kinds);
            }
        });
        Ok(out)
    }

    /// [`Reader::read_threads`] as one table per block that has wanted events, in file order,
    /// not concatenated: for a caller that copies them into its own columns anyway (the Python
    /// bindings scatter them into union columns), which saves a copy of every event.
    pub fn read_parts(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>, threads: usize) -> Result<Vec<EventTable>> {
        let lo = t0.unwrap_or(i64::MIN);
        let wanted = self.wanted_blocks(lo, t1, kinds, blocks)?;
        let mut parts = Vec::with_capacity(wanted.len());
        self.each_block(&wanted, threads, ALL_KIND_BITS, |_, _, t| {
            let t = t.into_wanted(lo, t1, kinds);
            if !t.is_empty() {
                parts.push(t);
            }
        });
        Ok(parts)
    }

    /// Every block a query of `t0 <= t < t1` and `kinds` can need, decoded on up to `threads`
    /// threads and handed to `sink` in file order as (block index, its whole table: not filtered
    /// by time or kind; the caller takes what it wants). Unreadable blocks are skipped and
    /// reported in [`Reader::problems`], as by [`Reader::read`]. For readers that take columns
    /// straight from the per-kind tables (`crate::narrow`), where [`Reader::read_parts`] would
    /// copy every block that holds other kinds.
    pub fn for_each_block(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>, threads: usize, mut sink: impl FnMut(usize, EventTable)) -> Result<()> {
        let wanted = self.wanted_blocks(t0.unwrap_or(i64::MIN), t1, kinds, blocks)?;
        self.each_block(&wanted, threads, ALL_KIND_BITS, |i, _, t| sink(i, t));
        Ok(())
    }

    /// [`Reader::for_each_block`] handing over tables that hold the columns of `kinds` only: the
    /// rows of every kind are in `t` and `kind`, the columns of the others are empty (not
    /// decoded, not checked). For a reader that takes only the columns of `kinds` (a narrow read).
    pub fn for_each_block_of_kinds(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>, threads: usize, mut sink: impl FnMut(usize, EventTable)) -> Result<()> {
        let wanted = self.wanted_blocks(t0.unwrap_or(i64::MIN), t1, kinds, blocks)?;
        self.each_block(&wanted, threads, kinds, |i, _, t| sink(i, t));
        Ok(())
    }

    /// The indices of the blocks [`Reader::for_each_block`] decodes for this query.
    /// The events of the kinds in `kinds` that blocks `ids` hold, by their records: room to
    /// reserve for a read of them. The records are untrusted: a hint only, and None past
    /// `u32::MAX` events or 64 events per byte of the file.
    pub fn events_hint(&self, ids: &[usize], kinds: u16) -> Option<usize> {
        let in_block = |i: usize| -> u64 {
            let c = &self.blocks[i].counts;
            (0..NUM_KINDS).filter(|&k| (kinds >> k) & 1 == 1).map(|k| u64::from(c[k])).sum()
        };
        let hint: u64 = ids.iter().map(|&i| in_block(i)).sum();
        (hint <= u64::from(u32::MAX).min(self.src.len().saturating_mul(64))).then_some(hint as usize)
    }

    pub fn blocks_for(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>) -> Result<Vec<usize>> {
        Ok(self.wanted_blocks(t0.unwrap_or(i64::MIN), t1, kinds, blocks)?.into_iter().map(|(i, _)| i).collect())
    }

    /// The blocks a query can need, in order, each with whether all its events are wanted (by
    /// its record's time range and counts).
    /// At most how many events a read of `t0 <= t < t1` and `kinds` returns: the events of those
    /// kinds in the blocks the read decodes (exact when every such block lies inside the window).
    pub fn max_events(&self, t0: Option<i64>, t1: Option<i64>, kinds: u16) -> u64 {
        let lo = t0.unwrap_or(i64::MIN);
        self.blocks
            .iter()
            .filter(|b| overlaps(b, lo, t1))
            .map(|b| (0..NUM_KINDS).filter(|&k| (kinds >> k) & 1 == 1).map(|k| u64::from(b.counts[k])).sum::<u64>())
            .sum()
    }

    fn wanted_blocks(&self, lo: i64, t1: Option<i64>, kinds: u16, blocks: Option<&[usize]>) -> Result<Vec<(usize, bool)>> {
        let all: Vec<usize>;
        let sel = match blocks {
            Some(b) => b,
            None => {
                all = (0..self.blocks.len()).collect();
                &all
            }
        };
        let mut wanted: Vec<(usize, bool)> = Vec::with_capacity(sel.len());
        for &i in sel {
            let info = self.blocks.get(i).ok_or_else(|| Error::Usage(format!("block {i} does not exist ({} blocks)", self.blocks.len())))?;
            if !overlaps(info, lo, t1) {
                continue;
            }
            if !(0..NUM_KINDS).any(|k| (kinds >> k) & 1 == 1 && info.counts[k] > 0) {
                continue;
            }
            let whole = info.t_min >= lo
                && t1.is_none_or(|e| info.t_max < e)
                && (0..NUM_KINDS).all(|k| info.counts[k] == 0 || (kinds >> k) & 1 == 1);
            wanted.push((i, whole));
        }
        Ok(wanted)
    }

    /// Decodes the `wanted` blocks on up to `threads` threads, at most `2 · threads` ahead of
    /// `sink` ([`in_order`]), and hands each readable one to `sink` in file order, as (block,
    /// whole, table). A block that fails its checks is reported in [`Reader::problems`] instead.
    fn each_block(&self, wanted: &[(usize, bool)], threads: usize, kinds: u16, mut sink: impl FnMut(usize, bool, EventTable)) {
        in_order(wanted.len(), threads, 2 * threads, |j| self.decode_block_kinds(wanted[j].0, kinds), |j, res| {
            let (i, whole) = wanted[j];
            match res {
                Ok(t) => sink(i, whole, t),
                Err(e) => {
                    let info = &self.blocks[i];
                    self.report(Problem {
                        offset: info.offset,
                        length: u64::from(info.length),
                        error: e.to_string(),
                        events_lost: Some(u64::from(info.events)),
                    });
                }
            }
            std::ops::ControlFlow::Continue(())
        });
    }

    /// Decode every block and check it against its recorded info.
    pub fn verify(&self) -> VerifyReport {
        let mut events = 0u64;
        for (i, info) in self.blocks.iter().enumerate() {
            let before = self.notes().unknown_kind_events;
            let res = self.decode_block(i).and_then(|t| {
                let (lo, hi) = t.t_range().unwrap_or((0, 0));
                let counts = t.counts().map(|c| c as u32);
                // Events of unknown kinds are not decoded, so the time range is only checkable
                // when there were none.
                let range_ok = (lo, hi) == (info.t_min, info.t_max) || self.notes().unknown_kind_events > before;
                if !range_ok || counts != info.counts {
                    return Err(Error::corrupt(info.offset, "decoded time range or counts differ from the block's record"));
                }
                Ok(t.len() as u64)
            });
            match res {
                Ok(n) => events += n,
                Err(e) => self.report(Problem {
                    offset: info.offset,
                    length: u64::from(info.length),
                    error: e.to_string(),
                    events_lost: Some(u64::from(info.events)),
                }),
            }
        }
        let problems = self.problems();
        VerifyReport { ok: problems.is_empty(), blocks: self.blocks.len() as u64, events, problems }
    }
}

/// Bit mask of all kinds (for [`Reader::read`]).
pub const ALL_KINDS: u16 = (1 << NUM_KINDS) - 1;

/// Whether a block's time range meets the window `lo <= t < t1`.
fn overlaps(b: &BlockInfo, lo: i64, t1: Option<i64>) -> bool {
    b.t_max >= lo && t1.is_none_or(|e| b.t_min < e)
}

/// Bit mask for a list of kinds.
pub fn kind_mask(kinds: &[Kind]) -> u16 {
    kinds.iter().fold(0, |m, k| m | 1 << (*k as u8))
}
