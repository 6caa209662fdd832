//! Errors. Every error that comes from a file carries the byte offset where it was found and the
//! value that was found there; every error that comes from a caller's value names the row and the
//! field and carries the value.

use std::fmt;

/// Why a value given by a caller cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Row index in the batch being written (0-based), when known.
    pub row: Option<u64>,
    /// Field name (`"x"`, `"usage"`, ...) or `"t"` / `"kind"`.
    pub field: &'static str,
    /// The offending value, rendered.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(r) => write!(f, "row {r}: field `{}` = {}: {}", self.field, self.value, self.expected),
            None => write!(f, "field `{}` = {}: {}", self.field, self.value, self.expected),
        }
    }
}

/// Everything hidpack can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An I/O error on a named file: what was being done and the OS's error.
    #[error("cannot {op} {}: {source}", path.display())]
    File { path: std::path::PathBuf, op: &'static str, source: std::io::Error },
    /// Not a hidpack file, or a structure that cannot be parsed.
    #[error("format error at offset {offset}: {msg}")]
    Format { offset: u64, msg: String },
    /// A block failed a check (checksum, decompression, column structure). Other blocks are fine.
    #[error("corrupt block at offset {offset}: {msg}")]
    CorruptBlock { offset: u64, msg: String },
    /// The file ends inside a structure.
    #[error("truncated at offset {offset}: needed {needed} bytes, file has {available}")]
    Truncated { offset: u64, needed: u64, available: u64 },
    /// Written by a newer, incompatible version of the format.
    #[error("unsupported format version {found} at offset {offset} (this reader supports major version {supported}); {hint}")]
    UnsupportedVersion { offset: u64, found: String, supported: u16, hint: String },
    /// A caller's value cannot be stored exactly.
    #[error("{0}")]
    Value(ValueError),
    /// A privacy policy that cannot be used (a bad setting, an invalid pattern).
    #[error("{0}")]
    Policy(String),
    /// A token stream that cannot be decoded (`tokens`): the position, the token found there
    /// (None: the stream ended) and what was wrong.
    #[error("token stream, position {pos}{}: {msg}", token.map_or_else(|| " (end)".to_string(), |t| format!(" (token {t})")))]
    Token { pos: u64, token: Option<u32>, msg: String },
    /// Misuse of the API (writer already closed, bad option).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn format(offset: u64, msg: impl Into<String>) -> Self {
        Error::Format { offset, msg: msg.into() }
    }
    pub(crate) fn corrupt(offset: u64, msg: impl Into<String>) -> Self {
        Error::CorruptBlock { offset, msg: msg.into() }
    }
    /// The byte offset the error refers to, if it came from a file.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Format { offset, .. }
            | Error::CorruptBlock { offset, .. }
            | Error::Truncated { offset, .. }
            | Error::UnsupportedVersion { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
