//! Writing from Python: the `Writer` class (a file), `encode_table` (a whole table to bytes in
//! memory, for file objects and object stores), and `Prepared`, a table converted and validated
//! once (`prepare_table`) that any of them then writes without checking it again.
//!
//! Both writers take their options through one function, [`writer_options`], so the checks and
//! the defaults are the same wherever a table is written from.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Mutex;

use hidpack_core::{Writer as CoreWriter, WriterOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::convert;
use crate::errors::to_py;

/// The options that decide a file's bytes, as both writers take them (the Python signatures
/// and their defaults are declared once, in `_native.pyi`).
struct Format {
    metadata: String,
    wall_clock_ns: Option<i64>,
    level: i32,
    block_events: usize,
    block_span_ns: Option<i64>,
    binned: bool,
    clock_grid: Option<bool>,
}

impl Format {
    /// The core writer's options, checked.
    fn options(self) -> PyResult<WriterOptions> {
        let Format { metadata, wall_clock_ns, level, block_events, block_span_ns, binned, clock_grid } = self;
        if !(-7..=22).contains(&level) {
            return Err(PyValueError::new_err(format!("level must be within -7..=22, got {level}")));
        }
        if clock_grid == Some(true) && !binned {
            return Err(PyValueError::new_err(
                "clock_grid=True needs the BINNED encoding of format 1.3 or later; binned=False writes format 1.0",
            ));
        }
        let opts = WriterOptions { level, block_events, block_span_ns, metadata, wall_clock_ns, binned, ..Default::default() };
        // None: the core's default (one place decides it, WriterOptions::default)
        Ok(WriterOptions { clock_grid: clock_grid.or(opts.clock_grid), ..opts })
    }
}

/// A native write table (a dict, converted and validated here) or a [`Prepared`] one, as an
/// event table and whether it passed `EventTable::validate` already.
fn table_of(py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<(hidpack_core::EventTable, bool)> {
    if let Ok(p) = table.cast::<Prepared>() {
        let p = p.get();
        return Ok((p.take()?, p.validated));
    }
    Ok((prepare_table(py, table.cast::<PyDict>()?)?.take()?, true))
}

/// Append `t` to `w`. A table that passed `EventTable::validate` (made by `build_table`) is taken
/// as it is: no second validation, and no copy into the writer's open block.
fn write_to<W: std::io::Write>(w: &mut CoreWriter<W>, t: hidpack_core::EventTable, validated: bool) -> hidpack_core::Result<()> {
    if validated {
        w.write_validated(t)
    } else {
        w.write_table(&t)
    }
}

/// A whole table encoded as a hidpack file in memory: `(bytes, {events, blocks, bytes})`. The
/// table is a native write table or a [`Prepared`] one; nothing touches the file system.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (table, *, metadata="{}".to_string(), wall_clock_ns=None, level=3, block_events=65536, block_span_ns=None, binned=true, clock_grid=None))]
pub(crate) fn encode_table<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyAny>,
    metadata: String,
    wall_clock_ns: Option<i64>,
    level: i32,
    block_events: usize,
    block_span_ns: Option<i64>,
    binned: bool,
    clock_grid: Option<bool>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
    let opts = Format { metadata, wall_clock_ns, level, block_events, block_span_ns, binned, clock_grid }.options()?;
    let (t, validated) = table_of(py, table)?;
    let (bytes, stats) = py
        .detach(move || {
            let mut w = CoreWriter::new(Vec::new(), opts)?;
            write_to(&mut w, t, validated)?;
            w.into_parts()
        })
        .map_err(to_py)?;
    Ok((PyBytes::new(py, &bytes), stats_dict(py, stats)?))
}

/// Writes a hidpack file from event tables.
#[pyclass(module = "hidpack._native")]
pub(crate) struct Writer {
    inner: Mutex<Option<CoreWriter<BufWriter<File>>>>,
    path: String,
}

pub(crate) fn stats_dict<'py>(py: Python<'py>, s: hidpack_core::WriteStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("events", s.events)?;
    d.set_item("blocks", s.blocks)?;
    d.set_item("bytes", s.bytes)?;
    Ok(d)
}

impl Writer {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut CoreWriter<BufWriter<File>>) -> hidpack_core::Result<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut g = self.inner.lock().map_err(|_| hidpack_core::Error::Usage("writer lock poisoned".into()))?;
            let w = g.as_mut().ok_or_else(|| hidpack_core::Error::Usage(format!("writer for {} is closed", self.path)))?;
            f(w)
        })
        .map_err(to_py)
    }
}

#[pymethods]
impl Writer {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (path, *, metadata="{}".to_string(), wall_clock_ns=None, level=3, block_events=65536, block_span_ns=None, sync_on_close=false, binned=true, overwrite=false, atomic=false, clock_grid=None))]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        metadata: String,
        wall_clock_ns: Option<i64>,
        level: i32,
        block_events: usize,
        block_span_ns: Option<i64>,
        sync_on_close: bool,
        binned: bool,
        overwrite: bool,
        atomic: bool,
        clock_grid: Option<bool>,
    ) -> PyResult<Self> {
        let format = Format { metadata, wall_clock_ns, level, block_events, block_span_ns, binned, clock_grid };
        let opts = WriterOptions { sync_on_close, overwrite, atomic, ..format.options()? };
        let display = path.display().to_string();
        let w = py.detach(|| CoreWriter::create(&path, opts)).map_err(to_py)?;
        Ok(Writer { inner: Mutex::new(Some(w)), path: display })
    }

    /// Append the rows of an event table (dict of columns). On error nothing is written.
    /// A native write table (dict; converted and validated here) or a [`Prepared`] one.
    fn write_table(&self, py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<()> {
        let (t, validated) = table_of(py, table)?;
        self.with(py, move |w| write_to(w, t, validated))
    }

    /// Close the current block now.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |w| w.flush())
    }

    /// Close the file (index and seek table). Idempotent; returns {events, blocks, bytes}.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = py
            .detach(|| -> hidpack_core::Result<hidpack_core::WriteStats> {
                let mut g = self.inner.lock().map_err(|_| hidpack_core::Error::Usage("writer lock poisoned".into()))?;
                match g.take() {
                    Some(mut w) => w.close(),
                    None => Ok(hidpack_core::WriteStats::default()),
                }
            })
            .map_err(to_py)?;
        stats_dict(py, stats)
    }

    /// {events, blocks, bytes} so far.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with(py, |w| Ok(w.stats()))?;
        stats_dict(py, s)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

/// An event table converted from a native write table and validated (`prepare_table`), ready to
/// be written once: a caller can check a table before it creates the file it goes to.
#[pyclass(module = "hidpack._native", frozen)]
pub struct Prepared {
    table: Mutex<Option<hidpack_core::EventTable>>,
    rows: usize,
    /// The table passed `EventTable::validate` (made by `build_table`), so a writer need not
    /// check it again.
    validated: bool,
}

impl Prepared {
    /// A table whose validity a writer checks (a policy's output).
    pub(crate) fn new(t: hidpack_core::EventTable) -> Prepared {
        Prepared { rows: t.len(), table: Mutex::new(Some(t)), validated: false }
    }

    /// A table that passed `EventTable::validate`.
    pub(crate) fn validated(t: hidpack_core::EventTable) -> Prepared {
        Prepared { rows: t.len(), table: Mutex::new(Some(t)), validated: true }
    }

    /// The table, which a writer then owns (a second use is an error).
    pub fn take(&self) -> PyResult<hidpack_core::EventTable> {
        let mut g = self.table.lock().map_err(|_| PyValueError::new_err("prepared table lock poisoned"))?;
        g.take().ok_or_else(|| PyValueError::new_err("this prepared table was already written"))
    }
}

#[pymethods]
impl Prepared {
    fn __len__(&self) -> usize {
        self.rows
    }
}

/// Convert and validate a native write table (the GIL released), as `Writer.write_table` does.
#[pyfunction]
pub(crate) fn prepare_table(py: Python<'_>, table: &Bound<'_, PyDict>) -> PyResult<Prepared> {
    let cols = convert::Columns::of(table)?;
    let t = if cols.rows() <= convert::BORROW_ROWS {
        // from the arrays' own memory, which needs the GIL held (see convert::BORROW_ROWS)
        convert::build_table(cols.raw())
    } else {
        let raw = cols.raw().into_owned();
        py.detach(|| convert::build_table(raw))
    };
    Ok(Prepared::validated(t.map_err(to_py)?))
}
