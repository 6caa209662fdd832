//! Event tables between Python (dict of numpy columns, see docs/ARCHITECTURE.md) and the core's
//! [`EventTable`]. Extraction copies the columns out under the GIL; building and scattering run
//! with the GIL released.

use hidpack_core::model::{
    coord_from_f64, coord_to_f64, Field, FieldType, Kind, ALL_FIELDS, FIELD_NAMES, NUM_FIELDS, NUM_KINDS,
};
use hidpack_core::{Column, Error, EventTable, ValueError};
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

/// Scatter per-kind columns into union columns for the fields of the kinds in `mask` that are
/// also in `fields` (bit f = field f). `parts` are stacked (the blocks of a read, the files of
/// a `read_many`), each written straight into its rows of the union columns: no concatenated
/// copy in between. `file`: add a `file` column, the index of each row's part. `threads`: fields
/// filled at once (reads of at least [`PARALLEL_SCATTER_ROWS`] rows).
pub fn scatter(mut parts: Vec<EventTable>, mask: u16, fields: u32, file: bool, threads: usize) -> OutTable {
    let mut out = scatter_fields(&parts, mask, fields, threads);
    let mut head = if parts.len() == 1 && !file {
        let p = parts.pop().unwrap_or_default();
        vec![("t".to_string(), OutArr::I64(p.t)), ("kind".to_string(), OutArr::U8(p.kind))] // moved, not copied
    } else {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let (mut t, mut kind) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut files = Vec::with_capacity(if file { n } else { 0 });
        for (j, p) in parts.iter().enumerate() {
            t.extend_from_slice(&p.t);
            kind.extend_from_slice(&p.kind);
            if file {
                files.resize(files.len() + p.len(), j as u32);
            }
        }
        let mut h = vec![("t".to_string(), OutArr::I64(t)), ("kind".to_string(), OutArr::U8(kind))];
        if file {
            h.push(("file".to_string(), OutArr::U32(files)));
        }
        h
    };
    drop(parts);
    head.append(&mut out.cols);
    OutTable { cols: head }
}

/// The field columns of [`scatter`] over `tables` stacked (table j's rows follow table j-1's).
fn scatter_fields(tables: &[EventTable], mask: u16, fields: u32, threads: usize) -> OutTable {
    let n: usize = tables.iter().map(|t| t.len()).sum();
    let mut included = [false; NUM_FIELDS];
    for k in Kind::ALL {
        if (mask >> k as u8) & 1 == 1 {
            for s in k.fields() {
                included[s.field as usize] = (fields >> s.field as u8) & 1 == 1;
            }
        }
    }
    // Position of each field in each kind's columns.
    let mut pos = [[usize::MAX; NUM_FIELDS]; NUM_KINDS];
    for k in Kind::ALL {
        for (p, s) in k.fields().iter().enumerate() {
            pos[k as usize][s.field as usize] = p;
        }
    }
    // The rows of each kind in the output, in order (one pass per table), so that each field is
    // then filled kind by kind in tight loops over dense columns.
    let mut rows_of: Vec<[Vec<u32>; NUM_KINDS]> = Vec::with_capacity(tables.len());
    let mut start = 0usize;
    for table in tables {
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
    // One field's columns (values and validity; strings as offsets and data).
    let field_cols = |f: Field| -> Vec<(String, OutArr)> {
        let mut cols = Vec::new();
        let name = f.name();
        let fi = f as usize;
        // (a kind's column in a table, its output rows) for every kind that has the field
        let parts: Vec<(&Column, &[u32])> = tables
            .iter()
            .zip(&rows_of)
            .flat_map(|(table, rows)| {
                Kind::ALL.iter().filter_map(move |&k| {
                    let p = pos[k as usize][fi];
                    (p != usize::MAX && !rows[k as usize].is_empty())
                        .then(|| (&table.kinds[k as usize].cols[p], rows[k as usize].as_slice()))
                })
            })
            .collect();
        if parts.is_empty() {
            // Absent on every row (most fields of most recordings): zeros from numpy's calloc,
            // which leaves a large column's pages untouched. (Zeroed Vecs were memset by the
            // allocator: reading a 2 M-event file spent 46 % of its time clearing 33 such columns.)
            // Short columns are plain Vecs: numpy's zeros cost more per call than they save.
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
            return cols;
        }
        let mut valid = vec![false; n];
        let fill_valid = |valid: &mut Vec<bool>, v: &Option<Vec<bool>>, rows: &[u32]| match v {
            None => rows.iter().for_each(|&g| valid[g as usize] = true),
            Some(v) => rows.iter().zip(v).for_each(|(&g, &ok)| valid[g as usize] = ok),
        };
        // Rows of a part that are consecutive (one kind fills a table's rows): a straight copy.
        let dense = |rows: &[u32]| -> Option<usize> {
            let (first, last) = (*rows.first()? as usize, *rows.last()? as usize);
            (last - first + 1 == rows.len()).then_some(first)
        };
        match f.ty() {
            FieldType::Str => {
                let mut lens = vec![0i64; n];
                for (c, rows) in &parts {
                    if let Column::Str { offsets, valid: v, .. } = c {
                        fill_valid(&mut valid, v, rows);
                        for (r, &g) in rows.iter().enumerate() {
                            lens[g as usize] = offsets[r + 1] - offsets[r];
                        }
                    }
                }
                let mut offsets = Vec::with_capacity(n + 1);
                offsets.push(0i64);
                let mut acc = 0i64;
                for (l, ok) in lens.iter().zip(&valid) {
                    if *ok {
                        acc += l;
                    }
                    offsets.push(acc);
                }
                let mut data = vec![0u8; acc as usize];
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
                cols.push((format!("{name}_offsets"), OutArr::I64(offsets)));
                cols.push((format!("{name}_data"), OutArr::U8(data)));
            }
            FieldType::Bool => {
                let mut out = vec![false; n];
                for (c, rows) in &parts {
                    if let Column::Bool { vals, valid: v } = c {
                        fill_valid(&mut valid, v, rows);
                        for (&g, &x) in rows.iter().zip(vals) {
                            out[g as usize] = x;
                        }
                    }
                }
                zero_absent(&mut out, &parts, false);
                cols.push((name.to_string(), OutArr::Bool(out)));
            }
            FieldType::Coord => {
                let mut out = vec![0f64; n];
                for (c, rows) in &parts {
                    if let Column::Int { vals, valid: v } = c {
                        fill_valid(&mut valid, v, rows);
                        if let Some(s) = dense(rows) {
                            out[s..s + rows.len()].iter_mut().zip(vals).for_each(|(o, &x)| *o = coord_to_f64(x));
                        } else {
                            for (&g, &x) in rows.iter().zip(vals) {
                                out[g as usize] = coord_to_f64(x);
                            }
                        }
                    }
                }
                zero_absent(&mut out, &parts, 0.0);
                cols.push((name.to_string(), OutArr::F64(out)));
            }
            FieldType::Int { .. } => {
                let mut ints = vec![0i64; n];
                for (c, rows) in &parts {
                    if let Column::Int { vals, valid: v } = c {
                        fill_valid(&mut valid, v, rows);
                        if let Some(s) = dense(rows) {
                            ints[s..s + rows.len()].copy_from_slice(vals); // the column as is
                        } else {
                            for (&g, &x) in rows.iter().zip(vals) {
                                ints[g as usize] = x;
                            }
                        }
                    }
                }
                zero_absent(&mut ints, &parts, 0);
                cols.push((name.to_string(), OutArr::I64(ints)));
            }
        }
        cols.push((format!("{name}_valid"), OutArr::Bool(valid)));
        cols
    };
    let wanted = ALL_FIELDS.iter().copied().filter(|&f| included[f as usize]);
    if threads <= 1 || n < PARALLEL_SCATTER_ROWS {
        return OutTable { cols: wanted.flat_map(field_cols).collect() };
    }
    // Fields are independent: a large read fills them on several threads (in field order).
    let wanted: Vec<Field> = wanted.collect();
    let mut cols = Vec::new();
    hidpack_core::reader::in_order(wanted.len(), threads, wanted.len(), |j| field_cols(wanted[j]), |_, c| {
        cols.extend(c);
        std::ops::ControlFlow::Continue(())
    });
    OutTable { cols }
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

/// Field names to a bit mask for [`scatter`] (None: every field).
pub fn fields_to_mask(fields: Option<Vec<String>>) -> PyResult<u32> {
    names_to_mask(fields, &hidpack_core::model::FIELD_NAMES, "field", ALL_FIELDS_MASK)
}

/// Kind names to a bit mask.
pub fn kinds_to_mask(kinds: Option<Vec<String>>) -> PyResult<u16> {
    let all = u32::from(hidpack_core::reader::ALL_KINDS);
    Ok(names_to_mask(kinds, &hidpack_core::model::KIND_NAMES, "kind", all)? as u16)
}
