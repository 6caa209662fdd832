"""Bad files give a typed error with the offset and the value found, or a report of what was
skipped; never a crash across the FFI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hidpack

VEC = Path(__file__).resolve().parent / "vectors" / "v1"


def test_error_hierarchy():
    assert issubclass(hidpack.FormatError, hidpack.HidpackError)
    assert issubclass(hidpack.CorruptBlockError, hidpack.FormatError)
    assert issubclass(hidpack.TruncatedError, hidpack.FormatError)
    assert issubclass(hidpack.UnsupportedVersionError, hidpack.FormatError)
    assert issubclass(hidpack.EventValueError, hidpack.HidpackError)
    assert issubclass(hidpack.EventValueError, ValueError)


def test_wrong_magic(tmp_path):
    p = tmp_path / "x.hpk"
    p.write_bytes(b"PK\x03\x04 this is a zip file, not a recording")
    with pytest.raises(hidpack.FormatError) as e:
        hidpack.open(p)
    assert e.value.offset == 0
    assert "0x04034b50" in str(e.value) and "not a hidpack file" in str(e.value)


def test_empty_and_tiny_files(tmp_path):
    for n in range(0, 12):
        p = tmp_path / f"t{n}.hpk"
        p.write_bytes((VEC / "minimal.hpk").read_bytes()[:n])
        with pytest.raises(hidpack.FormatError):
            hidpack.open(p)


def test_future_version_via_native_writer_is_refused(tmp_path):
    # Build a file whose header says major version 2 by editing the golden minimal file and
    # fixing the record hash with the reference implementation of XXH64 below.
    data = bytearray((VEC / "minimal.hpk").read_bytes())
    size = int.from_bytes(data[4:8], "little")
    body = bytearray(data[8:8 + size - 4])
    body[4:6] = (2).to_bytes(2, "little")
    new = bytes(body) + (xxh64(bytes(body)) & 0xFFFFFFFF).to_bytes(4, "little")
    p = tmp_path / "future.hpk"
    p.write_bytes(data[:8] + new + data[8 + size:])
    with pytest.raises(hidpack.UnsupportedVersionError) as e:
        hidpack.open(p)
    assert "2.0" in str(e.value) and e.value.offset == 8


def test_truncated_at_every_byte_reports_instead_of_failing(tmp_path):
    data = (VEC / "multi_block.hpk").read_bytes()
    full = hidpack.open(VEC / "multi_block.hpk")
    n_full = len(full.table()["t"])
    header_end = full.blocks()[0]["offset"]
    p = tmp_path / "cut.hpk"
    prev = 0
    for cut in range(header_end, len(data), 7):
        p.write_bytes(data[:cut])
        rec = hidpack.open(p)
        n = len(rec.table()["t"])
        assert prev <= n <= n_full
        prev = n
        complete = sum(b["events"] for b in full.blocks() if b["offset"] + b["length"] <= cut)
        assert n == complete


def test_corrupt_block_is_reported_and_skipped():
    rec = hidpack.open(VEC / "corrupt_block.hpk")
    t = rec.table()
    assert len(t["t"]) == 184
    (p,) = rec.problems
    assert p["events_lost"] == 16 and p["offset"] > 0 and "checksum" in p["error"]
    v = rec.verify()
    assert not v["ok"]


def test_unstorable_values_name_row_field_and_value(tmp_path):
    t = {"t": np.array([0, 1], np.int64), "kind": np.array([0, 0], np.uint8),
         "x": np.array([1.0, 0.1]), "y": np.array([0.0, 0.0])}
    with pytest.raises(hidpack.EventValueError) as e:
        hidpack.write_table(tmp_path / "v.hpk", t)
    assert e.value.row == 1 and e.value.field == "x" and "0.1" in e.value.value
    t = {"t": np.array([0], np.int64), "kind": np.array([4], np.uint8),
         "pressed": np.array([True]), "usage": np.array([70000])}
    with pytest.raises(hidpack.EventValueError) as e:
        hidpack.write_table(tmp_path / "v.hpk", t)
    assert e.value.field == "usage" and "0..=65535" in str(e.value)


# --- reference XXH64 (public algorithm), to forge headers in tests without extra dependencies
_P1, _P2, _P3, _P4, _P5 = 11400714785074694791, 14029467366897019727, 1609587929392839161, 9650029242287828579, 2870177450012600261
_M = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    n = len(data)
    i = 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed, (seed - _P1) & _M]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for j in range(4):
            h = ((h ^ _round(0, v[j])) * _P1 + _P4) & _M
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i:i + 4], "little") * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


def test_explicit_validity_on_a_row_without_that_field_is_refused(tmp_path):
    t = {"t": np.array([0, 1], np.int64), "kind": ["move", "key"], "pressed": np.array([False, True]),
         "x": np.array([1.0, 5.0]), "y": np.array([1.0, 5.0]), "x_valid": np.array([True, True])}
    with pytest.raises(ValueError, match=r"row 1: column 'x_valid' marks 'x' present on a 'key' row"):
        hidpack.write_table(tmp_path / "v.hpk", t)
    assert not (tmp_path / "v.hpk").exists()
