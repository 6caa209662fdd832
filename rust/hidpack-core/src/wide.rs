//! The wide (union) table: every row of a read, whatever its kind, in one set of columns.
//!
//! A decoded block keeps each kind's fields in that kind's own columns (see [`crate::table`]).
//! A *wide* table puts them side by side instead: `t`, `kind`, then one column per field of the
//! kinds read, as long as `t`, holding on each row the value of that row's event, or 0 / false
//! / "" where the event has no such field (or leaves it absent), with a `<field>_valid` column
//! saying which. It is what `Reader.read` and `read_many` return to Python (see
//! docs/ARCHITECTURE.md, "Python in-memory form of a table"); the bindings only turn these
//! buffers into numpy arrays.
//!
//! Which fields come ([`Gather::new`]): those of the kinds read that the caller selected, and,
//! under [`HOLDING_DATA`] (a read that names no fields), only those that some returned row
//! holds a value of. A field named by the caller comes whatever it holds.
//!
//! Two layouts ([`Layout`]). [`Layout::Table`] is the one above. [`Layout::Frame`] is what a
//! pandas DataFrame holds, so that a read straight into a frame fills each of its columns once
//! and nothing is converted afterwards: a coordinate is NaN where absent (no validity column);
//! an integer or boolean field has a `<field>_mask` column, true where *absent* (pandas' masked
//! arrays' convention), and none at all when every row must hold it (one kind read, the field
//! required by it); strings keep the Arrow layout; a field absent on every row is not made (the
//! consumer makes its all-null column).
//!
//! How: tables (the blocks of a read, the files of a fleet) are appended a batch at a time
//! ([`Gather::append`]). The rows of each kind in the batch are listed once; then each field is
//! filled kind by kind, each kind's column scattered into its rows (one straight copy where a
//! kind fills a table), so every event is copied once; a large batch fills its fields on
//! several threads. A caller may drop each table once appended: a read holds its output and
//! one batch.

use crate::error::Result;
use crate::model::{coord_to_f64, Field, FieldType, Kind, ALL_FIELDS, NUM_FIELDS, NUM_KINDS};
use crate::reader::{in_order, Reader, Source, ALL_KINDS};
use crate::table::{Column, EventTable};

/// Every field, as a `fields` mask for [`Gather::new`].
pub const ALL_FIELDS_MASK: u32 = (1 << NUM_FIELDS) - 1;

/// A flag of a `fields` mask (above every field's bit): of the fields selected, only those that
/// some returned row holds a value of. What a wide read with no `fields` list returns: a column
/// that is absent on every row (most of the union's fields, in most reads) is not made at all.
pub const HOLDING_DATA: u32 = 1 << 31;

/// Rows from which a batch's fields are filled on several threads (below, a thread costs more
/// than it saves).
pub const PARALLEL_FILL_ROWS: usize = 1 << 16;

/// Rows of decoded blocks a wide read gathers at a time: a read holds its output and about
/// this many rows of blocks, not every decoded block besides (a batch is still large enough to
/// fill its fields on several threads).
pub const WIDE_BATCH_ROWS: usize = 2 * PARALLEL_FILL_ROWS;

/// [`WIDE_BATCH_ROWS`] of a [`Layout::Frame`] gather: a frame's reader wants its peak memory
/// near the frame's own bytes, and a smaller batch is filled about as fast.
pub const FRAME_BATCH_ROWS: usize = PARALLEL_FILL_ROWS / 2;

/// Rows from which a column absent on every row is left to the consumer to make
/// ([`WideColumn::Zeros`]).
const ZEROS_BY_CONSUMER: usize = 1 << 16;

/// The type of a [`WideColumn::Zeros`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroType {
    I64,
    F64,
    Bool,
}

/// One column of a [`WideTable`].
#[derive(Debug, Clone, PartialEq)]
pub enum WideColumn {
    I64(Vec<i64>),
    U8(Vec<u8>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    U32(Vec<u32>),
    /// `n` zeros of the type, for the consumer to make: numpy's zeros come from calloc, whose
    /// large allocations stay untouched pages until written (a zeroed `Vec` of the extension's
    /// allocator was memset: reading a 2 M-event file once spent 46 % of its time clearing 33
    /// such columns).
    Zeros(ZeroType, usize),
}

impl WideColumn {
    /// Rows (values) in the column.
    pub fn len(&self) -> usize {
        match self {
            WideColumn::I64(v) => v.len(),
            WideColumn::U8(v) => v.len(),
            WideColumn::F64(v) => v.len(),
            WideColumn::Bool(v) => v.len(),
            WideColumn::U32(v) => v.len(),
            WideColumn::Zeros(_, n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The columns of a wide read, in order: `t`, `kind`, `file` (a fleet read), then each field's
/// values (strings as `<name>_offsets` and `<name>_data`, Arrow's layout) and `<name>_valid`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WideTable {
    pub cols: Vec<(String, WideColumn)>,
}

impl WideTable {
    /// The column called `name`.
    pub fn get(&self, name: &str) -> Option<&WideColumn> {
        self.cols.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}

/// The shape of a [`Gather`]'s columns (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Values, 0 / false / "" where absent, and `<field>_valid` (true where present).
    Table,
    /// A DataFrame's columns: coordinates NaN where absent; integers and booleans with
    /// `<field>_mask` (true where absent) unless the field is required of the one kind read;
    /// strings as in `Table`; fields absent on every row left out.
    Frame,
}

/// One wanted field's union column(s) in a [`Gather`]. The `Vec<bool>` beside the values is
/// the field's presence: validity (true = present) in [`Layout::Table`], the mask (true =
/// absent) in [`Layout::Frame`], where a coordinate or a required field has none (left empty).
enum FieldCol {
    /// No table so far had the field: absent on every row (made as zeros by [`Gather::finish`]).
    Absent,
    I64(Vec<i64>, Vec<bool>),
    F64(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Str { offsets: Vec<i64>, data: Vec<u8>, valid: Vec<bool> },
}

/// A field's column in a [`Gather`], and what is known of it.
struct Col {
    field: Field,
    col: FieldCol,
    /// Some row holds a value (kept up to date by each batch: no scan at the end).
    held: bool,
    /// How absent values are written and whether the field has a presence column (see
    /// [`Presence`]).
    presence: Presence,
}

/// How a column says which rows hold a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// `<field>_valid`, true where present; absent values are 0 / false / "".
    Valid,
    /// `<field>_mask`, true where absent; absent values are 0 / false, NaN for coordinates.
    Mask,
    /// No presence column (every row holds the field, or a coordinate's NaN says it).
    None,
}

/// Union columns built from per-kind tables, table after table (the blocks of a read, the
/// files of a `read_many`): each table's rows are written straight onto the ends of the
/// columns, so an event is copied once, and a caller may drop each table as soon as it is
/// appended.
pub struct Gather {
    n: usize,
    t: Vec<i64>,
    kind: Vec<u8>,
    /// Each row's part (file) index, if asked for.
    file: Option<Vec<u32>>,
    parts: u32,
    /// The fields of the kinds in the mask that are also wanted, in field order.
    cols: Vec<Col>,
    layout: Layout,
    /// Rows expected in all ([`Gather::reserve`]): a column is built with room for them.
    cap: usize,
    /// Leave out the fields no row holds a value of ([`HOLDING_DATA`]).
    only_held: bool,
    /// The query as given to [`Gather::new`] and [`Gather::frame`]: kinds, fields, and the
    /// frame's mask (for a placed read of the same columns, `crate::placed`).
    mask: u16,
    fields: u32,
    frame_mask: u16,
}

impl Gather {
    /// Columns for the fields of the kinds in `mask` that are also in `fields` (bit f = field
    /// f; with [`HOLDING_DATA`] set, only those of them that some row holds a value of);
    /// `file`: also a `file` column (each row's part index).
    pub fn new(mask: u16, fields: u32, file: bool) -> Self {
        let mut included = [false; NUM_FIELDS];
        for k in Kind::ALL {
            if (mask >> k as u8) & 1 == 1 {
                for s in k.fields() {
                    included[s.field as usize] = (fields >> s.field as u8) & 1 == 1;
                }
            }
        }
        let cols = ALL_FIELDS
            .iter()
            .copied()
            .filter(|&f| included[f as usize])
            .map(|field| Col { field, col: FieldCol::Absent, held: false, presence: Presence::Valid })
            .collect();
        let only_held = fields & HOLDING_DATA != 0;
        let (t, kind, file) = (Vec::new(), Vec::new(), file.then(Vec::new));
        Gather { n: 0, t, kind, file, parts: 0, cols, layout: Layout::Table, cap: 0, only_held, mask, fields, frame_mask: mask }
    }

    /// The same columns in [`Layout::Frame`] (call before appending). A field has no mask when
    /// one kind is read and requires it (`mask` as given to [`Gather::new`]).
    pub fn frame(mut self, mask: u16) -> Self {
        self.layout = Layout::Frame;
        self.frame_mask = mask;
        for c in &mut self.cols {
            c.presence = presence_of(c.field, Layout::Frame, mask);
        }
        self
    }

    /// Room for `rows` rows in all: an estimate (more rows grow the columns as usual) and a
    /// wish (room the allocator refuses is not taken).
    pub fn reserve(&mut self, rows: usize) {
        self.cap = rows;
        let _ = self.t.try_reserve_exact(rows.saturating_sub(self.t.len()));
        let _ = self.kind.try_reserve_exact(rows.saturating_sub(self.kind.len()));
        if let Some(f) = &mut self.file {
            let _ = f.try_reserve_exact(rows.saturating_sub(f.len()));
        }
    }

    /// What a placed read of the same columns needs, while nothing is appended: (kinds, fields,
    /// with a `file` column, layout, the frame's mask); None once rows were appended.
    pub(crate) fn placed_query(&self) -> Option<(u16, u32, bool, Layout, u16)> {
        (self.n == 0 && self.parts == 0).then_some((self.mask, self.fields, self.file.is_some(), self.layout, self.frame_mask))
    }

    /// Rows of tables to append at a time ([`WIDE_BATCH_ROWS`], or [`FRAME_BATCH_ROWS`] in
    /// [`Layout::Frame`]).
    pub fn batch_rows(&self) -> usize {
        match self.layout {
            Layout::Table => WIDE_BATCH_ROWS,
            Layout::Frame => FRAME_BATCH_ROWS,
        }
    }

    /// Appends `parts` in order (each the next part index). `threads`: fields filled at once, for
    /// batches of at least [`PARALLEL_FILL_ROWS`] rows.
    pub fn append(&mut self, mut parts: Vec<EventTable>, threads: usize) {
        let m: usize = parts.iter().map(|t| t.len()).sum();
        // The rows of each kind in this batch, in order (one pass per part), so that each field
        // is then filled kind by kind in tight loops over dense columns.
        let mut rows_of: Vec<[Vec<u32>; NUM_KINDS]> = Vec::with_capacity(parts.len());
        let mut start = 0usize;
        for table in &parts {
            let mut r: [Vec<u32>; NUM_KINDS] = Default::default();
            for (k, kt) in table.kinds.iter().enumerate() {
                r[k].reserve_exact(kt.len());
            }
            for (i, &k) in table.kind.iter().enumerate() {
                if let Some(v) = r.get_mut(k as usize) {
                    v.push((start + i) as u32);
                }
            }
            start += table.len();
            rows_of.push(r);
        }
        let (base, tables, cap) = (self.n, &parts[..], self.cap);
        let fill = |c: &mut Col| fill_field(c, tables, &rows_of, base, m, cap);
        if threads <= 1 || m < PARALLEL_FILL_ROWS || self.cols.len() < 2 {
            self.cols.iter_mut().for_each(fill);
        } else {
            // Fields are independent: a large batch fills them on several threads.
            let cells: Vec<std::sync::Mutex<&mut Col>> =
                self.cols.iter_mut().map(std::sync::Mutex::new).collect();
            in_order(
                cells.len(),
                threads,
                cells.len(),
                |j| fill(&mut cells[j].lock().unwrap_or_else(|e| e.into_inner())),
                |_, ()| std::ops::ControlFlow::Continue(()),
            );
        }
        if let Some(file) = &mut self.file {
            file.reserve(m);
            for p in &parts {
                file.resize(file.len() + p.len(), self.parts);
                self.parts += 1;
            }
        }
        if self.t.capacity() == 0 && parts.len() == 1 {
            let p = &mut parts[0];
            self.t = std::mem::take(&mut p.t); // moved, not copied (nothing reserved to lose)
            self.kind = std::mem::take(&mut p.kind);
        } else {
            self.t.reserve(m);
            self.kind.reserve(m);
            for p in &parts {
                self.t.extend_from_slice(&p.t);
                self.kind.extend_from_slice(&p.kind);
            }
        }
        self.n += m;
    }

    /// The columns: `t`, `kind`, `file` (if asked for), then each field's values (strings as
    /// `_offsets` and `_data`) and `_valid` (under [`HOLDING_DATA`], only the fields that some
    /// row holds a value of).
    pub fn finish(self) -> WideTable {
        let n = self.n;
        let mut cols = vec![("t".to_string(), WideColumn::I64(self.t)), ("kind".to_string(), WideColumn::U8(self.kind))];
        if let Some(file) = self.file {
            cols.push(("file".to_string(), WideColumn::U32(file)));
        }
        let (only_held, layout) = (self.only_held, self.layout);
        for Col { field: f, col, presence, .. } in self.cols.into_iter().filter(|c| !only_held || c.held) {
            let name = f.name();
            // the presence column's name, if the column has one
            let presence = match presence {
                Presence::Valid => Some(format!("{name}_valid")),
                Presence::Mask => Some(format!("{name}_mask")),
                Presence::None => None,
            };
            match col {
                // absent on every row (see [`absent_column`])
                FieldCol::Absent => cols.extend(absent_column(f, n, layout)),
                FieldCol::I64(v, p) => {
                    cols.push((name.to_string(), WideColumn::I64(v)));
                    cols.extend(presence.map(|pn| (pn, WideColumn::Bool(p))));
                }
                FieldCol::F64(v, p) => {
                    cols.push((name.to_string(), WideColumn::F64(v)));
                    cols.extend(presence.map(|pn| (pn, WideColumn::Bool(p))));
                }
                FieldCol::Bool(v, p) => {
                    cols.push((name.to_string(), WideColumn::Bool(v)));
                    cols.extend(presence.map(|pn| (pn, WideColumn::Bool(p))));
                }
                FieldCol::Str { offsets, data, valid } => {
                    cols.push((format!("{name}_offsets"), WideColumn::I64(offsets)));
                    cols.push((format!("{name}_data"), WideColumn::U8(data)));
                    cols.push((format!("{name}_valid"), WideColumn::Bool(valid)));
                }
            }
        }
        WideTable { cols }
    }
}

/// How field `f` says which rows hold it in `layout` (see [`Presence`]); in [`Layout::Frame`],
/// a field required by the one kind in `mask` (if one) has no presence column.
pub(crate) fn presence_of(f: Field, layout: Layout, mask: u16) -> Presence {
    if layout == Layout::Table {
        return Presence::Valid;
    }
    let one = (mask.count_ones() == 1).then(|| Kind::ALL[mask.trailing_zeros() as usize]);
    let required = one.is_some_and(|k| k.fields().iter().any(|s| s.field == f && s.required));
    match f.ty() {
        FieldType::Str => Presence::Valid,
        FieldType::Coord => Presence::None,
        _ if required => Presence::None,
        _ => Presence::Mask,
    }
}

/// The columns of field `f` when it is absent on all `n` rows (no row of a kind with it): none
/// in [`Layout::Frame`] (its consumer makes the all-null column); in [`Layout::Table`], zeros
/// and a validity of false, large ones left to the consumer to make ([`WideColumn::Zeros`]),
/// short ones plain Vecs (numpy's zeros cost more per call than they save).
pub(crate) fn absent_column(f: Field, n: usize, layout: Layout) -> Vec<(String, WideColumn)> {
    if layout == Layout::Frame {
        return Vec::new();
    }
    let zeros = |z: ZeroType, n: usize| match (n >= ZEROS_BY_CONSUMER, z) {
        (true, z) => WideColumn::Zeros(z, n),
        (false, ZeroType::I64) => WideColumn::I64(vec![0; n]),
        (false, ZeroType::F64) => WideColumn::F64(vec![0.0; n]),
        (false, ZeroType::Bool) => WideColumn::Bool(vec![false; n]),
    };
    let name = f.name();
    let mut cols = match f.ty() {
        FieldType::Str => {
            vec![(format!("{name}_offsets"), zeros(ZeroType::I64, n + 1)), (format!("{name}_data"), WideColumn::U8(Vec::new()))]
        }
        FieldType::Bool => vec![(name.to_string(), zeros(ZeroType::Bool, n))],
        FieldType::Coord => vec![(name.to_string(), zeros(ZeroType::F64, n))],
        FieldType::Int { .. } => vec![(name.to_string(), zeros(ZeroType::I64, n))],
    };
    cols.push((format!("{name}_valid"), zeros(ZeroType::Bool, n)));
    cols
}

/// `n` copies of `x`, with room for `room` if the allocator grants it.
fn filled<T: Clone>(n: usize, room: usize, x: T) -> Vec<T> {
    let mut v = Vec::new();
    let _ = v.try_reserve_exact(room.max(n));
    v.resize(n, x);
    v
}

/// `v` grown to `len` with `zero`s (a new column from the allocator's zeroed memory: the pages
/// of a large one are not written twice).
fn grow<T: Clone>(v: &mut Vec<T>, len: usize, zero: T) {
    if v.capacity() == 0 {
        *v = vec![zero; len];
    } else {
        v.resize(len, zero);
    }
}

/// Field `c` of a batch of `m` rows (`tables`, with each kind's rows in `rows_of`), appended to
/// its columns at row `base`.
fn fill_field(c: &mut Col, tables: &[EventTable], rows_of: &[[Vec<u32>; NUM_KINDS]], base: usize, m: usize, cap: usize) {
    let f = c.field;
    // (a kind's column in a table, its rows in the batch) for every kind that has the field
    let mut at = [None; NUM_KINDS]; // the field's position in each kind's columns
    for k in Kind::ALL {
        at[k as usize] = k.fields().iter().position(|s| s.field == f);
    }
    let parts: Vec<(&Column, &[u32])> = tables
        .iter()
        .zip(rows_of)
        .flat_map(|(table, rows)| {
            Kind::ALL.iter().filter_map(move |&k| {
                let p = at[k as usize]?;
                (!rows[k as usize].is_empty()).then(|| (&table.kinds[k as usize].cols[p], rows[k as usize].as_slice()))
            })
        })
        .collect();
    let end = base + m;
    c.held = c.held || parts.iter().any(|(col, _)| col.valid().is_none_or(|v| v.contains(&true)));
    // A row without the field: its presence (true in a mask), its coordinate (NaN where no
    // presence column says it is absent).
    let (has_p, mask) = (c.presence != Presence::None, c.presence == Presence::Mask);
    let no_coord = if c.presence == Presence::None { f64::NAN } else { 0.0 };
    if parts.is_empty() {
        // absent on this batch's rows: an absent column stays so; a built one grows by absent rows
        match &mut c.col {
            FieldCol::Absent => {}
            FieldCol::I64(v, p) => {
                v.resize(end, 0);
                p.resize(if has_p { end } else { 0 }, mask);
            }
            FieldCol::F64(v, p) => {
                v.resize(end, no_coord);
                p.resize(if has_p { end } else { 0 }, mask);
            }
            FieldCol::Bool(v, p) => {
                v.resize(end, false);
                p.resize(if has_p { end } else { 0 }, mask);
            }
            FieldCol::Str { offsets, valid, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.resize(end + 1, last);
                valid.resize(end, false);
            }
        }
        return;
    }
    if let FieldCol::Absent = c.col {
        // the first rows with the field: the rows before it are absent
        // room for the rows reserved; none beyond this batch: then a first batch's column comes
        // zeroed from the allocator ([`grow`])
        let room = if cap > end { cap + 1 } else { 0 };
        let presence = || if has_p { filled(base, room, mask) } else { Vec::new() };
        c.col = match f.ty() {
            FieldType::Str => FieldCol::Str { offsets: filled(base + 1, room, 0), data: Vec::new(), valid: filled(base, room, false) },
            FieldType::Bool => FieldCol::Bool(filled(base, room, false), presence()),
            FieldType::Coord => FieldCol::F64(filled(base, room, no_coord), presence()),
            FieldType::Int { .. } => FieldCol::I64(filled(base, room, 0), presence()),
        };
    }
    match &mut c.col {
        FieldCol::Absent => unreachable!("built above"),
        FieldCol::Str { offsets, data, valid } => {
            grow(valid, end, false);
            let valid = &mut valid[base..];
            let mut lens = vec![0i64; m];
            for (c, rows) in &parts {
                if let Column::Str { offsets, valid: v, .. } = c {
                    fill_presence(valid, v, rows, false);
                    for (r, &g) in rows.iter().enumerate() {
                        lens[g as usize] = offsets[r + 1] - offsets[r];
                    }
                }
            }
            let mut acc = offsets.last().copied().unwrap_or(0);
            offsets.reserve(m);
            for (l, ok) in lens.iter().zip(valid.iter()) {
                if *ok {
                    acc += l;
                }
                offsets.push(acc);
            }
            data.resize(acc as usize, 0);
            let offsets = &offsets[base..];
            for (c, rows) in &parts {
                if let Column::Str { offsets: src_off, data: src, .. } = c {
                    for (r, &g) in rows.iter().enumerate() {
                        let g = g as usize;
                        if valid[g] {
                            let (a, b) = (offsets[g] as usize, offsets[g + 1] as usize);
                            data[a..b].copy_from_slice(&src[src_off[r] as usize..src_off[r + 1] as usize]);
                        }
                    }
                }
            }
        }
        FieldCol::Bool(out, p) => {
            grow(out, end, false);
            let out = &mut out[base..];
            let mut p = presence_rows(p, has_p, base, end, mask);
            for (c, rows) in &parts {
                if let Column::Bool { vals, valid: v } = c {
                    if let Some(p) = p.as_deref_mut() {
                        fill_presence(p, v, rows, mask);
                    }
                    for (&g, &x) in rows.iter().zip(vals) {
                        out[g as usize] = x;
                    }
                }
            }
            zero_absent(out, &parts, false);
        }
        FieldCol::F64(out, p) => {
            grow(out, end, no_coord);
            fill_ints(&mut out[base..], presence_rows(p, has_p, base, end, mask), mask, &parts, no_coord, coord_to_f64);
        }
        FieldCol::I64(out, p) => {
            grow(out, end, 0);
            fill_ints(&mut out[base..], presence_rows(p, has_p, base, end, mask), mask, &parts, 0, |x| x);
        }
    }
}

/// A batch's rows `base..end` of the presence column `p` (grown to `end` with `mask`: absent),
/// if the field has one (`has`).
fn presence_rows(p: &mut Vec<bool>, has: bool, base: usize, end: usize, mask: bool) -> Option<&mut [bool]> {
    has.then(|| {
        grow(p, end, mask);
        &mut p[base..]
    })
}

/// Each part's presence into its rows of `p`: true where present, or (`mask`) true where
/// absent. A part with no validity holds the field on every row.
fn fill_presence(p: &mut [bool], v: &Option<Vec<bool>>, rows: &[u32], mask: bool) {
    match v {
        None => rows.iter().for_each(|&g| p[g as usize] = !mask),
        Some(v) => rows.iter().zip(v).for_each(|(&g, &ok)| p[g as usize] = ok != mask),
    }
}

/// The first row, if a part's rows are consecutive (one kind fills a table's rows): then its
/// column goes over in one straight copy.
fn dense(rows: &[u32]) -> Option<usize> {
    let (first, last) = (*rows.first()? as usize, *rows.last()? as usize);
    (last - first + 1 == rows.len()).then_some(first)
}

/// The integer columns of `parts` into their rows of `out` (each value through `conv`: coordinates
/// to f64, or as they are) and of the presence column `p` if any (see [`fill_presence`]);
/// absent rows hold `zero`.
fn fill_ints<T: Copy>(
    out: &mut [T],
    mut p: Option<&mut [bool]>,
    mask: bool,
    parts: &[(&Column, &[u32])],
    zero: T,
    conv: impl Fn(i64) -> T,
) {
    for (c, rows) in parts {
        if let Column::Int { vals, valid: v } = c {
            if let Some(p) = p.as_deref_mut() {
                fill_presence(p, v, rows, mask);
            }
            if let Some(s) = dense(rows) {
                out[s..s + rows.len()].iter_mut().zip(vals).for_each(|(o, &x)| *o = conv(x));
            } else {
                for (&g, &x) in rows.iter().zip(vals) {
                    out[g as usize] = conv(x);
                }
            }
        }
    }
    zero_absent(out, parts, zero);
}

/// Absent values read as `zero` (0 / false / NaN): set the rows a part marks absent. (Rows of
/// kinds without the field were never written, and the output starts as `zero`, so they are
/// untouched: no pass over the whole column, no page touched for a field no event has.)
fn zero_absent<T: Copy>(out: &mut [T], parts: &[(&Column, &[u32])], zero: T) {
    for (c, rows) in parts {
        if let Some(v) = c.valid() {
            for (&g, &ok) in rows.iter().zip(v) {
                if !ok {
                    out[g as usize] = zero;
                }
            }
        }
    }
}

/// What a wide read takes and how it lays it out: one value for [`read_wide`] and the placed
/// reads ([`crate::placed`]) it hands its work to, which all read the same selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WideQuery<'a> {
    /// Rows with `t0 <= t` (None: from the first).
    pub t0: Option<i64>,
    /// Rows with `t < t1` (None: to the last).
    pub t1: Option<i64>,
    /// The kinds read, one bit per kind code ([`crate::reader::kind_mask`]).
    pub kinds: u16,
    /// The fields of those kinds made into columns (see [`Gather::new`]).
    pub fields: u32,
    /// Only these blocks of the file (None: all).
    pub blocks: Option<&'a [usize]>,
    /// Blocks decoded at once (1: on the calling thread only).
    pub threads: usize,
    /// The columns' layout.
    pub layout: Layout,
}

/// The wide table of a read of one file: the rows with `t0 <= t < t1` of the query's kinds,
/// from its `blocks` (None: all), with the fields of those kinds selected by `fields` (see
/// [`Gather::new`]), in `layout`. A frame of one file keeps every field nullable whatever kinds
/// are read (its consumer keeps the `kind` column and nullable types, as for the table layout):
/// no field counts as required. When the index says where each block's rows go, the blocks
/// are decoded on `threads` threads each straight into its rows of the columns
/// ([`crate::placed`]); else they are appended to the columns a batch of about
/// [`WIDE_BATCH_ROWS`] rows at a time, in file order, each dropped once appended. Blocks that
/// fail their checks are skipped and reported in [`Reader::problems`].
pub fn read_wide<S: Source>(reader: &Reader<S>, q: &WideQuery) -> Result<WideTable> {
    let WideQuery { t0, t1, kinds: mask, fields, blocks, threads, layout } = *q;
    let ids = reader.blocks_for(t0, t1, mask, blocks)?;
    if ids.len() > 1 {
        if let Some(w) = crate::placed::read_placed(reader, q, ALL_KINDS)? {
            return Ok(w);
        }
    }
    let mut g = Gather::new(mask, fields, false);
    if layout == Layout::Frame {
        g = g.frame(ALL_KINDS); // every field nullable (see above)
    }
    if ids.len() > 1 {
        if let Some(rows) = reader.events_hint(&ids, mask) {
            g.reserve(rows);
        }
    }
    let lo = t0.unwrap_or(i64::MIN);
    let (mut batch, mut rows) = (Vec::new(), 0usize);
    reader.for_each_block(t0, t1, mask, Some(&ids), threads, |_, block| {
        let part = block.into_wanted(lo, t1, mask);
        if part.is_empty() {
            return;
        }
        rows += part.len();
        batch.push(part);
        if rows >= WIDE_BATCH_ROWS {
            g.append(std::mem::take(&mut batch), threads);
            rows = 0;
        }
    })?;
    g.append(batch, threads);
    Ok(g.finish())
}

/// The wide table of one in-memory event table (actions' lossless listing, decoded tokens): every
/// kind, the fields that hold data, as a wide read returns them.
pub fn wide_of(table: EventTable) -> WideTable {
    let mut g = Gather::new(ALL_KINDS, ALL_FIELDS_MASK | HOLDING_DATA, false);
    g.append(vec![table], 1);
    g.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Writer, WriterOptions};

    /// Events of every kind but gap, optional fields present on some rows only.
    fn events(n: i64) -> Vec<(i64, Event)> {
        (0..n)
            .map(|i| {
                let ev = match i % 7 {
                    0 | 1 => Event::Move { x: i << 16, y: (2 * i + 1) << 15, buttons: (i % 4 == 0).then_some(1) },
                    2 => Event::Key { pressed: i % 4 == 2, usage: Some(4 + (i % 20) as u16), native: (i % 5 == 0).then_some(30) },
                    3 => Event::Button { button: 1, pressed: i % 2 == 1, pos: (i % 9 == 3).then_some((i << 16, i << 16)) },
                    4 => Event::Text { text: format!("t{i}é") },
                    5 => Event::Scroll { dx: 0, dy: -(i << 16), pos: None },
                    _ => Event::Marker { label: "m".into(), value: (i % 3 == 0).then_some(i) },
                };
                (i * 1000, ev)
            })
            .collect()
    }

    fn table_of(evs: &[(i64, Event)]) -> EventTable {
        let mut t = EventTable::new();
        for (ts, ev) in evs {
            t.push(*ts, ev).unwrap();
        }
        t
    }

    fn file(evs: &[(i64, Event)], block_events: usize) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), WriterOptions { block_events, ..Default::default() }).unwrap();
        for (t, ev) in evs {
            w.push(*t, ev).unwrap();
        }
        w.into_inner().unwrap()
    }

    /// Row `i` of field `f` of a wide table: its value (as i64 bits, f64 pixels * 65536, a
    /// string's bytes as ints) and presence.
    fn cell(w: &WideTable, f: Field, i: usize) -> (Vec<i64>, bool) {
        let name = f.name();
        let valid = match w.get(&format!("{name}_valid")) {
            // a field left out is absent on every row
            None => return (if f.ty() == FieldType::Str { vec![] } else { vec![0] }, false),
            Some(WideColumn::Bool(v)) => v[i],
            Some(WideColumn::Zeros(..)) => false,
            Some(c) => panic!("{name}_valid: {c:?}"),
        };
        let value = match (f.ty(), w.get(name)) {
            (FieldType::Str, _) => {
                let Some(WideColumn::I64(o)) = w.get(&format!("{name}_offsets")) else { return (vec![], valid) };
                let Some(WideColumn::U8(d)) = w.get(&format!("{name}_data")) else { panic!("{name}_data") };
                d[o[i] as usize..o[i + 1] as usize].iter().map(|&b| i64::from(b)).collect()
            }
            (_, Some(WideColumn::I64(v))) => vec![v[i]],
            (_, Some(WideColumn::F64(v))) => vec![(v[i] * 65536.0) as i64],
            (_, Some(WideColumn::Bool(v))) => vec![i64::from(v[i])],
            (_, Some(WideColumn::Zeros(..))) => vec![0],
            (_, c) => panic!("{name}: {c:?}"),
        };
        (value, valid)
    }

    /// The expected cell of row `ev` for field `f`: its value if the event holds it, else 0 /
    /// "" and absent.
    fn expected(ev: &Event, f: Field) -> (Vec<i64>, bool) {
        let mut t = EventTable::new();
        t.push(0, ev).unwrap();
        let kind = ev.kind();
        match kind.fields().iter().position(|s| s.field == f) {
            None => (if f.ty() == FieldType::Str { vec![] } else { vec![0] }, false),
            Some(p) => match &t.kinds[kind as usize].cols[p] {
                Column::Int { vals, valid } => {
                    let ok = valid.as_ref().is_none_or(|v| v[0]);
                    (vec![if ok { vals[0] } else { 0 }], ok)
                }
                Column::Bool { vals, valid } => {
                    let ok = valid.as_ref().is_none_or(|v| v[0]);
                    (vec![i64::from(ok && vals[0])], ok)
                }
                Column::Str { offsets, data, valid } => {
                    let ok = valid.as_ref().is_none_or(|v| v[0]);
                    let s = if ok { data[offsets[0] as usize..offsets[1] as usize].iter().map(|&b| i64::from(b)).collect() } else { vec![] };
                    (s, ok)
                }
            },
        }
    }

    /// Every row of `w` holds `evs`, field by field.
    fn check(w: &WideTable, evs: &[(i64, Event)], fields: &[Field]) {
        let Some(WideColumn::I64(t)) = w.get("t") else { panic!("no t") };
        assert_eq!(t, &evs.iter().map(|e| e.0).collect::<Vec<_>>());
        for &f in fields {
            for (i, (_, ev)) in evs.iter().enumerate() {
                assert_eq!(cell(w, f, i), expected(ev, f), "row {i} ({ev:?}) field {f:?}");
            }
        }
    }

    fn names(w: &WideTable) -> Vec<&str> {
        w.cols.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn one_table_holds_each_event_in_its_row() {
        let evs = events(300);
        let w = wide_of(table_of(&evs));
        check(&w, &evs, &ALL_FIELDS);
        // only the fields that hold data: no gap fields, no focus fields
        let got = names(&w);
        for absent in ["count", "reason", "t_end", "app", "title", "window"] {
            assert!(!got.contains(&absent), "{absent} in {got:?}");
        }
        for held in ["x", "x_valid", "dx", "dy", "usage", "native", "text_offsets", "text_data", "label_valid", "value"] {
            assert!(got.contains(&held), "{held} not in {got:?}");
        }
    }

    #[test]
    fn batches_threads_and_fields_appearing_late_give_the_same_table() {
        let evs = events(3000);
        // the first tables hold moves only: every other field appears in a later batch
        let moves: Vec<_> = evs.iter().filter(|e| e.1.kind() == Kind::Move).cloned().collect();
        let (head, tail) = moves.split_at(700);
        let all: Vec<_> = head.iter().chain(&evs).cloned().chain(tail.iter().map(|(t, e)| (t + 10_000_000, e.clone()))).collect();
        for (chunk, per_batch, threads, cap) in [(1, 1, 1, 0), (7, 3, 2, 0), (64, 5, 3, all.len()), (5000, 1, 1, 0)] {
            let mut g = Gather::new(ALL_KINDS, ALL_FIELDS_MASK, true);
            g.reserve(cap);
            let tables: Vec<EventTable> = all.chunks(chunk).map(table_of).collect();
            for batch in tables.chunks(per_batch) {
                g.append(batch.to_vec(), threads);
            }
            let w = g.finish();
            check(&w, &all, &ALL_FIELDS);
            let Some(WideColumn::U32(file)) = w.get("file") else { panic!("no file column") };
            let expect: Vec<u32> = tables.iter().enumerate().flat_map(|(j, t)| std::iter::repeat_n(j as u32, t.len())).collect();
            assert_eq!(file, &expect, "chunk {chunk}");
            // every field of every kind, absent ones included (no HOLDING_DATA)
            assert_eq!(names(&w).iter().filter(|n| n.ends_with("_valid")).count(), NUM_FIELDS);
        }
    }

    #[test]
    fn the_frame_layout_holds_the_table_layouts_values_as_a_dataframe_does() {
        let evs = events(3000);
        let moves: Vec<_> = evs.iter().filter(|e| e.1.kind() == Kind::Move).cloned().collect();
        let all: Vec<_> = moves[..700].iter().chain(&evs).cloned().collect();
        let mask = ALL_KINDS & !(1 << Kind::Gap as u16); // gap fields: absent on every row
        for (chunk, per_batch, threads, cap, fields) in
            [(1, 1, 1, 0, ALL_FIELDS_MASK), (64, 5, 3, all.len(), ALL_FIELDS_MASK | HOLDING_DATA), (5000, 1, 1, 0, ALL_FIELDS_MASK)]
        {
            let tables: Vec<EventTable> = all.chunks(chunk).map(table_of).collect();
            let gather = |frame: bool| {
                let mut g = Gather::new(mask, fields, true);
                if frame {
                    g = g.frame(mask);
                }
                g.reserve(cap);
                for batch in tables.chunks(per_batch) {
                    g.append(batch.to_vec(), threads);
                }
                g.finish()
            };
            let (table, frame) = (gather(false), gather(true));
            for name in ["t", "kind", "file"] {
                assert_eq!(table.get(name), frame.get(name), "{name}");
            }
            for f in ALL_FIELDS {
                let name = f.name();
                let Some(WideColumn::Bool(valid)) = table.get(&format!("{name}_valid")) else {
                    // left out of both, or absent on every row: not made in a frame
                    assert!(frame.get(name).is_none() && frame.get(&format!("{name}_mask")).is_none(), "{name}");
                    continue;
                };
                if frame.get(name).is_none() && frame.get(&format!("{name}_offsets")).is_none() {
                    // no row of a kind with the field: a frame leaves it to its consumer
                    assert!(!valid.contains(&true), "{name}");
                    continue;
                }
                match (f.ty(), table.get(name), frame.get(name)) {
                    (FieldType::Coord, Some(WideColumn::F64(v)), Some(WideColumn::F64(got))) => {
                        let want: Vec<f64> = v.iter().zip(valid).map(|(&x, &ok)| if ok { x } else { f64::NAN }).collect();
                        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{name}");
                        assert!(frame.get(&format!("{name}_mask")).is_none() && frame.get(&format!("{name}_valid")).is_none());
                    }
                    (FieldType::Str, _, _) => {
                        for part in ["_offsets", "_data", "_valid"] {
                            assert_eq!(table.get(&format!("{name}{part}")), frame.get(&format!("{name}{part}")), "{name}");
                        }
                    }
                    (_, want, got) => {
                        assert_eq!(want, got, "{name}");
                        let absent: Vec<bool> = valid.iter().map(|ok| !ok).collect();
                        assert_eq!(frame.get(&format!("{name}_mask")), Some(&WideColumn::Bool(absent)), "{name}");
                    }
                }
            }
            assert!(names(&frame).iter().all(|n| !n.starts_with("count") && !n.starts_with("reason")));
        }
        // one kind read: the fields it requires have no mask, its optional ones have one
        let keys: Vec<_> = evs.iter().filter(|e| e.1.kind() == Kind::Key).cloned().collect();
        let key = 1 << Kind::Key as u16;
        let mut g = Gather::new(key, ALL_FIELDS_MASK, true).frame(key);
        g.append(vec![table_of(&keys)], 1);
        let w = g.finish();
        assert_eq!(names(&w), ["t", "kind", "file", "pressed", "usage", "usage_mask", "native", "native_mask"]);
    }

    #[test]
    fn a_large_absent_field_is_left_to_the_consumer_to_make() {
        // keys are read but there are none: their fields are absent on every row
        let n = ZEROS_BY_CONSUMER + 5;
        let evs: Vec<_> = (0..n as i64).map(|i| (i, Event::Move { x: i << 16, y: 0, buttons: None })).collect();
        let mut g = Gather::new(1 << Kind::Move as u16 | 1 << Kind::Key as u16, ALL_FIELDS_MASK, false);
        g.append(vec![table_of(&evs)], 2);
        let w = g.finish();
        assert!(w.get("usage") == Some(&WideColumn::Zeros(ZeroType::I64, n)));
        assert!(w.get("pressed_valid") == Some(&WideColumn::Zeros(ZeroType::Bool, n)));
        // a field of a kind that has rows is made, even where no row holds it
        assert!(w.get("buttons_valid") == Some(&WideColumn::Bool(vec![false; n])));
        assert!(w.get("x_valid") == Some(&WideColumn::Bool(vec![true; n])));
        let names = names(&w);
        assert!(names.iter().all(|c| !c.starts_with("dx")), "{names:?}");
        assert_eq!(names.len(), 2 + 2 * (3 + 3));
    }

    #[test]
    fn a_read_returns_the_rows_of_its_window_and_kinds() {
        let evs = events(500);
        let r = Reader::from_source(file(&evs, 16)).unwrap();
        for (t0, t1) in [(None, None), (Some(10_500), Some(300_000)), (Some(3_000), Some(3_001)), (Some(900_000), None)] {
            for mask in [ALL_KINDS, 1 << Kind::Move as u16 | 1 << Kind::Text as u16] {
                for threads in [1, 3] {
                    let w = read_wide(&r, &WideQuery { t0, t1, kinds: mask, fields: ALL_FIELDS_MASK | HOLDING_DATA, blocks: None, threads, layout: Layout::Table }).unwrap();
                    let want: Vec<_> = evs
                        .iter()
                        .filter(|(t, e)| *t >= t0.unwrap_or(i64::MIN) && t1.is_none_or(|e| *t < e) && (mask >> e.kind() as u16) & 1 == 1)
                        .cloned()
                        .collect();
                    let fields: Vec<Field> =
                        ALL_FIELDS.iter().copied().filter(|f| w.get(&format!("{}_valid", f.name())).is_some()).collect();
                    check(&w, &want, &fields);
                    // what the rows hold, and nothing else
                    for f in ALL_FIELDS {
                        let held = want.iter().any(|(_, e)| expected(e, f).1);
                        assert_eq!(fields.contains(&f), held, "{f:?} {t0:?}..{t1:?} mask {mask:#x}");
                    }
                }
            }
        }
    }
}
