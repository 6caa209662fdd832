"""The BINNED integer encoding (docs/FORMAT.md §5.5) seen from Python: files written with and without
it read back to the same table; the header's required-feature bit says which is which; BINNED is
smaller on trajectory-like input."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hidpack


def _session(n: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    keys = np.arange(n) % 50 == 25  # a key every 50 events
    kind = np.where(keys, "key", "move")
    return {
        # a 15.625 ms timer: ticks of 15 or 16 ms
        "t": np.cumsum(rng.choice([15, 16, 31, 47], n, p=[0.4, 0.4, 0.15, 0.05])).astype(np.int64) * 1_000_000,
        "kind": kind,
        "x": np.where(keys, np.nan, np.cumsum(rng.integers(-4, 5, n)).astype(np.float64) + 500),
        "y": np.where(keys, np.nan, np.cumsum(rng.integers(-3, 4, n)).astype(np.float64) + 300),
        "pressed": np.where(keys, (np.arange(n) // 50) % 2 == 0, False),
        "pressed_valid": keys,
        "usage": np.where(keys, rng.choice([4, 8, 22, 44], n), 0),
        "usage_valid": keys,
    }


def _required_features(path: Path) -> int:
    # skippable frame header (8 bytes), then the header record: tag, major, minor, required_features
    raw = path.read_bytes()
    assert raw[8:12] == b"HPKH"
    return struct.unpack_from("<Q", raw, 16)[0]


@pytest.mark.parametrize("n", [10, 63, 64, 5000])
def test_with_and_without_binned_read_back_the_same(tmp_path: Path, n: int) -> None:
    tbl = _session(n)
    a, b = tmp_path / "binned.hpk", tmp_path / "plain.hpk"
    hidpack.write_table(a, tbl)
    hidpack.write_table(b, tbl, binned=False)
    ta, tb = hidpack.open(a).table(), hidpack.open(b).table()
    assert ta.keys() == tb.keys()
    for k in ta:
        assert np.array_equal(ta[k], tb[k], equal_nan=ta[k].dtype.kind == "f"), k
    assert np.array_equal(ta["t"], tbl["t"])
    # bits 0 BINNED, 1 PREDICTED (1.1), 2 BINNED_1_3 (1.3), 3 CLOCK_SPARSE (1.4: the writer tries
    # the clock grid by default, and the header, written first, says so whatever a block chose)
    assert _required_features(a) == 15
    assert _required_features(b) == 0  # readable by format 1.0 readers


def test_binned_is_smaller_on_trajectories(tmp_path: Path) -> None:
    tbl = _session(50_000)
    a, b = tmp_path / "binned.hpk", tmp_path / "plain.hpk"
    sa = hidpack.write_table(a, tbl)["bytes"]
    sb = hidpack.write_table(b, tbl, binned=False)["bytes"]
    # deterministic input: the entropy-coded file is at least a sixth smaller
    assert sa < sb * 5 / 6, (sa, sb)


def test_chunks_say_where_the_bytes_go(tmp_path: Path) -> None:
    tbl = _session(20_000)  # 400 key events: their press flags alternate, XOR beats the bitmap
    p = tmp_path / "s.hpk"
    hidpack.write_table(p, tbl)
    chunks = hidpack.open(p).chunks()
    by = {(c["kind"], c["field"]): c for c in chunks}
    # the segment's own columns, then each kind's fields
    assert {("t" if k is None else k) for k, _ in by} >= {"t", "move", "key"}
    assert by[(None, "t")]["encoding"] == "BINNED" and by[(None, "t")]["predictor"] == "order 1"
    assert by[("key", "usage")]["encoding"] == "BINNED"
    assert by[("key", "pressed")]["predictor"] == "xor"
    assert [c["bytes"] for c in chunks] == sorted((c["bytes"] for c in chunks), reverse=True)
    # every chunk of the one block is counted once, and they fit in its payload
    block = hidpack.open(p).info()
    assert all(c["chunks"] == 1 for c in chunks)
    assert sum(c["bytes"] for c in chunks) < os.path.getsize(p) * 2
    plain = tmp_path / "plain.hpk"
    hidpack.write_table(plain, tbl, binned=False)
    assert all(c["encoding"] != "BINNED" for c in hidpack.open(plain).chunks())
    out = subprocess.run([sys.executable, "-m", "hidpack", "info", "--chunks", "--quick", str(p)],
                         capture_output=True, text=True, check=True).stdout
    assert "where the bytes go" in out and "BINNED (order 1)" in out and "B/event" in out
    assert block["events"] == 20_000


def _windows_tick_session(n: int, seed: int = 5) -> dict:
    """Moves stamped by Windows' 15.6 ms timer, floored to whole milliseconds (as balabit's)."""
    rng = np.random.default_rng(seed)
    ticks = np.cumsum(rng.choice([0, 1, 2, 7, 60], n, p=[0.1, 0.6, 0.2, 0.08, 0.02]))
    return {
        "t": (ticks * 15_600_000 + 400_000) // 1_000_000 * 1_000_000,
        "kind": "move",
        "x": np.cumsum(rng.integers(-4, 5, n)).astype(np.float64) + 500,
        "y": np.cumsum(rng.integers(-3, 4, n)).astype(np.float64) + 300,
    }


def test_clock_grid_is_asked_for_by_name_and_reads_back(tmp_path: Path) -> None:
    tbl = _windows_tick_session(20_000)
    size = {}
    for grid in (True, False, None):
        p = tmp_path / f"{grid}.hpk"
        size[grid] = hidpack.write_table(p, tbl, clock_grid=grid)["bytes"]
        got = hidpack.open(p).moves()
        np.testing.assert_array_equal(got["t"], tbl["t"])
        np.testing.assert_array_equal(got["x"], tbl["x"])
        assert _required_features(p) & 0b101 == 0b101  # BINNED and the 1.3 predictors
        assert (_required_features(p) >> 3) & 1 == (grid is not False)  # 1.4's grid, on unless refused
    # the grid predicts the floored ticks: t costs well under the order-1 differences
    assert size[True] < size[False] - 20_000 * 0.05, size
    # None is the core's default: format 1.4 tries the grid (writer::CLOCK_GRID_DEFAULT_1_4)
    assert size[None] == size[True], size
    with hidpack.Writer(tmp_path / "w.hpk", clock_grid=True) as w:
        w.write(tbl)
    assert (tmp_path / "w.hpk").stat().st_size == size[True]


def test_clock_grid_needs_the_binned_encoding(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clock_grid=True needs the BINNED encoding"):
        hidpack.write_table(tmp_path / "a.hpk", _windows_tick_session(100), binned=False, clock_grid=True)
    assert not (tmp_path / "a.hpk").exists()
    # asking for no grid on a 1.0 file is not a contradiction
    hidpack.write_table(tmp_path / "b.hpk", _windows_tick_session(100), binned=False, clock_grid=False)
