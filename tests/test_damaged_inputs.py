"""One test per finding of issue 16 on the Python side: each failed on the code before the fix.

- a truncated or damaged OWA MCAP file escaped as an mcap/zstd/struct traceback;
- deeply nested DuckTrack JSON raised RecursionError; huge time stamps hung or overflowed;
- a truncated .csv.zst imported silently as fewer rows; a CSV line of the wrong shape was an
  ArrowInvalid without a line;
- header metadata that is not a JSON object: verify said OK, recover raised a bare ValueError.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import zstandard

import hidpack
from hidpack import io_csv, io_ducktrack, io_owa
from hidpack.recording import METADATA_OFFSET
from shared_data import data_file
from test_errors import xxh64


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hidpack", *argv], capture_output=True, text=True, timeout=120)


# --- OWA MCAP --------------------------------------------------------------------------------


def test_truncated_mcap_is_a_typed_error_naming_file_and_offset(tmp_path):
    data = data_file("owa-mcap", "example.mcap").read_bytes()
    p = tmp_path / "cut.mcap"
    seen = set()
    for cut in range(0, len(data), 97):  # every 97th byte: inside the header, chunk, summary, footer
        p.write_bytes(data[:cut])
        with pytest.raises(hidpack.ImportFormatError) as e:
            io_owa.read_owa(p)
        assert e.value.path == str(p) and isinstance(e.value.offset, int) and 0 <= e.value.offset <= cut
        assert str(p) in str(e.value)
        seen.add(e.value.reason.split(":")[0])
    assert len(seen) >= 2  # not one catch-all message


def test_damaged_mcap_chunk_is_found_by_its_crc(tmp_path):
    data = bytearray(data_file("owa-mcap", "0.4.2.mcap").read_bytes())
    data[len(data) // 3] ^= 0x04  # inside the (compressed) chunk
    p = tmp_path / "flip.mcap"
    p.write_bytes(bytes(data))
    with pytest.raises(hidpack.ImportFormatError, match=r"flip\.mcap at byte offset \d+: damaged (chunk|record)"):
        io_owa.read_owa(p)


def test_truncated_mcap_on_the_cli_is_one_line_and_exit_2(tmp_path):
    data = data_file("owa-mcap", "0.3.2.mcap").read_bytes()
    p = tmp_path / "cut.mcap"
    p.write_bytes(data[: len(data) - 30])
    r = _cli("import", str(p), str(tmp_path / "out.hpk"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("hidpack: error: ImportFormatError: ")
    assert str(p) in r.stderr and "byte offset" in r.stderr
    assert not (tmp_path / "out.hpk").exists()


# --- DuckTrack -------------------------------------------------------------------------------


def _events(tmp_path, text: bytes):
    d = tmp_path / "session"
    d.mkdir(exist_ok=True)
    p = d / "events.jsonl"
    p.write_bytes(text)
    return p


GOOD = b'{"time_stamp": 1.5, "action": "move", "x": 1, "y": 2}\n'


def test_deeply_nested_ducktrack_json_is_a_typed_error_not_recursion(tmp_path):
    nested = b'{"time_stamp": 2.0, "action": "move", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b', "y": 1}\n'
    p = _events(tmp_path, GOOD + nested)
    with pytest.raises(hidpack.ImportFormatError) as e:
        io_ducktrack.read_ducktrack(p)
    assert e.value.line == 2 and e.value.offset == len(GOOD) and "nested too deeply" in str(e.value)


def test_deeply_nested_ducktrack_metadata_json_is_a_typed_error(tmp_path):
    p = _events(tmp_path, GOOD)
    (p.parent / "metadata.json").write_bytes(b"[" * 50_000 + b"]" * 50_000)
    with pytest.raises(hidpack.ImportFormatError, match=r"metadata\.json: invalid JSON \(nested too deeply\)"):
        io_ducktrack.read_ducktrack(p)


@pytest.mark.parametrize(
    "line,reason",
    [
        (b'{"time_stamp": 1e999999999, "action": "move", "x": 1, "y": 2}', "out of range"),
        (b'{"time_stamp": 99999999999999999999, "action": "move", "x": 1, "y": 2}', "out of range"),
        (b'{"time_stamp": 2.0, "action": "move", "x": 1e400, "y": 2}', "not finite"),
        (b'{"time_stamp": 2.0, "action": "move", "x": ' + b"9" * 400 + b', "y": 2}', "out of range"),
        (b'{"time_stamp": 2.0, "action": "move", "x": NaN, "y": 2}', "NaN is not a JSON number"),
        (b'{"time_stamp": 2.0, "action": ["move"], "x": 1, "y": 2}', "action ['move'] is not a string"),
        (b'{"time_stamp": 2.0, "action": "click", "x": 1, "y": 2, "button": [1], "pressed": true}', "unknown mouse button"),
        (b'{"time_stamp": 2.0, "action": "move", "x": 1, "y": 2\xff}', "not UTF-8"),
    ],
)
def test_odd_ducktrack_values_are_typed_errors_with_their_line(tmp_path, line, reason):
    p = _events(tmp_path, GOOD + line + b"\n")
    with pytest.raises(hidpack.ImportFormatError) as e:
        io_ducktrack.import_ducktrack(p, tmp_path / "o.hpk")
    assert e.value.line == 2 and reason in str(e.value), str(e.value)
    assert not (tmp_path / "o.hpk").exists()


# --- CSV -------------------------------------------------------------------------------------


def _csv_text(lines: int = 3000) -> bytes:
    with open(data_file("balabit-mouse", "events.csv.zst"), "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read(lines * 80)
    return b"\n".join(text.split(b"\n")[:lines]) + b"\n"


def test_truncated_csv_zst_is_an_error_not_fewer_rows(tmp_path):
    z = zstandard.ZstdCompressor(level=3).compress(_csv_text())
    p = tmp_path / "cut.csv.zst"
    p.write_bytes(z[: len(z) * 2 // 3])
    with pytest.raises(hidpack.ImportFormatError, match="truncated") as e:
        io_csv.read_csv_sessions(p)
    assert e.value.path == str(p) and e.value.offset is not None
    # whole frames back to back still read: two frames of the same text give every row twice
    text = _csv_text()
    body = text.split(b"\n", 1)[1]
    p2 = tmp_path / "two.csv.zst"
    p2.write_bytes(zstandard.ZstdCompressor().compress(text) + zstandard.ZstdCompressor().compress(body))
    rows = sum(len(s) for s in io_csv.read_csv_sessions(p2))
    assert rows == 2 * body.count(b"\n")


def test_damaged_csv_zst_is_an_error_at_an_offset(tmp_path):
    z = bytearray(zstandard.ZstdCompressor(level=3).compress(_csv_text()))
    for i in range(len(z) // 2, len(z) // 2 + 64):
        z[i] ^= 0xA5
    p = tmp_path / "flip.csv.zst"
    p.write_bytes(bytes(z))
    with pytest.raises(hidpack.ImportFormatError, match="zstd") as e:
        io_csv.read_csv_sessions(p)
    assert isinstance(e.value.offset, int)


@pytest.mark.parametrize(
    "bad,reason",
    [
        (b"5,move,1,2,,s,extra", "7 field(s)"),
        (b"5,move,1", "3 field(s)"),
        (b"5,move,1,2,,s\xff\xfe", "not UTF-8"),
        (b"99999999999999999999,move,1,2,,s", "not a 64-bit integer"),
    ],
)
def test_a_csv_line_arrow_cannot_parse_is_named(tmp_path, bad, reason):
    lines = _csv_text(400).split(b"\n")
    lines[200] = bad
    p = tmp_path / "bad.csv"
    p.write_bytes(b"\n".join(lines))
    with pytest.raises(hidpack.ImportFormatError) as e:
        io_csv.read_csv_sessions(p)
    assert e.value.line == 201 and reason in str(e.value), str(e.value)
    r = _cli("import", str(p), str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.csv line 201" in r.stderr


# --- header metadata that is not a JSON object -----------------------------------------------


def _forge_metadata(path, text: str) -> None:
    """A recording whose header metadata is ``text`` (same length as a valid placeholder), with
    the header record's hash fixed so that the file is otherwise valid."""
    placeholder = '{"k":"' + "a" * (len(text) - 8) + '"}'  # as stored: no insignificant whitespace
    assert len(placeholder) == len(text)
    t = np.arange(100, dtype=np.int64) * 1_000_000
    hidpack.write_table(path, {"t": t, "kind": "move", "x": np.arange(100.0), "y": np.arange(100.0)},
                        metadata=json.loads(placeholder))
    data = bytearray(path.read_bytes())
    i = data.index(placeholder.encode())
    assert i == METADATA_OFFSET
    data[i : i + len(text)] = text.encode()
    size = int.from_bytes(data[4:8], "little")
    data[8 + size - 4 : 8 + size] = (xxh64(bytes(data[8 : 8 + size - 4])) & 0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("text", ["[1, 2, 3, 4, 5, 6]", "this is not json!", '"just a string"'])
def test_non_object_metadata_events_readable_problem_reported(tmp_path, text):
    p = tmp_path / "m.hpk"
    _forge_metadata(p, text)
    rec = hidpack.open(p)
    assert len(rec.moves().t) == 100  # the events read
    with pytest.raises(hidpack.MetadataError) as e:
        rec.metadata  # noqa: B018
    assert isinstance(e.value, hidpack.FormatError) and e.value.offset == 45 and e.value.path == str(p)
    v = rec.verify()
    assert v["ok"] is False and v["problems"][0]["offset"] == 45 and "metadata" in v["problems"][0]["error"]
    info = rec.info()
    assert info["metadata"] == {} and info["events"] == 100
    assert any("metadata" in q["error"] for q in info["problems"])
    r = _cli("verify", str(p))
    assert r.returncode == 1 and "metadata" in r.stdout and "Traceback" not in r.stderr
    r = _cli("info", str(p))
    assert r.returncode == 0 and "header metadata" in r.stdout


def test_recover_of_non_object_metadata_keeps_the_text_and_says_so(tmp_path):
    """recover raised a bare ValueError and left an empty temporary; now it recovers the events
    and keeps the metadata's text where every reader can parse it, and says so."""
    p = tmp_path / "m.hpk"
    _forge_metadata(p, "[1, 2, 3, 4, 5, 6]")
    rep = hidpack.recover(p, tmp_path / "out.hpk")
    assert rep["events"] == 100
    assert any("not a JSON object" in q for q in rep["problems"]), rep
    out = hidpack.open(tmp_path / "out.hpk")
    assert out.metadata == {"hidpack:invalid_metadata": "[1, 2, 3, 4, 5, 6]"}
    assert out.verify()["ok"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.hpk", "out.hpk"], "no temporary left"
    r = _cli("recover", str(p), "-o", str(tmp_path / "out2.hpk"))
    assert r.returncode == 0 and "not a JSON object" in r.stdout and "Traceback" not in r.stderr
