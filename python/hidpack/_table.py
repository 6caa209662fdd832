"""Event tables: user input -> the native write form, and native read buffers -> numpy / Arrow.

This module is pure Python (numpy; pyarrow and pandas only when the caller hands them in or asks
for them) and does not import ``hidpack._native``, so it can be used and tested on its own.

The native form of a table is described in ``docs/ARCHITECTURE.md``: ``t`` int64, ``kind`` uint8,
per numeric field ``f`` a dense values array (0 where absent) and ``f_valid`` bool; per string field
a list of ``str | None`` on write, and ``f_offsets`` / ``f_data`` / ``f_valid`` buffers on read.
"""

from __future__ import annotations

import difflib
import importlib
import math
import sys
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "KINDS",
    "KIND_CODES",
    "FIELDS",
    "FIELD_TYPES",
    "GAP_REASONS",
    "Columns",
    "to_native_table",
    "kind_fields",
    "masked",
    "arrow_array",
    "arrow_string_array",
    "arrow_type",
    "decode_strings",
    "encode_strings",
    "require",
]

#: Kind names; the index is the kind code stored in files (mirrors ``_native.KINDS``).
KINDS: tuple[str, ...] = (
    "move",
    "raw_move",
    "button",
    "scroll",
    "key",
    "text",
    "focus",
    "marker",
    "gap",
)
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KINDS)}

#: ``(name, type, kinds_required, kinds_optional)`` for every field, in table order
#: (mirrors ``_native.FIELDS``).
FIELDS: tuple[tuple[str, str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("x", "coord", (0,), (2, 3)),
    ("y", "coord", (0,), (2, 3)),
    ("dx", "coord", (1, 3), ()),
    ("dy", "coord", (1, 3), ()),
    ("buttons", "int", (), (0,)),
    ("button", "int", (2,), ()),
    ("pressed", "bool", (2, 4), ()),
    ("usage", "int", (), (4,)),
    ("native", "int", (), (4,)),
    ("text", "str", (5,), ()),
    ("app", "str", (), (6,)),
    ("title", "str", (), (6,)),
    ("window", "int", (), (6,)),
    ("left", "int", (), (6,)),
    ("top", "int", (), (6,)),
    ("right", "int", (), (6,)),
    ("bottom", "int", (), (6,)),
    ("label", "str", (7,), ()),
    ("value", "int", (), (7,)),
    ("count", "int", (8,), ()),
    ("reason", "int", (8,), ()),
    ("t_end", "int", (), (8,)),
)
FIELD_TYPES: dict[str, str] = {name: typ for name, typ, _, _ in FIELDS}
_FIELD_SPECS = {name: (typ, req, opt) for name, typ, req, opt in FIELDS}

#: Values of a gap's ``reason`` field.
GAP_REASONS: tuple[str, ...] = ("unknown", "dropped", "paused", "redacted")

_NUMPY_DTYPES = {"coord": np.dtype(np.float64), "int": np.dtype(np.int64), "bool": np.dtype(bool)}
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def kind_fields(kind: str) -> list[tuple[str, str, bool]]:
    """``(name, type, required)`` of the fields ``kind`` uses, in table order."""
    code = _kind_code(kind)
    return [(name, typ, code in req) for name, typ, req, opt in FIELDS if code in req or code in opt]


def _kind_code(kind: str) -> int:
    try:
        return KIND_CODES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}") from None


def require(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency or raise an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{what} requires {module}: pip install 'hidpack[{extra}]'") from e


def column_selection(columns: Any, fields: Any, what: str) -> Any:
    """The field selection of a reader: ``columns=`` (the name pandas, pyarrow and polars use),
    or ``fields=``, its older name, kept as an alias. Both at once is a ``TypeError``."""
    if fields is None:
        return columns
    if columns is not None:
        raise TypeError(f"{what}: pass columns= or fields= (its old name), not both")
    return fields


def arrow_c_stream(table: Any, requested_schema: Any) -> Any:
    """The Arrow PyCapsule stream of a ``pyarrow.Table`` (its own ``__arrow_c_stream__``)."""
    stream = getattr(table, "__arrow_c_stream__", None)
    if stream is None:
        raise ImportError("the Arrow C stream interface needs pyarrow >= 14: pip install -U pyarrow")
    return stream(requested_schema)


# --------------------------------------------------------------------------------------------
# Columns: what the per-kind accessors return
# --------------------------------------------------------------------------------------------


class Columns:
    """Named, equal-length columns of one kind (``t`` plus that kind's fields).

    Behaves like a read-only mapping of column name -> numpy array (``cols["x"]``, ``cols.x``,
    ``"x" in cols``, ``keys()``, ``items()``), except that, like a pandas DataFrame, ``len()`` is the
    number of rows and iteration yields the column names. Required fields are plain ndarrays,
    optional fields ``numpy.ma.MaskedArray`` (mask = absent), string fields object arrays of
    ``str | None``. String columns are decoded on first access.
    """

    __slots__ = ("_kind", "_names", "_values", "_thunks", "_rows")

    def __init__(
        self,
        columns: Mapping[str, Any] | None = None,
        *,
        kind: str | None = None,
        lazy: Mapping[str, Callable[[], np.ndarray]] | None = None,
        order: Sequence[str] | None = None,
        rows: int | None = None,
    ) -> None:
        values = dict(columns or {})
        thunks = dict(lazy or {})
        names = list(order) if order is not None else [*values, *thunks]
        if set(names) != set(values) | set(thunks) or len(names) != len(set(names)):
            raise ValueError("order must name every column exactly once")
        if kind is not None:
            _kind_code(kind)
        if rows is None:
            rows = len(next(iter(values.values()))) if values else 0
        for name, col in values.items():
            if len(col) != rows:
                raise ValueError(f"column {name!r} has {len(col)} rows, expected {rows}")
        self._kind = kind
        self._names = tuple(names)
        self._values = values
        self._thunks = thunks
        self._rows = int(rows)

    @property
    def kind(self) -> str | None:
        """The kind these rows are (``None`` when mixed)."""
        return self._kind

    @property
    def columns(self) -> tuple[str, ...]:
        return self._names

    def keys(self) -> tuple[str, ...]:
        return self._names

    def values(self) -> list[np.ndarray]:
        return [self[name] for name in self._names]

    def items(self) -> list[tuple[str, np.ndarray]]:
        return [(name, self[name]) for name in self._names]

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self.items())

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            found: np.ndarray = self._values[name]
            return found
        except KeyError:
            pass
        thunk = self._thunks.pop(name, None)
        if thunk is None:
            raise KeyError(
                f"no column {name!r}; columns: {', '.join(self._names)}"
            ) from None
        value = thunk()
        self._values[name] = value
        return value

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no column {name!r}; columns: {', '.join(self._names)}"
            ) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._names))

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return self._rows

    def __repr__(self) -> str:
        kind = f"kind={self._kind!r}, " if self._kind is not None else ""
        return f"Columns({kind}rows={self._rows}, columns=[{', '.join(self._names)}])"


def columns_from_native(table: Mapping[str, Any], kind: str, fields: Sequence[str] | None = None) -> Columns:
    """Per-kind :class:`Columns` from a native read table holding only rows of ``kind`` (a
    narrow read, ``Reader.read_kind``, or a wide one): ``t`` and the kind's fields (only
    ``fields`` if given). An optional field without ``_valid`` is held on every row: its masked
    array has no mask (``numpy.ma.nomask``), not an array of False."""
    t = np.asarray(table["t"])
    n = len(t)
    values: dict[str, Any] = {"t": t}
    lazy: dict[str, Callable[[], np.ndarray]] = {}
    order = ["t"]
    for name, typ, required in kind_fields(kind):
        if fields is not None and name not in fields:
            continue
        order.append(name)
        if typ == "str":
            if name + "_offsets" in table:
                offsets, data = table[name + "_offsets"], table[name + "_data"]
                valid = table.get(name + "_valid")
                lazy[name] = _lazy_decoder(offsets, data, valid)
            else:
                values[name] = np.full(n, None, dtype=object)
            continue
        if name in table:
            vals = np.asarray(table[name])
            valid = table.get(name + "_valid")
        else:  # not in the table at all: absent everywhere
            vals = np.zeros(n, dtype=_NUMPY_DTYPES[typ])
            valid = np.zeros(n, dtype=bool)
        if required:
            values[name] = vals
        elif valid is None:
            values[name] = np.ma.MaskedArray(vals, mask=np.ma.nomask, copy=False)
        else:
            values[name] = masked(vals, valid)
    return Columns(values, kind=kind, lazy=lazy, order=order, rows=n)


def fields_holding_data(table: Mapping[str, Any], kinds: Iterable[str] | None = None) -> list[str]:
    """The fields of a wide read table that are in it (the native reader leaves out, unless
    they were asked for, the fields no row holds a value of), in table order; only those
    of ``kinds`` if given."""
    codes = None if kinds is None else {_kind_code(k) for k in kinds}
    return [
        name
        for name, _, req, opt in FIELDS
        if (name in table or name + "_offsets" in table) and (codes is None or codes.intersection(req + opt))
    ]


def wide_columns(columns: Sequence[str], kinds: Sequence[str] | None, what: str) -> list[str]:
    """The names of ``columns`` that are fields of ``kinds`` (None: of any kind), in the order
    given: a field no selected kind has is left out, as the native reader leaves it out. A
    name that is not a field raises ``ValueError``."""
    for name in columns:
        if name not in _FIELD_SPECS:
            close = difflib.get_close_matches(name, list(_FIELD_SPECS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{what}: unknown field `{name}`{hint}; fields are {', '.join(_FIELD_SPECS)}")
    if kinds is None:
        return list(columns)
    codes = {_kind_code(k) for k in kinds}
    return [name for name in columns if codes.intersection(_FIELD_SPECS[name][1] + _FIELD_SPECS[name][2])]


def check_kind_columns(columns: Sequence[str], kind: str, what: str) -> None:
    """Raise ``ValueError`` for a name in ``columns`` that is not a field of ``kind``."""
    have = [name for name, _, _ in kind_fields(kind)]
    for name in columns:
        if name not in have:
            raise ValueError(f"{what}: {kind!r} events have no field {name!r}; their fields are {', '.join(have)}")


def take_rows(table: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The rows of a wide read table where ``rows`` (bool) is True: numeric columns indexed,
    string fields' ``_offsets`` / ``_data`` rebuilt for the rows kept (no Python string made)."""
    out: dict[str, Any] = {}
    for key, col in table.items():
        if key.endswith("_data") and key[: -len("_data")] + "_offsets" in table:
            continue
        if key.endswith("_offsets"):
            base = key[: -len("_offsets")]
            offsets = np.asarray(col, dtype=np.int64)
            lengths = np.diff(offsets)
            data = np.asarray(table[base + "_data"], dtype=np.uint8)
            out[base + "_data"] = data[np.repeat(rows, lengths)] if len(data) else data[:0]
            kept = np.zeros(int(np.count_nonzero(rows)) + 1, dtype=np.int64)
            np.cumsum(lengths[rows], out=kept[1:])
            out[key] = kept
            continue
        out[key] = np.asarray(col)[rows]
    return out


def _lazy_decoder(offsets: Any, data: Any, valid: Any) -> Callable[[], np.ndarray]:
    return lambda: decode_strings(offsets, data, valid)


# --------------------------------------------------------------------------------------------
# Read side: native buffers -> numpy masked arrays, object arrays, Arrow arrays
# --------------------------------------------------------------------------------------------


def masked(values: np.ndarray, valid: np.ndarray | None) -> np.ma.MaskedArray:
    """A masked array over ``values`` (no copy) whose mask is ``~valid`` (True = absent)."""
    values = np.asarray(values)
    if valid is None:
        mask = np.zeros(values.shape, dtype=bool)
    else:
        mask = ~np.asarray(valid, dtype=bool)
    return np.ma.MaskedArray(values, mask=mask, copy=False)


def decode_strings(offsets: Any, data: Any, valid: Any = None) -> np.ndarray:
    """Arrow-layout UTF-8 buffers -> object array of ``str`` (``None`` where not valid)."""
    offs = np.asarray(offsets, dtype=np.int64)
    n = len(offs) - 1
    if n < 0:
        raise ValueError("string offsets must have at least one entry")
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    raw = np.asarray(data, dtype=np.uint8)
    bounds = offs.tolist()
    if raw.size and int(raw.max()) >= 0x80:
        buf = raw.tobytes()
        out[:] = [buf[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]
    else:  # ASCII: byte offsets are character offsets
        text = raw.tobytes().decode("ascii")
        out[:] = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    if valid is not None:
        out[~np.asarray(valid, dtype=bool)] = None
    return out


def encode_strings(values: Iterable[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``str | None`` values -> ``(offsets int64[n+1], data uint8, valid bool[n])`` (Arrow layout)."""
    encoded: list[bytes] = []
    valid: list[bool] = []
    for v in values:
        if v is None:
            encoded.append(b"")
            valid.append(False)
        else:
            encoded.append(v.encode("utf-8"))
            valid.append(True)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return offsets, data, np.array(valid, dtype=bool)


def arrow_type(typ: str) -> Any:
    """The Arrow type of a field type (``"coord"``, ``"int"``, ``"bool"``, ``"str"``)."""
    pa = require("pyarrow", "arrow", "Arrow conversion")
    return {
        "coord": pa.float64(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "str": pa.large_string(),
    }[typ]


def _validity_bitmap(pa: Any, valid: Any, n: int) -> tuple[Any, int]:
    if valid is None:
        return None, 0
    valid = np.asarray(valid, dtype=bool)
    if len(valid) != n:
        raise ValueError(f"validity has {len(valid)} entries, values have {n}")
    nulls = n - int(np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def arrow_array(values: np.ndarray, valid: np.ndarray | None = None) -> Any:
    """A nullable Arrow array over a numeric/bool numpy array; the data buffer is not copied
    (bools are bit-packed, as Arrow requires)."""
    pa = require("pyarrow", "arrow", "Arrow conversion")
    values = np.ascontiguousarray(values)
    if values.ndim != 1:
        raise ValueError("expected a 1-d array")
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    n = len(values)
    bitmap, nulls = _validity_bitmap(pa, valid, n)
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), n, [bitmap, data], null_count=nulls)
    typ = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(typ, n, [bitmap, pa.py_buffer(values)], null_count=nulls)


def arrow_string_array(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None = None) -> Any:
    """A nullable Arrow string array over Arrow-layout buffers, without copying them.

    int64 offsets (what the native reader returns) give ``large_string``; int32 give ``string``.
    """
    pa = require("pyarrow", "arrow", "Arrow conversion")
    offsets = np.ascontiguousarray(offsets)
    data = np.ascontiguousarray(data, dtype=np.uint8)
    n = len(offsets) - 1
    bitmap, nulls = _validity_bitmap(pa, valid, n)
    if offsets.dtype == np.int64:
        cls = pa.LargeStringArray
    elif offsets.dtype == np.int32:
        cls = pa.StringArray
    else:
        raise TypeError(f"string offsets must be int32 or int64, not {offsets.dtype}")
    return cls.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, nulls)


# --------------------------------------------------------------------------------------------
# Write side: user input -> native write table
# --------------------------------------------------------------------------------------------


def _valid_column_names() -> list[str]:
    names = ["t", "kind"]
    names += [name for name, _, _, _ in FIELDS]
    names += [name + "_valid" for name, _, _, _ in FIELDS]
    names += [name + suffix for name, typ, _, _ in FIELDS if typ == "str" for suffix in ("_offsets", "_data")]
    return names


_VALID_COLUMNS = frozenset(_valid_column_names())


def _event_value_error(message: str, row: int, field: str, value: str = "absent") -> Exception:
    """``hidpack.EventValueError`` (with ``.row``, ``.field``, ``.value`` like the native ones)
    when the native module is there, else a plain ValueError."""
    try:
        from ._native import EventValueError
    except ImportError:
        err: Exception = ValueError(message)
    else:
        err = EventValueError(message)
    err.row = row  # type: ignore[attr-defined]
    err.field = field  # type: ignore[attr-defined]
    err.value = value  # type: ignore[attr-defined]
    return err


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    name = type(v).__name__
    return name in ("NAType", "NaTType") or (isinstance(v, (np.datetime64, np.timedelta64)) and np.isnat(v))


def _source_columns(obj: Any) -> tuple[dict[str, Any], Any]:
    """Split the input into ``(columns, kind_default)``; columns are not converted yet."""
    kind_default = None
    if isinstance(obj, Columns):
        cols = {name: obj[name] for name in obj.keys()}
        kind_default = obj.kind
    elif isinstance(obj, Mapping):
        cols = dict(obj)
    elif isinstance(obj, np.ndarray) and obj.dtype.names is not None:
        cols = {name: obj[name] for name in obj.dtype.names}
    elif _module_of(obj) == "pandas" and hasattr(obj, "columns") and hasattr(obj, "iloc"):
        cols = {}
        for name in obj.columns:
            if not isinstance(name, str):
                raise ValueError(f"column names must be str, not {name!r}")
            cols[name] = obj[name]
        if len(set(obj.columns)) != len(obj.columns):
            raise ValueError("DataFrame has duplicate column names")
    elif _module_of(obj) == "pyarrow" and hasattr(obj, "schema") and hasattr(obj, "column"):
        cols = {name: obj.column(i) for i, name in enumerate(obj.schema.names)}
        if len(cols) != len(obj.schema.names):
            raise ValueError("Arrow table has duplicate column names")
    elif _module_of(obj) == "polars" and hasattr(obj, "to_arrow"):
        return _source_columns(obj.to_arrow())
    else:
        raise TypeError(
            "expected an event table: a dict of columns, hidpack.Columns, a numpy structured array, "
            f"a pandas or polars DataFrame or a pyarrow Table, not {type(obj).__name__}"
        )
    for name in cols:
        if not isinstance(name, str):
            raise ValueError(f"column names must be str, not {name!r}")
    return cols, kind_default


def _column_array(name: str, col: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Any column-like -> ``(values ndarray, absent mask or None)``; no field-specific checks."""
    mod = _module_of(col)
    if mod == "pyarrow":
        return _from_arrow(col)
    if mod == "pandas" and hasattr(col, "dtype") and hasattr(col, "isna"):
        return _from_pandas(col)
    if mod == "polars" and hasattr(col, "to_arrow"):
        return _from_arrow(col.to_arrow())
    # numpy.ma is imported by numpy lazily, in about 13 ms; a masked array exists only if it was
    ma = sys.modules.get("numpy.ma")
    if ma is not None and isinstance(col, ma.MaskedArray):
        mask = ma.getmaskarray(col)
        return np.asarray(col.data), (mask if mask.any() else None)
    if isinstance(col, np.ndarray):
        arr = col
    elif isinstance(col, (str, bytes)) or not hasattr(col, "__len__"):
        raise TypeError(f"column {name!r} must be a sequence of values, not {type(col).__name__}")
    else:
        seq = list(col)
        arr = np.empty(len(seq), dtype=object)
        arr[:] = seq
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-dimensional, got shape {arr.shape}")
    return arr, None


def _from_arrow(col: Any) -> tuple[np.ndarray, np.ndarray | None]:
    pa = importlib.import_module("pyarrow")
    pc = importlib.import_module("pyarrow.compute")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    typ = col.type
    if pa.types.is_null(typ):
        return np.full(len(col), None, dtype=object), None
    if (
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or (hasattr(pa.types, "is_string_view") and pa.types.is_string_view(typ))
    ):
        arr = np.empty(len(col), dtype=object)
        arr[:] = col.to_pylist()
        return arr, None
    mask = None
    if col.null_count:
        mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        col = pc.fill_null(col, False if pa.types.is_boolean(typ) else 0)
    return np.asarray(col.to_numpy(zero_copy_only=False)), mask


def _from_pandas(s: Any) -> tuple[np.ndarray, np.ndarray | None]:
    dt = s.dtype
    if isinstance(dt, np.dtype):
        return s.to_numpy(), None
    mask = np.asarray(s.isna().to_numpy(), dtype=bool)
    numpy_dtype = getattr(dt, "numpy_dtype", None)
    if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind in "biuf":
        fill: Any = False if numpy_dtype.kind == "b" else 0
        values = s.to_numpy(dtype=numpy_dtype, na_value=fill)
        return np.asarray(values), (mask if mask.any() else None)
    # strings, categoricals, anything else: Python objects with None for missing
    arr = np.empty(len(s), dtype=object)
    arr[:] = s.to_numpy(dtype=object, na_value=None)
    return arr, None


def _object_missing(arr: np.ndarray) -> np.ndarray:
    return np.fromiter((_is_missing(v) for v in arr), dtype=bool, count=len(arr))


def _numeric(name: str, typ: str, arr: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(values, absent)`` of a numeric/bool column, checked and converted to its native dtype."""
    n = len(arr)
    absent = np.zeros(n, dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if arr.dtype == object:
        miss = _object_missing(arr)
        absent |= miss
        if miss.any():
            arr = arr.copy()
            arr[miss] = 0
        for v in arr:
            if isinstance(v, (str, bytes)):
                raise TypeError(f"column {name!r} holds a {type(v).__name__} ({v!r}); expected numbers")
        try:
            inferred = np.array(arr.tolist())
        except (ValueError, TypeError, OverflowError) as e:
            raise TypeError(f"column {name!r}: cannot convert to numbers: {e}") from None
        if inferred.dtype == object:  # ints beyond 64 bits or mixed objects
            for i, v in enumerate(arr):
                if not isinstance(v, (int, float, bool, np.number, np.bool_)):
                    raise TypeError(f"column {name!r}, row {i}: {v!r} is not a number")
                if isinstance(v, (int, np.integer)) and not _INT64_MIN <= int(v) <= _INT64_MAX:
                    raise ValueError(f"column {name!r}, row {i}: {v} does not fit in int64")
            raise TypeError(f"column {name!r}: cannot convert mixed values to numbers")
        arr = inferred
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-dimensional, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "m":  # timedelta -> ns
        nat = np.isnat(arr)
        absent |= nat
        arr = arr.astype("timedelta64[ns]").view(np.int64)
        kind = "i"
    if kind not in "biuf":
        raise TypeError(f"column {name!r} has dtype {arr.dtype}; expected numbers")

    if typ == "coord":
        if kind == "b":
            raise TypeError(f"column {name!r} is a coordinate; got booleans")
        values = arr.astype(np.float64, copy=False)
        if kind == "f":
            absent |= np.isnan(values)
        return values, absent

    if typ == "bool":
        if kind == "b":
            return arr.astype(bool, copy=False), absent
        if kind == "f":
            absent |= np.isnan(arr)
        bad = ~absent & (arr != 0) & (arr != 1)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"column {name!r}, row {i}: {arr[i].item()!r} is not a boolean (0/1)")
        return arr == 1, absent

    # int
    if kind == "f":
        absent |= np.isnan(arr)
        ok = absent | (np.isfinite(arr) & (arr == np.trunc(arr)) & (arr >= -(2.0**63)) & (arr < 2.0**63))
        if not ok.all():
            i = int(np.argmin(ok))
            raise ValueError(f"column {name!r}, row {i}: {arr[i].item()!r} is not an int64 integer")
        values = np.where(absent, 0, arr).astype(np.int64)
        return values, absent
    if kind == "u" and arr.dtype.itemsize == 8:
        big = ~absent & (arr > np.uint64(_INT64_MAX))
        if big.any():
            i = int(np.argmax(big))
            raise ValueError(f"column {name!r}, row {i}: {int(arr[i])} does not fit in int64")
    return arr.astype(np.int64, copy=False), absent


def _strings(name: str, arr: np.ndarray, mask: np.ndarray | None) -> list[str | None]:
    out: list[str | None] = []
    for i, v in enumerate(arr.tolist() if arr.dtype != object else arr):
        if (mask is not None and mask[i]) or _is_missing(v):
            out.append(None)
        elif isinstance(v, str):
            out.append(v if type(v) is str else str(v))
        else:
            raise TypeError(f"column {name!r}, row {i}: expected str or None, got {type(v).__name__} {v!r}")
    return out


def _kind_codes(col: Any, n: int | None) -> np.ndarray:
    if isinstance(col, (str, int, np.integer, np.str_)) and not isinstance(col, bool):
        if n is None:
            raise ValueError("a scalar 'kind' needs a 't' column to take its length from")
        code = _scalar_kind(col, None)
        return np.full(n, code, dtype=np.uint8)
    arr, mask = _column_array("kind", col)
    if mask is not None and mask.any():
        raise ValueError(f"column 'kind' has a missing value at row {int(np.argmax(mask))}")
    if arr.dtype.kind in "iuf":
        if arr.dtype.kind == "f":
            bad = ~(np.isfinite(arr) & (arr == np.trunc(arr)))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"column 'kind', row {i}: {arr[i].item()!r} is not a kind code")
        bad = (arr < 0) | (arr >= len(KINDS))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"column 'kind', row {i}: unknown kind code {arr[i].item()!r}; valid codes are "
                f"0..{len(KINDS) - 1} ({', '.join(KINDS)})"
            )
        return arr.astype(np.uint8, copy=False)
    if arr.dtype.kind in "US":
        uniq, inverse = np.unique(arr, return_inverse=True)
        table = np.empty(len(uniq), dtype=np.uint8)
        for j, name in enumerate(uniq.tolist()):
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if name not in KIND_CODES:
                row = int(np.argmax(inverse.reshape(-1) == j))
                _unknown_kind(name, row)
            table[j] = KIND_CODES[name]
        return table[inverse.reshape(-1)]
    if arr.dtype == object:
        cache: dict[Any, int] = {}
        out = np.empty(len(arr), dtype=np.uint8)
        for i, v in enumerate(arr):
            try:
                out[i] = cache[v]
            except KeyError:
                cache[v] = code = _scalar_kind(v, i)
                out[i] = code
            except TypeError:  # unhashable
                out[i] = _scalar_kind(v, i)
        return out
    raise TypeError(f"column 'kind' must hold kind names or codes, not {arr.dtype}")


def _unknown_kind(value: Any, row: int | None) -> None:
    where = f", row {row}" if row is not None else ""
    raise ValueError(f"column 'kind'{where}: unknown kind {value!r}; valid kinds: {', '.join(KINDS)}")


def _scalar_kind(v: Any, row: int | None) -> int:
    if isinstance(v, str):
        code = KIND_CODES.get(str(v))
        if code is None:
            _unknown_kind(v, row)
        return code  # type: ignore[return-value]
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        if not 0 <= int(v) < len(KINDS):
            where = f", row {row}" if row is not None else ""
            raise ValueError(
                f"column 'kind'{where}: unknown kind code {int(v)}; valid codes are "
                f"0..{len(KINDS) - 1} ({', '.join(KINDS)})"
            )
        return int(v)
    if _is_missing(v):
        where = f" at row {row}" if row is not None else ""
        raise ValueError(f"column 'kind' has a missing value{where}")
    _unknown_kind(v, row)
    raise AssertionError  # unreachable


def _check_names(cols: Mapping[str, Any]) -> None:
    for name in cols:
        if name not in _VALID_COLUMNS:
            close = difflib.get_close_matches(name, sorted(_VALID_COLUMNS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fields = ", ".join(name for name, _, _, _ in FIELDS)
            raise ValueError(
                f"unknown column {name!r}{hint}; valid columns: t, kind, {fields} "
                "(and '<field>_valid' for any field)"
            )


def _row_list(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def to_native_table(obj: Any) -> dict[str, Any]:
    """Convert an event table given by a user to the native write form.

    ``obj`` is a dict of columns (numpy arrays, masked arrays, lists, pandas Series, Arrow arrays),
    :class:`Columns`, a numpy structured array, a pandas or polars DataFrame, or a pyarrow Table.
    ``kind`` holds kind names or codes (a single name or code applies to every row; a
    :class:`Columns` of one kind needs no ``kind`` column).

    A field value is *absent* where it is ``None``, masked, null (Arrow/pandas), ``NaN`` (float
    columns) or ``NaT``, and on every row whose kind does not use the field. An explicit
    ``<field>_valid`` column is also honoured. A field missing from the input is absent everywhere.

    Raises ``ValueError`` for unknown column names, columns of different lengths, unknown kinds
    and values that do not fit their field's type; ``EventValueError`` when a field a kind
    requires is absent on a row of that kind.
    """
    cols, kind_default = _source_columns(obj)
    _check_names(cols)

    # lengths: every column but the native string buffers is one value per row
    n: int | None = None
    first = None
    for name, col in cols.items():
        if name.endswith(("_offsets", "_data")) or (name == "kind" and not hasattr(col, "__len__")):
            continue
        if isinstance(col, (str, bytes)):
            if name == "kind":
                continue
            raise TypeError(f"column {name!r} must be a sequence of values, not {type(col).__name__}")
        length = len(col)
        if n is None:
            n, first = length, name
        elif length != n:
            raise ValueError(f"column {name!r} has {length} rows but column {first!r} has {n}")
    for name, typ, _, _ in FIELDS:
        if typ == "str" and name + "_offsets" in cols:
            offs = cols[name + "_offsets"]
            if n is not None and len(offs) != n + 1:
                raise ValueError(
                    f"column {name + '_offsets'!r} has {len(offs)} entries, expected {n} + 1 "
                    f"(column {first!r} has {n} rows)"
                )

    if "t" not in cols:
        raise ValueError("the table needs a 't' column (int64 ns since the file's start)")
    t_vals, t_absent = _numeric("t", "int", *_column_array("t", cols["t"]))
    if t_absent.any():
        raise ValueError(f"column 't' has a missing value at row {int(np.argmax(t_absent))}")
    n = len(t_vals)

    if "kind" in cols:
        kind = _kind_codes(cols["kind"], n)
    elif kind_default is not None:
        kind = np.full(n, KIND_CODES[kind_default], dtype=np.uint8)
    else:
        raise ValueError(f"the table needs a 'kind' column (names or codes of: {', '.join(KINDS)})")

    out: dict[str, Any] = {"t": np.ascontiguousarray(t_vals, dtype=np.int64), "kind": np.ascontiguousarray(kind)}
    present_kinds = frozenset(np.flatnonzero(np.bincount(kind, minlength=len(KINDS))).tolist())
    row_masks: dict[tuple[int, ...], np.ndarray] = {}  # fields share their kinds (x and y, ...)

    def rows_of(codes: tuple[int, ...]) -> np.ndarray:
        if codes not in row_masks:
            row_masks[codes] = _rows_of(kind, present_kinds, codes)
        return row_masks[codes]

    for name, typ, req, opt in FIELDS:
        given = name in cols or (typ == "str" and name + "_offsets" in cols)
        if not given and name + "_valid" not in cols and not present_kinds.intersection(req):
            continue  # absent everywhere, and no row needs it (most fields of most tables)
        uses = rows_of(req + opt)
        required = rows_of(req)
        # every row of the table may carry the field / no row requires it: checks that cannot fail
        uses_all = present_kinds <= set(req + opt)
        required_none = not present_kinds.intersection(req)

        explicit_valid = None
        if name + "_valid" in cols:
            v_arr, v_mask = _column_array(name + "_valid", cols[name + "_valid"])
            v_vals, v_absent = _numeric(name + "_valid", "bool", v_arr, v_mask)
            explicit_valid = v_vals & ~v_absent if v_mask is not None or v_arr.dtype == object else v_vals

        if not given:
            if explicit_valid is not None and (explicit_valid & uses).any():
                raise ValueError(f"column {name + '_valid'!r} marks values present but there is no column {name!r}")
            if required.any():
                rows = np.flatnonzero(required)
                raise _event_value_error(
                    f"row {int(rows[0])}: field {name!r} is required on {KINDS[int(kind[rows[0]])]!r} rows "
                    f"but the table has no column {name!r} (rows {_row_list(rows)})",
                    int(rows[0]),
                    name,
                )
            continue

        if typ == "str":
            if name in cols:
                strings = _strings(name, *_column_array(name, cols[name]))
            else:
                if name + "_data" not in cols:
                    raise ValueError(f"column {name + '_offsets'!r} needs a {name + '_data'!r} column")
                decoded = decode_strings(cols[name + "_offsets"], cols[name + "_data"], None)
                strings = decoded.tolist()
            valid = np.fromiter((s is not None for s in strings), dtype=bool, count=n)
        else:
            values, absent = _numeric(name, typ, *_column_array(name, cols[name]))
            valid = ~absent
        if explicit_valid is not None:
            stray = None if uses_all else explicit_valid & ~uses
            if stray is not None and stray.any():
                i = int(np.argmax(stray))
                raise ValueError(
                    f"row {i}: column {name + '_valid'!r} marks {name!r} present on a "
                    f"{KINDS[int(kind[i])]!r} row, and {KINDS[int(kind[i])]!r} events have no {name!r} field"
                )
            valid &= explicit_valid
        # Without an explicit validity, values on rows whose kind has no such field are the
        # filler of a dense union table (zeros, NaN): they are not data and are not stored.
        if not uses_all:
            valid &= uses

        missing = None if required_none else required & ~valid
        if missing is not None and missing.any():
            rows = np.flatnonzero(missing)
            i = int(rows[0])
            raise _event_value_error(
                f"row {i}: field {name!r} is required on {KINDS[int(kind[i])]!r} rows but is absent "
                f"(rows {_row_list(rows)})",
                i,
                name,
            )
        if typ == "str":
            out[name] = [s if ok else None for s, ok in zip(strings, valid.tolist())]
        else:
            if not valid.all():
                values = np.where(valid, values, np.zeros((), dtype=values.dtype))
            out[name] = np.ascontiguousarray(values)
            out[name + "_valid"] = np.ascontiguousarray(valid)
    return out


def _rows_of(kind: np.ndarray, present: frozenset[int], codes: tuple[int, ...]) -> np.ndarray:
    """bool[n]: which rows have one of the kind ``codes`` (cheap when all or none do)."""
    if present <= set(codes):
        return np.ones(len(kind), dtype=bool)
    if not present & set(codes):
        return np.zeros(len(kind), dtype=bool)
    lut = np.zeros(256, dtype=bool)
    lut[list(codes)] = True
    rows: np.ndarray = lut[kind]
    return rows
