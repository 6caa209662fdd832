"""Export of recordings to MCAP as OWAMcap messages: :func:`export_mcap`, ``hidpack export
FILES --to mcap -o OUT``.

The output is what the Open World Agents recorder (``ocap``) writes and
:mod:`hidpack.io_owa` reads: an MCAP file with profile ``owa``, one channel per topic, JSON
messages (zstd-compressed chunks), each channel's schema named as OWA names it (``desktop/...``,
a JSON Schema), so the ``mcap`` package, Foxglove and OWA's own reader (``mcap-owa-support`` +
``owa-msgs``) open it. One MCAP file per recording: ``OUT`` is a ``.mcap`` file for one
recording, or a directory (``<file stem>.mcap`` each) for several.

Mapping (the inverse of :mod:`hidpack.io_owa`'s; ``log_time`` = ``publish_time`` =
``wall_clock_ns + t``):

* move -> ``mouse`` ``desktop/MouseEvent`` ``{"event_type": "move", x, y}``
* button -> ``mouse`` ``{"event_type": "click", x, y, button: left|right|middle|x1|x2|unknown, pressed}``
  (button codes 1..5, 0 = unknown)
* scroll -> ``mouse`` ``{"event_type": "scroll", x, y, dx, dy}``
* raw_move -> ``mouse/raw`` ``desktop/RawMouseEvent`` ``{last_x: dx, last_y: dy}`` (relative)
* key -> ``keyboard`` ``desktop/KeyboardEvent`` ``{"event_type": "press"|"release", vk}``:
  ``vk`` = ``native`` when the recording's ``native_keyspace`` is Windows virtual keys, else the
  virtual key of the ``usage`` (its native code is then not carried: counted)
* focus -> ``window`` ``desktop/WindowInfo`` ``{title, rect: [left, top, right, bottom], hWnd: window}``
* marker ``screen`` / ``screen#i`` -> ``screen`` ``desktop/ScreenCaptured``
  ``{media_ref: {uri: metadata video (its i-th URI), pts_ns: value}}`` (and ``shape`` /
  ``source_shape`` from the metadata's ``screen_shape`` / ``screen_source_shape``)
* the recording's metadata, wall clock, first ``t`` and what was not carried go into an MCAP
  metadata record named ``hidpack`` (OWA readers ignore it).

What OWAMcap cannot carry, so :func:`export_mcap` leaves it out and counts it in the report's
``skipped`` (the CLI prints the counts; ``strict=True`` / ``--strict`` refuses instead), never
dropping it silently:

* events of kind ``text`` and ``gap`` (a gap's dropped / paused / redacted counts), markers
  other than screen frames (clock records included), screen markers with no video URI;
* positions and deltas that are not integers (OWA's fields are ints: macOS points, fractional
  raw deltas), buttons and scrolls without a position, button codes above 5, keys with neither a
  Windows ``native`` code nor a ``usage`` that has one, focus events without a title, rectangle or
  window handle;
* fields: a move's held ``buttons``, a focus event's ``app``, a key's non-Windows ``native``
  (sent as the virtual key of its usage).

Round trip: everything else comes back exactly through :func:`hidpack.io_owa.import_owa`
(every event, field and value, in order), with one convention of OWAMcap readers: time counts
from the first message, so the re-imported ``t`` starts at 0 and its wall clock moves by the
first event's ``t`` (the Unix time of every event is the same). A recording without a wall
clock is written with ``log_time`` = ``t`` (from 1970-01-01) and a warning.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from . import keymap
from ._io import (
    BUTTON,
    FOCUS,
    GAP,
    KEY,
    MARKER,
    MOVE,
    RAW_MOVE,
    SCROLL,
    TEXT,
    ExportReport,
    PathLike,
    expand_recordings,
    field,
    open_recording,
    string_column,
)
from .io_owa import _BUTTON_NAMES, MCAP_INSTALL_HINT

__all__ = ["export_mcap", "NOT_CARRIED", "SCHEMAS", "TOPICS"]

#: topic -> OWA schema name of its messages
TOPICS = {
    "mouse": "desktop/MouseEvent",
    "mouse/raw": "desktop/RawMouseEvent",
    "keyboard": "desktop/KeyboardEvent",
    "window": "desktop/WindowInfo",
    "screen": "desktop/ScreenCaptured",
}

_INT = {"type": "integer"}
_OPT_INT = {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
_PAIR = {"anyOf": [{"type": "array", "prefixItems": [_INT, _INT], "minItems": 2, "maxItems": 2}, {"type": "null"}],
         "default": None}

#: OWA schema name -> the JSON Schema written for it (the fields of owa-msgs' models)
SCHEMAS: Dict[str, Dict[str, Any]] = {
    "desktop/MouseEvent": {
        "title": "MouseEvent", "type": "object",
        "properties": {
            "event_type": {"enum": ["move", "click", "scroll"], "type": "string"},
            "x": _INT, "y": _INT,
            "button": {"anyOf": [{"enum": ["unknown", "left", "middle", "right", "x1", "x2"], "type": "string"},
                                 {"type": "null"}], "default": None},
            "pressed": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "default": None},
            "dx": _OPT_INT, "dy": _OPT_INT, "timestamp": _OPT_INT,
        },
        "required": ["event_type", "x", "y"],
    },
    "desktop/RawMouseEvent": {
        "title": "RawMouseEvent", "type": "object",
        "properties": {
            "last_x": _INT, "last_y": _INT,
            "us_flags": {"type": "integer", "default": 0},
            "button_flags": {"type": "integer", "default": 0},
            "button_data": {"type": "integer", "default": 0},
            "device_handle": _OPT_INT, "timestamp": _OPT_INT,
        },
        "required": ["last_x", "last_y"],
    },
    "desktop/KeyboardEvent": {
        "title": "KeyboardEvent", "type": "object",
        "properties": {"event_type": {"enum": ["press", "release"], "type": "string"}, "vk": _INT,
                       "timestamp": _OPT_INT},
        "required": ["event_type", "vk"],
    },
    "desktop/WindowInfo": {
        "title": "WindowInfo", "type": "object",
        "properties": {
            "title": {"type": "string"},
            "rect": {"type": "array", "prefixItems": [_INT, _INT, _INT, _INT], "minItems": 4, "maxItems": 4},
            "hWnd": _INT,
        },
        "required": ["title", "rect", "hWnd"],
    },
    "desktop/ScreenCaptured": {
        "title": "ScreenCaptured", "type": "object",
        "properties": {
            "utc_ns": _OPT_INT, "source_shape": _PAIR, "shape": _PAIR,
            "media_ref": {"anyOf": [{"type": "object", "properties": {"uri": {"type": "string"}, "pts_ns": _OPT_INT},
                                     "required": ["uri"]}, {"type": "null"}], "default": None},
        },
    },
}

#: what OWAMcap cannot carry (the report's ``skipped`` keys)
NOT_CARRIED = (
    "text events", "gap events", "markers other than screen frames", "screen markers without a video URI",
    "moves with non-integer x/y", "buttons without an integer position", "button codes above 5",
    "scrolls without integer x/y/dx/dy", "raw moves with non-integer dx/dy", "keys without a Windows virtual key",
    "focus events without title, rectangle and window", "move.buttons values", "focus.app values",
    "key.native values not Windows virtual keys (sent as the virtual key of the usage)",
)

_WINDOWS_KEYSPACES = ("windows_vk", "windows-vk")
_I64 = 2**63


def _writer_module() -> Any:
    try:
        from mcap.writer import CompressionType, Writer
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("writing MCAP files needs the 'mcap' package: %s" % MCAP_INSTALL_HINT) from e
    return Writer, CompressionType


def _library() -> str:
    from . import __version__

    try:
        import mcap

        mv = getattr(mcap, "__version__", "?")
    except ImportError:  # pragma: no cover
        mv = "?"
    return "hidpack %s; mcap %s" % (__version__, mv)


def _ints(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Which rows hold an integral value (and are present)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return valid & np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < _I64)


def _messages(rec: Any, report: ExportReport, strict: bool) -> Tuple[List[Tuple[str, int, bytes]], Dict[str, int]]:
    """``(topic, t, JSON bytes)`` of every event OWA can carry, in file order, and the counts
    of what it cannot carry."""
    md = dict(rec.metadata or {})
    table = rec.table()
    t = np.asarray(table["t"], dtype=np.int64)
    kind = np.asarray(table["kind"], dtype=np.int64)
    n = len(t)
    f = {name: field(table, name) for name in (
        "x", "y", "dx", "dy", "buttons", "button", "pressed", "usage", "native", "window",
        "left", "top", "right", "bottom", "value",
    )}
    skipped: Dict[str, int] = {}

    def skip(what: str, count: int) -> None:
        if count:
            skipped[what] = skipped.get(what, 0) + int(count)

    xy_int = _ints(*f["x"]) & _ints(*f["y"])
    dxy_int = _ints(*f["dx"]) & _ints(*f["dy"])
    ok = np.zeros(n, dtype=bool)
    is_ = {k: kind == k for k in (MOVE, RAW_MOVE, BUTTON, SCROLL, KEY, TEXT, FOCUS, MARKER, GAP)}
    ok |= is_[MOVE] & xy_int
    skip("moves with non-integer x/y", (is_[MOVE] & ~xy_int).sum())
    skip("move.buttons values", (is_[MOVE] & xy_int & f["buttons"][1]).sum())
    button = np.asarray(f["button"][0], dtype=np.int64)
    good_button = f["button"][1] & (button >= 0) & (button <= 5)
    ok |= is_[BUTTON] & xy_int & good_button
    skip("buttons without an integer position", (is_[BUTTON] & ~xy_int).sum())
    skip("button codes above 5", (is_[BUTTON] & xy_int & ~good_button).sum())
    ok |= is_[SCROLL] & xy_int & dxy_int
    skip("scrolls without integer x/y/dx/dy", (is_[SCROLL] & ~(xy_int & dxy_int)).sum())
    ok |= is_[RAW_MOVE] & dxy_int
    skip("raw moves with non-integer dx/dy", (is_[RAW_MOVE] & ~dxy_int).sum())
    skip("text events", is_[TEXT].sum())
    skip("gap events", is_[GAP].sum())

    # keys: the native code when it is a Windows virtual key, else the virtual key of the usage
    vk = np.full(n, -1, dtype=np.int64)
    windows = md.get("native_keyspace") in _WINDOWS_KEYSPACES
    native, native_ok = f["native"]
    usage, usage_ok = f["usage"]
    keys = np.flatnonzero(is_[KEY])
    replaced = 0
    for i in keys:
        if windows and native_ok[i] and 0 <= int(native[i]) < 2**32:
            vk[i] = int(native[i])
        elif usage_ok[i] and keymap.usage_to_vk(int(usage[i])) is not None:
            vk[i] = int(keymap.usage_to_vk(int(usage[i])))  # type: ignore[arg-type]
            replaced += bool(native_ok[i])
    ok |= is_[KEY] & (vk >= 0)
    skip("keys without a Windows virtual key", (is_[KEY] & (vk < 0)).sum())
    skip("key.native values not Windows virtual keys (sent as the virtual key of the usage)", replaced)

    titles = string_column(table, "title")
    apps = string_column(table, "app")
    rect_ok = f["left"][1] & f["top"][1] & f["right"][1] & f["bottom"][1] & f["window"][1]
    has_title = np.fromiter((s is not None for s in titles), dtype=bool, count=n)
    ok |= is_[FOCUS] & rect_ok & has_title
    skip("focus events without title, rectangle and window", (is_[FOCUS] & ~(rect_ok & has_title)).sum())
    skip("focus.app values", sum(1 for i in np.flatnonzero(is_[FOCUS] & rect_ok & has_title) if apps[i] is not None))

    labels = string_column(table, "label")
    video = md.get("video")
    uris = [video] if isinstance(video, str) else [u for u in (video or []) if isinstance(u, str)]
    screen_idx = np.full(n, -1, dtype=np.int64)
    others = no_uri = 0
    for i in np.flatnonzero(is_[MARKER]):
        label = labels[i] or ""
        idx = 0 if label == "screen" else int(label[7:]) if label.startswith("screen#") and label[7:].isdigit() else -1
        if idx < 0:
            others += 1
        elif idx >= len(uris):
            no_uri += 1
        else:
            screen_idx[i] = idx
    ok |= is_[MARKER] & (screen_idx >= 0)
    skip("markers other than screen frames", others)
    skip("screen markers without a video URI", no_uri)

    if strict and skipped:
        raise ValueError(
            "%s: OWAMcap cannot carry %s (strict: nothing written)"
            % (rec.name, ", ".join("%s %s" % (k, f"{v:,}") for k, v in skipped.items()))
        )

    shapes = {k: md.get(m) for k, m in (("shape", "screen_shape"), ("source_shape", "screen_source_shape"))}
    shapes = {k: list(v) for k, v in shapes.items() if isinstance(v, (list, tuple)) and len(v) == 2}
    xs, ys = f["x"][0], f["y"][0]
    dxs, dys = f["dx"][0], f["dy"][0]
    pressed = f["pressed"][0]
    value, value_ok = f["value"]
    out: List[Tuple[str, int, bytes]] = []
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for i in np.flatnonzero(ok):
        k = int(kind[i])
        if k == MOVE:
            topic, msg = "mouse", {"event_type": "move", "x": int(xs[i]), "y": int(ys[i])}
        elif k == BUTTON:
            topic, msg = "mouse", {
                "event_type": "click", "x": int(xs[i]), "y": int(ys[i]),
                "button": _BUTTON_NAMES[int(button[i])], "pressed": bool(pressed[i]),
            }
        elif k == SCROLL:
            topic, msg = "mouse", {
                "event_type": "scroll", "x": int(xs[i]), "y": int(ys[i]), "dx": int(dxs[i]), "dy": int(dys[i]),
            }
        elif k == RAW_MOVE:
            topic, msg = "mouse/raw", {"last_x": int(dxs[i]), "last_y": int(dys[i])}
        elif k == KEY:
            topic, msg = "keyboard", {"event_type": "press" if pressed[i] else "release", "vk": int(vk[i])}
        elif k == FOCUS:
            topic, msg = "window", {
                "title": titles[i],
                "rect": [int(f[s][0][i]) for s in ("left", "top", "right", "bottom")],
                "hWnd": int(f["window"][0][i]),
            }
        else:
            ref: Dict[str, Any] = {"uri": uris[int(screen_idx[i])]}
            ref["pts_ns"] = int(value[i]) if value_ok[i] else None
            topic, msg = "screen", {**shapes, "media_ref": ref}
        out.append((topic, int(t[i]), dumps(msg).encode("utf-8")))
    if n and np.any(np.diff(t) < 0):
        report.warnings.append(
            "%s: events are not in time order; an OWAMcap reader sorts them by log_time" % rec.name
        )
    return out, skipped


def _write_one(
    path: str, out: str, report: ExportReport, *, strict: bool, wall_clock_ns: Optional[int]
) -> int:
    Writer, CompressionType = _writer_module()
    rec = open_recording(path)
    md = dict(rec.metadata or {})
    msgs, skipped = _messages(rec, report, strict)
    for k, v in skipped.items():
        report.skip(k, v)
    anchor = wall_clock_ns if wall_clock_ns is not None else rec.wall_clock_ns
    if anchor is None:
        anchor = 0
        report.warnings.append(
            "%s has no wall clock: log_time is its file time t (counted from 1970-01-01)" % path
        )
    if msgs:
        lo = anchor + min(m[1] for m in msgs)
        hi = anchor + max(m[1] for m in msgs)
        if lo < 0 or hi >= 2**64:
            raise ValueError(
                "%s: log_time = wall clock + t leaves MCAP's unsigned 64-bit range (%d..%d)" % (path, lo, hi)
            )
        first_t = min(m[1] for m in msgs)
        if first_t != 0:
            report.warnings.append(
                "%s: its first exported event is at t = %d ns; OWAMcap readers count time from the first "
                "message (hidpack's import puts t = 0 there)" % (path, first_t)
            )
    tmp = out + ".part"
    with open(tmp, "wb") as fh:
        w = Writer(fh, compression=CompressionType.ZSTD)
        w.start(profile="owa", library=_library())
        channels: Dict[str, int] = {}
        for topic, schema_name in TOPICS.items():
            if any(m[0] == topic for m in msgs):
                sid = w.register_schema(
                    name=schema_name, encoding="jsonschema",
                    data=json.dumps(SCHEMAS[schema_name], separators=(",", ":")).encode(),
                )
                channels[topic] = w.register_channel(topic=topic, message_encoding="json", schema_id=sid)
        for topic, t, data in msgs:
            lt = anchor + t
            w.add_message(channels[topic], log_time=lt, publish_time=lt, data=data, sequence=0)
        w.add_metadata("hidpack", {
            "metadata": json.dumps(md, ensure_ascii=False),
            "wall_clock_ns": "" if rec.wall_clock_ns is None else str(rec.wall_clock_ns),
            "log_time_origin_ns": str(anchor),
            "not_carried": json.dumps(skipped),
            "source": os.path.basename(path),
        })
        w.finish()
    os.replace(tmp, out)
    return len(msgs)


def export_mcap(
    recording_paths: Union[PathLike, List[PathLike]],
    out: PathLike,
    *,
    overwrite: bool = False,
    strict: bool = False,
    wall_clock_ns: Optional[int] = None,
    on_file: Optional[Callable[[str], None]] = None,
) -> ExportReport:
    """Export recordings (files or directories of ``*.hpk``) to OWAMcap: ``out`` is a ``.mcap``
    file (one recording) or a directory (``<file stem>.mcap`` per recording). What OWAMcap
    cannot carry is left out and counted in the report's ``skipped`` (see the module's
    docstring); ``strict``: raise ``ValueError`` instead, writing nothing for that recording.
    ``wall_clock_ns``: the Unix time of t = 0 (default: the recording's). Existing files are
    replaced only with ``overwrite``."""
    t0 = time.perf_counter()
    out = os.fspath(out)
    paths = expand_recordings(recording_paths)
    if not paths:
        raise ValueError("no recordings to export")
    if out.lower().endswith(".mcap"):
        if len(paths) > 1:
            raise ValueError(
                "%d recordings and one output file %s: OWAMcap holds one recording per file; "
                "give a directory" % (len(paths), out)
            )
        targets = [out]
    else:
        os.makedirs(out, exist_ok=True)
        targets = [os.path.join(out, os.path.splitext(os.path.basename(p))[0] + ".mcap") for p in paths]
        if len(set(targets)) != len(targets):
            raise ValueError("two recordings have the same file name; export them to different directories")
    if not overwrite:
        for t in targets:
            if os.path.exists(t):
                raise FileExistsError("%s exists (use overwrite=True / --force to replace it)" % t)
    report = ExportReport(out=out, to="mcap")
    for p, target in zip(paths, targets):
        report.rows += _write_one(p, target, report, strict=strict, wall_clock_ns=wall_clock_ns)
        report.recordings += 1
        if on_file is not None:
            on_file(p)
    report.seconds = time.perf_counter() - t0
    return report
