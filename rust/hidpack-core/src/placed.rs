//! A wide read of one file with each block's rows placed straight into its own slice of the
//! output columns, on the decoding threads.
//!
//! [`crate::wide::Gather`] appends decoded blocks to its columns on one thread (the consumer of
//! the decoding pipeline), batch by batch: on two CPUs that consumer is as busy as the decoders,
//! and a read of a long file waits for it. When the index says how many rows each block holds
//! (every wanted block lies inside the time window: its wanted rows are its counts of the
//! kinds read), each block's rows start at a known row of the output. Then every column is
//! allocated once, at full size, and split into one disjoint slice per block; the thread that
//! decodes a block also writes its rows into its slices, and the columns are never grown,
//! zeroed beforehand or copied. The output is the same [`WideTable`] a [`Gather`] of the same
//! blocks makes, in either [`Layout`] (same columns, same values).
//!
//! ```text
//!   index counts:  block 0: 65536 rows | block 1: 65536 rows | block 2: 1203 rows
//!   column x:      [ slice of block 0  | slice of block 1    | slice 2 ]   (one allocation)
//!   thread A:      decode 0, write slice 0; decode 2, write slice 2
//!   thread B:      decode 1, write slice 1
//! ```
//!
//! The counts come from the file (untrusted): a block whose decoded rows per kind differ from
//! its record, or that fails its checks, makes [`read_placed`] give up (it returns `None`, having
//! changed nothing a caller sees: the reader's decode notes are restored) and the caller reads the
//! blocks the ordinary way, which reports each problem. Strings (whose byte lengths no index
//! holds) are written per block into the offsets column (relative to the block) and their own
//! buffer, then joined on the calling thread.
//!
//! The columns are written through `Vec::spare_capacity_mut` (no zeroing pass over memory each
//! row overwrites): the one `unsafe` is the `set_len` once every row of a column is written.

use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::sync::Mutex;

use crate::error::Result;
use crate::model::{coord_to_f64, Field, FieldType, Kind, ALL_FIELDS, NUM_KINDS};
use crate::ordered::in_order;
use crate::reader::{Reader, Source};
use crate::table::{Column, EventTable};
use crate::wide::{absent_column, Layout, Presence, WideColumn, WideQuery, WideTable};

type Out<'a, T> = &'a mut [MaybeUninit<T>];

/// Pushes a field's column `v` (as `wrap` makes it) and, with `presence_name`, its presence
/// column `pr`, each with its length set to `n`.
///
/// # Safety
/// Every one of the first `n` rows of `v` (and of `pr` when `presence_name` is given) was written.
unsafe fn push_filled<T>(
    cols: &mut Vec<(String, WideColumn)>,
    name: &str,
    mut v: Vec<T>,
    mut pr: Vec<bool>,
    presence_name: Option<String>,
    n: usize,
    wrap: fn(Vec<T>) -> WideColumn,
) {
    // SAFETY: the caller's promise: the first `n` rows are written (and `n` <= the capacity the
    // columns were allocated with).
    unsafe { v.set_len(n) };
    cols.push((name.to_string(), wrap(v)));
    if let Some(pn) = presence_name {
        // SAFETY: as above, for the presence column.
        unsafe { pr.set_len(n) };
        cols.push((pn, WideColumn::Bool(pr)));
    }
}

/// One field of the read: how its presence is said, and its columns (None: no wanted block has
/// a row of a kind with the field: absent on every row).
struct Plan {
    field: Field,
    presence: Presence,
    col: Option<Cols>,
}

/// A field's columns, allocated at full size (values, and presence if it has one: validity or
/// mask; strings: offsets and validity, their bytes joined at the end).
enum Cols {
    I64(Vec<i64>, Vec<bool>),
    F64(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Str { offsets: Vec<i64>, valid: Vec<bool> },
}

/// A block's slices of one field's columns.
enum Slot<'a> {
    I64(Out<'a, i64>, Option<Out<'a, bool>>),
    F64(Out<'a, f64>, Option<Out<'a, bool>>),
    Bool(Out<'a, bool>, Option<Out<'a, bool>>),
    /// The offsets of the ends of the block's strings (relative to its first byte) and validity.
    Str(Out<'a, i64>, Out<'a, bool>),
}

/// A block's slices of every column.
struct Slots<'a> {
    t: Out<'a, i64>,
    kind: Out<'a, u8>,
    /// In the order of the plans (None: the field's column is not made).
    fields: Vec<Option<Slot<'a>>>,
}

/// What a block's writer reports: which fields some row of it holds (bit = plan index), and
/// each string field's bytes (plan index, bytes).
struct Written {
    held: u64,
    strings: Vec<(usize, Vec<u8>)>,
}

/// The wide table of a read of one file (as [`crate::wide::read_wide`] returns it in `layout`),
/// when every block the query decodes lies inside its time window and the index's counts hold
/// (see the module docs); `Ok(None)` when they do not (the caller reads the ordinary way).
/// `frame_mask`: the kinds whose required fields count as required in [`Layout::Frame`] (see
/// [`crate::wide::Gather::frame`]).
pub fn read_placed<S: Source>(reader: &Reader<S>, q: &WideQuery, frame_mask: u16) -> Result<Option<WideTable>> {
    let WideQuery { t0, t1, kinds: mask, fields, blocks, threads, layout } = *q;
    let Some(BlockRows { ids, rows, present }) = block_rows(reader, t0, t1, mask, blocks)? else { return Ok(None) };
    let lo = t0.unwrap_or(i64::MIN);
    let infos = reader.blocks();
    let n: usize = rows.iter().sum();
    let wanted = |k: usize| (mask >> k) & 1 == 1;
    let present = present_kinds(present);
    // the counts are untrusted: room the allocator refuses means the ordinary read (which grows
    // its columns as rows come) instead of an abort
    let Some(mut plans) = plan(mask, fields, layout, frame_mask, &present, n) else { return Ok(None) };
    let (Some(mut t), Some(mut kind)) = (room::<i64>(n), room::<u8>(n)) else { return Ok(None) };

    let plans_ro: Vec<(Field, Presence)> = plans.iter().map(|p| (p.field, p.presence)).collect();
    let notes = reader.notes();
    let written: Option<Vec<Written>> = {
        let slots: Vec<Mutex<Option<Slots>>> =
            split_all(&mut t, &mut kind, &mut plans, &rows).into_iter().map(|s| Mutex::new(Some(s))).collect();
        let work = |j: usize| -> Option<Written> {
            let i = ids[j];
            let table = reader.decode_block(i).ok()?.into_wanted(lo, t1, mask);
            let counts_hold = table.t.len() == rows[j]
                && table.kind.len() == rows[j]
                && (0..NUM_KINDS).all(|k| table.kinds[k].len() == if wanted(k) { infos[i].counts[k] as usize } else { 0 });
            if !counts_hold {
                return None;
            }
            let mut s = slots[j].lock().unwrap_or_else(|e| e.into_inner()).take()?;
            Some(write_block(&table, &mut s, &plans_ro))
        };
        // blocks in any order: each writes its own slices, and a thread ahead never waits for a
        // block another (perhaps descheduled) thread holds
        crate::ordered::any_order(ids.len(), threads, work)
    };
    let Some(written) = written else {
        reader.restore_notes(notes); // the ordinary read decodes these blocks again
        return Ok(None);
    };
    // SAFETY: `split_all` gave each block the slice of rows `base..base + rows[j]` of every
    // column (the slices tile `0..n`), and every block was written (`written` has one entry per
    // block, else we returned above): `write_block` writes every row of its slices.
    Ok(Some(unsafe { assemble(t, kind, None, plans, &written, &rows, n, fields, layout) }))
}

/// The blocks a read decodes and the rows it takes from each, by the file's index: what a placed
/// read needs to know before it decodes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRows {
    /// The blocks' indices, in file order.
    pub ids: Vec<usize>,
    /// Rows wanted from each (its counts of the kinds read).
    pub rows: Vec<usize>,
    /// The kinds read that some of these blocks has rows of (bit k = kind k).
    pub present: u16,
}

/// [`BlockRows`] of a read of `t0 <= t < t1` and the kinds in `mask` (from `blocks`, all when
/// None); `Ok(None)` when a wanted block is cut by the window (its wanted rows are not known
/// beforehand) or the counts are past what the file's size allows (untrusted: see
/// [`Reader::events_hint`]).
pub fn block_rows<S: Source>(reader: &Reader<S>, t0: Option<i64>, t1: Option<i64>, mask: u16, blocks: Option<&[usize]>) -> Result<Option<BlockRows>> {
    let ids = reader.blocks_for(t0, t1, mask, blocks)?;
    let lo = t0.unwrap_or(i64::MIN);
    let infos = reader.blocks();
    if ids.iter().any(|&i| infos[i].t_min < lo || t1.is_some_and(|e| infos[i].t_max >= e)) {
        return Ok(None);
    }
    // events_hint bounds the (untrusted) counts by the file's size
    if reader.events_hint(&ids, mask).is_none() {
        return Ok(None);
    }
    let wanted = |k: usize| (mask >> k) & 1 == 1;
    let rows = ids.iter().map(|&i| (0..NUM_KINDS).filter(|&k| wanted(k)).map(|k| infos[i].counts[k] as usize).sum()).collect();
    let mut present = 0u16;
    for &i in &ids {
        for k in (0..NUM_KINDS).filter(|&k| wanted(k) && infos[i].counts[k] > 0) {
            present |= 1 << k;
        }
    }
    Ok(Some(BlockRows { ids, rows, present }))
}

fn present_kinds(bits: u16) -> [bool; NUM_KINDS] {
    std::array::from_fn(|k| (bits >> k) & 1 == 1)
}

/// The [`WideTable`] of a placed read: `t`, `kind`, `file` (if given), then each plan's
/// columns (only the held ones under [`crate::wide::HOLDING_DATA`]), each with its length set
/// to `n` (strings joined block after block).
///
/// # Safety
/// Every one of the first `n` rows of every column (`t`, `kind`, `file` and the plans') was
/// written: the blocks' slices (`rows`, one per entry of `written`) tile `0..n`, and each block
/// wrote every row of its slices.
#[allow(clippy::too_many_arguments)]
unsafe fn assemble(
    mut t: Vec<i64>,
    mut kind: Vec<u8>,
    file: Option<Vec<u32>>,
    plans: Vec<Plan>,
    written: &[Written],
    rows: &[usize],
    n: usize,
    fields: u32,
    layout: Layout,
) -> WideTable {
    // SAFETY: the caller's promise.
    unsafe {
        t.set_len(n);
        kind.set_len(n);
    }
    let mut held = 0u64;
    for w in written {
        held |= w.held;
    }
    let mut cols = vec![("t".to_string(), WideColumn::I64(t)), ("kind".to_string(), WideColumn::U8(kind))];
    if let Some(mut file) = file {
        // SAFETY: the caller's promise.
        unsafe { file.set_len(n) };
        cols.push(("file".to_string(), WideColumn::U32(file)));
    }
    let only_held = fields & crate::wide::HOLDING_DATA != 0;
    for (p, plan) in plans.into_iter().enumerate() {
        if only_held && held >> p & 1 == 0 {
            continue;
        }
        let name = plan.field.name();
        let presence_name = match plan.presence {
            Presence::Valid => Some(format!("{name}_valid")),
            Presence::Mask => Some(format!("{name}_mask")),
            Presence::None => None,
        };
        // SAFETY (each `push_filled` and `set_len` below): the caller's promise (presence
        // columns only where the field has one: `split_all` gives a presence slice exactly when
        // `presence` is not `Presence::None`; a string's offsets hold n + 1 entries, the first
        // pushed before).
        match plan.col {
            None => cols.extend(absent_column(plan.field, n, layout)),
            Some(Cols::I64(v, pr)) => unsafe { push_filled(&mut cols, name, v, pr, presence_name, n, WideColumn::I64) },
            Some(Cols::F64(v, pr)) => unsafe { push_filled(&mut cols, name, v, pr, presence_name, n, WideColumn::F64) },
            Some(Cols::Bool(v, pr)) => unsafe { push_filled(&mut cols, name, v, pr, presence_name, n, WideColumn::Bool) },
            Some(Cols::Str { mut offsets, mut valid }) => {
                unsafe {
                    offsets.set_len(n + 1);
                    valid.set_len(n);
                }
                let data = join_strings(&mut offsets, rows, written.iter().map(|w| w.strings.iter().find(|s| s.0 == p).map(|s| &s.1[..])));
                cols.push((format!("{name}_offsets"), WideColumn::I64(offsets)));
                cols.push((format!("{name}_data"), WideColumn::U8(data)));
                cols.push((format!("{name}_valid"), WideColumn::Bool(valid)));
            }
        }
    }
    WideTable { cols }
}

/// A block's slices in a placed fleet read (taken by the thread that writes them): every
/// column's, and the `file` column's.
type FileSlot<'a> = Mutex<Option<(Slots<'a>, Out<'a, u32>)>>;

/// A placed fleet read's result: the columns (with `file`), the rows of each file and each
/// file's wall clock.
pub(crate) type PlacedFleet = (WideTable, Vec<u64>, Vec<Option<i64>>);

/// Each file's rows and wall clock.
type PlacedCounts = (Vec<u64>, Vec<Option<i64>>);

/// The wide read of many recordings (`open(j)` opens the `j`th), every block's rows written
/// straight into its slice of the output columns, which are allocated once at full size: what
/// [`crate::many::gather_many`] makes of the same files through a [`crate::wide::Gather`] (with
/// its `file` column), when each file's [`BlockRows`] (`files[j]`, from its index, read
/// beforehand) hold. `kept[j]`, if there, is the `j`th file's reader (not opened again). Files are read on up to `threads` threads, each file's blocks on the thread
/// that opened it.
///
/// `None` (nothing a caller sees was changed) as soon as anything differs from the ordinary read's
/// easy case: a file that fails to open, whose reader reports a problem (a torn or damaged file),
/// whose index now says other rows than `files[j]`, or a block that fails its checks or whose
/// decoded rows per kind differ from its record. The caller then reads the ordinary way, which
/// reports each problem as it should. `q.blocks` is not used (each file's blocks are its
/// `files[j].ids`).
pub(crate) fn gather_placed<S: Source>(
    open: impl Fn(usize) -> Result<Reader<S>> + Sync,
    kept: Vec<Option<Reader<S>>>,
    files: &[BlockRows],
    q: &WideQuery,
    frame_mask: u16,
) -> Option<PlacedFleet> {
    // each file's blocks are `files[j].ids`: a query's `blocks` names one file's, so none is taken
    let WideQuery { t0, t1, kinds: mask, fields, threads, layout, blocks: _ } = *q;
    let rows: Vec<usize> = files.iter().flat_map(|f| f.rows.iter().copied()).collect();
    let n = rows.iter().try_fold(0usize, |a, &r| a.checked_add(r))?;
    if n == 0 || u32::try_from(files.len()).is_err() {
        return None;
    }
    let present = present_kinds(files.iter().fold(0, |a, f| a | f.present));
    let mut plans = plan(mask, fields, layout, frame_mask, &present, n)?;
    let (mut t, mut kind, mut file) = (room::<i64>(n)?, room::<u8>(n)?, room::<u32>(n)?);
    let lo = t0.unwrap_or(i64::MIN);
    let wanted = |k: usize| (mask >> k) & 1 == 1;
    // each file's first block among all the blocks
    let mut first = Vec::with_capacity(files.len() + 1);
    first.push(0usize);
    for f in files {
        first.push(first[first.len() - 1] + f.rows.len());
    }
    let plans_ro: Vec<(Field, Presence)> = plans.iter().map(|p| (p.field, p.presence)).collect();
    let done: Option<(Vec<Written>, PlacedCounts)> = {
        let slots: Vec<FileSlot> = split_all(&mut t, &mut kind, &mut plans, &rows)
            .into_iter()
            .zip(split(&mut file, &rows))
            .map(|s| Mutex::new(Some(s)))
            .collect();
        let kept: Vec<Mutex<Option<Reader<S>>>> = kept.into_iter().map(Mutex::new).collect();
        let work = |j: usize| -> Option<(Vec<Written>, Option<i64>)> {
            let reader = match kept.get(j).and_then(|k| k.lock().unwrap_or_else(|e| e.into_inner()).take()) {
                Some(r) => r,
                None => open(j).ok()?,
            };
            if !reader.problems().is_empty() || block_rows(&reader, t0, t1, mask, None).ok()?.as_ref() != Some(&files[j]) {
                return None;
            }
            let infos = reader.blocks();
            let mut out = Vec::with_capacity(files[j].ids.len());
            for (b, &i) in files[j].ids.iter().enumerate() {
                let table = reader.decode_block(i).ok()?.into_wanted(lo, t1, mask);
                let m = files[j].rows[b];
                let counts_hold = table.t.len() == m
                    && table.kind.len() == m
                    && (0..NUM_KINDS).all(|k| table.kinds[k].len() == if wanted(k) { infos[i].counts[k] as usize } else { 0 });
                if !counts_hold {
                    return None;
                }
                let (mut s, f) = slots[first[j] + b].lock().unwrap_or_else(|e| e.into_inner()).take()?;
                f.iter_mut().for_each(|o| {
                    o.write(j as u32);
                });
                out.push(write_block(&table, &mut s, &plans_ro));
            }
            Some((out, reader.header().wall_clock_ns))
        };
        let (mut written, mut events, mut walls) = (Vec::with_capacity(rows.len()), Vec::with_capacity(files.len()), Vec::with_capacity(files.len()));
        let mut failed = false;
        in_order(files.len(), threads, crate::many::WAVE, work, |j, w| match w {
            Some((w, wall)) => {
                written.extend(w);
                events.push(files[j].rows.iter().sum::<usize>() as u64);
                walls.push(wall);
                ControlFlow::Continue(())
            }
            None => {
                failed = true;
                ControlFlow::Break(())
            }
        });
        (!failed).then_some((written, (events, walls)))
    };
    let (written, (events, walls)) = done?;
    // SAFETY: `split_all` and `split` gave each block the slice of rows of every column its
    // `rows` entry says (the slices tile `0..n`); every file was read whole (`done` is Some only
    // then), each of its blocks writing every row of its slices (`write_block` and the file
    // index fill above).
    let table = unsafe { assemble(t, kind, Some(file), plans, &written, &rows, n, fields, layout) };
    Some((table, events, walls))
}

/// An empty Vec with room for `n` values, if the allocator grants it.
fn room<T>(n: usize) -> Option<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    Some(v)
}

/// The fields of the read (as [`crate::wide::Gather::new`] and [`crate::wide::Gather::frame`]
/// choose them), each with its columns allocated for `n` rows if a kind in `present` has it
/// (None: the allocator refused).
fn plan(mask: u16, fields: u32, layout: Layout, frame_mask: u16, present: &[bool; NUM_KINDS], n: usize) -> Option<Vec<Plan>> {
    let mut included = [false; crate::model::NUM_FIELDS];
    let mut built = [false; crate::model::NUM_FIELDS];
    for k in Kind::ALL {
        if (mask >> k as u8) & 1 == 1 {
            for s in k.fields() {
                included[s.field as usize] = (fields >> s.field as u8) & 1 == 1;
                built[s.field as usize] |= present[k as usize];
            }
        }
    }
    ALL_FIELDS
        .iter()
        .copied()
        .filter(|&f| included[f as usize])
        .map(|field| {
            let presence = crate::wide::presence_of(field, layout, frame_mask);
            let p = || if presence != Presence::None { room(n) } else { Some(Vec::new()) };
            let col = match (built[field as usize], field.ty()) {
                (false, _) => None,
                (true, FieldType::Str) => {
                    let mut offsets = room(n + 1)?;
                    offsets.push(0);
                    Some(Cols::Str { offsets, valid: room(n)? })
                }
                (true, FieldType::Bool) => Some(Cols::Bool(room(n)?, p()?)),
                (true, FieldType::Coord) => Some(Cols::F64(room(n)?, p()?)),
                (true, FieldType::Int { .. }) => Some(Cols::I64(room(n)?, p()?)),
            };
            Some(Plan { field, presence, col })
        })
        .collect()
}

/// `v`'s unused capacity (from its length) cut into consecutive slices of `rows[j]` each.
fn split<'a, T>(v: &'a mut Vec<T>, rows: &[usize]) -> Vec<Out<'a, T>> {
    let mut rest = v.spare_capacity_mut();
    rows.iter()
        .map(|&m| {
            let (a, b) = std::mem::take(&mut rest).split_at_mut(m);
            rest = b;
            a
        })
        .collect()
}

/// Every column cut into the blocks' slices, gathered per block.
fn split_all<'a>(t: &'a mut Vec<i64>, kind: &'a mut Vec<u8>, plans: &'a mut [Plan], rows: &[usize]) -> Vec<Slots<'a>> {
    let mut out: Vec<Slots<'a>> =
        split(t, rows).into_iter().zip(split(kind, rows)).map(|(t, kind)| Slots { t, kind, fields: Vec::new() }).collect();
    for plan in plans.iter_mut() {
        let has_p = plan.presence != Presence::None;
        let presence = |p: &'a mut Vec<bool>| -> Vec<Option<Out<'a, bool>>> {
            if has_p {
                split(p, rows).into_iter().map(Some).collect()
            } else {
                rows.iter().map(|_| None).collect()
            }
        };
        let slots: Vec<Option<Slot<'a>>> = match &mut plan.col {
            None => rows.iter().map(|_| None).collect(),
            Some(Cols::I64(v, p)) => split(v, rows).into_iter().zip(presence(p)).map(|(v, p)| Some(Slot::I64(v, p))).collect(),
            Some(Cols::F64(v, p)) => split(v, rows).into_iter().zip(presence(p)).map(|(v, p)| Some(Slot::F64(v, p))).collect(),
            Some(Cols::Bool(v, p)) => split(v, rows).into_iter().zip(presence(p)).map(|(v, p)| Some(Slot::Bool(v, p))).collect(),
            Some(Cols::Str { offsets, valid }) => {
                split(offsets, rows).into_iter().zip(split(valid, rows)).map(|(o, v)| Some(Slot::Str(o, v))).collect()
            }
        };
        for (s, slot) in out.iter_mut().zip(slots) {
            s.fields.push(slot);
        }
    }
    out
}

/// Writes every row of a decoded block (its rows counted as its slices' lengths) into its
/// slices: `t`, `kind`, and each field's values and presence (absent rows: 0 / false, NaN for a
/// coordinate without a presence column; presence false where absent, or true in a mask).
fn write_block(table: &EventTable, s: &mut Slots, plans: &[(Field, Presence)]) -> Written {
    let m = table.len();
    for (o, &x) in s.t.iter_mut().zip(&table.t) {
        o.write(x);
    }
    for (o, &x) in s.kind.iter_mut().zip(&table.kind) {
        o.write(x);
    }
    // the rows of each kind, unless one kind fills the block (then its rows are 0..m)
    let total: usize = table.kinds.iter().map(|kt| kt.len()).sum();
    let one = Kind::ALL.iter().position(|&k| table.kinds[k as usize].len() == m).filter(|_| total == m);
    let mut rows_of: [Vec<u32>; NUM_KINDS] = Default::default();
    if one.is_none() {
        rows_by_kind(&mut rows_of, &table.kind, table.kinds.iter().map(|kt| kt.len()));
    }
    let mut out = Written { held: 0, strings: Vec::new() };
    // (the kind's column, its rows: None = every row) of each kind with rows that has the field
    let parts_of = |field: Field| -> Vec<(&Column, Option<&[u32]>)> {
        Kind::ALL
            .iter()
            .filter(|&&k| !table.kinds[k as usize].is_empty())
            .filter_map(|&k| {
                let at = k.fields().iter().position(|f| f.field == field)?;
                let rows = if one.is_some() { None } else { Some(rows_of[k as usize].as_slice()) };
                Some((&table.kinds[k as usize].cols[at], rows))
            })
            .collect()
    };
    // y written with x, dy with dx (see [`write_coords`])
    let mut pair_done = false;
    for (p, &(field, presence)) in plans.iter().enumerate() {
        let (slot, rest) = s.fields[p..].split_first_mut().expect("a slot per plan");
        let Some(slot) = slot else { continue };
        if std::mem::take(&mut pair_done) {
            continue;
        }
        let parts = parts_of(field);
        // rows the parts write (the rows of different kinds are distinct): all of them, or the
        // rest are written absent first (see [`Gaps`])
        let covered: usize = parts.iter().map(|(c, r)| part_len(c, *r, m)).sum();
        let gaps = if covered >= m {
            Gaps::None
        } else if one.is_none() && 4 * (m - covered) <= m {
            // a few rows of kinds without the field (the clicks between moves): only those
            let of_others = Kind::ALL.iter().filter(|&&k| !table.kinds[k as usize].is_empty() && !k.fields().iter().any(|f| f.field == field));
            Gaps::Rows(of_others.map(|&k| rows_of[k as usize].as_slice()).collect())
        } else {
            Gaps::All
        };
        if parts.iter().any(|(c, _)| c.valid().is_none_or(|v| v.contains(&true))) {
            out.held |= 1 << p;
        }
        let mask = presence == Presence::Mask;
        match slot {
            Slot::I64(v, pr) => write_values(v, pr.as_deref_mut(), mask, &parts, &gaps, 0, |x| x),
            // x and y (dx and dy) without presence columns (the frame's NaN coordinates), both read
            Slot::F64(v, None) if pair_of(field).is_some_and(|f| plans.get(p + 1) == Some(&(f, presence))) => match rest.first_mut() {
                Some(Some(Slot::F64(v2, None))) => {
                    let parts2 = parts_of(plans[p + 1].0);
                    if parts2.iter().any(|(c, _)| c.valid().is_none_or(|v| v.contains(&true))) {
                        out.held |= 1 << (p + 1);
                    }
                    write_coords(v, v2, &parts, &parts2, &gaps);
                    pair_done = true;
                }
                _ => write_values(v, None, mask, &parts, &gaps, f64::NAN, coord_to_f64),
            },
            Slot::F64(v, pr) => {
                let absent = if presence == Presence::None { f64::NAN } else { 0.0 };
                write_values(v, pr.as_deref_mut(), mask, &parts, &gaps, absent, coord_to_f64)
            }
            Slot::Bool(v, pr) => write_bools(v, pr.as_deref_mut(), mask, &parts, &gaps),
            Slot::Str(offsets, valid) => out.strings.push((p, write_strings(offsets, valid, &parts, m))),
        }
    }
    out
}

/// Which rows of a block's slice of a field no part writes (rows of kinds without the field),
/// to be written absent first.
enum Gaps<'a> {
    /// None: the kinds with the field cover the block.
    None,
    /// Every row (the parts then overwrite theirs): the gaps are many, or not listed (a block of
    /// one kind).
    All,
    /// The rows of these kinds: a few among many the parts write (a pass over all of them would
    /// write most rows twice).
    Rows(Vec<&'a [u32]>),
}

/// Each kind's rows (`kind`: a block's kind column; `lens`: each kind's rows, for room) pushed
/// onto `rows_of`. Eight rows at a time: eight of the block's most frequent kind (a run of moves)
/// are appended at once; the rows of other chunks one by one (each push waits for the length of
/// its list stored by the push before: pushing every row was a fifth of [`write_block`]).
///
/// Lists of rows, not runs of them: the runs of moves in the long balabit file are short (mean
/// 20 rows, median 10; 176 k runs in 2 M rows), and writing each field run by run (a slice copy
/// or fill per run) made a one-thread wide read 3-4 % slower. [`write_block`] writes about as
/// fast as stores reach memory here: its ~123 MB of frame columns for that file at ~12 GB/s,
/// where a plain conversion loop into a fresh 16 MB column runs at ~14 GB/s (fusing the presence
/// writes into the value loop did not change its share either).
///
/// Non-temporal (streaming) stores, tried twice (session 29), left the whole read of that file
/// slower on one thread and on two (CPU a read, min and median of interleaved fresh processes,
/// of ~47 ms): each field written into a reused per-thread block-sized stage, then streamed into
/// the output, +1.9 / +2.9 ms on one thread and +2.6 / +3.3 on two; the same in 1024-row windows
/// that stay in the first-level cache, +1.8 / +2.4 and +1.6 / +2.7; only `t` and `kind`
/// streamed, no change. A profile of the
/// windowed one says why: the staged writes alone cost about what all of `write_block` costs
/// unstaged, so these loops are bound by their instructions, not by the read-for-ownership of
/// the output's lines, and the streamed copy (~21 GB/s) comes on top.
fn rows_by_kind(rows_of: &mut [Vec<u32>; NUM_KINDS], kind: &[u8], lens: impl Iterator<Item = usize>) {
    let (mut dense, mut most) = (0, 0);
    for (k, n) in lens.enumerate().take(NUM_KINDS) {
        rows_of[k].reserve_exact(n);
        if n > most {
            (dense, most) = (k, n);
        }
    }
    let pat = u64::from(dense as u8) * 0x0101_0101_0101_0101;
    let mut chunks = kind.chunks_exact(8);
    let mut i = 0u32;
    for k8 in &mut chunks {
        let k8: [u8; 8] = k8.try_into().expect("chunks of 8");
        if u64::from_le_bytes(k8) == pat {
            rows_of[dense].extend(i..i + 8);
        } else {
            for (j, &k) in k8.iter().enumerate() {
                if let Some(v) = rows_of.get_mut(k as usize) {
                    v.push(i + j as u32);
                }
            }
        }
        i += 8;
    }
    for (j, &k) in chunks.remainder().iter().enumerate() {
        if let Some(v) = rows_of.get_mut(k as usize) {
            v.push(i + j as u32);
        }
    }
}

/// Rows of a kind's column written into the block's rows (`rows`, None: `0..m`): the column's
/// values, its validity and its rows all have them (equal in any table the decoder accepts).
fn part_len(c: &Column, rows: Option<&[u32]>, m: usize) -> usize {
    let (len, valid) = match c {
        Column::Int { vals, valid } => (vals.len(), valid),
        Column::Bool { vals, valid } => (vals.len(), valid),
        Column::Str { offsets, valid, .. } => (offsets.len().saturating_sub(1), valid),
    };
    len.min(valid.as_ref().map_or(usize::MAX, |v| v.len())).min(rows.map_or(m, |r| r.len()))
}

/// Row `g` of `rows` (None: the rows are 0..).
fn row(rows: Option<&[u32]>, r: usize) -> usize {
    rows.map_or(r, |rows| rows[r] as usize)
}

/// The field written in the same loops as `f` by [`write_coords`]: y with x, dy with dx (every
/// kind with the one has the other).
fn pair_of(f: Field) -> Option<Field> {
    match f {
        Field::X => Some(Field::Y),
        Field::Dx => Some(Field::Dy),
        _ => None,
    }
}

/// [`write_values`] of x into `x` and of y into `y` (or dx and dy: coordinates without presence
/// columns, NaN where absent), each part's two columns in one loop: its rows are read once, and
/// the loop's count and bounds checks serve both columns (x and y's scattered loops were a
/// third of [`write_block`]).
fn write_coords(x: Out<f64>, y: Out<f64>, parts_x: &[(&Column, Option<&[u32]>)], parts_y: &[(&Column, Option<&[u32]>)], gaps: &Gaps) {
    let m = x.len();
    let y = &mut y[..m];
    // the same kinds (each with x has y), so the same rows, each part as long in both: else
    // each column on its own (y with every row written absent first: `gaps` are x's)
    let same = parts_x.len() == parts_y.len()
        && parts_x.iter().zip(parts_y).all(|(&(cx, a), &(cy, b))| {
            a.map(|r| (r.as_ptr(), r.len())) == b.map(|r| (r.as_ptr(), r.len())) && part_len(cx, a, m) == part_len(cy, b, m)
        });
    if !same {
        write_values(&mut *x, None, false, parts_x, gaps, f64::NAN, coord_to_f64);
        return write_values(&mut *y, None, false, parts_y, &Gaps::All, f64::NAN, coord_to_f64);
    }
    fill_absent(&mut *x, None, gaps, f64::NAN, false);
    fill_absent(&mut *y, None, gaps, f64::NAN, false);
    for (&(cx, rows), &(cy, rows_y)) in parts_x.iter().zip(parts_y) {
        let (Column::Int { vals: vx, valid: valid_x }, Column::Int { vals: vy, valid: valid_y }) = (cx, cy) else { continue };
        let len = part_len(cx, rows, m);
        let (vx, vy) = (&vx[..len], &vy[..len]);
        let put = |ok: bool, v: i64| if ok { coord_to_f64(v) } else { f64::NAN };
        match (valid_x, valid_y, rows) {
            (None, None, None) => x.iter_mut().zip(y.iter_mut()).zip(vx.iter().zip(vy)).for_each(|((ox, oy), (&a, &b))| {
                ox.write(coord_to_f64(a));
                oy.write(coord_to_f64(b));
            }),
            (None, None, Some(rows)) => rows.iter().zip(vx.iter().zip(vy)).for_each(|(&g, (&a, &b))| {
                x[g as usize].write(coord_to_f64(a));
                y[g as usize].write(coord_to_f64(b));
            }),
            (Some(ok_x), Some(ok_y), Some(rows)) => {
                rows.iter().zip(vx.iter().zip(vy)).zip(ok_x.iter().zip(ok_y)).for_each(|((&g, (&a, &b)), (&oa, &ob))| {
                    x[g as usize].write(put(oa, a));
                    y[g as usize].write(put(ob, b));
                })
            }
            _ => {
                write_values(&mut *x, None, false, &[(cx, rows)], gaps_none(), f64::NAN, coord_to_f64);
                write_values(&mut *y, None, false, &[(cy, rows_y)], gaps_none(), f64::NAN, coord_to_f64);
            }
        }
    }
}

/// No gaps (a part written after its column's gaps were).
fn gaps_none() -> &'static Gaps<'static> {
    &Gaps::None
}

/// `out` (and the presence `pr`) written absent on the `gaps`, then each part's values written
/// into its rows.
fn write_values<T: Copy>(
    out: Out<T>,
    mut pr: Option<Out<bool>>,
    mask: bool,
    parts: &[(&Column, Option<&[u32]>)],
    gaps: &Gaps,
    absent: T,
    conv: impl Fn(i64) -> T,
) {
    fill_absent(&mut *out, pr.as_deref_mut(), gaps, absent, mask);
    let m = out.len();
    for (c, rows) in parts {
        let len = part_len(c, *rows, m);
        let Column::Int { vals, valid } = c else { continue };
        let vals = &vals[..len];
        let put = |ok: bool, x: i64| if ok { conv(x) } else { absent };
        match (valid, rows) {
            (None, None) => out.iter_mut().zip(vals).for_each(|(o, &x)| {
                o.write(conv(x));
            }),
            (None, Some(rows)) => rows.iter().zip(vals).for_each(|(&g, &x)| {
                out[g as usize].write(conv(x));
            }),
            (Some(valid), None) => out.iter_mut().zip(vals).zip(valid).for_each(|((o, &x), &ok)| {
                o.write(put(ok, x));
            }),
            (Some(valid), Some(rows)) => rows.iter().zip(vals).zip(valid).for_each(|((&g, &x), &ok)| {
                out[g as usize].write(put(ok, x));
            }),
        }
        write_presence(pr.as_deref_mut(), valid, *rows, len, mask);
    }
}

/// The `gaps` of `out` absent (`absent`), and of its presence `pr` absent too (false, or `mask`).
fn fill_absent<T: Copy>(out: Out<T>, pr: Option<Out<bool>>, gaps: &Gaps, absent: T, mask: bool) {
    match gaps {
        Gaps::None => {}
        Gaps::All => {
            out.iter_mut().for_each(|o| {
                o.write(absent);
            });
            if let Some(pr) = pr {
                pr.iter_mut().for_each(|o| {
                    o.write(mask);
                });
            }
        }
        Gaps::Rows(lists) => {
            for rows in lists {
                rows.iter().for_each(|&g| {
                    out[g as usize].write(absent);
                });
            }
            if let Some(pr) = pr {
                for rows in lists {
                    rows.iter().for_each(|&g| {
                        pr[g as usize].write(mask);
                    });
                }
            }
        }
    }
}

/// [`write_values`] of a boolean field.
fn write_bools(out: Out<bool>, mut pr: Option<Out<bool>>, mask: bool, parts: &[(&Column, Option<&[u32]>)], gaps: &Gaps) {
    fill_absent(&mut *out, pr.as_deref_mut(), gaps, false, mask);
    let m = out.len();
    for (c, rows) in parts {
        let len = part_len(c, *rows, m);
        let Column::Bool { vals, valid } = c else { continue };
        let vals = &vals[..len];
        match (valid, rows) {
            (None, None) => out.iter_mut().zip(vals).for_each(|(o, &x)| {
                o.write(x);
            }),
            (None, Some(rows)) => rows.iter().zip(vals).for_each(|(&g, &x)| {
                out[g as usize].write(x);
            }),
            (Some(valid), None) => out.iter_mut().zip(vals).zip(valid).for_each(|((o, &x), &ok)| {
                o.write(ok && x);
            }),
            (Some(valid), Some(rows)) => rows.iter().zip(vals).zip(valid).for_each(|((&g, &x), &ok)| {
                out[g as usize].write(ok && x);
            }),
        }
        write_presence(pr.as_deref_mut(), valid, *rows, len, mask);
    }
}

/// A part's presence into its first `len` rows of `pr` (if the field has a presence column):
/// true where present, or (`mask`) true where absent. One loop per case (no per-row test of
/// which).
fn write_presence(pr: Option<Out<bool>>, valid: &Option<Vec<bool>>, rows: Option<&[u32]>, len: usize, mask: bool) {
    let Some(pr) = pr else { return };
    match (valid, rows) {
        (None, None) => pr[..len].iter_mut().for_each(|o| {
            o.write(!mask);
        }),
        (None, Some(rows)) => rows[..len].iter().for_each(|&g| {
            pr[g as usize].write(!mask);
        }),
        (Some(v), None) => pr[..len].iter_mut().zip(v).for_each(|(o, &ok)| {
            o.write(ok != mask);
        }),
        (Some(v), Some(rows)) => rows[..len].iter().zip(v).for_each(|(&g, &ok)| {
            pr[g as usize].write(ok != mask);
        }),
    }
}

/// A block's strings: the end offset of each row's string (relative to the block's first byte)
/// into `offsets`, validity into `valid`, and the bytes, returned.
fn write_strings(offsets: Out<i64>, valid: Out<bool>, parts: &[(&Column, Option<&[u32]>)], m: usize) -> Vec<u8> {
    let mut lens = vec![0i64; m];
    valid.iter_mut().for_each(|o| {
        o.write(false);
    });
    for (c, rows) in parts {
        let len = part_len(c, *rows, m);
        let Column::Str { offsets: off, valid: v, .. } = c else { continue };
        for r in 0..len {
            if v.as_ref().is_none_or(|v| v[r]) {
                let g = row(*rows, r);
                valid[g].write(true);
                lens[g] = off[r + 1] - off[r];
            }
        }
    }
    let mut acc = 0i64;
    let mut starts = vec![0i64; m];
    for (g, (o, l)) in offsets.iter_mut().zip(&lens).enumerate() {
        starts[g] = acc;
        acc += l;
        o.write(acc);
    }
    let mut data = vec![0u8; acc as usize];
    for (c, rows) in parts {
        let len = part_len(c, *rows, m);
        let Column::Str { offsets: off, data: src, valid: v } = c else { continue };
        for r in 0..len {
            if v.as_ref().is_none_or(|v| v[r]) {
                let g = row(*rows, r);
                let (a, l) = (starts[g] as usize, lens[g] as usize);
                data[a..a + l].copy_from_slice(&src[off[r] as usize..off[r + 1] as usize]);
            }
        }
    }
    data
}

/// The string bytes of every block, joined; each block's offsets (entries `1 + base..`, relative
/// to the block) shifted by the bytes before it.
fn join_strings<'a>(offsets: &mut [i64], rows: &[usize], blocks: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<u8> {
    let mut data = Vec::new();
    let mut base = 1usize;
    for (m, bytes) in rows.iter().zip(blocks) {
        let shift = data.len() as i64;
        if shift != 0 {
            offsets[base..base + m].iter_mut().for_each(|o| *o += shift);
        }
        data.extend_from_slice(bytes.unwrap_or(&[]));
        base += m;
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::ALL_KINDS;
    use crate::wide::{Gather, ALL_FIELDS_MASK, HOLDING_DATA};
    use crate::{Event, Writer, WriterOptions};

    /// Events of every kind but gap, optional fields present on some rows only, runs of moves
    /// (blocks of one kind) between mixed stretches.
    fn events(n: i64) -> Vec<(i64, Event)> {
        (0..n)
            .map(|i| {
                let ev = match if (i / 1000) % 3 == 1 { 0 } else { i % 8 } {
                    0 | 1 => Event::Move { x: i << 16, y: (2 * i + 1) << 15, buttons: (i % 4 == 0).then_some(1) },
                    2 => Event::Key { pressed: i % 4 == 2, usage: Some(4 + (i % 20) as u16), native: (i % 5 == 0).then_some(30) },
                    3 => Event::Button { button: 1, pressed: i % 2 == 1, pos: (i % 9 == 3).then_some((i << 16, i << 16)) },
                    4 => Event::Text { text: format!("t{i}é") },
                    5 => Event::Scroll { dx: 0, dy: -(i << 16), pos: None },
                    6 => Event::RawMove { dx: i, dy: -i },
                    _ => Event::Marker { label: "m".into(), value: (i % 3 == 0).then_some(i) },
                };
                (i * 1000, ev)
            })
            .collect()
    }

    fn file(evs: &[(i64, Event)], block_events: usize) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), WriterOptions { block_events, ..Default::default() }).unwrap();
        for (t, ev) in evs {
            w.push(*t, ev).unwrap();
        }
        w.into_inner().unwrap()
    }

    /// The same read through a [`Gather`], block after block.
    fn gathered(r: &Reader<Vec<u8>>, mask: u16, fields: u32, layout: Layout) -> WideTable {
        let mut g = Gather::new(mask, fields, false);
        if layout == Layout::Frame {
            g = g.frame(ALL_KINDS);
        }
        r.for_each_block(None, None, mask, None, 1, |_, b| g.append(vec![b.into_wanted(i64::MIN, None, mask)], 1)).unwrap();
        g.finish()
    }

    /// Mostly moves (a drag's clicks and a few scrolls and keys between them): blocks where the
    /// kinds without a field hold a few of the rows (a placed read writes only those absent).
    fn mostly_moves(n: i64) -> Vec<(i64, Event)> {
        (0..n)
            .map(|i| {
                let ev = match i % 23 {
                    5 => Event::Button { button: 1, pressed: i % 2 == 1, pos: (i % 3 == 0).then_some((i << 16, i << 16)) },
                    11 => Event::Scroll { dx: 0, dy: -(i << 16), pos: Some((i << 16, 3 << 16)) },
                    17 if i % 2 == 0 => Event::Key { pressed: true, usage: Some(4), native: None },
                    _ => Event::Move { x: i << 16, y: (2 * i + 1) << 15, buttons: (i % 5 != 0).then_some(1) },
                };
                (i * 1000, ev)
            })
            .collect()
    }

    /// Stretches in which the kinds with coordinates come and go, so that blocks (cut at uneven
    /// rows) hold: moves only (x and y of every row, dx and dy of none), moves with scrolls and
    /// raw moves (dx and dy of a few rows, from two kinds, one with coordinates), buttons only
    /// (x and y on some rows), and every kind.
    fn phases() -> Vec<(i64, Event)> {
        let mut mixed = events(600);
        (0..4000)
            .map(|i| {
                let ev = match i {
                    0..1500 => Event::Move { x: i << 16, y: -(i << 15), buttons: None },
                    1500..3000 if i % 7 == 0 => Event::Scroll { dx: i << 14, dy: -(i << 16), pos: (i % 2 == 0).then_some((i << 16, 5 << 16)) },
                    1500..3000 if i % 11 == 0 => Event::RawMove { dx: i, dy: 3 - i },
                    1500..3000 => Event::Move { x: i << 16, y: i << 16, buttons: (i % 3 == 0).then_some(2) },
                    3000..3400 => Event::Button { button: 1 + (i % 3) as u8, pressed: i % 2 == 0, pos: (i % 5 != 0).then_some((i << 16, 7 << 16)) },
                    _ => mixed.pop().expect("600 mixed events").1,
                };
                (i * 1000, ev)
            })
            .collect()
    }

    #[test]
    fn placed_columns_are_those_a_gather_makes() {
        for (evs, block) in [(events(5000), 333), (mostly_moves(4000), 700), (phases(), 500), (phases(), 777)] {
            placed_equals_gathered(&Reader::from_source(file(&evs, block)).unwrap());
        }
    }

    fn placed_equals_gathered(r: &Reader<Vec<u8>>) {
        let key_text = 1 << Kind::Key as u16 | 1 << Kind::Text as u16;
        let x_text = 1 << Field::X as u32 | 1 << Field::Text as u32 | 1 << Field::Count as u32;
        // the pairs written together (x with y, dx with dy) and their halves alone
        let (x, y, dx, dy) = (1 << Field::X as u32, 1 << Field::Y as u32, 1 << Field::Dx as u32, 1 << Field::Dy as u32);
        let scroll_button = 1 << Kind::Scroll as u16 | 1 << Kind::Button as u16;
        for mask in [ALL_KINDS, 1 << Kind::Move as u16, key_text, 1 << Kind::Gap as u16 | 1 << Kind::Move as u16, scroll_button] {
            for fields in [ALL_FIELDS_MASK, ALL_FIELDS_MASK | HOLDING_DATA, x_text, x_text | HOLDING_DATA, y | dy, x | y | dx | dy, dx | HOLDING_DATA] {
                for layout in [Layout::Table, Layout::Frame] {
                    for threads in [1, 2, 3] {
                        let want = gathered(r, mask, fields, layout);
                        let got = read_placed(r, &WideQuery { t0: None, t1: None, kinds: mask, fields, blocks: None, threads, layout }, ALL_KINDS).unwrap().expect("placed");
                        // compared as text: NaN equals NaN
                        assert_eq!(format!("{got:?}"), format!("{want:?}"), "mask {mask:#x} fields {fields:#x} {layout:?} {threads}");
                    }
                }
            }
        }
        assert!(r.problems().is_empty());
    }

    #[test]
    fn a_damaged_block_leaves_the_read_to_the_ordinary_one_on_any_threads() {
        let evs = events(3000);
        let mut bytes = file(&evs, 200);
        let clean = Reader::from_source(bytes.clone()).unwrap();
        let b = clean.blocks()[7].clone();
        bytes[(b.offset + u64::from(b.length) / 2) as usize] ^= 0x5a; // the frame's hash no longer holds
        for threads in [1, 2, 3, 16] {
            let r = Reader::from_source(bytes.clone()).unwrap();
            let q = WideQuery { t0: None, t1: None, kinds: ALL_KINDS, fields: ALL_FIELDS_MASK, blocks: None, threads, layout: Layout::Frame };
            assert!(read_placed(&r, &q, ALL_KINDS).unwrap().is_none(), "threads {threads}");
            assert!(r.problems().is_empty(), "a placed read reports nothing (the ordinary read will)");
            // the ordinary read skips the block and reports it
            let got = crate::wide::read_wide(&r, &q).unwrap();
            let Some(WideColumn::I64(t)) = got.get("t") else { panic!("no t") };
            assert_eq!(t.len(), 3000 - b.events as usize);
            assert_eq!(r.problems().len(), 1, "threads {threads}");
        }
    }

    #[test]
    fn rows_by_kind_lists_each_kinds_rows_in_order() {
        let mut seed = 11u64;
        for len in 0..70usize {
            for dense_share in [0u64, 5, 9, 10] {
                let kind: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        if (seed >> 33) % 10 < dense_share { 3 } else { ((seed >> 40) % 9) as u8 }
                    })
                    .collect();
                let lens: Vec<usize> = (0..NUM_KINDS).map(|k| kind.iter().filter(|&&c| c as usize == k).count()).collect();
                let mut got: [Vec<u32>; NUM_KINDS] = Default::default();
                rows_by_kind(&mut got, &kind, lens.iter().copied());
                for (k, rows) in got.iter().enumerate() {
                    let want: Vec<u32> = (0..len as u32).filter(|&i| kind[i as usize] as usize == k).collect();
                    assert_eq!(*rows, want, "len {len} share {dense_share} kind {k}");
                }
            }
        }
    }

    #[test]
    fn a_window_that_cuts_a_block_is_left_to_the_ordinary_read() {
        let evs = events(1000);
        let r = Reader::from_source(file(&evs, 100)).unwrap();
        let cut = read_placed(&r, &WideQuery { t0: Some(150_000), t1: None, kinds: ALL_KINDS, fields: ALL_FIELDS_MASK, blocks: None, threads: 2, layout: Layout::Frame }, ALL_KINDS).unwrap();
        assert!(cut.is_none());
        // a window on block edges is placed
        let edges = read_placed(&r, &WideQuery { t0: Some(100_000), t1: Some(300_000), kinds: ALL_KINDS, fields: ALL_FIELDS_MASK, blocks: None, threads: 2, layout: Layout::Table }, ALL_KINDS).unwrap();
        let Some(WideColumn::I64(t)) = edges.expect("placed").get("t").cloned() else { panic!("no t") };
        assert_eq!(t, (100..300).map(|i| i * 1000).collect::<Vec<_>>());
    }
}
