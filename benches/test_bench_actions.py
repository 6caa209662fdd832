"""pytest-benchmark: fixed-rate actions (``Recording.actions``, binned in the Rust core) against
what a user writes by hand today: pandas, binning a read table by ``t // period`` and taking the
per-bin last position, move count and scroll sums with ``groupby``.

Run:  pytest benches/test_bench_actions.py --benchmark-only
(quick: add ``--benchmark-min-rounds=3 --benchmark-max-time=0.5``)

Data: the first 400,000 rows of the balabit corpus (real RDP mouse sessions, ../shared/data)
as one recording (the sessions one after another: 60 hours, 4.3 M bins at 20 fps, most of
them empty, so this measures the per-bin cost as much as the per-event one). Both sides read the file inside the timed call. The hand-written
baseline does less (no exact steps from a known start, no held buttons, no ragged key and
button events with offsets, no text); it is a floor for what users would otherwise pay.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import hidpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shared_data import balabit_sessions  # noqa: E402

pytest.importorskip("pytest_benchmark")

PERIOD = 50_000_000  # 20 fps


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("actions")
    paths = balabit_sessions(tmp, 400_000)
    path = tmp / "long.hpk"
    shift = 0
    with hidpack.Writer(path) as w:  # one long recording: the sessions one after another
        for p in paths:
            tab = hidpack.open(p).table()
            tab["t"] = tab["t"] - tab["t"].min() + shift
            shift = int(tab["t"].max()) + 1_000_000_000
            w.write(tab)
    return str(path)


def test_actions_hidpack(benchmark, recording):
    rec = hidpack.open(recording)
    acts = benchmark(lambda: rec.actions(fps=20))
    events = len(rec)
    benchmark.extra_info["events"] = events
    benchmark.extra_info["bins"] = len(acts)
    assert len(acts) > 0 and int(acts.moves.sum()) == rec.info()["counts"]["move"]


def test_actions_hidpack_lossless(benchmark, recording):
    rec = hidpack.open(recording)
    acts = benchmark(lambda: rec.actions(fps=20, lossless=True))
    assert len(acts.events) == len(rec)


def test_actions_pandas_by_hand(benchmark, recording):
    pd = pytest.importorskip("pandas")
    rec = hidpack.open(recording)

    def by_hand():
        df = rec.to_pandas()
        t0 = int(df["t"].min())
        df["bin"] = (df["t"] - t0) // PERIOD
        moves = df[df["kind"] == "move"]
        g = moves.groupby("bin")
        out = pd.DataFrame({"x": g["x"].last(), "y": g["y"].last(), "moves": g.size()})
        out = out.reindex(range(int(df["bin"].max()) + 1)).ffill()
        scrolls = df[df["kind"] == "scroll"].groupby("bin")["dy"].sum()
        out["scroll_dy"] = scrolls.reindex(out.index, fill_value=0)
        return out

    out = benchmark(by_hand)
    assert len(out) > 0
