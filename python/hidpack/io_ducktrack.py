"""Import of DuckTrack JSONL recordings (pynput listeners; https://github.com/TheDuckAI/DuckTrack).

Each line is one JSON object: ``time_stamp`` (float seconds of ``time.perf_counter()``) and
``action``: ``move`` {x, y} | ``click`` {x, y, button, pressed} | ``scroll`` {x, y, dx, dy} |
``press`` / ``release`` {name}.

Mapping:

* ``t`` = ns since the earliest ``time_stamp`` (the first event). Every ``time_stamp`` is turned into
  integer nanoseconds *exactly from its decimal text* (never through a float product); a value
  with more than 9 decimals is refused. The earliest one is kept in metadata
  ``clock_origin_ns`` (``clock_source = "perf_counter"``), so ``time_stamp`` is rebuilt exactly.
* ``move`` -> move (x, y; fractional points stored exactly, buttons absent);
  ``click`` -> button (left 1, right 2, middle 3, x1 4, x2 5, unknown 0, Linux ``buttonN`` N) with
  x, y; ``scroll`` -> scroll (dx, dy, x, y); ``press``/``release`` -> key (usage from
  :func:`hidpack.keymap.pynput_to_usage`, native = :func:`hidpack.keymap.encode_pynput`,
  ``native_keyspace = "pynput"``; a ``null`` name leaves both absent).
* Whether x/y/dx/dy were JSON integers or floats is kept in metadata ``ducktrack_number_types``
  so that :func:`iter_ducktrack` gives back the same Python values (and
  :func:`export_ducktrack` the same JSON text).
* A ``metadata.json`` beside the events file contributes screen size, system, release, machine,
  model, scroll direction, start/stop times and OBS state timings. Never the host name
  (``node``) nor ``id`` (the MAC address): no host identifiers go into the file.
* Lines with an unknown action are not stored; they are counted in the report and in the
  metadata entry ``import_skipped``.
"""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import keymap
from ._io import (
    BUTTON,
    KEY,
    MOVE,
    SCROLL,
    ImportReport,
    PathLike,
    TableBuilder,
    check_table,
    counts_by_kind,
    field,
    import_error,
    open_recording,
    write_recording,
)

__all__ = [
    "timestamp_to_ns",
    "ns_to_timestamp",
    "read_ducktrack",
    "import_ducktrack",
    "iter_ducktrack",
    "export_ducktrack",
    "METADATA_KEYS",
]

#: keys copied from DuckTrack's metadata.json (host name ``node`` and MAC ``id`` never are).
METADATA_KEYS: Tuple[str, ...] = (
    "system",
    "release",
    "machine",
    "model",
    "screen_width",
    "screen_height",
    "scroll_direction",
    "start_time",
    "stop_time",
    "obs_record_state_timings",
)
_NEVER = ("node", "id")

_BUTTONS = {"unknown": 0, "left": 1, "right": 2, "middle": 3, "x1": 4, "x2": 5}
_BUTTON_NAMES = {v: k for k, v in _BUTTONS.items()}

_FIELDS = {
    "move": ("x", "y"),
    "click": ("x", "y", "button", "pressed"),
    "scroll": ("x", "y", "dx", "dy"),
    "press": ("name",),
    "release": ("name",),
}


def timestamp_to_ns(text: Union[str, int]) -> int:
    """Exact integer nanoseconds of a decimal seconds text (``"150160.965463208"``).

    Raises ``ValueError`` if the value is not a finite decimal number or has more than 9 decimals.
    """
    if isinstance(text, bool):
        raise ValueError("time_stamp must be a number, got %r" % (text,))
    if isinstance(text, int):
        if abs(text) > _MAX_SECONDS:
            raise ValueError("time_stamp %s is out of range (more than 2^63 ns)" % _short(text))
        return text * 1_000_000_000
    try:
        d = Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValueError("time_stamp %r is not a decimal number" % (_short(text),)) from None
    if not d.is_finite():
        raise ValueError("time_stamp %r is not finite" % (text,))
    # before scaling (1e999999999 would take minutes to expand); copy_abs: no context, no Overflow trap
    if d.copy_abs() > _MAX_SECONDS:
        raise ValueError("time_stamp %s is out of range (more than 2^63 ns)" % _short(text))
    with localcontext() as ctx:
        ctx.prec = max(60, len(str(text)) + 12)
        ns = d.scaleb(9)
        if ns != ns.to_integral_value():
            raise ValueError(
                "time_stamp %r has more than 9 decimals: it cannot be stored as integer "
                "nanoseconds exactly" % (text,)
            )
        return int(ns)


#: the largest |time_stamp| in seconds whose nanoseconds fit in an int64
_MAX_SECONDS = (2**63 - 1) // 1_000_000_000


def _short(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 40 else text[:40] + "..."


def ns_to_timestamp(ns: int) -> float:
    """Inverse of :func:`timestamp_to_ns` as the float DuckTrack wrote (correctly rounded)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return float(Decimal(int(ns)).scaleb(-9))


def _number(v: Any, what: str) -> Tuple[float, str]:
    """(value, "int"|"float") of a JSON number kept as text (floats parsed with ``str``)."""
    if isinstance(v, bool) or v is None:
        raise ValueError("%s %r is not a number" % (what, v))
    try:
        if isinstance(v, int):
            return float(v), "int"
        if isinstance(v, str):
            return float(v), "float"
    except (OverflowError, ValueError):
        raise ValueError("%s %s is out of range" % (what, v if len(str(v)) < 40 else str(v)[:40] + "...")) from None
    raise ValueError("%s %r is not a number" % (what, v))


def _button_code(name: Any) -> int:
    if isinstance(name, str) and name in _BUTTONS:
        return _BUTTONS[name]
    if isinstance(name, str) and name.startswith("button") and name[6:].isdigit():
        n = int(name[6:])
        if 6 <= n <= 255:
            return n
    raise ValueError("unknown mouse button %r" % (name,))


def _button_name(code: int) -> str:
    return _BUTTON_NAMES.get(code, "button%d" % code)


def read_ducktrack(
    path: PathLike, report: Optional[ImportReport] = None
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Parse a DuckTrack ``events.jsonl`` into ``(write table, metadata)``."""
    path = os.fspath(path)
    rows: List[Tuple[int, str, Dict[str, Any], int, int]] = []
    skipped: Dict[str, int] = {}
    extra: Dict[str, int] = {}
    offset = 0  # byte offset of the line being read
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line_offset, offset = offset, offset + len(raw)

            def bad(reason: str) -> Exception:
                return import_error(path, reason, line=lineno, offset=line_offset)

            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                reason = "not UTF-8 text (%s)" % e.reason
                raise import_error(path, reason, line=lineno, offset=line_offset + e.start) from None
            if not line.strip():
                continue
            d = _json(line, bad, parse_float=str)
            if not isinstance(d, dict) or "time_stamp" not in d or "action" not in d:
                raise bad("not a DuckTrack event (needs time_stamp, action)")
            action = d["action"]
            if not isinstance(action, str):
                raise bad("action %r is not a string" % (action,))
            if action not in _FIELDS:
                key = "action:%s" % action
                skipped[key] = skipped.get(key, 0) + 1
                continue
            for k in d:
                if k not in ("time_stamp", "action") and k not in _FIELDS[action]:
                    extra["%s.%s" % (action, k)] = extra.get("%s.%s" % (action, k), 0) + 1
            try:
                ns = timestamp_to_ns(d["time_stamp"])
            except ValueError as e:
                raise bad(str(e)) from None
            rows.append((ns, action, d, lineno, line_offset))

    origin = min((r[0] for r in rows), default=0)
    types: Dict[str, set] = {"x": set(), "y": set(), "dx": set(), "dy": set()}
    b = TableBuilder()
    for ns, action, d, lineno, line_offset in rows:
        try:
            _add_event(b, ns - origin, action, d, types)
        except ValueError as e:
            raise import_error(path, str(e), line=lineno, offset=line_offset) from None
    table = b.build()
    check_table(table, path, lambda row: (rows[row][3], rows[row][4]))

    md: Dict[str, Any] = {
        "session": _session_name(path),
        "source": "ducktrack",
        "source_format": "ducktrack-jsonl",
        "clock_source": "perf_counter",
        "clock_origin_ns": origin,
        "native_keyspace": "pynput",
        "ducktrack_number_types": {
            k: (v.pop() if len(v) == 1 else "float") for k, v in types.items() if v
        },
    }
    if skipped:
        md["import_skipped"] = dict(skipped)
    side = os.path.join(os.path.dirname(os.path.abspath(path)), "metadata.json")
    if os.path.isfile(side):
        with open(side, "rb") as fh:
            raw = fh.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise import_error(side, "not UTF-8 text (%s)" % e.reason, offset=e.start) from None
        host_md = _json(text, lambda reason: import_error(side, reason))
        if isinstance(host_md, dict):
            for k in METADATA_KEYS:
                if k in host_md:
                    md[k] = host_md[k]
    for k in _NEVER:
        md.pop(k, None)
    if report is not None:
        for k, v in skipped.items():
            report.skipped[k] = report.skipped.get(k, 0) + v
        for k, v in extra.items():
            report.warnings.append("%d %s field(s) not stored" % (v, k))
        for k, tset in types.items():
            if len(tset) > 1:
                report.warnings.append("%s mixes JSON integers and floats; read back as floats" % k)
    return table, md


def _no_constant(name: str) -> Any:
    raise ValueError("%s is not a JSON number" % name)


def _json(text: str, bad: Callable[[str], Exception], **kw: Any) -> Any:
    """``json.loads(text)``; invalid JSON (``NaN`` too) or nesting deeper than the parser's
    recursion limit is ``bad(reason)``."""
    try:
        return json.loads(text, parse_constant=_no_constant, **kw)
    except json.JSONDecodeError as e:
        raise bad("invalid JSON (%s)" % e) from None
    except ValueError as e:
        raise bad("invalid JSON (%s)" % e) from None
    except RecursionError:
        raise bad("invalid JSON (nested too deeply)") from None


def _add_event(b: TableBuilder, t: int, action: str, d: Dict[str, Any], types: Dict[str, set]) -> None:
    """One DuckTrack event into ``b``; ``ValueError`` (nothing added) for a bad value."""
    missing = [k for k in _FIELDS[action] if k not in d]
    if missing:
        raise ValueError("%s event without %s" % (action, ", ".join(missing)))
    if action in ("move", "click", "scroll"):
        x, tx = _number(d["x"], "x")
        y, ty = _number(d["y"], "y")
        if action == "move":
            b.add(t, MOVE, x=x, y=y)
        elif action == "click":
            if not isinstance(d["pressed"], bool):
                raise ValueError("pressed %r is not a boolean" % (d["pressed"],))
            b.add(t, BUTTON, x=x, y=y, button=_button_code(d["button"]), pressed=d["pressed"])
        else:
            dx, tdx = _number(d["dx"], "dx")
            dy, tdy = _number(d["dy"], "dy")
            b.add(t, SCROLL, x=x, y=y, dx=dx, dy=dy)
            types["dx"].add(tdx)
            types["dy"].add(tdy)
        types["x"].add(tx)
        types["y"].add(ty)
    else:
        name = d["name"]
        if name is not None and not isinstance(name, str):
            raise ValueError("key name %r is not a string" % (name,))
        native = None if name is None else keymap.encode_pynput(name)
        b.add(t, KEY, pressed=(action == "press"), native=native, usage=keymap.pynput_to_usage(name))


def _session_name(path: str) -> str:
    base = os.path.splitext(os.path.basename(path))[0]
    if base == "events":
        parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
        return parent or base
    return base


def default_output_name(path: PathLike) -> str:
    return _session_name(os.fspath(path)) + ".hpk"


def _zone(timezone: Any) -> Any:
    """A ``tzinfo`` from None (this machine's local zone), a ``tzinfo``, ``"UTC"``, ``"local"``,
    an offset ``"+02:00"`` / ``"-0400"`` or an IANA name (``"America/New_York"``)."""
    import datetime as dt
    import re

    if timezone is None or timezone == "local":
        return None
    if isinstance(timezone, dt.tzinfo):
        return timezone
    if not isinstance(timezone, str):
        raise TypeError("timezone must be None, a tzinfo or a string, not %s" % type(timezone).__name__)
    if timezone.upper() in ("UTC", "Z"):
        return dt.timezone.utc
    m = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2}):?(\d{2})?", timezone.strip(), re.IGNORECASE)
    if m:
        delta = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return dt.timezone(-delta if m.group(1) == "-" else delta)
    try:
        from zoneinfo import ZoneInfo
    except ImportError:  # pragma: no cover - Python 3.8
        raise ValueError("time zone %r: only UTC and offsets such as +02:00 on this Python" % timezone) from None
    try:
        return ZoneInfo(timezone)
    except Exception:
        raise ValueError(
            "unknown time zone %r (use UTC, an offset such as -04:00, or a name such as America/New_York)" % timezone
        ) from None


def start_wall_clock_ns(md: Dict[str, Any], timezone: Any = None) -> Optional[Tuple[int, str]]:
    """``(Unix ns, how it was read)`` of the recording's start from DuckTrack's ``start_time``
    (``metadata.json``: the recorder machine's local time, whole seconds, no zone, taken just
    before the listeners started), read in ``timezone`` (None: this machine's local zone); None
    when the metadata has no start time it can read."""
    import datetime as dt

    text = md.get("start_time")
    if not isinstance(text, str):
        return None
    try:
        naive = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    zone = _zone(timezone)
    when = naive.astimezone() if zone is None else naive.replace(tzinfo=zone)
    off = when.utcoffset() or dt.timedelta(0)
    sign, off = ("-", -off) if off < dt.timedelta(0) else ("+", off)
    hours, rest = divmod(int(off.total_seconds()), 3600)
    how = "metadata.json start_time %r read as UTC%s%02d:%02d (%s; whole seconds)" % (
        text, sign, hours, rest // 60, "this machine's local time zone" if zone is None else "time zone %s" % timezone
    )
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    delta = when - epoch
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000, how


def import_ducktrack(
    src: PathLike,
    out: PathLike,
    *,
    level: int = 3,
    overwrite: bool = False,
    policy: Any = None,
    timezone: Any = None,
    clock_grid: Optional[bool] = None,
) -> ImportReport:
    """Import a DuckTrack ``events.jsonl`` into the recording ``out`` (a ``.hpk`` path, or a
    directory: then ``<session>.hpk`` inside it).

    The file's wall clock (Unix ns at t = 0) is the ``start_time`` of ``metadata.json`` beside
    it, when there is one: DuckTrack wrote it in its machine's local time without a zone, so it is
    read in ``timezone`` (None: this machine's local zone, said in a report warning; else
    ``"UTC"``, ``"-04:00"``, ``"America/New_York"`` or a ``tzinfo``), to the second. How it
    was read is kept in metadata ``wall_clock_source``. ``clock_grid``: as :func:`hidpack.write_table`'s."""
    t0 = time.perf_counter()
    src = os.fspath(src)
    report = ImportReport(source=os.path.basename(src), format="ducktrack")
    table, md = read_ducktrack(src, report)
    start = start_wall_clock_ns(md, timezone)
    wall = None
    if start is not None:
        wall, md["wall_clock_source"] = start
        if timezone is None:
            report.warnings.append(
                "wall clock: %s; pass timezone= (--timezone) if it was recorded in another zone"
                % md["wall_clock_source"]
            )
    out = os.fspath(out)
    if not out.endswith(".hpk"):
        os.makedirs(out, exist_ok=True)
        out = os.path.join(out, default_output_name(src))
    if not overwrite and os.path.exists(out):
        raise FileExistsError("%s exists (use overwrite=True / --force to replace it)" % out)
    write_recording(
        out, table, md, wall_clock_ns=wall, level=level, policy=policy, overwrite=overwrite, clock_grid=clock_grid
    )
    report.files = [out]
    report.add_counts(counts_by_kind(table["kind"]))
    report.bytes = os.path.getsize(out)
    report.seconds = time.perf_counter() - t0
    return report


def _value(v: float, typ: Optional[str]) -> Union[int, float]:
    if typ == "int" and float(v).is_integer():
        return int(v)
    return float(v)


def iter_ducktrack(recording: Any) -> Iterator[Dict[str, Any]]:
    """Rebuild the DuckTrack event dicts (same keys, key order and values) from a recording.

    ``recording``: a path or an object returned by ``hidpack.open``. Kinds DuckTrack has no action
    for (raw_move, text, focus, marker, gap) are left out. ``time_stamp`` is exact when the
    recording has ``clock_origin_ns`` (imported from DuckTrack); otherwise it is seconds since t=0.
    """
    rec = open_recording(recording) if isinstance(recording, (str, os.PathLike)) else recording
    md = dict(rec.metadata or {})
    table = rec.table()
    origin = int(md.get("clock_origin_ns", 0))
    types = md.get("ducktrack_number_types") or {}
    pynput = md.get("native_keyspace") == "pynput"
    t = np.asarray(table["t"], dtype=np.int64)
    kind = np.asarray(table["kind"])
    x, xv = field(table, "x")
    y, yv = field(table, "y")
    dx, _ = field(table, "dx")
    dy, _ = field(table, "dy")
    button, _ = field(table, "button")
    pressed, _ = field(table, "pressed")
    native, nv = field(table, "native")
    usage, uv = field(table, "usage")
    tx, ty, tdx, tdy = (types.get(k) for k in ("x", "y", "dx", "dy"))
    for i in range(len(t)):
        k = int(kind[i])
        ts = ns_to_timestamp(origin + int(t[i]))
        if k == MOVE:
            yield {"time_stamp": ts, "action": "move", "x": _value(x[i], tx), "y": _value(y[i], ty)}
        elif k == BUTTON:
            d: Dict[str, Any] = {"time_stamp": ts, "action": "click"}
            if xv[i]:
                d["x"] = _value(x[i], tx)
            if yv[i]:
                d["y"] = _value(y[i], ty)
            d["button"] = _button_name(int(button[i]))
            d["pressed"] = bool(pressed[i])
            yield d
        elif k == SCROLL:
            d = {"time_stamp": ts, "action": "scroll"}
            if xv[i]:
                d["x"] = _value(x[i], tx)
            if yv[i]:
                d["y"] = _value(y[i], ty)
            d["dx"] = _value(dx[i], tdx)
            d["dy"] = _value(dy[i], tdy)
            yield d
        elif k == KEY:
            if nv[i] and pynput:
                name: Optional[str] = keymap.decode_pynput(int(native[i]))
            elif uv[i]:
                name = keymap.usage_name(int(usage[i]))
            else:
                name = None
            yield {"time_stamp": ts, "action": "press" if pressed[i] else "release", "name": name}


def export_ducktrack(recording: Any, out: PathLike) -> int:
    """Write a recording as DuckTrack JSONL (``json.dumps`` per line); returns the line count.

    For a recording imported from DuckTrack the output is the source file, byte for byte.
    """
    n = 0
    with open(os.fspath(out), "w", encoding="utf-8", newline="\n") as fh:
        for d in iter_ducktrack(recording):
            fh.write(json.dumps(d))
            fh.write("\n")
            n += 1
    return n
