//! Codec v1: how an [`EventTable`] becomes the bytes of a block payload, and back.
//!
//! A block payload (the decompressed content of a data frame) is one or more *segments*. A segment
//! is columnar: the timestamps of all its events, their kind codes, then one *group* per kind
//! present, holding that kind's field columns. Every column chunk names its field and its encoding
//! and carries its byte length, so a reader skips fields and kinds it does not know.
//!
//! Integer columns are zigzag LEB128 varints after one of: nothing (`VARINT`), a constant
//! (`CONST`), wrapping deltas (`DELTA`), wrapping deltas divided by their greatest common divisor
//! (`DELTA_GCD`: a clock that ticks in whole milliseconds costs one byte per event, not three), or
//! run lengths (`RLE`). The encoder computes the exact size of each candidate and keeps the
//! smallest. zstd then works on the whole payload. See `docs/FORMAT.md` §5 for the byte layout.

use crate::bytes::{gcd, put_varint, varint_len, zigzag, Cursor};
use crate::error::{Error, Result};
use crate::model::{FieldType, Kind, KIND_FIELDS, NUM_KINDS};
use crate::table::{Column, EventTable, KindTable};

/// Field id of the timestamp column.
pub const FIELD_T: u8 = 0xF0;
/// Field id of the kind column.
pub const FIELD_KIND: u8 = 0xF1;

/// Most events in one block (writers close blocks before; readers refuse more). Bounds every
/// per-event allocation of a decoder.
pub const MAX_BLOCK_EVENTS: u64 = 1 << 20;
/// Most string bytes one block may decode to (dictionary encoding can expand).
pub const MAX_BLOCK_STRING_BYTES: u64 = 64 << 20;
/// Longest single string a writer accepts.
pub const MAX_STRING: usize = 16 << 20;

/// What a block may still decode to; every decoder allocation is charged against it first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub events: u64,
    pub string_bytes: u64,
}

impl Budget {
    /// The budget of a block that declares `events` events (0 = unknown).
    pub fn for_block(events: u64) -> Budget {
        let events = if events == 0 { MAX_BLOCK_EVENTS } else { events.min(MAX_BLOCK_EVENTS) };
        Budget { events, string_bytes: MAX_BLOCK_STRING_BYTES }
    }
}

pub mod enc {
    pub const CONST: u8 = 0;
    pub const VARINT: u8 = 1;
    pub const DELTA: u8 = 2;
    pub const DELTA_GCD: u8 = 3;
    pub const RLE: u8 = 4;
    /// Bins entropy-coded with rANS, offsets raw (§5.5; needs the `BINNED` required feature).
    pub const BINNED: u8 = 5;
    /// A column predicted from another one of the segment (§5.6; needs the `PREDICTED` required
    /// feature, format 1.1). See [`crate::predicted`].
    pub const PREDICTED: u8 = 6;
    pub const BOOL_BITMAP: u8 = 8;
    pub const BOOL_CONST: u8 = 9;
    pub const STR_PLAIN: u8 = 16;
    pub const STR_DICT: u8 = 17;
    /// Flag bit on the encoding byte: a validity bitmap precedes the values.
    pub const HAS_VALIDITY: u8 = 0x80;
}

// ---------------------------------------------------------------- integer columns

/// How the writer chooses a column's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `BINNED` where it applies (the file's header must then carry
    /// [`crate::frame::FEATURE_BINNED`]), else the smallest of the byte encodings.
    Binned,
    /// [`Mode::Binned`] with the predictors of format 1.3 (a clock's tick grid, signed steps; the
    /// header must also carry [`crate::frame::FEATURE_BINNED_1_3`]).
    Binned13,
    /// [`Mode::Binned13`], also trying the clock grid ([`crate::writer::WriterOptions::clock_grid`]).
    Binned13Clock,
    /// [`Mode::Binned13Clock`] with the clock grid of format 1.4 (predictor 9: sparse residues;
    /// the header must also carry [`crate::frame::FEATURE_CLOCK_SPARSE`]).
    Binned14Clock,
    /// The smallest of the byte encodings (format 1.0).
    Bytes,
    /// Write-ahead checkpoints: `CONST`, else `DELTA_GCD` or `DELTA`, without sizing the others.
    /// A checkpoint lives until its block closes and is stored without zstd; its size matters
    /// less than the encoder's time.
    Fast,
}

impl Mode {
    /// Whether integer columns may be `BINNED`.
    pub fn binned(self) -> bool {
        matches!(self, Mode::Binned | Mode::Binned13 | Mode::Binned13Clock | Mode::Binned14Clock)
    }
}

/// Fewest values for which the writer tries `BINNED` (below, its table costs more than it saves).
const BINNED_MIN: usize = 64;

pub(crate) fn encode_ints(vals: &[i64], out: &mut Vec<u8>, mode: Mode) -> u8 {
    if vals.is_empty() {
        return enc::VARINT;
    }
    let first = vals[0];
    if vals.iter().all(|&v| v == first) {
        put_varint(out, zigzag(first));
        return enc::CONST;
    }
    if mode.binned() && vals.len() >= BINNED_MIN {
        // From BINNED_MIN values on, BINNED is smaller than encodings 1-4 on every input we have
        // measured (their sizes are not computed: that pass cost an eighth of the encoder).
        use crate::binned::ClockGrid;
        match mode {
            Mode::Binned13 => crate::binned::encode_column_v1_3(vals, out, ClockGrid::Off),
            Mode::Binned13Clock => crate::binned::encode_column_v1_3(vals, out, ClockGrid::Dense),
            Mode::Binned14Clock => crate::binned::encode_column_v1_3(vals, out, ClockGrid::Sparse),
            _ => crate::binned::encode_column(vals, out),
        }
        return enc::BINNED;
    }
    // The divisor of the differences, and which encoding to write.
    let (g, pick) = if mode == Mode::Fast {
        let g = crate::binned::common_divisor(&crate::binned::diffs(vals));
        (g, if g > 1 { enc::DELTA_GCD } else { enc::DELTA })
    } else {
        smallest_ints(vals)
    };
    match pick {
        enc::RLE => {
            let mut i = 0;
            while i < vals.len() {
                let v = vals[i];
                let mut j = i + 1;
                while j < vals.len() && vals[j] == v {
                    j += 1;
                }
                put_varint(out, zigzag(v));
                put_varint(out, (j - i) as u64);
                i = j;
            }
        }
        enc::DELTA_GCD => {
            let quot = divide_by(g);
            put_varint(out, g);
            put_varint(out, zigzag(first));
            for w in vals.windows(2) {
                // g divides |d|, and g > 1 so the division cannot overflow
                put_varint(out, zigzag(quot(w[1].wrapping_sub(w[0]))));
            }
        }
        enc::DELTA => {
            put_varint(out, zigzag(first));
            for w in vals.windows(2) {
                put_varint(out, zigzag(w[1].wrapping_sub(w[0])));
            }
        }
        _ => {
            for &v in vals {
                put_varint(out, zigzag(v));
            }
        }
    }
    pick
}

/// d ↦ d / g for the multiples d of g ≥ 2: exact division by multiplication (a hardware divide
/// per value cost more than the rest of the encoder); g = 2^63 keeps `/` (i64::MIN / i64::MIN is
/// 1, where the two's-complement quotient would be -1: both decode, the bytes must not move).
fn divide_by(g: u64) -> impl Fn(i64) -> i64 {
    let exact = (g <= i64::MAX as u64).then(|| crate::binned::ExactDiv::new(g));
    move |d| match &exact {
        Some(e) => e.div(d),
        None => d / g as i64,
    }
}

/// The divisor of the differences of `vals` (at least two values, not all equal) and the
/// smallest of encodings 1-4 for them, by their exact sizes.
fn smallest_ints(vals: &[i64]) -> (u64, u8) {
    let first = vals[0];
    let mut raw = 0usize;
    let mut delta = varint_len(zigzag(first));
    let mut g = 0u64;
    let mut rle = 0usize;
    let mut run_len = 1u64;
    for w in vals.windows(2) {
        let d = w[1].wrapping_sub(w[0]);
        delta += varint_len(zigzag(d));
        if g != 1 {
            g = gcd(g, d.unsigned_abs()); // gcd(1, x) = 1: most columns stop paying here
        }
        if w[1] == w[0] {
            run_len += 1;
        } else {
            rle += varint_len(zigzag(w[0])) + varint_len(run_len);
            run_len = 1;
        }
    }
    rle += varint_len(zigzag(*vals.last().unwrap())) + varint_len(run_len);
    for &v in vals {
        raw += varint_len(zigzag(v));
    }
    let mut gcd_size = usize::MAX;
    if g > 1 {
        let quot = divide_by(g);
        gcd_size = varint_len(g) + varint_len(zigzag(first));
        for w in vals.windows(2) {
            gcd_size += varint_len(zigzag(quot(w[1].wrapping_sub(w[0]))));
        }
    }
    let best = raw.min(delta).min(gcd_size).min(rle);
    let pick = if best == rle {
        enc::RLE
    } else if best == gcd_size {
        enc::DELTA_GCD
    } else if best == delta {
        enc::DELTA
    } else {
        enc::VARINT
    };
    (g, pick)
}

pub(crate) fn decode_ints(c: &mut Cursor, encoding: u8, m: usize, out: &mut Vec<i64>) -> Result<()> {
    out.reserve(m);
    match encoding {
        enc::CONST => {
            if m > 0 {
                let v = c.zigzag()?;
                out.extend(std::iter::repeat_n(v, m));
            }
        }
        enc::VARINT => {
            for _ in 0..m {
                out.push(c.zigzag()?);
            }
        }
        enc::DELTA | enc::DELTA_GCD => {
            if m == 0 {
                return Ok(());
            }
            let g = if encoding == enc::DELTA_GCD { c.varint()? as i64 } else { 1 };
            let mut v = c.zigzag()?;
            out.push(v);
            for _ in 1..m {
                v = v.wrapping_add(c.zigzag()?.wrapping_mul(g));
                out.push(v);
            }
        }
        enc::RLE => {
            let mut n = 0usize;
            while n < m {
                let v = c.zigzag()?;
                let run = c.varint()?;
                if run == 0 || run > (m - n) as u64 {
                    return Err(c.err(format!("run of {run} values where {} remain", m - n)));
                }
                out.extend(std::iter::repeat_n(v, run as usize));
                n += run as usize;
            }
        }
        enc::BINNED => crate::binned::decode_column(c, m, out)?,
        e => return Err(c.err(format!("unknown integer encoding {e}"))),
    }
    Ok(())
}

// ---------------------------------------------------------------- bitmaps, strings

pub(crate) fn put_bitmap(out: &mut Vec<u8>, bits: impl Iterator<Item = bool>) {
    let mut byte = 0u8;
    let mut n = 0;
    for b in bits {
        byte |= (b as u8) << (n % 8);
        n += 1;
        if n % 8 == 0 {
            out.push(byte);
            byte = 0;
        }
    }
    if n % 8 != 0 {
        out.push(byte);
    }
}

pub(crate) fn read_bitmap(c: &mut Cursor, m: usize) -> Result<Vec<bool>> {
    let bytes = c.bytes(m.div_ceil(8))?;
    Ok((0..m).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

fn encode_strs<'a>(items: &[&'a [u8]], out: &mut Vec<u8>) -> u8 {
    let mut dict: Vec<&'a [u8]> = Vec::new();
    let mut idx = Vec::with_capacity(items.len());
    for s in items {
        let i = match dict.iter().position(|d| d == s) {
            Some(i) => i,
            None if dict.len() < 4096 => {
                dict.push(s);
                dict.len() - 1
            }
            None => usize::MAX,
        };
        idx.push(i);
    }
    if dict.len() * 2 <= items.len() && !idx.contains(&usize::MAX) {
        put_varint(out, dict.len() as u64);
        for d in &dict {
            put_varint(out, d.len() as u64);
            out.extend_from_slice(d);
        }
        for i in idx {
            put_varint(out, i as u64);
        }
        return enc::STR_DICT;
    }
    for s in items {
        put_varint(out, s.len() as u64);
    }
    for s in items {
        out.extend_from_slice(s);
    }
    enc::STR_PLAIN
}

// ---------------------------------------------------------------- column chunks

fn write_chunk(out: &mut Vec<u8>, field_id: u8, col: &Column, mode: Mode) {
    let mut body = Vec::new();
    let mut flags = 0u8;
    let valid = col.valid();
    if let Some(v) = valid {
        flags = enc::HAS_VALIDITY;
        put_bitmap(&mut body, v.iter().copied());
    }
    let present = |i: usize| valid.is_none_or(|v| v[i]);
    let encoding = match col {
        Column::Int { vals, .. } => {
            if valid.is_none() {
                encode_ints(vals, &mut body, mode)
            } else {
                let p: Vec<i64> = vals.iter().enumerate().filter(|(i, _)| present(*i)).map(|(_, v)| *v).collect();
                encode_ints(&p, &mut body, mode)
            }
        }
        Column::Bool { vals, .. } => {
            let p: Vec<bool> = vals.iter().enumerate().filter(|(i, _)| present(*i)).map(|(_, v)| *v).collect();
            let mut flips = Vec::new();
            if mode.binned() && p.len() >= BINNED_MIN {
                let ints: Vec<i64> = p.iter().map(|&b| i64::from(b)).collect();
                crate::binned::encode_flips(&ints, &mut flips);
            }
            if !p.is_empty() && p.iter().all(|b| *b == p[0]) {
                body.push(p[0] as u8);
                enc::BOOL_CONST
            } else if !flips.is_empty() && flips.len() < p.len().div_ceil(8) {
                body.extend_from_slice(&flips);
                enc::BINNED
            } else {
                put_bitmap(&mut body, p.into_iter());
                enc::BOOL_BITMAP
            }
        }
        Column::Str { offsets, data, .. } => {
            let items: Vec<&[u8]> = (0..offsets.len() - 1)
                .filter(|&i| present(i))
                .map(|i| &data[offsets[i] as usize..offsets[i + 1] as usize])
                .collect();
            encode_strs(&items, &mut body)
        }
    };
    out.push(field_id);
    out.push(encoding | flags);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
}

/// Decode a chunk body of `rows` rows into `col` (which must be empty and of the field's type).
fn read_chunk_body(c: &mut Cursor, encoding: u8, rows: usize, ty: FieldType, budget: &mut Budget) -> Result<Column> {
    let has_validity = encoding & enc::HAS_VALIDITY != 0;
    let encoding = encoding & !enc::HAS_VALIDITY;
    let valid = if has_validity { Some(read_bitmap(c, rows)?) } else { None };
    let m = valid.as_ref().map_or(rows, |v| v.iter().filter(|b| **b).count());
    let present = |i: usize| valid.as_ref().is_none_or(|v| v[i]);
    let col = match ty {
        FieldType::Coord | FieldType::Int { .. } => {
            let mut p = Vec::new();
            decode_ints(c, encoding, m, &mut p)?;
            let vals = if m == rows {
                p
            } else {
                let mut it = p.into_iter();
                (0..rows).map(|i| if present(i) { it.next().unwrap_or(0) } else { 0 }).collect()
            };
            Column::Int { vals, valid }
        }
        FieldType::Bool => {
            let p = match encoding {
                enc::BOOL_CONST => {
                    let b = c.u8()?;
                    if b > 1 {
                        return Err(c.err(format!("boolean constant {b}")));
                    }
                    vec![b == 1; m]
                }
                enc::BOOL_BITMAP => read_bitmap(c, m)?,
                enc::BINNED => {
                    let mut ints = Vec::new();
                    crate::binned::decode_column(c, m, &mut ints)?;
                    if let Some(bad) = ints.iter().find(|&&v| v != 0 && v != 1) {
                        return Err(c.err(format!("boolean column holds {bad}; expected 0 or 1")));
                    }
                    ints.into_iter().map(|v| v == 1).collect()
                }
                e => return Err(c.err(format!("unknown boolean encoding {e}"))),
            };
            let mut it = p.into_iter();
            let vals = (0..rows).map(|i| if present(i) { it.next().unwrap_or(false) } else { false }).collect();
            Column::Bool { vals, valid }
        }
        FieldType::Str => {
            let mut items: Vec<&[u8]> = Vec::with_capacity(m.min(c.remaining()));
            match encoding {
                enc::STR_PLAIN => {
                    let mut lens = Vec::with_capacity(m.min(c.remaining()));
                    for _ in 0..m {
                        lens.push(c.varint_usize(c.remaining() as u64, "string length")?);
                    }
                    for l in lens {
                        items.push(c.bytes(l)?);
                    }
                }
                enc::STR_DICT => {
                    let nd = c.varint_usize(c.remaining() as u64, "dictionary size")?;
                    let mut dict = Vec::with_capacity(nd);
                    for _ in 0..nd {
                        let l = c.varint_usize(c.remaining() as u64, "string length")?;
                        dict.push(c.bytes(l)?);
                    }
                    for _ in 0..m {
                        let i = c.varint_usize(nd.saturating_sub(1) as u64, "dictionary index")?;
                        items.push(dict.get(i).ok_or_else(|| c.err("empty dictionary"))?);
                    }
                }
                e => return Err(c.err(format!("unknown string encoding {e}"))),
            }
            let mut offsets = Vec::with_capacity(rows + 1);
            offsets.push(0i64);
            let mut data = Vec::new();
            let total: u64 = items.iter().map(|s| s.len() as u64).sum();
            if total > budget.string_bytes {
                return Err(c.err(format!(
                    "strings decode to {total} bytes, more than the block's limit of {} left",
                    budget.string_bytes
                )));
            }
            budget.string_bytes -= total;
            let mut it = items.into_iter();
            for i in 0..rows {
                if present(i) {
                    let s = it.next().unwrap_or(&[]);
                    if std::str::from_utf8(s).is_err() {
                        return Err(c.err("string is not valid UTF-8"));
                    }
                    data.extend_from_slice(s);
                }
                offsets.push(data.len() as i64);
            }
            Column::Str { offsets, data, valid }
        }
    };
    Ok(col)
}

// ---------------------------------------------------------------- segments

/// Append one segment encoding `table` to `out`, choosing encodings by `mode` (format 1.0
/// encodings: no `PREDICTED` chunk).
pub fn encode_segment(table: &EventTable, out: &mut Vec<u8>, mode: Mode) {
    encode_segment_with(table, out, mode, false)
}

/// [`encode_segment`], with `predicted`: columns another one predicts may be written as
/// `PREDICTED` chunks (format 1.1; the header must carry [`crate::frame::FEATURE_PREDICTED`]).
pub fn encode_segment_with(table: &EventTable, out: &mut Vec<u8>, mode: Mode, predicted: bool) {
    let mut body = Vec::with_capacity(table.len() * 4 + 64);
    put_varint(&mut body, table.len() as u64);
    write_chunk(&mut body, FIELD_T, &Column::Int { vals: table.t.clone(), valid: None }, mode);
    let kinds: Vec<i64> = table.kind.iter().map(|&k| i64::from(k)).collect();
    write_chunk(&mut body, FIELD_KIND, &Column::Int { vals: kinds, valid: None }, mode);
    let present: Vec<&KindTable> = table.kinds.iter().filter(|k| !k.is_empty()).collect();
    put_varint(&mut body, present.len() as u64);
    let mut moves = None; // the segment's moves before each click and scroll, once found
    for kt in present {
        let mut g = Vec::new();
        for (pos, (spec, col)) in kt.kind.fields().iter().zip(&kt.cols).enumerate() {
            if mode.binned() && col.valid().is_some_and(|v| !v.contains(&true)) {
                continue; // absent on every row: a missing chunk says so (§5.2)
            }
            if predicted && crate::predicted::try_chunk(table, kt.kind, pos, mode, &mut g, &mut moves) {
                continue;
            }
            write_chunk(&mut g, spec.field.id(), col, mode);
        }
        body.push(kt.kind.code());
        put_varint(&mut body, g.len() as u64);
        body.extend_from_slice(&g);
    }
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
}

/// What decoding a payload found besides the events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodeNotes {
    /// Events of kinds this reader does not know (skipped).
    pub unknown_kind_events: u64,
    /// Column chunks of fields this reader does not know (skipped).
    pub unknown_fields: u64,
}

/// Decode a whole block payload (one or more segments), appending to `out`.
pub fn decode_payload(payload: &[u8], base: u64, budget: &mut Budget, out: &mut EventTable, notes: &mut DecodeNotes) -> Result<()> {
    decode_payload_kinds(payload, base, budget, out, notes, ALL_KIND_BITS)
}

/// Every known kind, as a mask of kind codes (bit k = kind code k).
pub const ALL_KIND_BITS: u16 = (1 << NUM_KINDS) - 1;

/// [`decode_payload`] decoding the column groups of the kinds in `kinds` only (bit k = kind code
/// k) into an empty `out`: the rows of every kind are in `t` and `kind`, but the columns of a kind
/// left out stay empty (no rows), so the table is only for a reader that takes the columns of
/// `kinds` (a narrow read of one kind never decodes the clicks and scrolls between the moves).
/// The groups left out are not checked beyond their framing. A payload of more than one segment
/// (no writer writes one) is decoded whole.
pub fn decode_payload_kinds(payload: &[u8], base: u64, budget: &mut Budget, out: &mut EventTable, notes: &mut DecodeNotes, kinds: u16) -> Result<()> {
    let mut c = Cursor::new(payload, base, "block payload");
    if c.at_end() {
        return Err(c.err("empty block payload"));
    }
    let all = ALL_KIND_BITS;
    // and the kinds their PREDICTED columns come from
    let kinds = crate::predicted::with_sources(kinds);
    let kinds = if kinds & all == all || !out.is_empty() { all } else { kinds };
    let start = *budget;
    let mut first = true;
    while !c.at_end() {
        let len = c.varint_usize(c.remaining() as u64, "segment length")?;
        let seg = c.bytes(len)?;
        if kinds != all && !(first && c.at_end()) {
            // more than one segment: the tables are concatenated, which needs every column
            *budget = start;
            *out = EventTable::new();
            return decode_payload_kinds(payload, base, budget, out, notes, all);
        }
        first = false;
        let seg_table = decode_segment(seg, base, budget, notes, kinds)?;
        if out.is_empty() {
            *out = seg_table; // one segment per block (what writers write): moved, not copied
        } else {
            out.extend_from(&seg_table);
        }
    }
    Ok(())
}

/// One column chunk of a block payload, as [`chunk_layout`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Kind code of the group, or `None` for the segment's `t` and `kind` columns.
    pub kind: Option<u8>,
    pub field: u8,
    /// Encoding (bits 0–6 of the encoding byte).
    pub encoding: u8,
    /// For `BINNED`, the predictor byte (FORMAT.md §5.5).
    pub predictor: Option<u8>,
    /// Bytes of the chunk body (validity bitmap included).
    pub bytes: usize,
}

/// Where the bytes of a block payload go: every column chunk of every segment, in order. For
/// `hidpack info --chunks`, the codec's size tests and conformance checks; decodes only the
/// `kind` column (to size the validity bitmaps).
pub fn chunk_layout(payload: &[u8]) -> Result<Vec<ChunkInfo>> {
    let mut out = Vec::new();
    let mut c = Cursor::new(payload, 0, "block payload");
    while !c.at_end() {
        let len = c.varint_usize(c.remaining() as u64, "segment length")?;
        let mut sc = Cursor::new(c.bytes(len)?, 0, "segment");
        let n = sc.varint_usize(MAX_BLOCK_EVENTS, "event count")?;
        let mut counts = [0usize; 256];
        for _ in 0..2 {
            let field = sc.u8()?;
            let e = sc.u8()?;
            let len = sc.varint_usize(sc.remaining() as u64, "chunk length")?;
            let body = sc.bytes(len)?;
            let encoding = e & !enc::HAS_VALIDITY;
            let predictor = (encoding == enc::BINNED || encoding == enc::PREDICTED).then(|| body.first().copied()).flatten();
            out.push(ChunkInfo { kind: None, field, encoding, predictor, bytes: len });
            if field == FIELD_KIND {
                let mut kinds = Vec::new();
                decode_ints(&mut Cursor::new(body, 0, "kind column"), encoding, n, &mut kinds)?;
                for k in kinds {
                    counts[(k as u64).min(255) as usize] += 1;
                }
            }
        }
        let groups = sc.varint_usize(256, "group count")?;
        for _ in 0..groups {
            let k = sc.u8()?;
            let glen = sc.varint_usize(sc.remaining() as u64, "group length")?;
            let mut gc = Cursor::new(sc.bytes(glen)?, 0, "group");
            while !gc.at_end() {
                let field = gc.u8()?;
                let e = gc.u8()?;
                let len = gc.varint_usize(gc.remaining() as u64, "chunk length")?;
                let body = gc.bytes(len)?;
                let encoding = e & !enc::HAS_VALIDITY;
                let skip = if e & enc::HAS_VALIDITY != 0 { counts[k as usize].div_ceil(8) } else { 0 };
                let predictor = (encoding == enc::BINNED || encoding == enc::PREDICTED).then(|| body.get(skip).copied()).flatten();
                out.push(ChunkInfo { kind: Some(k), field, encoding, predictor, bytes: len });
            }
        }
    }
    Ok(out)
}

fn decode_segment(seg: &[u8], base: u64, budget: &mut Budget, notes: &mut DecodeNotes, kinds: u16) -> Result<EventTable> {
    let mut c = Cursor::new(seg, base, "segment");
    let n = c.varint_usize(budget.events, "event count (the block's remaining events)")?;
    budget.events -= n as u64;
    let mut t = Vec::new();
    let mut kind_col = Vec::new();
    // the kind codes as bytes and their counts, when the chunk's decoder gives them so
    let mut codes = None;
    for (want, dst) in [(FIELD_T, &mut t), (FIELD_KIND, &mut kind_col)] {
        let id = c.u8()?;
        if id != want {
            return Err(c.err(format!("expected column id {want:#x}, found {id:#x}")));
        }
        let e = c.u8()?;
        if e & enc::HAS_VALIDITY != 0 {
            return Err(c.err("t and kind columns have no validity"));
        }
        let len = c.varint_usize(c.remaining() as u64, "chunk length")?;
        let mut cc = Cursor::new(c.bytes(len)?, base, "column");
        if want == FIELD_KIND && e == enc::BINNED {
            let mut bytes = Vec::new();
            if let Some(counts) = crate::binned::decode_codes(&mut cc, n, &mut bytes)? {
                codes = Some((bytes, counts));
                continue;
            }
        }
        decode_ints(&mut cc, e, n, dst)?;
    }
    let mut table = EventTable::new();
    // Counted once: the groups' row counts, then `validate_counted` (known kinds only, once the
    // rows of unknown ones are dropped below).
    let (kind_col, mut all) = match codes {
        Some(decoded) => decoded,
        None => {
            // As bytes (a code outside 0..=255 has bits above the low 8): an OR of every code
            // and a truncation, two passes that each vectorise (one pass doing both did not).
            let over = kind_col.iter().fold(0u64, |a, &k| a | k as u64) >> 8;
            let narrow: Vec<u8> = kind_col.iter().map(|&k| k as u8).collect();
            if over != 0 {
                let k = kind_col.iter().find(|k| !(0..=255).contains(*k)).copied().unwrap_or_default();
                return Err(c.err(format!("kind code {k} out of range")));
            }
            let counts = crate::table::byte_counts(&narrow);
            (narrow, counts)
        }
    };
    let mut counts = [0usize; NUM_KINDS];
    counts.copy_from_slice(&all[..NUM_KINDS]);
    let unknown = all[NUM_KINDS..].iter().sum::<usize>() as u64;
    all[NUM_KINDS..].fill(0);
    let n_groups = c.varint_usize(256, "group count")?;
    let mut seen = [false; NUM_KINDS];
    // PREDICTED chunks (§5.6), decoded once every group is read: (kind, field position, encoding, body)
    let mut deferred: Vec<(u8, usize, u8, &[u8])> = Vec::new();
    for _ in 0..n_groups {
        let k = c.u8()?;
        let glen = c.varint_usize(c.remaining() as u64, "group length")?;
        let g = c.bytes(glen)?;
        let Some(kind) = Kind::from_code(k) else {
            continue; // unknown kind: its events were counted above and are skipped
        };
        if seen[k as usize] {
            return Err(c.err(format!("kind {} has two groups", kind.name())));
        }
        seen[k as usize] = true;
        if (kinds >> k) & 1 == 0 {
            continue; // a kind the reader does not want: its columns stay empty
        }
        let rows = counts[k as usize];
        let mut gc = Cursor::new(g, base, "group");
        let kt = &mut table.kinds[k as usize];
        let mut got = vec![false; kt.cols.len()];
        while !gc.at_end() {
            let fid = gc.u8()?;
            let e = gc.u8()?;
            let len = gc.varint_usize(gc.remaining() as u64, "chunk length")?;
            let body = gc.bytes(len)?;
            let Some(pos) = KIND_FIELDS[k as usize].iter().position(|s| s.field.id() == fid) else {
                notes.unknown_fields += 1;
                continue;
            };
            if got[pos] {
                return Err(gc.err(format!("field {fid} appears twice")));
            }
            got[pos] = true;
            if e & !enc::HAS_VALIDITY == enc::PREDICTED {
                if crate::predicted::source_for(k, fid).is_none() {
                    return Err(gc.err(format!("field {fid} of kind {} cannot be PREDICTED", kind.name())));
                }
                deferred.push((k, pos, e, body));
                continue;
            }
            let spec = KIND_FIELDS[k as usize][pos];
            let mut cc = Cursor::new(body, base, "column");
            let col = read_chunk_body(&mut cc, e, rows, spec.field.ty(), budget)?;
            kt.cols[pos] = col;
        }
        for (pos, spec) in KIND_FIELDS[k as usize].iter().enumerate() {
            if !got[pos] {
                if spec.required && rows > 0 {
                    return Err(gc.err(format!("{} lacks required column `{}`", kind.name(), spec.field.name())));
                }
                // An optional field missing from the group is absent on every row.
                kt.cols[pos] = Column::absent(spec.field.ty(), rows);
            }
        }
    }
    for (k, &cnt) in counts.iter().enumerate() {
        if cnt > 0 && !seen[k] {
            return Err(c.err(format!("{cnt} {} events but no column group", Kind::ALL[k].name())));
        }
    }
    if unknown > 0 {
        notes.unknown_kind_events += unknown;
        let mut keep_t = Vec::with_capacity(n);
        let mut keep_k = Vec::with_capacity(n);
        for (tv, kv) in t.into_iter().zip(kind_col) {
            if (kv as usize) < NUM_KINDS {
                keep_t.push(tv);
                keep_k.push(kv);
            }
        }
        table.t = keep_t;
        table.kind = keep_k;
    } else {
        table.t = t;
        table.kind = kind_col;
    }
    let mut moves = None; // the moves before each click and scroll, found once for the segment
    for (k, pos, e, body) in deferred {
        let col = crate::predicted::decode_chunk(&table, k, pos, e, body, counts[k as usize], base, &mut moves)?;
        table.kinds[k as usize].cols[pos] = col;
    }
    for kt in table.kinds.iter_mut() {
        for col in kt.cols.iter_mut() {
            col.normalize();
        }
    }
    table.validate_counted(&all, kinds).map_err(|e| Error::corrupt(base, format!("decoded values are invalid: {e}")))?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_code_outside_a_byte_is_refused() {
        // a segment of 3 events whose kind column holds `codes`, and no column group
        let segment = |codes: &[i64]| {
            let mut seg = Vec::new();
            put_varint(&mut seg, codes.len() as u64);
            for (id, vals) in [(FIELD_T, vec![5, 6, 7]), (FIELD_KIND, codes.to_vec())] {
                let mut body = Vec::new();
                let e = encode_ints(&vals, &mut body, Mode::Bytes);
                seg.extend([id, e]);
                put_varint(&mut seg, body.len() as u64);
                seg.extend(body);
            }
            put_varint(&mut seg, 0);
            let mut payload = Vec::new();
            put_varint(&mut payload, seg.len() as u64);
            payload.extend(seg);
            let mut out = EventTable::new();
            decode_payload_kinds(&payload, 0, &mut Budget::for_block(3), &mut out, &mut DecodeNotes::default(), ALL_KIND_BITS).map(|_| out)
        };
        for bad in [256, 300, -1, i64::MIN] {
            let e = segment(&[0, bad, 0]).unwrap_err().to_string();
            assert!(e.contains(&format!("kind code {bad} out of range")), "{e}");
        }
        // in range: known kinds need their groups; an unknown one (9..=255) is skipped and counted
        assert!(segment(&[200, 255, 9]).is_ok_and(|t| t.is_empty()));
    }

    #[test]
    fn int_encodings_roundtrip_and_pick_smallest() {
        let cases: Vec<Vec<i64>> = vec![
            vec![7; 100],
            (0..100).map(|i| i * 1_000_000).collect(),
            vec![i64::MIN, i64::MAX, 0, -1, i64::MIN],
            vec![1, 1, 1, 2, 2, 3, 3, 3, 3],
            vec![5, -3, 1000, -100000, 42],
        ];
        for vals in cases.iter().chain([vec![0, i64::MIN], vec![i64::MAX, i64::MIN, i64::MAX]].iter()) {
            for mode in [Mode::Binned, Mode::Bytes, Mode::Fast] {
                let mut out = vec![0xAA]; // bytes before the column stay as they are
                let e = encode_ints(vals, &mut out, mode);
                let mut back = Vec::new();
                let mut c = Cursor::new(&out, 0, "t");
                assert_eq!(c.u8().unwrap(), 0xAA);
                decode_ints(&mut c, e, vals.len(), &mut back).unwrap();
                assert!(c.at_end(), "{mode:?} {vals:?}");
                assert_eq!(&back, vals, "{mode:?}");
            }
        }
        let mut out = Vec::new();
        // Below BINNED_MIN values a clock in whole milliseconds is DELTA_GCD: one byte per value.
        assert_eq!(encode_ints(&(0..50).map(|i| i * 1_000_000).collect::<Vec<_>>(), &mut out, Mode::Binned), enc::DELTA_GCD);
        assert_eq!(out.len(), 3 + 1 + 49);
        // From BINNED_MIN on, the same ramp is second differences that are all zero: a few bytes.
        out.clear();
        assert_eq!(encode_ints(&(0..1000).map(|i| i * 1_000_000).collect::<Vec<_>>(), &mut out, Mode::Binned), enc::BINNED);
        assert!(out.len() < 32, "{} bytes", out.len());
        // Checkpoints take the divisor without sizing anything else: DELTA_GCD, else DELTA.
        out.clear();
        assert_eq!(encode_ints(&(0..1000).map(|i| i * 1_000_000).collect::<Vec<_>>(), &mut out, Mode::Fast), enc::DELTA_GCD);
        assert_eq!(out.len(), 3 + 1 + 999);
        out.clear();
        assert_eq!(encode_ints(&[3, 4, 4, 4, 4, 4, 4, 9], &mut out, Mode::Fast), enc::DELTA);
        out.clear();
        assert_eq!(encode_ints(&[5; 10], &mut out, Mode::Fast), enc::CONST);
    }

    #[test]
    fn rle_refuses_runs_past_the_count() {
        let mut b = Vec::new();
        put_varint(&mut b, zigzag(3));
        put_varint(&mut b, 1_000_000_000);
        let mut out = Vec::new();
        assert!(decode_ints(&mut Cursor::new(&b, 0, "t"), enc::RLE, 5, &mut out).is_err());
    }
}
