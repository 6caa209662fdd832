"""Import/export of the normalized CSV layout of ``shared/data`` (``t_ns,kind,x,y,button,session``).

Import (:func:`import_csv`) writes one hidpack recording per session into a directory; export
(:func:`export_csv`) writes recordings back to that layout. Import then export gives back the
source rows byte for byte (after decompression) for any CSV in canonical form (see below).

Row mapping (``kind`` column -> hidpack event):

========== ============================================================================
CSV kind   hidpack event
========== ============================================================================
move       ``move``: x, y; ``buttons`` = 0 when ``button`` is empty, 1 (primary held) for
           ``drag`` (on export any non-zero mask prints ``drag``, 0/absent prints empty)
down / up  ``button``: button = left 1, right 2, middle 3, x 4 (x2 5); pressed True/False;
           x, y when given
scroll     ``scroll``: dy = the signed amount in ``button``, dx = 0; x, y when given
key_down / ``key``: native = the integer key code, usage = its USB HID usage via
key_up     :data:`hidpack.keymap.JS_KEYCODE_TO_USAGE` (absent if unknown); pressed
========== ============================================================================

An empty x or y is stored as absent. ``t`` = ``t_ns`` as is (no wall-clock anchor).
Metadata of each recording: ``{"session": id, "source": "<folder>/<file>", "source_index":
ordinal of the session in the CSV, "source_format": "csv"}`` plus ``"native_keyspace":
"js_keycode"`` when the session has key rows. The file name is the session id made safe for file
systems, plus ``.hpk`` (``~2``, ``~3``... on a clash). A session id appearing again after
another session (rows not grouped) starts a new recording with the next ``source_index``, so
export still reproduces the source order.

Canonical form, required for a byte-identical round trip: integers without sign ``+``, leading
zeros or decimals; fractional numbers as Python ``repr`` prints them; ``\\n`` line ends; fields
quoted only when they must be (a session id containing ``,``, ``"`` or a line break). Import
checks this and lists what it found otherwise as warnings in the report.
"""

from __future__ import annotations

import io
import os
import time
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import keymap
from ._io import (
    BUTTON,
    FIELD_KINDS,
    KEY,
    KINDS,
    MOVE,
    SCROLL,
    ExportReport,
    ImportReport,
    PathLike,
    counts_by_kind,
    empty_table,
    expand_recordings,
    field,
    format_coord,
    import_error,
    open_recording,
    safe_file_stem,
    write_recording,
)

__all__ = [
    "COLUMNS",
    "HEADER",
    "CsvSession",
    "read_csv_sessions",
    "import_csv",
    "export_csv",
    "recording_csv_rows",
]

COLUMNS: Tuple[str, ...] = ("t_ns", "kind", "x", "y", "button", "session")
HEADER = ",".join(COLUMNS) + "\n"

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# CSV kinds, index = internal code
_CSV_KINDS = ("move", "down", "up", "scroll", "key_down", "key_up")
_CSV_KIND_TO_EVENT = np.array([MOVE, BUTTON, BUTTON, SCROLL, KEY, KEY], dtype=np.uint8)
_CSV_KIND_PRESSED = np.array([False, True, False, False, True, False])

_BUTTON_CODES = {"left": 1, "right": 2, "middle": 3, "x": 4, "x2": 5}
_BUTTON_TEXT = {v: k for k, v in _BUTTON_CODES.items()}
_DRAG = {"": 0, "drag": 1}


class CsvSession:
    """One session (a contiguous run of rows of one ``session`` id) parsed into a write table."""

    __slots__ = ("session", "source_index", "first_line", "table", "has_keys")

    def __init__(
        self, session: str, source_index: int, first_line: int, table: Dict[str, Any], has_keys: bool
    ) -> None:
        self.session = session
        self.source_index = source_index
        self.first_line = first_line
        self.table = table
        self.has_keys = has_keys

    def __len__(self) -> int:
        return len(self.table["t"])

    def __repr__(self) -> str:
        return "CsvSession(%r, source_index=%d, rows=%d)" % (self.session, self.source_index, len(self))


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _open_source(src: Union[PathLike, BinaryIO]) -> Tuple[BinaryIO, List[Any]]:
    """A binary stream of the CSV text (zstd detected by its magic number), plus to-close list."""
    to_close: List[Any] = []
    if isinstance(src, (str, os.PathLike)):
        fh: BinaryIO = open(os.fspath(src), "rb")
        to_close.append(fh)
    else:
        fh = src
    head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
    if not head and hasattr(fh, "seek") and fh.seekable():
        pos = fh.tell()
        head = fh.read(4)
        fh.seek(pos)
    if head == _ZSTD_MAGIC:
        return _ZstdSource(fh, _error_name(src)), to_close  # type: ignore[return-value]
    return fh, to_close


def _error_name(src: Union[PathLike, BinaryIO]) -> Optional[str]:
    """How errors name the source: its path as given, else the stream's ``name``."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    name = getattr(src, "name", None)
    return name if isinstance(name, str) else None


class _ZstdSource:
    """``read(n)`` of the decompressed text of a zstd source, frame after frame. Damaged data,
    or a source that ends inside a frame (a truncated download), is an
    :class:`hidpack.ImportFormatError` at the compressed byte offset, not silently fewer rows."""

    PIECE = 1 << 20  # compressed bytes fed at a time

    def __init__(self, fh: BinaryIO, name: Optional[str]) -> None:
        import zstandard

        self._fh = fh
        self._name = name
        self._zstd = zstandard
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._buf = bytearray()
        self._consumed = 0  # compressed bytes fed to finished frames and the current one
        self._frame_open = False
        self._end = False

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self._buf) < n) and not self._end:
            piece = self._fh.read(self.PIECE)
            if not piece:
                self._end = True
                if self._frame_open:
                    raise import_error(
                        self._name, "the zstd data ends inside a frame (the file is truncated)", offset=self._consumed
                    )
                break
            self._feed(piece)
        if n < 0 or n >= len(self._buf):
            out = bytes(self._buf)
            self._buf.clear()
        else:
            out = bytes(self._buf[:n])
            del self._buf[:n]
        return out

    def _feed(self, data: bytes) -> None:
        while data:
            try:
                self._buf += self._obj.decompress(data)
            except self._zstd.ZstdError as e:
                raise import_error(
                    self._name, "damaged zstd data at or after this offset (%s)" % e, offset=self._consumed
                ) from None
            if self._obj.eof:  # a frame ended; what follows it is the next frame
                rest = self._obj.unused_data
                self._consumed += len(data) - len(rest)
                self._obj = self._dctx.decompressobj()
                self._frame_open = False
                data = rest
            else:
                self._consumed += len(data)
                self._frame_open = True
                data = b""

    def close(self) -> None:
        pass


#: Bytes of CSV text parsed at once by the importer: memory is bounded by this (a few times
#: over, as parsed columns) plus the longest session, whatever the length of the file.
CHUNK_BYTES = 4 << 20


def _parse_text(text: bytes, name: Optional[str] = None, line0: int = 2) -> Any:
    """Complete CSV lines (no header; the first is line ``line0`` of the file) as a pyarrow
    Table of six string columns (empty: ""). A line that is not six UTF-8 fields is an
    :class:`hidpack.ImportFormatError` naming it."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if b"\r" in text:
        raise import_error(
            name, "CSV uses \\r\\n line ends; the canonical layout uses \\n (convert first)",
            line=line0 + text.count(b"\n", 0, text.index(b"\r")),
        )
    if not text.strip():
        return pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    try:
        return pcsv.read_csv(
            io.BytesIO(text),
            read_options=pcsv.ReadOptions(column_names=list(COLUMNS), block_size=1 << 24),
            parse_options=pcsv.ParseOptions(newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as e:
        raise _bad_line(text, name, line0, e) from None


def _bad_line(text: bytes, name: Optional[str], line0: int, e: Exception) -> Exception:
    """The error for the first line of ``text`` that is not six UTF-8 CSV fields (found again
    line by line: Arrow's message does not say which line)."""
    import csv

    for i, raw in enumerate(text.split(b"\n")):
        if not raw:
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as u:
            return import_error(name, "not UTF-8 text (%s at column %d)" % (u.reason, u.start + 1), line=line0 + i)
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as c:
            return import_error(name, "not a CSV line (%s)" % c, line=line0 + i)
        if len(fields) != len(COLUMNS):
            return import_error(
                name, "%d field(s), the layout has %d (%s)" % (len(fields), len(COLUMNS), ",".join(COLUMNS)),
                line=line0 + i,
            )
    return import_error(name, "CSV parse error in the lines from here on (%s)" % e, line=line0)


def _csv_chunks(src: Union[PathLike, BinaryIO], chunk_bytes: int) -> Iterator[Any]:
    """The CSV after its header, as pyarrow Tables of string columns, each of whole lines of
    about ``chunk_bytes`` bytes of text, in order."""
    name = _error_name(src)
    stream, to_close = _open_source(src)
    try:
        header = stream.read(len(HEADER))
        if isinstance(header, str):  # pragma: no cover - binary streams only
            header = header.encode()
        if header.replace(b"\r\n", b"\n") != HEADER.encode()[: len(header)] or len(header) < len(HEADER):
            first = header.split(b"\n")[0].decode("utf-8", "replace")
            raise import_error(
                name, "not a hidpack-importable CSV: header must be %r, found %r" % (HEADER.strip(), first), line=1
            )
        carry = b""
        line = 2  # of the first line of the next text parsed
        while True:
            block = stream.read(chunk_bytes)
            if isinstance(block, str):  # pragma: no cover
                block = block.encode()
            if not block:  # the end: what is left is the last line (with or without its \n)
                if carry:
                    yield _parse_text(carry, name, line)
                return
            text = carry + block if carry else block
            cut = text.rfind(b"\n") + 1
            carry = text[cut:]
            if cut:
                yield _parse_text(text[:cut], name, line)
                line += text.count(b"\n", 0, cut)
    finally:
        for c in to_close:
            c.close()


def _dict_encode(column: Any) -> Tuple[np.ndarray, List[str]]:
    """(indices int64, distinct values) of a string column."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(column).combine_chunks()
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return idx, enc.dictionary.to_pylist()


def _line(row: int) -> int:
    return int(row) + 2  # 1-based, after the header


def _canonical_int(text: str) -> bool:
    try:
        return str(int(text)) == text
    except ValueError:
        return False


def _parse_number(text: str) -> Optional[float]:
    try:
        v = float(text)
    except ValueError:
        return None
    if not np.isfinite(v):
        return None
    return v


def read_csv_sessions(
    src: Union[PathLike, BinaryIO], warnings: Optional[List[str]] = None
) -> List[CsvSession]:
    """Parse a CSV (plain or zstd) into one write table per session (vectorised).

    Raises ``ValueError`` naming the line for a value the layout does not allow. Values that parse
    but are not in canonical form (so that export would print them differently) are reported in
    ``warnings`` when a list is given.
    """
    return list(iter_csv_sessions(src, warnings))


class _Notes:
    """What parsing found that is worth a warning: counts of values not in canonical form (per
    column, over every chunk) and sessions that appear again."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {}
        self.sessions: List[str] = []

    def count(self, column: str, n: int) -> None:
        if n:
            self.counts[column] = self.counts.get(column, 0) + n

    def messages(self) -> List[str]:
        out = []
        for column in ("t_ns", "x", "y", "button"):
            n = self.counts.get(column)
            if n:
                form = "canonical integer form" if column == "t_ns" else "canonical form"
                out.append("%d %s value(s) not in %s" % (n, column, form))
        return out + self.sessions


def iter_csv_sessions(
    src: Union[PathLike, BinaryIO], warnings: Optional[List[str]] = None, *, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[CsvSession]:
    """:func:`read_csv_sessions`, one session at a time: the text is parsed ``chunk_bytes`` at a
    time and each session is yielded once its run of rows has ended, so memory holds one chunk
    and the session being read, not the file. ``warnings`` is complete when the iteration is."""
    notes = _Notes()
    seen: set = set()
    ordinal = 0
    # the run of rows that may go on in the next chunk: session id, first row, columns, key rows?
    open_run: Optional[Tuple[str, int, List[Dict[str, np.ndarray]], bool]] = None

    def finish(run: Tuple[str, int, List[Dict[str, np.ndarray]], bool]) -> CsvSession:
        nonlocal ordinal
        sid, first, parts, has_keys = run
        if sid in seen:
            notes.sessions.append(
                "session %r appears again at line %d after other sessions: imported as a "
                "separate recording" % (sid, _line(first))
            )
        seen.add(sid)
        table = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        ordinal += 1
        return CsvSession(sid, ordinal - 1, _line(first), table, has_keys)

    base = 0
    name = _error_name(src)
    for tbl in _csv_chunks(src, chunk_bytes):
        n = tbl.num_rows
        if n == 0:
            continue
        table, is_key, s_idx, s_values = _parse_rows(tbl, base, notes, name)
        # sessions: contiguous runs of the session column
        starts = np.concatenate(([0], np.flatnonzero(s_idx[1:] != s_idx[:-1]) + 1))
        ends = np.concatenate((starts[1:], [n]))
        for a, b in zip(starts.tolist(), ends.tolist()):
            sid = s_values[s_idx[a]]
            part = {k: v[a:b] for k, v in table.items()}
            keys = bool(is_key[a:b].any())
            if a == 0 and open_run is not None and open_run[0] == sid:
                open_run = (sid, open_run[1], open_run[2] + [part], open_run[3] or keys)
                continue
            if open_run is not None:
                yield finish(open_run)
            open_run = (sid, base + a, [part], keys)
        base += n
    if open_run is not None:
        yield finish(open_run)
    if warnings is not None:
        warnings.extend(notes.messages())


def _parse_rows(
    tbl: Any, base: int, notes: _Notes, name: Optional[str] = None
) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray, List[str]]:
    """One chunk's string columns (its first row is data row ``base``) as a write table, which
    rows are keys, and the session column dictionary-encoded. Raises
    :class:`hidpack.ImportFormatError` (a ``ValueError``) naming the file (``name``) and the
    line of the first value the layout does not allow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = tbl.num_rows

    def bad(row: int, reason: str) -> Exception:
        return import_error(name, reason, line=_line(base + row))

    # --- t_ns
    t_str = tbl["t_ns"]
    try:
        t = pc.cast(t_str, pa.int64())
    except (pa.ArrowInvalid, ValueError) as e:
        for i, s in enumerate(t_str.to_pylist()):
            try:
                v = int(s)
            except ValueError:
                raise bad(i, "t_ns %r is not an integer" % (s[:40],)) from None
            if not -(2**63) <= v < 2**63 or s != s.strip():
                raise bad(i, "t_ns %r is not a 64-bit integer" % (s[:40],)) from None
        raise bad(0, "t_ns column: %s" % e) from None
    bad_t = int(pc.sum(pc.cast(pc.not_equal(pc.cast(t, pa.string()), t_str), pa.int64())).as_py() or 0)
    notes.count("t_ns", bad_t)
    t_np = t.to_numpy().astype(np.int64, copy=False)

    # --- kind
    kind_idx, kind_values = _dict_encode(tbl["kind"])
    kind_map = np.empty(len(kind_values), np.int64)
    for j, v in enumerate(kind_values):
        if v not in _CSV_KINDS:
            row = int(np.flatnonzero(kind_idx == j)[0])
            raise bad(row, "unknown kind %r (expected one of %s)" % (v, ", ".join(_CSV_KINDS)))
        kind_map[j] = _CSV_KINDS.index(v)
    ckind = kind_map[kind_idx]  # internal CSV kind code per row
    ev_kind = _CSV_KIND_TO_EVENT[ckind]
    pressed = _CSV_KIND_PRESSED[ckind]

    # --- x, y
    coords = {}
    for col in ("x", "y"):
        idx, values = _dict_encode(tbl[col])
        val = np.zeros(len(values), np.float64)
        ok = np.zeros(len(values), bool)
        noncanon = 0
        for j, s in enumerate(values):
            if s == "":
                continue
            num = _parse_number(s)
            if num is None:
                row = int(np.flatnonzero(idx == j)[0])
                raise bad(row, "%s %r is not a number" % (col, s))
            val[j] = num
            ok[j] = True
            if format_coord(num) != s:
                noncanon += int(np.count_nonzero(idx == j))
        notes.count(col, noncanon)
        coords[col] = (val[idx], ok[idx])
    x, x_valid = coords["x"]
    y, y_valid = coords["y"]
    missing = (ev_kind == MOVE) & ~(x_valid & y_valid)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise bad(row, "a move row needs both x and y")

    # --- button column: meaning depends on the kind
    b_idx, b_values = _dict_encode(tbl["button"])
    nb = len(b_values)
    drag = np.full(nb, -1, np.int64)
    btn = np.full(nb, -1, np.int64)
    amount = np.zeros(nb, np.float64)
    amount_ok = np.zeros(nb, bool)
    amount_canon = np.zeros(nb, bool)
    code = np.full(nb, -1, np.int64)
    code_canon = np.zeros(nb, bool)
    for j, s in enumerate(b_values):
        drag[j] = _DRAG.get(s, -1)
        btn[j] = _BUTTON_CODES.get(s, -1)
        num = _parse_number(s) if s else None
        if num is not None:
            amount[j] = num
            amount_ok[j] = True
            amount_canon[j] = format_coord(num) == s
        try:
            c = int(s)
        except ValueError:
            c = -1
        if 0 <= c < 2**32:
            code[j] = c
            code_canon[j] = str(c) == s

    def _check(mask: np.ndarray, what: str) -> None:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise bad(row, "button %r is not %s" % (b_values[b_idx[row]], what))

    is_move = ev_kind == MOVE
    is_button = ev_kind == BUTTON
    is_scroll = ev_kind == SCROLL
    is_key = ev_kind == KEY
    _check(is_move & (drag[b_idx] < 0), "empty or 'drag' (kind move)")
    _check(is_button & (btn[b_idx] < 0), "one of %s (kind down/up)" % "|".join(_BUTTON_CODES))
    _check(is_scroll & ~amount_ok[b_idx], "a signed number (kind scroll)")
    _check(is_key & (code[b_idx] < 0), "an integer key code 0..2^32-1 (kind key_down/key_up)")
    nonc = int(np.count_nonzero(is_scroll & ~amount_canon[b_idx]))
    nonc += int(np.count_nonzero(is_key & ~code_canon[b_idx]))
    notes.count("button", nonc)

    # --- full-length columns
    table = empty_table(n)
    table["t"] = t_np
    table["kind"] = ev_kind.astype(np.uint8)
    pos_kinds = is_move | is_button | is_scroll
    table["x"] = np.where(x_valid, x, 0.0)
    table["x_valid"] = x_valid & pos_kinds
    table["y"] = np.where(y_valid, y, 0.0)
    table["y_valid"] = y_valid & pos_kinds
    table["buttons"] = np.where(is_move, drag[b_idx], 0).astype(np.int64)
    table["buttons_valid"] = is_move
    table["button"] = np.where(is_button, btn[b_idx], 0).astype(np.int64)
    table["button_valid"] = is_button
    table["pressed"] = pressed & (is_button | is_key)
    table["pressed_valid"] = is_button | is_key
    table["dx_valid"] = is_scroll
    table["dy"] = np.where(is_scroll, amount[b_idx], 0.0)
    table["dy_valid"] = is_scroll
    native = np.where(is_key, code[b_idx], 0).astype(np.int64)
    usage, usage_ok = keymap.map_codes(native, keymap.JS_KEYCODE_TO_USAGE)
    table["native"] = native
    table["native_valid"] = is_key
    table["usage"] = np.where(is_key & usage_ok, usage, 0)
    table["usage_valid"] = is_key & usage_ok
    for name in ("x", "y", "buttons", "button", "pressed", "dx", "dy", "usage", "native"):
        # keep the "0 where absent" convention
        table[name] = np.where(table[name + "_valid"], table[name], table[name].dtype.type(0))

    s_idx, s_values = _dict_encode(tbl["session"])
    return table, is_key, s_idx, s_values


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------


def _source_name(src: Union[PathLike, BinaryIO]) -> str:
    if isinstance(src, (str, os.PathLike)):
        p = os.path.abspath(os.fspath(src))
        parent = os.path.basename(os.path.dirname(p))
        return "%s/%s" % (parent, os.path.basename(p)) if parent else os.path.basename(p)
    return getattr(src, "name", "<stream>")


def import_csv(
    src: Union[PathLike, BinaryIO],
    out_dir: PathLike,
    *,
    source: Optional[str] = None,
    level: int = 3,
    overwrite: bool = False,
    threads: int = 2,
    policy: Any = None,
    clock_grid: Optional[bool] = None,
) -> ImportReport:
    """Import a normalized CSV (plain or zstd) into one ``.hpk`` file per session
    (through the privacy ``policy`` if one is given: see :func:`hidpack._io.write_recording`).

    ``source`` goes into each file's metadata (default ``"<folder>/<file name>"`` of ``src``,
    never a full path). Existing files are not replaced unless ``overwrite``. Returns an
    :class:`~hidpack._io.ImportReport`.

    The CSV is read in chunks (:data:`CHUNK_BYTES`) and each session written as soon as its rows
    end, so memory holds a chunk and a few sessions, not the file. Sessions are written under
    temporary names and renamed only when the whole CSV has been read: a bad line, or an
    existing file without ``overwrite``, leaves no new file and replaces none. ``clock_grid``: as
    :func:`hidpack.write_table`'s.
    """
    t0 = time.perf_counter()
    src_name = source if source is not None else _source_name(src)
    report = ImportReport(source=src_name, format="csv")
    out_dir = os.fspath(out_dir)
    used: set = set()
    done: List[Tuple[str, str]] = []  # (temporary, final) of every session written

    def _write(job: Tuple[str, Dict[str, Any], Dict[str, Any], int]) -> str:
        path, table, md, first_line = job
        try:
            write_recording(path, table, md, level=level, policy=policy, clock_grid=clock_grid)
        except EventValueError as e:  # a value the format cannot store: name its line
            row = getattr(e, "row", None)
            line = first_line + row if isinstance(row, int) and policy is None else None
            raise import_error(_error_name(src) or src_name, str(e), line=line) from None
        return path

    from concurrent.futures import Future, ThreadPoolExecutor

    from ._native import EventValueError

    pool = ThreadPoolExecutor(max_workers=max(threads, 1))
    pending: List[Future] = []
    try:
        for s in iter_csv_sessions(src, report.warnings, chunk_bytes=CHUNK_BYTES):
            if not done:
                os.makedirs(out_dir, exist_ok=True)
            stem = safe_file_stem(s.session, used)
            path = os.path.join(out_dir, stem + ".hpk")
            if not overwrite and os.path.exists(path):
                raise FileExistsError("%s exists (use overwrite=True / --force to replace it)" % path)
            md: Dict[str, Any] = {
                "session": s.session,
                "source": src_name,
                "source_index": s.source_index,
                "source_format": "csv",
            }
            if s.has_keys:
                md["native_keyspace"] = "js_keycode"
            tmp = "%s.%d.importing" % (path, os.getpid())
            done.append((tmp, path))
            report.add_counts(counts_by_kind(s.table["kind"]))
            pending.append(pool.submit(_write, (tmp, s.table, md, s.first_line)))
            # at most two sessions per thread in flight: memory stays bounded
            while len(pending) > 2 * max(threads, 1):
                pending.pop(0).result()
        if not done:
            raise import_error(
                _error_name(src) or src_name, "no events to import (the CSV has its header but no rows)"
            )
        for f in pending:
            f.result()
        pending = []
        for tmp, path in done:
            os.replace(tmp, path)
    except BaseException:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
        for tmp, _ in done:
            try:
                os.remove(tmp)
            except OSError:
                pass
        raise
    pool.shutdown(wait=True)
    report.files = [path for _, path in done]
    report.bytes = sum(os.path.getsize(p) for p in report.files)
    report.seconds = time.perf_counter() - t0
    return report


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def _quote(s: str) -> str:
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _coord_text(values: np.ndarray, valid: np.ndarray) -> Any:
    """pyarrow string array: "" where absent, ints as ints, fractions with repr."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    integral = valid & finite & (values == np.floor(np.where(finite, values, 0))) & (np.abs(values) < 2**53)
    ints = np.where(integral, values, 0).astype(np.int64)
    text = pc.cast(pa.array(ints), pa.string())
    text = pc.if_else(pa.array(integral), text, pa.scalar(""))
    frac = valid & ~integral
    if frac.any():
        reprs = pa.array([repr(float(v)) for v in values[frac]], pa.string())
        text = pc.replace_with_mask(text, pa.array(frac), reprs)
    return text


def recording_csv_rows(
    table: Dict[str, Any], session: str, keyspace: Optional[str], report: Optional[ExportReport] = None
) -> Tuple[Any, int]:
    """The CSV lines (one pyarrow string array, each ending with ``\\n``) of one read table.

    Kinds the layout cannot hold (raw_move, text, focus, marker, gap) are left out and counted in
    ``report.skipped``. Returns ``(lines, rows)``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = np.asarray(table["kind"]).astype(np.int64)
    keep = np.isin(kind, (MOVE, BUTTON, SCROLL, KEY))
    if report is not None and not keep.all():
        for code, n in enumerate(np.bincount(kind[~keep], minlength=len(KINDS))):
            report.skip(KINDS[code], int(n))
    if not keep.all():
        table = {k: np.asarray(v)[keep] for k, v in table.items() if k in _NUMERIC_KEYS}
        kind = kind[keep]
    n = len(kind)
    if n == 0:
        return pa.array([], pa.string()), 0

    def col(name: str) -> Tuple[np.ndarray, np.ndarray]:
        return field(table, name)

    t = np.asarray(table["t"], dtype=np.int64)
    pressed, pressed_valid = col("pressed")
    pressed = pressed.astype(bool) & pressed_valid
    is_move = kind == MOVE
    is_button = kind == BUTTON
    is_scroll = kind == SCROLL
    is_key = kind == KEY

    label = np.select(
        [is_move, is_button & pressed, is_button, is_scroll, is_key & pressed],
        [0, 1, 2, 3, 4],
        default=5,
    ).astype(np.int32)
    kind_text = pa.DictionaryArray.from_arrays(
        pa.array(label), pa.array(list(_CSV_KINDS))
    ).dictionary_decode()

    x, xv = col("x")
    y, yv = col("y")
    x_text = _coord_text(x, xv)
    y_text = _coord_text(y, yv)

    # button column
    buttons, buttons_valid = col("buttons")
    drag_text = pc.if_else(pa.array(buttons_valid & (buttons != 0)), pa.scalar("drag"), pa.scalar(""))
    button, button_valid = col("button")
    names = [_BUTTON_TEXT.get(i, str(i)) for i in range(256)]
    btn_text = pa.DictionaryArray.from_arrays(
        pa.array(np.where(button_valid, button, 0).astype(np.int32) & 0xFF), pa.array(names)
    ).dictionary_decode()
    dx, dx_valid = col("dx")
    dy, dy_valid = col("dy")
    dy_text = _coord_text(dy, dy_valid)
    if report is not None:
        hscroll = int(np.count_nonzero(is_scroll & dx_valid & (dx != 0)))
        if hscroll:
            report.warnings.append(
                "%d scroll event(s) of %r have a horizontal amount dx the CSV layout cannot hold"
                % (hscroll, session)
            )
    native, native_valid = col("native")
    usage, usage_valid = col("usage")
    if keyspace == "js_keycode":
        key_code, code_valid = native, native_valid
    else:
        lut = {u: keymap.usage_to_js_keycode(u) for u in set(usage[is_key & usage_valid].tolist())}
        key_code = np.array([lut.get(u) or 0 for u in usage.tolist()], np.int64) if lut else np.zeros(n, np.int64)
        code_valid = usage_valid & np.array([bool(lut.get(u)) for u in usage.tolist()], bool)
        if report is not None:
            lost = int(np.count_nonzero(is_key & ~code_valid))
            if lost:
                report.warnings.append(
                    "%d key event(s) of %r have no JavaScript keyCode; written with an empty code"
                    % (lost, session)
                )
    key_text = pc.if_else(
        pa.array(code_valid), pc.cast(pa.array(np.asarray(key_code, np.int64)), pa.string()), pa.scalar("")
    )
    b_text = pc.case_when(
        pc.make_struct(pa.array(is_move), pa.array(is_button), pa.array(is_scroll)),
        drag_text,
        btn_text,
        dy_text,
        key_text,
    )
    lines = pc.binary_join_element_wise(
        pc.cast(pa.array(t), pa.string()),
        kind_text,
        x_text,
        y_text,
        b_text,
        pa.scalar(_quote(session)),
        ",",
    )
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    return lines, n


_NUMERIC_KEYS = {"t", "kind"} | {
    k for f, (typ, _) in FIELD_KINDS.items() if typ != "str" for k in (f, f + "_valid")
}


def _write_array_bytes(out: Any, lines: Any) -> None:
    if len(lines) == 0:
        return
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=lines.offset + len(lines) + 1)
    start = int(offsets[lines.offset])
    end = int(offsets[lines.offset + len(lines)])
    out.write(memoryview(lines.buffers()[2])[start:end])


def _recording_order(paths: List[str]) -> List[Tuple[str, Any, Dict[str, Any]]]:
    recs = []
    for i, p in enumerate(paths):
        rec = open_recording(p)
        md = dict(rec.metadata or {})
        idx = md.get("source_index")
        key = (0, int(idx), i) if isinstance(idx, int) else (1, 0, i)
        recs.append((key, p, rec, md))
    recs.sort(key=lambda r: r[0])
    return [(p, rec, md) for _, p, rec, md in recs]


def export_csv(
    paths_or_dir: Union[PathLike, Iterable[PathLike]],
    out: Union[PathLike, BinaryIO],
    *,
    level: int = 3,
    on_file: Optional[Callable[[str], None]] = None,
) -> ExportReport:
    """Write recordings to the normalized CSV layout.

    ``paths_or_dir``: a recording, a directory (its ``*.hpk`` files) or a list of either.
    Recordings are ordered by their ``source_index`` metadata (those without one come last, in
    path order); the ``session`` column is the ``session`` metadata entry or the file stem.
    ``out``: a path (``.zst`` -> zstd-compressed at ``level``) or a binary stream.
    ``on_file(path)`` is called after each recording is written (progress).
    """
    t0 = time.perf_counter()
    paths = expand_recordings(paths_or_dir)
    out_name = os.fspath(out) if isinstance(out, (str, os.PathLike)) else getattr(out, "name", "<stream>")
    report = ExportReport(out=str(out_name), to="csv")
    to_close: List[Any] = []
    if isinstance(out, (str, os.PathLike)):
        fh: Any = open(os.fspath(out), "wb")
        to_close.append(fh)
        if os.fspath(out).endswith(".zst"):
            import zstandard

            fh = zstandard.ZstdCompressor(level=level, threads=-1).stream_writer(fh, closefd=False)
            to_close.insert(0, fh)
    else:
        fh = out
    try:
        fh.write(HEADER.encode())
        for path, rec, md in _recording_order(paths):
            session = md.get("session")
            if not isinstance(session, str):
                session = os.path.splitext(os.path.basename(path))[0]
            table = rec.table()
            lines, rows = recording_csv_rows(table, session, md.get("native_keyspace"), report)
            _write_array_bytes(fh, lines)
            report.rows += rows
            report.recordings += 1
            if on_file is not None:
                on_file(path)
    finally:
        for c in to_close:
            c.close()
    report.seconds = time.perf_counter() - t0
    return report
