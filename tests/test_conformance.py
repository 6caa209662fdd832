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
