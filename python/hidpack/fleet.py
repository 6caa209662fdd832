"""Reading fleets of recordings: many files as one table (:func:`read_many`), or as a Dask
DataFrame with one partition per group of files (:func:`read_dask`).

:func:`read_pandas` reads a fleet straight into one ``pandas.DataFrame``: the frame
``read_many(...).to_pandas()`` gives, with no :class:`FleetTable` in between. The native reader
fills the frame's own columns (NaN for absent coordinates, pandas' null masks for integers and
booleans), each made once at its full size (rows counted from the files' indexes) and filled a
batch of files at a time, so the read holds the frame and one batch (about 128 Ki rows of
decoded blocks), not a table and a frame besides.

A fleet is what a recording programme produces: one file per person, session or hour. The files
are read on native threads (the GIL is released for the whole read), appended in the order given,
and every row says which file it came from (``file``: the index in ``paths``). Times stay each
file's own (``t`` is nanoseconds since that file's start; its header's wall clock says when that
was).

Nothing is dropped silently: with ``errors="raise"`` (the default) the first file, in path order,
that cannot be opened or has a block that cannot be read raises, its message led by the path;
with ``errors="skip"`` every readable event is returned and each problem is listed in
:attr:`FleetTable.problems`.

Paths may be fsspec URLs (``"s3://bucket/fleet/*.hpk"``, ``"memory://f/"``; ``storage_options``
go to their filesystem): each such file is opened when its turn comes and read by ranges
through its fsspec file object (as ``hidpack.open`` reads a file object), so a Dask worker
reads an object store's recordings without a local copy. A URL has no write-ahead tail beside
it (see ``hidpack._sources``).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Sequence

import numpy as np

from . import _native
from ._sources import UrlFile, is_url, url_fs
from ._table import (
    FIELDS,
    KIND_CODES,
    KINDS,
    arrow_c_stream,
    column_selection,
    fields_holding_data,
    require,
    take_rows,
    wide_columns,
)
from ._time import as_ns
from .recording import (
    _arrow_table,
    _native_bounds,
    _pandas_frame,
    _pandas_frame_of_columns,
    _polars_frame,
    _unknown_kind,
    check_time,
    clock_points,
    clock_rows,
    retime_arrow,
    retime_pandas,
    wall_times,
)

__all__ = ["read_many", "read_pandas", "read_dask", "FleetTable"]

#: Bytes of files per :func:`read_dask` partition unless ``files_per_partition`` is given.
PARTITION_BYTES = 2 << 20

class FleetTable(dict):  # type: ignore[type-arg]
    """The events of many files: a dict of numpy columns like :meth:`Recording.table`'s (``t``,
    ``kind``, each field and its ``_valid``), plus ``file`` (uint32: each row's index in
    :attr:`paths`). Its fields are those :func:`read_many` was asked for (``columns=``), else
    those of the kinds read that some row holds a value of (a field absent on every row is not
    made).

    Attributes: :attr:`paths` (the files, in order), :attr:`events` (events read per file; 0 for a
    file skipped whole), :attr:`wall_clock_ns` (each file's Unix ns at its ``t = 0``, or None),
    :attr:`problems` (under ``errors="skip"``: each file that could not be opened and each block
    that could not be read, as ``{file, path, whole_file, offset, length, error, events_lost}``).
    """

    paths: list[str]
    events: list[int]
    wall_clock_ns: list[int | None]
    problems: list[dict[str, Any]]
    kinds: list[str] | None
    fields: list[str] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paths, self.events, self.wall_clock_ns, self.problems = [], [], [], []
        self.kinds = self.fields = None
        self.storage_options: dict[str, Any] | None = None
        self._clocks: dict[int, tuple[np.ndarray, np.ndarray]] | None = None

    def _field_names(self) -> list[str]:
        """The fields of this table: those asked for (of the kinds read), else those in it."""
        return _read_fields(self, self.kinds, self.fields)

    def _select(
        self, kinds: Sequence[str] | str | None, columns: Sequence[str] | str | None, what: str
    ) -> tuple[dict[str, Any], np.ndarray | None, str | None, list[str]]:
        """``(table, rows, one kind, field names)`` of a frame of some of this table: the rows of
        ``kinds`` (``rows``: which, None = all) and the fields ``columns`` (each a field of those
        kinds, and read), else those of :meth:`_field_names` that a kept row holds."""
        kind_list = _names("kind", kinds, list(KIND_CODES))
        if kind_list is not None and self.kinds is not None:
            unread = [k for k in kind_list if k not in self.kinds]
            if unread:
                raise ValueError(f"{what}: kinds {unread} were not read (read_many(kinds={self.kinds}))")
        names = None if columns is None else [columns] if isinstance(columns, str) else list(columns)
        if names is not None:
            names = wide_columns(names, kind_list if kind_list is not None else self.kinds, what)
            if self.fields is not None:
                unread = [n for n in names if n not in self.fields]
                if unread:
                    raise ValueError(f"{what}: columns {unread} were not read (read_many(columns={self.fields}))")
        table: dict[str, Any] = self
        rows = None
        if kind_list is not None:
            lut = np.zeros(256, dtype=bool)
            lut[[KIND_CODES[k] for k in kind_list]] = True
            keep = lut[np.asarray(self["kind"], dtype=np.uint8)]
            if not keep.all():
                rows, table = keep, take_rows(self, keep)
        one = kind_list[0] if kind_list is not None and len(kind_list) == 1 else self._one_kind()
        if names is None:
            names = [n for n in self._field_names() if kind_list is None or n in fields_holding_data(self, kind_list)]
            if rows is not None and self.fields is None:  # only what the kept rows hold
                names = [n for n in names if np.any(table[n + "_valid"])]
        return table, rows, one, names

    def wall_t(self) -> np.ndarray:
        """Each row's wall time: int64 Unix ns, as :meth:`Recording.wall_t` gives it (``t``
        plus its file's wall clock: the header's anchor, moved by the file's clock records, if
        any, as after a suspend). Raises ``ValueError`` naming the first file that has rows but
        no wall clock."""
        records = self._clock_records()
        walls = np.zeros(len(self.paths), dtype=np.int64)
        for j, w in enumerate(self.wall_clock_ns):
            if w is None:
                if self.events[j] and j not in records:
                    raise ValueError(f"{self.paths[j]}: the file has no wall clock (its writer did not know it)")
            else:
                walls[j] = w
        t: np.ndarray = self["t"] + walls[self["file"]]
        files = np.asarray(self["file"])
        for j, (ct, cw) in records.items():
            ct, cw = clock_points(ct, cw, self.wall_clock_ns[j])
            lo, hi = np.searchsorted(files, j, side="left"), np.searchsorted(files, j, side="right")
            t[lo:hi] = wall_times(np.asarray(self["t"][lo:hi], dtype=np.int64), ct, cw)
        return t

    def _clock_records(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The clock records of each file that has some (see :meth:`Recording.clock`): read once,
        from the blocks that hold markers, whatever this table's window."""
        if self._clocks is None:
            self._clocks = {}
            if any(self.events):
                table = _read_native(self.paths, self.storage_options, kinds=["marker"], fields=["label", "value"], errors="skip")[0]
                keep = clock_rows(table)
                f = np.asarray(table["file"])[keep]
                ct = np.asarray(table["t"], dtype=np.int64)[keep]
                cw = np.asarray(table["value"], dtype=np.int64)[keep]
                for j in np.unique(f):
                    self._clocks[int(j)] = (ct[f == j], cw[f == j])
        return self._clocks

    def _one_kind(self) -> str | None:
        return self.kinds[0] if self.kinds is not None and len(self.kinds) == 1 else None

    def _wall(self, wall_time: bool, time: str, rows: np.ndarray | None = None) -> np.ndarray | None:
        check_time(time)
        if not (wall_time or time == "datetime"):
            return None
        try:
            return self.wall_t() if rows is None else self.wall_t()[rows]
        except ValueError as e:
            raise ValueError(f"{e}: no wall_t column, no time='datetime' (time='ns' and 'timedelta' need none)") from None

    def _path_codes(self, table: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
        """Each row's index into the distinct paths (in first-seen order), and those paths."""
        distinct = list(dict.fromkeys(self.paths))
        at = {p: i for i, p in enumerate(distinct)}
        per_file = np.array([at[p] for p in self.paths], dtype=np.int32)
        return per_file[np.asarray(table["file"], dtype=np.intp)], distinct

    def to_arrow(
        self,
        wall_time: bool = False,
        path: bool = False,
        time: str = "ns",
        *,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> Any:
        """A ``pyarrow.Table``: ``t``, ``file``, ``kind`` (dictionary; left out when one kind was
        read or selected) and the fields (nullable: null = absent): those :func:`read_many` was
        asked for, else those some row holds a value of; ``kinds=``: only the rows of these
        kinds (read ones), with only their fields; ``columns=`` (``fields=``, its older name):
        these fields (read ones, of the kinds), whatever they hold. ``wall_time``: also ``wall_t``
        (after ``t``), each row's time as a UTC timestamp (see :meth:`wall_t`). ``path``: also
        ``path`` (after ``file``), each row's file path, dictionary-encoded (one string per
        file, not per row). ``time``: ``t`` as int64 ns of each file's own time (``"ns"``),
        ``duration[ns]`` (``"timedelta"``) or its UTC ``timestamp[ns]`` (``"datetime"``;
        ``ValueError`` naming the first file without a wall clock)."""
        pa = require("pyarrow", "arrow", "FleetTable.to_arrow()")
        table, rows, one, names = self._select(kinds, column_selection(columns, fields, "to_arrow()"), "to_arrow()")
        wall = self._wall(wall_time, time, rows)
        out = _arrow_table(pa, table, one, names, wall if wall_time else None)
        if path:
            codes, distinct = self._path_codes(table)
            col = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(distinct, pa.string()))
            out = out.add_column(out.schema.get_field_index("file") + 1, pa.field("path", col.type, nullable=False), col)
        return retime_arrow(pa, out, time, wall)

    def to_pandas(
        self,
        wall_time: bool = False,
        path: bool = False,
        time: str = "ns",
        *,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> Any:
        """A ``pandas.DataFrame`` with the columns of :meth:`to_arrow` (``kinds``, ``columns``
        select as there), typed like
        :meth:`Recording.to_pandas`; ``wall_t`` a ``datetime64[ns, UTC]`` column, ``path`` a
        categorical, ``t`` int64, ``timedelta64[ns]`` or ``datetime64[ns, UTC]`` (``time`` as in
        :meth:`to_arrow`). Its arrays are its own (changing it does not change this table)."""
        selection = column_selection(columns, fields, "to_pandas()")
        return self._frame(wall_time, copy=True, path=path, time=time, kinds=kinds, columns=selection)

    def _frame(
        self,
        wall_time: bool,
        copy: bool,
        path: bool = False,
        time: str = "ns",
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
    ) -> Any:
        pd = require("pandas", "pandas", "FleetTable.to_pandas()")
        pa = require("pyarrow", "pandas", "FleetTable.to_pandas()")
        table, rows, one, names = self._select(kinds, columns, "to_pandas()")
        wall = self._wall(wall_time, time, rows)
        # rows taken out are a new table: the frame may keep its arrays
        frame = _pandas_frame(
            pd, pa, table, one, names, wall_t=wall if wall_time else None, copy=copy and rows is None
        )
        if path:
            codes, distinct = self._path_codes(table)
            frame.insert(frame.columns.get_loc("file") + 1, "path", pd.Categorical.from_codes(codes, categories=distinct))
        return retime_pandas(pd, frame, time, wall)

    def to_polars(
        self,
        wall_time: bool = False,
        path: bool = False,
        time: str = "ns",
        *,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> Any:
        """A ``polars.DataFrame`` (via Arrow; ``path`` categorical); the options as in
        :meth:`to_arrow`."""
        pl = require("polars", "polars", "FleetTable.to_polars()")
        pa = require("pyarrow", "polars", "FleetTable.to_polars()")
        selection = column_selection(columns, fields, "to_polars()")
        return _polars_frame(pl, pa, self.to_arrow(wall_time, path, time, kinds=kinds, columns=selection))

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow C stream interface (a PyCapsule): :meth:`to_arrow`'s table with its default
        columns. A FleetTable is a dict, so ``pyarrow.table()``, ``polars.DataFrame()`` and
        DuckDB's scan of a variable take it as a dict of numpy columns (or refuse it); read it
        through ``pyarrow.RecordBatchReader.from_stream(ft)`` (which DuckDB scans too) or
        :meth:`to_arrow`. Needs pyarrow."""
        return arrow_c_stream(self.to_arrow(), requested_schema)

    def __repr__(self) -> str:
        n = len(self["t"]) if "t" in self else 0
        kinds = np.bincount(np.asarray(self["kind"], dtype=np.intp), minlength=len(KINDS)) if n else []
        per_kind = ", ".join(f"{KINDS[i]} {int(c):,}" for i, c in enumerate(kinds) if c)
        columns = ["t", "file"] + (["kind"] if self._one_kind() is None else []) + [
            c for c in self._field_names() if c in self or c + "_offsets" in self
        ]
        lines = [
            f"<FleetTable: {len(self.paths):,} file(s), {n:,} row(s)" + (f" ({per_kind})" if per_kind else "") + ">",
            "  columns: " + ", ".join(columns),
        ]
        if self.paths:
            shown = self.paths if len(self.paths) <= 3 else [self.paths[0], "...", self.paths[-1]]
            lines.append("  files:   " + ", ".join(shown))
            walls = sum(w is not None for w in self.wall_clock_ns)
            lines.append(f"  wall clock: {walls:,} of {len(self.paths):,} file(s)")
        if self.problems:
            first = self.problems[0]
            lines.append(f"  problems: {len(self.problems):,} (first: {first.get('path')}: {first.get('error')})")
        else:
            lines.append("  problems: none")
        return "\n".join(lines)

    __str__ = __repr__


def _read_fields(table: dict[str, Any], kinds: list[str] | None, fields: list[str] | None) -> list[str]:
    """The fields of a fleet read (in field order): those asked for (``fields``, of ``kinds``),
    else those in its native table (the reader leaves out the fields no row holds)."""
    if fields is None:
        return fields_holding_data(table, kinds)
    codes = None if kinds is None else {KIND_CODES[k] for k in kinds}
    return [name for name, _, req, opt in FIELDS if name in fields and (codes is None or codes.intersection(req + opt))]


def _names(what: str, v: Sequence[str] | str | None, valid: Sequence[str]) -> list[str] | None:
    if v is None:
        return None
    names = [v] if isinstance(v, str) else list(v)
    for n in names:
        if n not in valid:
            if what == "kind":
                _unknown_kind(n)
            raise ValueError(f"unknown field {n!r}; fields are {', '.join(valid)}")
    return names


def _expand_url(url: str, storage_options: dict[str, Any] | None) -> list[str]:
    """The files of an fsspec URL: itself, a directory's ``*.hpk`` (sorted) or a glob's matches
    (sorted), each as a URL of the same protocol."""
    import glob

    fs, path = url_fs(url, storage_options)
    if glob.has_magic(path):
        found = sorted(f for f in fs.glob(path) if fs.isfile(f))
        what = "no file matches this pattern"
    elif fs.isdir(path):
        found = sorted(f for f in fs.ls(path, detail=False) if f.endswith(".hpk") and fs.isfile(f))
        what = "a directory with no *.hpk files"
    else:
        return [url]
    if not found:
        raise FileNotFoundError(f"{url}: {what}")
    return [str(fs.unstrip_protocol(f)) for f in found]


def expand_paths(paths: Any, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The files of ``paths``: a directory (its ``*.hpk`` files, sorted), a glob pattern
    (``"fleet/*.hpk"``, ``"**"`` included; its matches, sorted) or a sequence of paths, each of
    which may itself be a directory or a pattern; any of them may be an fsspec URL (expanded by
    its filesystem, with ``storage_options``). A directory or pattern that finds no file
    raises ``FileNotFoundError``; a single file path as a string raises ``TypeError`` (use
    ``hidpack.open``, or a list of one). A listed name ending in ``.hpk`` (with no pattern
    characters) is taken to be a file without looking: if it is a directory, reading it fails
    with an error that says so."""
    import glob

    if isinstance(paths, (str, os.PathLike)):
        one = os.fspath(paths)
        if is_url(one):
            if len(found := _expand_url(one, storage_options)) == 1 and found[0] == one:
                raise TypeError(f"paths must be a sequence of URLs, a directory or a glob pattern ({one!r} is one file: use hidpack.open, or [{one!r}])")
            return found
        if not (os.path.isdir(one) or glob.has_magic(one)):
            raise TypeError(
                "paths must be a sequence of paths, a directory or a glob pattern "
                f"({one!r} is one file: use hidpack.open, or [{one!r}])"
            )
        paths = [one]
    if isinstance(paths, bytes):
        raise TypeError("paths must be a sequence of paths, a directory or a glob pattern, not bytes")
    names: list[str] = []
    for p in paths:
        name = os.fspath(p)
        if is_url(name):
            names.extend(_expand_url(name, storage_options))
        elif name.endswith(".hpk") and not glob.has_magic(name):
            names.append(name)  # a recording's name is taken as a file, unchecked: a stat each cost 4 % of a 1,000-file read
        elif os.path.isdir(name):
            found = sorted(e.path for e in os.scandir(name) if e.name.endswith(".hpk") and e.is_file())
            if not found:
                raise FileNotFoundError(f"{name}: a directory with no *.hpk files")
            names.extend(found)
        elif glob.has_magic(name) and not os.path.exists(name):
            found = sorted(f for f in glob.glob(name, recursive=True) if os.path.isfile(f))
            if not found:
                raise FileNotFoundError(f"{name}: no file matches this pattern")
            names.extend(found)
        else:
            names.append(name)
    return names


def _query(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    kinds: Sequence[str] | str | None,
    fields: Sequence[str] | str | None,
    storage_options: dict[str, Any] | None = None,
) -> tuple[list[str], list[str] | None, list[str] | None]:
    """The paths as strings and the kind and field names, checked (what both readers take)."""
    names = expand_paths(paths, storage_options)
    return names, _names("kind", kinds, list(KIND_CODES)), _names("field", fields, [f[0] for f in FIELDS])


def read_many(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    kinds: Sequence[str] | str | None = None,
    columns: Sequence[str] | str | None = None,
    fields: Sequence[str] | str | None = None,
    t0: Any = None,
    t1: Any = None,
    threads: int | None = None,
    errors: str = "raise",
    storage_options: dict[str, Any] | None = None,
) -> FleetTable:
    """The events of every file in ``paths``, in that order, as one :class:`FleetTable`.

    ``paths``: a list of paths, a directory (its ``*.hpk``, sorted) or a glob pattern
    (``"fleet/*.hpk"``; its matches, sorted); see :func:`expand_paths`.

    ``kinds``, ``columns`` (``fields``: its older name; not both), ``t0`` / ``t1`` (file time,
    ``t0 <= t < t1``: nanoseconds, or a ``datetime.timedelta`` / ``numpy.timedelta64`` /
    ``pandas.Timedelta``) select as in :meth:`Recording.table` and :meth:`Recording.between`,
    in every file: without ``columns``, the fields of the kinds that some row (of any file)
    holds a value of; named in ``columns``, a field comes whatever it holds. ``threads``: files read
    at once (``None``: one per CPU); the result does not depend on it. ``errors``: ``"raise"``
    (the first problem in path order raises a :class:`HidpackError` subclass, or ``OSError``,
    whose message starts with the path and which carries ``.file`` and ``.path``) or ``"skip"``
    (problems are listed in :attr:`FleetTable.problems`).

    A path may be an fsspec URL, or a pattern or directory of one (``"memory://fleet/*.hpk"``),
    read through its filesystem with ``storage_options`` (see the module docs).
    """
    names, kind_list, field_list = _query(paths, kinds, column_selection(columns, fields, "read_many()"), storage_options)
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    lo, hi = _native_bounds(as_ns("t0", t0), as_ns("t1", t1))
    table, events, walls, skipped = _read_native(
        names, storage_options, t0=lo, t1=hi, kinds=kind_list, fields=field_list, threads=threads, errors=errors
    )
    out = FleetTable(table)
    out.storage_options = storage_options
    out.paths = names
    out.events = list(events)
    out.wall_clock_ns = list(walls)
    out.problems = [{"file": s["file"], "path": names[s["file"]], **s} for s in skipped]
    out.kinds = kind_list
    out.fields = field_list
    return out


def read_pandas(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    kinds: Sequence[str] | str | None = None,
    columns: Sequence[str] | str | None = None,
    t0: Any = None,
    t1: Any = None,
    threads: int | None = None,
    errors: str = "raise",
    storage_options: dict[str, Any] | None = None,
    wall_time: bool = False,
    path: bool = False,
    time: str = "ns",
) -> Any:
    """The events of every file in ``paths``, in that order, as one ``pandas.DataFrame``: the
    frame ``read_many(paths, ...).to_pandas(wall_time, path, time)`` returns (the same columns,
    dtypes and values), read straight into the frame's columns (see the module docs): its peak
    memory is the frame and about 128 Ki rows of decoded blocks, where a :class:`FleetTable`
    and its frame are both held at once.

    ``paths``, ``kinds``, ``columns``, ``t0`` / ``t1``, ``threads``, ``errors`` and
    ``storage_options`` as in :func:`read_many`; ``wall_time``, ``path`` and ``time`` as in
    :meth:`FleetTable.to_pandas`. Under ``errors="skip"``, ``frame.attrs["problems"]`` lists
    the problems (as :attr:`FleetTable.problems`; empty when there were none).
    """
    pd = require("pandas", "pandas", "hidpack.read_pandas()")
    pa = require("pyarrow", "pandas", "hidpack.read_pandas()")
    check_time(time)
    names, kind_list, field_list = _query(paths, kinds, columns, storage_options)
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    lo, hi = _native_bounds(as_ns("t0", t0), as_ns("t1", t1))
    table, events, walls, skipped = _read_native(
        names, storage_options, t0=lo, t1=hi, kinds=kind_list, fields=field_list, threads=threads, errors=errors,
        layout="pandas",
    )
    # t and file as a FleetTable (no copy): what wall times and the path column are made from
    rows = FleetTable({"t": table["t"], "file": table["file"]})
    rows.storage_options, rows.paths, rows.events, rows.wall_clock_ns = storage_options, names, list(events), list(walls)
    one = kind_list[0] if kind_list is not None and len(kind_list) == 1 else None
    wall = rows._wall(wall_time, time)
    frame = _pandas_frame_of_columns(
        pd, pa, table, one, _read_fields(table, kind_list, field_list), wall_t=wall if wall_time else None
    )
    del table
    if path:
        codes, distinct = rows._path_codes(rows)
        frame.insert(frame.columns.get_loc("file") + 1, "path", pd.Categorical.from_codes(codes, categories=distinct))
    if errors == "skip":
        frame.attrs["problems"] = [{"file": s["file"], "path": names[s["file"]], **s} for s in skipped]
    return retime_pandas(pd, frame, time, wall)


def _read_native(names: list[str], storage_options: dict[str, Any] | None, **query: Any) -> Any:
    """``_native.read_many`` of ``names``, a URL among them read through a :class:`UrlFile`
    (opened when its turn comes, closed after)."""
    if not any(is_url(n) for n in names):
        return _native.read_many(names, **query)
    sources: list[Any] = [UrlFile(n, storage_options) if is_url(n) else n for n in names]
    try:
        return _native.read_many(sources, names=names, **query)
    finally:
        for f in sources:
            if isinstance(f, UrlFile):
                f.close()


def _size(name: str, storage_options: dict[str, Any] | None) -> int:
    """Bytes of a file or URL (0 when it cannot be measured: reading it fails in its partition)."""
    try:
        if is_url(name):
            fs, path = url_fs(name, storage_options)
            return int(fs.size(path) or 0)
        return os.stat(name).st_size
    except (OSError, ValueError):
        return 0


def _partitions(
    names: list[str], files: int | None, limit: int, storage_options: dict[str, Any] | None = None
) -> list[tuple[int, list[str]]]:
    """``read_dask``'s partitions: ``(index of the first file, the files)``, consecutive files,
    ``files`` each, or (``files`` None) as many as hold about ``limit`` bytes (at least one).
    A file that cannot be measured counts 0 bytes; reading it fails in its partition."""
    if files is not None:
        return [(i, names[i : i + files]) for i in range(0, len(names), files)]
    groups: list[tuple[int, list[str]]] = []
    first, size = 0, 0
    for i, name in enumerate(names):
        size += _size(name, storage_options)
        if size >= limit:
            groups.append((first, names[first : i + 1]))
            first, size = i + 1, 0
    if first < len(names):
        groups.append((first, names[first:]))
    return groups


def _partition(
    group: tuple[int, list[str]],
    kinds: list[str] | None,
    fields: list[str] | None,
    t0: int | None,
    t1: int | None,
    wall_time: bool,
    storage_options: dict[str, Any] | None = None,
) -> Any:
    first, paths = group
    # straight into the frame's columns (no table held beside it: a partition's peak is its frame)
    df = read_pandas(
        paths, kinds=kinds, columns=fields, t0=t0, t1=t1, threads=1, storage_options=storage_options, wall_time=wall_time
    )
    df["file"] = df["file"].to_numpy() + np.uint32(first)  # the index in all the paths (< 2**32)
    return df


def read_dask(
    paths: Sequence[str | os.PathLike[str]],
    *,
    kinds: Sequence[str] | str | None = None,
    columns: Sequence[str] | str | None = None,
    fields: Sequence[str] | str | None = None,
    t0: Any = None,
    t1: Any = None,
    files_per_partition: int | None = None,
    partition_bytes: int = PARTITION_BYTES,
    wall_time: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Any:
    """A lazy ``dask.dataframe.DataFrame`` of the events of ``paths``, typed like
    :meth:`FleetTable.to_pandas`: the files in order, in partitions of consecutive files, each
    read with :func:`read_many` (one thread; Dask runs the partitions in parallel).

    Partitions: ``files_per_partition`` files each if given; else files are grouped until they
    hold ``partition_bytes`` bytes on disk (default 2 MiB: about a million events, 30 to 200 MB
    as a DataFrame depending on the fields read), so that a fleet of short sessions does not
    cost the scheduler one task per file. ``kinds``, ``columns`` (``fields``: its older name;
    not both), ``t0`` / ``t1`` as in :func:`read_many`; without ``columns``, every field of the
    kinds comes (all-null where no row holds it: each partition has the same columns). ``file`` is
    the index of each row's file in ``paths``; ``wall_time=True`` adds ``wall_t``, each row's UTC time (every file then needs a wall
    clock). A file that cannot be read fails the computation, with its path in the message (to
    list the problems of a fleet instead, use ``read_many(errors="skip")``).

    Paths may be fsspec URLs (``storage_options`` for their filesystem): each worker opens its
    partition's files itself, through fsspec, so none needs a local copy; sizes for the
    partitions come from the filesystem.
    """
    dd = require("dask.dataframe", "dask", "hidpack.read_dask()")
    names, kind_list, field_list = _query(paths, kinds, column_selection(columns, fields, "read_dask()"), storage_options)
    t0, t1 = as_ns("t0", t0), as_ns("t1", t1)  # checked now, not when a partition is computed
    if files_per_partition is not None and (
        isinstance(files_per_partition, bool) or not isinstance(files_per_partition, int) or files_per_partition < 1
    ):
        raise ValueError(f"files_per_partition must be None or an int of at least 1, got {files_per_partition!r}")
    if isinstance(partition_bytes, bool) or not isinstance(partition_bytes, int) or partition_bytes < 1:
        raise ValueError(f"partition_bytes must be an int of at least 1, got {partition_bytes!r}")
    if len(names) > 2**32:
        raise ValueError(f"{len(names)} paths; at most 2**32 (the file column is uint32)")
    groups = _partitions(names, files_per_partition, partition_bytes, storage_options)
    if field_list is None:
        # every field of the kinds, held or not: the partitions must have the meta's columns
        codes = None if kind_list is None else {KIND_CODES[k] for k in kind_list}
        field_list = [n for n, _, req, opt in FIELDS if codes is None or codes.intersection(req + opt)]
    meta = read_many([], kinds=kind_list, fields=field_list)._frame(wall_time, copy=False)
    if not groups:
        return dd.from_pandas(meta, npartitions=1)
    fn = functools.partial(
        _partition, kinds=kind_list, fields=field_list, t0=t0, t1=t1, wall_time=wall_time, storage_options=storage_options
    )
    return dd.from_map(fn, groups, meta=meta, label="read-hidpack", enforce_metadata=True)
