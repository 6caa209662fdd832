"""Writing whole tables: ``hidpack.write_table`` and ``hidpack.Writer``."""

from __future__ import annotations

import io
import json
import os
from typing import Any, Protocol, TypedDict

import numpy as np

from . import _native
from ._table import _NUMPY_DTYPES, FIELDS, to_native_table

__all__ = ["write_table", "Writer"]

# The exact dtype of every column of a native write table (string fields excepted).
_NATIVE_DTYPES: dict[str, np.dtype[Any]] = {"t": np.dtype(np.int64), "kind": np.dtype(np.uint8)}
for _name, _typ, _, _ in FIELDS:
    if _typ != "str":
        _NATIVE_DTYPES[_name] = _NUMPY_DTYPES[_typ]
        _NATIVE_DTYPES[_name + "_valid"] = _NUMPY_DTYPES["bool"]


class _FormatOptions(TypedDict):
    """The options that decide a file's bytes, as ``_native.Writer`` and ``encode_table`` take them."""

    metadata: str
    wall_clock_ns: int | None
    level: int
    block_events: int
    block_span_ns: int | None
    binned: bool
    clock_grid: bool | None


class BinaryWritable(Protocol):
    """A binary file object :func:`write_table` writes to: ``io.BytesIO``, an ``open(..., "wb")``
    file, an fsspec file for an object store."""

    def write(self, data: bytes, /) -> object: ...


def _native_form(table: Any) -> dict[str, Any] | None:
    """``table`` itself when it is already a native write table: a dict of 1-d numpy arrays of
    exactly the native dtypes (kind codes as uint8, coordinates float64, ...), no string fields."""
    if type(table) is not dict or "t" not in table or "kind" not in table:
        return None
    for name, col in table.items():
        dtype = _NATIVE_DTYPES.get(name)
        # `is` first: numpy's built-in dtypes are singletons, and `!=` costs a rich comparison
        # (a writer may take thousands of small tables)
        if dtype is None or type(col) is not np.ndarray or col.ndim != 1:
            return None
        if col.dtype is not dtype and col.dtype != dtype:
            return None
    return table


def prepare(table: Any) -> _native.Prepared:
    """``table`` converted and validated for a writer (see :func:`write_table` for the forms and
    rules). A table already in native form goes to the native checks directly; anything they
    refuse (NaN meaning absent, or an error) takes the full conversion, whose answer is the
    canonical one, so both paths accept, store and reject the same tables. A ``Prepared``
    table is returned as it is."""
    if isinstance(table, _native.Prepared):
        return table
    native = _native_form(table)
    if native is not None:
        try:
            return _native.prepare_table(native)
        except (TypeError, ValueError):
            pass
    return _native.prepare_table(to_native_table(table))


def _metadata_json(metadata: Any) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict (a JSON object), not {type(metadata).__name__}")
    try:
        # no insignificant whitespace: it is stored in every file (9 of an import's 141 bytes)
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata is not JSON-serialisable: {e}") from e


class Writer:
    """Append event tables to a new hidpack file.

    >>> with hidpack.Writer("s.hpk", metadata={"source": "demo"}) as w:
    ...     w.write({"t": [0, 10], "kind": "move", "x": [1.0, 2.5], "y": [3.0, 4.0]})

    ``write`` accepts everything :func:`hidpack.write_table` accepts. Blocks close every
    ``block_events`` events or ``block_span_ns`` of time, and on ``flush()``. The file is created
    exclusively (``FileExistsError`` if the path exists, unless ``overwrite=True``) and locked
    while it is written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: dict[str, Any] | None = None,
        wall_clock_ns: int | None = None,
        level: int = 3,
        block_events: int = 65536,
        block_span_ns: int | None = None,
        overwrite: bool = False,
        clock_grid: bool | None = None,
    ) -> None:
        self._path = os.fspath(path)
        self._inner = _native.Writer(
            self._path,
            metadata=_metadata_json(metadata),
            wall_clock_ns=wall_clock_ns,
            level=level,
            block_events=block_events,
            block_span_ns=block_span_ns,
            overwrite=overwrite,
            clock_grid=clock_grid,
        )
        self._summary: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return self._path

    @property
    def closed(self) -> bool:
        return self._summary is not None

    def write(self, table: Any) -> None:
        """Append the rows of ``table`` (converted and validated as by :func:`write_table`)."""
        self._inner.write_table(prepare(table))

    def flush(self) -> None:
        """Close the current block now, so what was written so far is on disk."""
        self._inner.flush()

    def close(self) -> dict[str, Any]:
        """Finish the file (index, seek table). Returns ``{"events", "blocks", "bytes"}``;
        calling it again returns the same summary."""
        if self._summary is None:
            self._summary = dict(self._inner.close())
        return dict(self._summary)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<hidpack.Writer {self._path!r} {state}>"


def write_table(
    path: str | os.PathLike[str] | BinaryWritable,
    table: Any,
    *,
    metadata: dict[str, Any] | None = None,
    wall_clock_ns: int | None = None,
    level: int = 3,
    block_events: int = 65536,
    block_span_ns: int | None = None,
    binned: bool = True,
    overwrite: bool = False,
    clock_grid: bool | None = None,
) -> dict[str, Any]:
    """Write an event table to a new hidpack file and return ``{"events", "blocks", "bytes"}``.

    ``table``: a dict of columns, :class:`hidpack.Columns`, a numpy structured array, a pandas or
    polars DataFrame or a pyarrow Table; see ``hidpack._table.to_native_table`` for the rules
    (``kind`` as names or codes; None / masked / null / NaN = absent). ``metadata`` must be a
    JSON-serialisable dict (``TypeError`` otherwise). Rows are stored in the order given.

    ``path`` is a path or a binary file object (anything with ``write(bytes)``: ``io.BytesIO``,
    a file opened ``"wb"``, an fsspec file on an object store). A file object gets the whole
    file in one ``write`` call after the table is encoded in memory (about 1.8-2 bytes per
    event): nothing is written to it when the table is refused, and where it is then stored
    and how durably is the caller's (``overwrite`` does not apply: ``ValueError``).

    A path: the table is validated before any file is created. The file is written to a
    temporary beside ``path``, fsynced and then moved into place: a kill or an error at any
    point leaves either no file (or the file that was there) or the complete new one, never a
    partial file. An existing ``path`` is an error (``FileExistsError``) unless
    ``overwrite=True``; a path whose recorder was killed (an unrecovered ``<path>.wal`` beside
    it) is refused either way.

    Files are format 1.4 (``BINNED`` and ``PREDICTED`` encodings, compact trailers and index, no
    trailer after the last block, which the index follows, and the 1.3 predictors: signed pointer
    steps, and the clock grid for stamps of a coarse OS timer such as Windows' 15.6 ms tick, which
    1.4 writes with sparse residues; FORMAT.md §4.5, §4.6, §5.5, §5.6). Their header sets feature
    bit 2 (and bit 3 with the clock grid), so readers before 1.3 (1.4) refuse them by name.
    ``clock_grid``: try the clock grid on non-decreasing integer columns (``True``), never
    (``False``), or as the core writer does by default (``None``: on, format 1.4's grid); the grid
    trades a few % of decode time on such clocks for about 5 % smaller mouse files
    (docs/PERFORMANCE.md).

    ``binned=False`` writes format 1.0 with the byte encodings only (about 12 % larger on real
    input, 2.33 against 2.04 bytes per event on mouse sessions) so that readers older than the
    ``BINNED`` encoding can read the file. ``clock_grid=True`` with ``binned=False`` is a
    ``ValueError``.
    """
    if not isinstance(path, (str, os.PathLike)):
        if not callable(getattr(path, "write", None)):
            raise TypeError(
                "write_table writes to a path or a binary file object with write(bytes), "
                f"not {type(path).__name__}"
            )
        if isinstance(path, io.TextIOBase):
            raise TypeError(f"{type(path).__name__} is a text file object; open the file in binary mode")
        if overwrite:
            raise ValueError("overwrite=True applies to a path; a file object is written as it is given")
    native_table = prepare(table)
    options = _FormatOptions(
        metadata=_metadata_json(metadata),
        wall_clock_ns=wall_clock_ns,
        level=level,
        block_events=block_events,
        block_span_ns=block_span_ns,
        binned=binned,
        clock_grid=clock_grid,
    )
    if not isinstance(path, (str, os.PathLike)):
        data, stats = _native.encode_table(native_table, **options)
        path.write(data)
        return dict(stats)
    writer = _native.Writer(os.fspath(path), overwrite=overwrite, atomic=True, **options)
    # On an error the writer is dropped unclosed and its temporary removed; `path` is untouched.
    writer.write_table(native_table)
    return dict(writer.close())
