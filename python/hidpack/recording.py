"""Reading recordings: ``hidpack.open(path) -> Recording``."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from . import _native
from ._table import (
    _NUMPY_DTYPES,
    FIELDS,
    KIND_CODES,
    KINDS,
    Columns,
    arrow_array,
    arrow_string_array,
    arrow_c_stream,
    arrow_type,
    check_kind_columns,
    column_selection,
    columns_from_native,
    fields_holding_data,
    kind_fields,
    require,
    wide_columns,
)
from ._sources import is_url, resolve
from ._time import as_ns, as_ns_array

if TYPE_CHECKING:
    from typing_extensions import Buffer, TypeAlias

    from ._native import _RangeFile
    from .actions import Actions

    #: What :func:`open` reads: a path, an fsspec URL, bytes (any buffer) or a binary file object
    #: with ``seek`` and ``read``.
    Source: TypeAlias = "str | os.PathLike[str] | Buffer | _RangeFile"

__all__ = ["open", "recover", "Recording", "RecordingView"]

_DROPPED = 1  # gap reason code for "events dropped (ring full)"
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def open(  # noqa: A001 (shadows builtins.open on purpose)
    source: Source,
    *,
    threads: int | None = None,
    name: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Recording:
    """Open a recording for reading. Reads the header and the block index, no event data.

    ``source``: a path; an fsspec URL (``"s3://bucket/s.hpk"``, ``"memory://s.hpk"``; with
    ``storage_options`` for its filesystem); the recording's bytes (``bytes``, ``bytearray``,
    ``memoryview``, ``mmap``, any buffer); or a binary file object with ``read`` and ``seek``
    (``open(p, "rb")``, ``io.BytesIO``, an fsspec file), read by ranges, never whole unless small.
    Read-only bytes are read in place; writable ones are copied at open (see
    ``hidpack._sources``). ``name`` names a source that is not a path in messages and
    :attr:`Recording.name`.

    A file whose writer was killed opens as it is: its complete blocks are found by a scan, and
    the events checkpointed to its write-ahead tail (``<path>.wal``, beside it) are merged
    (``info()["tail"]`` says how many). Only a path has a tail beside it: a recording read from
    bytes, a file object or a URL is read without one. Nothing is modified; see :func:`recover`.

    ``threads``: how many blocks a read decodes at once (None: one per CPU; 1: only on the
    calling thread, e.g. inside a Dask or multiprocessing worker that has its own cores). The
    events, their order and the problems reported are the same for every value."""
    return Recording(source, threads=threads, name=name, storage_options=storage_options)


def recover(
    src: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None, *, overwrite: bool = False
) -> dict[str, Any]:
    """Rewrite a recording that was not closed (or is damaged) as a clean, complete file.

    Reads ``src`` with its write-ahead tail and writes every readable event to ``dst`` (default:
    ``src`` itself), through a temporary that is fsynced and renamed into place, so a kill at
    any moment leaves the old recording or the new one; running it again is harmless. An
    existing ``dst`` other than ``src`` is replaced only with ``overwrite=True``. The tail is
    deleted only when all of it is in the new file; otherwise it is moved aside
    (``tail_moved_to``), never deleted. Returns ``{"events", "blocks_read", "tail_events",
    "events_lost", "problems", "tail_moved_to"}``. Header metadata that is not a JSON object
    is kept as text under ``"hidpack:invalid_metadata"`` and reported in ``problems``.

    Needs paths: it reads the tail beside ``src`` and replaces a file (``TypeError`` for bytes,
    a file object or a URL)."""
    for what, p in (("src", src), ("dst", dst)):
        if p is not None and (not isinstance(p, (str, os.PathLike)) or is_url(p)):
            raise TypeError(
                f"recover() needs a path for {what}, not {type(p).__name__}{' URL' if is_url(p) else ''}: it reads "
                "the write-ahead tail (<path>.wal) beside the file and replaces the file; copy the recording "
                "and its tail to local files first"
            )
    s = os.fspath(src)
    return dict(_native.recover(s, s if dst is None else os.fspath(dst), overwrite=overwrite))


#: byte offset of the metadata text in a file: the header record's frame (magic, size) and
#: its fields before the metadata (docs/FORMAT.md 4.2)
METADATA_OFFSET = 8 + 37


def _metadata_problem(path: str, text: str | None) -> tuple[dict[str, Any], Exception] | None:
    """``(problem, MetadataError)`` when the header metadata text is not a JSON object, else
    None (no text counts as ``{}``)."""
    from ._errors import MetadataError

    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        reason = "is not valid JSON (%s)" % ("nested too deeply" if isinstance(e, RecursionError) else e)
    else:
        if isinstance(value, dict):
            return None
        reason = "is not a JSON object"
    err = MetadataError(path, reason, offset=METADATA_OFFSET, text=text)
    problem = {
        "offset": METADATA_OFFSET,
        "length": len(text.encode("utf-8", "replace")),
        "error": "header metadata %s: %r (the events are readable)" % (reason, text[:80]),
        "events_lost": 0,
    }
    return problem, err


def _native_bounds(t0: int | None, t1: int | None) -> tuple[int | None, int | None]:
    """``t0 <= t < t1`` as the native reader's int64 bounds: clamped, with the same meaning."""
    if t0 is not None and t0 <= _I64_MIN:
        t0 = None
    if t1 is not None and t1 > _I64_MAX:
        t1 = None
    if (t0 is not None and t0 > _I64_MAX) or (t1 is not None and t1 <= _I64_MIN):
        t0 = t1 = _I64_MIN  # nothing can match
    return t0, t1


def _block_count(block: dict[str, Any], kind: str) -> int:
    counts = block.get("counts") or {}
    n = counts.get(kind)
    if n is None:
        n = counts.get(KIND_CODES[kind], 0)
    return int(n)


class RecordingView:
    """Events of a recording, possibly restricted to a time window and/or some blocks.

    ``Recording`` is the unrestricted view; ``between()`` and iteration over blocks give restricted
    ones. Every view has the same accessors; they decode only the blocks the view can overlap.
    """

    def __init__(
        self,
        recording: Recording,
        t0: int | None = None,
        t1: int | None = None,
        blocks: Sequence[int] | None = None,
    ) -> None:
        self._rec = recording
        self._t0 = t0
        self._t1 = t1
        self._block_ids = None if blocks is None else [int(b) for b in blocks]
        self._len: int | None = None

    # -- restriction -----------------------------------------------------------------------

    @property
    def recording(self) -> Recording:
        return self._rec

    @property
    def t0(self) -> int | None:
        """Inclusive lower bound on ``t`` (None: unbounded)."""
        return self._t0

    @property
    def t1(self) -> int | None:
        """Exclusive upper bound on ``t`` (None: unbounded)."""
        return self._t1

    def between(self, t0: Any = None, t1: Any = None) -> RecordingView:
        """The events with ``t0 <= t < t1`` (either bound may be None), in file order.

        Times are file time (since the recording's start): plain numbers are nanoseconds (an int,
        or a float that is a whole number of ns: ``between(60e9, 120e9)`` is the second minute),
        or durations (``datetime.timedelta``, ``numpy.timedelta64``, ``pandas.Timedelta``),
        converted exactly. A fractional, NaN or infinite number raises ``ValueError``, another
        type ``TypeError`` (see ``hidpack._time``).

        Only blocks whose time range overlaps the window are decoded.
        """
        t0 = as_ns("t0", t0)
        t1 = as_ns("t1", t1)
        if self._t0 is not None:
            t0 = self._t0 if t0 is None else max(t0, self._t0)
        if self._t1 is not None:
            t1 = self._t1 if t1 is None else min(t1, self._t1)
        return RecordingView(self._rec, t0, t1, self._block_ids)

    def _overlaps(self, block: dict[str, Any]) -> bool:
        if self._block_ids is not None and int(block["index"]) not in self._block_ids:
            return False
        if self._t0 is not None and int(block["t_max"]) < self._t0:
            return False
        if self._t1 is not None and int(block["t_min"]) >= self._t1:
            return False
        return True

    def blocks(self) -> list[dict[str, Any]]:
        """Metadata of the blocks this view can overlap (``index``, ``offset``, ``length``,
        ``t_min``, ``t_max``, ``events``, ``counts``)."""
        return [dict(b) for b in self._rec._block_list() if self._overlaps(b)]

    def __iter__(self) -> Iterator[BlockView]:
        """One view per block (in file order), each decoding only its own block."""
        for b in self.blocks():
            yield BlockView(self._rec, b, self._t0, self._t1)

    def _restricted(self) -> bool:
        return self._t0 is not None or self._t1 is not None

    def __len__(self) -> int:
        if self._len is None:
            if self._restricted():
                self._len = len(self._read(None, [])["t"])
            else:
                self._len = sum(int(b["events"]) for b in self.blocks())
        return self._len

    def __repr__(self) -> str:
        parts = []
        if self._t0 is not None or self._t1 is not None:
            parts.append(f"t0={self._t0}, t1={self._t1}")
        if self._block_ids is not None:
            parts.append(f"blocks={self._block_ids}")
        return f"<{type(self).__name__} {self._rec.name!r} {' '.join(parts)}>"

    # -- reading ---------------------------------------------------------------------------

    def _read(self, kinds: list[str] | None, fields: list[str] | None = None, layout: str = "table") -> dict[str, Any]:
        t0, t1 = _native_bounds(self._t0, self._t1)
        return self._rec._reader.read(
            t0=t0, t1=t1, kinds=kinds, blocks=self._block_ids, fields=fields, threads=self._rec._threads, layout=layout
        )

    def table(
        self,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        *,
        fields: Sequence[str] | str | None = None,
    ) -> dict[str, Any]:
        """The events as the native (wide) event table (see docs/ARCHITECTURE.md): ``t``,
        ``kind``, per field values + ``_valid``, strings as ``_offsets`` / ``_data`` / ``_valid``.

        ``kinds``: only events of these kinds, and only their fields. ``columns``: only these
        fields' columns (``t`` and ``kind`` always come), e.g. ``columns=["x", "y"]``; the others
        are not materialised, which is most of the time and memory of reading a short file.
        ``fields=`` is the older name of ``columns=`` (passing both raises ``TypeError``).

        Which fields come without ``columns``: those that (a) a selected kind has (``kinds``,
        default every kind) and (b) at least one returned row holds a value of. A field absent
        on every returned row is left out (a missing key means absent on every row); named in
        ``columns`` it comes whatever it holds (a named field that no kind of ``kinds`` has is
        left out). Unknown names raise ``ValueError``. For one kind's own columns (no union, no validity
        where the kind implies presence) use :meth:`columns`."""
        kinds, fields = self._wide_query(kinds, column_selection(columns, fields, "table()"), "table()")
        return self._read(kinds, fields)

    def _wide_query(self, kinds: Any, fields: Any, what: str) -> tuple[list[str] | None, list[str] | None]:
        """``kinds`` and ``columns`` of a wide read, as lists, checked."""
        if isinstance(kinds, str):
            kinds = [kinds]
        if kinds is not None:
            kinds = list(kinds)
            for k in kinds:
                if k not in KIND_CODES:
                    _unknown_kind(k)
        if isinstance(fields, str):
            fields = [fields]
        if fields is not None:
            fields = list(fields)  # names checked by the native reader
        return kinds, fields

    def columns(self, kind: str, columns: Sequence[str] | str | None = None) -> Columns:
        """The events of one kind: ``t`` plus that kind's fields (only ``columns`` if given),
        read straight from the kind's own columns in the file (no union table is built).
        Required fields are ndarrays; optional ones masked arrays, mask = absent (with no mask,
        ``numpy.ma.nomask``, when every row holds a value); strings object arrays of
        ``str | None``, decoded on first access. A name that is not a field of ``kind`` raises
        ``ValueError``."""
        if kind not in KIND_CODES:
            _unknown_kind(kind)
        fields = [columns] if isinstance(columns, str) else None if columns is None else list(columns)
        if fields is not None:
            check_kind_columns(fields, kind, "columns()")
        return columns_from_native(self._read_narrow(kind, fields), kind, fields)

    def _read_narrow(self, kind: str, fields: list[str] | None) -> dict[str, Any]:
        """The native narrow read of one kind: ``t`` and the kind's fields, ``_valid`` only
        where a value is absent."""
        t0, t1 = _native_bounds(self._t0, self._t1)
        return self._rec._reader.read_kind(
            kind, t0=t0, t1=t1, blocks=self._block_ids, fields=fields, threads=self._rec._threads
        )

    def wall_t(self, t: Any) -> np.ndarray:
        """Unix ns (int64) of file times ``t`` (a time or an array of times, e.g.
        ``rec.moves().t``; numbers are ns, durations and ``timedelta64`` arrays are converted as
        in :meth:`between`): from the last point of :meth:`Recording.clock` at or before each
        time (the first point for times before it), so events after a suspend or a clock step
        land at their true wall time. Raises ``ValueError`` when the recording has no wall clock
        at all."""
        ns = as_ns_array("t", t)
        ct, cw = self._rec.clock()
        if len(ct) == 0:
            raise ValueError(f"{self._rec.name}: the recording has no wall clock (its writer did not know it)")
        return wall_times(ns, ct, cw)

    def moves(self) -> Columns:
        """``move`` events: t, x, y, buttons (optional)."""
        return self.columns("move")

    def raw_moves(self) -> Columns:
        """``raw_move`` events: t, dx, dy."""
        return self.columns("raw_move")

    def buttons(self) -> Columns:
        """``button`` events: t, button, pressed, x, y (optional)."""
        return self.columns("button")

    def scrolls(self) -> Columns:
        """``scroll`` events: t, dx, dy, x, y (optional)."""
        return self.columns("scroll")

    def keys(self) -> Columns:
        """``key`` events: t, pressed, usage (optional), native (optional)."""
        return self.columns("key")

    def texts(self) -> Columns:
        """``text`` events: t, text."""
        return self.columns("text")

    def focus(self) -> Columns:
        """``focus`` events: t, app, title, window, left, top, right, bottom (all optional)."""
        return self.columns("focus")

    def markers(self) -> Columns:
        """``marker`` events: t, label, value (optional)."""
        return self.columns("marker")

    def frames(self) -> Columns:
        """Screen video frames, from their ``marker`` events (label ``"screen"``, or
        ``"screen#<i>"`` for the i-th further video of an import), in file order: ``t`` (int64,
        recording clock: when the frame was grabbed), ``pts_ns`` (int64 masked array: the
        frame's time in its video, masked where the source did not say), ``stream`` (0, or i
        for ``"screen#<i>"``) and ``video`` (the video's path from metadata ``video``, resolved
        against the recording's directory; None if unknown). See :mod:`hidpack.screen` and
        docs/TRAINING.md."""
        from .screen import frames_of

        return frames_of(self)

    def gaps(self) -> Columns:
        """``gap`` events: t, count, reason, t_end (optional)."""
        return self.columns("gap")

    # -- training data -----------------------------------------------------------------------

    def actions(
        self,
        fps: Any = None,
        *,
        frames: Any = None,
        start: Any = None,
        end: Any = None,
        lossless: bool = False,
    ) -> Actions:
        """The events cut into fixed-rate bins (``fps=20``, or ``"30000/1001"``) or one bin per
        video frame (``frames=rec.frames()`` or an array of frame times in ns): pointer position
        at each bin's end and its exact step, button and key events with their offsets inside
        the bin, scroll and raw-motion sums, text. ``start``/``end`` (times, as in
        :meth:`between`) bound the ``fps`` bins (default: the view's window, else the first
        event to just after the last) or close the last frame bin. ``lossless=True`` also lists
        every event of every bin. See :mod:`hidpack.actions` for every field."""
        from .actions import Actions, fps_fraction, frame_edges

        if (fps is None) == (frames is None):
            raise TypeError("actions() takes exactly one of fps= and frames=")
        t0, t1 = _native_bounds(self._t0, self._t1)
        start_ns = None if start is None else as_ns("start", start)
        end_ns = None if end is None else as_ns("end", end)
        if frames is not None:
            if start is not None:
                raise TypeError("start= applies to fps= bins; frame bins start at the first frame")
            edges = frame_edges(frames, end_ns)
            native = _native.actions(self._rec._reader, edges=edges.tolist(), t0=t0, t1=t1, blocks=self._block_ids,
                                     lossless=lossless,
                                     threads=self._rec._threads)
        else:
            native = _native.actions(self._rec._reader, fps=fps_fraction(fps), start=start_ns, end=end_ns, t0=t0,
                                     t1=t1, blocks=self._block_ids, lossless=lossless, threads=self._rec._threads)
        return Actions(native)

    # -- Arrow / pandas / polars ------------------------------------------------------------

    def to_arrow(
        self,
        kind: str | None = None,
        wall_time: bool = False,
        time: str = "ns",
        *,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> Any:
        """A ``pyarrow.Table``.

        ``kind=None``: the wide table: columns ``t``, ``kind`` (``dictionary<int8, string>``)
        and each field as a nullable column (null = absent), the fields being those of
        :meth:`table`: of the selected kinds (``kinds=``, default every kind), and holding a value
        on some row, unless named in ``columns=``. ``kind="move"`` etc.: that kind's own columns,
        read narrow (no union): ``t`` plus the kind's fields (all of them, or ``columns=``;
        required fields non-nullable). ``kind`` and ``kinds`` together raise ``TypeError``;
        ``fields=`` is the older name of ``columns=``. Numeric and string buffers are not copied.
        ``wall_time``: also ``wall_t`` (after ``t``), each event's UTC time (see :meth:`wall_t`).
        ``time``: the type of ``t``: ``"ns"`` (int64 ns since the start), ``"timedelta"``
        (``duration[ns]``) or ``"datetime"`` (``timestamp[ns, UTC]``, the wall time; refused,
        with ``ValueError``, when the recording has no wall clock).
        """
        pa = require("pyarrow", "arrow", "Recording.to_arrow()")
        check_time(time)
        table, kind, names = self._frame_read(kind, kinds, column_selection(columns, fields, "to_arrow()"), "to_arrow()")
        wall = self._wall_column(table, wall_time or time == "datetime")
        out = _arrow_table(pa, table, kind, names, wall_t=wall if wall_time else None)
        return retime_arrow(pa, out, time, wall)

    def to_pandas(
        self,
        kind: str | None = None,
        wall_time: bool = False,
        time: str = "ns",
        *,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> Any:
        """A ``pandas.DataFrame`` with the columns of :meth:`to_arrow` (``kind``, ``kinds``,
        ``columns`` select as there), typed as Arrow's
        ``to_pandas`` types them: coordinates float64 with NaN where absent, optional integer
        and bool fields pandas' nullable ``Int64`` / ``boolean``, required ones plain numpy,
        ``kind`` categorical, ``wall_t`` ``datetime64[ns, UTC]``. Built from the numpy columns
        directly (about 4 x faster than through Arrow). ``time``: ``t`` as int64 ns (``"ns"``),
        ``timedelta64[ns]`` (``"timedelta"``) or ``datetime64[ns, UTC]`` wall time
        (``"datetime"``; ``ValueError`` when the recording has no wall clock)."""
        pd = require("pandas", "pandas", "Recording.to_pandas()")
        pa = require("pyarrow", "pandas", "Recording.to_pandas()")
        check_time(time)
        selection = column_selection(columns, fields, "to_pandas()")
        wall_t = wall_time or time == "datetime"
        if kind is not None:  # one kind's own columns
            table, kind, names = self._frame_read(kind, kinds, selection, "to_pandas()")
            wall = self._wall_column(table, wall_t)
            # a fresh read: the frame may keep (and fill in) its arrays
            out = _pandas_frame(pd, pa, table, kind, names, wall_t=wall if wall_time else None, copy=False)
            return retime_pandas(pd, out, time, wall)
        # the wide read comes in the frame's own layout (NaN coordinates, masks), its arrays the frame's
        table, _, names = self._frame_read(None, kinds, selection, "to_pandas()", layout="pandas")
        wall = self._wall_column(table, wall_t)
        out = _pandas_frame_of_columns(pd, pa, table, None, names, wall_t=wall if wall_time else None)
        del table
        return retime_pandas(pd, out, time, wall)

    def to_polars(
        self,
        kind: str | None = None,
        wall_time: bool = False,
        time: str = "ns",
        *,
        kinds: Sequence[str] | str | None = None,
        columns: Sequence[str] | str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> Any:
        """A ``polars.DataFrame`` (via Arrow; null = absent, ``kind`` categorical); ``kind``,
        ``kinds``, ``columns``, ``wall_time`` and ``time`` as in :meth:`to_arrow`
        (``Duration`` / ``Datetime`` in UTC)."""
        pl = require("polars", "polars", "Recording.to_polars()")
        pa = require("pyarrow", "polars", "Recording.to_polars()")
        selection = column_selection(columns, fields, "to_polars()")
        return _polars_frame(pl, pa, self.to_arrow(kind, wall_time, time, kinds=kinds, columns=selection))

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow C stream interface (a PyCapsule): :meth:`to_arrow`'s table (every event,
        its default columns), so ``pyarrow.table(rec)``, ``polars.DataFrame(rec)`` and DuckDB
        (``duckdb.sql("SELECT kind, count(*) FROM rec GROUP BY kind")``) read it directly.
        Needs pyarrow."""
        return arrow_c_stream(self.to_arrow(), requested_schema)

    def _frame_read(
        self, kind: str | None, kinds: Any, fields: Any, what: str, layout: str = "table"
    ) -> tuple[dict[str, Any], str | None, list[str]]:
        """What a frame is built from: ``(table, kind, field names)``: one kind's narrow read
        (``kind`` given), or the wide read of ``kinds`` with the fields asked for, else those
        that hold data (in ``layout``: ``"table"``, or ``"pandas"``, the columns
        :func:`_pandas_frame_of_columns` takes)."""
        if kind is not None:
            if kinds is not None:
                raise TypeError(f"{what}: pass kind= (one kind, its own columns) or kinds= (a wide table), not both")
            if kind not in KIND_CODES:
                _unknown_kind(kind)
            names = [fields] if isinstance(fields, str) else None if fields is None else list(fields)
            if names is not None:
                check_kind_columns(names, kind, what)
            table = self._read_narrow(kind, names)
            return table, kind, [n for n, _, _ in kind_fields(kind)] if names is None else names
        kind_list, names = self._wide_query(kinds, fields, what)
        table = self._read(kind_list, names, layout)
        return table, None, fields_holding_data(table) if names is None else wide_columns(names, kind_list, what)

    def _wall_column(self, table: dict[str, Any], wall_time: bool) -> np.ndarray | None:
        if not wall_time:
            return None
        try:
            return self.wall_t(table["t"])
        except ValueError as e:
            raise ValueError(f"{e}: no wall_t column, no time='datetime' (time='ns' and 'timedelta' need none)") from None


#: The label of a clock record (see :meth:`Recording.clock`).
CLOCK_LABEL = "hidpack:clock"


def clock_rows(table: dict[str, Any]) -> np.ndarray:
    """Which rows of a native read table of markers are clock records: label
    ``"hidpack:clock"`` and a value (compared on the label bytes, no string made per row)."""
    n = len(table["t"])
    if "label_offsets" not in table or "value" not in table:
        return np.zeros(n, dtype=bool)
    offsets = np.asarray(table["label_offsets"], dtype=np.int64)
    data = np.asarray(table["label_data"], dtype=np.uint8)
    want = np.frombuffer(CLOCK_LABEL.encode(), dtype=np.uint8)
    rows = np.asarray(table["label_valid"], dtype=bool) & np.asarray(table["value_valid"], dtype=bool)
    rows &= np.diff(offsets) == len(want)
    cand = np.flatnonzero(rows)
    if len(cand):
        rows[cand] = (data[offsets[cand][:, None] + np.arange(len(want))] == want).all(axis=1)
    return rows


def clock_points(t: np.ndarray, wall: np.ndarray, anchor: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A file's clock points: its header anchor at t = 0 (when known) and its clock records,
    sorted by ``t``."""
    if anchor is not None:
        t, wall = np.concatenate([[0], t]).astype(np.int64), np.concatenate([[anchor], wall]).astype(np.int64)
    order = np.argsort(t, kind="stable")
    return t[order], wall[order]


def wall_times(t: np.ndarray, clock_t: np.ndarray, clock_wall: np.ndarray) -> np.ndarray:
    """Unix ns of file times ``t`` from clock points ``(clock_t, clock_wall)`` (sorted by
    ``clock_t``, at least one): each time takes the offset of the last point at or before it,
    or of the first point."""
    k = np.maximum(np.searchsorted(clock_t, t, side="right") - 1, 0)
    out: np.ndarray = t + (clock_wall - clock_t)[k]
    return out


def _unknown_kind(kind: Any) -> None:
    raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def _field_array(pa: Any, table: dict[str, Any], name: str, typ: str, n: int) -> Any:
    if typ == "str":
        if name + "_offsets" not in table:
            return pa.nulls(n, arrow_type(typ))
        return arrow_string_array(table[name + "_offsets"], table[name + "_data"], table.get(name + "_valid"))
    if name not in table:
        return pa.nulls(n, arrow_type(typ))
    return arrow_array(table[name], table.get(name + "_valid"))


def _column_specs(kind: str | None, fields: Sequence[str] | None) -> list[tuple[str, str, bool]]:
    """``(name, type, required)`` of the field columns of a table of ``kind`` (None: every
    kind, every field optional), only ``fields`` if given: the columns of :func:`_arrow_table`
    and :func:`_pandas_frame`, in order."""
    specs = [(name, typ, False) for name, typ, _, _ in FIELDS] if kind is None else kind_fields(kind)
    return specs if fields is None else [s for s in specs if s[0] in fields]


def _arrow_table(
    pa: Any,
    table: dict[str, Any],
    kind: str | None,
    fields: Sequence[str] | None = None,
    wall_t: np.ndarray | None = None,
) -> Any:
    """The Arrow table of a native read table: ``t``, then ``wall_t`` (UTC timestamps) if given,
    then ``file`` if the table has one (a :func:`hidpack.read_many` table), then ``kind`` (every
    kind) or nothing (``kind`` given: the rows are all of it), then the fields (those of
    ``kind``; only ``fields`` if given)."""
    t = np.asarray(table["t"], dtype=np.int64)
    n = len(t)
    arrays = [arrow_array(t)]
    schema = [pa.field("t", pa.int64(), nullable=False)]
    if wall_t is not None:
        ts = pa.timestamp("ns", tz="UTC")
        arrays.append(pa.array(np.asarray(wall_t, dtype=np.int64), ts))
        schema.append(pa.field("wall_t", ts, nullable=False))
    if "file" in table:
        arrays.append(arrow_array(np.asarray(table["file"], dtype=np.uint32)))
        schema.append(pa.field("file", pa.uint32(), nullable=False))
    if kind is None:
        arrays.append(_kind_dictionary(pa, table["kind"]))
        schema.append(pa.field("kind", pa.dictionary(pa.int8(), pa.string()), nullable=False))
    for name, typ, required in _column_specs(kind, fields):
        arrays.append(_field_array(pa, table, name, typ, n))
        schema.append(pa.field(name, arrow_type(typ), nullable=not required))
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


def _kind_dictionary(pa: Any, kind: Any) -> Any:
    """The ``kind`` column as Arrow's ``dictionary<int8, string>`` over the kind names."""
    codes = np.ascontiguousarray(kind, dtype=np.uint8).view(np.int8)
    indices = pa.Array.from_buffers(pa.int8(), len(codes), [None, pa.py_buffer(codes)])
    return pa.DictionaryArray.from_arrays(indices, pa.array(KINDS, pa.string()))


def _pandas_frame(
    pd: Any,
    pa: Any,
    table: dict[str, Any],
    kind: str | None,
    fields: Sequence[str] | None = None,
    *,
    wall_t: np.ndarray | None = None,
    copy: bool,
) -> Any:
    """The DataFrame of a native read table: the columns of :func:`_arrow_table` (and
    ``wall_t``, int64 Unix ns, after ``t`` if given), typed as Arrow's ``to_pandas`` types them
    with ``Int64`` / ``boolean`` for nullable integers and bools, and plain numpy for required
    ones. Built from the numpy columns: pandas' masked arrays take a value array and a mask as
    they are, where the way through Arrow packs each mask into a bitmap and unpacks it again.
    ``copy``: the frame gets its own arrays (the caller keeps ``table``); without it, it may
    share them, and changes the table's arrays in place (NaN into absent coordinates, validity
    turned into masks): the caller drops the table."""
    own = np.array if copy else np.asarray
    cols = _frame_head(pd, pa, table, kind, wall_t, own)
    n = len(cols["t"])
    for name, typ, required in _column_specs(kind, fields):
        if typ == "str":
            cols[name] = _field_array(pa, table, name, typ, n).to_pandas()
            continue
        valid = table.get(name + "_valid")
        if name in table:
            values = np.asarray(table[name], dtype=_NUMPY_DTYPES[typ])
            if valid is None:
                absent = None
            elif copy:
                absent = ~np.asarray(valid, dtype=bool)
            else:  # the table's own validity, turned into the mask where it lies
                absent = np.logical_not(valid, out=np.asarray(valid, dtype=bool))
        else:  # not read: absent on every row
            values = np.zeros(n, dtype=_NUMPY_DTYPES[typ])
            absent = np.ones(n, dtype=bool)
        if typ == "coord":
            if absent is None or required:
                cols[name] = own(values)
            elif copy:
                cols[name] = np.where(absent, np.nan, values)
            else:  # NaN written into the table's own values (no second column)
                values[absent] = np.nan
                cols[name] = values
        elif required:
            cols[name] = own(values)
        else:
            cols[name] = _masked_array(pd, typ, own(values), np.zeros(n, dtype=bool) if absent is None else absent)
    return pd.DataFrame(cols, copy=False)


def _pandas_frame_of_columns(
    pd: Any,
    pa: Any,
    table: dict[str, Any],
    kind: str | None,
    fields: Sequence[str] | None = None,
    *,
    wall_t: np.ndarray | None = None,
) -> Any:
    """:func:`_pandas_frame`'s DataFrame (the same columns, dtypes and values) of a native read
    in the pandas layout (``layout="pandas"``): coordinates come NaN where absent, an integer or
    boolean field with ``<field>_mask`` (True where absent; none when the field is required),
    and a field absent on every row not at all. The frame takes the arrays as they are: no one
    else may hold ``table``."""
    cols = _frame_head(pd, pa, table, kind, wall_t, np.asarray)
    n = len(cols["t"])
    for name, typ, required in _column_specs(kind, fields):
        if typ == "str":
            cols[name] = _field_array(pa, table, name, typ, n).to_pandas()
        elif name not in table:  # absent on every row
            values = np.zeros(n, dtype=_NUMPY_DTYPES[typ])
            if required:
                cols[name] = values
            elif typ == "coord":
                cols[name] = np.full(n, np.nan)
            else:
                cols[name] = _masked_array(pd, typ, values, np.ones(n, dtype=bool))
        elif typ == "coord" or required:
            cols[name] = table[name]
        else:
            cols[name] = _masked_array(pd, typ, table[name], table[name + "_mask"])
    return pd.DataFrame(cols, copy=False)


def _frame_head(
    pd: Any, pa: Any, table: dict[str, Any], kind: str | None, wall_t: np.ndarray | None, own: Any
) -> dict[str, Any]:
    """The columns a frame of a native read starts with: ``t``, ``wall_t`` (UTC, if given),
    ``file`` (a fleet read's), ``kind`` (categorical; not when the rows are all of ``kind``),
    ``own`` (``np.array`` or ``np.asarray``) applied to the table's arrays."""
    cols: dict[str, Any] = {"t": own(np.asarray(table["t"], dtype=np.int64))}
    if wall_t is not None:
        cols["wall_t"] = pd.to_datetime(np.asarray(wall_t, dtype=np.int64), unit="ns", utc=True)
    if "file" in table:
        cols["file"] = own(np.asarray(table["file"], dtype=np.uint32))
    if kind is None:
        cols["kind"] = pd.Categorical.from_codes(
            np.asarray(table["kind"], dtype=np.uint8).view(np.int8), dtype=_kind_dtype(pd, pa)
        )
    return cols


def _masked_array(pd: Any, typ: str, values: np.ndarray, absent: np.ndarray) -> Any:
    """pandas' nullable column of an int or bool field (``Int64`` / ``boolean``)."""
    return (pd.arrays.BooleanArray if typ == "bool" else pd.arrays.IntegerArray)(values, absent)


def _polars_frame(pl: Any, pa: Any, table: Any) -> Any:
    """``pl.from_arrow(table)``, with each string column that is null on every row made by
    polars as nulls: converting such a column costs polars about 2 ns a row (4 ms for 2 M
    rows) and a table of every kind carries five of them."""
    null_text = [
        f.name for f in table.schema if pa.types.is_large_string(f.type) and table.num_rows and table.column(f.name).null_count == table.num_rows
    ]
    if not null_text:
        return pl.from_arrow(table)
    frame = pl.from_arrow(table.drop_columns(null_text))
    return frame.with_columns([pl.lit(None, dtype=pl.String).alias(n) for n in null_text]).select(table.column_names)


def _kind_dtype(pd: Any, pa: Any) -> Any:
    """The categorical dtype Arrow gives the ``kind`` dictionary in pandas (its categories' dtype
    depends on the pandas version), made once."""
    global _KIND_DTYPE
    if _KIND_DTYPE is None:
        _KIND_DTYPE = _kind_dictionary(pa, np.zeros(1, np.uint8)).to_pandas().dtype
    return _KIND_DTYPE


_KIND_DTYPE: Any = None


class BlockView(RecordingView):
    """The events of one block (what iterating over a recording yields)."""

    def __init__(self, recording: Recording, block: dict[str, Any], t0: int | None = None, t1: int | None = None):
        super().__init__(recording, t0, t1, [int(block["index"])])
        self._block = dict(block)

    @property
    def index(self) -> int:
        return int(self._block["index"])

    @property
    def info(self) -> dict[str, Any]:
        """This block's metadata (``index``, ``offset``, ``length``, ``t_min``, ``t_max``, ``events``,
        ``counts``)."""
        return dict(self._block)


class Recording(RecordingView):
    """A hidpack file opened for reading (see :func:`hidpack.open`)."""

    def __init__(
        self,
        source: Source,
        *,
        threads: int | None = None,
        name: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be an int >= 1 or None (one per CPU), not {threads!r}")
        opened = resolve(source, name, storage_options)
        self._path = opened.path
        self._name = opened.name
        self._owned = opened.owned
        self._threads = threads
        try:
            self._reader = _native.Reader(opened.native, name=opened.name)
        except BaseException:
            self.close()
            raise
        self._block_cache: list[dict[str, Any]] | None = None
        self._clock: tuple[np.ndarray, np.ndarray] | None = None
        super().__init__(self)

    def _block_list(self) -> list[dict[str, Any]]:
        if self._block_cache is None:
            self._block_cache = list(self._reader.blocks())
        return self._block_cache

    @property
    def path(self) -> str | None:
        """The file's path; None for a recording read from bytes, a file object or a URL."""
        return self._path

    @property
    def name(self) -> str:
        """What messages call it: the path, the URL, a file object's name, or a description
        such as ``"<bytes of 2,913 bytes>"``."""
        return self._name

    @property
    def header(self) -> dict[str, Any]:
        """``version``, ``flags``, ``wall_clock_ns``, ``metadata`` (JSON text), ``created_by``."""
        return dict(self._reader.header)

    @property
    def metadata(self) -> dict[str, Any]:
        """The free metadata the writer stored (the header's JSON, parsed). Header metadata that
        is not a JSON object raises :class:`hidpack.MetadataError`; the events stay readable,
        and :meth:`info`, :meth:`verify` and :attr:`problems` report it."""
        text = self._reader.header.get("metadata") or "{}"
        problem = _metadata_problem(self._name, text)
        if problem is not None:
            raise problem[1]
        value: dict[str, Any] = json.loads(text)
        return value

    def _metadata_or_empty(self) -> dict[str, Any]:
        """:attr:`metadata`, or ``{}`` when it is damaged (reported in :attr:`problems`)."""
        if _metadata_problem(self._name, self._reader.header.get("metadata")) is not None:
            return {}
        return self.metadata

    @property
    def wall_clock_ns(self) -> int | None:
        """Unix ns at t = 0 (None when the writer did not know it)."""
        return self._reader.header.get("wall_clock_ns")

    def clock(self) -> tuple[np.ndarray, np.ndarray]:
        """The recording's wall clock: ``(t, unix_ns)`` int64 arrays, in ``t`` order, of each
        point where file time ``t`` is known to be Unix time ``unix_ns``: the header's anchor at
        t = 0 (when known), then every clock record (a ``marker`` labelled ``"hidpack:clock"``,
        written by a live recorder at least every ``clock_every`` and whenever the wall clock
        moved against the recording clock, as after a suspend). See :meth:`wall_t`."""
        if self._clock is None:
            # (read once: the reader is a snapshot of the file taken at open)
            table = self._read(["marker"], ["label", "value"])
            keep = clock_rows(table)
            t = np.asarray(table["t"], dtype=np.int64)[keep]
            self._clock = clock_points(t, np.asarray(table["value"], dtype=np.int64)[keep], self.wall_clock_ns)
        return self._clock[0].copy(), self._clock[1].copy()

    @property
    def problems(self) -> list[dict[str, Any]]:
        """What the reader skipped so far (``offset``, ``length``, ``error``, ``events_lost``),
        and header metadata that is not a JSON object."""
        return self._header_problems() + list(self._reader.problems())

    def _header_problems(self) -> list[dict[str, Any]]:
        problem = _metadata_problem(self._name, self._reader.header.get("metadata"))
        return [] if problem is None else [problem[0]]

    def verify(self) -> dict[str, Any]:
        """Check every block and the header metadata: ``{"ok", "blocks", "events", "problems"}``."""
        result = dict(self._reader.verify())
        extra = self._header_problems()
        if extra:
            result["problems"] = extra + list(result.get("problems") or [])
            result["ok"] = False
        return result

    def chunks(self) -> list[dict[str, Any]]:
        """Where the bytes go: the column chunks of every readable block, summed per ``kind``
        (None for the ``t`` and ``kind`` columns), ``field``, ``encoding`` and ``predictor``
        (``BINNED`` only), with ``chunks`` and ``bytes`` (before zstd), largest first."""
        return list(self._reader.chunks())

    def info(self) -> dict[str, Any]:
        """A summary: duration, events, counts per kind, blocks, bytes, drops, gaps, metadata..."""
        blocks = self._block_list()
        events = sum(int(b["events"]) for b in blocks)
        counts = {k: sum(_block_count(b, k) for b in blocks) for k in KINDS}
        t_min = min((int(b["t_min"]) for b in blocks if int(b["events"])), default=None)
        t_max = max((int(b["t_max"]) for b in blocks if int(b["events"])), default=None)
        size = int(self._reader.header["file_size"]) if self._path is None else os.path.getsize(self._path)
        drops = paused = redacted = 0
        gaps = counts["gap"]
        gap_blocks = [int(b["index"]) for b in blocks if _block_count(b, "gap")]
        if gap_blocks:
            g = self._reader.read(kinds=["gap"], blocks=gap_blocks, fields=["count", "reason"], threads=self._threads)
            reason = np.asarray(g["reason"])
            count = np.asarray(g["count"])
            ok = np.asarray(g.get("reason_valid", np.ones(len(reason), bool))) & np.asarray(
                g.get("count_valid", np.ones(len(count), bool))
            )
            drops = int(count[ok & (reason == _DROPPED)].sum())
            paused = int(count[ok & (reason == 2)].sum())
            redacted = int(count[ok & (reason == 3)].sum())
        header = self._reader.header
        return {
            "path": self._path,
            "name": self._name,
            "version": header.get("version"),
            "created_by": header.get("created_by"),
            "duration_ns": 0 if t_min is None or t_max is None else t_max - t_min,
            "t_min": t_min,
            "t_max": t_max,
            "events": events,
            "counts": counts,
            "blocks": len(blocks),
            "bytes": size,
            "bytes_per_event": size / events if events else None,
            "drops": drops,
            "paused": paused,
            "redacted": redacted,
            "gaps": gaps,
            "policy": self._metadata_or_empty().get("privacy_policy"),
            "wall_clock_ns": header.get("wall_clock_ns"),
            "closed": header.get("layout") == "index" and header.get("tail") is None,
            "tail": header.get("tail"),
            "metadata": self._metadata_or_empty(),
            "problems": self.problems,
        }

    def close(self) -> None:
        """Closes the file of a URL it opened; a file object or buffer it was given stays open
        (it is the caller's). A Recording of a path holds nothing to release."""
        owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Recording {self._name!r} events={len(self)} blocks={len(self._block_list())}>"

    def _repr_html_(self) -> str:
        """A notebook's view: a summary table (duration, events per kind, drops and gaps,
        bytes per event, wall clock, policy) and a small picture of the pointer's trajectory
        (an inline PNG; at most 20,000 moves drawn, only the moves' x and y decoded)."""
        from ._html import recording_html

        return recording_html(self)


#: What ``t`` becomes in ``to_arrow`` / ``to_pandas`` / ``to_polars(time=...)``.
TIMES = ("ns", "timedelta", "datetime")


def check_time(time: Any) -> None:
    if not isinstance(time, str) or time not in TIMES:
        raise ValueError(f"time must be 'ns', 'timedelta' or 'datetime', got {time!r}")


def retime_arrow(pa: Any, table: Any, time: str, wall: np.ndarray | None) -> Any:
    """``table`` with its ``t`` column as ``duration[ns]`` (``"timedelta"``) or as the UTC
    ``timestamp[ns]`` of ``wall`` (``"datetime"``); unchanged for ``"ns"``."""
    if time == "ns":
        return table
    i = table.schema.get_field_index("t")
    if time == "timedelta":
        typ = pa.duration("ns")
        col = table.column(i).cast(typ)
    else:
        typ = pa.timestamp("ns", tz="UTC")
        col = pa.array(np.asarray(wall, dtype=np.int64), typ)
    return table.set_column(i, pa.field("t", typ, nullable=False), col)


def retime_pandas(pd: Any, frame: Any, time: str, wall: np.ndarray | None) -> Any:
    """``frame`` with its ``t`` column as ``timedelta64[ns]`` or ``datetime64[ns, UTC]`` (see
    :func:`retime_arrow`)."""
    if time == "timedelta":
        frame["t"] = pd.to_timedelta(frame["t"].to_numpy(), unit="ns")
    elif time == "datetime":
        frame["t"] = pd.to_datetime(np.asarray(wall, dtype=np.int64), unit="ns", utc=True)
    return frame
