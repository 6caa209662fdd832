"""Private helpers shared by the importers/exporters (``io_*.py``) and the CLI.

They go through the public API (``hidpack.write_table``, ``hidpack.open``) and the event-table
contract of docs/ARCHITECTURE.md; nothing here touches the file format directly.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._table import FIELDS, KIND_CODES, KINDS

PathLike = Union[str, "os.PathLike[str]"]

KIND_CODE: Dict[str, int] = KIND_CODES
MOVE, RAW_MOVE, BUTTON, SCROLL, KEY, TEXT, FOCUS, MARKER, GAP = range(9)

#: field -> (type, kinds using it), derived from the one schema in ``_table.FIELDS``.
FIELD_KINDS: Dict[str, Tuple[str, Tuple[int, ...]]] = {
    name: (typ, tuple(sorted(req + opt))) for name, typ, req, opt in FIELDS
}
FIELD_ORDER: Tuple[str, ...] = tuple(FIELD_KINDS)
_DTYPES = {"coord": np.float64, "int": np.int64, "bool": np.bool_}

#: button code -> name used by the importers (HID button page order).
BUTTON_NAMES = {1: "left", 2: "right", 3: "middle", 4: "x1", 5: "x2"}


def hidpack_module() -> Any:
    """The ``hidpack`` package (imported lazily: the io modules are imported by it)."""
    import hidpack

    return hidpack


def hidpack_error() -> type:
    """``hidpack.HidpackError`` (falls back to the native module's class)."""
    hp = hidpack_module()
    err = getattr(hp, "HidpackError", None)
    if err is None:  # pragma: no cover - contract says it exists
        from hidpack import _native

        err = _native.HidpackError
    return err


def import_error(
    path: Optional[str], reason: str, *, line: Optional[int] = None, offset: Optional[int] = None
) -> Exception:
    """A :class:`hidpack.ImportFormatError` (a ``FormatError`` and a ``ValueError``) naming the
    source file and where in it (``line`` and/or byte ``offset``) the damage was found."""
    from ._errors import ImportFormatError

    return ImportFormatError(path, reason, line=line, offset=offset)


def check_table(
    table: Dict[str, Any], path: str, locate: Callable[[int], Tuple[Optional[int], Optional[int]]]
) -> None:
    """Check an imported table as the writer will; a value the format cannot store is an
    :func:`import_error` at its source row's place (``locate(row) -> (line, offset)``), not an
    error about row N of a table the user never saw."""
    from ._native import EventValueError
    from .writing import prepare

    try:
        prepare(table)
    except EventValueError as e:
        row = getattr(e, "row", None)
        line, offset = locate(row) if isinstance(row, int) else (None, None)
        raise import_error(path, str(e), line=line, offset=offset) from None
    except (TypeError, ValueError) as e:  # a table the importer built wrongly from odd input
        raise import_error(path, "cannot store the events: %s" % e) from None


_I64 = (-(2**63), 2**63 - 1)


def _checked(name: str, typ: str, v: Any) -> Any:
    """``v`` if it fits its field's column (int64, finite float64), else ``ValueError``."""
    if typ == "int":
        if not _I64[0] <= int(v) <= _I64[1]:
            raise ValueError("%s %r does not fit in 64 bits" % (name, v))
    elif typ == "coord":
        try:
            f = float(v)
        except OverflowError:
            raise ValueError("%s %r is too large" % (name, v)) from None
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError("%s %r is not finite" % (name, v))
    elif typ == "str":
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("%s %r is not valid Unicode (a lone surrogate)" % (name, v)) from None
    return v


def empty_table(n: int) -> Dict[str, Any]:
    """A write table of ``n`` rows with every numeric field absent (arrays + ``_valid``)."""
    table: Dict[str, Any] = {"t": np.zeros(n, np.int64), "kind": np.zeros(n, np.uint8)}
    for name, (typ, _) in FIELD_KINDS.items():
        if typ == "str":
            continue
        table[name] = np.zeros(n, _DTYPES[typ])
        table[name + "_valid"] = np.zeros(n, bool)
    return table


class TableBuilder:
    """Row-by-row builder of a write table, for the (small) JSON sources (DuckTrack, OWA).

    ``add(t, kind, **fields)``: fields given (not ``None``) are present, the others absent.
    """

    def __init__(self) -> None:
        self.t: List[int] = []
        self.kind: List[int] = []
        self.cols: Dict[str, List[Any]] = {f: [] for f in FIELD_ORDER}

    def __len__(self) -> int:
        return len(self.t)

    def add(self, t: int, kind: int, **fields: Any) -> None:
        """Raises ``ValueError`` (adding nothing) for a time or value that does not fit its
        column (an integer beyond 64 bits, a coordinate that is not a finite float)."""
        unknown = set(fields) - set(self.cols)
        if unknown:
            raise KeyError("unknown event field(s): %s" % ", ".join(sorted(unknown)))
        _checked("t", "int", t)
        for name, v in fields.items():
            if v is not None:
                _checked(name, FIELD_KINDS[name][0], v)
        self.t.append(int(t))
        self.kind.append(int(kind))
        for name, col in self.cols.items():
            col.append(fields.get(name))

    def build(self) -> Dict[str, Any]:
        n = len(self.t)
        table: Dict[str, Any] = {
            "t": np.asarray(self.t, dtype=np.int64).reshape(n),
            "kind": np.asarray(self.kind, dtype=np.uint8).reshape(n),
        }
        for name, col in self.cols.items():
            typ = FIELD_KINDS[name][0]
            if all(v is None for v in col):
                continue
            if typ == "str":
                table[name] = list(col)
                continue
            valid = np.fromiter((v is not None for v in col), dtype=bool, count=n)
            dtype = _DTYPES[typ]
            if typ == "int":
                values = np.array([0 if v is None else int(v) for v in col], dtype=np.int64)
            elif typ == "bool":
                values = np.array([False if v is None else bool(v) for v in col], dtype=bool)
            else:
                values = np.array([0.0 if v is None else float(v) for v in col], dtype=dtype)
            table[name] = values
            table[name + "_valid"] = valid
        return table


def write_recording(
    path: PathLike,
    table: Dict[str, Any],
    metadata: Dict[str, Any],
    *,
    wall_clock_ns: Optional[int] = None,
    level: int = 3,
    policy: Any = None,
    overwrite: bool = False,
    clock_grid: Optional[bool] = None,
) -> Any:
    """Write an imported table (atomically; an existing ``path`` only with ``overwrite``). With a privacy ``policy`` (preset name, TOML path, dict or
    Policy) the table goes through it first, the policy is stored in the header
    (``privacy_policy``) and what it withheld or transformed too (``privacy_applied``).
    ``clock_grid``: as :func:`hidpack.write_table`'s."""
    hp = hidpack_module()
    if policy is not None:
        from .policy import load_policy

        pol = load_policy(policy)
        if not pol.is_off:
            table, report = pol.apply_table(table)
            metadata = dict(metadata)
            metadata["privacy_policy"] = pol.describe()
            metadata["privacy_applied"] = report
    return hp.write_table(
        os.fspath(path), table, metadata=metadata, wall_clock_ns=wall_clock_ns, level=level, overwrite=overwrite,
        clock_grid=clock_grid,
    )


def open_recording(path: PathLike) -> Any:
    return hidpack_module().open(os.fspath(path))


def event_rows(table: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every event of a read table as a dict ``{t, kind, <present fields>}`` (pure numpy, no
    optional packages): the shape of the conformance dumps and of ``export --to jsonl``."""
    t = np.asarray(table["t"], dtype=np.int64)
    kind = np.asarray(table["kind"], dtype=np.int64)
    rows: List[Dict[str, Any]] = [{"t": int(t[i]), "kind": KINDS[int(kind[i])]} for i in range(len(t))]
    for name in FIELD_ORDER:
        typ = FIELD_KINDS[name][0]
        if name + "_valid" not in table:
            continue
        valid = np.asarray(table[name + "_valid"], dtype=bool)
        if typ == "str":
            strings = string_column(table, name)
            for i in np.flatnonzero(valid):
                rows[i][name] = strings[i]
            continue
        values = np.asarray(table[name])
        conv = {"coord": float, "bool": bool}.get(typ, int)
        for i in np.flatnonzero(valid):
            rows[i][name] = conv(values[i])
    return rows


def string_column(table: Dict[str, Any], name: str) -> List[Optional[str]]:
    """Decode a read-side string field (``_offsets``/``_data``/``_valid``) into a list."""
    n = len(table["t"])
    if name + "_offsets" not in table:
        value = table.get(name)
        if value is None:
            return [None] * n
        return list(value)  # already a list/object array
    offsets = np.asarray(table[name + "_offsets"], dtype=np.int64)
    data = np.asarray(table[name + "_data"], dtype=np.uint8).tobytes()
    valid = np.asarray(table[name + "_valid"], dtype=bool)
    out: List[Optional[str]] = [None] * n
    for i in np.flatnonzero(valid):
        out[i] = data[offsets[i] : offsets[i + 1]].decode("utf-8")
    return out


def field(table: Dict[str, Any], name: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(values, valid)`` of a numeric field of a read table (absent everywhere if missing)."""
    n = len(table["t"])
    typ = FIELD_KINDS[name][0]
    if name not in table:
        return np.zeros(n, _DTYPES[typ]), np.zeros(n, bool)
    values = np.asarray(table[name])
    valid = table.get(name + "_valid")
    if valid is None:
        kinds = np.asarray(table["kind"])
        valid = np.isin(kinds, FIELD_KINDS[name][1])
    return values, np.asarray(valid, dtype=bool)


def expand_recordings(paths: Union[PathLike, Iterable[PathLike]]) -> List[str]:
    """Paths of recordings: files as given, directories expanded to their ``*.hpk`` files."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: List[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out.extend(
                sorted(
                    os.path.join(p, name)
                    for name in os.listdir(p)
                    if name.endswith(".hpk") and os.path.isfile(os.path.join(p, name))
                )
            )
        else:
            out.append(p)
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_stem(name: str, used: set) -> str:
    """A file-system-safe, unique (case-insensitively, within ``used``) stem for ``name``."""
    stem = _UNSAFE.sub("_", name).strip(".") or "session"
    stem = stem[:200]
    candidate = stem
    n = 1
    while candidate.lower() in used:
        n += 1
        candidate = "%s~%d" % (stem, n)
    used.add(candidate.lower())
    return candidate


def counts_by_kind(kinds: np.ndarray) -> Dict[str, int]:
    c = np.bincount(np.asarray(kinds, dtype=np.int64), minlength=len(KINDS))
    return {KINDS[i]: int(c[i]) for i in range(len(KINDS)) if c[i]}


def format_coord(v: float) -> str:
    """Text of a coordinate: integers as integers, fractions with Python ``repr``."""
    v = float(v)
    if v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def sequence_of_paths(x: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(x, (str, os.PathLike)):
        return [os.fspath(x)]
    return [os.fspath(p) for p in x]


@dataclass
class ImportReport:
    """What an importer did: files written, events per kind, what was not stored and why."""

    source: str
    format: str
    files: List[str] = dc_field(default_factory=list)
    events: int = 0
    counts: Dict[str, int] = dc_field(default_factory=dict)
    #: source records not stored as events, by reason/topic (nothing is dropped silently)
    skipped: Dict[str, int] = dc_field(default_factory=dict)
    warnings: List[str] = dc_field(default_factory=list)
    seconds: float = 0.0
    bytes: int = 0

    def add_counts(self, counts: Dict[str, int]) -> None:
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + int(v)
            self.events += int(v)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "files": list(self.files),
            "events": self.events,
            "counts": dict(self.counts),
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
            "seconds": self.seconds,
            "bytes": self.bytes,
        }

    def summary(self) -> str:
        lines = [
            "imported %s (%s): %s event(s) into %d file(s), %s bytes, in %.2f s"
            % (self.source, self.format, f"{self.events:,}", len(self.files), f"{self.bytes:,}", self.seconds)
        ]
        if self.counts:
            lines.append(
                "  events per kind: "
                + ", ".join("%s %s" % (k, f"{v:,}") for k, v in self.counts.items())
            )
        if self.skipped:
            lines.append(
                "  not stored: " + ", ".join("%s %s" % (k, f"{v:,}") for k, v in self.skipped.items())
            )
        for w in self.warnings:
            lines.append("  warning: " + w)
        return "\n".join(lines)


@dataclass
class ExportReport:
    """What an exporter did: rows written, events that the target format cannot represent."""

    out: str
    to: str
    recordings: int = 0
    rows: int = 0
    skipped: Dict[str, int] = dc_field(default_factory=dict)
    warnings: List[str] = dc_field(default_factory=list)
    seconds: float = 0.0

    def skip(self, what: str, n: int) -> None:
        if n:
            self.skipped[what] = self.skipped.get(what, 0) + int(n)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "out": self.out,
            "to": self.to,
            "recordings": self.recordings,
            "rows": self.rows,
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        lines = [
            "exported %d recording(s), %s row(s) to %s (%s) in %.2f s"
            % (self.recordings, f"{self.rows:,}", self.out, self.to, self.seconds)
        ]
        if self.skipped:
            lines.append(
                "  not representable in %s, left out: " % self.to
                + ", ".join("%s %s" % (k, f"{v:,}") for k, v in self.skipped.items())
            )
        for w in self.warnings:
            lines.append("  warning: " + w)
        return "\n".join(lines)
