//! `hidpack._native.Recorder`: the capture engine for Python.
//!
//! Each per-event method converts its arguments, builds the event on the stack and pushes it;
//! the GIL is held only for that (a push never blocks, so releasing the GIL would cost more than
//! it saves). `extend`, `flush`, `close` and the rest release it.

use std::sync::Mutex;

use hidpack_core::capture::{now_ns, Clock, Producer, Recorder as CoreRecorder, RecorderOptions, Stats};
use hidpack_core::model::coord_from_f64;
use hidpack_core::{Event, SyncPolicy, WriterOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert;
use crate::errors::to_py;

/// Records events to a hidpack file from any number of threads (see `hidpack.Recorder`).
#[pyclass(module = "hidpack._native", frozen, subclass)]
pub struct Recorder {
    producer: Producer,
    inner: Mutex<CoreRecorder>,
    path: String,
}

#[inline]
fn coord(v: f64, field: &'static str) -> PyResult<i64> {
    coord_from_f64(v, field, None).map_err(to_py)
}

#[inline]
fn pos(x: Option<f64>, y: Option<f64>) -> PyResult<Option<(i64, i64)>> {
    match (x, y) {
        (Some(x), Some(y)) => Ok(Some((coord(x, "x")?, coord(y, "y")?))),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err("give both x and y, or neither")),
    }
}

fn stats_dict<'py>(py: Python<'py>, s: Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pushed", s.pushed)?;
    d.set_item("dropped", s.dropped)?;
    d.set_item("paused", s.paused)?;
    d.set_item("written", s.written)?;
    d.set_item("gaps", s.gaps)?;
    d.set_item("lost", s.lost)?;
    d.set_item("redacted", s.redacted)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("blocks", s.blocks)?;
    d.set_item("files", s.files)?;
    d.set_item("ring_high_water", s.ring_high_water)?;
    d.set_item("ring_capacity", s.ring_capacity)?;
    Ok(d)
}

impl Recorder {
    #[inline]
    fn push(&self, t: Option<i64>, ev: &Event) -> PyResult<bool> {
        self.producer.push(t, ev).map_err(to_py)
    }
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut CoreRecorder) -> hidpack_core::Result<T> + Send) -> PyResult<T> {
        py.detach(|| {
            let mut g = self.inner.lock().map_err(|_| hidpack_core::Error::Usage("recorder lock poisoned".into()))?;
            f(&mut g)
        })
        .map_err(to_py)
    }
}

#[pymethods]
impl Recorder {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (path, *, flush_interval=1.0, ring_capacity=65536, level=3, block_events=65536,
        block_span=None, metadata="{}".to_string(), clock="monotonic", sync="interval", tail=true,
        rotate_every=None, rotate_bytes=None, on_close=None, wall_clock_ns=None, max_batch_backlog=4194304,
        clock_every=60.0, policy=None, overwrite=false, _writer_delay=None))]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        flush_interval: f64,
        ring_capacity: usize,
        level: i32,
        block_events: usize,
        block_span: Option<f64>,
        metadata: String,
        clock: &str,
        sync: &str,
        tail: bool,
        rotate_every: Option<f64>,
        rotate_bytes: Option<u64>,
        on_close: Option<Py<PyAny>>,
        wall_clock_ns: Option<i64>,
        max_batch_backlog: usize,
        clock_every: f64,
        policy: Option<PyRef<'_, crate::policy::Policy>>,
        overwrite: bool,
        _writer_delay: Option<f64>,
    ) -> PyResult<Self> {
        let secs = |v: f64, what: &str| -> PyResult<i64> {
            if !(v.is_finite() && v > 0.0 && v < 1e9) {
                return Err(PyValueError::new_err(format!("{what} must be a positive number of seconds, got {v}")));
            }
            Ok((v * 1e9).round() as i64)
        };
        if !(-7..=22).contains(&level) {
            return Err(PyValueError::new_err(format!("level must be within -7..=22, got {level}")));
        }
        let clock = match clock {
            "monotonic" => Clock::Monotonic,
            "event" => Clock::Event,
            other => return Err(PyValueError::new_err(format!("clock must be 'monotonic' or 'event', got {other:?}"))),
        };
        let sync = SyncPolicy::from_name(sync).ok_or_else(|| {
            PyValueError::new_err(format!("sync must be 'never', 'block' or 'interval', got {sync:?}"))
        })?;
        let on_close: Option<hidpack_core::capture::OnClose> = on_close.map(|cb| {
            Box::new(move |p: &std::path::Path| {
                Python::attach(|py| {
                    if let Err(e) = cb.call1(py, (p.to_path_buf(),)) {
                        e.write_unraisable(py, Some(cb.bind(py)));
                    }
                })
            }) as hidpack_core::capture::OnClose
        });
        let opts = RecorderOptions {
            writer: WriterOptions {
                level,
                block_events,
                block_span_ns: block_span.map(|s| secs(s, "block_span")).transpose()?,
                metadata,
                wall_clock_ns,
                sync_on_close: false,
                sync,
                binned: true,
                overwrite,
                atomic: false,
                minor: hidpack_core::frame::FORMAT_MINOR,
                clock_grid: Some(false),
            },
            flush_interval_ns: secs(flush_interval, "flush_interval")?,
            ring_capacity,
            clock,
            tail,
            rotate_every_ns: rotate_every.map(|s| secs(s, "rotate_every")).transpose()?,
            rotate_bytes,
            max_batch_backlog,
            on_close,
            writer_delay: _writer_delay.map(std::time::Duration::from_secs_f64),
            clock_every_ns: secs(clock_every, "clock_every")?,
            wall_now: None,
            policy: policy.map(|p| p.inner.clone()),
        };
        let display = path.display().to_string();
        let rec = py.detach(|| CoreRecorder::create(&path, opts)).map_err(to_py)?;
        Ok(Recorder { producer: rec.producer(), inner: Mutex::new(rec), path: display })
    }

    /// Pointer position (pixels; fractional allowed on the 1/65536 grid). True if recorded,
    /// False if dropped (ring full) or withheld (paused); both are counted.
    #[pyo3(signature = (x, y, t=None, buttons=None))]
    fn r#move(&self, x: f64, y: f64, t: Option<i64>, buttons: Option<u32>) -> PyResult<bool> {
        self.push(t, &Event::Move { x: coord(x, "x")?, y: coord(y, "y")?, buttons })
    }

    #[pyo3(signature = (dx, dy, t=None))]
    fn raw_move(&self, dx: f64, dy: f64, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::RawMove { dx: coord(dx, "dx")?, dy: coord(dy, "dy")? })
    }

    #[pyo3(signature = (button, pressed, x=None, y=None, t=None))]
    fn button(&self, button: u8, pressed: bool, x: Option<f64>, y: Option<f64>, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::Button { button, pressed, pos: pos(x, y)? })
    }

    #[pyo3(signature = (dx, dy, x=None, y=None, t=None))]
    fn scroll(&self, dx: f64, dy: f64, x: Option<f64>, y: Option<f64>, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::Scroll { dx: coord(dx, "dx")?, dy: coord(dy, "dy")?, pos: pos(x, y)? })
    }

    #[pyo3(signature = (usage, pressed, native=None, t=None))]
    fn key(&self, usage: Option<u16>, pressed: bool, native: Option<u32>, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::Key { pressed, usage, native })
    }

    #[pyo3(signature = (text, t=None))]
    fn text(&self, text: String, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::Text { text })
    }

    #[pyo3(signature = (app=None, title=None, window=None, rect=None, t=None))]
    fn focus(&self, app: Option<String>, title: Option<String>, window: Option<i64>, rect: Option<(i32, i32, i32, i32)>, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::Focus { app, title, window, rect: rect.map(|r| [r.0, r.1, r.2, r.3]) })
    }

    #[pyo3(signature = (label, value=None, t=None))]
    fn marker(&self, label: String, value: Option<i64>, t: Option<i64>) -> PyResult<bool> {
        self.push(t, &Event::Marker { label, value })
    }

    /// A `gap`: `count` events not recorded between `t` and `t_end` for `reason` (0 unknown,
    /// 1 dropped, 2 paused, 3 redacted). The recorder writes its own drop and pause gaps; this
    /// is for losses and redactions upstream of it.
    #[pyo3(signature = (count, reason, t_end=None, t=None))]
    fn gap(&self, count: u64, reason: u8, t_end: Option<i64>, t: Option<i64>) -> PyResult<bool> {
        let t_end = t_end.map(|e| self.producer.file_time_of(e));
        self.push(t, &Event::Gap { count, reason, t_end })
    }

    /// Append a whole event table (dict of numpy columns, as `hidpack.write_table` takes), in
    /// order with the single pushes; the GIL is released while it is converted and queued.
    /// Or a `Prepared` table (converted and validated already).
    fn _extend_table(&self, py: Python<'_>, table: &Bound<'_, PyAny>) -> PyResult<()> {
        let table = match table.cast::<crate::Prepared>() {
            Ok(p) => p.get().take()?,
            Err(_) => {
                let raw = convert::extract_table(table.cast::<PyDict>()?)?;
                py.detach(|| convert::build_table(raw)).map_err(to_py)?
            }
        };
        // build_table validated it. extend needs only &CoreRecorder; the lock is held to reach it.
        self.with(py, move |r| r.extend_validated(table))
    }

    #[pyo3(signature = (t=None))]
    fn pause(&self, py: Python<'_>, t: Option<i64>) -> PyResult<()> {
        self.with(py, |r| r.pause(t))
    }

    #[pyo3(signature = (t=None))]
    fn resume(&self, py: Python<'_>, t: Option<i64>) -> PyResult<()> {
        self.with(py, |r| r.resume(t))
    }

    #[getter]
    fn paused(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |r| Ok(r.is_paused()))
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |r| Ok(r.is_closed()))
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Wait until everything pushed so far is checkpointed (survives a crash of this process).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |r| r.flush())
    }

    /// Counters (see `hidpack.Recorder.stats`), and `error`: the write error that stopped the
    /// recorder, or None.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, e) = self.with(py, |r| Ok((r.stats(), r.error())))?;
        let d = stats_dict(py, s)?;
        d.set_item("error", e)?;
        Ok(d)
    }

    /// What the privacy policy withheld and transformed so far (None without a policy):
    /// `{"withheld": {"key", "text", "title"}, "transformed": {"key_classes", "titles_hashed"}}`.
    fn policy_report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let c = self.with(py, |r| Ok(r.policy_counts()))?;
        c.map(|c| crate::policy::report_dict(py, &c)).transpose()
    }

    /// The policy in force, as the header describes it (JSON text), or None.
    #[getter]
    fn policy(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with(py, |r| Ok(r.policy().map(|p| p.describe().to_string())))
    }

    /// The file-relative time of a `hidpack.now()` value.
    fn file_time(&self, py: Python<'_>, t: i64) -> PyResult<i64> {
        self.with(py, |r| Ok(r.file_time(t)))
    }

    /// Write everything pushed so far and close the file(s). Idempotent; returns stats().
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with(py, |r| r.close())?;
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

impl Drop for Recorder {
    fn drop(&mut self) {
        // A recorder garbage-collected without close(): close it, without the GIL, since the
        // encoder thread may need the GIL for an on_close callback.
        Python::attach(|py| {
            py.detach(|| {
                if let Ok(mut r) = self.inner.lock() {
                    let _ = r.close();
                }
            })
        });
    }
}

/// Nanoseconds on the recorder clock (monotonic, since a process-wide anchor).
#[pyfunction]
pub fn now() -> i64 {
    now_ns()
}

/// Rewrite `src` (a file, with its write-ahead tail if any, torn or damaged) as a clean,
/// complete file `dst` (atomically; an existing `dst` other than `src` only with `overwrite`).
/// Returns {events, blocks_read, tail_events, events_lost, problems, tail_moved_to}.
#[pyfunction]
#[pyo3(signature = (src, dst, *, overwrite=false))]
pub fn recover<'py>(py: Python<'py>, src: std::path::PathBuf, dst: std::path::PathBuf, overwrite: bool) -> PyResult<Bound<'py, PyDict>> {
    let rep = py.detach(|| hidpack_core::recover::recover(&src, &dst, overwrite)).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("events", rep.events)?;
    d.set_item("blocks_read", rep.blocks_read)?;
    d.set_item("tail_events", rep.tail_events)?;
    d.set_item("events_lost", rep.events_lost)?;
    d.set_item("problems", rep.problems)?;
    d.set_item("tail_moved_to", rep.tail_moved_to)?;
    Ok(d)
}
