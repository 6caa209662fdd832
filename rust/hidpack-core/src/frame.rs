//! Frames: the zstd frames a hidpack file is made of, and the hidpack records inside skippable
//! frames (header, block trailer, index) and the zstd seekable-format seek table.
//!
//! Byte layouts are specified in `docs/FORMAT.md`; this module is their one implementation.

use crate::bytes::{put_varint, zigzag, Cursor};
use crate::error::{Error, Result};
use crate::model::NUM_KINDS;
use xxhash_rust::xxh64::xxh64;

pub const ZSTD_MAGIC: u32 = 0xFD2F_B528;
pub const SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
pub const SKIPPABLE_BASE: u32 = 0x184D_2A50;
/// The skippable-frame magic hidpack uses for its own records.
pub const HIDPACK_SKIPPABLE: u32 = 0x184D_2A58;
/// The seekable format's seek-table skippable magic.
pub const SEEK_TABLE_SKIPPABLE: u32 = 0x184D_2A5E;
pub const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
pub const SEEK_FOOTER_LEN: usize = 9;

pub const TAG_HEADER: [u8; 4] = *b"HPKH";
pub const TAG_BLOCK: [u8; 4] = *b"HPKB";
pub const TAG_INDEX: [u8; 4] = *b"HPKI";
/// Compact block trailer (format 1.1, FORMAT.md §4.5).
pub const TAG_BLOCK_COMPACT: [u8; 4] = *b"HPKT";
/// Compact index (format 1.1, FORMAT.md §4.5).
pub const TAG_INDEX_COMPACT: [u8; 4] = *b"HPKX";

/// Major version written and read by this library.
pub const FORMAT_MAJOR: u16 = 1;
/// Minor version written by default (1.1: compact records, the `PREDICTED` encoding; 1.2: no
/// trailer after the last block when the index follows it, FORMAT.md §4.6; 1.3: the `BINNED`
/// predictors clock grid and signed steps, §5.5; 1.4: the clock grid with sparse residues, §5.5).
pub const FORMAT_MINOR: u16 = 4;
/// Required-feature bit 0: integer chunks may use the `BINNED` encoding (FORMAT.md §5.5).
pub const FEATURE_BINNED: u64 = 1;
/// Required-feature bit 1 (1.1): chunks may use the `PREDICTED` encoding (FORMAT.md §5.6).
pub const FEATURE_PREDICTED: u64 = 2;
/// Required-feature bit 2 (1.3): `BINNED` chunks may use predictors 7 (clock grid) and 8 (signed
/// steps) (FORMAT.md §5.5).
pub const FEATURE_BINNED_1_3: u64 = 4;
/// Required-feature bit 3 (1.4): `BINNED` chunks may use predictor 9 (the clock grid with sparse
/// residues) (FORMAT.md §5.5).
pub const FEATURE_CLOCK_SPARSE: u64 = 8;
/// Required-feature bits this reader understands.
pub const KNOWN_REQUIRED_FEATURES: u64 = FEATURE_BINNED | FEATURE_PREDICTED | FEATURE_BINNED_1_3 | FEATURE_CLOCK_SPARSE;
/// Largest record (skippable frame payload) a reader accepts: bounds allocations.
pub const MAX_RECORD: u64 = 64 << 20;
/// Largest decompressed block payload a reader accepts.
pub const MAX_BLOCK_RAW: u64 = 256 << 20;
/// Largest data frame (compressed) a reader accepts.
pub const MAX_FRAME: u64 = MAX_BLOCK_RAW + (1 << 20);

/// A standard zstd frame holding `payload` uncompressed (raw blocks of at most 128 KiB), with its
/// content size and content checksum. For write-ahead checkpoints: small, frequent and short-lived,
/// where building entropy tables would cost more than the bytes it saves.
pub fn raw_zstd_frame(payload: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 128 << 10;
    let mut f = Vec::with_capacity(payload.len() + 16 + 3 * (payload.len() / MAX_BLOCK + 1));
    f.extend_from_slice(&ZSTD_MAGIC.to_le_bytes());
    // Frame header descriptor: 4-byte content size, single segment, content checksum.
    f.push(0b1010_0100);
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut chunks = payload.chunks(MAX_BLOCK).peekable();
    if chunks.peek().is_none() {
        f.extend_from_slice(&[1, 0, 0]); // one empty, last, raw block
    }
    while let Some(c) = chunks.next() {
        let last = u32::from(chunks.peek().is_none());
        let h = last | ((c.len() as u32) << 3); // block type 0 = raw
        f.extend_from_slice(&h.to_le_bytes()[..3]);
        f.extend_from_slice(c);
    }
    f.extend_from_slice(&(xxh64(payload, 0) as u32).to_le_bytes());
    f
}

pub fn hash32(b: &[u8]) -> u32 {
    xxh64(b, 0) as u32
}

// ---------------------------------------------------------------- little-endian helpers

pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Reads fixed-width fields of a record, with offsets for errors.
struct Fields<'a> {
    b: &'a [u8],
    pos: usize,
    base: u64,
    what: &'static str,
}
impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.pos + n > self.b.len() {
            return Err(Error::format(
                self.base + self.pos as u64,
                format!("{} record too short: field needs {n} bytes, {} left", self.what, self.b.len() - self.pos),
            ));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }
    fn bytes32(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

// ---------------------------------------------------------------- skippable records

/// Wrap `body` (starting with a tag) as a hidpack skippable frame with its checksum.
pub fn skippable_record(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&HIDPACK_SKIPPABLE.to_le_bytes());
    out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&hash32(body).to_le_bytes());
    out
}

/// Check a hidpack record's checksum; returns the body (tag included, checksum excluded).
pub fn check_record(payload: &[u8], offset: u64) -> Result<&[u8]> {
    if payload.len() < 8 {
        return Err(Error::format(offset, format!("hidpack record of {} bytes is too short", payload.len())));
    }
    let (body, sum) = payload.split_at(payload.len() - 4);
    let want = le_u32(sum, 0);
    let got = hash32(body);
    if want != got {
        return Err(Error::format(
            offset,
            format!("record checksum mismatch: stored {want:#010x}, computed {got:#010x}"),
        ));
    }
    Ok(body)
}

/// The file header record.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub major: u16,
    pub minor: u16,
    pub required_features: u64,
    pub optional_features: u64,
    /// Unix ns at t = 0, if known.
    pub wall_clock_ns: Option<i64>,
    pub coord_scale_log2: u8,
    /// JSON object text.
    pub metadata: String,
    pub created_by: String,
    /// Trailing bytes after the fields this version knows (written by a newer minor version).
    /// Kept so that a rewrite (`recover`) preserves them.
    pub extra: Vec<u8>,
}

impl Header {
    pub fn new(metadata: String, wall_clock_ns: Option<i64>) -> Self {
        Header {
            major: FORMAT_MAJOR,
            // 1.0 until a writer turns on a 1.1 feature (`Writer::with_header`)
            minor: 0,
            required_features: 0,
            optional_features: 0,
            wall_clock_ns,
            coord_scale_log2: 16,
            metadata,
            created_by: format!("hidpack {}", env!("CARGO_PKG_VERSION")),
            extra: Vec::new(),
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&TAG_HEADER);
        b.extend_from_slice(&self.major.to_le_bytes());
        b.extend_from_slice(&self.minor.to_le_bytes());
        b.extend_from_slice(&self.required_features.to_le_bytes());
        b.extend_from_slice(&self.optional_features.to_le_bytes());
        b.extend_from_slice(&self.wall_clock_ns.unwrap_or(i64::MIN).to_le_bytes());
        b.push(self.coord_scale_log2);
        for s in [&self.metadata, &self.created_by] {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        b.extend_from_slice(&self.extra);
        skippable_record(&b)
    }
    /// Parse a header record body (tag included). Unknown trailing fields are ignored.
    pub fn decode(body: &[u8], offset: u64) -> Result<Header> {
        let mut f = Fields { b: body, pos: 4, base: offset, what: "header" };
        let major = f.u16()?;
        let minor = f.u16()?;
        if major != FORMAT_MAJOR {
            return Err(Error::UnsupportedVersion {
                offset,
                found: format!("{major}.{minor}"),
                supported: FORMAT_MAJOR,
                hint: "upgrade hidpack to read this file".into(),
            });
        }
        let required_features = f.u64()?;
        let unknown = required_features & !KNOWN_REQUIRED_FEATURES;
        if unknown != 0 {
            return Err(Error::UnsupportedVersion {
                offset,
                found: format!("{major}.{minor} with required features {unknown:#x}"),
                supported: FORMAT_MAJOR,
                hint: "the file needs features this reader does not implement; upgrade hidpack".into(),
            });
        }
        let optional_features = f.u64()?;
        let wall = f.i64()?;
        let coord_scale_log2 = f.u8()?;
        if coord_scale_log2 != 16 {
            return Err(Error::format(offset, format!("coordinate scale 2^{coord_scale_log2}, expected 2^16")));
        }
        let metadata = String::from_utf8(f.bytes32()?.to_vec())
            .map_err(|_| Error::format(offset, "metadata is not UTF-8"))?;
        let created_by = String::from_utf8_lossy(f.bytes32()?).into_owned();
        let extra = body[f.pos..].to_vec();
        Ok(Header {
            major,
            minor,
            required_features,
            optional_features,
            wall_clock_ns: (wall != i64::MIN).then_some(wall),
            coord_scale_log2,
            metadata,
            created_by,
            extra,
        })
    }
}

/// What is known about one block without decoding it: the content of its trailer record and of
/// its index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// Offset of the data frame in the file.
    pub offset: u64,
    /// Length of the data frame (compressed).
    pub length: u32,
    /// Decompressed payload length.
    pub raw_len: u32,
    /// Low 32 bits of XXH64 of the data frame's bytes.
    pub hash: u32,
    /// Index of the block's first event in the file.
    pub first_event: u64,
    pub events: u32,
    pub t_min: i64,
    pub t_max: i64,
    pub counts: [u32; NUM_KINDS],
}

/// Bytes of one encoded [`BlockInfo`] (v1).
pub const BLOCK_INFO_LEN: usize = 8 + 4 + 4 + 4 + 8 + 4 + 8 + 8 + 1 + 4 * NUM_KINDS;

impl BlockInfo {
    fn put(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&self.offset.to_le_bytes());
        b.extend_from_slice(&self.length.to_le_bytes());
        b.extend_from_slice(&self.raw_len.to_le_bytes());
        b.extend_from_slice(&self.hash.to_le_bytes());
        b.extend_from_slice(&self.first_event.to_le_bytes());
        b.extend_from_slice(&self.events.to_le_bytes());
        b.extend_from_slice(&self.t_min.to_le_bytes());
        b.extend_from_slice(&self.t_max.to_le_bytes());
        b.push(NUM_KINDS as u8);
        for c in self.counts {
            b.extend_from_slice(&c.to_le_bytes());
        }
    }
    fn get(f: &mut Fields) -> Result<BlockInfo> {
        let offset = f.u64()?;
        let length = f.u32()?;
        let raw_len = f.u32()?;
        let hash = f.u32()?;
        let first_event = f.u64()?;
        let events = f.u32()?;
        let t_min = f.i64()?;
        let t_max = f.i64()?;
        let nk = f.u8()? as usize;
        let mut counts = [0u32; NUM_KINDS];
        for i in 0..nk {
            let c = f.u32()?;
            if let Some(slot) = counts.get_mut(i) {
                *slot = c;
            }
        }
        Ok(BlockInfo { offset, length, raw_len, hash, first_event, events, t_min, t_max, counts })
    }
    pub fn encode_trailer(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + BLOCK_INFO_LEN);
        b.extend_from_slice(&TAG_BLOCK);
        self.put(&mut b);
        skippable_record(&b)
    }
    /// Parse a block trailer body, `HPKB` or compact `HPKT` (by its tag).
    pub fn decode_trailer(body: &[u8], offset: u64) -> Result<BlockInfo> {
        if body[..4] == TAG_BLOCK_COMPACT {
            let mut c = Cursor::new(&body[4..], offset + 4, "compact block trailer");
            return BlockInfo::get_compact(&mut c, (0, 0)).map_err(|e| record_error(e, offset, "compact block trailer"));
        }
        BlockInfo::get(&mut Fields { b: body, pos: 4, base: offset, what: "block trailer" })
    }

    /// The compact trailer record (`HPKT`, FORMAT.md §4.5).
    pub fn encode_trailer_compact(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(48);
        b.extend_from_slice(&TAG_BLOCK_COMPACT);
        self.put_compact(&mut b, (0, 0));
        skippable_record(&b)
    }

    /// Append the compact block info relative to `base` = (offset, first event).
    fn put_compact(&self, b: &mut Vec<u8>, base: (u64, u64)) {
        put_varint(b, self.offset.wrapping_sub(base.0));
        put_varint(b, u64::from(self.length));
        put_varint(b, u64::from(self.raw_len));
        b.extend_from_slice(&self.hash.to_le_bytes());
        put_varint(b, self.first_event.wrapping_sub(base.1));
        put_varint(b, u64::from(self.events));
        put_varint(b, zigzag(self.t_min));
        put_varint(b, self.t_max.wrapping_sub(self.t_min) as u64);
        put_varint(b, NUM_KINDS as u64);
        for c in self.counts {
            put_varint(b, u64::from(c));
        }
    }

    fn get_compact(c: &mut Cursor, base: (u64, u64)) -> Result<BlockInfo> {
        let u32_of = |c: &mut Cursor, what: &str| -> Result<u32> {
            let v = c.varint()?;
            u32::try_from(v).map_err(|_| c.err(format!("{what} {v} does not fit 32 bits")))
        };
        let offset = base.0.checked_add(c.varint()?).ok_or_else(|| c.err("offset overflows"))?;
        let length = u32_of(c, "length")?;
        let raw_len = u32_of(c, "raw_len")?;
        let hash = u32::from_le_bytes(c.bytes(4)?.try_into().unwrap());
        let first_event = base.1.checked_add(c.varint()?).ok_or_else(|| c.err("first event overflows"))?;
        let events = u32_of(c, "events")?;
        let t_min = c.zigzag()?;
        let span = c.varint()?;
        let t_max = i64::try_from(i128::from(t_min) + i128::from(span)).map_err(|_| c.err(format!("t_min {t_min} + span {span} overflows")))?;
        let nk = c.varint_usize(c.remaining() as u64, "count slots")?;
        let mut counts = [0u32; NUM_KINDS];
        for i in 0..nk {
            let v = u32_of(c, "count")?;
            if let Some(slot) = counts.get_mut(i) {
                *slot = v;
            }
        }
        Ok(BlockInfo { offset, length, raw_len, hash, first_event, events, t_min, t_max, counts })
    }
}

/// A damaged record is a format error (the file's structure), not a corrupt block.
fn record_error(e: Error, offset: u64, what: &str) -> Error {
    match e {
        Error::CorruptBlock { msg, .. } => Error::format(offset, format!("{what}: {msg}")),
        e => e,
    }
}

/// Is `body` (a checked record body) a block trailer, 1.0 or compact?
pub fn is_trailer(body: &[u8]) -> bool {
    body[..4] == TAG_BLOCK || body[..4] == TAG_BLOCK_COMPACT
}

/// Is `body` (a checked record body) an index, 1.0 or compact?
pub fn is_index(body: &[u8]) -> bool {
    body[..4] == TAG_INDEX || body[..4] == TAG_INDEX_COMPACT
}

/// The footer index record: every block's info and the file's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub blocks: Vec<BlockInfo>,
}

impl Index {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.blocks.len() * BLOCK_INFO_LEN);
        b.extend_from_slice(&TAG_INDEX);
        b.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        b.extend_from_slice(&(BLOCK_INFO_LEN as u16).to_le_bytes());
        for bi in &self.blocks {
            bi.put(&mut b);
        }
        skippable_record(&b)
    }
    /// The compact index record (`HPKX`, FORMAT.md §4.5): each entry relative to the end of the
    /// one before.
    pub fn encode_compact(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(8 + self.blocks.len() * 40);
        b.extend_from_slice(&TAG_INDEX_COMPACT);
        put_varint(&mut b, self.blocks.len() as u64);
        let mut base = (0u64, 0u64);
        let mut entry = Vec::with_capacity(64);
        for bi in &self.blocks {
            entry.clear();
            bi.put_compact(&mut entry, base);
            put_varint(&mut b, entry.len() as u64);
            b.extend_from_slice(&entry);
            base = (bi.offset.wrapping_add(u64::from(bi.length)), bi.first_event.wrapping_add(u64::from(bi.events)));
        }
        skippable_record(&b)
    }

    fn decode_compact(body: &[u8], offset: u64) -> Result<Index> {
        let mut c = Cursor::new(&body[4..], offset + 4, "compact index");
        let n = c.varint_usize(c.remaining() as u64, "block count")?;
        let mut blocks = Vec::with_capacity(n);
        let mut base = (0u64, 0u64);
        for _ in 0..n {
            let len = c.varint_usize(c.remaining() as u64, "entry length")?;
            let mut ec = Cursor::new(c.bytes(len)?, offset, "compact index entry");
            let bi = BlockInfo::get_compact(&mut ec, base)?;
            base = (
                bi.offset.checked_add(u64::from(bi.length)).ok_or_else(|| ec.err("offset overflows"))?,
                bi.first_event.checked_add(u64::from(bi.events)).ok_or_else(|| ec.err("first event overflows"))?,
            );
            blocks.push(bi);
        }
        Ok(Index { blocks })
    }

    /// Parse an index body, `HPKI` or compact `HPKX` (by its tag).
    pub fn decode(body: &[u8], offset: u64) -> Result<Index> {
        if body[..4] == TAG_INDEX_COMPACT {
            return Index::decode_compact(body, offset).map_err(|e| record_error(e, offset, "compact index"));
        }
        let mut f = Fields { b: body, pos: 4, base: offset, what: "index" };
        let n = f.u32()? as usize;
        let entry_len = f.u16()? as usize;
        if entry_len < BLOCK_INFO_LEN {
            return Err(Error::format(offset, format!("index entry length {entry_len}, expected at least {BLOCK_INFO_LEN}")));
        }
        if n.saturating_mul(entry_len) > body.len() {
            return Err(Error::format(offset, format!("index claims {n} entries of {entry_len} bytes in {} bytes", body.len())));
        }
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let entry = f.take(entry_len)?;
            let mut ef = Fields { b: entry, pos: 0, base: offset, what: "index entry" };
            blocks.push(BlockInfo::get(&mut ef)?);
        }
        Ok(Index { blocks })
    }
}

// ---------------------------------------------------------------- zstd frames

/// The shape of one zstd frame, found by walking its headers without decompressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZstdFrameInfo {
    pub len: u64,
    pub content_size: Option<u64>,
    pub has_checksum: bool,
}

/// Walk the zstd frame starting at `buf[0]` (magic included). `offset` is its file offset.
pub fn walk_zstd_frame(buf: &[u8], offset: u64) -> Result<ZstdFrameInfo> {
    walk_zstd_frame_with(buf.len() as u64, offset, |at, out| {
        out.copy_from_slice(&buf[at as usize..at as usize + out.len()]);
        Ok(())
    })
}

/// Walk a zstd frame of which `avail` bytes exist, reading only its headers through `read`
/// (`read(at, buf)` fills `buf` from `at` bytes past the frame's start): one small read per
/// zstd block, so walking costs O(blocks), never O(bytes).
pub fn walk_zstd_frame_with(
    avail: u64,
    offset: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<()>,
) -> Result<ZstdFrameInfo> {
    let need = |n: u64| -> Result<()> {
        if n > avail {
            Err(Error::Truncated { offset, needed: n, available: avail })
        } else {
            Ok(())
        }
    };
    need(5)?;
    let mut fhd = [0u8; 1];
    read(4, &mut fhd)?;
    let fhd = fhd[0];
    let fcs_flag = fhd >> 6;
    let single = fhd & 0x20 != 0;
    if fhd & 0x08 != 0 {
        return Err(Error::corrupt(offset, format!("zstd frame header descriptor {fhd:#04x} sets the reserved bit")));
    }
    let has_checksum = fhd & 0x04 != 0;
    let did_len = [0u64, 1, 2, 4][(fhd & 3) as usize];
    let fcs_len = match fcs_flag {
        0 => u64::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let mut pos = 5 + u64::from(!single) + did_len;
    need(pos + fcs_len)?;
    let mut fcs = [0u8; 8];
    read(pos, &mut fcs[..fcs_len as usize])?;
    let content_size = match fcs_len {
        0 => None,
        1 => Some(u64::from(fcs[0])),
        2 => Some(u64::from(le_u16(&fcs, 0)) + 256),
        4 => Some(u64::from(le_u32(&fcs, 0))),
        _ => Some(u64::from_le_bytes(fcs)),
    };
    pos += fcs_len;
    loop {
        need(pos + 3)?;
        let mut hb = [0u8; 3];
        read(pos, &mut hb)?;
        let h = u32::from(hb[0]) | u32::from(hb[1]) << 8 | u32::from(hb[2]) << 16;
        let last = h & 1 == 1;
        let btype = (h >> 1) & 3;
        let bsize = u64::from(h >> 3);
        let body = match btype {
            0 | 2 => bsize,
            1 => 1,
            _ => return Err(Error::corrupt(offset + pos, "zstd block of reserved type 3")),
        };
        if bsize > 128 * 1024 {
            return Err(Error::corrupt(offset + pos, format!("zstd block size {bsize} exceeds 128 KiB")));
        }
        pos += 3 + body;
        need(pos)?;
        if pos > MAX_FRAME {
            return Err(Error::corrupt(offset, format!("zstd frame longer than the {MAX_FRAME}-byte limit")));
        }
        if last {
            break;
        }
    }
    if has_checksum {
        pos += 4;
        need(pos)?;
    }
    Ok(ZstdFrameInfo { len: pos, content_size, has_checksum })
}

// ---------------------------------------------------------------- seek table

/// Encode the zstd seekable-format seek table for frames of the given (compressed, decompressed)
/// sizes. No per-frame checksums (descriptor 0): data frames carry zstd's own content checksum.
pub fn encode_seek_table(frames: &[(u32, u32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + frames.len() * 8 + SEEK_FOOTER_LEN);
    b.extend_from_slice(&SEEK_TABLE_SKIPPABLE.to_le_bytes());
    b.extend_from_slice(&((frames.len() * 8 + SEEK_FOOTER_LEN) as u32).to_le_bytes());
    for (c, d) in frames {
        b.extend_from_slice(&c.to_le_bytes());
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    b.push(0);
    b.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
    b
}

/// Parse a seek table at the end of `tail` (the file's last bytes); `file_len` is the whole
/// file's length. Returns the frame sizes and the seek table's own length.
pub fn decode_seek_table(tail: &[u8], file_len: u64) -> Result<(Vec<(u32, u32)>, u64)> {
    if tail.len() < SEEK_FOOTER_LEN + 8 {
        return Err(Error::format(file_len, "file too short for a seek table"));
    }
    let foot = &tail[tail.len() - SEEK_FOOTER_LEN..];
    if le_u32(foot, 5) != SEEKABLE_MAGIC {
        return Err(Error::format(file_len - 4, format!("no seekable magic at the end (found {:#010x})", le_u32(foot, 5))));
    }
    let n = le_u32(foot, 0) as u64;
    let desc = foot[4];
    let entry = if desc & 0x80 != 0 { 12 } else { 8 };
    let table_len = 8 + n * entry + SEEK_FOOTER_LEN as u64;
    if table_len > tail.len() as u64 {
        return Err(Error::format(file_len - SEEK_FOOTER_LEN as u64, format!("seek table of {n} frames is larger than the file")));
    }
    let start = tail.len() - table_len as usize;
    if le_u32(tail, start) != SEEK_TABLE_SKIPPABLE || le_u32(tail, start + 4) as u64 != table_len - 8 {
        return Err(Error::format(file_len - table_len, "seek table frame header does not match its footer"));
    }
    let mut frames = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let at = start + 8 + i * entry as usize;
        frames.push((le_u32(tail, at), le_u32(tail, at + 4)));
    }
    Ok((frames, table_len))
}

#[cfg(test)]
mod raw_frame_tests {
    use super::*;

    #[test]
    fn raw_frames_are_standard_zstd() {
        for n in [0usize, 1, 1000, 128 << 10, (128 << 10) + 1, 300_000] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let f = raw_zstd_frame(&payload);
            let back = zstd::bulk::decompress(&f, n + 1).unwrap();
            assert_eq!(back, payload, "{n} bytes");
            let info = walk_zstd_frame(&f, 0).unwrap();
            assert_eq!((info.len as usize, info.content_size, info.has_checksum), (f.len(), Some(n as u64), true));
        }
    }
}

#[cfg(test)]
mod compact_tests {
    use super::*;

    fn info(offset: u64, first_event: u64, t_min: i64, t_max: i64) -> BlockInfo {
        BlockInfo { offset, length: 1234, raw_len: u32::MAX, hash: 0xDEAD_BEEF, first_event, events: 77, t_min, t_max, counts: [7, 0, 0, 0, 70, 0, 0, 0, 0] }
    }

    fn body(rec: &[u8]) -> &[u8] {
        check_record(&rec[8..], 8).unwrap()
    }

    #[test]
    fn compact_trailers_and_index_roundtrip_extremes() {
        let blocks = vec![
            info(88, 0, i64::MIN, i64::MAX),
            info(88 + 1234 + 45, 77, -5, -5),
            info(u64::MAX - 2000, 1 << 40, 0, 1 << 62),
        ];
        for b in &blocks {
            let rec = b.encode_trailer_compact();
            assert!(is_trailer(body(&rec)));
            assert_eq!(&BlockInfo::decode_trailer(body(&rec), 8).unwrap(), b);
        }
        let idx = Index { blocks: blocks.clone() };
        let rec = idx.encode_compact();
        assert!(is_index(body(&rec)));
        assert_eq!(Index::decode(body(&rec), 8).unwrap(), idx);
        // The 1.0 forms still read.
        assert_eq!(Index::decode(body(&idx.encode()), 8).unwrap(), idx);
        assert_eq!(BlockInfo::decode_trailer(body(&blocks[0].encode_trailer()), 8).unwrap(), blocks[0]);
    }

    #[test]
    fn a_one_block_compact_tail_is_small() {
        let b = info(70, 0, 0, 120_000_000_000);
        assert!(b.encode_trailer_compact().len() <= 48, "{}", b.encode_trailer_compact().len());
        assert!(Index { blocks: vec![b] }.encode_compact().len() <= 50);
    }

    #[test]
    fn damaged_compact_records_are_format_errors() {
        let blocks = vec![info(88, 0, 1, 2), info(2000, 77, 3, 4)];
        let rec = Index { blocks }.encode_compact();
        let full = body(&rec).to_vec();
        for cut in 4..full.len() {
            match Index::decode(&full[..cut], 8) {
                Err(Error::Format { .. }) => {}
                Ok(i) => assert!(i.blocks.len() < 2 || cut == full.len(), "cut {cut}"),
                Err(e) => panic!("cut {cut}: {e:?}"),
            }
        }
        // t_min + span overflowing i64 is refused.
        let mut b = Vec::from(TAG_BLOCK_COMPACT);
        for v in [0u64, 1, 1] {
            put_varint(&mut b, v);
        }
        b.extend_from_slice(&[0; 4]);
        for v in [0u64, 1, zigzag(i64::MAX), 5, 0] {
            put_varint(&mut b, v);
        }
        assert!(matches!(BlockInfo::decode_trailer(&b, 8), Err(Error::Format { .. })));
    }
}
