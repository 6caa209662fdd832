//! The `PREDICTED` encoding (6, format 1.1, FORMAT.md §5.6): a column stored as its differences
//! from a prediction made from another column of the same segment.
//!
//! Two sources are defined:
//!
//! - **0, usage from native.** A key's HID `usage` is almost always a function of its `native`
//!   code (an importer computed it through a fixed table; a recorder through the OS). The
//!   prediction for a row is the usage of the latest earlier row with the same native code, so
//!   the block carries each code's usage once (the first time the code is met) and then a
//!   residual column that is nearly always `CONST 0`. The map is learned from the block itself:
//!   no platform key table is frozen in the format, and any usage (a key class, a remapped key)
//!   still round-trips exactly.
//! - **1, position from the last move.** A click or scroll's `x`/`y` is predicted as the same
//!   field of the last `move` before it in the segment.
//! - **2, pressed from native.** A key that went down goes up next: a key's `pressed` is
//!   predicted as the opposite of its value on the latest earlier row with the same native code
//!   (booleans are the integers 0 and 1 here).
//!
//! A chunk body is: [validity bitmap], u8 source, the *fresh* sub-column (values of the present
//! rows without a prediction), the *resid* sub-column (`value − prediction`, wrapping, for the
//! rows with one). Which rows have a prediction depends only on the reference column, so the
//! decoder knows both counts before it decodes a value.
//!
//! The codec calls [`try_chunk`] when it writes a group and [`decode_chunk`] once a segment's
//! groups are read (the reference may come later in the segment than the column it predicts).

use std::collections::HashMap;

use crate::bytes::{put_varint, Cursor};
use crate::codec::{decode_ints, encode_ints, enc, put_bitmap, read_bitmap, Mode};
use crate::error::Result;
use crate::model::{Field, Kind, KIND_FIELDS};
use crate::table::{Column, EventTable};

/// Source 0: `usage` of `key` from `native`.
pub const SOURCE_NATIVE: u8 = 0;
/// Source 1: `x`/`y` of `button`/`scroll` from the last `move`.
pub const SOURCE_LAST_MOVE: u8 = 1;
/// Source 2: `pressed` of `key` from `native` (the key's last state, flipped).
pub const SOURCE_KEY_STATE: u8 = 2;

/// The source that may predict field `field` (id) of kind code `kind`, if any.
pub fn source_for(kind: u8, field: u8) -> Option<u8> {
    const KEY: u8 = Kind::Key as u8;
    const BUTTON: u8 = Kind::Button as u8;
    const SCROLL: u8 = Kind::Scroll as u8;
    const USAGE: u8 = Field::Usage as u8;
    const PRESSED: u8 = Field::Pressed as u8;
    const X: u8 = Field::X as u8;
    const Y: u8 = Field::Y as u8;
    match (kind, field) {
        (KEY, USAGE) => Some(SOURCE_NATIVE),
        (KEY, PRESSED) => Some(SOURCE_KEY_STATE),
        (BUTTON | SCROLL, X | Y) => Some(SOURCE_LAST_MOVE),
        _ => None,
    }
}

/// `kinds` (a mask, bit k = kind code k) with the kinds their `PREDICTED` columns may be
/// predicted from: a decoder that decodes the columns of `kinds` only needs these too (the
/// clicks' and scrolls' positions come from the moves' columns).
pub fn with_sources(kinds: u16) -> u16 {
    let from_moves = (1u16 << Kind::Button as u8) | (1u16 << Kind::Scroll as u8);
    if kinds & from_moves != 0 {
        kinds | (1u16 << Kind::Move as u8)
    } else {
        kinds
    }
}

/// Position of `field` among the fields of `kind`.
fn field_pos(kind: Kind, field: Field) -> usize {
    KIND_FIELDS[kind as usize].iter().position(|s| s.field == field).expect("field of the kind")
}

fn int_parts(col: &Column) -> (&[i64], Option<&Vec<bool>>) {
    match col {
        Column::Int { vals, valid } => (vals, valid.as_ref()),
        _ => unreachable!("reference columns are integer columns"),
    }
}

/// A target column's values as integers (booleans as 0 and 1) and its validity.
fn target_parts(col: &Column) -> (std::borrow::Cow<'_, [i64]>, Option<&Vec<bool>>) {
    match col {
        Column::Int { vals, valid } => (std::borrow::Cow::Borrowed(vals), valid.as_ref()),
        Column::Bool { vals, valid } => (vals.iter().map(|&b| i64::from(b)).collect(), valid.as_ref()),
        Column::Str { .. } => unreachable!("string columns are never predicted"),
    }
}

/// The last value seen per native code. Key codes are small in practice (a JavaScript key code,
/// an X keycode, a Windows virtual key), so the usual table is an array indexed by the code; a
/// column holding a code too large for that (or negative, in a damaged file) uses a hash map.
enum LastByCode {
    Dense(Vec<Option<i64>>),
    Sparse(HashMap<i64, i64>),
}

impl LastByCode {
    /// Codes below this always get the array (16 B per slot: 64 KiB).
    const SMALL: i64 = 4096;

    /// A table for the codes in `native`: an array when the largest code is below
    /// [`Self::SMALL`] or below 16 slots per row; a hash map otherwise.
    fn for_codes(native: &[i64]) -> LastByCode {
        let (lo, hi) = native.iter().fold((0i64, -1i64), |(lo, hi), &n| (lo.min(n), hi.max(n)));
        let rows = i64::try_from(native.len()).unwrap_or(i64::MAX);
        if lo >= 0 && (hi < Self::SMALL || hi < rows.saturating_mul(16)) {
            LastByCode::Dense(vec![None; (hi + 1) as usize])
        } else {
            LastByCode::Sparse(HashMap::new())
        }
    }

    #[inline]
    fn get(&self, code: i64) -> Option<i64> {
        match self {
            LastByCode::Dense(slots) => usize::try_from(code).ok().and_then(|i| slots.get(i).copied().flatten()),
            LastByCode::Sparse(map) => map.get(&code).copied(),
        }
    }

    /// Store `value` for `code`; returns whether the code had a value already.
    #[inline]
    fn set(&mut self, code: i64, value: i64) -> bool {
        match self {
            LastByCode::Dense(slots) => match usize::try_from(code).ok().and_then(|i| slots.get_mut(i)) {
                Some(slot) => slot.replace(value).is_some(),
                None => unreachable!("the array covers every code of the column it was made for"),
            },
            LastByCode::Sparse(map) => map.insert(code, value).is_some(),
        }
    }

    fn clear(&mut self) {
        match self {
            LastByCode::Dense(slots) => slots.fill(None),
            LastByCode::Sparse(map) => map.clear(),
        }
    }
}

/// What predicts the present rows of one target column: `None` for a row with no prediction.
/// `value(i)` gives the value of present row i once known (source 0 learns from it).
enum Predictor<'a> {
    /// Sources 0 and 2: the last value per native code; source 2 predicts its opposite.
    Native { native: &'a [i64], native_valid: Option<&'a Vec<bool>>, last: LastByCode, flip: bool },
    /// Source 1: the moves before each row of the target kind, and the moves' column.
    LastMove { before: std::borrow::Cow<'a, [u32]>, mv: &'a [i64] },
}

/// How many moves come before each row of a `button` and of a `scroll` in a segment: what
/// source 1 predicts from, found in one walk of the segment's `kind` column and shared by every
/// column it predicts (a walk per predicted column was about 4 % of a wide read). A walk with no
/// branch on the kind (every row writing both lists' next slot, eight moves compared at once) was
/// a sixth faster alone on the long balabit file's kind column but left a one-thread wide read of
/// it about 1 % slower (interleaved runs). The walk now visits only the rows that are not moves
/// (an eighth of balabit's), eight bytes tested at once for any that is not 0: a row's moves
/// before it are its index less the other rows before it. On the long balabit file's 31 kind
/// columns, 1.18 against 1.60-1.74 ms (best of 30). Both lists' next slot written at every row
/// not a move, with no `match`, was no faster: 1.62 ms grown eight slots a word, 1.22 ms sized
/// from the kinds' counts (the `match` is not what the walk waits on).
#[derive(Default)]
pub(crate) struct MovesBefore {
    button: Vec<u32>,
    scroll: Vec<u32>,
}

impl MovesBefore {
    pub(crate) fn of(kind: &[u8]) -> MovesBefore {
        const BUTTON: u8 = Kind::Button as u8;
        const SCROLL: u8 = Kind::Scroll as u8;
        const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
        const _: () = assert!(Kind::Move as u8 == 0);
        let mut out = MovesBefore::default();
        // rows before the current one that are not moves: a row's moves before it are its
        // index less these (mod 2^32, as a wrapping count of moves would be)
        let mut others = 0u32;
        let (words, tail) = kind.as_chunks::<8>();
        let mut visit = |i: usize, k: u8, out: &mut MovesBefore| {
            let before = (i as u32).wrapping_sub(others);
            match k {
                BUTTON => out.button.push(before),
                SCROLL => out.scroll.push(before),
                _ => {}
            }
            others = others.wrapping_add(1);
        };
        for (w, bytes) in words.iter().enumerate() {
            let x = u64::from_le_bytes(*bytes);
            // the high bit of each byte that is not 0 (not a move)
            let mut hi = (((x & LOW7) + LOW7) | x) & !LOW7;
            while hi != 0 {
                let j = (hi.trailing_zeros() / 8) as usize;
                visit(w * 8 + j, bytes[j], &mut out);
                hi &= hi - 1;
            }
        }
        for (j, &k) in tail.iter().enumerate() {
            if k != 0 {
                visit(words.len() * 8 + j, k, &mut out);
            }
        }
        out
    }

    /// [`MovesBefore::of`] row by row: what it was, and what the tests check it against.
    #[cfg(test)]
    fn of_plain(kind: &[u8]) -> MovesBefore {
        const MOVE: u8 = Kind::Move as u8;
        const BUTTON: u8 = Kind::Button as u8;
        const SCROLL: u8 = Kind::Scroll as u8;
        let mut out = MovesBefore::default();
        let mut moves = 0u32;
        for &k in kind {
            match k {
                MOVE => moves = moves.wrapping_add(1),
                BUTTON => out.button.push(moves),
                SCROLL => out.scroll.push(moves),
                _ => {}
            }
        }
        out
    }

    /// The list of `kind` (a kind source 1 predicts; empty for any other).
    fn of_kind(&self, kind: u8) -> &[u32] {
        match kind {
            k if k == Kind::Button as u8 => &self.button,
            k if k == Kind::Scroll as u8 => &self.scroll,
            _ => &[],
        }
    }
}

impl<'a> Predictor<'a> {
    /// The predictor of `field` of `kind` from `source`, with the segment's [`MovesBefore`] if
    /// it was found already (found here when it is needed and `None`).
    fn with_moves(table: &'a EventTable, kind: u8, field: Field, source: u8, moves: Option<&'a MovesBefore>) -> Predictor<'a> {
        if source == SOURCE_NATIVE || source == SOURCE_KEY_STATE {
            let (native, native_valid) = int_parts(&table.kinds[Kind::Key as usize].cols[field_pos(Kind::Key, Field::Native)]);
            let last = LastByCode::for_codes(native);
            return Predictor::Native { native, native_valid, last, flip: source == SOURCE_KEY_STATE };
        }
        let (mv, _) = int_parts(&table.kinds[Kind::Move as usize].cols[field_pos(Kind::Move, field)]);
        let before = match moves {
            Some(m) => std::borrow::Cow::Borrowed(m.of_kind(kind)),
            None => std::borrow::Cow::Owned(MovesBefore::of(&table.kind).of_kind(kind).to_vec()),
        };
        Predictor::LastMove { before, mv }
    }

    /// The value of the last move before row `row` of the target kind (None: no move before it).
    #[inline]
    fn last_move(before: &[u32], mv: &[i64], row: usize) -> Option<i64> {
        let n = *before.get(row)? as usize;
        n.checked_sub(1).and_then(|i| mv.get(i).copied())
    }

    /// The native code of row `row`, when present and in range of the column.
    fn native_of(native: &[i64], valid: Option<&Vec<bool>>, row: usize) -> Option<i64> {
        let present = valid.is_none_or(|v| v.get(row).copied().unwrap_or(false));
        if present {
            native.get(row).copied()
        } else {
            None
        }
    }

    /// How many of the rows for which `present(row)` holds have a prediction. It depends on the
    /// reference only, so it is known before any value is decoded; leaves nothing learned.
    fn count_predicted(&mut self, rows: usize, present: impl Fn(usize) -> bool) -> usize {
        match self {
            Predictor::Native { native, native_valid: None, last: LastByCode::Dense(slots), .. } if rows == native.len() && (0..rows).all(&present) => {
                // the common case, in a tight loop: every row present with a code in the array
                let mut n = 0usize;
                for &code in native.iter() {
                    let slot = &mut slots[code as usize]; // in range: the array was sized for these codes
                    n += usize::from(slot.is_some());
                    *slot = Some(0);
                }
                slots.fill(None);
                n
            }
            Predictor::Native { native, native_valid, last, .. } => {
                let n = (0..rows)
                    .filter(|&i| present(i))
                    .filter_map(|i| Self::native_of(native, *native_valid, i))
                    .filter(|&code| last.set(code, 0))
                    .count();
                last.clear();
                n
            }
            Predictor::LastMove { before, mv } => (0..rows).filter(|&i| present(i) && Self::last_move(before, mv, i).is_some()).count(),
        }
    }

    /// The common case in one tight loop: every row of the target present, a native code on every
    /// row, codes in the array. Pushes every row's value to `out` and returns true; false (and
    /// nothing pushed) when the case does not apply.
    fn decode_dense(&mut self, fresh: &[i64], resid: &[i64], out: &mut Vec<i64>) -> bool {
        let Predictor::Native { native, native_valid: None, last: LastByCode::Dense(slots), flip } = self else {
            return false;
        };
        let flip = *flip;
        let (mut f, mut r) = (fresh.iter(), resid.iter());
        for &code in native.iter() {
            // every code of the column has its slot (the array was sized for them), and the
            // counts of `fresh` and `resid` came from the same codes: neither lookup fails
            let Some(slot) = usize::try_from(code).ok().and_then(|i| slots.get_mut(i)) else {
                out.clear();
                return false;
            };
            let v = match *slot {
                Some(last) => flipped(last, flip).wrapping_add(*r.next().unwrap_or(&0)),
                None => *f.next().unwrap_or(&0),
            };
            *slot = Some(v);
            out.push(v);
        }
        true
    }

    /// Source 1's common case in one tight loop: every row of the target present and each with
    /// its count of moves before it. Pushes every row's value to `out` and returns true; false
    /// (nothing pushed) when the case does not apply or a sub-column runs short, for the loop
    /// of [`Predictor::next_value`] to say so. (That loop, a closure and a `Result` a row, was
    /// 1.6-2.3 % of the samples of a one-thread wide read of the long balabit file, for its
    /// clicks' x and y; this one 0.95 %.)
    fn decode_last_moves(&self, rows: usize, fresh: &[i64], resid: &[i64], out: &mut Vec<i64>) -> bool {
        let Predictor::LastMove { before, mv } = self else {
            return false;
        };
        let Some(before) = before.get(..rows) else {
            return false;
        };
        let (mut f, mut r) = (fresh.iter(), resid.iter());
        out.reserve(rows);
        for &n in before {
            let v = match (n as usize).checked_sub(1).and_then(|i| mv.get(i)) {
                Some(&last) => r.next().map(|&d| last.wrapping_add(d)),
                None => f.next().copied(),
            };
            let Some(v) = v else {
                out.clear();
                return false;
            };
            out.push(v);
        }
        true
    }

    /// The value of present row `row`: `value` turns the row's prediction (if it has one) into
    /// the value, which sources 0 and 2 then learn.
    fn next_value(&mut self, row: usize, value: impl FnOnce(Option<i64>) -> Result<i64>) -> Result<i64> {
        match self {
            Predictor::Native { native, native_valid, last, flip } => {
                let code = Self::native_of(native, *native_valid, row);
                let pred = code.and_then(|n| last.get(n)).map(|v| flipped(v, *flip));
                let v = value(pred)?;
                if let Some(n) = code {
                    last.set(n, v);
                }
                Ok(v)
            }
            Predictor::LastMove { before, mv } => value(Self::last_move(before, mv, row)),
        }
    }
}

fn put_sub(out: &mut Vec<u8>, vals: &[i64], mode: Mode) {
    let mut body = Vec::new();
    let e = encode_ints(vals, &mut body, mode);
    out.push(e);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
}

fn read_sub(c: &mut Cursor, count: usize, out: &mut Vec<i64>) -> Result<()> {
    let e = c.u8()?;
    if e > enc::BINNED {
        return Err(c.err(format!("sub-column encoding {e}; expected an integer encoding 0-5")));
    }
    let len = c.varint_usize(c.remaining() as u64, "sub-column length")?;
    let mut sc = Cursor::new(c.bytes(len)?, 0, "sub-column");
    decode_ints(&mut sc, e, count, out).map_err(|_| c.err(format!("sub-column of {count} values does not decode")))
}

/// Write column `pos` of kind `kind`'s group as a `PREDICTED` chunk into `out` when its source
/// predicts at least half of its present rows exactly; false (nothing written) otherwise.
///
/// `moves` is the segment's [`MovesBefore`] once a column found it (found here when needed), as
/// [`decode_chunk`] shares it: a walk of the `kind` column per predicted column was a twentieth
/// of the encoder's mispredictions on balabit.
pub(crate) fn try_chunk(table: &EventTable, kind: Kind, pos: usize, mode: Mode, out: &mut Vec<u8>, moves: &mut Option<MovesBefore>) -> bool {
    let field = KIND_FIELDS[kind as usize][pos].field;
    let Some(source) = source_for(kind as u8, field as u8) else { return false };
    let (vals, valid) = target_parts(&table.kinds[kind as usize].cols[pos]);
    let present = |i: usize| valid.is_none_or(|v| v[i]);
    let moves = (source == SOURCE_LAST_MOVE).then(|| &*moves.get_or_insert_with(|| MovesBefore::of(&table.kind)));
    let mut p = Predictor::with_moves(table, kind as u8, field, source, moves);
    let (mut fresh, mut resid) = (Vec::new(), Vec::new());
    let mut hits = 0usize;
    for (i, &v) in vals.iter().enumerate() {
        if !present(i) {
            continue;
        }
        let sort = |pred: Option<i64>| {
            match pred {
                Some(pred) => {
                    let r = v.wrapping_sub(pred);
                    hits += usize::from(r == 0);
                    resid.push(r);
                }
                None => fresh.push(v),
            }
            Ok(v)
        };
        let _ = p.next_value(i, sort); // `sort` never fails
    }
    let m = fresh.len() + resid.len();
    if m == 0 || hits * 2 < m {
        return false;
    }
    let mut body = Vec::new();
    let mut flags = 0u8;
    if let Some(v) = valid {
        flags = enc::HAS_VALIDITY;
        put_bitmap(&mut body, v.iter().copied());
    }
    body.push(source);
    put_sub(&mut body, &fresh, mode);
    put_sub(&mut body, &resid, mode);
    out.push(field as u8);
    out.push(enc::PREDICTED | flags);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
    true
}

/// Decode a `PREDICTED` chunk body (`encoding` is the chunk's encoding byte) of column `pos` of
/// kind code `kind`, with `rows` rows, once every other column of the segment is in `table`
/// (its `kind` column included).
/// `moves` is the segment's [`MovesBefore`] once a column found it (found here when needed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_chunk(
    table: &EventTable,
    kind: u8,
    pos: usize,
    encoding: u8,
    body: &[u8],
    rows: usize,
    base: u64,
    moves: &mut Option<MovesBefore>,
) -> Result<Column> {
    let mut c = Cursor::new(body, base, "predicted column");
    let valid = if encoding & enc::HAS_VALIDITY != 0 { Some(read_bitmap(&mut c, rows)?) } else { None };
    let present = |i: usize| valid.as_ref().is_none_or(|v| v[i]);
    let m = valid.as_ref().map_or(rows, |v| v.iter().filter(|b| **b).count());
    let mut vals = Vec::with_capacity(rows);
    if m > 0 {
        let field = KIND_FIELDS[kind as usize][pos].field;
        let want = source_for(kind, field as u8).ok_or_else(|| c.err(format!("field {} cannot be predicted", field.name())))?;
        let source = c.u8()?;
        if source != want {
            return Err(c.err(format!("predicted {} of source {source}; only source {want} predicts it", field.name())));
        }
        let moves = (source == SOURCE_LAST_MOVE).then(|| &*moves.get_or_insert_with(|| MovesBefore::of(&table.kind)));
        let mut p = Predictor::with_moves(table, kind, field, source, moves);
        let predicted = p.count_predicted(rows, present);
        let (mut fresh, mut resid) = (Vec::new(), Vec::new());
        read_sub(&mut c, m - predicted, &mut fresh)?;
        read_sub(&mut c, predicted, &mut resid)?;
        if valid.is_none() && (p.decode_dense(&fresh, &resid, &mut vals) || p.decode_last_moves(rows, &fresh, &resid, &mut vals)) {
            return finish(kind, pos, vals, valid, &c);
        }
        let (mut f, mut r) = (fresh.into_iter(), resid.into_iter());
        for i in 0..rows {
            if !present(i) {
                vals.push(0);
                continue;
            }
            vals.push(p.next_value(i, |pred| match pred {
                Some(pred) => Ok(pred.wrapping_add(r.next().ok_or_else(|| c.err("residuals run short"))?)),
                None => f.next().ok_or_else(|| c.err("fresh values run short")),
            })?);
        }
    } else {
        vals.resize(rows, 0);
    }
    finish(kind, pos, vals, valid, &c)
}

/// The decoded values as the column's type (booleans checked to be 0 or 1).
fn finish(kind: u8, pos: usize, vals: Vec<i64>, valid: Option<Vec<bool>>, c: &Cursor) -> Result<Column> {
    if field_is_bool(kind, pos) {
        // one branch-free pass (it vectorises) finds whether any value is not 0 or 1
        if vals.iter().fold(0u64, |acc, &v| acc | (v as u64 >> 1)) != 0 {
            let bad = vals.iter().find(|&&v| v != 0 && v != 1).copied().unwrap_or_default();
            return Err(c.err(format!("predicted boolean decodes to {bad}; expected 0 or 1")));
        }
        return Ok(Column::Bool { vals: vals.iter().map(|&v| v != 0).collect(), valid });
    }
    Ok(Column::Int { vals, valid })
}

/// Source 2's prediction from the last state `v` (the opposite, `1 - v`); source 0's (`v`).
fn flipped(v: i64, flip: bool) -> i64 {
    if flip {
        1i64.wrapping_sub(v)
    } else {
        v
    }
}

fn field_is_bool(kind: u8, pos: usize) -> bool {
    KIND_FIELDS[kind as usize][pos].field.ty() == crate::model::FieldType::Bool
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::xorshift;
    use crate::codec::{chunk_layout, decode_payload, encode_segment_with, Budget, DecodeNotes};
    use crate::model::Event;

    /// Encode `events` as one segment with `PREDICTED` on, decode it, and return the table
    /// read back and the (kind, field, encoding) of every group chunk.
    fn roundtrip(events: &[Event]) -> (EventTable, EventTable, Vec<(u8, u8, u8)>) {
        let mut table = EventTable::new();
        for (i, e) in events.iter().enumerate() {
            table.push(i as i64 * 1000, e).unwrap();
        }
        let mut payload = Vec::new();
        encode_segment_with(&table, &mut payload, Mode::Binned, true);
        let mut back = EventTable::new();
        decode_payload(&payload, 0, &mut Budget::for_block(0), &mut back, &mut DecodeNotes::default()).unwrap();
        let chunks = chunk_layout(&payload).unwrap().into_iter().filter_map(|c| Some((c.kind?, c.field, c.encoding))).collect();
        for kt in table.kinds.iter_mut() {
            for col in kt.cols.iter_mut() {
                col.normalize();
            }
        }
        (table, back, chunks)
    }

    /// The walk of the rows that are not moves gives the lists a plain walk does: kind columns
    /// of every length to 70 (the tail past the last whole eight bytes, and none) and longer,
    /// mostly moves or none, with every kind code and bytes no kind has (the high bit set too).
    #[test]
    fn moves_before_each_row_match_a_plain_walk() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let codes = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 0x7F, 0x80, 0x81, 0xFF];
        for moves_in_16 in [0u64, 8, 14, 15, 16] {
            for n in (0..=70).chain([1000, 4099]) {
                let kind: Vec<u8> = (0..n).map(|_| if next() % 16 < moves_in_16 { 0 } else { codes[(next() % 13) as usize] }).collect();
                let (a, b) = (MovesBefore::of(&kind), MovesBefore::of_plain(&kind));
                assert_eq!((&a.button, &a.scroll), (&b.button, &b.scroll), "{n} rows, {moves_in_16} in 16 moves: {kind:?}");
            }
        }
    }

    /// Source 1's tight loop gives what the loop of `next_value` does, or leaves the column to
    /// it (pushing nothing) when that loop would fail: counts before each row from none to past
    /// the move column, sub-columns of the right lengths, short and long.
    #[test]
    fn values_from_the_last_move_decode_as_row_by_row() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let mut seen = [0usize; 2]; // fell back, took
        for case in 0..400 {
            let rows = (next() % 40) as usize;
            let moves = (next() % 30) as usize;
            let mv: Vec<i64> = (0..moves).map(|_| next() as i64 >> 3).collect();
            let mut before: Vec<u32> = Vec::new();
            let mut n = (next() % 3) as u32;
            for _ in 0..rows + (next() % 3) as usize {
                n += (next() % 3) as u32;
                before.push(if case % 7 == 0 { (next() % (moves as u64 + 5)) as u32 } else { n.min(moves as u32 + 1) });
            }
            let rows = rows.min(before.len() + (case % 2));
            let have = (0..rows).filter(|&i| Predictor::last_move(&before, &mv, i).is_some()).count();
            let fresh: Vec<i64> = (0..(rows - have) as i64 + (next() % 3) as i64 - 1).map(|_| next() as i64).collect();
            let resid: Vec<i64> = (0..have as i64 + (next() % 3) as i64 - 1).map(|_| next() as i64).collect();
            let p = Predictor::LastMove { before: std::borrow::Cow::Borrowed(&before), mv: &mv };
            let mut fast = Vec::new();
            let took = p.decode_last_moves(rows, &fresh, &resid, &mut fast);
            let (mut f, mut rs) = (fresh.iter(), resid.iter());
            let mut q = Predictor::LastMove { before: std::borrow::Cow::Borrowed(&before), mv: &mv };
            let short = || Cursor::new(&[], 0, "t").err("short");
            let slow: Result<Vec<i64>> = (0..rows)
                .map(|i| {
                    q.next_value(i, |pred| match pred {
                        Some(pred) => Ok(pred.wrapping_add(*rs.next().ok_or_else(short)?)),
                        None => f.next().copied().ok_or_else(short),
                    })
                })
                .collect();
            if took {
                assert_eq!(&fast, slow.as_ref().unwrap(), "case {case}");
            } else {
                assert!(fast.is_empty(), "case {case}");
                assert!(slow.is_err() || rows > before.len(), "case {case}: fell back needlessly");
            }
            seen[usize::from(took)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    fn key(pressed: bool, usage: Option<u16>, native: Option<u32>) -> Event {
        Event::Key { pressed, usage, native }
    }

    #[test]
    fn keys_roundtrip_with_every_kind_of_row() {
        for n in [10usize, 70, 600] {
            let mut evs = Vec::new();
            let mut r = 12345u64;
            for i in 0..n {
                if i % 2 == 0 {
                    r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                }
                let code = 65 + (r >> 61) as u32; // 8 codes, pressed then released
                let usage = (code - 61) as u16;
                let e = match i % 23 {
                    5 => key(true, Some(0xFFF0), None),             // a key class, native withheld
                    7 => key(true, None, Some(code)),              // no usage for this code
                    11 => key(false, Some(usage + 1), Some(code)), // a usage the map does not predict
                    13 => key(true, Some(usage), Some(code)),      // pressed twice (autorepeat)
                    _ => key(i % 2 == 0, Some(usage), Some(code)),
                };
                evs.push(e);
            }
            let (want, got, chunks) = roundtrip(&evs);
            assert_eq!(got, want, "{n} events");
            let usage = chunks.iter().find(|c| c.0 == Kind::Key as u8 && c.1 == Field::Usage as u8).unwrap();
            if n >= 70 {
                assert_eq!(usage.2, enc::PREDICTED, "{n} events: {chunks:?}");
                assert!(chunks.contains(&(Kind::Key as u8, Field::Pressed as u8, enc::PREDICTED)), "{chunks:?}");
            }
        }
    }

    #[test]
    fn a_map_entry_that_changes_predicts_the_new_value() {
        let evs: Vec<Event> = [(4, 65), (5, 65), (5, 65), (5, 65), (4, 65), (4, 65), (9, 66), (9, 66)]
            .iter()
            .map(|&(u, n)| key(true, Some(u), Some(n)))
            .collect();
        let (want, got, chunks) = roundtrip(&evs);
        assert_eq!(got, want);
        assert!(chunks.contains(&(Kind::Key as u8, Field::Usage as u8, enc::PREDICTED)), "{chunks:?}");
    }

    #[test]
    fn large_native_codes_use_the_hash_table_and_roundtrip() {
        // codes far above the array's reach (a few rows, codes near u32::MAX) and a small one
        let codes = [u32::MAX, u32::MAX - 7, 1 << 20, 3];
        let evs: Vec<Event> = (0..96).map(|i| key(i % 2 == 0, Some(10 + (i / 2 % 4) as u16), Some(codes[i / 2 % 4]))).collect();
        let mut table = EventTable::new();
        for (i, e) in evs.iter().enumerate() {
            table.push(i as i64, e).unwrap();
        }
        let (native, _) = int_parts(&table.kinds[Kind::Key as usize].cols[field_pos(Kind::Key, Field::Native)]);
        assert!(matches!(LastByCode::for_codes(native), LastByCode::Sparse(_)));
        let (want, got, chunks) = roundtrip(&evs);
        assert_eq!(got, want);
        assert!(chunks.contains(&(Kind::Key as u8, Field::Usage as u8, enc::PREDICTED)), "{chunks:?}");
        assert!(chunks.contains(&(Kind::Key as u8, Field::Pressed as u8, enc::PREDICTED)), "{chunks:?}");
    }

    #[test]
    fn small_native_codes_use_the_array() {
        assert!(matches!(LastByCode::for_codes(&[65, 4095, 0]), LastByCode::Dense(ref v) if v.len() == 4096));
        assert!(matches!(LastByCode::for_codes(&[]), LastByCode::Dense(ref v) if v.is_empty()));
        assert!(matches!(LastByCode::for_codes(&[-1, 5]), LastByCode::Sparse(_)));
        // a large code is worth the array only when the column is long enough
        assert!(matches!(LastByCode::for_codes(&[9000]), LastByCode::Sparse(_)));
        assert!(matches!(LastByCode::for_codes(&[9000; 1000]), LastByCode::Dense(_)));
    }

    #[test]
    fn keys_without_native_are_not_predicted_and_still_roundtrip() {
        let evs: Vec<Event> = (0..100).map(|i| key(i % 2 == 0, Some(0xFFF0 + (i % 3) as u16), None)).collect();
        let (want, got, chunks) = roundtrip(&evs);
        assert_eq!(got, want);
        assert!(chunks.iter().all(|c| c.2 != enc::PREDICTED), "{chunks:?}");
    }

    #[test]
    fn clicks_roundtrip_at_and_away_from_the_last_move() {
        let mut evs = vec![
            Event::Button { button: 1, pressed: true, pos: Some((5 << 16, 6 << 16)) }, // before any move
            Event::Scroll { dx: 0, dy: -1, pos: None },
        ];
        for i in 0..200i64 {
            let (x, y) = ((100 + i) << 16, (50 - i) << 16);
            evs.push(Event::Move { x, y, buttons: None });
            match i % 5 {
                0 => evs.push(Event::Button { button: 1, pressed: true, pos: Some((x, y)) }),
                1 => evs.push(Event::Button { button: 1, pressed: false, pos: Some((x, y)) }),
                2 => evs.push(Event::Button { button: 2, pressed: true, pos: None }),
                3 => evs.push(Event::Scroll { dx: 0, dy: 1, pos: Some((x, y)) }),
                _ if i % 10 == 4 => evs.push(Event::Button { button: 2, pressed: false, pos: Some((x + 3, y - 2)) }),
                _ => evs.push(Event::Scroll { dx: 0, dy: 1, pos: Some((x - 1, y + 1)) }),
            }
        }
        let (want, got, chunks) = roundtrip(&evs);
        assert_eq!(got, want);
        for f in [Field::X, Field::Y] {
            assert!(chunks.contains(&(Kind::Button as u8, f as u8, enc::PREDICTED)), "{chunks:?}");
            assert!(chunks.contains(&(Kind::Scroll as u8, f as u8, enc::PREDICTED)), "{chunks:?}");
        }
    }

    /// Clicks and scrolls at a position on every row (their x and y without validity: source
    /// 1's tight loop), a click before any move among them, roundtrip; every single-byte change
    /// of the payload decodes to some table or fails cleanly.
    #[test]
    fn clicks_at_every_row_roundtrip_and_damaged_never_panic() {
        let mut evs = vec![Event::Button { button: 1, pressed: true, pos: Some((5 << 16, 6 << 16)) }];
        for i in 0..120i64 {
            let (x, y) = ((100 + i) << 16, (50 - i) << 16);
            evs.push(Event::Move { x, y, buttons: None });
            if i % 3 == 0 {
                evs.push(Event::Button { button: 1, pressed: i % 2 == 0, pos: Some((x + i64::from(i % 9 == 0), y)) });
            }
            if i % 7 == 0 {
                evs.push(Event::Scroll { dx: 0, dy: 1, pos: Some((x, y)) });
            }
        }
        let (want, got, chunks) = roundtrip(&evs);
        assert_eq!(got, want);
        for f in [Field::X, Field::Y] {
            assert!(chunks.contains(&(Kind::Button as u8, f as u8, enc::PREDICTED)), "{chunks:?}");
            assert!(chunks.contains(&(Kind::Scroll as u8, f as u8, enc::PREDICTED)), "{chunks:?}");
        }
        let mut payload = Vec::new();
        encode_segment_with(&want, &mut payload, Mode::Binned, true);
        every_byte_change_decodes_or_fails(&payload, evs.len() as u64);
    }

    /// Every single-byte change of `payload` (a block of `rows` rows) either decodes to some
    /// table or fails cleanly: never a panic.
    fn every_byte_change_decodes_or_fails(payload: &[u8], rows: u64) {
        for i in 0..payload.len() {
            for delta in [1u8, 0x80, 0xFF] {
                let mut p = payload.to_vec();
                p[i] = p[i].wrapping_add(delta);
                let mut back = EventTable::new();
                let _ = decode_payload(&p, 0, &mut Budget::for_block(rows), &mut back, &mut DecodeNotes::default());
            }
        }
    }

    #[test]
    fn damaged_predicted_chunks_are_errors_not_panics() {
        let evs: Vec<Event> = (0..80).map(|i| key(i % 2 == 0, Some(4 + (i % 7) as u16), Some(65 + (i % 7) as u32))).collect();
        let mut table = EventTable::new();
        for (i, e) in evs.iter().enumerate() {
            table.push(i as i64, e).unwrap();
        }
        let mut payload = Vec::new();
        encode_segment_with(&table, &mut payload, Mode::Binned, true);
        every_byte_change_decodes_or_fails(&payload, 80);
    }
}
