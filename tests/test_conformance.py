"""Conformance: the Python reader reads every vector and golden file to its JSON dump."""
from __future__ import annotations

import json
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


def test_there_is_a_golden_folder_per_minor_version():
    assert {p.name for p in (ROOT / "tests" / "golden").iterdir() if p.is_dir()} >= {"v1", "v1.1"}
    for p in sorted((ROOT / "tests" / "golden" / "v1.1").glob("*.hpk")):
        assert p.read_bytes() == (V1_1 / p.name).read_bytes(), "golden v1.1 files are copies of the vectors as first written"
