"""Conformance: the Python reader reads every vector and golden file to its JSON dump."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hidpack
from hidpack import _native

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "tests" / "vectors").glob("*/*.hpk")) + sorted((ROOT / "tests" / "golden").glob("*/*.hpk"))
FIELD_TYPES = {name: ty for name, ty, _req, _opt in _native.FIELDS}


def rows_of(table: dict) -> list[dict]:
    """Render a native event table as the JSON rows of the conformance dumps."""
    n = len(table["t"])
    rows = []
    for i in range(n):
        row = {"t": int(table["t"][i]), "kind": _native.KINDS[int(table["kind"][i])]}
        rows.append(row)
    for name, ty in FIELD_TYPES.items():
        if name + "_valid" not in table:
            continue
        valid = table[name + "_valid"]
        for i in np.flatnonzero(valid):
            if ty == "str":
                off = table[name + "_offsets"]
                row_val = bytes(table[name + "_data"][off[i]:off[i + 1]]).decode("utf-8")
            elif ty == "coord":
                row_val = float(table[name][i])
            elif ty == "bool":
                row_val = bool(table[name][i])
            else:
                row_val = int(table[name][i])
            rows[i][name] = row_val
    return rows


def test_there_are_vectors_and_golden_files():
    assert len([f for f in FILES if "vectors" in f.parts]) >= 11
    assert len([f for f in FILES if "golden" in f.parts]) >= 11


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_reads_to_its_json(path: Path):
    want = json.loads(path.with_suffix(".json").read_text())
    rec = hidpack.open(path)
    assert rows_of(rec.table()) == want["events"]
    assert rec.metadata == want["header"]["metadata"]
    assert rec.header["wall_clock_ns"] == want["header"]["wall_clock_ns"]
    assert rec.header["version"] == want["header"]["version"]
    assert len(rec.blocks()) == want["blocks"]
    got_problems = [{"offset": p["offset"], "length": p["length"], "events_lost": p["events_lost"]} for p in rec.problems]
    assert got_problems == want["problems"]
