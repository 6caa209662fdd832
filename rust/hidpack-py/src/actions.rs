//! `_native.actions`: fixed-rate actions (hidpack_core::actions) as a dict of numpy arrays.
//! Coordinates leave in pixels (f64, exact: a stored unit is 1/65536 px and |x| <= 2^37 px).

use hidpack_core::actions::{bin_actions, ActionOptions, Actions, Bins};
use hidpack_core::model::coord_to_f64;
use hidpack_core::reader::ALL_KINDS;
use hidpack_core::Error;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_py;
use crate::{convert, threads_or_cpus, Reader};

fn px(v: &[i64]) -> Vec<f64> {
    v.iter().map(|&r| coord_to_f64(r)).collect()
}

/// Events of `reader` with t0 <= t < t1 (in `blocks`, if given) cut into bins: by `edges` (strictly increasing, one more
/// than bins) or by `fps` = (numerator, denominator) from `start` (default: the first event, or
/// t0) until `end` (exclusive; default: after the last event, or t1). Returns a dict of arrays,
/// documented in python/hidpack/actions.py.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (reader, *, edges=None, fps=None, start=None, end=None, t0=None, t1=None, blocks=None, lossless=false, threads=None))]
pub(crate) fn actions<'py>(
    py: Python<'py>,
    reader: PyRef<'py, Reader>,
    edges: Option<Vec<i64>>,
    fps: Option<(u64, u64)>,
    start: Option<i64>,
    end: Option<i64>,
    t0: Option<i64>,
    t1: Option<i64>,
    blocks: Option<Vec<usize>>,
    lossless: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let threads = threads_or_cpus(threads)?;
    // Every kind: the default fps range spans every event, and `before`/`after` count them all.
    let mask = ALL_KINDS;
    let inner = &reader.inner;
    let result = py
        .detach(|| -> hidpack_core::Result<(Actions, Option<hidpack_core::wide::WideTable>)> {
            let table = inner.read_threads(t0, t1, mask, blocks.as_deref(), threads)?;
            let bins = match (edges, fps) {
                (Some(e), None) => Bins::from_edges(e)?,
                (None, Some((num, den))) => {
                    let range = table.t_range();
                    let start = start.or(t0).or(range.map(|r| r.0));
                    let end = end.or(t1).or(range.map(|r| r.1 + 1));
                    let (Some(s), Some(e)) = (start, end) else {
                        return Err(Error::Usage("no events to bin: give start and end".into()));
                    };
                    Bins::rate(s, e, num, den)?
                }
                _ => return Err(Error::Usage("give exactly one of edges and fps".into())),
            };
            let a = bin_actions(&table, &bins, ActionOptions { lossless })?;
            let events = a.lossless.as_ref().map(|ll| {
                let binned = table.take(&ll.rows);
                hidpack_core::wide::wide_of(binned)
            });
            Ok((a, events))
        })
        .map_err(to_py);
    let (a, events) = crate::source::checked(reader.file.as_ref(), result)?;
    let d = PyDict::new(py);
    d.set_item("edges", PyArray1::from_vec(py, a.edges))?;
    d.set_item("before", a.before)?;
    d.set_item("after", a.after)?;
    d.set_item("start", a.start.map(|(x, y)| (coord_to_f64(x), coord_to_f64(y))))?;
    d.set_item("x", PyArray1::from_vec(py, px(&a.x)))?;
    d.set_item("y", PyArray1::from_vec(py, px(&a.y)))?;
    d.set_item("pos_known", PyArray1::from_vec(py, a.pos_known))?;
    d.set_item("dx", PyArray1::from_vec(py, px(&a.dx)))?;
    d.set_item("dy", PyArray1::from_vec(py, px(&a.dy)))?;
    d.set_item("moves", PyArray1::from_vec(py, a.moves))?;
    d.set_item("raw_dx", PyArray1::from_vec(py, px(&a.raw_dx)))?;
    d.set_item("raw_dy", PyArray1::from_vec(py, px(&a.raw_dy)))?;
    d.set_item("scroll_dx", PyArray1::from_vec(py, px(&a.scroll_dx)))?;
    d.set_item("scroll_dy", PyArray1::from_vec(py, px(&a.scroll_dy)))?;
    d.set_item("scrolls", PyArray1::from_vec(py, a.scrolls))?;
    d.set_item("held", PyArray1::from_vec(py, a.held))?;
    let b = PyDict::new(py);
    b.set_item("offsets", PyArray1::from_vec(py, a.buttons.offsets))?;
    b.set_item("dt", PyArray1::from_vec(py, a.buttons.dt))?;
    b.set_item("button", PyArray1::from_iter(py, a.buttons.rows.iter().map(|r| r.button)))?;
    b.set_item("pressed", PyArray1::from_iter(py, a.buttons.rows.iter().map(|r| r.pressed)))?;
    d.set_item("buttons", b)?;
    let k = PyDict::new(py);
    k.set_item("offsets", PyArray1::from_vec(py, a.keys.offsets))?;
    k.set_item("dt", PyArray1::from_vec(py, a.keys.dt))?;
    k.set_item("pressed", PyArray1::from_iter(py, a.keys.rows.iter().map(|r| r.pressed)))?;
    k.set_item("usage", PyArray1::from_iter(py, a.keys.rows.iter().map(|r| r.usage.unwrap_or(0))))?;
    k.set_item("usage_valid", PyArray1::from_iter(py, a.keys.rows.iter().map(|r| r.usage.is_some())))?;
    k.set_item("native", PyArray1::from_iter(py, a.keys.rows.iter().map(|r| r.native.unwrap_or(0))))?;
    k.set_item("native_valid", PyArray1::from_iter(py, a.keys.rows.iter().map(|r| r.native.is_some())))?;
    d.set_item("keys", k)?;
    d.set_item("text_offsets", PyArray1::from_vec(py, a.text_offsets))?;
    d.set_item("text_data", pyo3::types::PyBytes::new(py, &a.text_data))?;
    match (a.lossless, events) {
        (Some(ll), Some(events)) => {
            let e = PyDict::new(py);
            e.set_item("offsets", PyArray1::from_vec(py, ll.event_offsets))?;
            e.set_item("dt", PyArray1::from_vec(py, ll.dt))?;
            e.set_item("row", PyArray1::from_vec(py, ll.rows))?;
            e.set_item("table", convert::out_to_py(py, events)?)?;
            d.set_item("events", e)?;
        }
        _ => d.set_item("events", py.None())?,
    }
    Ok(d)
}
