"""A lazy polars scan of recordings: :func:`scan_polars`.

``hidpack.scan_polars(paths)`` is to hidpack files what ``pl.scan_parquet`` is to Parquet: a
``polars.LazyFrame`` whose query polars plans first and which reads only what the query needs
when it is collected::

    import polars as pl, hidpack
    lf = hidpack.scan_polars("fleet/*.hpk")              # nothing is read yet
    late = lf.filter(pl.col("t") >= 60_000_000_000, pl.col("kind") == "key").select("t", "file", "usage")
    late.collect()                                        # keys after the first minute, 3 columns

What the scan does with the plan polars hands it (a polars IO plugin,
``polars.io.plugins.register_io_source``):

- **projection**: only the columns the query uses are decoded (the native reader's ``fields``);
- **predicate**: bounds on ``t`` (``>``, ``>=``, ``<``, ``<=``, ``==``, ``is_between``, ``is_in``),
  on ``kind`` (``==``, ``is_in``) and on the file (``file``: the same as ``t``; ``path``: ``==``,
  ``is_in``), combined with ``&`` (and ``|``, as the hull of both sides), become the files to
  read and the native read's time window ``t0 <= t < t1`` and kind mask. Files the predicate
  rules out are never opened; blocks whose time range misses the window, or that hold no event
  of a wanted kind (the block index counts events per kind), are never read from disk nor
  decompressed. Anything else in the predicate (other columns, ``~``, casts the scan does not
  know) simply narrows nothing: the whole predicate is always applied to what is read, so
  results never depend on what was pushed down (see :func:`pushdown`);
- **n_rows** (``head`` without a filter) stops reading once enough rows are out, and the frames
  come out in batches of about ``batch_size`` rows: several small files to a batch (read on
  native threads, as :func:`hidpack.read_many` reads them), a long file a few blocks at a time.
  A fleet is never one giant frame in memory unless the query collects it.

The schema is known before anything is read, so it is the full, stable schema of the kinds the
scan covers, the columns and dtypes ``hidpack.read_many(paths, kinds=kinds).to_polars()`` gives
when every field of those kinds holds data: ``t`` (Int64, ns of each file's own time),
``file`` (UInt32, index into the expanded paths), ``path`` (Categorical; only with
``path=True``), ``kind`` (Categorical; left out when ``kinds`` is one kind) and every field the
kinds use, null where absent. A field no event fills is a column of nulls, not a missing
column: a query's columns do not depend on the data.

Errors are those of :func:`hidpack.read_many` with ``errors="raise"``: the first file, in path
order, that cannot be opened or has a damaged block *among those the query reads* raises, its
message led by the path, with ``.file`` and ``.path``.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import _native
from ._table import FIELDS, KIND_CODES, KINDS, require
from .fleet import _names, expand_paths
from .recording import _arrow_table, _native_bounds, _polars_frame

__all__ = ["scan_polars", "pushdown", "Window"]

#: Rows per batch when polars gives no ``batch_size``.
DEFAULT_BATCH_ROWS = 1 << 17


# -- predicate pushdown ------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """What a predicate implies about the rows it can keep: ``t0 <= t < t1``, ``kind`` in
    ``kinds`` (kind codes) and ``file`` in ``files`` (indexes into the scan's paths). None is
    no bound. Always a superset: a row outside the window cannot satisfy the predicate, a row
    inside it may or may not."""

    t0: int | None = None
    t1: int | None = None
    kinds: frozenset[int] | None = None
    files: frozenset[int] | None = None

    def both(self, other: Window) -> Window:
        """The window of ``a & b``: the intersection."""
        return Window(
            _pick(max, self.t0, other.t0),
            _pick(min, self.t1, other.t1),
            _pick(frozenset.intersection, self.kinds, other.kinds),
            _pick(frozenset.intersection, self.files, other.files),
        )

    def either(self, other: Window) -> Window:
        """The window of ``a | b``: the smallest window holding both (unbounded where either is)."""
        return Window(
            None if self.t0 is None or other.t0 is None else min(self.t0, other.t0),
            None if self.t1 is None or other.t1 is None else max(self.t1, other.t1),
            None if self.kinds is None or other.kinds is None else self.kinds | other.kinds,
            None if self.files is None or other.files is None else self.files | other.files,
        )

    def is_empty(self) -> bool:
        """True when no row can be in the window."""
        return (
            (self.t0 is not None and self.t1 is not None and self.t0 >= self.t1)
            or self.kinds == frozenset()
            or self.files == frozenset()
        )


def _pick(f: Any, a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else f(a, b)


EVERYTHING = Window()

_FLIPPED = {"Gt": "Lt", "GtEq": "LtEq", "Lt": "Gt", "LtEq": "GtEq", "Eq": "Eq"}
_FLOATS = {"Float64", "Float32"}


def pushdown(predicate: Any, kinds: Sequence[str] | None = None, paths: Sequence[str] | None = None) -> Window:
    """The :class:`Window` a polars predicate ``Expr`` implies on ``t``, ``kind`` and the files.

    Read from the expression's serialized (JSON) plan, conservatively: a node it does not know
    (another column, ``~``, ``!=``, a function, a cast other than ``t`` to a float) bounds
    nothing, and ``|`` bounds only as far as both sides do. Literal values are evaluated by
    polars itself. A JSON shape a future polars changes gives :data:`EVERYTHING` (no pushdown),
    never a wrong window. ``kinds``: the kinds the scan covers (the window's kinds are within).
    ``paths``: the scan's files (``file`` is an index into them); given, comparisons,
    ``is_between`` and ``is_in`` on ``file`` and ``==`` / ``is_in`` on ``path`` bound the files.
    """
    window = EVERYTHING
    if predicate is not None:
        try:
            window = _window(json.loads(predicate.meta.serialize(format="json")), paths)
        except Exception:  # noqa: BLE001 (any failure to understand the plan: no pushdown)
            window = EVERYTHING
    if kinds is not None:
        window = window.both(Window(kinds=frozenset(KIND_CODES[k] for k in kinds)))
    return window


def _window(node: Any, paths: Sequence[str] | None) -> Window:
    tag, body = _tagged(node)
    if tag == "BinaryExpr":
        op, left, right = body.get("op"), body.get("left"), body.get("right")
        if op in ("And", "LogicalAnd"):
            return _window(left, paths).both(_window(right, paths))
        if op in ("Or", "LogicalOr"):
            return _window(left, paths).either(_window(right, paths))
        if op in _FLIPPED:
            if _tagged(left)[0] == "Literal":
                left, right, op = right, left, _FLIPPED[op]
            return _compare(left, op, right, paths)
        return EVERYTHING
    if tag == "Function":
        inputs, function = body.get("input") or [], body.get("function")
        name, options = _tagged(function.get("Boolean") if isinstance(function, dict) else None)
        if name == "AllHorizontal":
            out = EVERYTHING
            for i in inputs:
                out = out.both(_window(i, paths))
            return out
        if name == "IsBetween" and len(inputs) == 3:
            closed = options.get("closed") if isinstance(options, dict) else None
            if closed not in ("Both", "Left", "Right", "None"):
                return EVERYTHING
            low = _compare(inputs[0], "GtEq" if closed in ("Both", "Left") else "Gt", inputs[1], paths)
            high = _compare(inputs[0], "LtEq" if closed in ("Both", "Right") else "Lt", inputs[2], paths)
            return low.both(high)
        if name == "IsIn" and len(inputs) == 2:
            return _members(inputs[0], inputs[1], paths)
    return EVERYTHING


def _tagged(node: Any) -> tuple[str | None, Any]:
    """``("Tag", body)`` of a serialized node ``{"Tag": body}`` (or of a bare ``"Tag"``)."""
    if isinstance(node, str):
        return node, None
    if isinstance(node, dict) and len(node) == 1:
        ((tag, body),) = node.items()
        return tag, body
    return None, None


def _column(node: Any) -> tuple[str | None, bool]:
    """``(name, exact)`` of a column reference: ``exact`` False for ``t`` cast to a float (as
    polars casts it to compare it with a float literal)."""
    tag, body = _tagged(node)
    if tag == "Column" and isinstance(body, str):
        return body, True
    if tag == "Cast" and isinstance(body, dict):
        name, exact = _column(body.get("expr"))
        dtype = _tagged(body.get("dtype"))
        target = dtype[1] if dtype[0] == "Literal" else dtype[0]
        if name == "t" and exact and target in _FLOATS:
            return "t", False
        if name in ("kind", "path") and exact and target == "String":
            return name, True
    return None, False


def _literal(node: Any) -> list[Any] | None:
    """The values of a literal node (a list or series literal flattened), evaluated by polars;
    None if the node is not a literal."""
    if _tagged(node)[0] != "Literal":
        return None
    pl = require("polars", "polars", "hidpack.scan_polars()")
    expr = pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json")
    series = pl.select(expr).to_series()
    if series.dtype.is_nested():
        series = series.explode()
    return [v for v in series.to_list() if v is not None]


def _compare(column: Any, op: str, value: Any, paths: Sequence[str] | None) -> Window:
    name, exact = _column(column)
    values = _literal(value)
    if name is None or values is None or len(values) != 1:
        return EVERYTHING
    (v,) = values
    if name == "kind":
        return _kinds(values) if op == "Eq" else EVERYTHING
    if name in ("file", "path"):
        return _files(name, op, values, paths)
    if name != "t":
        return EVERYTHING
    lo_hi = _t_bounds(v, exact)
    if lo_hi is None:
        return EVERYTHING
    lo, hi = lo_hi  # every t with v `op` t true... lies in these: t > v needs t >= lo, t < v needs t < hi
    if op == "Gt":
        return Window(t0=lo + 1 if exact else lo)
    if op == "GtEq":
        return Window(t0=lo)
    if op == "Lt":
        return Window(t1=hi - 1 if exact else hi)
    if op == "LtEq":
        return Window(t1=hi)
    return Window(lo, hi)  # Eq


def _t_bounds(v: Any, exact: bool) -> tuple[int, int] | None:
    """``(lo, hi)``: a t equal to ``v`` lies in ``lo <= t < hi``; for a comparison of ``t``
    cast to a float, widened by more than the rounding of the cast (a float64 or float32 keeps
    24 bits at least: 2^-20 of the value, and 1 ns, is ample)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int) and exact:
        return v, v + 1
    f = float(v)
    if not math.isfinite(f):
        return None
    margin = abs(f) * 2.0**-20 + 1.0
    return math.floor(f - margin), math.floor(f + margin) + 1


def _kinds(values: list[Any]) -> Window:
    if not all(isinstance(v, str) and v in KIND_CODES for v in values):
        return EVERYTHING  # polars decides what an unknown name means; the scan reads every kind
    return Window(kinds=frozenset(KIND_CODES[v] for v in values))


def _files(name: str, op: str, values: list[Any], paths: Sequence[str] | None) -> Window:
    """The files whose ``file`` index (any comparison with a number) or ``path`` (``==`` a
    string) compares true with one of ``values`` (``op`` "Eq": equals one of them)."""
    if paths is None:
        return EVERYTHING
    if name == "file" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        test = _FILE_TESTS.get(op)
        if test is None:
            return EVERYTHING
        return Window(files=frozenset(j for j in range(len(paths)) if any(test(j, v) for v in values)))
    if name == "path" and op == "Eq" and all(isinstance(v, str) for v in values):
        return Window(files=frozenset(j for j, p in enumerate(paths) if p in values))
    return EVERYTHING


_FILE_TESTS: dict[str, Callable[[int, Any], bool]] = {
    "Eq": lambda j, v: j == v,
    "Gt": lambda j, v: j > v,
    "GtEq": lambda j, v: j >= v,
    "Lt": lambda j, v: j < v,
    "LtEq": lambda j, v: j <= v,
}


def _members(column: Any, value: Any, paths: Sequence[str] | None) -> Window:
    name, exact = _column(column)
    values = _literal(value)
    if values is None:
        return EVERYTHING
    if name == "kind":
        return _kinds(values)
    if name in ("file", "path"):
        return _files(name, "Eq", values, paths)
    if name != "t" or not values:
        return EVERYTHING
    bounds = [_t_bounds(v, exact) for v in values]
    if any(b is None for b in bounds):
        return EVERYTHING
    return Window(min(b[0] for b in bounds if b), max(b[1] for b in bounds if b))


# -- the scan ----------------------------------------------------------------------------------


def scan_polars(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    kinds: Sequence[str] | str | None = None,
    path: bool = False,
    threads: int | None = None,
) -> Any:
    """A lazy ``polars.LazyFrame`` of the events of ``paths``, read when collected (see the
    module documentation for what is pushed down)::

        lf = hidpack.scan_polars("fleet")                     # a directory, a glob, or a list
        first_10s = lf.filter(pl.col("t") < 10_000_000_000, pl.col("kind").is_in(["button", "key"]))
        first_10s.group_by("file", "kind").len().collect()   # decodes the first 10 s of each file

    ``paths``: as :func:`hidpack.read_many` takes them (a list of files, a directory of
    ``*.hpk``, a glob pattern); expanded now, so a pattern that matches nothing raises
    ``FileNotFoundError`` here. ``kinds``: the kinds the scan covers (its schema holds their
    fields only; one kind leaves out the ``kind`` column, as ``to_polars`` does). ``path``: add
    a ``path`` column (Categorical, after ``file``). ``threads``: native decode threads (None:
    one per CPU).

    The schema is the full one of ``kinds`` (every field they use, null where absent), known
    before reading; the rows, their order and their values are those of
    ``hidpack.read_many(paths, kinds=kinds).to_polars(path=path)`` filtered the same way.
    Needs pyarrow and a polars with IO plugins (``polars.io.plugins.register_io_source``; the
    predicate shapes :func:`pushdown` reads were checked on polars 2.1, and a shape another
    version serializes differently is simply not pushed down)."""
    pl = require("polars", "polars", "hidpack.scan_polars()")
    pa = require("pyarrow", "polars", "hidpack.scan_polars()")
    plugins = getattr(getattr(pl, "io", None), "plugins", None)
    if plugins is None or not hasattr(plugins, "register_io_source"):
        raise ImportError(
            f"hidpack.scan_polars() needs a polars with IO plugins (polars.io.plugins.register_io_source); "
            f"this is polars {pl.__version__}: pip install -U polars"
        )
    names = expand_paths(paths)
    kind_list = _names("kind", kinds, list(KIND_CODES))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be an int >= 1 or None (one per CPU), not {threads!r}")
    scan = _Scan(pl, pa, names, kind_list, path, threads)
    label = {
        "explain_name": "hidpack",
        "explain_detail": f"{len(names):,} file(s)" + (f", kinds {', '.join(kind_list)}" if kind_list else ""),
    }
    accepted = inspect.signature(plugins.register_io_source).parameters  # labels: newer polars only
    return plugins.register_io_source(
        scan.source, schema=scan.schema, **{k: v for k, v in label.items() if k in accepted}
    )


@dataclass
class _Batch:
    """Files to read together (``blocks`` None: every wanted block of each), or some blocks of
    one file (``files`` holds that one file)."""

    files: list[int]
    blocks: list[int] | None = None


class _Scan:
    """One scan: its files, kinds and schema; :meth:`source` is what polars calls."""

    def __init__(self, pl: Any, pa: Any, names: list[str], kinds: list[str] | None, path: bool, threads: int | None):
        self.pl, self.pa, self.names, self.kinds, self.path, self.threads = pl, pa, names, kinds, path, threads
        self.one_kind = kinds[0] if kinds is not None and len(kinds) == 1 else None
        codes = None if kinds is None else {KIND_CODES[k] for k in kinds}
        self.fields = [n for n, _, req, opt in FIELDS if codes is None or codes.intersection(req + opt)]
        empty = {"t": np.zeros(0, np.int64), "kind": np.zeros(0, np.uint8), "file": np.zeros(0, np.uint32)}
        self.schema = self._frame(empty, self.fields).schema

    # -- what polars calls

    def source(
        self, with_columns: list[str] | None, predicate: Any, n_rows: int | None, batch_size: int | None
    ) -> Iterator[Any]:
        """The batches of the query: read with the pushed-down window and columns, then filtered
        by the whole predicate and cut to ``with_columns`` and ``n_rows``."""
        window = pushdown(predicate, self.kinds, self.names)
        wanted = set(self.schema.names() if with_columns is None else with_columns)
        if predicate is not None:
            wanted.update(predicate.meta.root_names())
        fields = [f for f in self.fields if f in wanted]
        size = max(1, batch_size or DEFAULT_BATCH_ROWS)
        left = n_rows
        if window.is_empty() or left == 0:
            return
        for batch in self._batches(window, lambda: size if left is None else max(1, min(size, left))):
            frame = self._frame(self._read(batch, window, fields), fields)
            if predicate is not None:
                frame = frame.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if left is not None:
                frame = frame.head(left)
                left -= frame.height
            if frame.height:
                yield frame
            if left == 0:
                return

    # -- planning

    def _batches(self, window: Window, rows: Callable[[], int]) -> Iterator[_Batch]:
        """The reads of the scan, in file order: consecutive files gathered up to about
        ``rows()`` events (counted from each file's block index; asked again before each
        batch, so a ``head`` shrinks the next one), a file with more than that split into
        runs of its wanted blocks."""
        pending: list[int] = []
        count = 0
        files = range(len(self.names)) if window.files is None else sorted(window.files)
        for j in files:
            wanted = self._wanted_blocks(j, window)
            if wanted is None:  # unreadable or damaged: read_many decides, in its turn
                pending.append(j)
                continue
            events = sum(n for _, n in wanted)
            if events == 0:
                continue
            if pending and count + events > rows():
                yield _Batch(pending)
                pending, count = [], 0
            if events <= rows():
                pending.append(j)
                count += events
                continue
            run: list[int] = []
            size = 0
            for index, n in wanted:
                run.append(index)
                size += n
                if size >= rows():
                    yield _Batch([j], run)
                    run, size = [], 0
            if run:
                yield _Batch([j], run)
        if pending:
            yield _Batch(pending)

    def _wanted_blocks(self, j: int, window: Window) -> list[tuple[int, int]] | None:
        """``(index, events of the wanted kinds)`` of the blocks of file ``j`` the window
        overlaps (from the block index only: nothing is decompressed), or None when the file
        cannot be opened or was found damaged on opening (a file without its index is scanned):
        ``read_many`` then reads it, and raises what it raises."""
        try:
            reader = _native.Reader(self.names[j])
        except (OSError, _native.HidpackError):
            return None
        if reader.problems():
            return None
        blocks = reader.blocks()
        kinds = [KINDS[c] for c in sorted(window.kinds)] if window.kinds is not None else list(KINDS)
        out = []
        for b in blocks:
            if window.t0 is not None and int(b["t_max"]) < window.t0:
                continue
            if window.t1 is not None and int(b["t_min"]) >= window.t1:
                continue
            n = sum(int(b["counts"].get(k, 0)) for k in kinds)
            if n:
                out.append((int(b["index"]), n))
        return out

    # -- reading

    def _read(self, batch: _Batch, window: Window, fields: list[str]) -> dict[str, Any]:
        """The native table of a batch, with ``file`` indexes into :attr:`names`."""
        t0, t1 = _native_bounds(window.t0, window.t1)
        kinds = None if window.kinds is None else [KINDS[c] for c in sorted(window.kinds)]
        if batch.blocks is not None:
            return self._read_blocks(batch.files[0], batch.blocks, t0, t1, kinds, fields)
        names = [self.names[j] for j in batch.files]
        try:
            table = _native.read_many(names, t0=t0, t1=t1, kinds=kinds, fields=fields, threads=self.threads)[0]
        except (OSError, _native.HidpackError) as e:
            if isinstance(getattr(e, "file", None), int):
                e.file = batch.files[e.file]  # type: ignore[union-attr]
            raise
        table["file"] = np.asarray(batch.files, dtype=np.uint32)[np.asarray(table["file"], dtype=np.intp)]
        return dict(table)

    def _read_blocks(
        self, j: int, blocks: list[int], t0: int | None, t1: int | None, kinds: list[str] | None, fields: list[str]
    ) -> dict[str, Any]:
        """Some blocks of file ``j``. The native reader skips a damaged block and lists it in
        ``problems()``; the scan raises it as :func:`hidpack.read_many` would (by letting it)."""
        reader = _native.Reader(self.names[j])
        table = dict(reader.read(t0=t0, t1=t1, kinds=kinds, blocks=blocks, fields=fields, threads=self.threads))
        problems = reader.problems()
        if problems:
            self._raise(j, problems[0], t0, t1, kinds)
        table["file"] = np.full(len(table["t"]), j, dtype=np.uint32)
        return table

    def _raise(self, j: int, problem: dict[str, Any], t0: int | None, t1: int | None, kinds: list[str] | None) -> None:
        """Raise the problem of file ``j`` as ``read_many`` raises it (same class and message):
        by reading the file's window with it (only on the way to raising; its blocks outside
        the window stay unread). Should that read succeed, a ``CorruptBlockError`` made from
        the problem is raised."""
        path = self.names[j]
        try:
            _native.read_many([path], t0=t0, t1=t1, kinds=kinds, fields=[], threads=1)
        except (OSError, _native.HidpackError) as e:
            e.file = j  # type: ignore[union-attr]
            raise
        err = _native.CorruptBlockError(f"{path}: {problem['error']}")
        err.offset, err.file, err.path = problem["offset"], j, path  # type: ignore[attr-defined]
        raise err

    def _frame(self, table: dict[str, Any], fields: list[str]) -> Any:
        """The polars frame of a native table, built as ``to_polars`` builds it: ``t``,
        ``file``, ``path`` (with ``path=True``), ``kind`` (unless one kind), ``fields``."""
        pa = self.pa
        arrow = _arrow_table(pa, table, self.one_kind, fields)
        if self.path:
            files = np.asarray(table["file"], dtype=np.uint32)
            distinct, codes = np.unique(files, return_inverse=True)
            col = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32), pa.int32()), pa.array([self.names[i] for i in distinct], pa.string())
            )
            arrow = arrow.add_column(arrow.schema.get_field_index("file") + 1, pa.field("path", col.type, nullable=False), col)
        return _polars_frame(self.pl, pa, arrow)
