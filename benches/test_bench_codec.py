"""pytest-benchmark micro-benchmarks: encode/decode of one balabit chunk, hidpack vs pcodec vs packed+zstd.

Run:  pytest benches/ --benchmark-only
(Not part of the normal test run: pyproject's testpaths = ["tests"].)

The chunk is the first 65,536 events of the first balabit-mouse session (from ``$HIDPACK_DATA``,
default ``<repo>/../shared/data``); skipped when the corpus is not there. Formats and adapters are
those of ``benches/compare.py``; every benchmark checks its output is lossless.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("hidpack_bench_compare", _HERE / "compare.py")
assert _spec is not None and _spec.loader is not None
C = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = C
_spec.loader.exec_module(C)

CHUNK = 65536


@pytest.fixture(scope="module")
def corpus():
    path = C.DATA / "balabit-mouse" / "events.csv.zst"
    if not path.is_file():
        pytest.skip(f"corpus not found: {path} (set HIDPACK_DATA)")
    # the first CHUNK rows of the first session, without parsing the whole 230 MB file
    import zstandard

    with open(path, "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read(8 << 20)
    lines = raw.split(b"\n")
    head, rows = lines[0], lines[1:-1]
    session = rows[0].rsplit(b",", 1)[1]
    rows = [r for r in rows[:CHUNK] if r.rsplit(b",", 1)[1] == session]
    c = C.load_csv_corpus("balabit-mouse", "native", C.parse_event_csv(b"\n".join([head] + rows)))
    assert c.sessions[0].n == len(rows)
    return c


def _formats(tmp_path):
    fmts = {"pcodec": C.Pcodec(), "packed21+zstd-3": C.PackedZstd(3)}
    hp, err = C.import_hidpack()
    if hp is not None:
        fmts["hidpack-1s"] = C.Hidpack(hp, "1 s blocks", 65536, 1_000_000_000, str(tmp_path))
        fmts["hidpack-64k"] = C.Hidpack(hp, "65536-event blocks", 65536, None, str(tmp_path))
    return fmts, err


FORMATS = ["hidpack-1s", "hidpack-64k", "pcodec", "packed21+zstd-3"]


def _get(name, tmp_path, corpus):
    fmts, err = _formats(tmp_path)
    if name not in fmts:
        pytest.skip(f"hidpack not importable: {err}")
    f = fmts[name]
    f.setup(corpus)
    return f


@pytest.mark.parametrize("name", FORMATS)
def test_encode(benchmark, name, tmp_path, corpus):
    f = _get(name, tmp_path, corpus)
    cols = corpus.sessions[0].cols
    inp = f.prepare(cols)
    blob = benchmark(f.encode, inp, 0)
    benchmark.extra_info["events"] = len(cols["t"])
    benchmark.extra_info["bytes_per_event"] = f.size(blob) / len(cols["t"])
    assert C._equal(cols, f.to_canonical(f.decode(blob))) is None


@pytest.mark.parametrize("name", FORMATS)
def test_decode(benchmark, name, tmp_path, corpus):
    f = _get(name, tmp_path, corpus)
    cols = corpus.sessions[0].cols
    blob = f.encode(f.prepare(cols), 0)
    out = benchmark(f.decode, blob)
    benchmark.extra_info["events"] = len(cols["t"])
    benchmark.extra_info["bytes_per_event"] = f.size(blob) / len(cols["t"])
    assert C._equal(cols, f.to_canonical(out)) is None
    assert np.asarray(out["t"]).shape == cols["t"].shape
