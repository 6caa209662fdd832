"""pytest-benchmark: hidpack.tokens encode and decode through the Python API, on one balabit
session (30,287 events) and the ducktrack example (13,401), lossless and at 1 ms / 1 px.
The core's own figures (no Python, 262,144 events) are `cargo bench -p hidpack-core --bench tokens`;
tokens per event against text encodings: `python benches/tokens_compare.py`.

    python -m pytest -q benches/test_bench_tokens.py --benchmark-only
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shared_data import data_file  # noqa: E402

from hidpack import io_csv, io_ducktrack, tokens  # noqa: E402
from hidpack._table import to_native_table  # noqa: E402


@pytest.fixture(scope="module")
def tables():
    import io

    import zstandard

    with open(data_file("balabit-mouse", "events.csv.zst"), "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read(30_288 * 60)
    head = b"\n".join(text.split(b"\n")[:30_288]) + b"\n"
    balabit = io_csv.read_csv_sessions(io.BytesIO(head))[0].table
    duck = io_ducktrack.read_ducktrack(data_file("ducktrack-example", "events.jsonl"))[0]
    return {"balabit": to_native_table(balabit), "ducktrack": to_native_table(duck)}


MODES = {"lossless": {"lossless": True}, "1ms_1px": {}}


@pytest.mark.parametrize("corpus", ["balabit", "ducktrack"])
@pytest.mark.parametrize("mode", list(MODES))
def test_encode(benchmark, tables, corpus, mode):
    enc = benchmark(tokens.encode, tables[corpus], **MODES[mode])
    benchmark.extra_info["tokens"] = len(enc)
    benchmark.extra_info["tokens_per_event"] = round(len(enc) / len(tables[corpus]["t"]), 3)
    assert len(tokens.decode(enc.tokens)["t"]) == len(tables[corpus]["t"])


@pytest.mark.parametrize("corpus", ["balabit", "ducktrack"])
@pytest.mark.parametrize("mode", list(MODES))
def test_decode(benchmark, tables, corpus, mode):
    enc = tokens.encode(tables[corpus], **MODES[mode])
    out = benchmark(tokens.decode, enc.tokens)
    benchmark.extra_info["tokens"] = len(enc)
    assert len(out["t"]) == len(tables[corpus]["t"])
