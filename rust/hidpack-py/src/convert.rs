//! Event tables between Python (dict of numpy columns, see docs/ARCHITECTURE.md) and the core's
//! [`EventTable`]. Extraction copies the columns out under the GIL; building and scattering run
//! with the GIL released.

use hidpack_core::model::{
    coord_from_f64, coord_to_f64, Field, FieldType, Kind, ALL_FIELDS, FIELD_NAMES, NUM_FIELDS, NUM_KINDS,
};
use hidpack_core::reader::Source;
use hidpack_core::{Column, Error, EventTable, Reader, ValueError};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::column_type_error;

pub enum RawVals {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<Option<String>>),
}

impl RawVals {
    fn len(&self) -> usize {
        match self {
            RawVals::F64(v) => v.len(),
            RawVals::I64(v) => v.len(),
            RawVals::Bool(v) => v.len(),
            RawVals::Str(v) => v.len(),
        }
    }
}

pub struct RawField {
    vals: RawVals,
    valid: Option<Vec<bool>>,
}

/// Columns copied out of a Python dict.
pub struct RawTable {
    t: Vec<i64>,
    kind: Vec<u8>,
    fields: Vec<Option<RawField>>,
}

fn array<T: numpy::Element + Copy>(name: &str, obj: &Bound<'_, PyAny>, expected: &str) -> PyResult<Vec<T>> {
    let a: PyReadonlyArray1<T> = obj.extract().map_err(|_| column_type_error(name, expected, obj))?;
    Ok(match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().to_vec(),
    })
}

fn strings(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Option<String>>> {
    let it = obj.try_iter().map_err(|_| column_type_error(name, "a list of str | None", obj))?;
    let mut out = Vec::new();
    for (i, item) in it.enumerate() {
        let item = item?;
        if item.is_none() {
            out.push(None);
        } else if item.is_instance_of::<PyString>() {
            out.push(Some(item.extract::<String>()?));
        } else {
            return Err(column_type_error(&format!("{name}[{i}]"), "str or None", &item));
        }
    }
    Ok(out)
}

/// Copy a write-side table out of a Python dict.
pub fn extract_table(d: &Bound<'_, PyDict>) -> PyResult<RawTable> {
    for key in d.keys() {
        let k: String = key.extract().map_err(|_| PyValueError::new_err("table keys must be str"))?;
        let base = k.strip_suffix("_valid").unwrap_or(&k);
        if k != "t" && k != "kind" && !FIELD_NAMES.contains(&base) {
            return Err(PyValueError::new_err(format!(
                "unknown column `{k}`; valid columns: t, kind, {} (and <field>_valid)",
                FIELD_NAMES.join(", ")
            )));
        }
    }
    let t_obj = d.get_item("t")?.ok_or_else(|| PyValueError::new_err("table has no `t` column"))?;
    let k_obj = d.get_item("kind")?.ok_or_else(|| PyValueError::new_err("table has no `kind` column"))?;
    let t = array::<i64>("t", &t_obj, "an int64 numpy array")?;
    let kind = array::<u8>("kind", &k_obj, "a uint8 numpy array of kind codes")?;
    let mut fields: Vec<Option<RawField>> = (0..NUM_FIELDS).map(|_| None).collect();
    for f in ALL_FIELDS {
        let name = f.name();
        let Some(obj) = d.get_item(name)? else {
            if d.contains(format!("{name}_valid"))? {
                return Err(PyValueError::new_err(format!("`{name}_valid` given without `{name}`")));
            }
            continue;
        };
        let vals = match f.ty() {
            FieldType::Coord => RawVals::F64(array::<f64>(name, &obj, "a float64 numpy array")?),
            FieldType::Int { .. } => RawVals::I64(array::<i64>(name, &obj, "an int64 numpy array")?),
            FieldType::Bool => RawVals::Bool(array::<bool>(name, &obj, "a bool numpy array")?),
            FieldType::Str => RawVals::Str(strings(name, &obj)?),
        };
        let valid = match d.get_item(format!("{name}_valid"))? {
            Some(v) if !v.is_none() => Some(array::<bool>(&format!("{name}_valid"), &v, "a bool numpy array")?),
            _ => None,
        };
        fields[f as usize] = Some(RawField { vals, valid });
    }
    Ok(RawTable { t, kind, fields })
}

fn verr(row: usize, field: &'static str, value: impl ToString, expected: impl Into<String>) -> Error {
    Error::Value(ValueError { row: Some(row as u64), field, value: value.to_string(), expected: expected.into() })
}

/// Build an [`EventTable`] (GIL not needed).
pub fn build_table(raw: RawTable) -> Result<EventTable, Error> {
    let n = raw.t.len();
    if raw.kind.len() != n {
        return Err(Error::Usage(format!("`kind` has {} rows, `t` has {n}", raw.kind.len())));
    }
    let mut uses = [[false; NUM_FIELDS]; NUM_KINDS];
    for k in Kind::ALL {
        for s in k.fields() {
            uses[k as usize][s.field as usize] = true;
        }
    }
    for f in ALL_FIELDS {
        if let Some(rf) = &raw.fields[f as usize] {
            if rf.vals.len() != n {
                return Err(Error::Usage(format!("column `{}` has {} rows, `t` has {n}", f.name(), rf.vals.len())));
            }
            if let Some(v) = &rf.valid {
                if v.len() != n {
                    return Err(Error::Usage(format!("column `{}_valid` has {} rows, `t` has {n}", f.name(), v.len())));
                }
                for (i, (&p, &k)) in v.iter().zip(&raw.kind).enumerate() {
                    if p && (k as usize) < NUM_KINDS && !uses[k as usize][f as usize] {
                        return Err(verr(
                            i,
                            f.name(),
                            "present",
                            format!("{} events have no `{}` field", Kind::ALL[k as usize].name(), f.name()),
                        ));
                    }
                }
            }
        }
    }
    // x and y are present together (reported with the row in the caller's table).
    let present = |f: Field, i: usize| {
        raw.fields[f as usize].as_ref().is_some_and(|rf| rf.valid.as_ref().is_none_or(|v| v[i]))
    };
    for (i, &k) in raw.kind.iter().enumerate() {
        if (k == Kind::Button as u8 || k == Kind::Scroll as u8) && present(Field::X, i) != present(Field::Y, i) {
            let (has, lacks) = if present(Field::X, i) { ("x", "y") } else { ("y", "x") };
            return Err(verr(i, lacks, "absent", format!("`{has}` is present, and a position needs both x and y")));
        }
    }
    // Column by column, per kind (one pass per field instead of one per row and field).
    let all = hidpack_core::table::byte_counts(&raw.kind);
    if all[NUM_KINDS..].iter().any(|&c| c > 0) {
        let i = raw.kind.iter().position(|&k| k as usize >= NUM_KINDS).unwrap_or(0);
        return Err(verr(i, "kind", raw.kind[i], "a kind code 0..=8"));
    }
    let mut count = [0usize; NUM_KINDS];
    count.copy_from_slice(&all[..NUM_KINDS]);
    let single = count.iter().filter(|c| **c > 0).count() <= 1;
    let mut table = EventTable::new();
    for kind in Kind::ALL {
        let k = kind as usize;
        if count[k] == 0 {
            continue;
        }
        // The caller's rows of this kind (all rows when the table has one kind).
        let rows: Vec<usize> = if single {
            (0..n).collect()
        } else {
            raw.kind.iter().enumerate().filter(|(_, &c)| c as usize == k).map(|(i, _)| i).collect()
        };
        let kt = &mut table.kinds[k];
        for (pos, spec) in kind.fields().iter().enumerate() {
            let f = spec.field;
            let required_err = |i: usize| {
                verr(i, f.name(), "absent", format!("`{}` is required for {} events", f.name(), kind.name()))
            };
            let Some(rf) = &raw.fields[f as usize] else {
                if spec.required {
                    return Err(required_err(rows[0]));
                }
                let col = &mut kt.cols[pos];
                for _ in 0..rows.len() {
                    push_absent(col);
                }
                continue;
            };
            let valid: Option<Vec<bool>> = rf.valid.as_ref().and_then(|v| {
                let g: Vec<bool> = rows.iter().map(|&i| v[i]).collect();
                (!g.iter().all(|p| *p)).then_some(g)
            });
            if spec.required {
                if let Some(v) = &valid {
                    let j = v.iter().position(|p| !*p).expect("some row is absent");
                    return Err(required_err(rows[j]));
                }
            }
            let present = |j: usize| valid.as_ref().is_none_or(|v| v[j]);
            let col = match (&rf.vals, f.ty()) {
                (RawVals::F64(v), FieldType::Coord) => {
                    let mut vals = Vec::with_capacity(rows.len());
                    for (j, &i) in rows.iter().enumerate() {
                        if !present(j) {
                            vals.push(0);
                            continue;
                        }
                        // exact and in range: q is an integer of magnitude <= 2^53 (NaN fails)
                        let q = v[i] * 65536.0;
                        if q.abs() <= (1u64 << 53) as f64 && (q as i64) as f64 == q {
                            vals.push(q as i64);
                        } else {
                            return Err(match coord_from_f64(v[i], f.name(), Some(i as u64)) {
                                Err(e) => e,
                                Ok(_) => verr(i, f.name(), v[i], "an exact coordinate"),
                            });
                        }
                    }
                    Column::Int { vals, valid }
                }
                (RawVals::I64(v), FieldType::Int { min, max }) => {
                    let mut vals = Vec::with_capacity(rows.len());
                    for (j, &i) in rows.iter().enumerate() {
                        if !present(j) {
                            vals.push(0);
                        } else if v[i] < min || v[i] > max {
                            return Err(verr(i, f.name(), v[i], format!("must be within {min}..={max}")));
                        } else {
                            vals.push(v[i]);
                        }
                    }
                    Column::Int { vals, valid }
                }
                (RawVals::Bool(v), FieldType::Bool) => {
                    Column::Bool { vals: rows.iter().enumerate().map(|(j, &i)| present(j) && v[i]).collect(), valid }
                }
                (RawVals::Str(v), FieldType::Str) => {
                    let mut c = Column::new_for(FieldType::Str);
                    for (j, &i) in rows.iter().enumerate() {
                        match (&v[i], present(j)) {
                            (Some(s), true) => c.push_str(Some(s)),
                            (None, true) if spec.required => {
                                return Err(verr(i, f.name(), "None", format!("`{}` is required for {} events", f.name(), kind.name())))
                            }
                            _ => c.push_str(None),
                        }
                    }
                    c
                }
                _ => return Err(Error::Usage(format!("column `{}` has the wrong type", f.name()))),
            };
            kt.cols[pos] = col;
        }
    }
    table.t = raw.t;
    table.kind = raw.kind;
    table.validate()?;
    Ok(table)
}

/// Absent values read as 0 / false: clear the rows a part marks absent. (Rows of kinds without
/// the field were never written, and the output starts zeroed, so they are untouched: no pass
/// over the whole column, no page touched for a field no event has.)
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

fn push_absent(col: &mut Column) {
    match col {
        Column::Int { .. } => col.push_int(None),
        Column::Bool { .. } => col.push_bool(None),
        Column::Str { .. } => col.push_str(None),
    }
}

// ------------------------------------------------------------------ read side

pub enum OutArr {
    I64(Vec<i64>),
    U8(Vec<u8>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    U32(Vec<u32>),
    /// `n` zeros of the type, made by numpy (calloc: the pages of a large column stay untouched
    /// until written, where a zeroed Vec from the extension's allocator was memset).
    Zeros(Zeros, usize),
}

/// Rows from which a read's fields are filled on several threads (below, a thread costs more
/// than it saves).
pub const PARALLEL_SCATTER_ROWS: usize = 1 << 16;

/// Rows from which an absent column is made by numpy's zeros (see [`OutArr::Zeros`]).
const ZEROS_BY_NUMPY: usize = 1 << 16;

/// The type of an [`OutArr::Zeros`] column.
#[derive(Clone, Copy)]
pub enum Zeros {
    I64,
    F64,
    Bool,
}

/// Union columns ready to become numpy arrays.
pub struct OutTable {
    cols: Vec<(String, OutArr)>,
}

/// Rows of decoded blocks a wide read gathers at a time: a read holds its output and about
/// this many rows of blocks, not every decoded block besides (a batch is still large enough to
/// fill its fields on several threads).
const WIDE_BATCH_ROWS: usize = 4 * PARALLEL_SCATTER_ROWS;

/// The wide (union) table of a read of one file: the rows with `t0 <= t < t1` of the kinds in
/// `mask`, from `blocks` (None: all), with the fields of those kinds selected by `fields` (see
/// [`Gather::new`]). The blocks are decoded on `threads` threads and appended to the columns a
/// batch at a time, in file order, each dropped once appended.
pub fn read_wide<S: Source>(
    reader: &Reader<S>,
    t0: Option<i64>,
    t1: Option<i64>,
    mask: u16,
    fields: u32,
    blocks: Option<&[usize]>,
    threads: usize,
) -> hidpack_core::Result<OutTable> {
    let ids = reader.blocks_for(t0, t1, mask, blocks)?;
    let mut g = Gather::new(mask, fields, false);
    if ids.len() > 1 {
        // room for every wanted event (the block records' counts: untrusted, a hint only, past
        // 64 events per file byte not taken)
        let wanted = |i: usize| -> u64 {
            let c = &reader.blocks()[i].counts;
            (0..NUM_KINDS).filter(|&k| (mask >> k) & 1 == 1).map(|k| u64::from(c[k])).sum()
        };
        let hint: u64 = ids.iter().map(|&i| wanted(i)).sum();
        if hint <= u64::from(u32::MAX).min(reader.file_len().saturating_mul(64)) {
            g.reserve(hint as usize);
        }
    }
    let lo = t0.unwrap_or(i64::MIN);
    let keep = |t: i64, k: u8| t >= lo && t1.is_none_or(|e| t < e) && (mask >> k) & 1 == 1;
    let (mut batch, mut rows) = (Vec::new(), 0usize);
    reader.for_each_block(t0, t1, mask, Some(&ids), threads, |_, block| {
        // checked row by row, not trusted from the block's record
        let part = if block.t.iter().zip(&block.kind).all(|(&t, &k)| keep(t, k)) {
            block
        } else {
            let mut f = EventTable::new();
            f.extend_filtered(&block, lo, t1, mask);
            f
        };
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

/// One wanted field's union column(s) in a [`Gather`].
enum FieldCol {
    /// No part so far had the field: absent on every row (made as zeros by [`Gather::finish`]).
    Absent,
    I64(Vec<i64>, Vec<bool>),
    F64(Vec<f64>, Vec<bool>),
    Bool(Vec<bool>, Vec<bool>),
    Str { offsets: Vec<i64>, data: Vec<u8>, valid: Vec<bool> },
}

impl FieldCol {
    /// Does some row hold a value? (The first present row ends the scan: a field that holds
    /// data mostly says so in its first bytes.)
    fn holds_data(&self) -> bool {
        match self {
            FieldCol::Absent => false,
            FieldCol::I64(_, v) | FieldCol::F64(_, v) | FieldCol::Bool(_, v) | FieldCol::Str { valid: v, .. } => {
                v.iter().any(|p| *p)
            }
        }
    }
}

/// Union columns built from per-kind tables, part after part (the blocks of a read, the files
/// of a `read_many`): each part's rows are scattered straight into the ends of the columns, so
/// an event is copied once, and a caller may drop each part as soon as it is appended (a fleet
/// read then holds its output and one batch of parts, not every file's table besides).
pub struct Gather {
    n: usize,
    t: Vec<i64>,
    kind: Vec<u8>,
    /// Each row's part (file) index, if asked for.
    file: Option<Vec<u32>>,
    parts: u32,
    /// The fields of the kinds in the mask that are also wanted, in field order.
    cols: Vec<(Field, FieldCol)>,
    /// Rows expected in all ([`Gather::reserve`]): a column is built with room for them.
    cap: usize,
    /// Leave out the fields no row holds a value of ([`HOLDING_DATA`]).
    only_held: bool,
}

/// `n` zeros (`T::default()`), with room for `room` if the allocator grants it.
fn zeros<T: Clone + Default>(n: usize, room: usize) -> Vec<T> {
    let mut v = Vec::new();
    let _ = v.try_reserve_exact(room.max(n));
    v.resize(n, T::default());
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

impl Gather {
    /// Columns for the fields of the kinds in `mask` that are also in `fields` (bit f = field
    /// f; with [`HOLDING_DATA`] set, only those of them that some row holds a value of);
    /// `file`: also a `file` column.
    pub fn new(mask: u16, fields: u32, file: bool) -> Self {
        let mut included = [false; NUM_FIELDS];
        for k in Kind::ALL {
            if (mask >> k as u8) & 1 == 1 {
                for s in k.fields() {
                    included[s.field as usize] = (fields >> s.field as u8) & 1 == 1;
                }
            }
        }
        let cols = ALL_FIELDS.iter().copied().filter(|&f| included[f as usize]).map(|f| (f, FieldCol::Absent)).collect();
        let only_held = fields & HOLDING_DATA != 0;
        Gather { n: 0, t: Vec::new(), kind: Vec::new(), file: file.then(Vec::new), parts: 0, cols, cap: 0, only_held }
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

    /// Appends `parts` in order (each the next part index). `threads`: fields filled at once, for
    /// batches of at least [`PARALLEL_SCATTER_ROWS`] rows.
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
        let fill = |c: &mut (Field, FieldCol)| fill_field(c.0, &mut c.1, tables, &rows_of, base, m, cap);
        if threads <= 1 || m < PARALLEL_SCATTER_ROWS || self.cols.len() < 2 {
            self.cols.iter_mut().for_each(fill);
        } else {
            // Fields are independent: a large batch fills them on several threads.
            let cells: Vec<std::sync::Mutex<&mut (Field, FieldCol)>> =
                self.cols.iter_mut().map(std::sync::Mutex::new).collect();
            hidpack_core::reader::in_order(
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
    pub fn finish(self) -> OutTable {
        let n = self.n;
        let mut cols = vec![("t".to_string(), OutArr::I64(self.t)), ("kind".to_string(), OutArr::U8(self.kind))];
        if let Some(file) = self.file {
            cols.push(("file".to_string(), OutArr::U32(file)));
        }
        let only_held = self.only_held;
        for (f, col) in self.cols.into_iter().filter(|(_, c)| !only_held || c.holds_data()) {
            let name = f.name();
            match col {
                FieldCol::Absent => {
                    // Absent on every row (most fields of most recordings): zeros from numpy's
                    // calloc, which leaves a large column's pages untouched. (Zeroed Vecs were
                    // memset by the allocator: reading a 2 M-event file spent 46 % of its time
                    // clearing 33 such columns.) Short columns are plain Vecs: numpy's zeros
                    // cost more per call than they save.
                    let zeros = |z: Zeros, n: usize| match (n >= ZEROS_BY_NUMPY, z) {
                        (true, z) => OutArr::Zeros(z, n),
                        (false, Zeros::I64) => OutArr::I64(vec![0; n]),
                        (false, Zeros::F64) => OutArr::F64(vec![0.0; n]),
                        (false, Zeros::Bool) => OutArr::Bool(vec![false; n]),
                    };
                    match f.ty() {
                        FieldType::Str => {
                            cols.push((format!("{name}_offsets"), zeros(Zeros::I64, n + 1)));
                            cols.push((format!("{name}_data"), OutArr::U8(Vec::new())));
                        }
                        FieldType::Bool => cols.push((name.to_string(), zeros(Zeros::Bool, n))),
                        FieldType::Coord => cols.push((name.to_string(), zeros(Zeros::F64, n))),
                        FieldType::Int { .. } => cols.push((name.to_string(), zeros(Zeros::I64, n))),
                    }
                    cols.push((format!("{name}_valid"), zeros(Zeros::Bool, n)));
                }
                FieldCol::I64(v, valid) => {
                    cols.push((name.to_string(), OutArr::I64(v)));
                    cols.push((format!("{name}_valid"), OutArr::Bool(valid)));
                }
                FieldCol::F64(v, valid) => {
                    cols.push((name.to_string(), OutArr::F64(v)));
                    cols.push((format!("{name}_valid"), OutArr::Bool(valid)));
                }
                FieldCol::Bool(v, valid) => {
                    cols.push((name.to_string(), OutArr::Bool(v)));
                    cols.push((format!("{name}_valid"), OutArr::Bool(valid)));
                }
                FieldCol::Str { offsets, data, valid } => {
                    cols.push((format!("{name}_offsets"), OutArr::I64(offsets)));
                    cols.push((format!("{name}_data"), OutArr::U8(data)));
                    cols.push((format!("{name}_valid"), OutArr::Bool(valid)));
                }
            }
        }
        OutTable { cols }
    }
}

/// Field `f` of a batch of `m` rows (`tables`, with each kind's rows in `rows_of`), appended to
/// `col` at row `base`.
#[allow(clippy::too_many_arguments)]
fn fill_field(f: Field, col: &mut FieldCol, tables: &[EventTable], rows_of: &[[Vec<u32>; NUM_KINDS]], base: usize, m: usize, cap: usize) {
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
    if parts.is_empty() {
        // absent on this batch's rows: an absent column stays so; a built one grows by zeros
        match col {
            FieldCol::Absent => {}
            FieldCol::I64(v, ok) => {
                v.resize(end, 0);
                ok.resize(end, false);
            }
            FieldCol::F64(v, ok) => {
                v.resize(end, 0.0);
                ok.resize(end, false);
            }
            FieldCol::Bool(v, ok) => {
                v.resize(end, false);
                ok.resize(end, false);
            }
            FieldCol::Str { offsets, valid, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.resize(end + 1, last);
                valid.resize(end, false);
            }
        }
        return;
    }
    if let FieldCol::Absent = col {
        // the first rows with the field: the rows before it are absent
        // room for the rows reserved; none beyond this batch: then a first batch's column comes
        // zeroed from the allocator ([`grow`])
        let room = if cap > end { cap + 1 } else { 0 };
        *col = match f.ty() {
            FieldType::Str => FieldCol::Str { offsets: zeros(base + 1, room), data: Vec::new(), valid: zeros(base, room) },
            FieldType::Bool => FieldCol::Bool(zeros(base, room), zeros(base, room)),
            FieldType::Coord => FieldCol::F64(zeros(base, room), zeros(base, room)),
            FieldType::Int { .. } => FieldCol::I64(zeros(base, room), zeros(base, room)),
        };
    }
    match col {
        FieldCol::Absent => unreachable!("built above"),
        FieldCol::Str { offsets, data, valid } => {
            grow(valid, end, false);
            let valid = &mut valid[base..];
            let mut lens = vec![0i64; m];
            for (c, rows) in &parts {
                if let Column::Str { offsets, valid: v, .. } = c {
                    fill_valid(valid, v, rows);
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
        FieldCol::Bool(out, valid) => {
            grow(out, end, false);
            grow(valid, end, false);
            let (out, valid) = (&mut out[base..], &mut valid[base..]);
            for (c, rows) in &parts {
                if let Column::Bool { vals, valid: v } = c {
                    fill_valid(valid, v, rows);
                    for (&g, &x) in rows.iter().zip(vals) {
                        out[g as usize] = x;
                    }
                }
            }
            zero_absent(out, &parts, false);
        }
        FieldCol::F64(out, valid) => {
            grow(out, end, 0.0);
            grow(valid, end, false);
            fill_ints(&mut out[base..], &mut valid[base..], &parts, 0.0, coord_to_f64);
        }
        FieldCol::I64(out, valid) => {
            grow(out, end, 0);
            grow(valid, end, false);
            fill_ints(&mut out[base..], &mut valid[base..], &parts, 0, |x| x);
        }
    }
}

/// Each part's validity into its rows of `valid` (all valid when the part has no mask).
fn fill_valid(valid: &mut [bool], v: &Option<Vec<bool>>, rows: &[u32]) {
    match v {
        None => rows.iter().for_each(|&g| valid[g as usize] = true),
        Some(v) => rows.iter().zip(v).for_each(|(&g, &ok)| valid[g as usize] = ok),
    }
}

/// The first row, if a part's rows are consecutive (one kind fills a table's rows): then its
/// column goes over in one straight copy.
fn dense(rows: &[u32]) -> Option<usize> {
    let (first, last) = (*rows.first()? as usize, *rows.last()? as usize);
    (last - first + 1 == rows.len()).then_some(first)
}

/// The integer columns of `parts` into their rows of `out` (each value through `conv`: coordinates
/// to f64, or as they are) and `valid`; absent rows hold `zero`.
fn fill_ints<T: Copy>(out: &mut [T], valid: &mut [bool], parts: &[(&Column, &[u32])], zero: T, conv: impl Fn(i64) -> T) {
    for (c, rows) in parts {
        if let Column::Int { vals, valid: v } = c {
            fill_valid(valid, v, rows);
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

/// Move the columns into numpy arrays (no copy).
pub fn out_to_py<'py>(py: Python<'py>, out: OutTable) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, arr) in out.cols {
        match arr {
            OutArr::I64(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            OutArr::U8(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            OutArr::F64(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            OutArr::Bool(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            OutArr::U32(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            OutArr::Zeros(Zeros::I64, n) => d.set_item(name, PyArray1::<i64>::zeros(py, n, false))?,
            OutArr::Zeros(Zeros::F64, n) => d.set_item(name, PyArray1::<f64>::zeros(py, n, false))?,
            OutArr::Zeros(Zeros::Bool, n) => d.set_item(name, PyArray1::<bool>::zeros(py, n, false))?,
        }
    }
    Ok(d)
}

/// Every field, as a `fields` mask for [`scatter`].
pub const ALL_FIELDS_MASK: u32 = (1 << NUM_FIELDS) - 1;

/// A flag of a `fields` mask (above every field's bit): of the fields selected, only those that
/// some returned row holds a value of. What a wide read with no `fields` list returns: a column
/// that is absent on every row (most of the union's fields, in most reads) is not made at all.
pub const HOLDING_DATA: u32 = 1 << 31;

/// Names to a bit mask: bit i for `table[i]` (None: `all`).
fn names_to_mask(names: Option<Vec<String>>, table: &[&str], what: &str, all: u32) -> PyResult<u32> {
    let Some(list) = names else { return Ok(all) };
    list.iter().try_fold(0u32, |m, name| {
        let i = table.iter().position(|t| t == name).ok_or_else(|| {
            PyValueError::new_err(format!("unknown {what} `{name}`; {what}s are {}", table.join(", ")))
        })?;
        Ok(m | 1 << i)
    })
}

/// Field names to a bit mask for [`scatter`] (None: every field that holds data, see
/// [`HOLDING_DATA`]; named fields come whether they hold data or not).
pub fn fields_to_mask(fields: Option<Vec<String>>) -> PyResult<u32> {
    names_to_mask(fields, &hidpack_core::model::FIELD_NAMES, "field", ALL_FIELDS_MASK | HOLDING_DATA)
}

/// Kind names to a bit mask.
pub fn kinds_to_mask(kinds: Option<Vec<String>>) -> PyResult<u16> {
    let all = u32::from(hidpack_core::reader::ALL_KINDS);
    Ok(names_to_mask(kinds, &hidpack_core::model::KIND_NAMES, "kind", all)? as u16)
}

// ------------------------------------------------------------------ narrow reads

/// The field mask of a narrow read of `kind`: the named fields, each of which `kind` must have
/// (None: all of its fields).
pub fn kind_fields_to_mask(kind: Kind, fields: Option<Vec<String>>) -> PyResult<u32> {
    let names: Vec<&str> = kind.fields().iter().map(|s| s.field.name()).collect();
    let Some(list) = fields else { return Ok(ALL_FIELDS_MASK) };
    list.iter().try_fold(0u32, |m, name| {
        let s = kind.fields().iter().find(|s| s.field.name() == name).ok_or_else(|| {
            let what = if FIELD_NAMES.contains(&name.as_str()) { "no field" } else { "no field, and no kind has a field," };
            PyValueError::new_err(format!("{} events have {what} `{name}`; their fields are {}", kind.name(), names.join(", ")))
        })?;
        Ok(m | 1 << s.field as u8)
    })
}

/// A kind name to its kind.
pub fn kind_from_name(name: &str) -> PyResult<Kind> {
    Kind::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!("unknown kind `{name}`; kinds are {}", hidpack_core::model::KIND_NAMES.join(", ")))
    })
}

/// The columns of a narrow read (`hidpack_core::narrow`) ready to become numpy arrays: `t`, then
/// each field (coordinates as float64 pixels, converted where they lie: no second buffer),
/// strings as `_offsets` / `_data`, and `_valid` only for a field absent on some row.
pub fn kind_out(k: hidpack_core::narrow::KindColumns) -> OutTable {
    let mut cols = vec![("t".to_string(), OutArr::I64(k.t))];
    for (f, col) in k.cols {
        let name = f.name();
        let valid = match col {
            Column::Int { vals, valid } if f.ty() == FieldType::Coord => {
                // i64 -> f64 of the same size: collected into the same allocation
                cols.push((name.to_string(), OutArr::F64(vals.into_iter().map(coord_to_f64).collect())));
                valid
            }
            Column::Int { vals, valid } => {
                cols.push((name.to_string(), OutArr::I64(vals)));
                valid
            }
            Column::Bool { vals, valid } => {
                cols.push((name.to_string(), OutArr::Bool(vals)));
                valid
            }
            Column::Str { offsets, data, valid } => {
                cols.push((format!("{name}_offsets"), OutArr::I64(offsets)));
                cols.push((format!("{name}_data"), OutArr::U8(data)));
                valid
            }
        };
        if let Some(v) = valid {
            cols.push((format!("{name}_valid"), OutArr::Bool(v)));
        }
    }
    OutTable { cols }
}
