//! Event tables between Python (dict of numpy columns, see docs/ARCHITECTURE.md) and the core's
//! [`EventTable`]. Extraction borrows the numpy columns under the GIL; a table of up to
//! [`BORROW_ROWS`] rows is built from their memory with the GIL held, a larger one (and every
//! table a writer or recorder takes directly) from copies with the GIL released. Scattering runs
//! with the GIL released.

use hidpack_core::model::{
    coord_from_f64, coord_to_f64, Field, FieldType, Kind, ALL_FIELDS, FIELD_NAMES, NUM_FIELDS, NUM_KINDS,
};
use hidpack_core::narrow::Values;
use hidpack_core::wide::{WideColumn, WideTable, ZeroType, ALL_FIELDS_MASK, HOLDING_DATA};
use hidpack_core::{Column, Error, EventTable, ValueError};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::borrow::Cow;

use crate::errors::column_type_error;

pub enum RawVals<'a> {
    F64(Cow<'a, [f64]>),
    I64(Cow<'a, [i64]>),
    Bool(Cow<'a, [bool]>),
    Str(Cow<'a, [Option<String>]>),
}

impl RawVals<'_> {
    fn len(&self) -> usize {
        match self {
            RawVals::F64(v) => v.len(),
            RawVals::I64(v) => v.len(),
            RawVals::Bool(v) => v.len(),
            RawVals::Str(v) => v.len(),
        }
    }
    fn into_owned(self) -> RawVals<'static> {
        match self {
            RawVals::F64(v) => RawVals::F64(Cow::Owned(v.into_owned())),
            RawVals::I64(v) => RawVals::I64(Cow::Owned(v.into_owned())),
            RawVals::Bool(v) => RawVals::Bool(Cow::Owned(v.into_owned())),
            RawVals::Str(v) => RawVals::Str(Cow::Owned(v.into_owned())),
        }
    }
}

pub struct RawField<'a> {
    vals: RawVals<'a>,
    valid: Option<Cow<'a, [bool]>>,
}

/// Columns of a Python dict: the numpy arrays' own memory ([`Columns::raw`], while the arrays
/// are borrowed and the GIL held) or copies of it ([`RawTable::into_owned`], for a build with
/// the GIL released).
pub struct RawTable<'a> {
    t: Cow<'a, [i64]>,
    kind: Cow<'a, [u8]>,
    fields: Vec<Option<RawField<'a>>>,
}

impl RawTable<'_> {
    /// Every column copied out (what a build with the GIL released needs: the arrays' memory
    /// may change under it once other Python threads run).
    pub fn into_owned(self) -> RawTable<'static> {
        RawTable {
            t: Cow::Owned(self.t.into_owned()),
            kind: Cow::Owned(self.kind.into_owned()),
            fields: self
                .fields
                .into_iter()
                .map(|f| f.map(|f| RawField { vals: f.vals.into_owned(), valid: f.valid.map(|v| Cow::Owned(v.into_owned())) }))
                .collect(),
        }
    }
}

/// A column's values as the dict holds them (numpy arrays borrowed read-only).
enum Held<'py> {
    F64(PyReadonlyArray1<'py, f64>),
    I64(PyReadonlyArray1<'py, i64>),
    Bool(PyReadonlyArray1<'py, bool>),
    Str(Vec<Option<String>>),
}

/// The columns of a write-side dict, checked for names and types and borrowed, not copied.
pub struct Columns<'py> {
    t: PyReadonlyArray1<'py, i64>,
    kind: PyReadonlyArray1<'py, u8>,
    fields: Vec<Option<(Held<'py>, Option<PyReadonlyArray1<'py, bool>>)>>,
}

fn array<'py, T: numpy::Element>(name: &str, obj: &Bound<'py, PyAny>, expected: &str) -> PyResult<PyReadonlyArray1<'py, T>> {
    obj.extract().map_err(|_| column_type_error(name, expected, obj))
}

/// The array's memory when it is contiguous, else a copy.
fn slice<'a, T: numpy::Element + Copy>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().to_vec()),
    }
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

/// Tables of at most this many rows are built under the GIL from the arrays' own memory
/// ([`Columns::raw`]); larger ones from copies, with the GIL released. Copying the columns was
/// a twentieth of `write_table` on a mouse session of a few thousand events (mostly the copy's
/// fresh pages), while a build holds the GIL about 15 ns a row: at most about 4 ms here.
pub const BORROW_ROWS: usize = 1 << 18;

impl<'py> Columns<'py> {
    /// Borrow the columns of a Python dict (names and types checked; lengths and values are
    /// [`build_table`]'s).
    pub fn of(d: &Bound<'py, PyDict>) -> PyResult<Self> {
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
        let mut fields: Vec<Option<(Held<'py>, Option<PyReadonlyArray1<'py, bool>>)>> =
            (0..NUM_FIELDS).map(|_| None).collect();
        for f in ALL_FIELDS {
            let name = f.name();
            let Some(obj) = d.get_item(name)? else {
                if d.contains(format!("{name}_valid"))? {
                    return Err(PyValueError::new_err(format!("`{name}_valid` given without `{name}`")));
                }
                continue;
            };
            let vals = match f.ty() {
                FieldType::Coord => Held::F64(array::<f64>(name, &obj, "a float64 numpy array")?),
                FieldType::Int { .. } => Held::I64(array::<i64>(name, &obj, "an int64 numpy array")?),
                FieldType::Bool => Held::Bool(array::<bool>(name, &obj, "a bool numpy array")?),
                FieldType::Str => Held::Str(strings(name, &obj)?),
            };
            let valid = match d.get_item(format!("{name}_valid"))? {
                Some(v) if !v.is_none() => Some(array::<bool>(&format!("{name}_valid"), &v, "a bool numpy array")?),
                _ => None,
            };
            fields[f as usize] = Some((vals, valid));
        }
        Ok(Columns { t, kind, fields })
    }

    pub fn rows(&self) -> usize {
        self.t.as_array().len()
    }

    /// The columns over the arrays' memory (valid while `self` holds the borrows and the GIL).
    pub fn raw(&self) -> RawTable<'_> {
        let fields = self
            .fields
            .iter()
            .map(|f| {
                f.as_ref().map(|(vals, valid)| RawField {
                    vals: match vals {
                        Held::F64(a) => RawVals::F64(slice(a)),
                        Held::I64(a) => RawVals::I64(slice(a)),
                        Held::Bool(a) => RawVals::Bool(slice(a)),
                        Held::Str(v) => RawVals::Str(Cow::Borrowed(v)),
                    },
                    valid: valid.as_ref().map(slice),
                })
            })
            .collect();
        RawTable { t: slice(&self.t), kind: slice(&self.kind), fields }
    }
}

/// Copy a write-side table out of a Python dict.
pub fn extract_table(d: &Bound<'_, PyDict>) -> PyResult<RawTable<'static>> {
    Ok(Columns::of(d)?.raw().into_owned())
}

fn verr(row: usize, field: &'static str, value: impl ToString, expected: impl Into<String>) -> Error {
    Error::Value(ValueError { row: Some(row as u64), field, value: value.to_string(), expected: expected.into() })
}

/// Build an [`EventTable`] (GIL not needed).
pub fn build_table(raw: RawTable<'_>) -> Result<EventTable, Error> {
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
                // One branch-free pass (a kind code beyond the kinds is reported later, as such);
                // row by row only to name the first bad row.
                let mut lacks = [false; 256];
                for (k, u) in uses.iter().enumerate() {
                    lacks[k] = !u[f as usize];
                }
                if v.iter().zip(raw.kind.iter()).fold(false, |bad, (&p, &k)| bad | (p & lacks[k as usize])) {
                    for (i, (&p, &k)) in v.iter().zip(raw.kind.iter()).enumerate() {
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
                let g: Vec<bool> = if single { v.to_vec() } else { rows.iter().map(|&i| v[i]).collect() };
                (!g.iter().fold(true, |all, &p| all & p)).then_some(g)
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
                    // One branch-free pass; row by row only to name the first bad value.
                    let mut ok = true;
                    let mut conv = |j: usize, x: f64| {
                        let (exact, raw) = coord_raw(x);
                        let p = present(j);
                        ok &= exact | !p;
                        if p { raw } else { 0 }
                    };
                    let vals: Vec<i64> = if single {
                        v.iter().enumerate().map(|(j, &x)| conv(j, x)).collect()
                    } else {
                        rows.iter().enumerate().map(|(j, &i)| conv(j, v[i])).collect()
                    };
                    if !ok {
                        for (j, &i) in rows.iter().enumerate() {
                            if present(j) && !coord_raw(v[i]).0 {
                                return Err(match coord_from_f64(v[i], f.name(), Some(i as u64)) {
                                    Err(e) => e,
                                    Ok(_) => verr(i, f.name(), v[i], "an exact coordinate"),
                                });
                            }
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
    table.t = raw.t.into_owned();
    table.kind = raw.kind.into_owned();
    table.validate()?;
    Ok(table)
}

/// `x` pixels in 1/65536 units, and whether that is exact and in range (an integer of magnitude
/// at most 2^53; NaN is not).
#[inline(always)]
fn coord_raw(x: f64) -> (bool, i64) {
    let q = x * 65536.0;
    let raw = q as i64;
    (q.abs() <= (1u64 << 53) as f64 && raw as f64 == q, raw)
}

fn push_absent(col: &mut Column) {
    match col {
        Column::Int { .. } => col.push_int(None),
        Column::Bool { .. } => col.push_bool(None),
        Column::Str { .. } => col.push_str(None),
    }
}

// ------------------------------------------------------------------ read side
// The wide table itself is built in the core (`hidpack_core::wide`); here its columns become
// numpy arrays.

/// Move the columns into numpy arrays (no copy); a [`WideColumn::Zeros`] column is made by
/// numpy's zeros (calloc: a large one's pages stay untouched until written).
pub fn out_to_py<'py>(py: Python<'py>, out: WideTable) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, arr) in out.cols {
        match arr {
            WideColumn::I64(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            WideColumn::U8(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            WideColumn::F64(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            WideColumn::Bool(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            WideColumn::U32(v) => d.set_item(name, PyArray1::from_vec(py, v))?,
            WideColumn::Zeros(ZeroType::I64, n) => d.set_item(name, PyArray1::<i64>::zeros(py, n, false))?,
            WideColumn::Zeros(ZeroType::F64, n) => d.set_item(name, PyArray1::<f64>::zeros(py, n, false))?,
            WideColumn::Zeros(ZeroType::Bool, n) => d.set_item(name, PyArray1::<bool>::zeros(py, n, false))?,
        }
    }
    Ok(d)
}

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

/// Field names to a bit mask for `hidpack_core::wide::Gather::new` (None: every field that holds data, see
/// [`HOLDING_DATA`]; named fields come whether they hold data or not).
pub fn fields_to_mask(fields: Option<Vec<String>>) -> PyResult<u32> {
    names_to_mask(fields, &hidpack_core::model::FIELD_NAMES, "field", ALL_FIELDS_MASK | HOLDING_DATA)
}

/// A `layout=` argument: "table" or "pandas" (the columns of a DataFrame).
pub fn layout_from_name(layout: &str) -> PyResult<hidpack_core::wide::Layout> {
    match layout {
        "table" => Ok(hidpack_core::wide::Layout::Table),
        "pandas" => Ok(hidpack_core::wide::Layout::Frame),
        other => Err(PyValueError::new_err(format!("layout must be 'table' or 'pandas', got {other:?}"))),
    }
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
/// each field (coordinates as float64 pixels: read as [`Values::Pixels`] by
/// `narrow::read_kind_in_pixels`, converted as the blocks were appended; a column read as stored
/// is converted where it lies), strings as `_offsets` / `_data`, and `_valid` only for a field
/// absent on some row.
pub fn kind_out(k: hidpack_core::narrow::KindColumns) -> WideTable {
    let mut cols = vec![("t".to_string(), WideColumn::I64(k.t))];
    for (f, col) in k.cols {
        let name = f.name();
        let valid = match col {
            Values::Pixels { vals, valid } => {
                cols.push((name.to_string(), WideColumn::F64(vals)));
                valid
            }
            Values::Col(Column::Int { vals, valid }) if f.ty() == FieldType::Coord => {
                // i64 -> f64 of the same size: collected into the same allocation
                cols.push((name.to_string(), WideColumn::F64(vals.into_iter().map(coord_to_f64).collect())));
                valid
            }
            Values::Col(Column::Int { vals, valid }) => {
                cols.push((name.to_string(), WideColumn::I64(vals)));
                valid
            }
            Values::Col(Column::Bool { vals, valid }) => {
                cols.push((name.to_string(), WideColumn::Bool(vals)));
                valid
            }
            Values::Col(Column::Str { offsets, data, valid }) => {
                cols.push((format!("{name}_offsets"), WideColumn::I64(offsets)));
                cols.push((format!("{name}_data"), WideColumn::U8(data)));
                valid
            }
        };
        if let Some(v) = valid {
            cols.push((format!("{name}_valid"), WideColumn::Bool(v)));
        }
    }
    WideTable { cols }
}
