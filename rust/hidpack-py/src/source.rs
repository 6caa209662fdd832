//! Where a `Reader` reads from, as Python gives it: a path, bytes in memory, or a binary file
//! object (a local file opened `"rb"`, `io.BytesIO`, an fsspec file of an object store).
//!
//! * A path opens the file as [`CoreReader::open`] does, with its write-ahead tail.
//! * Bytes come as a one-dimensional uint8 numpy array (`hidpack.recording` makes one over any
//!   buffer with `numpy.frombuffer`, which copies nothing). A read-only array is read in place:
//!   it is held, and so is the buffer under it, for the reader's life. A writable one (over a
//!   `bytearray`, a writable `memoryview` or array) is copied once at open, so the reader reads
//!   a snapshot and a later change to the buffer cannot reach a read in progress.
//! * A file object is read by ranges, with its `seek` and `read`, under the GIL, one range at a
//!   time (a lock keeps another reading thread from moving the position between the two calls).
//!   Its length is `seek(0, 2)` at open; an object of at most [`FileSource::WHOLE`] bytes is read
//!   whole then (one round trip instead of the five an open and a read take), a larger one never
//!   is. The reader checks every length it reads against that length before it allocates, as it
//!   does a file's. Whatever goes wrong in the object (it raises, returns short reads, returns
//!   text) fails that range; the first failure is kept ([`FileObject::failure`]) and raised by
//!   the call that met it, in place of the core's error, so a read never returns with a block
//!   silently missing because a network read failed.
//!
//! Lock order: a thread takes the range lock without the GIL, then the GIL, never the reverse (the
//! bindings call every reader operation with the GIL released), so an object whose `read`
//! releases the GIL cannot deadlock two reading threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hidpack_core::reader::{FileSource, MemorySource, Source};
use hidpack_core::Reader as CoreReader;
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

/// The bytes of a read-only uint8 numpy array, held.
struct HeldArray {
    array: Py<PyArray1<u8>>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: `ptr` points into the array's data, which lives as long as `array` (held here) and is
// never written: the array is read-only (checked in `HeldArray::new`), and the GIL is not needed
// to read plain memory. `array` itself is only touched (dropped) through pyo3, which takes the GIL.
unsafe impl Send for HeldArray {}
unsafe impl Sync for HeldArray {}

impl HeldArray {
    /// The array's bytes, held in place when it is read-only and contiguous, else copied.
    fn source(array: &Bound<'_, PyArray1<u8>>) -> PyResult<Box<dyn Source>> {
        let writeable: bool = array.getattr("flags")?.getattr("writeable")?.extract()?;
        let len = array.len();
        if writeable || !array.is_contiguous() || len == 0 {
            // a snapshot: the caller may go on changing its buffer
            return Ok(Box::new(array.to_vec().unwrap_or_else(|_| array.to_owned_array().to_vec())));
        }
        Ok(Box::new(MemorySource(HeldArray { array: array.clone().unbind(), ptr: array.data(), len })))
    }
}

impl AsRef<[u8]> for HeldArray {
    fn as_ref(&self) -> &[u8] {
        let _ = &self.array;
        // SAFETY: see the `Send` impl: `len` bytes at `ptr`, contiguous (checked), alive and
        // unchanged while `self.array` is held; `len > 0`, so `ptr` is not null.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A binary file object read by ranges (see the module docs).
pub struct FileObject {
    obj: Py<PyAny>,
    name: String,
    len: u64,
    /// The whole object, read at open when it is small.
    whole: Option<Vec<u8>>,
    /// Held across one `seek` + `read` pair.
    range: Mutex<()>,
    /// The first thing that went wrong in the object, not yet raised.
    failed: Mutex<Option<PyErr>>,
    /// Where failures go instead, with this object's index (a `read_many` of many objects).
    report_to: Option<(usize, Arc<Failures>)>,
}

/// Failures of the file objects of a `read_many`: (index, error).
pub type Failures = Mutex<Vec<(usize, PyErr)>>;

impl FileObject {
    /// `obj` (which has `seek` and `read`), its length found with `seek(0, 2)`.
    fn open(py: Python<'_>, obj: &Bound<'_, PyAny>, name: String, report_to: Option<(usize, Arc<Failures>)>) -> PyResult<Arc<FileObject>> {
        let end = obj.call_method1("seek", (0, 2))?;
        let len: u64 = end.extract().map_err(|_| {
            PyTypeError::new_err(format!("{name}: seek(0, 2) returned {}, not the object's length as an int", repr(&end)))
        })?;
        let mut f = FileObject { obj: obj.clone().unbind(), name, len, whole: None, range: Mutex::new(()), failed: Mutex::new(None), report_to };
        if len <= FileSource::WHOLE {
            let mut v = vec![0u8; len as usize];
            f.read_range(py, 0, &mut v)?;
            f.whole = Some(v);
        }
        Ok(Arc::new(f))
    }

    /// `buf.len()` bytes at `offset`: `seek(offset)`, then `read` until they are all there.
    fn read_range(&self, py: Python<'_>, offset: u64, buf: &mut [u8]) -> PyResult<()> {
        self.try_read_range(py, offset, buf).inspect_err(|e| {
            // (Python 3.11+) the object's own exception, unchanged, says where hidpack was
            let note = format!("while hidpack read {} bytes at offset {offset} of {}", buf.len(), self.name);
            let _ = e.value(py).call_method1("add_note", (note,));
        })
    }

    fn try_read_range(&self, py: Python<'_>, offset: u64, buf: &mut [u8]) -> PyResult<()> {
        let obj = self.obj.bind(py);
        let at = obj.call_method1("seek", (offset,))?;
        if let Ok(pos) = at.extract::<u64>() {
            if pos != offset {
                return Err(PyOSError::new_err(format!("{}: seek({offset}) went to {pos}", self.name)));
            }
        }
        let mut done = 0;
        while done < buf.len() {
            let want = buf.len() - done;
            let got = obj.call_method1("read", (want,))?;
            let n = copy_chunk(&got, &mut buf[done..]).map_err(|what| {
                PyTypeError::new_err(format!("{}: read({want}) at offset {} returned {what}", self.name, offset + done as u64))
            })?;
            if n == 0 {
                return Err(PyOSError::new_err(format!(
                    "{}: short read: {done} of {} bytes at offset {offset}, then the end (the object is shorter than the {} bytes its seek(0, 2) gave)",
                    self.name,
                    buf.len(),
                    self.len
                )));
            }
            done += n;
        }
        Ok(())
    }

    /// The first failure since the last call, taken (a later call tries the object again).
    pub fn failure(&self) -> Option<PyErr> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Copies what a `read` returned into `buf`; how many bytes, or what was wrong with it.
fn copy_chunk(got: &Bound<'_, PyAny>, buf: &mut [u8]) -> Result<usize, String> {
    let bytes;
    let data: &[u8] = if let Ok(b) = got.cast::<PyBytes>() {
        bytes = b.clone();
        bytes.as_bytes()
    } else if got.is_none() {
        return Err("None (a non-blocking stream with no data ready?)".into());
    } else if got.is_instance_of::<PyString>() {
        return Err("str: the object is in text mode; open it in binary mode (\"rb\")".into());
    } else if got.is_instance_of::<PyByteArray>() || got.is_instance_of::<PyMemoryView>() {
        // as bytes (a copy of one chunk)
        let as_bytes = got.py().get_type::<PyBytes>().call1((got,)).map_err(|e| format!("{} that cannot be read as bytes ({e})", type_name(got)))?;
        return copy_chunk(&as_bytes, buf);
    } else {
        return Err(format!("{}, not bytes", type_name(got)));
    };
    if data.len() > buf.len() {
        return Err(format!("{} bytes, more than asked", data.len()));
    }
    buf[..data.len()].copy_from_slice(data);
    Ok(data.len())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| type_name(obj))
}

impl Source for FileObject {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if let Some(w) = &self.whole {
            return MemorySource(w.as_slice()).read_at(offset, buf);
        }
        let _range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        Python::attach(|py| self.read_range(py, offset, buf)).map_err(|e| {
            let msg = e.to_string();
            match &self.report_to {
                Some((j, sink)) => sink.lock().unwrap_or_else(|p| p.into_inner()).push((*j, e)),
                None => {
                    self.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                }
            }
            std::io::Error::other(msg)
        })
    }
}

/// What a `Reader` was given.
pub enum Given {
    Path(PathBuf),
    /// Bytes in memory, or a file object (then also the object, to raise its failures).
    Other(Box<dyn Source>, Option<Arc<FileObject>>),
}

impl Given {
    /// `obj`: a `str` or `os.PathLike` path; a uint8 numpy array; or an object with `read`.
    /// `name` names a source that is not a path in messages.
    pub fn of(py: Python<'_>, obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Given> {
        Given::reporting(py, obj, name, None)
    }

    /// [`Given::of`], a file object's failures going to `report_to` (see [`FileObject`]).
    pub fn reporting(py: Python<'_>, obj: &Bound<'_, PyAny>, name: &str, report_to: Option<(usize, Arc<Failures>)>) -> PyResult<Given> {
        if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
            return Ok(Given::Path(obj.extract()?));
        }
        if let Ok(a) = obj.cast::<PyArray1<u8>>() {
            return Ok(Given::Other(HeldArray::source(a)?, None));
        }
        if obj.hasattr("read")? {
            let f = FileObject::open(py, obj, name.to_string(), report_to)?;
            return Ok(Given::Other(Box::new(Arc::clone(&f)), Some(f)));
        }
        Err(PyTypeError::new_err(format!(
            "a recording is read from a path, a uint8 numpy array or a binary file object, not {}",
            type_name(obj)
        )))
    }

    /// The file object, when it is one.
    pub fn file_object(&self) -> Option<Arc<FileObject>> {
        match self {
            Given::Other(_, f) => f.clone(),
            Given::Path(_) => None,
        }
    }

    /// Opens the reader (a path with its write-ahead tail). Runs without the GIL.
    pub fn open(self) -> hidpack_core::Result<CoreReader<Box<dyn Source>>> {
        match self {
            Given::Path(p) => Ok(CoreReader::open(&p)?.into_dyn()),
            Given::Other(src, _) => CoreReader::from_source(src),
        }
    }
}

/// `result`, unless the file object failed meanwhile: then its failure (the core's error for it
/// only says that a read failed).
pub fn checked<T>(file: Option<&Arc<FileObject>>, result: PyResult<T>) -> PyResult<T> {
    match file.and_then(|f| f.failure()) {
        Some(e) => Err(e),
        None => result,
    }
}

/// One item of a `read_many`: a path, or an object opened when its turn comes.
pub enum Item {
    Path(PathBuf),
    Object(Py<PyAny>),
}

impl Item {
    pub fn of(obj: &Bound<'_, PyAny>) -> PyResult<Item> {
        if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
            return Ok(Item::Path(obj.extract()?));
        }
        Ok(Item::Object(obj.clone().unbind()))
    }

    /// The reader of item `j` (on a reading thread, without the GIL): a file object's failures
    /// go to `failures`, and the core's error for it only says that it failed.
    pub fn open(&self, j: usize, name: &std::path::Path, failures: &Arc<Failures>) -> hidpack_core::Result<CoreReader<Box<dyn Source>>> {
        match self {
            Item::Path(p) => Ok(CoreReader::open_for_events(p)?.into_dyn()),
            Item::Object(obj) => {
                let name = name.display().to_string();
                let given = Python::attach(|py| Given::reporting(py, obj.bind(py), &name, Some((j, Arc::clone(failures)))));
                match given {
                    Ok(g) => g.open(),
                    Err(e) => {
                        let msg = e.to_string();
                        failures.lock().unwrap_or_else(|p| p.into_inner()).push((j, e));
                        Err(std::io::Error::other(msg).into())
                    }
                }
            }
        }
    }
}
