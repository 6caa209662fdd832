//! Event tables between Python (dict of numpy columns, see docs/ARCHITECTURE.md) and the core's
//! [`EventTable`]. Extraction borrows the numpy columns under the GIL; a table of up to
//! [`BORROW_ROWS`] rows is built from their memory with the GIL held, a larger one (and every
//! table a writer or recorder takes directly) from copies with the GIL released. Scattering runs
//! with the GIL released.

use hidpack_core::model::{
    coord_to_f64, FieldType, Kind, ALL_FIELDS, FIELD_NAMES, NUM_FIELDS,
};
use hidpack_core::narrow::Values;
use hidpack_core::wide::{WideColumn, WideTable, ZeroType, ALL_FIELDS_MASK, HOLDING_DATA};
use hidpack_core::Column;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::borrow::Cow;

pub use hidpack_core::from_wide::build_table;
use hidpack_core::from_wide::{WideInput, WideVals};

use crate::errors::column_type_error;

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
        // One pass over the dict's items (a writer takes many small tables: a lookup per known
        // field and its `_valid` was most of a small table's cost here).
        let (mut t_obj, mut k_obj) = (None, None);
        // per field: its values and its `_valid` column as given
        let mut given: Vec<[Option<Bound<'py, PyAny>>; 2]> = (0..NUM_FIELDS).map(|_| [None, None]).collect();
        for (key, obj) in d.iter() {
            let key = key.cast_into::<PyString>().map_err(|_| PyValueError::new_err("table keys must be str"))?;
            let k = key.to_cow()?;
            let (base, valid) = match k.strip_suffix("_valid") {
                Some(b) => (b, true),
                None => (&*k, false),
            };
            match (base, valid) {
                ("t", false) => t_obj = Some(obj),
                ("kind", false) => k_obj = Some(obj),
                _ => {
                    let Some(i) = FIELD_NAMES.iter().position(|n| *n == base) else {
                        return Err(PyValueError::new_err(format!(
                            "unknown column `{k}`; valid columns: t, kind, {} (and <field>_valid)",
                            FIELD_NAMES.join(", ")
                        )));
                    };
                    given[ALL_FIELDS[i] as usize][usize::from(valid)] = Some(obj);
                }
            }
        }
        let t_obj = t_obj.ok_or_else(|| PyValueError::new_err("table has no `t` column"))?;
        let k_obj = k_obj.ok_or_else(|| PyValueError::new_err("table has no `kind` column"))?;
        let t = array::<i64>("t", &t_obj, "an int64 numpy array")?;
        let kind = array::<u8>("kind", &k_obj, "a uint8 numpy array of kind codes")?;
        let mut fields: Vec<Option<(Held<'py>, Option<PyReadonlyArray1<'py, bool>>)>> =
            (0..NUM_FIELDS).map(|_| None).collect();
        for f in ALL_FIELDS {
            let name = f.name();
            let [vals, valid] = std::mem::take(&mut given[f as usize]);
            let Some(obj) = vals else {
                if valid.is_some() {
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
            let valid = match valid {
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
    pub fn raw(&self) -> WideInput<'_> {
        let mut w = WideInput::new(slice(&self.t), slice(&self.kind));
        for f in ALL_FIELDS {
            if let Some((vals, valid)) = &self.fields[f as usize] {
                let vals = match vals {
                    Held::F64(a) => WideVals::F64(slice(a)),
                    Held::I64(a) => WideVals::I64(slice(a)),
                    Held::Bool(a) => WideVals::Bool(slice(a)),
                    Held::Str(v) => WideVals::Str(Cow::Borrowed(v)),
                };
                w.set(f, vals, valid.as_ref().map(slice));
            }
        }
        w
    }
}

/// Copy a write-side table out of a Python dict.
pub fn extract_table(d: &Bound<'_, PyDict>) -> PyResult<WideInput<'static>> {
    Ok(Columns::of(d)?.raw().into_owned())
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
