"""hidpack comparison harness: hidpack vs. today's formats on real input recordings.

Commands (from the repository root)::

    python benches/compare.py --quick                  # CI: deterministic subset, ~4 min on 2 busy cores
    python benches/compare.py                          # full: every session of every corpus
    python benches/compare.py --quick --json out.json  # also write every figure as JSON
    python benches/compare.py --quick --only-user-paths --user-path long-numpy   # a few rows, while iterating
    pytest benches/ --benchmark-only                   # pytest-benchmark micro-benchmarks

Corpora are read from ``$HIDPACK_DATA`` (default ``<repo>/../shared/data``); nothing is copied into the
repository. Used: ``balabit-mouse``, ``aalto136m-keys`` (``events.csv.zst``) and ``ducktrack-example``
(``events.jsonl``).

What is measured, per corpus: every session is stored as its own file/blob, all fields lossless (every
decode is checked against the input, outside the timed region). For each format: bytes per event
(sum of blob sizes / events), encode events/s (numpy columns -> bytes) and decode events/s
(bytes -> numpy columns), each the median of N passes over all sessions (after an untimed warm-up
pass over a tenth of them), one process pinned to one CPU, ``time.perf_counter``, zstd/pyarrow
single-threaded.

The benchmark table of a session (the "canonical columns") is::

    t       int64   ns since the session's first event
    kind    uint8   0 move, 1 down, 2 up, 3 scroll, 4 hscroll, 5 key_down, 6 key_up
    x, y    int64 pixels (balabit, aalto) or float64 points (ducktrack); 0 where absent
    code    int64   move: 1 = drag (balabit) else 0; down/up: button 1 left 2 right 3 middle 4 x;
                    scroll/hscroll: signed amount; key_*: key code (aalto JS keyCode, ducktrack USB HID usage)
    xy_valid bool   x/y present, per row (a button or scroll without a position is legal). In these
                    corpora it happens to be a function of kind (absent exactly on key rows), so binary
                    formats without a null concept (packed structs, pcodec) store 0 there and derive
                    the mask from kind on decode, with a flag bit in the kind value (0x80) on any row
                    where presence is not its kind's usual; JSON/CSV/Parquet use their own nulls.

User paths (after the per-corpus tables): what an analyst types to get one long recording (balabit
sessions end to end: >= 2 M events in quick mode, all 4.6 M in full) into numpy (its moves) and into
pandas (every event), and a fleet (>= 1,000 balabit session files; all 1,677 in full) into one table
and into pandas: hidpack's own calls next to pcodec files, Parquet read on 1 thread and on every CPU,
and ``pyarrow.dataset``. Each row runs in a fresh process, which also gives its peak memory; each
result is checked (rows, first and last time) against the input.

The run fails (exit 2) when hidpack cannot be imported, unless ``--no-hidpack``; any measurement
that fails is listed under FAILURES and the run exits 1. A peer whose package is missing (pcodec,
mcap) is reported as not installed, on stderr and in its rows.

hidpack is driven through its public Python API (``hidpack.write_table`` / ``hidpack.open(path).table()``),
files on tmpfs; converting the canonical columns to/from hidpack's event table is done outside the timed
region (it is the bench's adapter, not part of the codec).
"""
from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# Single-threaded everything (before numpy/pyarrow import) when run as the benchmark; a test that
# imports this module keeps its process's settings.
if __name__ == "__main__":
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import zstandard  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HIDPACK_DATA", str(ROOT.parent / "shared" / "data")))

KINDS = ("move", "down", "up", "scroll", "hscroll", "key_down", "key_up")
K_MOVE, K_DOWN, K_UP, K_SCROLL, K_HSCROLL, K_KEY_DOWN, K_KEY_UP = range(7)
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
# x/y usually present on these kinds. Presence is stored per row (a button or scroll event without
# a position is legal in hidpack); formats without nulls (packed structs, pcodec) mark the rows
# whose presence differs from this table with XY_FLIP in the kind value (no row does in the three
# corpora, so their bytes are what a kind-derived mask gives).
XY_LUT = np.array([True, True, True, True, True, False, False])
XY_FLIP = 0x80
BUTTONS = {"left": 1, "right": 2, "middle": 3, "x": 4}

# Product owner's baselines (bytes/event; speeds on balabit, M events/s) for the comparison column.
BASELINES: Dict[str, Dict[str, Dict[str, float]]] = {
    "balabit-mouse": {
        "JSONL": {"bpe": 54.1},
        "MCAP JSON (msg index)": {"bpe": 34.0},
        "packed21 + zstd-3": {"bpe": 7.93, "enc": 6.3, "dec": 22.0},
        "packed21 + zstd-19": {"bpe": 6.32},
        "Parquet zstd DELTA": {"bpe": 4.22},
        "pcodec": {"bpe": 2.08, "enc": 4.2, "dec": 43.0},
        "plain copy (packed21 -> columns)": {"dec": 115.0},
    },
    "aalto136m-keys": {
        "JSONL": {"bpe": 47.4},
        "MCAP JSON (msg index)": {"bpe": 33.0},
        "packed21 + zstd-3": {"bpe": 6.41},
        "packed21 + zstd-19": {"bpe": 5.34},
        "Parquet zstd DELTA": {"bpe": 4.48},
        "pcodec": {"bpe": 1.88},
    },
}


# --------------------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------------------
@dataclass
class Session:
    name: str
    cols: Dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.cols["t"])


@dataclass
class Corpus:
    name: str
    sessions: List[Session]
    float_xy: bool = False  # x/y float64 (else int64)
    xy_scale: int = 1  # power of two making every coordinate an integer (packed structs store x*scale)
    key_field: str = "native"  # hidpack field holding `code` on key rows
    total_sessions: int = 0
    total_events: int = 0
    subset: str = "all"
    all_sessions: List[Session] = field(default_factory=list)  # before subset() (the user paths use them)

    @property
    def events(self) -> int:
        return sum(s.n for s in self.sessions)


def _mk_cols(t, kind, x, y, code, float_xy: bool, xy_valid=None) -> Dict[str, np.ndarray]:
    """The canonical columns; ``xy_valid``: x/y present per row (None: as :data:`XY_LUT` says for
    each kind). x/y are set to 0 where absent."""
    kind = np.ascontiguousarray(kind, dtype=np.uint8)
    if kind.size and int(kind.max()) >= len(KINDS):
        raise ValueError(f"kind code {int(kind.max())} is not one of the bench's {len(KINDS)} kinds")
    xy_valid = XY_LUT[kind] if xy_valid is None else np.ascontiguousarray(xy_valid, dtype=bool)
    xt = np.float64 if float_xy else np.int64
    x = np.where(xy_valid, np.asarray(x, dtype=xt), 0).astype(xt)
    y = np.where(xy_valid, np.asarray(y, dtype=xt), 0).astype(xt)
    return {
        "t": np.ascontiguousarray(t, dtype=np.int64),
        "kind": kind,
        "x": x,
        "y": y,
        "code": np.ascontiguousarray(code, dtype=np.int64),
        "xy_valid": xy_valid,
    }


def kind_with_flip(c: Dict[str, np.ndarray]) -> np.ndarray:
    """``kind`` with :data:`XY_FLIP` set on the rows whose x/y presence is not their kind's usual
    (how packed structs and pcodec, which have no nulls, keep it)."""
    flip = c["xy_valid"] != XY_LUT[c["kind"]]
    return (c["kind"] | np.where(flip, XY_FLIP, 0)).astype(np.uint8) if flip.any() else c["kind"]


def kind_and_xy_valid(stored: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`kind_with_flip`: (kind, xy_valid)."""
    stored = np.asarray(stored)
    kind = (stored & (0xFF ^ XY_FLIP)).astype(np.uint8)
    return kind, XY_LUT[kind] ^ ((stored & XY_FLIP) != 0)


def read_event_csv(path: Path) -> pa.Table:
    with open(path, "rb") as f:
        return parse_event_csv(zstandard.ZstdDecompressor().stream_reader(f).read())


def parse_event_csv(raw: bytes) -> pa.Table:
    types = {"t_ns": pa.int64(), "kind": pa.string(), "x": pa.int64(), "y": pa.int64(),
             "button": pa.string(), "session": pa.string()}
    return pacsv.read_csv(
        pa.py_buffer(raw),
        read_options=pacsv.ReadOptions(use_threads=False),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
    )


def load_csv_corpus(name: str, key_field: str, tbl: Optional[pa.Table] = None) -> Corpus:
    """A CSV corpus split into sessions; ``tbl``: an already parsed (part of the) file."""
    if tbl is None:
        tbl = read_event_csv(DATA / name / "events.csv.zst")
    kind_d = tbl["kind"].combine_chunks().dictionary_encode()
    kind_lut = np.array([KIND_CODE[k] for k in kind_d.dictionary.to_pylist()], dtype=np.uint8)
    kind = kind_lut[kind_d.indices.to_numpy()]

    btn_d = tbl["button"].combine_chunks().dictionary_encode()
    btn_vals = btn_d.dictionary.to_pylist()
    btn_idx = btn_d.indices.to_numpy()
    code_lut = np.array(
        [0 if v == "" else 1 if v == "drag" else BUTTONS[v] if v in BUTTONS else int(v) for v in btn_vals],
        dtype=np.int64)
    code = code_lut[btn_idx]
    # lossless checks of the button mapping: names only where they belong
    allowed = {
        K_MOVE: {"", "drag"}, K_DOWN: set(BUTTONS), K_UP: set(BUTTONS),
    }
    for k, ok in allowed.items():
        used = {btn_vals[i] for i in np.unique(btn_idx[kind == k])}
        assert used <= ok, (name, KINDS[k], used - ok)
    for k in (K_SCROLL, K_KEY_DOWN, K_KEY_UP):
        for i in np.unique(btn_idx[kind == k]):
            assert str(int(btn_vals[i])) == btn_vals[i], (name, btn_vals[i])

    xa, ya = tbl["x"].combine_chunks(), tbl["y"].combine_chunks()
    xv = xa.is_valid().to_numpy(zero_copy_only=False)
    yv = ya.is_valid().to_numpy(zero_copy_only=False)
    if not np.array_equal(xv, yv):
        raise ValueError(f"{name}: row {int(np.flatnonzero(xv != yv)[0])} has only one of x and y "
                         "(the bench table keeps one presence flag for both)")
    x = pc.fill_null(xa, 0).to_numpy()
    y = pc.fill_null(ya, 0).to_numpy()
    t = tbl["t_ns"].combine_chunks().to_numpy()

    sess_d = tbl["session"].combine_chunks().dictionary_encode()
    sidx = sess_d.indices.to_numpy()
    cuts = np.flatnonzero(np.diff(sidx)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(sidx)]
    snames = sess_d.dictionary.to_pylist()
    assert len(starts) == len(snames), f"{name}: sessions are not contiguous"
    sessions = []
    for a, b in zip(starts, ends):
        cols = _mk_cols(t[a:b], kind[a:b], x[a:b], y[a:b], code[a:b], False, xv[a:b])
        sessions.append(Session(snames[sidx[a]], cols))
    c = Corpus(name, sessions, float_xy=False, xy_scale=1, key_field=key_field)
    c.total_sessions, c.total_events = len(sessions), int(len(t))
    return c


# pynput key names (DuckTrack "name") -> USB HID usage (page 0x07)
def _hid_usage_table() -> Dict[str, int]:
    m = {chr(ord("a") + i): 0x04 + i for i in range(26)}
    m.update({str(d): 0x1E + (d - 1) for d in range(1, 10)})
    m["0"] = 0x27
    m.update({"enter": 0x28, "esc": 0x29, "backspace": 0x2A, "tab": 0x2B, "space": 0x2C, "-": 0x2D,
              "=": 0x2E, "[": 0x2F, "]": 0x30, "\\": 0x31, ";": 0x33, "'": 0x34, "`": 0x35, ",": 0x36,
              ".": 0x37, "/": 0x38, "caps_lock": 0x39, "right": 0x4F, "left": 0x50, "down": 0x51,
              "up": 0x52, "delete": 0x4C, "home": 0x4A, "end": 0x4D, "page_up": 0x4B, "page_down": 0x4E,
              "ctrl": 0xE0, "ctrl_l": 0xE0, "shift": 0xE1, "shift_l": 0xE1, "alt": 0xE2, "alt_l": 0xE2,
              "cmd": 0xE3, "cmd_l": 0xE3, "ctrl_r": 0xE4, "shift_r": 0xE5, "alt_r": 0xE6, "cmd_r": 0xE7})
    m.update({f"f{i}": 0x3A + i - 1 for i in range(1, 13)})
    return m


def load_ducktrack() -> Corpus:
    usage = _hid_usage_table()
    t, kind, x, y, code, xy_valid = [], [], [], [], [], []
    with open(DATA / "ducktrack-example" / "events.jsonl", "rb") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line, parse_float=Decimal)
            t.append(int(d["time_stamp"] * 1_000_000_000))  # exact: 9 decimals in the source
            a = d["action"]
            xy_valid.append("x" in d)
            if "x" in d:
                x.append(float(d["x"]))
                y.append(float(d["y"]))
            else:
                x.append(0.0)
                y.append(0.0)
            if a == "move":
                kind.append(K_MOVE)
                code.append(0)
            elif a == "click":
                kind.append(K_DOWN if d["pressed"] else K_UP)
                code.append(BUTTONS[d["button"]])
            elif a == "scroll":
                dx, dy = int(d["dx"]), int(d["dy"])
                if dx == 0:
                    kind.append(K_SCROLL)
                    code.append(dy)
                elif dy == 0:
                    kind.append(K_HSCROLL)
                    code.append(dx)
                else:
                    raise ValueError("diagonal scroll row: the bench table holds one axis per row")
            elif a in ("press", "release"):
                kind.append(K_KEY_DOWN if a == "press" else K_KEY_UP)
                code.append(usage[d["name"]])  # KeyError = unknown name, extend the table
            else:
                raise ValueError(a)
    t_arr = np.array(t, dtype=np.int64)
    t_arr -= t_arr[0]
    cols = _mk_cols(t_arr, kind, x, y, code, True, xy_valid)
    xs = np.concatenate([cols["x"], cols["y"]])
    scale = 1
    while not np.all(xs * scale == np.round(xs * scale)):
        scale *= 2
        assert scale <= 65536
    c = Corpus("ducktrack-example", [Session("ducktrack-example", cols)], float_xy=True, xy_scale=scale,
               key_field="usage")
    c.total_sessions, c.total_events = 1, len(t_arr)
    return c


def subset(c: Corpus, stride: int) -> Corpus:
    c.all_sessions = list(c.sessions)
    if stride > 1:
        c.sessions = c.sessions[::stride]
        c.subset = f"every {stride}th session (file order, starting with the first)"
    return c


def load_corpora(quick: bool, only: Optional[List[str]]) -> List[Corpus]:
    out = []
    want = only or ["balabit-mouse", "aalto136m-keys", "ducktrack-example"]
    for name in want:
        t0 = time.perf_counter()
        if name == "balabit-mouse":
            c = subset(load_csv_corpus(name, "native"), 12 if quick else 1)
        elif name == "aalto136m-keys":
            c = subset(load_csv_corpus(name, "native"), 6 if quick else 1)
        elif name == "ducktrack-example":
            c = load_ducktrack()
        else:
            raise SystemExit(f"unknown corpus {name}")
        print(f"loaded {name}: {len(c.sessions)}/{c.total_sessions} sessions, {c.events:,} events "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        out.append(c)
    return out


# --------------------------------------------------------------------------------------------------
# Formats. Each: encode(cols) -> blob, decode(blob) -> cols, size(blob) -> bytes.
# --------------------------------------------------------------------------------------------------
class Format:
    name = "?"
    slow = False  # pure-Python per-event loop or very slow encoder: --slow-repeats passes
    note = ""

    def setup(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def prepare(self, cols: Dict[str, np.ndarray]) -> Any:  # untimed input adapter
        return cols

    def encode(self, inp: Any, i: int) -> Any:
        raise NotImplementedError

    def decode(self, blob: Any) -> Any:
        raise NotImplementedError

    def size(self, blob: Any) -> int:
        return len(blob)

    def to_canonical(self, out: Any) -> Dict[str, np.ndarray]:  # untimed output adapter
        return out

    def teardown(self) -> None:
        pass


def _zc(level: int) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level, threads=0, write_content_size=True)


_DZ = zstandard.ZstdDecompressor()


def _json_lines(c) -> List[str]:
    """One compact JSON object per event (JSONL rows and MCAP message payloads)."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    t, k, x, y, code, v = (c[f].tolist() for f in ("t", "kind", "x", "y", "code", "xy_valid"))
    out = []
    for j in range(len(t)):
        d = {"t_ns": t[j], "kind": KINDS[k[j]]}
        if v[j]:
            d["x"] = x[j]
            d["y"] = y[j]
        if k[j] or code[j]:  # code omitted on plain (non-drag) moves only
            d["code"] = code[j]
        out.append(dumps(d))
    return out


def _json_columns(objs, float_xy: bool) -> Dict[str, np.ndarray]:
    loads = json.loads
    t, k, x, y, code, v = [], [], [], [], [], []
    for line in objs:
        d = loads(line)
        t.append(d["t_ns"])
        k.append(KIND_CODE[d["kind"]])
        if "x" in d:
            x.append(d["x"])
            y.append(d["y"])
            v.append(True)
        else:
            x.append(0)
            y.append(0)
            v.append(False)
        code.append(d.get("code", 0))
    xt = np.float64 if float_xy else np.int64
    return {"t": np.array(t, np.int64), "kind": np.array(k, np.uint8), "x": np.array(x, xt),
            "y": np.array(y, xt), "code": np.array(code, np.int64), "xy_valid": np.array(v, bool)}


class JSONL(Format):
    name = "JSONL"
    slow = True
    note = ('one compact JSON object a line: {"t_ns","kind","x","y","code"}; x/y omitted when absent, '
            'code omitted on plain moves')

    def encode(self, c, i):
        lines = _json_lines(c)
        lines.append("")
        return "\n".join(lines).encode()

    def decode(self, blob):
        return _json_columns(blob.splitlines(), self.corpus.float_xy)


class MCAPJSON(Format):
    slow = True

    def __init__(self, message_index: bool):
        import mcap.writer  # noqa: F401
        self.message_index = message_index
        self.name = "MCAP JSON (msg index)" if message_index else "MCAP JSON (no msg index)"
        self.note = ("mcap Writer, zstd-3 chunks of 1 MiB, one JSON message per event "
                     "(payload = the JSONL object; log_time = publish_time = t)"
                     + ("" if message_index else ", index_types=CHUNK"))

    def encode(self, c, i):
        from mcap.writer import CompressionType, IndexType, Writer
        buf = io.BytesIO()
        w = Writer(buf, compression=CompressionType.ZSTD,
                   index_types=IndexType.ALL if self.message_index else IndexType.CHUNK)
        w.start(profile="", library="hidpack-bench")
        sid = w.register_schema(name="hid_event", encoding="jsonschema", data=b'{"type":"object"}')
        ch = w.register_channel(topic="/input", message_encoding="json", schema_id=sid)
        add = w.add_message
        for j, (t, line) in enumerate(zip(c["t"].tolist(), _json_lines(c))):
            add(ch, log_time=t, data=line.encode(), publish_time=t, sequence=j)
        w.finish()
        return buf.getvalue()

    def decode(self, blob):
        from mcap.reader import NonSeekingReader
        msgs = NonSeekingReader(io.BytesIO(blob)).iter_messages()
        return _json_columns((m.data for _s, _c, m in msgs), self.corpus.float_xy)


_KIND_NAMES = pa.array(KINDS)


class CSVZstd(Format):
    name = "CSV + zstd-3"
    note = "pyarrow.csv writer/reader, header t_ns,kind,x,y,code (kind as name, x/y empty when absent)"

    def __init__(self):
        self.zc = _zc(3)
        self.wopt = pacsv.WriteOptions(include_header=True, quoting_style="none")
        self.types = {"t_ns": pa.int64(), "kind": pa.dictionary(pa.int32(), pa.string()),
                      "code": pa.int64()}

    def setup(self, corpus):
        super().setup(corpus)
        xt = pa.float64() if corpus.float_xy else pa.int64()
        self.types = dict(self.types, x=xt, y=xt)
        self.ropt = pacsv.ReadOptions(use_threads=False)
        self.copt = pacsv.ConvertOptions(column_types=self.types, strings_can_be_null=False)

    def encode(self, c, i):
        mask = ~c["xy_valid"]
        tbl = pa.table({
            "t_ns": c["t"],
            "kind": _KIND_NAMES.take(pa.array(c["kind"])),
            "x": pa.array(c["x"], mask=mask),
            "y": pa.array(c["y"], mask=mask),
            "code": c["code"],
        })
        out = pa.BufferOutputStream()
        pacsv.write_csv(tbl, out, self.wopt)
        return self.zc.compress(out.getvalue())

    def decode(self, blob):
        tbl = pacsv.read_csv(pa.py_buffer(_DZ.decompress(blob)), read_options=self.ropt,
                             convert_options=self.copt)
        kd = tbl["kind"].combine_chunks()
        lut = np.array([KIND_CODE[s] for s in kd.dictionary.to_pylist()], dtype=np.uint8)
        xa = tbl["x"].combine_chunks()
        ya = tbl["y"].combine_chunks()
        return {
            "t": tbl["t_ns"].combine_chunks().to_numpy(),
            "kind": lut[kd.indices.to_numpy()],
            "x": pc.fill_null(xa, 0).to_numpy(),
            "y": pc.fill_null(ya, 0).to_numpy(),
            "code": tbl["code"].combine_chunks().to_numpy(),
            "xy_valid": xa.is_valid().to_numpy(zero_copy_only=False),
        }


PACKED21 = np.dtype([("t", "<i8"), ("kind", "u1"), ("x", "<i4"), ("y", "<i4"), ("code", "<i4")])
assert PACKED21.itemsize == 21


def _to_packed(c, scale: int) -> np.ndarray:
    a = np.empty(len(c["t"]), dtype=PACKED21)
    a["t"] = c["t"]
    a["kind"] = kind_with_flip(c)
    if scale == 1 and c["x"].dtype != np.float64:
        a["x"] = c["x"]
        a["y"] = c["y"]
    else:
        a["x"] = c["x"] * scale
        a["y"] = c["y"] * scale
    a["code"] = c["code"]
    return a


def _from_packed(a: np.ndarray, float_xy: bool, scale: int) -> Dict[str, np.ndarray]:
    kind, xy_valid = kind_and_xy_valid(a["kind"])
    if float_xy:
        x = a["x"] / scale
        y = a["y"] / scale
    else:
        x = a["x"].astype(np.int64)
        y = a["y"].astype(np.int64)
    return {"t": a["t"].copy(), "kind": kind, "x": x, "y": y, "code": a["code"].astype(np.int64),
            "xy_valid": xy_valid}


class PackedZstd(Format):
    def __init__(self, level: int):
        self.level = level
        self.zc = _zc(level)
        self.name = f"packed21 + zstd-{level}"
        self.slow = level >= 10
        self.note = ("21 B little-endian struct (t i64, kind u8, x i32, y i32, code i32), one zstd frame "
                     "per session; x/y*scale for fractional coordinates; x/y presence from kind "
                     "(kind | 0x80 on a row where it is not the kind's usual)")

    def setup(self, corpus):
        super().setup(corpus)
        for s in corpus.sessions:  # the layout must hold every value
            for f in ("x", "y", "code"):
                v = s.cols[f] * (corpus.xy_scale if f != "code" else 1)
                assert np.all((v >= -2**31) & (v < 2**31)), f"{f} does not fit i32"

    def encode(self, c, i):
        return self.zc.compress(_to_packed(c, self.corpus.xy_scale).view(np.uint8))

    def decode(self, blob):
        a = np.frombuffer(_DZ.decompress(blob), dtype=PACKED21)
        return _from_packed(a, self.corpus.float_xy, self.corpus.xy_scale)


class PlainCopy(Format):
    """Ceiling: decode is a plain copy of already-uncompressed packed structs into columns."""
    name = "plain copy (packed21 -> columns)"
    note = ("no compression: encode = columns -> 21 B structs; decode = copy each struct field into its "
            "own contiguous array at its stored width (no widening, no mask): the speed ceiling")

    def encode(self, c, i):
        return _to_packed(c, self.corpus.xy_scale).view(np.uint8)

    def decode(self, blob):
        a = blob.view(PACKED21)
        return {"t": a["t"].copy(), "kind": a["kind"].copy(), "x": a["x"].copy(), "y": a["y"].copy(),
                "code": a["code"].copy()}

    def to_canonical(self, out):
        s = self.corpus.xy_scale
        if self.corpus.float_xy:
            x, y = out["x"] / s, out["y"] / s
        else:
            x, y = out["x"].astype(np.int64), out["y"].astype(np.int64)
        kind, xy_valid = kind_and_xy_valid(out["kind"])
        return {"t": out["t"], "kind": kind, "x": x, "y": y, "code": out["code"].astype(np.int64),
                "xy_valid": xy_valid}


class Parquet(Format):
    def __init__(self, delta: bool):
        self.delta = delta
        self.name = "Parquet zstd DELTA" if delta else "Parquet zstd"
        self.note = ("pyarrow, one row group, zstd (default level), no ARROW:schema footer blob, "
                     + ("use_dictionary=False, DELTA_BINARY_PACKED on integer columns"
                        if delta else "default encodings (dictionary)")
                     + "; t int64, kind uint8, x/y int32 or float64 (nullable), code int32")

    def setup(self, corpus):
        super().setup(corpus)
        self.xt = pa.float64() if corpus.float_xy else pa.int32()
        ints = ["t", "kind", "code"] + ([] if corpus.float_xy else ["x", "y"])
        self.kw: Dict[str, Any] = {"compression": "zstd", "store_schema": False}
        if self.delta:
            self.kw.update(use_dictionary=False, column_encoding={c: "DELTA_BINARY_PACKED" for c in ints})
        self.xnp = np.float64 if corpus.float_xy else np.int64

    def encode(self, c, i):
        mask = ~c["xy_valid"]
        tbl = pa.table({
            "t": c["t"],
            "kind": c["kind"],
            "x": pa.array(c["x"], type=self.xt, mask=mask),
            "y": pa.array(c["y"], type=self.xt, mask=mask),
            "code": pa.array(c["code"], type=pa.int32()),
        })
        out = pa.BufferOutputStream()
        pq.write_table(tbl, out, **self.kw)
        return out.getvalue()

    def decode(self, blob):
        tbl = pq.read_table(pa.BufferReader(blob), use_threads=False)
        xa = tbl["x"].combine_chunks()
        ya = tbl["y"].combine_chunks()
        return {
            "t": tbl["t"].combine_chunks().to_numpy(),
            "kind": tbl["kind"].combine_chunks().to_numpy(),
            "x": pc.fill_null(xa, 0).to_numpy().astype(self.xnp, copy=False),
            "y": pc.fill_null(ya, 0).to_numpy().astype(self.xnp, copy=False),
            "code": tbl["code"].combine_chunks().to_numpy().astype(np.int64),
            "xy_valid": xa.is_valid().to_numpy(zero_copy_only=False),
        }


class Pcodec(Format):
    name = "pcodec"
    note = ("pcodec.standalone.simple_compress, default ChunkConfig, one blob per column "
            "(t i64, kind u16, x, y i64/f64, code i64; a column absent on every row is not stored), "
            "u32 length prefix per blob; x/y mask derived from kind (kind | 0x80 on a row where "
            "presence is not the kind's usual)")
    COLS = ("t", "kind", "x", "y", "code")

    def __init__(self):
        from pcodec import ChunkConfig, standalone
        self.cfg = ChunkConfig()
        self.comp = standalone.simple_compress
        self.decomp = standalone.simple_decompress

    def setup(self, corpus):
        super().setup(corpus)
        self.xnp = np.float64 if corpus.float_xy else np.int64

    def encode(self, c, i):
        parts = []
        anyxy = bool(c["xy_valid"].any())
        for f in self.COLS:
            if f in ("x", "y") and not anyxy:
                parts.append(b"\0\0\0\0")
                continue
            a = c[f]
            if f == "kind":
                a = kind_with_flip(c).astype(np.uint16)
            b = self.comp(a, self.cfg)
            parts.append(len(b).to_bytes(4, "little"))
            parts.append(b)
        return b"".join(parts)

    def decode(self, blob):
        out = {}
        pos = 0
        for f in self.COLS:
            ln = int.from_bytes(blob[pos:pos + 4], "little")
            pos += 4
            if ln == 0:
                out[f] = None
                continue
            a = self.decomp(blob[pos:pos + ln])
            pos += ln
            out[f] = a
        n = len(out["t"])
        out["kind"], out["xy_valid"] = kind_and_xy_valid(out["kind"])
        for f in ("x", "y"):
            if out[f] is None:
                out[f] = np.zeros(n, self.xnp)
        return out


# ---- hidpack plugin -------------------------------------------------------------------------------
_HIDPACK: Any = None
_HIDPACK_ERR: Optional[str] = None


def import_hidpack():
    """Import the hidpack package (installed, or from <repo>/python). Returns (module, error)."""
    global _HIDPACK, _HIDPACK_ERR
    if _HIDPACK is not None or _HIDPACK_ERR is not None:
        return _HIDPACK, _HIDPACK_ERR
    try:
        try:
            import hidpack
        except ModuleNotFoundError as e:
            if e.name != "hidpack":
                raise
            sys.path.insert(0, str(ROOT / "python"))  # not installed: the repository's package
            import hidpack
        # The package loads its native module on first use (``hidpack._native`` is not an
        # attribute before that): load it now, so that a missing or broken build says so here.
        importlib.import_module("hidpack._native")
        for a in ("write_table", "open", "read_many", "Recorder"):
            getattr(hidpack, a)  # AttributeError names what is missing
        _HIDPACK = hidpack
    except Exception as e:  # noqa: BLE001
        _HIDPACK_ERR = f"{type(e).__name__}: {e}"
    return _HIDPACK, _HIDPACK_ERR


# hidpack kind codes (ARCHITECTURE.md)
H_MOVE, H_BUTTON, H_SCROLL, H_KEY = 0, 2, 3, 4
_C2H = np.array([H_MOVE, H_BUTTON, H_BUTTON, H_SCROLL, H_SCROLL, H_KEY, H_KEY], dtype=np.uint8)


def canonical_to_hidpack(c: Dict[str, np.ndarray], corpus: Corpus) -> Dict[str, np.ndarray]:
    """Bench columns -> hidpack event table (ARCHITECTURE.md, write side)."""
    k = c["kind"]
    n = len(k)
    code = c["code"]
    is_move = k == K_MOVE
    is_btn = (k == K_DOWN) | (k == K_UP)
    is_scroll = (k == K_SCROLL) | (k == K_HSCROLL)
    is_key = (k == K_KEY_DOWN) | (k == K_KEY_UP)
    z = np.zeros(n, np.int64)
    tbl: Dict[str, np.ndarray] = {
        "t": c["t"], "kind": _C2H[k],
        "x": c["x"].astype(np.float64), "y": c["y"].astype(np.float64),
        "x_valid": c["xy_valid"].copy(), "y_valid": c["xy_valid"].copy(),
    }
    if np.any(code[is_move]):  # balabit drag -> held-buttons mask 1 (upstream does not say which button)
        tbl["buttons"] = np.where(is_move, code, 0)
        tbl["buttons_valid"] = is_move
    if is_btn.any():
        tbl["button"] = np.where(is_btn, code, 0)
        tbl["button_valid"] = is_btn
    if is_btn.any() or is_key.any():
        tbl["pressed"] = (k == K_DOWN) | (k == K_KEY_DOWN)
        tbl["pressed_valid"] = is_btn | is_key
    if is_scroll.any():
        tbl["dx"] = np.where(k == K_HSCROLL, code, z).astype(np.float64)
        tbl["dy"] = np.where(k == K_SCROLL, code, z).astype(np.float64)
        tbl["dx_valid"] = is_scroll
        tbl["dy_valid"] = is_scroll
    if is_key.any():
        tbl[corpus.key_field] = np.where(is_key, code, 0)
        tbl[corpus.key_field + "_valid"] = is_key
    return tbl


def hidpack_to_canonical(h: Dict[str, np.ndarray], corpus: Corpus) -> Dict[str, np.ndarray]:
    """hidpack event table (read side) -> bench columns, for the lossless check."""
    hk = np.asarray(h["kind"])
    n = len(hk)

    def col(f, dt=np.int64):
        if f not in h:
            return np.zeros(n, dt), np.zeros(n, bool)
        v = np.asarray(h[f])
        m = np.asarray(h.get(f + "_valid", np.ones(n, bool)), bool)
        return np.where(m, v, 0).astype(dt), m

    pressed, _ = col("pressed", bool)
    dx, _ = col("dx", np.float64)
    dy, _ = col("dy", np.float64)
    kind = np.full(n, 255, np.uint8)
    kind[hk == H_MOVE] = K_MOVE
    kind[(hk == H_BUTTON) & pressed] = K_DOWN
    kind[(hk == H_BUTTON) & ~pressed] = K_UP
    kind[(hk == H_SCROLL) & (dx == 0)] = K_SCROLL
    kind[(hk == H_SCROLL) & (dx != 0)] = K_HSCROLL
    kind[(hk == H_KEY) & pressed] = K_KEY_DOWN
    kind[(hk == H_KEY) & ~pressed] = K_KEY_UP
    buttons, _ = col("buttons")
    button, _ = col("button")
    keyc, _ = col(corpus.key_field)
    code = np.select([hk == H_MOVE, hk == H_BUTTON, kind == K_SCROLL, kind == K_HSCROLL, hk == H_KEY],
                     [buttons, button, dy.astype(np.int64), dx.astype(np.int64), keyc], 0)
    xf, xv = col("x", np.float64)
    yf, _ = col("y", np.float64)
    xt = np.float64 if corpus.float_xy else np.int64
    return {"t": np.asarray(h["t"], np.int64), "kind": kind, "x": xf.astype(xt), "y": yf.astype(xt),
            "code": code, "xy_valid": xv}


class Hidpack(Format):
    def __init__(self, hp, label: str, block_events: int, block_span_ns: Optional[int], tmpdir: str):
        self.hp = hp
        self.name = f"hidpack ({label})"
        self.block_events = block_events
        self.block_span_ns = block_span_ns
        self.tmpdir = tmpdir
        self.note = (f"hidpack.write_table(block_events={block_events}, block_span_ns={block_span_ns}), "
                     "one file per session on tmpfs; decode = hidpack.open(path, threads=1).table(fields=<the bench's>)")

    def prepare(self, cols):
        return canonical_to_hidpack(cols, self.corpus)

    def encode(self, tbl, i):
        return hidpack_encode(self.hp, tbl, os.path.join(self.tmpdir, f"s{i}.hid"),
                              self.block_events, self.block_span_ns)

    def setup(self, corpus):
        super().setup(corpus)
        # What the bench's columns need, as a reader who wants these columns asks for them
        # (pcodec's row decodes its five stored columns; the other fields are not materialised).
        self.fields = ["x", "y", "buttons", "button", "pressed", "dx", "dy", corpus.key_field]

    def decode(self, path):
        return hidpack_decode(self.hp, path, self.fields)

    def size(self, path):
        return os.path.getsize(path)

    def to_canonical(self, out):
        return hidpack_to_canonical(out, self.corpus)


class HidpackMemory(Hidpack):
    """``hidpack.write_table`` into an ``io.BytesIO``, as pcodec and Parquet here encode: into
    memory, no file system (the file row above also creates a temporary, fsyncs and renames it
    for each session, which a durable write to a path does)."""

    def __init__(self, hp, tmpdir: str):
        super().__init__(hp, "write_table to io.BytesIO, 65536-event blocks", 65536, None, tmpdir)
        self.note = ("hidpack.write_table(io.BytesIO(), table), the file in memory like the peers' blobs; "
                     "decode = hidpack.open(bytes, threads=1).table(fields=<the bench's>)")

    def encode(self, tbl, i):
        buf = io.BytesIO()
        self.hp.write_table(buf, tbl, block_events=self.block_events, block_span_ns=self.block_span_ns)
        return buf.getvalue()

    def decode(self, blob):
        return self.hp.open(blob, threads=1).table(fields=self.fields)

    def size(self, blob):
        return len(blob)


class HidpackRecorder(Hidpack):
    """hidpack as a live capture writes it: ``hidpack.Recorder`` on the event clock with the
    default 1 s crash-loss bound (checkpoints to the write-ahead tail every second of event time,
    so encode time includes them), closed at the end (footer written, tail deleted)."""

    def __init__(self, hp, tmpdir: str):
        super().__init__(hp, "Recorder, 1 s crash bound", 65536, None, tmpdir)
        self.note = ("hidpack.Recorder(clock='event', flush_interval=1.0): checkpoints every 1 s of event "
                     "time to the .wal tail, 65536-event blocks; extend(table) + close(); decode = open(threads=1).table(fields=<the bench's>)")

    def encode(self, tbl, i):
        path = os.path.join(self.tmpdir, f"r{i}.hpk")
        rec = self.hp.Recorder(path, clock="event", flush_interval=1.0, sync="never", overwrite=True)
        rec.extend(tbl)
        st = rec.close()
        assert st["dropped"] == 0 and st["written"] == len(tbl["t"]), st
        return path


def hidpack_encode(hp, table: Dict[str, np.ndarray], path: str, block_events: int = 65536,
                   block_span_ns: Optional[int] = None) -> str:
    # (rounds rewrite the same scratch file; write_table is atomic: temporary, fsync, rename)
    hp.write_table(path, table, block_events=block_events, block_span_ns=block_span_ns, overwrite=True)
    return path


def hidpack_decode(hp, path: str, fields: Optional[List[str]] = None) -> Dict[str, np.ndarray]:
    # one core, like every other format here (a file of several blocks would otherwise be
    # decoded on one thread per CPU)
    return hp.open(path, threads=1).table(fields=fields)


# --------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------
@dataclass
class Row:
    format: str
    note: str
    events: int
    bytes: int = 0
    enc_s: List[float] = field(default_factory=list)
    dec_s: List[float] = field(default_factory=list)
    lossless: Optional[bool] = None
    error: Optional[str] = None
    not_installed: Optional[str] = None  # a peer whose optional package is missing (not an error)

    @property
    def bpe(self) -> float:
        return self.bytes / self.events

    @property
    def enc_mev(self) -> float:
        return self.events / statistics.median(self.enc_s) / 1e6

    @property
    def dec_mev(self) -> float:
        return self.events / statistics.median(self.dec_s) / 1e6


def _equal(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> Optional[str]:
    for f in ("t", "kind", "x", "y", "code", "xy_valid"):
        x, y = np.asarray(a[f]), np.asarray(b[f])
        if x.shape != y.shape or not np.array_equal(x, y):
            bad = "shape" if x.shape != y.shape else int(np.flatnonzero(x != y)[0])
            return f"{f} differs (first at {bad})"
        if x.dtype.kind != y.dtype.kind:
            return f"{f} dtype {y.dtype} != {x.dtype}"
    return None


def measure(fmt: Format, corpus: Corpus, repeats: int, verify: bool = True) -> Row:
    fmt.setup(corpus)
    sessions = corpus.sessions
    inputs = [fmt.prepare(s.cols) for s in sessions]
    row = Row(fmt.name, fmt.note, corpus.events)
    enc, dec = fmt.encode, fmt.decode
    blobs: List[Any] = []
    outs: List[Any] = []
    try:
        # Untimed warm-up on a tenth of the sessions (every format alike): the first pass of a
        # process pays for code, allocator and page-cache warm-up that the median should not see
        # (the Recorder's first pass ran up to 30 % slower than the next ones).
        for i, inp in enumerate(inputs[:max(1, len(inputs) // 10)]):
            fmt.decode(enc(inp, i))
        for r in range(repeats):
            gc.collect()
            gc.disable()
            try:
                blobs = []
                t0 = time.perf_counter()
                for i, inp in enumerate(inputs):
                    blobs.append(enc(inp, i))
                t1 = time.perf_counter()
                outs = []
                t2 = time.perf_counter()
                for b in blobs:
                    outs.append(dec(b))
                t3 = time.perf_counter()
            finally:
                gc.enable()
            row.enc_s.append(t1 - t0)
            row.dec_s.append(t3 - t2)
        row.bytes = sum(fmt.size(b) for b in blobs)
        if verify:
            row.lossless = True
            for s, o in zip(sessions, outs):
                err = _equal(s.cols, fmt.to_canonical(o))
                if err:
                    row.lossless = False
                    row.error = f"not lossless: session {s.name}: {err}"
                    break
    finally:
        fmt.teardown()
    return row


# The peer formats, in table order: (name, constructor). A constructor that raises ImportError
# (its optional package is missing) makes a "not installed" row, said on stderr too.
PEERS: List[Tuple[str, Any]] = [
    ("JSONL", JSONL),
    ("MCAP JSON (msg index)", lambda: MCAPJSON(True)),
    ("MCAP JSON (no msg index)", lambda: MCAPJSON(False)),
    ("CSV + zstd-3", CSVZstd),
    ("packed21 + zstd-3", lambda: PackedZstd(3)),
    ("packed21 + zstd-19", lambda: PackedZstd(19)),
    ("Parquet zstd", lambda: Parquet(False)),
    ("Parquet zstd DELTA", lambda: Parquet(True)),
    ("pcodec", Pcodec),
    ("plain copy (packed21 -> columns)", PlainCopy),
]


def build_formats(with_hidpack: bool, tmpdir: str) -> Tuple[List[Format], Optional[str], Dict[str, str]]:
    """The formats to measure, hidpack's import error (None: imported, or not asked for) and the
    peers that are not installed (name -> the ImportError)."""
    fmts: List[Format] = []
    missing: Dict[str, str] = {}
    for name, make in PEERS:
        try:
            fmts.append(make())
        except ImportError as e:
            missing[name] = f"{type(e).__name__}: {e}"
    err = None
    if with_hidpack:
        hp, err = import_hidpack()
        if hp is not None:
            fmts.append(HidpackRecorder(hp, tmpdir))
            fmts.append(Hidpack(hp, "write_table, 65536-event blocks", 65536, None, tmpdir))
            fmts.append(HidpackMemory(hp, tmpdir))
            fmts.append(Hidpack(hp, "1 s blocks, no tail (why the tail exists)", 65536, 1_000_000_000, tmpdir))
    return fmts, err, missing


def fmt_table(corpus: Corpus, rows: List[Row], repeats: int, slow_repeats: int) -> str:
    base = {r.format: r for r in rows if r.bytes and r.enc_s}.get("pcodec")
    owner = BASELINES.get(corpus.name, {})
    out = [f"### {corpus.name}: {len(corpus.sessions)} of {corpus.total_sessions} sessions "
           f"({corpus.subset}), {corpus.events:,} events; median of {repeats} passes "
           f"({slow_repeats} for JSONL/MCAP/zstd-19)", "",
           "| format | bytes/event | encode Mev/s | decode Mev/s | size / pcodec | encode × pcodec "
           "| decode × pcodec | owner baseline B/ev (enc/dec Mev/s) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.not_installed:
            out.append(f"| {r.format} | **not installed** ({r.not_installed}) | | | | | | |")
            continue
        if r.error and not r.enc_s:
            out.append(f"| {r.format} | error: {r.error} | | | | | | |")
            continue
        name = r.format + ("" if r.lossless in (True, None) else " **NOT LOSSLESS**")
        ob = owner.get(r.format, {})
        obs = ""
        if "bpe" in ob:
            obs = f"{ob['bpe']:.2f}"
        if "enc" in ob or "dec" in ob:
            obs += f" ({ob.get('enc', '–')}/{ob.get('dec', '–')})"
        if base is not None:
            rat = (f"{r.bpe / base.bpe:.2f} | {r.enc_mev / base.enc_mev:.2f} | "
                   f"{r.dec_mev / base.dec_mev:.2f}")
        else:
            rat = "– | – | –"
        bpe = f"{r.bpe:.2f}" if r.bytes else "–"
        out.append(f"| {name} | {bpe} | {r.enc_mev:.2f} | {r.dec_mev:.2f} | {rat} | {obs} |")
    return "\n".join(out)


def fleet_reads(hp, corpus: Corpus, tmpdir: str, repeats: int, pcodec_dec: Optional[float]) -> Tuple[str, Dict[str, float]]:
    """The corpus's sessions as Recorder files, read back three ways: one ``open().table()`` per
    file (the decode column above), ``hidpack.read_many`` on one thread, and ``read_many`` on every
    CPU (the process's CPU pin lifted for that run). Same fields as the table's decode."""
    fmt = HidpackRecorder(hp, tmpdir)
    fmt.setup(corpus)
    paths = [fmt.encode(fmt.prepare(s.cols), i) for i, s in enumerate(corpus.sessions)]
    n = corpus.events

    def best(f) -> float:
        times = []
        for _ in range(repeats):
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                out = f()
                times.append(time.perf_counter() - t0)
            finally:
                gc.enable()
        got = sum(len(o["t"]) for o in out) if isinstance(out, list) else len(out["t"])
        assert got == n, f"read {got} events of {n}"
        return n / statistics.median(times) / 1e6

    figs = {
        "per_file": best(lambda: [hp.open(p, threads=1).table(fields=fmt.fields) for p in paths]),
        "read_many_1": best(lambda: hp.read_many(paths, fields=fmt.fields, threads=1)),
    }
    if hasattr(os, "sched_setaffinity"):
        pinned = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
            ncpu = len(os.sched_getaffinity(0))
            figs["read_many_all"] = best(lambda: hp.read_many(paths, fields=fmt.fields, threads=ncpu))
        finally:
            os.sched_setaffinity(0, pinned)
    else:
        ncpu = os.cpu_count() or 1
        figs["read_many_all"] = best(lambda: hp.read_many(paths, fields=fmt.fields, threads=ncpu))
    labels = {"per_file": "`open(p, threads=1).table()` per file (the decode column above)",
              "read_many_1": "`hidpack.read_many(paths, threads=1)`",
              "read_many_all": f"`hidpack.read_many(paths)` on {ncpu} CPUs"}
    calls = {"per_file": f"[hp.open(p, threads=1).table(fields={fmt.fields!r}) for p in paths]",
             "read_many_1": f"hp.read_many(paths, fields={fmt.fields!r}, threads=1)",
             "read_many_all": f"hp.read_many(paths, fields={fmt.fields!r}, threads={ncpu})"}
    out = [f"Fleet read of the {len(paths)} Recorder files ({n:,} events, the bench's fields), median of {repeats};",
           "peak memory = the most the read's process grew while reading, over the bytes of the numpy columns it returned "
           f"(1.00: nothing held besides the result), each read in a fresh process (– below {PEAK_MIN_BYTES >> 20} MiB "
           "of result, or without /proc):",
           "", "| read | decode Mev/s | × pcodec decode | peak memory / result |", "|---|---:|---:|---:|"]
    for k, v in list(figs.items()):
        rat = f"{v / pcodec_dec:.2f}" if pcodec_dec else "–"
        mem = peak_memory(hp, paths, calls[k])
        if mem is not None:
            figs[f"{k}_peak_over_result"] = mem
        out.append(f"| {labels[k]} | {v:.2f} | {rat} | {'–' if mem is None else f'{mem:.2f}'} |")
    return "\n".join(out), figs


def peak_memory(hp, paths: List[str], call: str) -> Optional[float]:
    """Peak memory of ``call`` (Python source reading ``paths`` with ``hp``), in a fresh process: the
    growth of its peak RSS (``VmHWM``; Linux) during the call, over the bytes of the numpy arrays
    the call returns. (``ru_maxrss`` would not do: a child inherits its parent's.) The same call on
    the first file runs first, so one-time set-up is not counted; its result stays alive, so the
    measured call cannot reuse that memory."""
    import subprocess
    if not os.path.exists("/proc/self/status"):  # VmHWM is Linux's
        return None
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "import hidpack as hp\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "paths = json.loads(sys.stdin.read())\n"
        f"warm = {call.replace('paths', 'paths[:1]')}\n"
        "before = hwm()\n"
        f"out = {call}\n"
        "peak = hwm()\n"
        "tables = out if isinstance(out, list) else [out]\n"
        "nbytes = sum(a.nbytes for t in tables for a in t.values() if isinstance(a, np.ndarray))\n"
        "print(json.dumps([peak - before, nbytes]))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(hp.__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(paths), capture_output=True, text=True,
                         env=env)
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-6:])
        raise RuntimeError(f"the peak-memory process of {call} exited {res.returncode}:\n{tail}")
    grew, nbytes = json.loads(res.stdout.strip().splitlines()[-1])
    # a small read fits in memory the allocator already holds: its growth says nothing
    return grew / nbytes if nbytes >= PEAK_MIN_BYTES else None


# Results below this are not measured for peak memory (see peak_memory).
PEAK_MIN_BYTES = 8 << 20


# --------------------------------------------------------------------------------------------------
# User paths: what an analyst types to get a long recording or a fleet of files into numpy or pandas,
# with hidpack, with pcodec files and with Parquet files (issue 15 item 6). Each row is read in a
# fresh process (python benches/compare.py is not imported for its settings there: the child sets
# its own threads), which also gives its peak memory.
# --------------------------------------------------------------------------------------------------
USER_CORPUS = "balabit-mouse"
LONG_MIN_EVENTS = 2_000_000  # one long recording: at least this many events
FLEET_MIN_FILES = 1_000  # a fleet: at least this many files
SESSION_GAP_NS = 1_000_000_000  # between two sessions put end to end in the long recording


def concat_sessions(sessions: List[Session]) -> Dict[str, np.ndarray]:
    """The sessions end to end as one recording: each session's times shifted to start
    :data:`SESSION_GAP_NS` after the previous one's last event."""
    offsets, at = [], 0
    for s in sessions:
        offsets.append(at)
        at += int(s.cols["t"][-1]) + SESSION_GAP_NS if s.n else 0
    out = {f: np.concatenate([s.cols[f] for s in sessions]) for f in sessions[0].cols}
    out["t"] = np.concatenate([s.cols["t"] + o for s, o in zip(sessions, offsets)])
    return out


def user_path_inputs(corpus: Corpus, quick: bool) -> Tuple[List[Session], List[Session], str, str]:
    """(sessions of the long recording, sessions of the fleet, how each was chosen). Quick: the
    first sessions in file order until :data:`LONG_MIN_EVENTS`, and the last
    :data:`FLEET_MIN_FILES` sessions as the fleet; full: every session, both times."""
    sessions = corpus.all_sessions or corpus.sessions
    if len(sessions) < FLEET_MIN_FILES or sum(s.n for s in sessions) < LONG_MIN_EVENTS:
        raise ValueError(f"{corpus.name}: {len(sessions)} sessions, {sum(s.n for s in sessions):,} events: "
                         f"the user paths need {FLEET_MIN_FILES:,} sessions and {LONG_MIN_EVENTS:,} events")
    if not quick:
        return sessions, sessions, "every session, end to end", "every session"
    k = int(np.searchsorted(np.cumsum([s.n for s in sessions]), LONG_MIN_EVENTS)) + 1
    return (sessions[:k], sessions[-FLEET_MIN_FILES:], f"the first {k} sessions, end to end",
            f"the last {FLEET_MIN_FILES:,} sessions")


def write_user_files(hp, corpus: Corpus, long_cols: Dict[str, np.ndarray], fleet: List[Session],
                     root: str, with_pcodec: bool = True) -> Dict[str, Dict[str, List[str]]]:
    """The long recording and the fleet as hidpack (``hidpack.write_table``, its defaults),
    pcodec (the pcodec row's layout, one file each; not when ``with_pcodec`` is false) and Parquet
    (the "Parquet zstd" row's layout) files: ``{"long"|"fleet": {"hidpack"|"pcodec"|"parquet": paths}}``."""
    pco, parq = Pcodec() if with_pcodec else None, Parquet(False)
    if pco is not None:
        pco.setup(corpus)
    parq.setup(corpus)
    out: Dict[str, Dict[str, List[str]]] = {}
    for what, tables in (("long", [long_cols]), ("fleet", [s.cols for s in fleet])):
        d = os.path.join(root, what)
        os.makedirs(d)
        paths: Dict[str, List[str]] = {"hidpack": [], "pcodec": [], "parquet": []}
        for i, cols in enumerate(tables):
            p = os.path.join(d, f"{i:05d}")
            hp.write_table(p + ".hpk", canonical_to_hidpack(cols, corpus))
            paths["hidpack"].append(p + ".hpk")
            if pco is not None:
                Path(p + ".pco").write_bytes(pco.encode(cols, i))
                paths["pcodec"].append(p + ".pco")
            Path(p + ".parquet").write_bytes(parq.encode(cols, i).to_pybytes())
            paths["parquet"].append(p + ".parquet")
        out[what] = paths
    return out


_PCO: Dict[bool, "Pcodec"] = {}


def _pco_read(path: str, float_xy: bool) -> Dict[str, np.ndarray]:
    fmt = _PCO.get(float_xy)
    if fmt is None:
        fmt = _PCO[float_xy] = Pcodec()
        fmt.xnp = np.float64 if float_xy else np.int64
    with open(path, "rb") as f:
        return fmt.decode(f.read())


def _pco_frame_columns(c: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A pcodec table as a frame's columns, the presence mask dropped: where x/y are absent on
    some row, float64 with NaN there (what Parquet's nullable x/y become in pandas)."""
    v = c["xy_valid"]
    x, y = c["x"], c["y"]
    if not v.all():
        x, y = np.where(v, x, np.nan), np.where(v, y, np.nan)
    return {"t": c["t"], "kind": c["kind"], "x": x, "y": y, "code": c["code"]}


def _pco_concat(paths: List[str], float_xy: bool) -> Dict[str, np.ndarray]:
    parts = [_pco_read(p, float_xy) for p in paths]
    return {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}


MOVE_COLS = ["t", "x", "y", "code"]


def _arrow_numpy(tbl: Any) -> Dict[str, np.ndarray]:
    return {n: tbl.column(n).to_numpy() for n in tbl.column_names}


def _user_readers() -> Dict[str, Tuple[str, str, bool, Any]]:
    """name -> (path group, the call as a user writes it, threaded, read(paths, float_xy)).
    Path groups: ``long-numpy`` (the long recording's moves into numpy columns), ``long-pandas``
    (every event into a DataFrame), ``fleet-table`` (every file's every event into one table),
    ``fleet-pandas`` (into one DataFrame)."""
    import pyarrow.dataset as ds

    def hp():
        return import_hidpack()[0]

    ncpu = os.cpu_count() or 1  # threaded rows lift the harness's one-CPU pin (user_path_child)
    move = ds.field("kind") == K_MOVE

    def pco_moves(paths, fx):
        c = _pco_read(paths[0], fx)
        m = c["kind"] == K_MOVE
        return {k: c[k][m] for k in MOVE_COLS}

    def pco_frame(c):
        import pandas as pd
        return pd.DataFrame(_pco_frame_columns(c))

    return {
        # one long recording, moves -> numpy columns
        "long-numpy/hidpack-1": ("long-numpy", "hp.open(p, threads=1).moves()", False,
                                 lambda paths, fx: hp().open(paths[0], threads=1).moves()),
        "long-numpy/hidpack": ("long-numpy", "hp.open(p).moves()", True,
                               lambda paths, fx: hp().open(paths[0], threads=ncpu).moves()),
        "long-numpy/pcodec": ("long-numpy", "decode the 5 columns, keep kind == move", False, pco_moves),
        "long-numpy/parquet-1": ("long-numpy", "pq.read_table(p, columns=, filters=kind==move, use_threads=False)",
                                 False, lambda paths, fx: _arrow_numpy(pq.read_table(
                                     paths[0], columns=MOVE_COLS, filters=[("kind", "=", K_MOVE)], use_threads=False))),
        "long-numpy/parquet": ("long-numpy", "pq.read_table(p, columns=, filters=kind==move)", True,
                               lambda paths, fx: _arrow_numpy(pq.read_table(
                                   paths[0], columns=MOVE_COLS, filters=[("kind", "=", K_MOVE)]))),
        "long-numpy/dataset": ("long-numpy", "ds.dataset(p).to_table(columns=, filter=kind==move)", True,
                               lambda paths, fx: _arrow_numpy(ds.dataset(paths[0], format="parquet").to_table(
                                   columns=MOVE_COLS, filter=move))),
        # one long recording, every event -> pandas
        "long-pandas/hidpack-1": ("long-pandas", "hp.open(p, threads=1).to_pandas()", False,
                                  lambda paths, fx: hp().open(paths[0], threads=1).to_pandas()),
        "long-pandas/hidpack": ("long-pandas", "hp.open(p).to_pandas()", True,
                                lambda paths, fx: hp().open(paths[0], threads=ncpu).to_pandas()),
        "long-pandas/pcodec": ("long-pandas", "decode, pd.DataFrame (x/y NaN if absent)", False,
                               lambda paths, fx: pco_frame(_pco_read(paths[0], fx))),
        "long-pandas/parquet-1": ("long-pandas", "pq.read_table(p, use_threads=False).to_pandas(use_threads=False)",
                                  False, lambda paths, fx: pq.read_table(paths[0], use_threads=False).to_pandas(
                                      use_threads=False)),
        "long-pandas/parquet": ("long-pandas", "pq.read_table(p).to_pandas()", True,
                                lambda paths, fx: pq.read_table(paths[0]).to_pandas()),
        "long-pandas/dataset": ("long-pandas", "ds.dataset(p).to_table().to_pandas()", True,
                                lambda paths, fx: ds.dataset(paths[0], format="parquet").to_table().to_pandas()),
        # a fleet, every event -> one table
        "fleet-table/hidpack-1": ("fleet-table", "hp.read_many(paths, threads=1)", False,
                                  lambda paths, fx: hp().read_many(paths, threads=1)),
        "fleet-table/hidpack": ("fleet-table", "hp.read_many(paths)", True,
                                lambda paths, fx: hp().read_many(paths, threads=ncpu)),
        "fleet-table/pcodec": ("fleet-table", "decode file by file, np.concatenate", False, _pco_concat),
        "fleet-table/parquet-1": ("fleet-table", "pa.concat_tables([pq.read_table(p, use_threads=False) ...])",
                                  False, lambda paths, fx: pa.concat_tables(
                                      [pq.read_table(p, use_threads=False) for p in paths])),
        "fleet-table/parquet": ("fleet-table", "pq.read_table(paths)", True, lambda paths, fx: pq.read_table(paths)),
        "fleet-table/dataset": ("fleet-table", "ds.dataset(paths).to_table()", True,
                                lambda paths, fx: ds.dataset(paths, format="parquet").to_table()),
        # a fleet, every event -> pandas
        "fleet-pandas/hidpack-1": ("fleet-pandas", "hp.read_pandas(paths, threads=1)", False,
                                   lambda paths, fx: hp().read_pandas(paths, threads=1)),
        "fleet-pandas/hidpack": ("fleet-pandas", "hp.read_pandas(paths)", True,
                                 lambda paths, fx: hp().read_pandas(paths, threads=ncpu)),
        "fleet-pandas/pcodec": ("fleet-pandas", "decode file by file, np.concatenate, pd.DataFrame", False,
                                lambda paths, fx: pco_frame(_pco_concat(paths, fx))),
        "fleet-pandas/parquet-1": ("fleet-pandas", "pa.concat_tables([pq.read_table(p, use_threads=False) ...])"
                                   ".to_pandas(use_threads=False)", False,
                                   lambda paths, fx: pa.concat_tables(
                                       [pq.read_table(p, use_threads=False) for p in paths]).to_pandas(use_threads=False)),
        "fleet-pandas/parquet": ("fleet-pandas", "pq.read_table(paths).to_pandas()", True,
                                 lambda paths, fx: pq.read_table(paths).to_pandas()),
        "fleet-pandas/dataset": ("fleet-pandas", "ds.dataset(paths).to_table().to_pandas()", True,
                                 lambda paths, fx: ds.dataset(paths, format="parquet").to_table().to_pandas()),
    }


def result_size(out: Any) -> Tuple[int, int, int, int]:
    """(rows, bytes, first t, last t) of a read's result: a DataFrame (its columns' memory, index
    included), an Arrow table (its buffers' bytes) or a mapping of numpy columns (masks included)."""
    if hasattr(out, "memory_usage") and hasattr(out, "iloc"):  # pandas
        t = out["t"].to_numpy()
        return len(out), int(out.memory_usage(index=True, deep=True).sum()), int(t[0]), int(t[-1])
    if isinstance(out, pa.Table):
        t = out.column("t")
        return out.num_rows, int(out.nbytes), int(t[0].as_py()), int(t[-1].as_py())
    nbytes = 0
    for k in out.keys():
        a = out[k]
        if isinstance(a, np.ma.MaskedArray):
            nbytes += a.data.nbytes + (0 if a.mask is np.ma.nomask else np.asarray(a.mask).nbytes)
        elif isinstance(a, np.ndarray):
            nbytes += a.nbytes
    t = np.asarray(out["t"])
    return len(t), nbytes, int(t[0]), int(t[-1])


def _vm_hwm() -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cpu_busy_s() -> Optional[float]:
    """Seconds of CPU the whole machine spent busy (every CPU: user, nice, system, irq, softirq and
    steal, from ``/proc/stat``), or None where there is no such file."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def user_path_child() -> int:
    """One user-path row in this (fresh) process: spec on stdin (``reader``, ``paths``, ``warm``
    paths, ``repeats``, ``float_xy``), figures as one JSON line on stdout. The read runs first on
    the small ``warm`` input (imports and one-time set-up; its result is kept, so the measured read
    cannot reuse its memory), then once measured for peak memory (growth of ``VmHWM``), then
    ``repeats`` timed passes."""
    spec = json.loads(sys.stdin.read())
    group, call, threaded, read = _user_readers()[spec["reader"]]
    if threaded and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))  # lift the harness's pin for this row
    paths, fx = spec["paths"], spec["float_xy"]
    warm = read(spec["warm"], fx)  # noqa: F841 (kept alive on purpose)
    before = _vm_hwm()
    t0 = time.perf_counter()
    out = read(paths, fx)
    first = time.perf_counter() - t0
    peak = _vm_hwm()
    rows, nbytes, t_first, t_last = result_size(out)
    del out
    times: List[float] = []
    cpu: List[float] = []  # CPU time of the process (every thread) per pass
    busy0, own0, wall0 = _cpu_busy_s(), sum(os.times()[:2]), time.perf_counter()
    for _ in range(spec["repeats"]):
        gc.collect()
        gc.disable()
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            out = read(paths, fx)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        finally:
            gc.enable()
        del out
    busy1, own1, wall1 = _cpu_busy_s(), sum(os.times()[:2]), time.perf_counter()
    # CPUs busy with anything but this read over the timed passes (other processes, the
    # hypervisor's steal): a threaded row that needs both CPUs is slow when this is high
    elsewhere = (None if busy0 is None or busy1 is None
                 else max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9))
    print(json.dumps({"rows": rows, "result_bytes": nbytes, "t_first": t_first, "t_last": t_last,
                      "peak_growth": None if before is None or peak is None else peak - before,
                      "first_s": first, "times": times, "cpu_times": cpu, "elsewhere_cpus": elsewhere}))
    return 0


def run_user_path_row(name: str, paths: List[str], warm: List[str], repeats: int, float_xy: bool) -> Dict[str, Any]:
    """:func:`user_path_child` for one row in a fresh Python process; raises with the child's
    error output when it fails."""
    import subprocess
    hp = import_hidpack()[0]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(hp.__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")]))
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            "import compare; sys.exit(compare.user_path_child())")
    spec = {"reader": name, "paths": paths, "warm": warm, "repeats": repeats, "float_xy": float_xy}
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(spec), capture_output=True, text=True,
                         env=env)
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-6:])
        raise RuntimeError(f"the read's process exited {res.returncode}:\n{tail}")
    return json.loads(res.stdout.strip().splitlines()[-1])


USER_GROUPS = {
    "long-numpy": "one long recording, moves into numpy columns",
    "long-pandas": "one long recording, every event into pandas",
    "fleet-table": "a fleet, every event into one table",
    "fleet-pandas": "a fleet, every event into pandas",
}


def user_paths(hp, corpus: Corpus, quick: bool, tmpdir: str, repeats: int, failed: List[str],
               missing: Dict[str, str], only: Optional[List[str]] = None, rounds: int = 1) -> Tuple[str, Dict[str, Any]]:
    """The user-path rows (see :func:`_user_readers`) on ``corpus``: the table as text and the
    figures. Each row runs ``rounds`` times, each time in a fresh process with ``repeats`` timed
    passes; its Mev/s is the median over all of them. Each row's result is checked (rows, first and
    last ``t``) against the input; a row that fails is appended to ``failed`` and not run again.
    ``only``: rows whose name contains one of these."""
    long_s, fleet_s, long_how, fleet_how = user_path_inputs(corpus, quick)
    long_cols = concat_sessions(long_s)
    n_long = len(long_cols["t"])
    n_moves = int(np.count_nonzero(long_cols["kind"] == K_MOVE))
    n_fleet = sum(s.n for s in fleet_s)
    t0 = time.perf_counter()
    root = os.path.join(tmpdir, "user-paths")
    files = write_user_files(hp, corpus, long_cols, fleet_s, root, with_pcodec="pcodec" not in missing)
    print(f"  user paths: files written ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    expect = {
        "long-numpy": (n_moves, int(long_cols["t"][long_cols["kind"] == K_MOVE][0]),
                       int(long_cols["t"][long_cols["kind"] == K_MOVE][-1])),
        "long-pandas": (n_long, int(long_cols["t"][0]), int(long_cols["t"][-1])),
        "fleet-table": (n_fleet, int(fleet_s[0].cols["t"][0]), int(fleet_s[-1].cols["t"][-1])),
    }
    expect["fleet-pandas"] = expect["fleet-table"]
    events = {"long-numpy": n_long, "long-pandas": n_long, "fleet-table": n_fleet, "fleet-pandas": n_fleet}
    sizes = {what: {fmt: sum(os.path.getsize(p) for p in ps) for fmt, ps in d.items()} for what, d in files.items()}
    figs: Dict[str, Any] = {"long": {"sessions": len(long_s), "events": n_long, "moves": n_moves, "how": long_how,
                                     "bytes": sizes["long"]},
                            "fleet": {"files": len(fleet_s), "events": n_fleet, "how": fleet_how,
                                      "bytes": sizes["fleet"]},
                            "rows": {}}
    readers = _user_readers()
    todo: Dict[str, Tuple[str, List[str], List[str]]] = {}  # name -> (group, paths, warm paths)
    for name, (group, call, threaded, _read) in readers.items():
        if only and not any(s.lower() in name.lower() for s in only):
            continue
        fmt = name.split("/")[1].split("-")[0]
        if fmt == "pcodec" and "pcodec" in missing:
            figs["rows"][name] = {"not_installed": missing["pcodec"]}
            continue
        what = "long" if group.startswith("long") else "fleet"
        key = "hidpack" if fmt == "hidpack" else "pcodec" if fmt == "pcodec" else "parquet"
        todo[name] = (group, files[what][key], [files["fleet"][key][0]])
    # Rounds: every row runs once per round, each time in a fresh process, the rows of a group one
    # after the other. A row thus samples `rounds` separate windows of a few seconds, and the rows it
    # is compared with sample windows next to its own: on shared hardware the CPUs run 10-30 % slower
    # for seconds at a time (every function, not one), which moved a one-window ratio by 30 %.
    per_round: Dict[str, List[Dict[str, Any]]] = {n: [] for n in todo}
    for rnd in range(rounds):
        for name, (group, paths, warm) in todo.items():
            if "error" in figs["rows"].get(name, {}):
                continue
            t1 = time.perf_counter()
            try:
                r = run_user_path_row(name, paths, warm, repeats, corpus.float_xy)
                got = (r["rows"], r["t_first"], r["t_last"])
                if got != expect[group]:
                    raise AssertionError(f"read (rows, first t, last t) = {got}, the input has {expect[group]}")
                per_round[name].append(r)
            except Exception as e:  # noqa: BLE001
                figs["rows"][name] = {"error": f"{type(e).__name__}: {e}"}
                failed.append(f"user path {name}: {type(e).__name__}: {e}")
            print(f"  user path {name} (round {rnd + 1} of {rounds}): {time.perf_counter() - t1:.1f} s"
                  + (f"  [{figs['rows'][name]['error']}]" if "error" in figs["rows"].get(name, {}) else ""),
                  file=sys.stderr)
    for name, rs in per_round.items():
        if "error" in figs["rows"].get(name, {}) or not rs:
            continue
        group = todo[name][0]
        times = [t for r in rs for t in r["times"]]
        busy = [r["elsewhere_cpus"] for r in rs if r.get("elsewhere_cpus") is not None]
        peaks = [r["peak_growth"] for r in rs if r.get("peak_growth") is not None]
        figs["rows"][name] = {
            "rows": rs[0]["rows"], "result_bytes": rs[0]["result_bytes"], "t_first": rs[0]["t_first"],
            "t_last": rs[0]["t_last"], "peak_growth": max(peaks) if peaks else None,
            "first_s": [r["first_s"] for r in rs], "times": times,
            "cpu_times": [c for r in rs for c in r.get("cpu_times", [])],
            "elsewhere_cpus": max(busy) if busy else None,
            "round_mev_s": [events[group] / statistics.median(r["times"]) / 1e6 for r in rs],
            "mev_s": events[group] / statistics.median(times) / 1e6}
    return fmt_user_paths(figs, readers, repeats, rounds), figs


def fmt_user_paths(figs: Dict[str, Any], readers: Dict[str, Tuple[str, str, bool, Any]], repeats: int,
                   rounds: int = 1) -> str:
    lg, fl = figs["long"], figs["fleet"]
    ncpu = os.cpu_count() or 1
    out = [f"### User paths: one long recording ({lg['events']:,} events, {lg['moves']:,} moves: {lg['how']}) "
           f"and a fleet of {fl['files']:,} files ({fl['events']:,} events: {fl['how']})", "",
           "Files on tmpfs: hidpack as `hidpack.write_table` writes them (defaults), pcodec and Parquet as their "
           "rows above (Parquet zstd, default row groups). Bytes, long / fleet: "
           + ", ".join(f"{k} {lg['bytes'][k] / lg['events']:.2f} / {fl['bytes'][k] / fl['events']:.2f} B/event"
                       for k in ("hidpack", "pcodec", "parquet") if lg["bytes"][k]) + ".",
           f"Each row in a fresh process: the call once on one small file (set-up), once measured for peak "
           f"memory (growth of the process's peak RSS, over the bytes of what it returned: numpy columns, the "
           f"Arrow table's buffers or the frame's memory_usage), then {'one timed pass' if repeats == 1 else f'{repeats} timed passes'}"
           + (f"; {rounds} rounds, every row once a round (each round a fresh process, the rows of a table one "
              f"after the other), Mev/s the median of all {rounds * repeats} passes, and 'rounds' the slowest and "
              f"fastest round's median" if rounds > 1 else (" (their median)" if repeats > 1 else "")) + ". Mev/s "
           f"counts the events stored (moves rows too). 1 thread: pinned to one CPU; threads: {ncpu} CPUs. "
           f"Busy elsewhere: CPUs kept busy by anything else (other processes, the hypervisor's steal) during "
           f"the timed passes, from /proc/stat; a threaded row needs it near 0. CPU ms: the process's CPU time "
           f"(all its threads) per pass, median: a threaded row whose CPU ms rises above its one-thread row's "
           f"ran on slower CPUs (two vCPUs sharing a core or memory with others show no steal).", ""]
    for group, title in USER_GROUPS.items():
        rows = {n: figs["rows"][n] for n, r in readers.items() if r[0] == group and n in figs["rows"]}
        if not rows:
            continue
        base = rows.get(f"{group}/pcodec", {}).get("mev_s")
        pq1 = rows.get(f"{group}/parquet-1", {}).get("mev_s")
        out += [f"**{title}**", "",
                "| reader | threads | Mev/s | rounds | × pcodec | × Parquet 1 thread | peak MiB | peak / result | busy elsewhere | CPU ms |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for n, r in rows.items():
            call, threaded = readers[n][1], readers[n][2]
            th = str(ncpu) if threaded else "1"
            if "not_installed" in r:
                out.append(f"| `{call}` | {th} | **not installed** ({r['not_installed']}) | | | | | | | |")
                continue
            if "error" in r:
                out.append(f"| `{call}` | {th} | error: {r['error'].splitlines()[0]} | | | | | | | |")
                continue
            v, peak = r["mev_s"], r["peak_growth"]
            xb = f"{v / base:.2f}" if base else "–"
            xq = f"{v / pq1:.2f}" if pq1 else "–"
            mib = "–" if peak is None else f"{peak / 2**20:.0f}"
            rel = "–" if peak is None else f"{peak / r['result_bytes']:.2f}"
            busy = "–" if r.get("elsewhere_cpus") is None else f"{r['elsewhere_cpus']:.2f}"
            cms = f"{statistics.median(r['cpu_times']) * 1e3:.1f}" if r.get("cpu_times") else "–"
            rr = r.get("round_mev_s") or []
            rng = f"{min(rr):.1f}–{max(rr):.1f}" if len(rr) > 1 else "–"
            out.append(f"| `{call}` | {th} | {v:.2f} | {rng} | {xb} | {xq} | {mib} | {rel} | {busy} | {cms} |")
        out.append("")
    out += ["Issue 15's targets, this run (hidpack × the baseline; target in brackets):", ""] + [
        f"- {label}: {_ratio_text(figs, a, b)} [{target}]" for label, a, b, target in USER_TARGETS]
    for label, name in (("long", "long-pandas/hidpack"), ("fleet", "fleet-pandas/hidpack")):
        r = figs["rows"].get(name, {})
        if r.get("peak_growth") is not None:
            out.append(f"- into pandas, {label}: peak memory / the frame's bytes {r['peak_growth'] / r['result_bytes']:.2f}"
                       " [<= 1.3]")
    return "\n".join(out).rstrip()


# (what, hidpack row, baseline row, target) for the targets list under the user-path tables
USER_TARGETS = [
    ("long recording, moves into numpy, 1 thread: × pcodec", "long-numpy/hidpack-1", "long-numpy/pcodec",
     ">= 1.0, stretch 1.5"),
    ("long recording, moves into numpy, 1 thread: × Parquet", "long-numpy/hidpack-1", "long-numpy/parquet-1", ">= 2"),
    ("fleet into one table, 1 thread: × pcodec file by file", "fleet-table/hidpack-1", "fleet-table/pcodec",
     ">= 1.0"),
    ("fleet into one table, threads: × pyarrow.dataset", "fleet-table/hidpack", "fleet-table/dataset", ">= 3"),
    ("long recording into pandas, threads: × pq.read_table().to_pandas()", "long-pandas/hidpack",
     "long-pandas/parquet", ">= 2"),
    ("fleet into pandas, threads: × pq.read_table(paths).to_pandas()", "fleet-pandas/hidpack",
     "fleet-pandas/parquet", ">= 2"),
]


def _ratio_text(figs: Dict[str, Any], a: str, b: str) -> str:
    """The ratio of two rows' Mev/s, and with rounds the range of the rounds' own ratios (round i of
    one row against round i of the other: windows a few seconds apart)."""
    ra, rb = figs["rows"].get(a, {}), figs["rows"].get(b, {})
    if "mev_s" not in ra or "mev_s" not in rb:
        return "not measured"
    per = [x / y for x, y in zip(ra.get("round_mev_s") or [], rb.get("round_mev_s") or [])]
    rounds = f" (rounds {min(per):.2f}–{max(per):.2f})" if len(per) > 1 else ""
    return f"{ra['mev_s'] / rb['mev_s']:.2f}{rounds}"


def run_corpus(corpus: Corpus, fmts: List[Format], missing: Dict[str, str], repeats: int, slow_repeats: int,
               tmpdir: str, failed: List[str]) -> Dict[str, Any]:
    """Measure every format on one corpus, print its table (and hidpack's fleet-read table) and
    return its figures for the JSON output. Every measurement that fails is appended to
    ``failed`` ("corpus / format: why"): the run then exits 1."""
    rows = [Row(name, "", corpus.events, not_installed=why) for name, why in missing.items()]
    for fmt in fmts:
        t0 = time.perf_counter()
        rep = slow_repeats if fmt.slow else repeats
        try:
            row = measure(fmt, corpus, rep)
        except Exception as e:  # noqa: BLE001
            row = Row(fmt.name, fmt.note, corpus.events, error=f"{type(e).__name__}: {e}")
        if row.error:
            failed.append(f"{corpus.name} / {row.format}: {row.error}")
        rows.append(row)
        print(f"  {corpus.name} / {fmt.name}: {time.perf_counter() - t0:.1f} s"
              + (f"  [{row.error}]" if row.error else ""), file=sys.stderr)
    order = {name: i for i, (name, _) in enumerate(PEERS)}
    rows.sort(key=lambda r: order.get(r.format, len(order)))  # stable: hidpack rows last, in their order
    print()
    print(fmt_table(corpus, rows, repeats, slow_repeats))
    base = {r.format: r for r in rows if r.bytes and r.enc_s}.get("pcodec")
    fleet = None
    recorder = [f for f in fmts if isinstance(f, HidpackRecorder)]
    if recorder:
        try:
            text, fleet = fleet_reads(recorder[0].hp, corpus, tmpdir, repeats, base.dec_mev if base else None)
            print()
            print(text)
        except Exception as e:  # noqa: BLE001
            failed.append(f"{corpus.name} / fleet read: {type(e).__name__}: {e}")
    return {
        "sessions": len(corpus.sessions), "total_sessions": corpus.total_sessions,
        "events": corpus.events, "total_events": corpus.total_events, "subset": corpus.subset,
        "rows": [{
            "format": r.format, "note": r.note, "bytes": r.bytes,
            "bytes_per_event": r.bpe if r.bytes else None,
            "encode_mev_s": r.enc_mev if r.enc_s else None,
            "decode_mev_s": r.dec_mev if r.dec_s else None,
            "encode_s": r.enc_s, "decode_s": r.dec_s, "lossless": r.lossless, "error": r.error,
            "not_installed": r.not_installed,
            "size_vs_pcodec": r.bpe / base.bpe if base and r.bytes else None,
            "encode_vs_pcodec": r.enc_mev / base.enc_mev if base and r.enc_s else None,
            "decode_vs_pcodec": r.dec_mev / base.dec_mev if base and r.dec_s else None,
            "owner_baseline": BASELINES.get(corpus.name, {}).get(r.format),
        } for r in rows],
        "fleet_read_mev_s": fleet,
    }


def pin_one_cpu() -> Optional[int]:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        cpu = cpus[-1]
        os.sched_setaffinity(0, {cpu})
        return cpu
    except (AttributeError, OSError):
        return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="CI subset: every 12th balabit session, every 6th aalto session, ducktrack whole")
    ap.add_argument("--repeats", type=int, default=None, help="passes per format (default 5, quick 3)")
    ap.add_argument("--slow-repeats", type=int, default=None,
                    help="passes for the slow formats: JSONL, MCAP, zstd-19 (default 3, quick 1)")
    ap.add_argument("--json", metavar="OUT", help="write every figure as JSON")
    ap.add_argument("--corpus", action="append", help="only this corpus (repeatable)")
    ap.add_argument("--format", action="append", help="only formats whose name contains this (repeatable)")
    ap.add_argument("--no-hidpack", action="store_true", help="skip the hidpack rows")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    ap.add_argument("--no-user-paths", action="store_true",
                    help="skip the user-path rows (a long recording and a fleet into numpy and pandas)")
    ap.add_argument("--only-user-paths", action="store_true",
                    help="only the user-path rows (loads only their corpus, balabit-mouse)")
    ap.add_argument("--user-path-repeats", type=int, default=None, metavar="N",
                    help="timed passes per user-path row and round, after the one measured for memory (default 3; "
                         "the median of all rounds' passes is reported: one pass moved a ratio by 10-20 %% between runs)")
    ap.add_argument("--user-path-rounds", type=int, default=None, metavar="R",
                    help="rounds of the user-path rows (default 4): each round runs every row once in a fresh "
                         "process, so a row samples R windows of time; a few seconds of slower CPUs moved a "
                         "one-window ratio by 30 %%")
    ap.add_argument("--user-path", action="append", metavar="NAME",
                    help="only user-path rows whose name (e.g. long-numpy/pcodec) contains this (repeatable)")
    args = ap.parse_args(argv)
    if args.only_user_paths and (args.no_user_paths or args.no_hidpack):
        ap.error("--only-user-paths measures hidpack's user paths: not with --no-user-paths or --no-hidpack")
    for opt in ("repeats", "slow_repeats", "user_path_repeats", "user_path_rounds"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            ap.error(f"--{opt.replace('_', '-')} must be at least 1, got {getattr(args, opt)}")
    repeats = args.repeats or (3 if args.quick else 5)
    slow_repeats = args.slow_repeats or (1 if args.quick else 3)
    cpu = None if args.no_pin else pin_one_cpu()
    t_start = time.perf_counter()

    if not DATA.is_dir():
        print(f"corpus directory not found: {DATA} (set HIDPACK_DATA)", file=sys.stderr)
        return 2
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    tmp = tempfile.TemporaryDirectory(prefix="hidpack-bench-", dir=shm)
    fmts, hp_err, missing = build_formats(not args.no_hidpack, tmp.name)
    if hp_err:
        # hidpack is what this harness measures: no table without it, unless asked (--no-hidpack)
        tmp.cleanup()
        print(f"error: hidpack cannot be measured: {hp_err}\n"
              "  Build and install the native module (pip install -e .), or pass --no-hidpack to "
              "measure only the other formats.", file=sys.stderr)
        return 2
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    if args.format:
        fmts = [f for f in fmts if any(s.lower() in f.name.lower() for s in args.format)]
        missing = {k: v for k, v in missing.items() if any(s.lower() in k.lower() for s in args.format)}
    for name, why in missing.items():
        print(f"NOT INSTALLED: {name} ({why}): its rows say so; install it to compare against it",
              file=sys.stderr)
    if args.no_hidpack:
        print("hidpack: not measured (--no-hidpack)")
    else:
        print(f"hidpack: {getattr(_HIDPACK, '__version__', '?')} from {os.path.dirname(_HIDPACK.__file__)}")
    corpora = load_corpora(args.quick, [USER_CORPUS] if args.only_user_paths else args.corpus)

    result: Dict[str, Any] = {
        "mode": "quick" if args.quick else "full", "repeats": repeats, "slow_repeats": slow_repeats,
        "data": str(DATA), "pinned_cpu": cpu, "python": sys.version.split()[0],
        "platform": platform.platform(), "machine": platform.machine(),
        "versions": {"numpy": np.__version__, "pyarrow": pa.__version__,
                     "zstandard": zstandard.__version__},
        "hidpack": None if args.no_hidpack else "measured", "not_installed": missing, "corpora": {},
    }
    for mod in ("pcodec", "mcap", "pandas"):
        try:
            result["versions"][mod] = getattr(importlib.import_module(mod), "__version__", "?")
        except ImportError:
            result["versions"][mod] = None  # not installed (its rows say so)
    failed: List[str] = []
    for corpus in [] if args.only_user_paths else corpora:
        result["corpora"][corpus.name] = run_corpus(corpus, fmts, missing, repeats, slow_repeats, tmp.name, failed)
    if args.no_user_paths or args.no_hidpack:
        print(f"\n_user paths: not measured ({'--no-user-paths' if args.no_user_paths else '--no-hidpack'})_")
    elif not any(c.name == USER_CORPUS for c in corpora):
        msg = f"user paths: not measured: they read {USER_CORPUS}, which --corpus left out"
        print(f"\n_{msg}_")
        print(msg, file=sys.stderr)
    else:
        try:
            text, result["user_paths"] = user_paths(
                _HIDPACK, next(c for c in corpora if c.name == USER_CORPUS), args.quick, tmp.name,
                args.user_path_repeats or 3, failed, missing, args.user_path, args.user_path_rounds or 4)
            print()
            print(text)
        except Exception as e:  # noqa: BLE001
            failed.append(f"user paths: {type(e).__name__}: {e}")
    tmp.cleanup()
    elapsed = time.perf_counter() - t_start
    result["elapsed_s"] = elapsed
    print(f"\n_total run time {elapsed:.0f} s; pinned to CPU {cpu}_")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if failed:
        print("\nFAILURES:\n" + "\n".join(failed))
        print(f"error: {len(failed)} measurement(s) failed (listed under FAILURES)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
