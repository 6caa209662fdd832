//! How hidpack touches the file system: files are created exclusively, replaced only when the
//! caller asks and then atomically, locked while written, and never followed through a symlink
//! or blocked on when they are side files (tails, temporaries) the library names itself.
//!
//! * [`create`]: a new file (`O_CREAT|O_EXCL`: an existing path, or a symlink planted there, is
//!   an error), or with `overwrite` an existing regular file truncated in place after its lock
//!   was taken (a live writer holding it makes this fail).
//! * [`Temp`]: a uniquely named temporary beside a destination, created exclusively, renamed
//!   over the destination by [`Temp::commit`] after an fsync of the file and of the directory,
//!   removed if dropped uncommitted. A kill at any point leaves either the old file or the new
//!   one, never a mix and never nothing.
//! * [`open_side_file`]: a tail or other side file opened read-only with `O_NOFOLLOW` and
//!   `O_NONBLOCK` (a FIFO named `x.hpk.wal` cannot make a reader hang) and refused unless it
//!   is a regular file.
//!
//! Every error names the path and what was being done ([`Error::File`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// An I/O error on `path` while doing `op`.
pub fn err(path: &Path, op: &'static str, source: io::Error) -> Error {
    Error::File { path: path.to_path_buf(), op, source }
}

fn nofollow(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    o
}

/// Take the exclusive advisory lock of a file being written (released when it is closed).
pub fn lock(f: &File, path: &Path) -> Result<()> {
    match f.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(err(
            path,
            "lock",
            io::Error::new(io::ErrorKind::WouldBlock, "another hidpack writer (a live recorder or a recovery) is writing it"),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(err(path, "lock", e)),
    }
}

/// The error for a path that already holds a file.
pub fn exists(path: &Path, hint: &str) -> Error {
    err(path, "create", io::Error::new(io::ErrorKind::AlreadyExists, format!("the file exists; {hint}")))
}

/// Create `path` for writing: exclusively, or (with `overwrite`) replacing an existing regular
/// file in place once its lock is taken. The returned file is locked.
pub fn create(path: &Path, overwrite: bool) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create_new(true);
    match o.open(path) {
        Ok(f) => {
            lock(&f, path)?;
            return Ok(f);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && overwrite => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(exists(path, "pass overwrite=True (CLI: --force) to replace it"));
        }
        Err(e) => return Err(err(path, "create", e)),
    }
    let md = std::fs::metadata(path).map_err(|e| err(path, "inspect", e))?;
    if !md.is_file() {
        return Err(err(path, "replace", io::Error::other("not a regular file")));
    }
    let f = OpenOptions::new().read(true).write(true).open(path).map_err(|e| err(path, "open", e))?;
    lock(&f, path)?;
    f.set_len(0).map_err(|e| err(path, "truncate", e))?;
    Ok(f)
}

/// Create a side file the library names itself (a write-ahead tail): exclusively, never through
/// a symlink.
pub fn create_side_file(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create_new(true);
    nofollow(&mut o).open(path).map_err(|e| err(path, "create", e))
}

/// Open a side file for reading: never through a symlink, never blocking, regular files only.
pub fn open_side_file(path: &Path) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    let f = nofollow(&mut o).open(path).map_err(|e| err(path, "open", e))?;
    let md = f.metadata().map_err(|e| err(path, "inspect", e))?;
    if !md.is_file() {
        return Err(err(path, "open", io::Error::other("not a regular file")));
    }
    Ok(f)
}

/// Open a recording for reading: regular files only, never blocking on a FIFO or device.
pub fn open_recording(path: &Path) -> Result<File> {
    open_recording_len(path).map(|(f, _)| f)
}

/// [`open_recording`], with the file's length (from the same `fstat`).
pub fn open_recording_len(path: &Path) -> Result<(File, u64)> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NONBLOCK);
    }
    let f = o.open(path).map_err(|e| err(path, "open", e))?;
    let md = f.metadata().map_err(|e| err(path, "inspect", e))?;
    if md.is_dir() {
        return Err(err(path, "open", io::Error::new(io::ErrorKind::IsADirectory, "is a directory")));
    }
    if !md.is_file() {
        return Err(err(path, "open", io::Error::other("not a regular file")));
    }
    Ok((f, md.len()))
}

/// fsync the directory holding `path` (so a rename or a new file in it survives a power loss).
pub fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let d = File::open(dir).map_err(|e| err(dir, "open directory", e))?;
        d.sync_all().map_err(|e| err(dir, "sync directory", e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A temporary file beside `dest` that becomes `dest` by [`Temp::commit`].
pub struct Temp {
    pub file: File,
    path: PathBuf,
    committed: bool,
}

impl Temp {
    /// A new temporary beside `dest` (`.<name>.tmp-<pid>-<n>` in the same directory, created
    /// exclusively, locked).
    pub fn beside(dest: &Path) -> Result<Temp> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "hidpack".into());
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        for _ in 0..100 {
            let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
            let mut o = OpenOptions::new();
            o.read(true).write(true).create_new(true);
            match nofollow(&mut o).open(&path) {
                Ok(file) => {
                    lock(&file, &path)?;
                    return Ok(Temp { file, path, committed: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(err(&path, "create", e)),
            }
        }
        Err(err(dest, "create a temporary beside", io::Error::other("no free temporary name")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsync the temporary, move it to `dest` (replacing a file there only with `overwrite`;
    /// without it the move is a hard link, which cannot replace a file that appeared
    /// meanwhile), fsync the directory.
    pub fn commit(mut self, dest: &Path, overwrite: bool) -> Result<()> {
        self.file.sync_all().map_err(|e| err(&self.path, "sync", e))?;
        if overwrite {
            std::fs::rename(&self.path, dest).map_err(|e| err(dest, "replace", e))?;
        } else {
            match std::fs::hard_link(&self.path, dest) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(exists(dest, "pass overwrite=True (CLI: --force) to replace it"))
                }
                Err(e) => return Err(err(dest, "create", e)),
            }
            let _ = std::fs::remove_file(&self.path);
        }
        self.committed = true;
        sync_dir(dest)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Move a side file that cannot be merged out of the way (never delete it): to
/// `<path>.unmerged-<n>` (the first free n). Returns the new path.
pub fn move_aside(path: &Path, why: &str) -> Result<PathBuf> {
    for n in 0..10_000u32 {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{why}-{n}"));
        let to = PathBuf::from(s);
        // A hard link cannot replace an existing name (a rename could).
        match std::fs::hard_link(path, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(path, "move aside", e)),
        }
        std::fs::remove_file(path).map_err(|e| err(path, "move aside", e))?;
        sync_dir(path)?;
        return Ok(to);
    }
    Err(err(path, "move aside", io::Error::other("no free name")))
}
