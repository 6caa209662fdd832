"""What a recording can be read from, besides a path: its bytes, a binary file object, or an
fsspec URL (``memory://``, ``file://``, ``s3://`` ...), so recordings in object stores and on Dask
workers need no local copy.

* **bytes-like** (``bytes``, ``bytearray``, ``memoryview``, ``mmap``, a numpy array, anything
  with the buffer protocol): read where it lies when it is read-only (``bytes``, a read-only
  ``mmap`` or view; the reader holds it for its life). A writable buffer (``bytearray``, a
  writable view or array) is copied once when it is opened: the reader reads that snapshot, so
  changing the buffer afterwards is harmless (and not seen). A read-only view of memory that
  something else can still change (``memoryview(bytearray).toreadonly()``) is not copied: do not
  change it while the recording is open (every block is checked, so a change shows as a damaged
  block, never as a crash).
* **a binary file object** (``open(p, "rb")``, ``io.BytesIO``, an fsspec file): read by ranges
  with its ``seek`` and ``read``, never whole unless it is at most 256 KiB. It must be readable
  and seekable (a recording's index is at its end); its position is left anywhere. The object
  is not closed: it is the caller's.
* **a URL** with a protocol fsspec knows: opened with ``fsspec`` (``storage_options`` go to the
  filesystem) and read as a file object, which :meth:`Recording.close` closes.

A source that is not a path has no write-ahead tail (``<path>.wal``) beside it: what was
checkpointed there and not yet in the file is not read (``hidpack recover`` the file where it
was recorded first), and :func:`hidpack.recover` needs a path.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Opened", "is_url", "resolve", "url_fs", "UrlFile"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(::[A-Za-z][A-Za-z0-9+.\-]*)*://")


def is_url(source: object) -> bool:
    """Is ``source`` a URL string (``proto://...``, chained ``a::b://`` too) rather than a path?"""
    return isinstance(source, str) and _URL.match(source) is not None


def _fsspec(what: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"{what}: reading a URL needs fsspec (pip install fsspec)") from None
    return fsspec


def url_fs(url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str]:
    """``(filesystem, path in it)`` of an fsspec URL."""
    fsspec = _fsspec(url)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, path


class UrlFile:
    """The file of an fsspec URL, opened on its first ``seek`` or ``read`` (``read_many`` opens
    its sources on its reading threads, each when its turn comes, so a fleet of URLs does not
    hold every file open at once). ``close`` closes it."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self._options = storage_options
        self._file: Any = None

    def _opened(self) -> Any:
        if self._file is None:
            fs, path = url_fs(self.url, self._options)
            self._file = fs.open(path, "rb")
        return self._file

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._opened().seek(offset, whence))

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._opened().read(size)
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class Opened:
    """A source made ready for ``hidpack._native.Reader``: what to give it, the path (None when
    it is not one), a name for messages, and a file object to close with the recording."""

    native: Any
    path: str | None
    name: str
    owned: Any = None


def resolve(source: Any, name: str | None = None, storage_options: dict[str, Any] | None = None) -> Opened:
    """What ``hidpack.open`` reads ``source`` from (see the module docs). Raises ``TypeError``
    for something that is none of them or a text-mode file, and ``io.UnsupportedOperation`` for
    a file object that cannot be read or seeked."""
    if is_url(source):
        f = UrlFile(source, storage_options)
        return Opened(f, None, name or source, owned=f)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise TypeError(f"a path must be str or os.PathLike[str], not bytes ({path!r}); bytes are read as a recording's contents")
        return Opened(path, path, name or path)
    try:
        view = memoryview(source)
    except TypeError:
        pass
    else:
        return Opened(_byte_array(view), None, name or f"<{type(source).__name__} of {view.nbytes:,} bytes>")
    if hasattr(source, "read"):
        _check_file(source)
        return Opened(source, None, name or _file_name(source))
    raise TypeError(
        "hidpack.open reads a path, an fsspec URL, bytes (any buffer) or a binary file object with "
        f"read and seek, not {type(source).__name__}"
    )


def _byte_array(view: memoryview) -> np.ndarray:
    """The bytes of ``view`` as a uint8 array over the same memory (a copy only when they are
    not contiguous); it is writable exactly when the view is, which the reader copies."""
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return np.frombuffer(view.cast("B") if view.format != "B" or view.ndim != 1 else view, dtype=np.uint8)


def _check_file(f: Any) -> None:
    kind = type(f).__name__
    if isinstance(f, io.TextIOBase):
        raise TypeError(f"{kind} is a text-mode file: open the recording in binary mode (\"rb\")")
    for method in ("seek", "read"):
        if not callable(getattr(f, method, None)):
            raise io.UnsupportedOperation(f"{kind} has no {method}(): hidpack reads a file object by ranges with seek and read")
    checks = (("readable", "not readable (opened for writing?)"), ("seekable", "not seekable: a recording's index is at its end, so it is read by ranges; read it into bytes first"))
    for method, what in checks:
        fn = getattr(f, method, None)
        if callable(fn) and not fn():
            raise io.UnsupportedOperation(f"{kind} is {what}")


def _file_name(f: Any) -> str:
    """A file object's name for messages: an fsspec file's URL, a file's path, or its type."""
    fs, path = getattr(f, "fs", None), getattr(f, "path", None)
    if fs is not None and isinstance(path, str) and hasattr(fs, "unstrip_protocol"):
        return str(fs.unstrip_protocol(path))
    name = getattr(f, "name", None)
    if isinstance(name, str):
        return name
    return f"<{type(f).__name__}>"
