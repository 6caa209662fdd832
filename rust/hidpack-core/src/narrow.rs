//! Narrow reads: the events of one kind as that kind's own columns.
//!
//! A decoded block already keeps each kind's fields in that kind's [`KindTable`](crate::table::KindTable)
//! (rows = the events of that kind, in order), so the events of one kind *are* those columns,
//! appended block after block, with `t` taken from the rows of that kind. Nothing is scattered
//! into a union of every kind's fields (the wide table the bindings build for mixed reads), no
//! validity is made for rows the kind implies: a column keeps a validity vector only where some
//! of its values are absent, so a required field never has one, and an optional field that
//! every returned row holds has none either.

use crate::error::Result;
use crate::model::{coord_to_f64, Field, FieldType, Kind};
use crate::reader::{Reader, Source};
use crate::table::{gather_by_kind, Column, EventTable};

/// The events of one kind: `t` and the selected fields of that kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindColumns {
    pub kind: Kind,
    pub t: Vec<i64>,
    /// The selected fields in the kind's field order, each with its values (as long as `t`).
    /// `valid` is `None` where every row holds a value (always, for a required field).
    pub cols: Vec<(Field, Values)>,
    /// Each selected field's position among the kind's columns.
    at: Vec<usize>,
}

/// A selected field's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// As stored (coordinates in 1/65536 pixel units).
    Col(Column),
    /// A coordinate of a read in pixels ([`KindColumns::in_pixels`]): float64 pixels, 0.0 where
    /// absent, converted as each block is appended (one pass over the values, where converting
    /// the appended column afterwards would be a second over memory long out of cache).
    Pixels { vals: Vec<f64>, valid: Option<Vec<bool>> },
}

impl Values {
    /// `valid` of the values: `None` where every row holds a value.
    pub fn valid(&self) -> Option<&Vec<bool>> {
        match self {
            Values::Col(c) => c.valid(),
            Values::Pixels { valid, .. } => valid.as_ref(),
        }
    }

    /// A block's column `c` as these values (in pixels when `pixels` and a coordinate; the
    /// conversion reuses the column's allocation).
    fn of(c: Column, pixels: bool) -> Values {
        match c {
            Column::Int { vals, valid } if pixels => Values::Pixels { vals: vals.into_iter().map(coord_to_f64).collect(), valid },
            c => Values::Col(c),
        }
    }

    fn try_reserve(&mut self, n: usize) {
        let _ = match self {
            Values::Col(Column::Int { vals, .. }) => vals.try_reserve_exact(n),
            Values::Col(Column::Bool { vals, .. }) => vals.try_reserve_exact(n),
            Values::Col(Column::Str { offsets, .. }) => offsets.try_reserve_exact(n),
            Values::Pixels { vals, .. } => vals.try_reserve_exact(n),
        };
    }

    /// Append the rows of `other` selected by `keep` (all when `None`), as [`Column::extend_from`].
    fn extend_from(&mut self, other: &Column, keep: Option<&[bool]>) {
        let (vals, valid) = match self {
            Values::Col(c) => return c.extend_from(other, keep),
            Values::Pixels { vals, valid } => (vals, valid),
        };
        let Column::Int { vals: o, valid: ov } = other else { unreachable!("column type mismatch") };
        let n_before = vals.len();
        match keep {
            None => vals.extend(o.iter().map(|&v| coord_to_f64(v))),
            Some(k) => vals.extend(o.iter().zip(k).filter(|(_, &k)| k).map(|(&v, _)| coord_to_f64(v))),
        }
        if valid.is_none() && ov.is_none() {
            return;
        }
        let v = valid.get_or_insert_with(|| vec![true; n_before]);
        match (ov, keep) {
            (None, _) => v.resize(vals.len(), true),
            (Some(ov), None) => v.extend_from_slice(ov),
            (Some(ov), Some(k)) => v.extend(ov.iter().zip(k).filter(|(_, &k)| k).map(|(&b, _)| b)),
        }
    }

    /// Drop an all-true validity vector.
    fn normalize(&mut self) {
        match self {
            Values::Col(c) => c.normalize(),
            Values::Pixels { valid, .. } => {
                if valid.as_ref().is_some_and(|v| v.iter().all(|b| *b)) {
                    *valid = None;
                }
            }
        }
    }
}

impl KindColumns {
    /// No rows of `kind`, with the fields of `kind` whose bit is set in `fields` (bit f = field f).
    pub fn new(kind: Kind, fields: u32) -> Self {
        Self::with(kind, fields, false)
    }

    /// [`KindColumns::new`] with the coordinates in float64 pixels ([`Values::Pixels`]).
    pub fn in_pixels(kind: Kind, fields: u32) -> Self {
        Self::with(kind, fields, true)
    }

    fn with(kind: Kind, fields: u32, pixels: bool) -> Self {
        let (at, cols) = kind
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, s)| (fields >> s.field as u8) & 1 == 1)
            .map(|(i, s)| {
                let empty = Column::new_for(s.field.ty());
                let v = if pixels && s.field.ty() == FieldType::Coord { Values::Pixels { vals: Vec::new(), valid: None } } else { Values::Col(empty) };
                (i, (s.field, v))
            })
            .unzip();
        KindColumns { kind, t: Vec::new(), cols, at }
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Room for `n` more rows, so that appending them moves nothing. Best effort: a reservation
    /// the allocator refuses is skipped (the columns then grow as they are appended to).
    pub fn try_reserve(&mut self, n: usize) {
        let _ = self.t.try_reserve_exact(n);
        for (_, c) in &mut self.cols {
            c.try_reserve(n);
        }
    }

    /// Take the rows of this kind with `t0 <= t < t1` from `table`. Into an empty result with
    /// nothing reserved (a read of one block), a table whose rows are all wanted hands its
    /// columns over (no copy); otherwise they are appended.
    pub fn take(&mut self, mut table: EventTable, t0: i64, t1: Option<i64>) {
        let k = self.kind as usize;
        let n = table.kinds[k].len();
        let all_wanted = table.all_wanted(t0, t1, 1 << k);
        if all_wanted && n > 0 && self.is_empty() && self.t.capacity() == 0 {
            self.t = std::mem::take(&mut table.t);
            for ((_, col), &i) in self.cols.iter_mut().zip(&self.at) {
                let pixels = matches!(col, Values::Pixels { .. });
                let c = &mut table.kinds[k].cols[i];
                *col = Values::of(std::mem::replace(c, empty_like(c)), pixels);
            }
        } else {
            self.append(&table, t0, t1);
        }
    }

    /// Append the rows of this kind in `table` with `t0 <= t < t1`.
    pub fn append(&mut self, table: &EventTable, t0: i64, t1: Option<i64>) {
        let kt = &table.kinds[self.kind as usize];
        if kt.is_empty() {
            return;
        }
        let start = self.t.len();
        if kt.len() == table.len() {
            self.t.extend_from_slice(&table.t); // one kind fills the block
        } else {
            gather_compact(&mut self.t, &table.t, &table.kind, self.kind.code());
        }
        let inside = |t: i64| t >= t0 && t1.is_none_or(|e| t < e);
        let new = &self.t[start..];
        // no window: every row is inside; else by the rows' range (a fold that vectorises)
        let all_inside = (t0 == i64::MIN && t1.is_none()) || {
            let (lo, hi) = new.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            lo >= t0 && t1.is_none_or(|e| hi < e)
        };
        let keep: Option<Vec<bool>> = if all_inside {
            None
        } else {
            let keep: Vec<bool> = self.t[start..].iter().map(|&t| inside(t)).collect();
            let mut w = start;
            for r in start..self.t.len() {
                if keep[r - start] {
                    self.t[w] = self.t[r];
                    w += 1;
                }
            }
            self.t.truncate(w);
            Some(keep)
        };
        if self.t.len() == start {
            return;
        }
        for ((_, col), &i) in self.cols.iter_mut().zip(&self.at) {
            col.extend_from(&kt.cols[i], keep.as_deref());
        }
    }

    /// Drop each validity vector that marks every row present (a block's column may carry one
    /// that the rows kept here all pass).
    pub fn finish(&mut self) {
        for (_, c) in &mut self.cols {
            c.normalize();
        }
    }
}

/// Appends to `out` the values `vals[i]` of the rows `i` of kind `code`, in order, as
/// [`gather_by_kind`] does, without a branch per row: each row's value is written to the next
/// free slot of `out`'s spare room, and the slot kept (the count advanced) only where the row is
/// of the kind. The moves of a mouse session come in runs of ten or so between clicks: half the
/// chunks of eight rows `gather_by_kind` copies at once hold a click, and row by row its pushes
/// cost more than this loop's one store per row. Rows past the spare room (the last block of a
/// read reserved to the kind's count leaves less room than its rows) go to `gather_by_kind`.
fn gather_compact(out: &mut Vec<i64>, vals: &[i64], kind: &[u8], code: u8) {
    let len = out.len();
    let spare = out.spare_capacity_mut();
    let m = vals.len().min(kind.len()).min(spare.len());
    let mut w = 0;
    for (&v, &k) in vals[..m].iter().zip(&kind[..m]) {
        spare[w].write(v); // w <= the row's index < m <= spare.len()
        w += usize::from(k == code);
    }
    // SAFETY: slots len..len + w of `out` are initialised: slot len + j was written (and not
    // overwritten since: the count moved past it) by the (j+1)-th row of the kind.
    unsafe { out.set_len(len + w) };
    gather_by_kind(out, &vals[m..], &kind[m..], code);
}

/// A column of no rows of the same type as `c`.
fn empty_like(c: &Column) -> Column {
    match c {
        Column::Int { .. } => Column::Int { vals: Vec::new(), valid: None },
        Column::Bool { .. } => Column::Bool { vals: Vec::new(), valid: None },
        Column::Str { .. } => Column::Str { offsets: vec![0], data: Vec::new(), valid: None },
    }
}

/// The events of `kind` with `t0 <= t < t1` (either bound optional), from the given blocks (all
/// when `None`), with the fields of `kind` selected by `fields` (bit f = field f): only blocks
/// that hold events of `kind` in the window are decoded (on up to `threads` threads), and each
/// block's columns of that kind are appended as they are. Blocks that fail their checks are
/// skipped and reported in [`Reader::problems`], as by [`Reader::read`].
pub fn read_kind<S: Source>(
    reader: &Reader<S>,
    t0: Option<i64>,
    t1: Option<i64>,
    kind: Kind,
    fields: u32,
    blocks: Option<&[usize]>,
    threads: usize,
) -> Result<KindColumns> {
    read_into(reader, t0, t1, KindColumns::new(kind, fields), blocks, threads)
}

/// [`read_kind`] with the coordinates in float64 pixels ([`Values::Pixels`]), converted as each
/// block's columns are appended (what the Python bindings hand to numpy).
pub fn read_kind_in_pixels<S: Source>(
    reader: &Reader<S>,
    t0: Option<i64>,
    t1: Option<i64>,
    kind: Kind,
    fields: u32,
    blocks: Option<&[usize]>,
    threads: usize,
) -> Result<KindColumns> {
    read_into(reader, t0, t1, KindColumns::in_pixels(kind, fields), blocks, threads)
}

fn read_into<S: Source>(reader: &Reader<S>, t0: Option<i64>, t1: Option<i64>, mut out: KindColumns, blocks: Option<&[usize]>, threads: usize) -> Result<KindColumns> {
    let mask = 1u16 << (out.kind as u16);
    let ids = reader.blocks_for(t0, t1, mask, blocks)?;
    if ids.len() > 1 {
        // Room for every event of the kind in those blocks up front (appending then never moves
        // the columns), reserved fallibly.
        if let Some(rows) = reader.events_hint(&ids, mask) {
            out.try_reserve(rows);
        }
    }
    let lo = t0.unwrap_or(i64::MIN);
    // only the kind's own columns are decoded: the clicks between the moves are not
    reader.for_each_block_of_kinds(t0, t1, mask, Some(&ids), threads, |_, table| out.take(table, lo, t1))?;
    out.finish();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Writer, WriterOptions};

    /// A file of every kind, in 7-event blocks, with optional fields present on some rows only.
    fn file(n: i64) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), WriterOptions { block_events: 7, ..Default::default() }).unwrap();
        for i in 0..n {
            let ev = match i % 6 {
                0 | 1 => Event::Move { x: i << 16, y: (2 * i) << 16, buttons: (i % 4 == 0).then_some(1) },
                2 => Event::Key { pressed: i % 4 == 2, usage: Some(4 + (i % 20) as u16), native: (i % 5 == 0).then_some(30) },
                3 => Event::Button { button: 1, pressed: true, pos: (i % 9 == 3).then_some((i, i)) },
                4 => Event::Text { text: format!("t{i}") },
                _ => Event::Marker { label: "m".into(), value: None },
            };
            w.push(i * 1000, &ev).unwrap();
        }
        w.into_inner().unwrap()
    }

    /// The rows of `kind` of a wide read, as events: what a narrow read must hold.
    fn expected(r: &Reader<Vec<u8>>, kind: Kind, t0: Option<i64>, t1: Option<i64>) -> Vec<(i64, Event)> {
        let t = r.read(t0, t1, 1 << kind as u16, None).unwrap();
        t.events().collect()
    }

    fn events(c: &KindColumns) -> Vec<(i64, Event)> {
        let mut t = EventTable::new();
        t.t = c.t.clone();
        t.kind = vec![c.kind.code(); c.t.len()];
        for ((_, col), &i) in c.cols.iter().zip(&c.at) {
            let Values::Col(col) = col else { panic!("a read as stored holds columns") };
            t.kinds[c.kind as usize].cols[i] = col.clone();
        }
        t.events().collect()
    }

    /// `c` (read as stored) with its coordinates in pixels: what a read in pixels must hold.
    fn in_pixels(c: &KindColumns) -> KindColumns {
        let mut p = c.clone();
        for (f, v) in &mut p.cols {
            if let (FieldType::Coord, Values::Col(col)) = (f.ty(), &*v) {
                *v = Values::of(col.clone(), true);
            }
        }
        p
    }

    #[test]
    fn each_kind_reads_as_its_own_columns_in_every_window() {
        let r = Reader::from_source(file(200)).unwrap();
        for kind in [Kind::Move, Kind::Key, Kind::Button, Kind::Text, Kind::Marker, Kind::Gap] {
            for (t0, t1) in [(None, None), (Some(10_500), Some(150_000)), (Some(3_000), Some(3_001)), (Some(500_000), None)] {
                for threads in [1, 3] {
                    let c = read_kind(&r, t0, t1, kind, u32::MAX, None, threads).unwrap();
                    assert_eq!(events(&c), expected(&r, kind, t0, t1), "{kind:?} {t0:?}..{t1:?}");
                    for (f, col) in &c.cols {
                        let required = kind.fields().iter().any(|s| s.field == *f && s.required);
                        if let Some(v) = col.valid() {
                            assert!(!required, "{kind:?}.{f:?} is required: no validity");
                            assert!(v.iter().any(|b| !*b), "{kind:?}.{f:?}: an all-true validity is dropped");
                        }
                    }
                }
            }
        }
        assert_eq!(read_kind(&r, None, None, Kind::Gap, u32::MAX, None, 1).unwrap().len(), 0);
    }

    #[test]
    fn only_the_selected_fields_come_and_one_block_is_handed_over() {
        let r = Reader::from_source(file(6)).unwrap(); // one block
        let c = read_kind(&r, None, None, Kind::Move, 1 << Field::Y as u8, None, 1).unwrap();
        assert_eq!(c.cols.iter().map(|(f, _)| *f).collect::<Vec<_>>(), vec![Field::Y]);
        assert_eq!(c.t, vec![0, 1000]);
        assert_eq!(c.cols[0].1, Values::Col(Column::Int { vals: vec![0, 2 << 16], valid: None }));
        let one = read_kind(&r, None, None, Kind::Move, u32::MAX, Some(&[0]), 1).unwrap();
        assert_eq!(one.cols.len(), 3);
        // buttons: held by the first move only
        assert_eq!(one.cols[2].1.valid(), Some(&vec![true, false]));
    }

    #[test]
    fn clicks_predicted_from_the_moves_read_alone() {
        // clicks at the last move's position: their x and y are PREDICTED from the moves'
        // columns, which a narrow read of the clicks must decode too
        let mut w = Writer::new(Vec::new(), WriterOptions::default()).unwrap();
        for i in 0..3000i64 {
            let (x, y) = ((i * 7 % 500) << 16, (i * 3 % 300) << 16);
            w.push(i * 1000, &Event::Move { x, y, buttons: None }).unwrap();
            if i % 10 == 0 {
                w.push(i * 1000 + 1, &Event::Button { button: 1, pressed: i % 20 == 0, pos: Some((x, y)) }).unwrap();
                w.push(i * 1000 + 2, &Event::Scroll { dx: 0, dy: 1 << 16, pos: Some((x, y)) }).unwrap();
            }
        }
        let r = Reader::from_source(w.into_inner().unwrap()).unwrap();
        for kind in [Kind::Button, Kind::Scroll, Kind::Move] {
            let c = read_kind(&r, None, None, kind, u32::MAX, None, 1).unwrap();
            assert_eq!(c.len(), if kind == Kind::Move { 3000 } else { 300 }, "{kind:?}");
            assert_eq!(events(&c), expected(&r, kind, None, None), "{kind:?}");
        }
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    #[test]
    fn a_read_in_pixels_is_the_stored_read_converted() {
        let r = Reader::from_source(file(200)).unwrap();
        for kind in Kind::ALL {
            for (t0, t1) in [(None, None), (Some(10_500), Some(150_000)), (Some(3_000), Some(3_001)), (Some(500_000), None), (Some(7_001), Some(7_002))] {
                for threads in [1, 3] {
                    let stored = read_kind(&r, t0, t1, kind, u32::MAX, None, threads).unwrap();
                    let px = read_kind_in_pixels(&r, t0, t1, kind, u32::MAX, None, threads).unwrap();
                    assert_eq!(px, in_pixels(&stored), "{kind:?} {t0:?}..{t1:?} {threads}");
                    let coords = px.cols.iter().filter(|(_, v)| matches!(v, Values::Pixels { .. })).count();
                    assert_eq!(coords, kind.fields().iter().filter(|s| s.field.ty() == FieldType::Coord).count(), "{kind:?}");
                }
            }
        }
        // one block, handed over and converted where it lies
        let one = read_kind_in_pixels(&r, None, None, Kind::Move, u32::MAX, Some(&[2]), 1).unwrap();
        assert_eq!(one, in_pixels(&read_kind(&r, None, None, Kind::Move, u32::MAX, Some(&[2]), 1).unwrap()));
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    #[test]
    fn a_damaged_block_in_the_middle_is_skipped_and_reported_without_rows() {
        let mut bytes = file(200);
        let clean = Reader::from_source(bytes.clone()).unwrap();
        let n_blocks = clean.blocks().len();
        let bad = n_blocks / 2;
        let b = clean.blocks()[bad].clone();
        bytes[(b.offset + u64::from(b.length) / 2) as usize] ^= 0x55;
        let r = Reader::from_source(bytes).unwrap();
        let others: Vec<usize> = (0..n_blocks).filter(|&i| i != bad).collect();
        for kind in [Kind::Move, Kind::Key, Kind::Button, Kind::Text] {
            for (t0, t1) in [(None, None), (Some(b.t_min - 3_000), Some(b.t_max + 3_000))] {
                for threads in [1, 3] {
                    for pixels in [false, true] {
                        let read = if pixels { read_kind_in_pixels } else { read_kind };
                        let got = read(&r, t0, t1, kind, u32::MAX, None, threads).unwrap();
                        // the rows of every other block, as the clean file reads them
                        let want = read(&clean, t0, t1, kind, u32::MAX, Some(&others), threads).unwrap();
                        assert_eq!(got, want, "{kind:?} {t0:?}..{t1:?} {threads} {pixels}");
                        assert!(got.t.iter().all(|&t| t < b.t_min || t > b.t_max), "rows of the damaged block");
                        // reported (once: the reader keeps one problem per place)
                        let p = r.problems();
                        assert_eq!(p.len(), 1, "{p:?}");
                        assert_eq!((p[0].offset, p[0].events_lost), (b.offset, Some(u64::from(b.events))));
                    }
                }
            }
        }
    }

    #[test]
    fn empty_reads_have_no_rows_and_every_selected_column() {
        let r = Reader::from_source(file(200)).unwrap();
        for pixels in [false, true] {
            let read = if pixels { read_kind_in_pixels } else { read_kind };
            for (kind, t0, t1) in [(Kind::Gap, None, None), (Kind::Move, Some(1_000_000), None), (Kind::Move, Some(3_000), Some(3_500)), (Kind::Text, Some(5), Some(5))] {
                for threads in [1, 2] {
                    let c = read(&r, t0, t1, kind, u32::MAX, None, threads).unwrap();
                    assert!(c.is_empty(), "{kind:?}");
                    assert_eq!(c.cols.len(), kind.fields().len());
                    assert!(c.cols.iter().all(|(_, v)| v.valid().is_none()));
                }
            }
        }
    }

    #[test]
    fn gathering_t_by_kind_keeps_the_rows_of_the_kind_in_order() {
        // runs of every length around the 8-row chunks, a kind code in every byte position
        let mut seed = 7u64;
        for len in 0..70usize {
            for density in [0u64, 1, 5, 9, 10] {
                let kind: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        if (seed >> 33) % 10 < density { 0 } else { ((seed >> 40) % 9) as u8 }
                    })
                    .collect();
                let t: Vec<i64> = (0..len as i64).map(|i| i * 3 - 50).collect();
                for code in 0..9u8 {
                    let mut got = vec![-1];
                    gather_by_kind(&mut got, &t, &kind, code);
                    let want: Vec<i64> = std::iter::once(-1).chain(t.iter().zip(&kind).filter(|(_, &k)| k == code).map(|(&t, _)| t)).collect();
                    assert_eq!(got, want, "len {len} density {density} code {code}");
                    // without a branch per row, with the spare room none, short of the rows
                    // (the rest gathered by kind) or room for all
                    for room in [0, len / 3, len + 8] {
                        let mut got = Vec::with_capacity(1 + room);
                        got.push(-1);
                        gather_compact(&mut got, &t, &kind, code);
                        assert_eq!(got, want, "compact: len {len} density {density} code {code} room {room}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_block_that_does_not_exist_is_refused() {
        let r = Reader::from_source(file(20)).unwrap();
        let e = read_kind(&r, None, None, Kind::Move, u32::MAX, Some(&[99]), 1).unwrap_err();
        assert!(e.to_string().contains("block 99"), "{e}");
    }
}
