"""Import of OWAMcap recordings (Open World Agents desktop recorder ``ocap``).

An OWAMcap file is an MCAP file whose messages are JSON (pydantic ``model_dump_json``). Reading
it needs the optional ``mcap`` package (``pip install 'hidpack[mcap]'``); it is imported lazily.
All schema generations seen so far are read: 0.3.2 (``owa.env.desktop.msg.*``,
``owa.env.gst.msg.ScreenEmitted``) and later (``desktop/*``, ``desktop/ScreenCaptured`` with
``path``/``pts`` or a ``media_ref``); fields are taken by name, whatever the schema name.

Mapping (messages in ``log_time`` order, ties in file order):

* ``t`` = ``log_time`` - the first ``log_time``; ``wall_clock_ns`` = the first ``log_time``
  (OWA stamps Unix ns). The MCAP ``publish_time`` is not stored.
* ``mouse``: ``move`` -> move (x, y); ``click`` -> button (left 1, right 2, middle 3, x1 4, x2 5,
  unknown 0; pressed; x, y); ``scroll`` -> scroll (dx, dy, x, y).
* ``mouse/raw`` -> raw_move (dx, dy; or ``last_x``, ``last_y`` of OWA's ``desktop/RawMouseEvent``,
  relative movement only).
* ``keyboard`` -> key (native = ``vk``, usage via :data:`hidpack.keymap.VK_TO_USAGE`,
  ``native_keyspace = "windows_vk"``).
* ``window`` -> focus (title, window = ``hWnd``, left/top/right/bottom = ``rect``).
* ``screen`` -> marker, label ``"screen"``, value = the video frame time (``media_ref.pts_ns``,
  or ``pts`` in older schemas). The video path/URI goes into metadata ``video`` (label
  ``"screen#<i>"`` for the i-th further URI if a file references several); the frame shape into
  ``screen_shape`` (and ``screen_source_shape``) when it is constant.
* ``keyboard/state``, ``mouse/state`` (periodic state snapshots) and any other topic are not
  stored: they are counted in the metadata entry ``import_skipped`` and in the import report.
  Message fields that have no place in the event (``utc_ns`` of a frame, a mouse ``timestamp``,
  a varying frame shape, an embedded ``data:`` image) are counted in ``import_dropped_fields``.

:func:`iter_owa` rebuilds ``(topic, log_time, message dict)`` from a recording, for checking.
"""

from __future__ import annotations

import json
import mmap
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from . import keymap
from ._io import (
    BUTTON,
    FOCUS,
    KEY,
    MARKER,
    MOVE,
    RAW_MOVE,
    SCROLL,
    ImportReport,
    PathLike,
    TableBuilder,
    counts_by_kind,
    check_table,
    field,
    import_error,
    open_recording,
    string_column,
    write_recording,
)

__all__ = ["read_owa", "import_owa", "iter_owa", "iter_mcap_messages", "MCAP_INSTALL_HINT"]

MCAP_INSTALL_HINT = "pip install 'hidpack[mcap]'"

_BUTTONS = {"unknown": 0, "left": 1, "right": 2, "middle": 3, "x1": 4, "x2": 5}
_BUTTON_NAMES = {v: k for k, v in _BUTTONS.items()}
_NOT_STORED_TOPICS = ("keyboard/state", "mouse/state")
_STORED_KEYS = {
    "mouse": {"event_type", "x", "y", "button", "pressed", "dx", "dy"},
    "mouse/raw": {"dx", "dy", "last_x", "last_y", "us_flags"},
    "keyboard": {"event_type", "vk"},
    "window": {"title", "rect", "hWnd"},
    "screen": {"media_ref", "path", "pts", "shape", "source_shape", "original_shape"},
}


def _make_reader() -> Any:
    try:
        from mcap.reader import make_reader
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "reading OWAMcap files needs the 'mcap' package: %s" % MCAP_INSTALL_HINT
        ) from e
    return make_reader


def iter_mcap_messages(path: PathLike) -> Iterator[Tuple[str, str, int, Any]]:
    """``(topic, schema name, log_time, decoded JSON)`` of every message, in log_time order
    (stable: ties keep file order). A damaged file raises :class:`hidpack.ImportFormatError`
    naming the byte offset of the damaged record."""
    for log_time, _, topic, schema_name, data, _ in _read_mcap(os.fspath(path))[0]:
        yield topic, schema_name, log_time, data


def _read_mcap(path: str) -> Tuple[List[Tuple[int, int, str, str, Any, int]], Tuple[str, str]]:
    """Every message of an MCAP file as ``(log_time, index, topic, schema name, JSON, offset)``
    sorted by (log_time, index), and the header's ``(profile, library)``.

    The file is read front to back, record by record (not through its summary section), with
    every chunk's CRC checked: anything that does not parse, a chunk whose data does not match
    its CRC or size, a message of an undeclared channel or a file that ends before its footer is
    an :class:`hidpack.ImportFormatError` at the byte offset of the record (for a record inside
    a chunk: of the chunk). The file is memory-mapped, so a damaged length field cannot make a
    read allocate more than the file holds."""
    _make_reader()  # the install hint when the mcap package is missing
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise import_error(path, "empty file, not an MCAP file", offset=0)
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _scan_mcap(path, mm, size)


def _damage() -> Tuple[type, ...]:
    """What the mcap package (and zstandard under it) raise on bytes that do not parse."""
    import struct

    import zstandard
    from mcap.exceptions import McapError

    return (McapError, ValueError, struct.error, OverflowError, KeyError, IndexError, zstandard.ZstdError)


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    if not text:
        return {"EndOfFile": "the file ends inside a record (truncated)"}.get(type(e).__name__, type(e).__name__)
    return text if type(e).__name__ in ("ValueError", "McapError") else "%s (%s)" % (text, type(e).__name__)


def _scan_mcap(path: str, mm: Any, size: int) -> Tuple[List[Tuple[int, int, str, str, Any, int]], Tuple[str, str]]:
    from mcap.records import Channel, Chunk, Footer, Header, Message, Schema
    from mcap.stream_reader import StreamReader

    damage = _damage()
    schemas: Dict[int, Any] = {}
    channels: Dict[int, Any] = {}
    msgs: List[Tuple[int, int, str, str, Any, int]] = []
    header: Optional[Tuple[str, str]] = None

    def take(rec: Any, offset: int) -> None:
        nonlocal header
        if header is None and not isinstance(rec, Header):
            raise import_error(path, "the first record is a %s, not a Header" % type(rec).__name__, offset=offset)
        if isinstance(rec, Header):
            header = (rec.profile, rec.library)
        elif isinstance(rec, Schema):
            schemas[rec.id] = rec
        elif isinstance(rec, Channel):
            if rec.schema_id != 0 and rec.schema_id not in schemas:
                raise import_error(
                    path,
                    "channel %r refers to schema %d, which no record before it defines" % (rec.topic, rec.schema_id),
                    offset=offset,
                )
            channels[rec.id] = rec
        elif isinstance(rec, Message):
            channel = channels.get(rec.channel_id)
            if channel is None:
                raise import_error(
                    path, "a message refers to channel %d, which no record before it defines" % rec.channel_id,
                    offset=offset,
                )
            i = len(msgs)
            if channel.message_encoding != "json":
                raise import_error(
                    path,
                    "topic %r uses message encoding %r; OWAMcap messages are JSON"
                    % (channel.topic, channel.message_encoding),
                    offset=offset,
                )
            try:
                data = json.loads(rec.data)
            except (ValueError, UnicodeDecodeError, RecursionError) as e:
                reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
                raise import_error(
                    path, "message %d on %r is not valid JSON (%s)" % (i, channel.topic, reason), offset=offset
                ) from None
            schema = schemas.get(channel.schema_id)
            msgs.append((rec.log_time, i, channel.topic, schema.name if schema is not None else "", data, offset))

    records = StreamReader(mm, emit_chunks=True, validate_crcs=True, record_size_limit=size).records
    footer = False
    while not footer:
        offset = mm.tell()
        try:
            rec = next(records)
        except StopIteration:
            break
        except damage as e:
            if offset >= size:
                raise import_error(path, "the file ends before its footer (truncated)", offset=offset) from None
            raise import_error(path, "damaged record: %s" % _reason(e), offset=offset) from None
        if isinstance(rec, Chunk):
            try:
                inner = _chunk_records(rec)
            except damage as e:
                raise import_error(path, "damaged chunk: %s" % _reason(e), offset=offset) from None
            for r in inner:
                take(r, offset)
        else:
            take(rec, offset)
        footer = isinstance(rec, Footer)
    if header is None:
        raise import_error(path, "no Header record", offset=0)
    if not footer:
        raise import_error(path, "the file ends before its footer (truncated)", offset=mm.tell())
    try:
        next(records)  # reads the closing magic after the footer
    except StopIteration:
        pass
    except damage as e:
        raise import_error(path, "damaged end of file: %s" % _reason(e), offset=mm.tell()) from None
    msgs.sort(key=lambda m: (m[0], m[1]))
    return msgs, header


#: a chunk's data is decompressed this much at a time (a damaged size field costs no memory)
_PIECE = 1 << 20


def _chunk_records(chunk: Any) -> List[Any]:
    """The records inside a chunk, its data checked against the chunk's size and CRC."""
    import dataclasses
    import io

    from mcap.stream_reader import breakup_chunk

    want = chunk.uncompressed_size
    if chunk.compression == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(chunk.data), read_across_frames=True)
        parts: List[bytes] = []
        got = 0
        while got <= want:
            piece = reader.read(min(_PIECE, want + 1 - got))
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        data = b"".join(parts)
    elif chunk.compression == "":
        data = chunk.data
    elif chunk.compression == "lz4":
        try:
            import lz4.frame
        except ImportError:
            raise ValueError("the chunk is lz4-compressed and the lz4 package is not installed") from None
        data = lz4.frame.decompress(chunk.data)
    else:
        raise ValueError("unknown chunk compression %r" % (chunk.compression,))
    if len(data) != want:
        raise ValueError(
            "its data decompresses to %s bytes, its record says %d"
            % ("more than %d" % want if len(data) > want else "%d" % len(data), want)
        )
    plain = dataclasses.replace(chunk, compression="", data=data)
    return list(breakup_chunk(plain, validate_crc=True))


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("%s %r is not an integer" % (what, v))
    return v


def read_owa(path: PathLike, report: Optional[ImportReport] = None) -> Tuple[Dict[str, Any], Dict[str, Any], int]:
    """Parse an OWAMcap file into ``(write table, metadata, wall_clock_ns)``."""
    path = os.fspath(path)
    b = TableBuilder()
    skipped: Dict[str, int] = {}
    dropped: Dict[str, int] = {}
    schemas: Dict[str, str] = {}
    uris: List[str] = []
    shapes: Dict[str, set] = {"shape": set(), "source_shape": set()}
    first: Optional[int] = None
    has_keys = False
    row_offsets: List[int] = []  # byte offset of each event's record (of its chunk)

    def drop(key: str) -> None:
        dropped[key] = dropped.get(key, 0) + 1

    messages, (profile, library) = _read_mcap(path)
    for log_time, _, topic, schema_name, d, offset in messages:
        if first is None:
            first = log_time
            if first > 2**63 - 1:
                raise import_error(path, "log_time %d is after the year 2262" % first, offset=offset)
        t = log_time - first
        if topic in _STORED_KEYS:
            schemas.setdefault(topic, schema_name)
            if not isinstance(d, dict):
                raise import_error(
                    path, "%s message at log_time %d is not a JSON object" % (topic, log_time), offset=offset
                )
            for k, v in d.items():
                if k not in _STORED_KEYS[topic] and v is not None:
                    drop("%s.%s" % (topic, k))
        else:
            skipped[topic] = skipped.get(topic, 0) + 1
            continue
        where = "%s message at log_time %d" % (topic, log_time)
        n_before = len(b)
        try:
            if topic == "mouse":
                et = d.get("event_type")
                x, y = _int(d.get("x"), "x"), _int(d.get("y"), "y")
                if et == "move":
                    b.add(t, MOVE, x=x, y=y)
                elif et == "click":
                    name = d.get("button")
                    if not isinstance(name, str) or name not in _BUTTONS:
                        raise ValueError("unknown button %r" % (name,))
                    if not isinstance(d.get("pressed"), bool):
                        raise ValueError("pressed %r is not a boolean" % (d.get("pressed"),))
                    b.add(t, BUTTON, x=x, y=y, button=_BUTTONS[name], pressed=d["pressed"])
                elif et == "scroll":
                    b.add(t, SCROLL, x=x, y=y, dx=_int(d.get("dx"), "dx"), dy=_int(d.get("dy"), "dy"))
                else:
                    raise ValueError("unknown event_type %r" % (et,))
            elif topic == "mouse/raw":
                if "last_x" in d or "last_y" in d:  # OWA's desktop/RawMouseEvent
                    if _int(d.get("us_flags", 0), "us_flags") & 1:
                        raise ValueError("absolute raw movement (us_flags %r) is not supported" % d["us_flags"])
                    dx, dy = _int(d.get("last_x"), "last_x"), _int(d.get("last_y"), "last_y")
                else:
                    dx, dy = _int(d.get("dx"), "dx"), _int(d.get("dy"), "dy")
                b.add(t, RAW_MOVE, dx=dx, dy=dy)
            elif topic == "keyboard":
                et = d.get("event_type")
                if et not in ("press", "release"):
                    raise ValueError("unknown event_type %r" % (et,))
                vk = _int(d.get("vk"), "vk")
                if not 0 <= vk < 2**32:
                    raise ValueError("vk %r out of range" % vk)
                b.add(t, KEY, pressed=(et == "press"), native=vk, usage=keymap.vk_to_usage(vk))
                has_keys = True
            elif topic == "window":
                rect = d.get("rect")
                if not (isinstance(rect, list) and len(rect) == 4):
                    raise ValueError("rect %r is not 4 integers" % (rect,))
                left, top, right, bottom = (_int(v, "rect") for v in rect)
                title = d.get("title")
                if not isinstance(title, str):
                    raise ValueError("title %r is not a string" % (title,))
                b.add(
                    t, FOCUS, title=title, window=_int(d.get("hWnd"), "hWnd"),
                    left=left, top=top, right=right, bottom=bottom,
                )
            elif topic == "screen":
                ref = d.get("media_ref")
                if isinstance(ref, dict):
                    uri, pts = ref.get("uri"), ref.get("pts_ns")
                    for k, v in ref.items():
                        if k not in ("uri", "pts_ns") and v is not None:
                            drop("screen.media_ref.%s" % k)
                else:
                    uri, pts = d.get("path"), d.get("pts")
                label = "screen"
                if isinstance(uri, str) and uri.startswith("data:"):
                    drop("screen.embedded_image")
                elif isinstance(uri, str):
                    if uri not in uris:
                        uris.append(uri)
                    i = uris.index(uri)
                    label = "screen" if i == 0 else "screen#%d" % i
                for k in ("shape", "source_shape", "original_shape"):
                    if d.get(k) is not None:
                        shape = d[k]
                        if not isinstance(shape, list) or not all(
                            isinstance(v, int) and not isinstance(v, bool) for v in shape
                        ):
                            raise ValueError("%s %r is not a list of integers" % (k, shape))
                        shapes["source_shape" if k == "original_shape" else k].add(tuple(shape))
                b.add(t, MARKER, label=label, value=None if pts is None else _int(pts, "pts"))
        except ValueError as e:
            raise import_error(path, "%s: %s" % (where, e), offset=offset) from None
        row_offsets.extend([offset] * (len(b) - n_before))

    md: Dict[str, Any] = {
        "session": os.path.splitext(os.path.basename(path))[0],
        "source": "owa-mcap",
        "source_format": "owamcap",
    }
    md["mcap_profile"] = profile
    md["mcap_library"] = library
    if has_keys:
        md["native_keyspace"] = "windows_vk"
    if schemas:
        md["owa_schemas"] = schemas
    if uris:
        md["video"] = uris[0] if len(uris) == 1 else uris
    for k, v in shapes.items():
        if len(v) == 1:
            md["screen_" + k] = list(next(iter(v)))
        elif len(v) > 1:
            dropped["screen.%s (varying)" % k] = len(v)
    if skipped:
        md["import_skipped"] = dict(skipped)
    if dropped:
        md["import_dropped_fields"] = dict(dropped)
    if report is not None:
        for k, v in skipped.items():
            report.skipped[k] = report.skipped.get(k, 0) + v
        for k, v in dropped.items():
            report.warnings.append("%d %s value(s) not stored" % (v, k))
    table = b.build()
    check_table(table, path, lambda row: (None, row_offsets[row]))
    return table, md, (first or 0)


def import_owa(
    src: PathLike,
    out: PathLike,
    *,
    level: int = 3,
    overwrite: bool = False,
    policy: Any = None,
    clock_grid: Optional[bool] = None,
) -> ImportReport:
    """Import an OWAMcap file into the recording ``out`` (a ``.hpk`` path, or a directory:
    then ``<file stem>.hpk`` inside it). ``clock_grid``: as :func:`hidpack.write_table`'s."""
    t0 = time.perf_counter()
    src = os.fspath(src)
    report = ImportReport(source=os.path.basename(src), format="owa")
    table, md, wall = read_owa(src, report)
    out = os.fspath(out)
    if not out.endswith(".hpk"):
        os.makedirs(out, exist_ok=True)
        out = os.path.join(out, os.path.splitext(os.path.basename(src))[0] + ".hpk")
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


def iter_owa(recording: Any, wall_clock_ns: Optional[int] = None) -> Iterator[Tuple[str, int, Dict[str, Any]]]:
    """Rebuild ``(topic, log_time, message)`` from a recording imported with :func:`import_owa`.

    mouse/keyboard/window messages come back as the JSON objects OWA wrote (fields that were
    ``null`` omitted); a screen marker as ``{"pts_ns": frame time, "uri": video}``.
    ``log_time`` = ``wall_clock_ns`` (default: the recording's wall-clock anchor) + ``t``.
    """
    rec = open_recording(recording) if isinstance(recording, (str, os.PathLike)) else recording
    md = dict(rec.metadata or {})
    if wall_clock_ns is None:
        wall_clock_ns = _wall_clock(rec)
    table = rec.table()
    t = np.asarray(table["t"], dtype=np.int64)
    kind = np.asarray(table["kind"])
    cols = {f: field(table, f) for f in (
        "x", "y", "dx", "dy", "button", "pressed", "native", "window", "left", "top", "right", "bottom", "value",
    )}
    titles = string_column(table, "title")
    labels = string_column(table, "label")
    video = md.get("video")
    uris = [video] if isinstance(video, str) else list(video or [])

    def v(name: str, i: int) -> Optional[int]:
        values, valid = cols[name]
        return int(values[i]) if valid[i] else None

    for i in range(len(t)):
        k = int(kind[i])
        lt = int(wall_clock_ns) + int(t[i])
        if k == MOVE:
            yield "mouse", lt, {"event_type": "move", "x": v("x", i), "y": v("y", i)}
        elif k == BUTTON:
            yield "mouse", lt, {
                "event_type": "click", "x": v("x", i), "y": v("y", i),
                "button": _BUTTON_NAMES.get(v("button", i) or 0, "unknown"),
                "pressed": bool(cols["pressed"][0][i]),
            }
        elif k == SCROLL:
            yield "mouse", lt, {
                "event_type": "scroll", "x": v("x", i), "y": v("y", i), "dx": v("dx", i), "dy": v("dy", i),
            }
        elif k == RAW_MOVE:
            yield "mouse/raw", lt, {"dx": v("dx", i), "dy": v("dy", i)}
        elif k == KEY:
            yield "keyboard", lt, {
                "event_type": "press" if cols["pressed"][0][i] else "release", "vk": v("native", i),
            }
        elif k == FOCUS:
            yield "window", lt, {
                "title": titles[i],
                "rect": [v("left", i), v("top", i), v("right", i), v("bottom", i)],
                "hWnd": v("window", i),
            }
        elif k == MARKER:
            label = labels[i] or ""
            if label == "screen" or label.startswith("screen#"):
                idx = int(label[7:]) if label.startswith("screen#") else 0
                yield "screen", lt, {
                    "pts_ns": v("value", i), "uri": uris[idx] if idx < len(uris) else None,
                }


def _wall_clock(rec: Any) -> int:
    for attr in ("wall_clock_ns",):
        w = getattr(rec, attr, None)
        if isinstance(w, int):
            return w
    header = getattr(rec, "header", None)
    if isinstance(header, dict) and isinstance(header.get("wall_clock_ns"), int):
        return header["wall_clock_ns"]
    info = rec.info() if hasattr(rec, "info") else None
    if isinstance(info, dict) and isinstance(info.get("wall_clock_ns"), int):
        return info["wall_clock_ns"]
    raise ValueError("recording has no wall-clock anchor; pass wall_clock_ns")
