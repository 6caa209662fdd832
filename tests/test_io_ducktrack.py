"""DuckTrack JSONL import (hidpack.io_ducktrack): exact times, exact coordinates, full read-back."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hidpack
from hidpack import io_ducktrack, keymap

from shared_data import DATA, REPO, data_file  # noqa: F401



# --- time stamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,ns",
    [
        ("150160.965463208", 150160965463208),
        ("150162.9317325", 150162931732500),
        ("0.1", 100_000_000),
        ("0.000000001", 1),
        ("1e-9", 1),
        ("1.5e3", 1_500_000_000_000),
        ("-2.25", -2_250_000_000),
        (7, 7_000_000_000),
    ],
)
def test_timestamp_to_ns_is_exact(text, ns):
    assert io_ducktrack.timestamp_to_ns(text) == ns


@pytest.mark.parametrize("text", ["1.0000000001", "150160.9654632081", "1e-10"])
def test_more_than_nine_decimals_is_refused(text):
    with pytest.raises(ValueError, match="more than 9 decimals"):
        io_ducktrack.timestamp_to_ns(text)


@pytest.mark.parametrize("text", ["nan", "inf", "abc", True])
def test_non_numbers_are_refused(text):
    with pytest.raises(ValueError):
        io_ducktrack.timestamp_to_ns(text)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_float_text_round_trips_through_ns(f):
    text = repr(f)
    if (Decimal(text) * 10**9) % 1 != 0:  # finer than a nanosecond: refused, never rounded
        with pytest.raises(ValueError):
            io_ducktrack.timestamp_to_ns(text)
        return
    ns = io_ducktrack.timestamp_to_ns(text)
    assert Decimal(ns) / Decimal(10**9) == Decimal(text)
    assert io_ducktrack.ns_to_timestamp(ns) == f


# --- the real example ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    src = data_file("ducktrack-example", "events.jsonl")
    out = tmp_path_factory.mktemp("duck") / "example.hpk"
    report = io_ducktrack.import_ducktrack(src, out)
    return src, out, report


def test_example_counts_and_metadata(example):
    src, out, report = example
    assert report.counts == {"move": 13163, "button": 44, "scroll": 140, "key": 54}
    rec = hidpack.open(out)
    md = rec.metadata
    assert md["clock_source"] == "perf_counter"
    assert md["clock_origin_ns"] == 150160965463208
    assert md["native_keyspace"] == "pynput"
    assert md["screen_width"] == 1512 and md["screen_height"] == 982
    assert md["system"] == "Darwin" and md["release"] == "23.0.0"
    assert md["scroll_direction"] == -1 and md["model"] == "Mac14,9"
    assert "node" not in md and "id" not in md


# 2023-10-20 17:19:53, the example's metadata.json start_time, as UTC Unix ns
_START_UTC_NS = 1_697_822_393_000_000_000


@pytest.mark.parametrize(
    "zone,offset_h", [("UTC", 0), ("-04:00", -4), ("America/New_York", -4), ("+0530", 5.5)]
)
def test_wall_clock_from_start_time_in_the_zone_given(tmp_path, zone, offset_h):
    src = data_file("ducktrack-example", "events.jsonl")
    out = tmp_path / "w.hpk"
    report = io_ducktrack.import_ducktrack(src, out, timezone=zone)
    rec = hidpack.open(out)
    assert rec.wall_clock_ns == _START_UTC_NS - int(offset_h * 3600) * 10**9
    assert "start_time '2023-10-20 17:19:53'" in rec.metadata["wall_clock_source"]
    assert not any("wall clock" in w for w in report.warnings)  # the zone was given: nothing assumed
    # wall_t works (it raised "no wall clock" before): the first event is at the start time
    assert rec.wall_t(rec.moves().t[:1])[0] == rec.wall_clock_ns


def test_wall_clock_default_zone_is_this_machines_and_says_so(example):
    import datetime as dt

    src, out, report = example
    rec = hidpack.open(out)
    local = dt.datetime(2023, 10, 20, 17, 19, 53).astimezone()  # naive = this machine's zone
    assert rec.wall_clock_ns == int(local.timestamp()) * 10**9
    assert any("this machine's local time zone" in w and "--timezone" in w for w in report.warnings)


def test_no_start_time_no_wall_clock(tmp_path):
    src = tmp_path / "rec" / "events.jsonl"
    src.parent.mkdir()
    src.write_text('{"time_stamp": 1.5, "action": "move", "x": 1, "y": 2}\n')
    io_ducktrack.import_ducktrack(src, tmp_path / "a.hpk")
    assert hidpack.open(tmp_path / "a.hpk").wall_clock_ns is None
    (src.parent / "metadata.json").write_text('{"start_time": "not a time"}')
    io_ducktrack.import_ducktrack(src, tmp_path / "b.hpk")
    assert hidpack.open(tmp_path / "b.hpk").wall_clock_ns is None


def test_unknown_time_zone_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        io_ducktrack.import_ducktrack(data_file("ducktrack-example", "events.jsonl"), tmp_path / "x.hpk", timezone="Mars/Olympus")
    assert not (tmp_path / "x.hpk").exists()


def test_example_size_is_under_pcodecs(example):
    """Deterministic size bound. pcodec, one blob per column, takes 3.20 bytes/event on this sample
    (benches/compare.py); hidpack without BINNED took 3.75. The split predictor (125/3 ns Mach
    ticks stored as whole ns) is what gets it under: a regression there fails here."""
    src, out, report = example
    per_event = os.path.getsize(out) / sum(report.counts.values())
    assert per_event <= 3.0, f"{per_event:.3f} bytes/event"


def test_example_holds_no_host_identifier(example):
    src, out, _ = example
    host = json.loads((Path(src).parent / "metadata.json").read_text())
    raw = Path(out).read_bytes()
    rec = hidpack.open(out)
    text = json.dumps(rec.metadata)
    for needle in (host["node"], str(host["id"]), "lawn-143"):
        assert needle not in text
        assert needle.encode() not in raw


def test_every_field_of_every_line_reads_back_equal(example):
    src, out, _ = example
    with open(src, encoding="utf-8") as fh:
        original = [json.loads(line) for line in fh]
    back = list(io_ducktrack.iter_ducktrack(out))
    assert len(back) == len(original) == 13401
    for i, (a, b) in enumerate(zip(original, back)):
        assert a.keys() == b.keys(), i
        for k in a:
            assert a[k] == b[k], (i, k, a[k], b[k])
            assert type(a[k]) is type(b[k]), (i, k)


def test_export_gives_back_the_source_file_byte_for_byte(example, tmp_path):
    src, out, _ = example
    n = io_ducktrack.export_ducktrack(out, tmp_path / "events.jsonl")
    assert n == 13401
    assert (tmp_path / "events.jsonl").read_bytes() == Path(src).read_bytes()


def test_columns_are_exact(example):
    src, out, _ = example
    rec = hidpack.open(out)
    moves = rec.moves()
    first = json.loads(Path(src).open().readline())
    assert moves.t[0] == 0
    assert moves.x[0] == first["x"] and moves.y[0] == first["y"]
    assert np.all(np.asarray(moves.x) * 256 == np.round(np.asarray(moves.x) * 256))  # 1/256 grid
    keys = rec.keys()
    names = [keymap.decode_pynput(int(c)) for c in np.asarray(keys.native)]
    typed = "".join(n for n, p in zip(names, np.asarray(keys.pressed)) if p and len(n) == 1)
    assert typed == "wikipediatransformermodel"
    assert int(np.asarray(keys.usage)[names.index("enter")]) == 0x28


# --- synthetic edge cases ------------------------------------------------------------------


def _lines(tmp_path, lines):
    p = tmp_path / "events.jsonl"
    p.write_text("".join(json.dumps(d) + "\n" if isinstance(d, dict) else d for d in lines))
    return p


def test_too_precise_time_stamp_is_refused_with_its_line(tmp_path):
    p = _lines(
        tmp_path,
        [
            {"time_stamp": 1.5, "action": "move", "x": 1.0, "y": 2.0},
            '{"time_stamp": 1.1234567891, "action": "move", "x": 1.0, "y": 2.0}\n',
        ],
    )
    with pytest.raises(ValueError, match=r"line 2: .*more than 9 decimals"):
        io_ducktrack.import_ducktrack(p, tmp_path / "o.hpk")
    assert not (tmp_path / "o.hpk").exists()


def test_unknown_actions_are_counted_not_lost_silently(tmp_path):
    p = _lines(
        tmp_path,
        [
            {"time_stamp": 10.0, "action": "move", "x": 1, "y": 2},
            {"time_stamp": 10.5, "action": "gesture", "what": "pinch"},
            {"time_stamp": 11.0, "action": "click", "x": 3, "y": 4, "button": "x2", "pressed": True},
            {"time_stamp": 11.25, "action": "press", "name": None},
            {"time_stamp": 11.5, "action": "scroll", "x": 3, "y": 4, "dx": -2, "dy": 1},
        ],
    )
    report = io_ducktrack.import_ducktrack(p, tmp_path / "o.hpk")
    assert report.skipped == {"action:gesture": 1}
    rec = hidpack.open(tmp_path / "o.hpk")
    assert rec.metadata["import_skipped"] == {"action:gesture": 1}
    assert rec.metadata["session"] == tmp_path.name
    back = list(io_ducktrack.iter_ducktrack(rec))
    assert back == [
        {"time_stamp": 10.0, "action": "move", "x": 1, "y": 2},
        {"time_stamp": 11.0, "action": "click", "x": 3, "y": 4, "button": "x2", "pressed": True},
        {"time_stamp": 11.25, "action": "press", "name": None},
        {"time_stamp": 11.5, "action": "scroll", "x": 3, "y": 4, "dx": -2, "dy": 1},
    ]
    assert type(back[0]["x"]) is int  # integer coordinates stay integers
    keys = rec.keys()
    assert np.ma.getmaskarray(keys.native).tolist() == [True]  # a null name: native absent
    assert np.ma.getmaskarray(keys.usage).tolist() == [True]


def test_missing_field_is_an_error(tmp_path):
    p = _lines(tmp_path, [{"time_stamp": 1.0, "action": "click", "x": 1.0, "y": 2.0, "button": "left"}])
    with pytest.raises(ValueError, match="click event without pressed"):
        io_ducktrack.read_ducktrack(p)
