//! `hidpack._native`: the private pyo3 module over `hidpack-core`.
//!
//! Thin by design: it copies columns in and out, releases the GIL around everything that costs
//! time (`py.detach`), and maps errors in one place (`errors::to_py`). The public Python API is
//! in `python/hidpack/`; the contract of this module is `docs/ARCHITECTURE.md`.

mod actions;
mod convert;
mod errors;
mod policy;
mod recorder;
mod source;
mod tokens;
mod writer;

/// mimalloc for every Rust allocation of the extension (see Cargo.toml for why, and why v2).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_t` (mimalloc.h; the Rust bindings name no
/// constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long freed memory stays with mimalloc before it goes back to the OS, in ms (mimalloc's
/// default: 10). A read frees its blocks' tables as it goes and allocates the next file's: with
/// 10 ms, that memory was returned and faulted in again over and over. A balabit session table in
/// the harness's full mode decoded at 24 M ev/s with 10 ms and 34 with 1 s; the price is that a
/// process keeps its last second's peak for a second.
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Sets mimalloc's options for this extension (once, at module init).
fn tune_allocator() {
    // SAFETY: `mi_option_set` stores one integer in mimalloc's option table; it is not thread safe,
    // so it runs only here, at module init, under the GIL, before this extension starts a thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

use std::sync::{Arc, Mutex};

pub(crate) use writer::Prepared;

use hidpack_core::model::{Kind, ALL_FIELDS, KIND_NAMES};
use hidpack_core::reader::{Layout, Problem, Source};
use hidpack_core::Reader as CoreReader;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::errors::to_py;

/// Reads a hidpack recording: a file, bytes in memory or a binary file object (source.rs).
#[pyclass(module = "hidpack._native", frozen)]
pub(crate) struct Reader {
    pub(crate) inner: CoreReader<Box<dyn Source>>,
    /// The file object read, when it is one: its failures are raised by the call that met them.
    pub(crate) file: Option<Arc<source::FileObject>>,
}

fn problem_dict<'py>(py: Python<'py>, p: &Problem) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("offset", p.offset)?;
    d.set_item("length", p.length)?;
    d.set_item("error", &p.error)?;
    d.set_item("events_lost", p.events_lost)?;
    Ok(d)
}

#[pymethods]
impl Reader {
    /// `source`: a path, a uint8 numpy array or a binary file object; `name` names a source
    /// that is not a path in messages.
    #[new]
    #[pyo3(signature = (source, *, name=None))]
    fn new(py: Python<'_>, source: &Bound<'_, PyAny>, name: Option<String>) -> PyResult<Self> {
        let given = crate::source::Given::of(py, source, name.as_deref().unwrap_or("the file object"))?;
        let file = given.file_object();
        let opened = py.detach(|| given.open()).map_err(to_py);
        let inner = crate::source::checked(file.as_ref(), opened)?;
        Ok(Reader { inner, file })
    }

    /// {"version", "flags", "wall_clock_ns", "metadata" (JSON text), "created_by", "layout", "file_size"}
    #[getter]
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.inner.header();
        let d = PyDict::new(py);
        d.set_item("version", format!("{}.{}", h.major, h.minor))?;
        d.set_item("flags", h.optional_features)?;
        d.set_item("wall_clock_ns", h.wall_clock_ns)?;
        d.set_item("metadata", &h.metadata)?;
        d.set_item("created_by", &h.created_by)?;
        d.set_item("layout", if self.inner.layout() == Layout::Index { "index" } else { "scanned" })?;
        d.set_item("file_size", self.inner.file_len())?;
        d.set_item("footer_error", self.inner.footer_error())?;
        match self.inner.tail() {
            Some(t) => {
                let td = PyDict::new(py);
                td.set_item("path", t.path.clone())?;
                td.set_item("blocks", t.blocks)?;
                td.set_item("events", t.events)?;
                td.set_item("duplicate_events", t.duplicate_events)?;
                d.set_item("tail", td)?;
            }
            None => d.set_item("tail", py.None())?,
        }
        Ok(d)
    }

    /// One dict per block: index, offset, length, raw_length, first_event, t_min, t_max, events, counts.
    fn blocks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (i, b) in self.inner.blocks().iter().enumerate() {
            let d = PyDict::new(py);
            d.set_item("index", i)?;
            d.set_item("offset", b.offset)?;
            d.set_item("length", b.length)?;
            d.set_item("raw_length", b.raw_len)?;
            d.set_item("first_event", b.first_event)?;
            d.set_item("t_min", b.t_min)?;
            d.set_item("t_max", b.t_max)?;
            d.set_item("events", b.events)?;
            let c = PyDict::new(py);
            for (k, n) in b.counts.iter().enumerate() {
                c.set_item(KIND_NAMES[k], n)?;
            }
            d.set_item("counts", c)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Events with t0 <= t < t1 of the given kinds as an event table (see ARCHITECTURE.md).
    /// `fields`: only these fields' columns (with `t` and `kind`); None: every field of `kinds`.
    /// `threads`: blocks decoded at once (None: one per CPU; 1: on the calling thread only).
    /// `layout="pandas"`: a DataFrame's columns instead (`hidpack_core::wide::Layout::Frame`, every
    /// field nullable: coordinates NaN where absent, `<field>_mask` true where absent, no column
    /// for a field absent on every row).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, t0=None, t1=None, kinds=None, blocks=None, fields=None, threads=None, layout="table"))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        t0: Option<i64>,
        t1: Option<i64>,
        kinds: Option<Vec<String>>,
        blocks: Option<Vec<usize>>,
        fields: Option<Vec<String>>,
        threads: Option<usize>,
        layout: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mask = convert::kinds_to_mask(kinds)?;
        let fields = convert::fields_to_mask(fields)?;
        let threads = threads_or_cpus(threads)?;
        let layout = convert::layout_from_name(layout)?;
        let out = py
            .detach(|| {
                let q = hidpack_core::wide::WideQuery { t0, t1, kinds: mask, fields, blocks: blocks.as_deref(), threads, layout };
                hidpack_core::wide::read_wide(&self.inner, &q)
            })
            .map_err(to_py);
        let out = source::checked(self.file.as_ref(), out)?;
        convert::out_to_py(py, out)
    }

    /// The events of one kind with t0 <= t < t1, as that kind's own columns (narrow read, no
    /// `kind` column): `t`, then each field of the kind (only `fields` if given; each must be
    /// one of the kind's), strings as `_offsets` / `_data`, and `<field>_valid` only for a
    /// field absent on some row (never for a required one). Blocks and threads as in `read`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (kind, *, t0=None, t1=None, blocks=None, fields=None, threads=None))]
    fn read_kind<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        t0: Option<i64>,
        t1: Option<i64>,
        blocks: Option<Vec<usize>>,
        fields: Option<Vec<String>>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let kind = convert::kind_from_name(kind)?;
        let fields = convert::kind_fields_to_mask(kind, fields)?;
        let threads = threads_or_cpus(threads)?;
        let out = py
            .detach(|| {
                let k = hidpack_core::narrow::read_kind_in_pixels(&self.inner, t0, t1, kind, fields, blocks.as_deref(), threads)?;
                Ok::<_, hidpack_core::Error>(convert::kind_out(k))
            })
            .map_err(to_py);
        let out = source::checked(self.file.as_ref(), out)?;
        convert::out_to_py(py, out)
    }

    /// Where the bytes go: the column chunks of every readable block, summed per (kind, field,
    /// encoding, predictor), largest first: [{kind, field, encoding, predictor, chunks, bytes}].
    /// Sizes are before zstd; `kind` is None for the segment's `t` and `kind` columns.
    fn chunks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        use std::collections::BTreeMap;
        let n = self.inner.blocks().len();
        let sums = py.detach(|| {
            // (kind, field, encoding, predictor) -> (chunks, bytes)
            type Key = (Option<u8>, u8, u8, Option<u8>);
            let mut sums: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
            for i in 0..n {
                // a block that fails its checks is left out (problems() reports it)
                for c in self.inner.block_chunks(i).unwrap_or_default() {
                    let e = sums.entry((c.kind, c.field, c.encoding, c.predictor)).or_default();
                    e.0 += 1;
                    e.1 += c.bytes as u64;
                }
            }
            sums
        });
        source::checked(self.file.as_ref(), Ok(()))?;
        let mut rows: Vec<_> = sums.into_iter().collect();
        rows.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
        let list = PyList::empty(py);
        for ((kind, field, encoding, predictor), (chunks, bytes)) in rows {
            let d = PyDict::new(py);
            d.set_item("kind", kind.map(|k| Kind::from_code(k).map_or_else(|| format!("kind {k}"), |k| k.name().to_string())))?;
            let fname = match field {
                hidpack_core::codec::FIELD_T => "t".to_string(),
                hidpack_core::codec::FIELD_KIND => "kind".to_string(),
                f if (f as usize) < ALL_FIELDS.len() => ALL_FIELDS[f as usize].name().to_string(),
                f => format!("field {f}"),
            };
            d.set_item("field", fname)?;
            let ename = match encoding {
                0 => "CONST",
                1 => "VARINT",
                2 => "DELTA",
                3 => "DELTA_GCD",
                4 => "RLE",
                5 => "BINNED",
                6 => "PREDICTED",
                8 => "BOOL_BITMAP",
                9 => "BOOL_CONST",
                16 => "STR_PLAIN",
                17 => "STR_DICT",
                _ => "unknown",
            };
            d.set_item("encoding", ename)?;
            let pname = predictor.map(|p| match (encoding, p) {
                (6, 0) => "from native".to_string(),
                (6, 1) => "from the last move".to_string(),
                (6, 2) => "from the key's state".to_string(),
                (6, p) => format!("source {p}"),
                (_, 0..=3) => format!("order {p}"),
                (_, 4) => "move-to-front".to_string(),
                (_, 5) => "xor".to_string(),
                (_, 6) => "split".to_string(),
                (_, 7) => "clock grid".to_string(),
                (_, 8) => "signed steps".to_string(),
                (_, 9) => "clock grid, sparse residues".to_string(),
                (_, p) => format!("predictor {p}"),
            });
            d.set_item("predictor", pname)?;
            d.set_item("chunks", chunks)?;
            d.set_item("bytes", bytes)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Everything skipped so far: [{offset, length, error, events_lost}].
    fn problems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for p in self.inner.problems() {
            list.append(problem_dict(py, &p)?)?;
        }
        Ok(list)
    }

    /// Decode and check every block: {ok, blocks, events, problems}.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let rep = py.detach(|| self.inner.verify());
        source::checked(self.file.as_ref(), Ok(()))?;
        let d = PyDict::new(py);
        d.set_item("ok", rep.ok)?;
        d.set_item("blocks", rep.blocks)?;
        d.set_item("events", rep.events)?;
        let list = PyList::empty(py);
        for p in &rep.problems {
            list.append(problem_dict(py, p)?)?;
        }
        d.set_item("problems", list)?;
        Ok(d)
    }

    /// Total events per kind name (from the block records).
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, n) in self.inner.counts().iter().enumerate() {
            d.set_item(KIND_NAMES[k], n)?;
        }
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.inner.event_count() as usize
    }
}

/// Files from which a `read_many` counts its rows before reading (see there).
const COUNT_FIRST_FILES: usize = 256;

/// The events of many files as one table, with a `file` column (uint32: the index of each row's
/// file in `paths`). Returns (table, events per file, wall clock per file, skipped): `skipped` lists, under
/// `errors="skip"`, each file that could not be opened and each block that could not be read,
/// as {file, whole_file, offset, length, error, events_lost}. Under `errors="raise"` the first
/// problem in path order raises, its message starting with the file's path.
/// An item of `paths` may also be a uint8 numpy array or a binary file object (as `Reader`
/// takes them; opened on the reading threads when its turn comes), named in messages by the
/// same item of `names`. `layout="pandas"`: the table holds a DataFrame's columns instead
/// (`hidpack_core::wide::Layout::Frame`: coordinates NaN where absent, `<field>_mask` true where
/// absent, no column for a field absent on every row).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pyfunction]
#[pyo3(signature = (paths, *, t0=None, t1=None, kinds=None, fields=None, threads=None, errors="raise", names=None, layout="table"))]
fn read_many<'py>(
    py: Python<'py>,
    paths: Vec<Bound<'py, PyAny>>,
    t0: Option<i64>,
    t1: Option<i64>,
    kinds: Option<Vec<String>>,
    fields: Option<Vec<String>>,
    threads: Option<usize>,
    errors: &str,
    names: Option<Vec<String>>,
    layout: &str,
) -> PyResult<(Bound<'py, PyDict>, Vec<u64>, Vec<Option<i64>>, Bound<'py, PyList>)> {
    use hidpack_core::many::{Count, ManyOptions, OnProblem};
    let items = paths.iter().map(source::Item::of).collect::<PyResult<Vec<_>>>()?;
    let labels: Vec<std::path::PathBuf> = items
        .iter()
        .enumerate()
        .map(|(j, it)| match (it, names.as_ref().and_then(|n| n.get(j))) {
            (source::Item::Path(p), _) => p.clone(),
            (_, Some(n)) => n.into(),
            (_, None) => format!("source {j}").into(),
        })
        .collect();
    let failures: Arc<source::Failures> = Arc::new(Mutex::new(Vec::new()));
    let kinds = convert::kinds_to_mask(kinds)?;
    let fields = convert::fields_to_mask(fields)?;
    let threads = threads_or_cpus(threads)?;
    let on_problem = match errors {
        "raise" => OnProblem::Raise,
        "skip" => OnProblem::Skip,
        other => return Err(PyValueError::new_err(format!("errors must be 'raise' or 'skip', got {other:?}"))),
    };
    let frame = convert::layout_from_name(layout)? == hidpack_core::wide::Layout::Frame;
    let opts = ManyOptions { t0, t1, kinds, threads, on_problem };
    let result = py
        .detach(|| {
            let mut out = hidpack_core::wide::Gather::new(kinds, fields, true);
            if frame {
                out = out.frame(kinds);
            }
            // Rows are counted first from the files' indexes (file objects are not opened twice
            // for it: they count 0) for a frame (its columns are made once, at full size) and
            // for many files; a table of a few files does without (see `gather_many`).
            // (a small file's reader is kept, over its bytes, for the read: not opened twice)
            let count = |j: usize| match &items[j] {
                source::Item::Path(p) => match hidpack_core::Reader::open_for_events(p) {
                    Ok(r) => (Count::of(&r, &opts), r.into_memory()),
                    Err(_) => (Count::default(), None),
                },
                source::Item::Object(_) => (Count::default(), None),
            };
            type Counted = hidpack_core::many::Counted<Box<dyn hidpack_core::reader::Source>>;
            let count = (frame || items.len() >= COUNT_FIRST_FILES).then_some(&count as &(dyn Fn(usize) -> Counted + Sync));
            let open = |j: usize| items[j].open(j, &labels[j], &failures);
            let (out, events, m) = hidpack_core::many::gather_many(items.len(), open, count, opts, out)?;
            Ok((out, events, m.wall_clock_ns, m.skipped))
        })
        .map_err(|e: hidpack_core::many::ManyError| (e.file, errors::in_file(e.error, e.file, &labels[e.file])));
    // A file object's own exception goes before the core's report of it (under "raise"; under
    // "skip" the problems list what failed).
    let first_failure = failures.lock().unwrap_or_else(|p| p.into_inner()).drain(..).min_by_key(|f| f.0);
    let (out, events, walls, skipped) = match (result, first_failure) {
        (Err((j, _)), Some((k, e))) if k <= j => return Err(errors::with_file(py, e, k, &labels[k])),
        (Err((_, e)), _) => return Err(e),
        (Ok(r), Some((k, e))) if on_problem == OnProblem::Raise => {
            drop(r);
            return Err(errors::with_file(py, e, k, &labels[k]));
        }
        (Ok(r), _) => r,
    };
    let list = PyList::empty(py);
    for s in &skipped {
        let d = problem_dict(py, &s.problem)?;
        d.set_item("file", s.file)?;
        d.set_item("whole_file", s.whole_file)?;
        list.append(d)?;
    }
    Ok((convert::out_to_py(py, out)?, events, walls, list))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tune_allocator();
    let py = m.py();
    errors::register(m)?;
    m.add_class::<writer::Writer>()?;
    m.add_class::<Reader>()?;
    m.add_class::<recorder::Recorder>()?;
    m.add_function(wrap_pyfunction!(read_many, m)?)?;
    m.add_function(wrap_pyfunction!(actions::actions, m)?)?;
    m.add_class::<writer::Prepared>()?;
    m.add_class::<policy::Policy>()?;
    m.add_class::<policy::PolicySession>()?;
    m.add_function(wrap_pyfunction!(policy::key_class, m)?)?;
    m.add_function(wrap_pyfunction!(writer::prepare_table, m)?)?;
    m.add_function(wrap_pyfunction!(writer::encode_table, m)?)?;
    m.add_function(wrap_pyfunction!(recorder::now, m)?)?;
    m.add_function(wrap_pyfunction!(recorder::recover, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::tokens_encode, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::tokens_decode, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::tokens_names, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::tokens_vocab, m)?)?;
    m.add("KINDS", PyTuple::new(py, KIND_NAMES)?)?;
    m.add("FORMAT_VERSION", hidpack_core::frame::FORMAT_MAJOR)?;
    m.add("READ_MANY_COUNT_FILES", COUNT_FIRST_FILES)?;
    // (name, type, kinds where required, kinds where optional)
    let mut fields = Vec::new();
    for f in ALL_FIELDS {
        let ty = match f.ty() {
            hidpack_core::model::FieldType::Coord => "coord",
            hidpack_core::model::FieldType::Int { .. } => "int",
            hidpack_core::model::FieldType::Bool => "bool",
            hidpack_core::model::FieldType::Str => "str",
        };
        let mut req = Vec::new();
        let mut opt = Vec::new();
        for k in Kind::ALL {
            for s in k.fields() {
                if s.field == f {
                    if s.required { req.push(k as u8) } else { opt.push(k as u8) }
                }
            }
        }
        fields.push((f.name(), ty, PyTuple::new(py, req)?, PyTuple::new(py, opt)?).into_pyobject(py)?);
    }
    m.add("FIELDS", PyTuple::new(py, fields)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// A `threads` argument: at least 1, or None for one per CPU.
fn threads_or_cpus(threads: Option<usize>) -> PyResult<usize> {
    match threads {
        Some(0) => Err(PyValueError::new_err("threads must be at least 1 (or None: one per CPU)")),
        Some(n) => Ok(n),
        None => Ok(cpus()),
    }
}

/// CPUs this process may use, found once (`available_parallelism` reads the cgroup quota files on
/// every call: 30 µs, a third of reading a short file).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
