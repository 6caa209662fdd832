//! `tokens_encode` / `tokens_decode`: the core's tokenizer (`hidpack_core::tokens`) over event
//! tables. The conversion and the tokenizing run with the GIL released, as everywhere else.

use hidpack_core::model::KIND_NAMES;
use hidpack_core::tokens::{self, TokenizerOptions};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert;
use crate::errors::to_py;

/// Tokenize a native write table. `time_unit` (ns) / `coord_unit` (1/65536 px): None = the
/// coarsest exact unit. Returns (uint32 tokens, {time_unit, coord_unit, skipped: {kind: n},
/// natives_dropped}).
#[pyfunction]
#[pyo3(signature = (table, *, time_unit=None, coord_unit=None, kinds=None, native=true))]
pub fn tokens_encode<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyDict>,
    time_unit: Option<u64>,
    coord_unit: Option<u64>,
    kinds: Option<Vec<String>>,
    native: bool,
) -> PyResult<(Bound<'py, PyArray1<u32>>, Bound<'py, PyDict>)> {
    let kinds = convert::kinds_to_mask(kinds)?;
    let raw = convert::extract_table(table)?;
    let opts = TokenizerOptions { time_unit, coord_unit, kinds, native };
    let enc = py.detach(|| tokens::encode(&convert::build_table(raw)?, &opts)).map_err(to_py)?;
    let info = PyDict::new(py);
    info.set_item("time_unit", enc.time_unit)?;
    info.set_item("coord_unit", enc.coord_unit)?;
    let skipped = PyDict::new(py);
    for (k, n) in enc.skipped.iter().enumerate() {
        if *n > 0 {
            skipped.set_item(KIND_NAMES[k], n)?;
        }
    }
    info.set_item("skipped", skipped)?;
    info.set_item("natives_dropped", enc.natives_dropped)?;
    Ok((PyArray1::from_vec(py, enc.tokens), info))
}

/// Rebuild the event table (the reader's form) of a uint32 token array.
#[pyfunction]
pub fn tokens_decode<'py>(py: Python<'py>, tokens: PyReadonlyArray1<'py, u32>) -> PyResult<Bound<'py, PyDict>> {
    let toks: Vec<u32> = match tokens.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => tokens.as_array().to_vec(),
    };
    let out = py
        .detach(|| -> hidpack_core::Result<hidpack_core::wide::WideTable> {
            let t = tokens::decode(&toks)?;
            Ok(hidpack_core::wide::wide_of(t))
        })
        .map_err(to_py)?;
    convert::out_to_py(py, out)
}

/// The readable name of every id in `tokens` (for debugging).
#[pyfunction]
pub fn tokens_names<'py>(py: Python<'py>, tokens: PyReadonlyArray1<'py, u32>) -> PyResult<Bound<'py, PyList>> {
    let names: Vec<String> = tokens.as_array().iter().map(|&t| tokens::name(t)).collect();
    PyList::new(py, names)
}

/// {version, size, ranges: [(name, first id, count)], dt_bits, num_bits, step_radius}.
#[pyfunction]
pub fn tokens_vocab(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", tokens::VERSION)?;
    d.set_item("size", tokens::id::SIZE)?;
    d.set_item("ranges", tokens::RANGES.to_vec())?;
    d.set_item("dt_bits", tokens::DT_BITS)?;
    d.set_item("num_bits", tokens::NUM_BITS)?;
    d.set_item("step_radius", tokens::STEP_R)?;
    Ok(d)
}
