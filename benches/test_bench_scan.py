"""pytest-benchmark: a windowed lazy scan, ``hidpack.scan_polars`` vs ``pl.scan_parquet``, on the
same real data with the same query.

Run:  pytest benches/test_bench_scan.py --benchmark-only --benchmark-columns=min,median,rounds
(Not part of the normal test run: pyproject's testpaths = ["tests"].)

Data: the first 1,000,000 rows of the balabit-mouse corpus (from ``$HIDPACK_DATA``), as
``hidpack import`` writes them (one file per session) and, for the long case, those sessions end to
end in one file; the Parquet files hold the same rows (``FleetTable.to_arrow()``, the columns the
scan gives, written by pyarrow with its defaults). Queries (the same text for both readers):

- ``window``: moves with ``t`` in a tenth of the time range (half way through), ``t, x, y``;
- ``kind``: every button event, ``t, button, pressed``.

Every benchmark checks that both readers return the same rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import hidpack  # noqa: E402
from hidpack import io_csv  # noqa: E402

ROWS = 1_000_000
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import os

    import zstandard

    src = Path(os.environ.get("HIDPACK_DATA", str(DATA))) / "balabit-mouse" / "events.csv.zst"
    if not src.is_file():
        pytest.skip(f"corpus not found: {src} (set HIDPACK_DATA)")
    d = tmp_path_factory.mktemp("scan")
    with open(src, "rb") as f:
        head = zstandard.ZstdDecompressor().stream_reader(f).read(ROWS * 64)
    (d / "head.csv").write_bytes(b"\n".join(head.split(b"\n")[: ROWS + 1]) + b"\n")
    io_csv.import_csv(d / "head.csv", d / "fleet")
    fleet = sorted(str(p) for p in (d / "fleet").glob("*.hpk"))
    (d / "pq").mkdir()
    for p in fleet:
        pq.write_table(hidpack.read_many([p]).to_arrow(), d / "pq" / (Path(p).stem + ".parquet"))
    # the sessions end to end: one long recording
    table = hidpack.read_many(fleet).to_arrow()
    t = table.column("t").to_numpy().copy()
    starts = np.r_[0, np.flatnonzero(np.diff(table.column("file").to_numpy())) + 1, len(t)]
    for a, b in zip(starts[1:-1], starts[2:]):  # each session 1 ms after the one before ends
        t[a:b] += t[a - 1] - t[a] + 1_000_000
    long = table.set_column(0, "t", pa.array(t)).drop_columns(["file"])
    hidpack.write_table(d / "long.hpk", long)
    pq.write_table(hidpack.read_many([str(d / "long.hpk")]).to_arrow(), d / "long.parquet")
    return {"fleet": (fleet, str(d / "pq" / "*.parquet")), "long": ([str(d / "long.hpk")], str(d / "long.parquet"))}


def query(lf, which: str, t_lo: int, t_hi: int):
    if which == "window":
        return lf.filter(pl.col("t").is_between(t_lo, t_hi, closed="left"), pl.col("kind") == "move").select("t", "x", "y")
    return lf.filter(pl.col("kind") == "button").select("t", "button", "pressed")


@pytest.mark.parametrize("shape", ["long", "fleet"])
@pytest.mark.parametrize("which", ["window", "kind"])
@pytest.mark.parametrize("reader", ["hidpack", "parquet"])
def test_scan(benchmark, data, shape, which, reader):
    paths, pattern = data[shape]
    t = pl.scan_parquet(pattern).select(pl.col("t").min().alias("lo"), pl.col("t").max().alias("hi")).collect()
    lo, hi = int(t["lo"][0]), int(t["hi"][0])
    t_lo = lo + (hi - lo) // 2
    t_hi = t_lo + (hi - lo) // 10
    scan = (lambda: hidpack.scan_polars(paths)) if reader == "hidpack" else (lambda: pl.scan_parquet(pattern))
    got = benchmark(lambda: query(scan(), which, t_lo, t_hi).collect())
    want = query(pl.scan_parquet(pattern), which, t_lo, t_hi).collect()
    assert got.height == want.height > 0
    assert got.sort("t").equals(want.sort("t"))
    benchmark.extra_info["rows"] = got.height
