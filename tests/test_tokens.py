"""hidpack.tokens: events -> tokens -> events is exact in lossless mode (any storable table, and
the real corpora), lossy mode keeps its stated bounds, and bad token streams raise TokenError
with the position and the token."""

from __future__ import annotations

import io

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from shared_data import data_file
from test_roundtrip_hypothesis import EXTREMES, assert_native_equals_rows, events, rows_table

import hidpack
from hidpack import io_csv, io_ducktrack, io_owa, tokens
from hidpack._table import KIND_CODES


def read_back(tmp_path, table, name="t.hpk"):
    """``table`` written and read back: the reader's form, the reference a decode must equal."""
    path = tmp_path / name
    hidpack.write_table(path, table)
    return hidpack.open(path).table()


def assert_tables_equal(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
        assert got[k].dtype == want[k].dtype, k


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(events, max_size=60))
@example(rows=EXTREMES)
def test_any_storable_table_roundtrips_losslessly(rows):
    enc = tokens.encode(rows_table(rows), lossless=True)
    assert enc.tokens.dtype == np.uint32 and (enc.tokens < tokens.VOCAB.size).all()
    assert enc.skipped == {} and enc.natives_dropped == 0
    assert_native_equals_rows(tokens.decode(enc.tokens), rows)


def _csv_session(name: str, lines: int):
    with open(data_file(name, "events.csv.zst"), "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read(lines * 80)
    src = io.BytesIO(b"\n".join(text.split(b"\n")[:lines]) + b"\n")
    return io_csv.read_csv_sessions(src)[0].table


def corpora():
    """(name, table) of every corpus: a balabit and an aalto session, ducktrack, each OWA file."""
    out = [("balabit-mouse", _csv_session("balabit-mouse", 40_000)), ("aalto136m-keys", _csv_session("aalto136m-keys", 5_000))]
    out.append(("ducktrack-example", io_ducktrack.read_ducktrack(data_file("ducktrack-example", "events.jsonl"))[0]))
    for f in ("0.3.2", "0.4.2", "0.5.1", "example"):
        out.append((f"owa-mcap/{f}", io_owa.read_owa(data_file("owa-mcap", f + ".mcap"))[0]))
    return out


def test_the_corpora_roundtrip_losslessly(tmp_path):
    for i, (name, table) in enumerate(corpora()):
        want = read_back(tmp_path, table, f"{i}.hpk")
        enc = tokens.encode(hidpack.open(tmp_path / f"{i}.hpk"), lossless=True)
        assert_tables_equal(tokens.decode(enc.tokens), want)
        # far fewer tokens than events x fields: at most 12 per event even with OWA's labelled markers
        assert len(enc) < 12 * len(want["t"]), name


def test_lossy_mode_rounds_absolute_values_within_half_a_unit(tmp_path):
    table = io_ducktrack.read_ducktrack(data_file("ducktrack-example", "events.jsonl"))[0]
    want = read_back(tmp_path, table)
    enc = tokens.encode(want, time_ns=1_000_000, coord_px=1.0)
    assert (enc.time_ns, enc.coord_px, enc.lossless) == (1_000_000, 1.0, False)
    assert enc.natives_dropped == int(want["native_valid"].sum()) > 0
    got = tokens.decode(enc.tokens)
    np.testing.assert_array_equal(got["kind"], want["kind"])
    assert np.abs(got["t"] - want["t"]).max() <= 500_000
    pos = want["x_valid"]
    np.testing.assert_array_equal(got["x_valid"], pos)
    for f in ("x", "y"):
        assert np.abs(got[f][pos] - want[f][pos]).max() <= 0.5
    # scroll amounts: every running sum within half a pixel (errors do not add up)
    s = want["kind"] == KIND_CODES["scroll"]
    for f in ("dx", "dy"):
        assert np.abs(np.cumsum(got[f][s]) - np.cumsum(want[f][s])).max() <= 0.5
    # fewer tokens than lossless (ducktrack's clock is in ns and its points on a 1/256 px grid)
    assert len(enc) < len(tokens.encode(want, lossless=True))


def test_kinds_left_out_are_counted():
    table = io_owa.read_owa(data_file("owa-mcap", "example.mcap"))[0]
    enc = tokens.encode(table, kinds=["move", "button", "key"], keep_native=True)
    kinds = np.asarray([KIND_CODES[k] if isinstance(k, str) else k for k in table["kind"]])
    assert enc.skipped == {k: int((kinds == KIND_CODES[k]).sum()) for k in ("focus", "marker") if (kinds == KIND_CODES[k]).any()}
    assert sum(enc.skipped.values()) > 0 and enc.natives_dropped == 0
    got = tokens.decode(enc.tokens)
    assert len(got["t"]) == len(kinds) - sum(enc.skipped.values())
    with pytest.raises(ValueError, match="unknown kind 'mouse'"):
        tokens.encode(table, kinds=["mouse"])
    with pytest.raises(ValueError, match="lossless=True tokenizes every kind"):
        tokens.encode(table, lossless=True, kinds=["move"])


def test_bad_token_streams_raise_token_error_with_position_and_token():
    enc = tokens.encode({"t": [0, 5_000_000], "kind": ["move", "text"], "x": [3.0, None], "y": [4.0, None], "text": [None, "hé"]})
    ok = enc.tokens
    assert tokens.describe(ok)[5:] == ["MOVE +3 +4", "DT 5", "TEXT", "BYTE 'h'", "BYTE 0xc3", "BYTE 0xa9"]
    with pytest.raises(tokens.TokenError) as e:
        tokens.decode(ok[:-1])  # cuts the UTF-8 of "é"
    assert "UTF-8" in str(e.value) and e.value.position == len(ok) - 3 and e.value.token == ok[-3]
    assert isinstance(e.value, ValueError) and isinstance(e.value, hidpack.HidpackError)
    with pytest.raises(tokens.TokenError) as e:
        tokens.decode(np.append(ok, tokens.VOCAB.size))
    assert e.value.position == len(ok) and e.value.token == tokens.VOCAB.size
    with pytest.raises(tokens.TokenError) as e:
        tokens.decode([])
    assert (e.value.position, e.value.token) == (0, None)
    with pytest.raises(ValueError, match="token -1 at position 1"):
        tokens.decode([1, -1])
    with pytest.raises(TypeError, match="1-d array of integers"):
        tokens.decode([1.5])
    # a list of Python ints works as well as the uint32 array
    assert tokens.decode(ok.tolist())["t"].tolist() == [0, 5_000_000]


def test_describe_and_the_vocabulary_agree():
    v = tokens.VOCAB
    assert v.version == 1
    assert sum(n for _, _, n in v.ranges) == v.size
    assert [a for _, a, _ in v.ranges] == sorted(a for _, a, _ in v.ranges)
    enc = tokens.encode({"t": [0], "kind": ["key"], "pressed": [True], "usage": [4]}, lossless=True)
    # lossless units of a table with no coordinates and t = 0: 1 ns, 1 px
    assert tokens.describe(enc.tokens) == ["STREAM v1", "NUM 1", "NUM_MORE 64", "NUM 0", "KEY down 0x04"]
    assert v.name(int(enc.tokens[-1])) == "KEY down 0x04"
