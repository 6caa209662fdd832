//! The one place where core errors become Python exceptions.

use hidpack_core::Error;
use pyo3::exceptions::{PyException, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(hidpack._native, HidpackError, PyException, "Base of every error hidpack raises.");
pyo3::create_exception!(hidpack._native, FormatError, HidpackError, "Not a hidpack file, or a structure in it cannot be parsed. `.offset` is the byte offset.");
pyo3::create_exception!(hidpack._native, CorruptBlockError, FormatError, "A block failed its checks. `.offset` is the block's byte offset.");
pyo3::create_exception!(hidpack._native, TruncatedError, FormatError, "The file ends inside a structure. `.offset` is where the structure starts.");
pyo3::create_exception!(hidpack._native, UnsupportedVersionError, FormatError, "The file was written by an incompatible, newer format version.");

static EVENT_VALUE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static POLICY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TOKEN_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A class `name(HidpackError, ValueError)` of `hidpack._native`, made once.
fn value_error_type<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyType>>, name: &str, doc: &str) -> PyResult<&'py Bound<'py, PyType>> {
    let t = cell.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let bases = PyTuple::new(py, [py.get_type::<HidpackError>(), py.get_type::<PyValueError>()])?;
        let ns = PyDict::new(py);
        ns.set_item("__module__", "hidpack._native")?;
        ns.set_item("__doc__", doc)?;
        let t = py.get_type::<PyType>().call1((name, bases, ns))?;
        Ok(t.cast_into::<PyType>()?.unbind())
    })?;
    Ok(t.bind(py))
}

/// `PolicyError(HidpackError, ValueError)`: a privacy policy that cannot be used.
pub fn policy_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    value_error_type(
        py,
        &POLICY_ERROR,
        "PolicyError",
        "A privacy policy that cannot be used: a bad value, an unknown setting, an invalid pattern. The message names the file, the rule and the setting.",
    )
}

/// `EventValueError(HidpackError, ValueError)`: a value that cannot be stored exactly.
pub fn event_value_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    value_error_type(
        py,
        &EVENT_VALUE_ERROR,
        "EventValueError",
        "A value cannot be stored exactly (out of range, not on the coordinate grid, absent but required). Carries `.row`, `.field`, `.value`.",
    )
}

/// `TokenError(HidpackError, ValueError)`: a token stream that cannot be decoded.
pub fn token_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    value_error_type(
        py,
        &TOKEN_ERROR,
        "TokenError",
        "A token stream that cannot be decoded. Carries `.position` (index of the token) and `.token` (the id there, None at the end).",
    )
}

fn with_attrs(py: Python<'_>, err: PyErr, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let v = err.value(py);
    for (k, val) in attrs {
        let _ = v.setattr(*k, val.bind(py));
    }
    err
}

/// An `OSError` of the subclass Python gives the error number (`FileNotFoundError`,
/// `FileExistsError`, `IsADirectoryError`, `BlockingIOError`, ...), with `.filename`.
fn os_error(e: &std::io::Error, msg: String, path: Option<String>) -> PyErr {
    use std::io::ErrorKind as K;
    let errno = e.raw_os_error().or(match e.kind() {
        K::NotFound => Some(2),
        K::PermissionDenied => Some(13),
        K::AlreadyExists => Some(17),
        K::IsADirectory => Some(21),
        K::WouldBlock => Some(11),
        _ => None,
    });
    match (errno, path) {
        (Some(n), Some(p)) => PyOSError::new_err((n, msg, p)),
        (Some(n), None) => PyOSError::new_err((n, msg)),
        (None, _) => PyOSError::new_err(msg),
    }
}

/// Map a core error to the Python exception hierarchy.
pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let msg = e.to_string();
        let offset = e.offset().map(|o| o.into_pyobject(py).unwrap().into_any().unbind());
        let off_attr = |err: PyErr| match &offset {
            Some(o) => with_attrs(py, err, &[("offset", o.clone_ref(py))]),
            None => err,
        };
        match e {
            Error::Io(io) => os_error(&io, msg, None),
            // Python's OSError(errno, strerror, filename) prints the path itself.
            Error::File { ref path, op, ref source } => os_error(source, format!("cannot {op}: {source}"), Some(path.display().to_string())),
            Error::Format { .. } => off_attr(FormatError::new_err(msg)),
            Error::CorruptBlock { .. } => off_attr(CorruptBlockError::new_err(msg)),
            Error::Truncated { .. } => off_attr(TruncatedError::new_err(msg)),
            Error::UnsupportedVersion { .. } => off_attr(UnsupportedVersionError::new_err(msg)),
            Error::Value(v) => match event_value_error(py) {
                Ok(t) => {
                    let err = PyErr::from_type(t.clone(), msg);
                    let row = v.row.into_pyobject(py).unwrap().into_any().unbind();
                    let field = v.field.into_pyobject(py).unwrap().into_any().unbind();
                    let value = v.value.into_pyobject(py).unwrap().into_any().unbind();
                    with_attrs(py, err, &[("row", row), ("field", field), ("value", value)])
                }
                Err(e) => e,
            },
            Error::Policy(_) => match policy_error(py) {
                Ok(t) => PyErr::from_type(t.clone(), msg),
                Err(e) => e,
            },
            Error::Token { pos, token, .. } => match token_error(py) {
                Ok(t) => {
                    let err = PyErr::from_type(t.clone(), msg);
                    let pos = pos.into_pyobject(py).unwrap().into_any().unbind();
                    let token = token.into_pyobject(py).unwrap().into_any().unbind();
                    with_attrs(py, err, &[("position", pos), ("token", token)])
                }
                Err(e) => e,
            },
            Error::Usage(_) => PyValueError::new_err(msg),
        }
    })
}

/// A core error about the file at `path` (index `file` of a list): the same exception class, its
/// message led by the path, with `.file` and `.path` (and `.offset`, when the error has one).
pub fn in_file(e: Error, file: usize, path: &std::path::Path) -> PyErr {
    let err = to_py(e);
    Python::attach(|py| {
        let v = err.value(py);
        let msg = v.str().map(|s| s.to_string()).unwrap_or_default();
        let led = PyErr::from_type(err.get_type(py), format!("{}: {msg}", path.display()));
        let nv = led.value(py);
        if let Ok(o) = v.getattr("offset") {
            let _ = nv.setattr("offset", o);
        }
        let _ = nv.setattr("file", file);
        let _ = nv.setattr("path", path.display().to_string());
        led
    })
}

/// A type error about a column the caller passed.
pub fn column_type_error(name: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let got = got.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!("column `{name}` must be {expected}, got {got}"))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HidpackError", py.get_type::<HidpackError>())?;
    m.add("FormatError", py.get_type::<FormatError>())?;
    m.add("CorruptBlockError", py.get_type::<CorruptBlockError>())?;
    m.add("TruncatedError", py.get_type::<TruncatedError>())?;
    m.add("UnsupportedVersionError", py.get_type::<UnsupportedVersionError>())?;
    m.add("EventValueError", event_value_error(py)?)?;
    m.add("PolicyError", policy_error(py)?)?;
    m.add("TokenError", token_error(py)?)?;
    Ok(())
}

/// A file object's own exception (index `file` of a `read_many`): unchanged but for `.file` and
/// `.path` (its notes say where hidpack was reading).
pub fn with_file(py: Python<'_>, e: PyErr, file: usize, path: &std::path::Path) -> PyErr {
    let v = e.value(py);
    let _ = v.setattr("file", file);
    let _ = v.setattr("path", path.display().to_string());
    e
}
