"""Conformance: the Python reader reads every vector and golden file to its JSON dump."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

import hidpack
from hidpack._io import event_rows

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "tests" / "vectors").glob("*/*.hpk")) + sorted((ROOT / "tests" / "golden").glob("*/*.hpk"))


def test_there_are_vectors_and_golden_files():
    assert len([f for f in FILES if "vectors" in f.parts]) >= 11
    assert len([f for f in FILES if "golden" in f.parts]) >= 11


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_reads_to_its_json(path: Path):
    want = json.loads(path.with_suffix(".json").read_text())
    rec = hidpack.open(path)
    assert event_rows(rec.table()) == want["events"]
    assert rec.metadata == want["header"]["metadata"]
    assert rec.header["wall_clock_ns"] == want["header"]["wall_clock_ns"]
    assert rec.header["version"] == want["header"]["version"]
    assert len(rec.blocks()) == want["blocks"]
    got_problems = [{"offset": p["offset"], "length": p["length"], "events_lost": p["events_lost"]} for p in rec.problems]
    assert got_problems == want["problems"]


V1_1 = ROOT / "tests" / "vectors" / "v1"


def _chunks(name: str) -> dict:
    return {(c["kind"], c["field"]): c for c in hidpack.open(V1_1 / (name + ".hpk")).chunks()}


def test_version_1_1_vectors_exercise_what_they_claim():
    """FORMAT §10: the 1.1 vectors use PREDICTED (§5.6) and compact records (§4.5)."""
    keys = _chunks("v1_1_keys")
    assert (keys[("key", "usage")]["encoding"], keys[("key", "usage")]["predictor"]) == ("PREDICTED", "from native")
    assert (keys[("key", "pressed")]["encoding"], keys[("key", "pressed")]["predictor"]) == ("PREDICTED", "from the key's state")
    clicks = _chunks("v1_1_clicks")
    for f in ("x", "y"):
        assert clicks[("button", f)]["encoding"] == "PREDICTED"
        assert clicks[("button", f)]["predictor"] == "from the last move"
    for name in ("v1_1_keys", "v1_1_clicks", "v1_1_compact"):
        raw = (V1_1 / (name + ".hpk")).read_bytes()
        assert b"HPKT" in raw and b"HPKX" in raw and b"HPKB" not in raw and b"HPKI" not in raw, name
        rec = hidpack.open(V1_1 / (name + ".hpk"))
        assert rec.header["version"] == "1.1" and rec.header["layout"] == "index", name
    torn = hidpack.open(V1_1 / "v1_1_compact_torn.hpk")
    assert torn.header["layout"] == "scanned" and len(torn.blocks()) == 4


def _tags_after_blocks(name: str) -> list:
    """The record tag right after each block's data frame (None: no record there)."""
    raw = (V1_1 / (name + ".hpk")).read_bytes()
    magic = (0x184D2A58).to_bytes(4, "little")
    ends = [int(b["offset"]) + int(b["length"]) for b in hidpack.open(V1_1 / (name + ".hpk")).blocks()]
    return [raw[e + 8:e + 12].decode() if raw[e:e + 4] == magic else None for e in ends]


def test_version_1_2_vectors_exercise_what_they_claim():
    """FORMAT §4.6: no trailer between the last data frame and the index; the scan path's cases."""
    for name in ("v1_2_keys", "v1_2_blocks", "v1_2_flushed"):
        rec = hidpack.open(V1_1 / (name + ".hpk"))
        assert rec.header["version"] == "1.2" and rec.header["layout"] == "index", name
    assert _tags_after_blocks("v1_2_keys") == ["HPKX"]
    assert _tags_after_blocks("v1_2_blocks") == ["HPKT"] * 4 + ["HPKX"]
    assert _tags_after_blocks("v1_2_flushed") == ["HPKT"] * 5  # closed before the file: trailer kept
    # the same typing as v1_1_keys; past the header (another note), 1.2 saves the trailer and its
    # seek-table entry, nothing else
    k11, k12 = (V1_1 / "v1_1_keys.hpk").read_bytes(), (V1_1 / "v1_2_keys.hpk").read_bytes()
    header = [8 + struct.unpack_from("<I", k, 4)[0] for k in (k11, k12)]
    trailer = 8 + struct.unpack_from("<I", k11, k11.index(b"HPKT") - 4)[0]
    assert (len(k11) - header[0]) - (len(k12) - header[1]) == trailer + 8
    # torn where a writer killed before the index leaves it: the last frame is decoded, no loss
    torn = hidpack.open(V1_1 / "v1_2_torn.hpk")
    assert torn.header["layout"] == "scanned" and len(torn.blocks()) == 5 and not torn.problems
    # no seek table, last frame damaged: its info (events) came from the index entry
    cut = hidpack.open(V1_1 / "v1_2_no_seek_table.hpk")
    assert cut.header["layout"] == "scanned" and len(cut.blocks()) == 5
    cut.table()
    assert [p["events_lost"] for p in cut.problems] == [int(cut.blocks()[-1]["events"])]


def _binned_predictors(name: str) -> set:
    """The BINNED predictor bytes of a vector's chunks (all blocks)."""
    rec = hidpack.open(V1_1 / (name + ".hpk"))
    return {c["predictor"] for c in rec._reader.chunks() if c.get("predictor") is not None}


def test_version_1_3_vectors_exercise_what_they_claim():
    """FORMAT §5.5 (1.3): predictors 7 (clock grid) and 8 (signed steps), behind required feature bit 2."""
    assert {"clock grid", "signed steps"} <= _binned_predictors("v1_3_clock")
    assert "clock grid" in _binned_predictors("v1_3_blocks")
    for name in ("v1_3_clock", "v1_3_blocks"):
        raw = (V1_1 / (name + ".hpk")).read_bytes()
        assert raw[12:16] == bytes([1, 0, 3, 0]), name
        assert struct.unpack_from("<Q", raw, 16)[0] == 0b111, name  # BINNED, PREDICTED, BINNED_1_3
        rec = hidpack.open(V1_1 / (name + ".hpk"))
        assert rec.header["version"] == "1.3" and not rec.problems
    assert _tags_after_blocks("v1_3_blocks") == ["HPKT"] * 3 + ["HPKX"]


def test_version_1_4_vector_exercises_what_it_claims():
    """FORMAT §5.5 (1.4): predictor 9 (clock grid, sparse residues), behind required feature bit 3."""
    preds = _binned_predictors("v1_4_clock")
    assert {"clock grid, sparse residues", "signed steps"} <= preds and "clock grid" not in preds
    raw = (V1_1 / "v1_4_clock.hpk").read_bytes()
    assert raw[12:16] == bytes([1, 0, 4, 0])
    assert struct.unpack_from("<Q", raw, 16)[0] == 0b1111  # BINNED, PREDICTED, BINNED_1_3, CLOCK_SPARSE
    rec = hidpack.open(V1_1 / "v1_4_clock.hpk")
    assert rec.header["version"] == "1.4" and not rec.problems


def test_there_is_a_golden_folder_per_minor_version():
    assert {p.name for p in (ROOT / "tests" / "golden").iterdir() if p.is_dir()} >= {"v1", "v1.1", "v1.2", "v1.3", "v1.4"}
    for minor in ("v1.1", "v1.2", "v1.3", "v1.4"):
        files = sorted((ROOT / "tests" / "golden" / minor).glob("*.hpk"))
        assert files, minor
        for p in files:
            assert p.read_bytes() == (V1_1 / p.name).read_bytes(), f"golden {minor} files are copies of the vectors as first written"
