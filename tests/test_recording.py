"""hidpack.open / Recording / write_table / Writer against the native module: write, then read."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import hidpack
from hidpack import _native
from hidpack._table import FIELDS, KIND_CODES, KINDS, decode_strings, kind_fields

FIELD_NAMES = [name for name, _, _, _ in FIELDS]
FIELD_TYPE = {name: typ for name, typ, _, _ in FIELDS}

# (t, kind, fields); a field left out is absent. Timestamps repeat and go backwards on purpose.
ROWS = [
    (0, "move", {"x": 10.5, "y": 20.25}),
    (1_000, "move", {"x": -3.0, "y": float(2**37), "buttons": 1}),
    (2_000, "raw_move", {"dx": 1 / 65536, "dy": -5.0}),
    (3_000, "button", {"button": 1, "pressed": True, "x": 11.0, "y": 21.0}),
    (3_000, "button", {"button": 5, "pressed": False}),
    (2_500, "scroll", {"dx": 0.0, "dy": -120.0}),
    (4_000, "scroll", {"dx": 0.5, "dy": 1.25, "x": 100.0, "y": 200.0}),
    (5_000, "key", {"pressed": True, "usage": 4}),
    (5_001, "key", {"pressed": False, "native": 65}),
    (6_000, "text", {"text": "héllo 🙂"}),
    (6_001, "text", {"text": ""}),
    (7_000, "focus", {"app": "Terminal", "title": "bash — ~", "window": 12345, "left": -10, "top": 0,
                      "right": 1920, "bottom": 1080}),
    (7_001, "focus", {}),
    (8_000, "marker", {"label": "frame", "value": 42}),
    (8_001, "marker", {"label": "task:start"}),
    (9_000, "gap", {"count": 17, "reason": 1, "t_end": 9_500}),
    (9_100, "gap", {"count": 3, "reason": 2}),
    (9_200, "gap", {"count": 5, "reason": 1}),
]


def rows_table(rows):
    """Rows -> a write table of lists with None for absent."""
    table = {"t": [t for t, _, _ in rows], "kind": [k for _, k, _ in rows]}
    for name in FIELD_NAMES:
        table[name] = [f.get(name) for _, _, f in rows]
    return table


def native_strings(table, name):
    return decode_strings(table[name + "_offsets"], table[name + "_data"], table[name + "_valid"]).tolist()


def assert_native_equals_rows(table, rows):
    """A native read table holds exactly ``rows`` (values and absence), in order."""
    assert table["t"].dtype == np.int64 and table["kind"].dtype == np.uint8
    assert table["t"].tolist() == [t for t, _, _ in rows]
    assert table["kind"].tolist() == [KIND_CODES[k] for _, k, _ in rows]
    for name in FIELD_NAMES:
        expected = [f.get(name) for _, _, f in rows]
        key = name + "_offsets" if FIELD_TYPE[name] == "str" else name
        if key not in table:  # a read leaves out the fields none of its rows holds
            assert all(v is None for v in expected), name
            continue
        if FIELD_TYPE[name] == "str":
            assert table[name + "_offsets"].dtype == np.int64
            assert table[name + "_data"].dtype == np.uint8
            assert native_strings(table, name) == expected, name
        else:
            valid = table[name + "_valid"]
            assert valid.dtype == np.bool_
            assert valid.tolist() == [v is not None for v in expected], name
            got = table[name].tolist()
            assert [g if v is not None else None for g, v in zip(got, expected)] == expected, name
            assert all(g == 0 for g, v in zip(got, expected) if v is None), name


def assert_columns_equal_rows(cols, rows, kind):
    sel = [r for r in rows if r[1] == kind]
    specs = kind_fields(kind)
    assert list(cols) == ["t"] + [name for name, _, _ in specs]
    assert cols.kind == kind and len(cols) == len(sel)
    assert type(cols.t) is np.ndarray and cols.t.dtype == np.int64
    assert cols.t.tolist() == [t for t, _, _ in sel]
    for name, typ, required in specs:
        expected = [f.get(name) for _, _, f in sel]
        col = cols[name]
        if typ == "str":
            assert col.dtype == object and col.tolist() == expected, name
            continue
        dtype = {"coord": np.float64, "int": np.int64, "bool": np.bool_}[typ]
        assert col.dtype == dtype, name
        if required:
            assert type(col) is np.ndarray, name
            assert col.tolist() == expected, name
        else:
            assert isinstance(col, np.ma.MaskedArray), name
            assert np.ma.getmaskarray(col).tolist() == [v is None for v in expected], name
            assert col.tolist() == expected, name  # masked entries become None


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "rec.hpk")


@pytest.fixture
def rec(path):
    hidpack.write_table(path, rows_table(ROWS), metadata={"session": "s1"}, block_events=4)
    return hidpack.open(path)


def test_native_constants_match_the_python_mirror():
    assert tuple(_native.KINDS) == KINDS == hidpack.KINDS
    assert tuple((n, t, tuple(r), tuple(o)) for n, t, r, o in _native.FIELDS) == FIELDS
    assert isinstance(_native.FORMAT_VERSION, int)
    assert hidpack.HidpackError is _native.HidpackError
    assert issubclass(hidpack.EventValueError, hidpack.HidpackError)
    assert issubclass(hidpack.EventValueError, ValueError)
    for cls in (hidpack.CorruptBlockError, hidpack.TruncatedError, hidpack.UnsupportedVersionError):
        assert issubclass(cls, hidpack.FormatError) and issubclass(cls, hidpack.HidpackError)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_roundtrips_through_its_accessor(rec, kind):
    accessor = {"move": rec.moves, "raw_move": rec.raw_moves, "button": rec.buttons, "scroll": rec.scrolls,
                "key": rec.keys, "text": rec.texts, "focus": rec.focus, "marker": rec.markers,
                "gap": rec.gaps}[kind]
    assert_columns_equal_rows(accessor(), ROWS, kind)
    assert_columns_equal_rows(rec.columns(kind), ROWS, kind)


def test_raw_table_keeps_push_order_and_absence(rec):
    assert_native_equals_rows(rec.table(), ROWS)
    keys_only = rec.table(kinds=["key", "gap"])
    assert_native_equals_rows(keys_only, [r for r in ROWS if r[1] in ("key", "gap")])
    with pytest.raises(ValueError, match="unknown kind 'mouse'"):
        rec.table(kinds=["mouse"])


def test_table_fields_selects_columns(rec):
    full = rec.table()
    sel = rec.table(fields=["x", "text", "pressed"])
    assert set(sel) == {"t", "kind", "x", "x_valid", "text_offsets", "text_data", "text_valid",
                        "pressed", "pressed_valid"}
    for name, col in sel.items():
        np.testing.assert_array_equal(col, full[name], err_msg=name)
    # with kinds: the fields of those kinds only
    keys = rec.table(kinds="key", fields=["pressed", "x"])
    assert set(keys) == {"t", "kind", "pressed", "pressed_valid"}
    assert keys["pressed"].tolist() == [True, False]
    assert set(rec.table(fields="y")) == {"t", "kind", "y", "y_valid"}
    assert set(rec.table(fields=[])) == {"t", "kind"}
    with pytest.raises(ValueError, match="unknown field `z`; fields are x, y"):
        rec.table(fields=["x", "z"])


@pytest.mark.parametrize("repeat", [40, 3200])  # 3,200: 67,200 rows, so fields fill on threads too
def test_threads_decode_the_same_table(path, repeat):
    hidpack.write_table(path, rows_table(ROWS * repeat), block_events=7 if repeat < 100 else 4096)
    one = hidpack.open(path, threads=1)
    assert len(one.blocks()) > 8
    want = one.table()
    for threads in (2, 3, 64, None):
        r = hidpack.open(path, threads=threads)
        for got, exp in ((r.table(), want), (r.between(1_000, 3_001).table(kinds=["move", "button"]),
                                             one.between(1_000, 3_001).table(kinds=["move", "button"]))):
            assert set(got) == set(exp)
            for name, col in got.items():
                np.testing.assert_array_equal(col, exp[name], err_msg=f"{name}, threads={threads}")
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be an int >= 1"):
            hidpack.open(path, threads=bad)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        _native.Reader(path).read(threads=0)


def test_len_blocks_and_context_manager(path):
    hidpack.write_table(path, rows_table(ROWS), block_events=4)
    with hidpack.open(path) as r:
        assert len(r) == len(ROWS)
        blocks = r.blocks()
        assert len(blocks) == math.ceil(len(ROWS) / 4)
        assert [b["index"] for b in blocks] == list(range(len(blocks)))
        assert sum(b["events"] for b in blocks) == len(ROWS)
        assert r.path == path


def test_metadata_header_and_info(path):
    meta = {"session": "ß-1", "screen": {"w": 2560, "h": 1440, "scale": 2.0}, "native_space": "x11",
            "tags": ["a", None, 3]}
    summary = hidpack.write_table(path, rows_table(ROWS), metadata=meta, wall_clock_ns=1_700_000_000_123_456_789,
                                  block_events=5)
    assert summary["events"] == len(ROWS)
    assert summary["bytes"] == os.path.getsize(path)
    r = hidpack.open(path)
    assert r.metadata == meta
    assert json.loads(r.header["metadata"]) == meta
    assert r.header["wall_clock_ns"] == 1_700_000_000_123_456_789
    assert {"version", "flags", "wall_clock_ns", "metadata", "created_by"} <= set(r.header)
    info = r.info()
    assert info["events"] == len(ROWS)
    assert info["counts"] == {k: sum(1 for _, kk, _ in ROWS if kk == k) for k in KINDS}
    assert info["blocks"] == summary["blocks"] == len(r.blocks()) == 4
    assert info["bytes"] == os.path.getsize(path)
    assert info["bytes_per_event"] == pytest.approx(os.path.getsize(path) / len(ROWS))
    assert info["drops"] == 17 + 5  # gaps with reason 1 (dropped) only
    assert info["gaps"] == 3
    assert info["duration_ns"] == 9_200
    assert info["wall_clock_ns"] == 1_700_000_000_123_456_789
    assert info["metadata"] == meta
    assert info["problems"] == []


def test_empty_recording(path):
    summary = hidpack.write_table(path, {"t": [], "kind": []})
    assert summary["events"] == 0
    r = hidpack.open(path)
    assert len(r) == 0 and r.metadata == {}
    assert len(r.moves()) == 0 and r.moves().x.dtype == np.float64
    assert r.to_arrow().num_rows == 0
    info = r.info()
    assert info["events"] == 0 and info["duration_ns"] == 0 and info["drops"] == 0
    assert r.verify()["ok"] is True


def monotonic_moves(n, step=10):
    t = np.arange(n, dtype=np.int64) * step
    return {"t": t, "kind": "move", "x": (np.arange(n) % 997) / 4.0, "y": -(np.arange(n) % 13) / 256.0,
            "buttons": np.ma.MaskedArray(np.arange(n) % 4, mask=np.arange(n) % 3 == 0)}


def test_between_selects_rows_and_overlapping_blocks(path):
    table = monotonic_moves(1000)
    hidpack.write_table(path, table, block_events=50)
    r = hidpack.open(path)
    assert len(r.blocks()) == 20
    view = r.between(1234, 2345)
    t = table["t"]
    sel = (t >= 1234) & (t < 2345)
    moves = view.moves()
    assert moves.t.tolist() == t[sel].tolist()
    assert moves.x.tolist() == table["x"][sel].tolist()
    assert moves.buttons.tolist() == table["buttons"][sel].tolist()
    assert len(view) == int(sel.sum())
    # blocks of 50 events x 10 ns: the window [1234, 2345) touches blocks 2..4
    assert [b["index"] for b in view.blocks()] == [2, 3, 4]
    assert [len(b) for b in view] == [(1500 - 1240) // 10, 50, (2345 - 2000 + 9) // 10]
    # nested windows intersect; open bounds
    assert view.between(2000, 9999).moves().t.tolist() == t[(t >= 2000) & (t < 2345)].tolist()
    assert r.between(t1=30).table()["t"].tolist() == [0, 10, 20]
    assert r.between(9980).table()["t"].tolist() == [9980, 9990]
    assert len(r.between(5, 5)) == 0
    with pytest.raises(ValueError, match="t0=1.5 is not a whole number of nanoseconds"):
        r.between(1.5, 3)
    with pytest.raises(TypeError, match="t1 must be"):
        r.between(0, "30")


def test_between_with_unordered_timestamps(path):
    rng = np.random.default_rng(7)
    t = rng.integers(-1000, 1000, size=300)
    hidpack.write_table(path, {"t": t, "kind": "marker", "label": [str(i) for i in range(300)]}, block_events=16)
    r = hidpack.open(path)
    for t0, t1 in [(-1000, 1000), (-5, 5), (0, 1), (500, 2000), (-2000, -900)]:
        sel = np.flatnonzero((t >= t0) & (t < t1))
        m = r.between(t0, t1).markers()
        assert m.t.tolist() == t[sel].tolist()
        assert m.label.tolist() == [str(i) for i in sel]  # push order kept


def test_between_decodes_only_the_blocks_it_needs(path, tmp_path):
    table = monotonic_moves(400)
    hidpack.write_table(path, table, block_events=40)
    blocks = hidpack.open(path).blocks()
    victim = blocks[7]  # t in [2800, 3190]
    data = bytearray(open(path, "rb").read())
    mid = victim["offset"] + victim["length"] // 2
    data[mid] ^= 0xFF
    bad = str(tmp_path / "bad.hpk")
    with open(bad, "wb") as f:
        f.write(data)

    r = hidpack.open(bad)
    window = r.between(400, 1600)  # blocks 1..3 only
    assert window.moves().t.tolist() == list(range(400, 1600, 10))
    assert r.problems == []  # the corrupt block was never decoded
    full = r.table()
    assert len(full["t"]) == 400 - 40  # the corrupt block is skipped, the rest reads back
    assert 2800 not in full["t"].tolist() and 3200 in full["t"].tolist()
    problems = r.problems
    assert len(problems) == 1 and problems[0]["offset"] == victim["offset"]
    report = r.verify()
    assert report["ok"] is False and report["problems"]


def test_iterating_yields_one_view_per_block(path):
    hidpack.write_table(path, rows_table(ROWS), block_events=4)
    r = hidpack.open(path)
    views = list(r)
    assert len(views) == len(r.blocks()) == 5
    assert [v.index for v in views] == [0, 1, 2, 3, 4]
    assert [len(v) for v in views] == [4, 4, 4, 4, 2]
    assert np.concatenate([v.table()["t"] for v in views]).tolist() == [t for t, _, _ in ROWS]
    assert np.concatenate([v.moves().x for v in views]).tolist() == r.moves().x.tolist()
    assert views[1].info["events"] == 4
    assert_native_equals_rows(views[2].table(), ROWS[8:12])


def _expected_arrow_column(rows, name):
    return [f.get(name) for _, _, f in rows]


def test_to_arrow_all_events(rec):
    t = rec.to_arrow()
    assert t.column_names == ["t", "kind", *FIELD_NAMES]
    assert t.schema.field("kind").type == pa.dictionary(pa.int8(), pa.string())
    assert t.schema.field("t").type == pa.int64()
    assert t.schema.field("text").type == pa.large_string()
    assert t.column("t").to_pylist() == [r[0] for r in ROWS]
    assert t.column("kind").to_pylist() == [r[1] for r in ROWS]
    for name in FIELD_NAMES:
        assert t.column(name).to_pylist() == _expected_arrow_column(ROWS, name), name


@pytest.mark.parametrize("kind", KINDS)
def test_to_arrow_pandas_polars_agree_with_numpy(rec, kind):
    cols = rec.columns(kind)
    names = list(cols)
    at = rec.to_arrow(kind)
    assert at.column_names == names
    for name, typ, required in kind_fields(kind):
        assert at.schema.field(name).nullable is (not required)
    df = rec.to_pandas(kind)
    pf = rec.to_polars(kind)
    assert list(df.columns) == names and pf.columns == names
    assert df["t"].dtype == np.int64
    for name in names:
        expected = cols[name].tolist()  # masked -> None
        assert at.column(name).to_pylist() == expected, name
        assert pf[name].to_list() == expected, name
        got = [None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) or v is None else v
               for v in df[name].tolist()]
        assert got == expected, name


def test_to_pandas_dtypes(rec):
    df = rec.to_pandas()
    assert isinstance(df["kind"].dtype, pd.CategoricalDtype)
    assert df["kind"].tolist() == [r[1] for r in ROWS]
    assert df["t"].dtype == np.int64
    assert df["x"].dtype == np.float64 and math.isnan(df["x"][2])
    assert df["t_end"].dtype == pd.Int64Dtype() and df["t_end"][15] == 9_500 and df["t_end"][16] is pd.NA
    assert df["pressed"].dtype == pd.BooleanDtype()
    b = rec.to_pandas("button")
    assert b["button"].dtype == np.int64 and b["pressed"].dtype == np.bool_
    assert b["x"].tolist()[0] == 11.0 and math.isnan(b["x"].tolist()[1])


def via_arrow(table):
    """The pandas frame of an Arrow table the way Arrow converts it (nullable Int64 / boolean for
    nullable integers and bools, plain numpy for non-nullable ones): the oracle ``to_pandas``,
    which builds its frame from the numpy columns directly, must equal."""
    df = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get)
    for field in table.schema:
        if not field.nullable and (pa.types.is_integer(field.type) or pa.types.is_boolean(field.type)):
            df[field.name] = df[field.name].to_numpy(dtype=field.type.to_pandas_dtype())
    return df


@pytest.mark.parametrize("kind", [None, *KINDS])
def test_to_pandas_and_polars_equal_the_arrow_conversion(rec, kind):
    pd.testing.assert_frame_equal(rec.to_pandas(kind), via_arrow(rec.to_arrow(kind)), check_exact=True)
    assert_polars_equal(rec.to_polars(kind), pl.from_arrow(rec.to_arrow(kind)))
    # a read where the text fields are null on every row (to_polars makes those columns itself)
    view = rec.between(0, 5_000)
    assert_polars_equal(view.to_polars(kind), pl.from_arrow(view.to_arrow(kind)))


def assert_polars_equal(got, want):
    assert got.schema == want.schema
    assert got.equals(want)


def long_rows(n):
    """``n`` rows of every kind, optional fields present on some rows, with stretches of moves
    only (blocks of one kind) between mixed ones."""
    out = []
    for i in range(n):
        j = 0 if (i // 900) % 3 == 1 else i % 9
        t, fields = i * 1_000, {}
        if j in (0, 1):
            kind, fields = "move", {"x": i / 4, "y": -i / 8, **({"buttons": i % 3} if i % 5 == 0 else {})}
        elif j == 2:
            kind, fields = "key", {"pressed": i % 2 == 0, **({"usage": 4 + i % 30} if i % 3 else {})}
        elif j == 3:
            kind, fields = "button", {"button": 1 + i % 3, "pressed": i % 4 == 1, **({"x": 1.5, "y": 2.5} if i % 7 == 0 else {})}
        elif j == 4:
            kind, fields = "scroll", {"dx": 0.0, "dy": -i / 2}
        elif j == 5:
            kind, fields = "text", {"text": f"t{i}é" * (i % 3)}
        elif j == 6:
            kind, fields = "raw_move", {"dx": i / 65536, "dy": -1.0}
        elif j == 7:
            kind, fields = "marker", {"label": "m", **({"value": i} if i % 2 else {})}
        else:
            kind, fields = "focus", ({"app": "a", "window": i} if i % 4 else {})
        out.append((t, kind, fields))
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_to_pandas_of_many_blocks_is_exactly_the_tables_frame(tmp_path, threads):
    """The wide to_pandas() (read in the frame's own layout, blocks placed into their rows on
    several threads) is exactly the frame built from the table layout (the earlier path) and the
    one through Arrow: same columns, dtypes and values, whatever the window, kinds and columns."""
    from hidpack.recording import _pandas_frame

    path = str(tmp_path / "long.hpk")
    hidpack.write_table(path, rows_table(long_rows(6_000)), block_events=512)
    rec = hidpack.open(path, threads=threads)
    assert len(list(rec)) > 5  # many blocks
    views = [rec, rec.between(700_000, 5_100_000), rec.between(512_000, 1_536_000)]  # cut blocks; block edges
    queries = [{}, {"kinds": ["move"]}, {"kinds": ["key", "text"]}, {"columns": ["x", "usage", "text", "count"]},
               {"kinds": ["move", "gap"], "columns": ["x", "buttons", "count", "reason"]},
               # coordinate pairs (written together) and their halves alone
               {"columns": ["y", "dy"]}, {"columns": ["x", "y", "dx", "dy"]}, {"kinds": ["scroll", "raw_move", "button"]}]
    for view in views:
        for q in queries:
            got = view.to_pandas(**q)
            table = view.table(**q)
            names = list(q["columns"]) if "columns" in q else None
            if names is not None:
                kinds = q.get("kinds")
                names = [n for n in names if kinds is None or any(n in [f for f, _, _ in kind_fields(k)] for k in kinds)]
            else:
                names = [n for n in FIELD_NAMES if n in table or n + "_offsets" in table]
            want = _pandas_frame(pd, pa, table, None, names, copy=True)
            pd.testing.assert_frame_equal(got, want, check_exact=True)
            assert list(got.dtypes) == list(want.dtypes)
            pd.testing.assert_frame_equal(got, via_arrow(view.to_arrow(**q)), check_exact=True)


def test_to_pandas_equals_the_arrow_conversion_on_real_data(tmp_path):
    """A real recording (balabit: moves, drags, buttons, scrolls; 20,000 events)."""
    from shared_data import balabit_sessions

    path = balabit_sessions(tmp_path, 20_001)[0]
    rec = hidpack.open(path)
    assert len(rec) > 1000 and set(rec.info()["counts"]) >= {"move", "button", "scroll"}
    for kind in (None, "move", "button", "scroll", "key"):
        pd.testing.assert_frame_equal(rec.to_pandas(kind), via_arrow(rec.to_arrow(kind)), check_exact=True)
        assert_polars_equal(rec.to_polars(kind), pl.from_arrow(rec.to_arrow(kind)))


def test_clock_records_put_events_at_their_wall_time(tmp_path):
    """A suspend of 10 s at t = 5 ms: the records say so, and times after it move by 10 s."""
    path = str(tmp_path / "c.hpk")
    anchor = 1_700_000_000_000_000_000
    rows = [
        (0, "move", {"x": 1.0, "y": 1.0}),
        (3_000_000, "marker", {"label": "frame", "value": 12}),  # a caller's marker: not a record
        (8_000_000, "move", {"x": 2.0, "y": 2.0}),
        (5_000_000, "marker", {"label": "hidpack:clock", "value": anchor + 5_000_000 + 10**10}),
        (6_000_000, "marker", {"label": "hidpack:clock"}),  # no value: not a record
        (9_000_000, "move", {"x": 3.0, "y": 3.0}),
    ]
    hidpack.write_table(path, rows_table(rows), wall_clock_ns=anchor)
    rec = hidpack.open(path)
    t, wall = rec.clock()
    assert t.tolist() == [0, 5_000_000] and wall.tolist() == [anchor, anchor + 5_000_000 + 10**10]
    assert rec.wall_t(rec.moves().t).tolist() == [anchor, anchor + 8_000_000 + 10**10, anchor + 9_000_000 + 10**10]
    later = rec.between(7_000_000, None)  # a window after the record still uses it
    assert later.wall_t(later.moves().t).tolist() == [anchor + 8_000_000 + 10**10, anchor + 9_000_000 + 10**10]
    assert rec.wall_t(4_000_000) == anchor + 4_000_000
    # as a column, after t: UTC timestamps in Arrow, pandas (the same frame as Arrow's) and polars
    want = list(pd.to_datetime(rec.wall_t(rec.moves().t), utc=True))
    for kind in ("move", None):
        at = rec.to_arrow(kind, wall_time=True)
        assert at.column_names[:2] == ["t", "wall_t"] and str(at.schema.field("wall_t").type) == "timestamp[ns, tz=UTC]"
        df = rec.to_pandas(kind, wall_time=True)
        pd.testing.assert_frame_equal(df, via_arrow(at), check_exact=True)
        assert_polars_equal(rec.to_polars(kind, wall_time=True), pl.from_arrow(at))
    assert rec.to_pandas("move", wall_time=True)["wall_t"].tolist() == want
    assert "wall_t" not in rec.to_pandas("move")
    # no anchor: the first record holds for earlier times too; no clock at all: an error
    hidpack.write_table(path, rows_table(rows), overwrite=True)
    assert hidpack.open(path).wall_t([0, 8_000_000]).tolist() == [anchor + 10**10, anchor + 8_000_000 + 10**10]
    hidpack.write_table(path, rows_table(rows[:3]), overwrite=True)
    with pytest.raises(ValueError, match="c.hpk: the recording has no wall clock"):
        hidpack.open(path).wall_t(0)


def test_to_polars_kind_column(rec):
    pf = rec.to_polars()
    assert pf.height == len(ROWS)
    assert pf["kind"].cast(pl.String).to_list() == [r[1] for r in ROWS]
    assert pf["t"].dtype == pl.Int64


@pytest.mark.parametrize(
    "module, method, extra",
    [
        ("pyarrow", "to_arrow", "arrow"),
        ("pandas", "to_pandas", "pandas"),
        ("pyarrow", "to_pandas", "pandas"),
        ("polars", "to_polars", "polars"),
    ],
)
def test_missing_extra_names_it(rec, monkeypatch, module, method, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"requires {module}: pip install 'hidpack\[{extra}\]'"):
        getattr(rec, method)()


def test_frames_write_back_identically(rec, tmp_path):
    original = rec.table()
    sources = {
        "arrow": rec.to_arrow(),
        "pandas": rec.to_pandas(),
        "polars": rec.to_polars(),
        "native": original,
    }
    for label, source in sources.items():
        out = str(tmp_path / f"{label}.hpk")
        hidpack.write_table(out, source)
        assert_native_equals_rows(hidpack.open(out).table(), ROWS)
    # per-kind Columns and frames carry their kind implicitly / explicitly
    out = str(tmp_path / "moves.hpk")
    hidpack.write_table(out, rec.moves())
    assert_native_equals_rows(hidpack.open(out).table(), [r for r in ROWS if r[1] == "move"])
    out = str(tmp_path / "focus.hpk")
    df = rec.to_pandas("focus").assign(kind="focus")
    hidpack.write_table(out, df)
    assert_native_equals_rows(hidpack.open(out).table(), [r for r in ROWS if r[1] == "focus"])


def test_writer_appends_and_flushes(path):
    with hidpack.Writer(path, metadata={"k": 1}, block_events=1000) as w:
        w.write(rows_table(ROWS[:3]))
        w.flush()
        w.write({"t": [10_000, 10_001], "kind": "text", "text": ["a", "b"]})
        assert not w.closed
    assert w.closed
    summary = w.close()  # idempotent
    assert summary["events"] == 5 and summary["blocks"] == 2
    assert summary["bytes"] == os.path.getsize(path)
    r = hidpack.open(path)
    assert r.metadata == {"k": 1}
    assert [b["events"] for b in r.blocks()] == [3, 2]
    assert r.texts().text.tolist() == ["a", "b"]


def test_metadata_must_be_json_serialisable(path):
    for bad in ({"a": object()}, {"a": float("nan")}, ["not", "a", "dict"]):
        with pytest.raises(TypeError, match="metadata"):
            hidpack.write_table(path, rows_table(ROWS), metadata=bad)
        assert not os.path.exists(path)


def test_values_the_format_cannot_store_raise_event_value_error(path):
    with pytest.raises(hidpack.EventValueError):
        hidpack.write_table(path, {"t": [0, 1], "kind": "move", "x": [1.0, 0.1], "y": [0.0, 0.0]})
    assert not os.path.exists(path)  # no half-written file left behind
    with pytest.raises(hidpack.EventValueError) as e:  # required field absent
        hidpack.write_table(path, {"t": [5, 6], "kind": ["move", "gap"], "x": [0.0, None], "y": [0.0, None],
                                   "count": [None, 1]})
    assert (e.value.row, e.value.field) == (1, "reason")
    with pytest.raises(hidpack.EventValueError) as e:  # the native check, on the native form
        hidpack.write_table(path, {"t": np.array([0, 1]), "kind": np.array([0, 0], np.uint8),
                                   "x": np.array([1.0, 2.0]), "x_valid": np.array([True, True]),
                                   "y": np.array([1.0, 2.5]), "y_valid": np.array([True, False])})
    assert (e.value.row, e.value.field) == (1, "y")
    with pytest.raises(hidpack.EventValueError) as e:
        hidpack.write_table(path, {"t": [0, 1], "kind": "move", "x": [1.0, 0.1], "y": [0.0, 0.0]})
    assert (e.value.row, e.value.field, e.value.value) == (1, "x", "0.1")
    with pytest.raises(hidpack.EventValueError):
        with hidpack.Writer(path) as w:
            w.write({"t": [0], "kind": "move", "x": [float("inf")], "y": [0.0]})


@pytest.mark.parametrize(
    "kind, field, value",
    [
        ("button", "button", 256), ("button", "button", -1), ("key", "usage", 65536), ("key", "native", 2**32),
        ("move", "buttons", 2**32), ("move", "buttons", -1), ("focus", "left", 2**31), ("focus", "bottom", -(2**31) - 1),
        ("gap", "count", -1), ("gap", "reason", 256),
    ],
)
def test_integers_out_of_field_range_raise(path, kind, field, value):
    row = {"move": {"x": 0.0, "y": 0.0}, "button": {"button": 1, "pressed": True}, "key": {"pressed": True},
           "focus": {}, "gap": {"count": 1, "reason": 1}}[kind]
    row = {**row, field: value}
    with pytest.raises(hidpack.EventValueError, match=field):
        hidpack.write_table(path, rows_table([(0, kind, row)]))
    row[field] = {256: 255, -1: 0, 65536: 65535, 2**32: 2**32 - 1, 2**31: 2**31 - 1,
                  -(2**31) - 1: -(2**31)}[value]
    hidpack.write_table(path, rows_table([(0, kind, row)]))
    assert hidpack.open(path).table()[field].tolist() == [row[field]]


def test_opening_something_else_raises_format_error(tmp_path):
    p = tmp_path / "not.hpk"
    p.write_bytes(b"this is not a hidpack file at all" * 10)
    with pytest.raises(hidpack.FormatError):
        hidpack.open(p)


def test_to_pandas_time_as_timedelta_or_datetime(tmp_path):
    """t as a duration or as the wall time (across a clock record, as wall_t), in pandas, Arrow
    and polars; refused, naming the file, when the recording has no wall clock."""
    path = str(tmp_path / "w.hpk")
    anchor = 1_700_000_000_000_000_000
    rows = [
        (0, "move", {"x": 1.0, "y": 1.0}),
        (5_000_000, "marker", {"label": "hidpack:clock", "value": anchor + 5_000_000 + 10**10}),
        (8_000_000, "move", {"x": 2.0, "y": 2.0}),
    ]
    hidpack.write_table(path, rows_table(rows), wall_clock_ns=anchor)
    rec = hidpack.open(path)
    for kind in ("move", None):
        t = rec.table(kinds=kind)["t"]
        df = rec.to_pandas(kind, time="timedelta")
        assert df["t"].dtype == "timedelta64[ns]" and df["t"].to_numpy().view(np.int64).tolist() == t.tolist()
        df = rec.to_pandas(kind, time="datetime")
        assert str(df["t"].dtype) == "datetime64[ns, UTC]"
        assert df["t"].dt.tz_convert(None).to_numpy().view(np.int64).tolist() == rec.wall_t(t).tolist()
        at = rec.to_arrow(kind, time="datetime", wall_time=True)
        assert at.schema.field("t").type == pa.timestamp("ns", tz="UTC") and at.column("t").equals(at.column("wall_t"))
        assert rec.to_arrow(kind, time="timedelta").schema.field("t").type == pa.duration("ns")
        assert rec.to_polars(kind, time="timedelta")["t"].dtype == pl.Duration("ns")
    assert rec.to_pandas("move", time="datetime")["t"].tolist() == list(pd.to_datetime([anchor, anchor + 8_000_000 + 10**10], utc=True))
    with pytest.raises(ValueError, match="time must be 'ns', 'timedelta' or 'datetime'"):
        rec.to_pandas(time="datetime64")
    hidpack.write_table(path, rows_table(rows[:1]), overwrite=True)
    bare = hidpack.open(path)
    with pytest.raises(ValueError, match="w.hpk: the recording has no wall clock.*no time='datetime'"):
        bare.to_pandas(time="datetime")
    assert bare.to_pandas(time="timedelta")["t"].tolist() == [pd.Timedelta(0)]


# --- narrow reads (one kind's own columns) and the wide table's columns (issue 15) -----------


@pytest.mark.parametrize("window", [(None, None), (2_000, 8_001), (3_000, 3_001)])
def test_each_kind_reads_narrow_and_equals_the_wide_rows_of_that_kind(rec, window):
    view = rec.between(*window)
    wide = view.table(columns=FIELD_NAMES)
    for kind in KINDS:
        rows = wide["kind"] == KIND_CODES[kind]
        narrow = rec._reader.read_kind(kind, t0=window[0], t1=window[1], blocks=None, threads=2)
        assert "kind" not in narrow and narrow["t"].tolist() == wide["t"][rows].tolist(), kind
        for name, typ, required in kind_fields(kind):
            valid = wide[name + "_valid"][rows]
            if typ == "str":
                got = decode_strings(narrow[name + "_offsets"], narrow[name + "_data"], narrow.get(name + "_valid"))
                want = decode_strings(wide[name + "_offsets"], wide[name + "_data"], wide[name + "_valid"])[rows]
                assert got.tolist() == want.tolist(), (kind, name)
            else:
                assert narrow[name].dtype == wide[name].dtype, (kind, name)
                assert narrow[name][valid].tolist() == wide[name][rows][valid].tolist(), (kind, name)
            # a validity only where some value is absent; none for a required field
            assert (name + "_valid" in narrow) == (not valid.all()), (kind, name)
            if name + "_valid" in narrow:
                assert not required and narrow[name + "_valid"].tolist() == valid.tolist(), (kind, name)
        # the accessors are the narrow read
        cols = view.columns(kind)
        assert cols.t.tolist() == narrow["t"].tolist()
        assert_columns_equal_rows(cols, [r for r in ROWS if (window[0] is None or window[0] <= r[0] < window[1])], kind)


def test_an_optional_field_every_row_holds_has_no_mask(path):
    rows = [(i, "move", {"x": float(i), "y": 1.0, "buttons": i % 3}) for i in range(100)]
    rows += [(100 + i, "key", {"pressed": i % 2 == 0, "usage": 4 + i, "native": 30 + i}) for i in range(10)]
    hidpack.write_table(path, rows_table(rows), block_events=16)
    rec = hidpack.open(path)
    moves = rec.moves()
    assert moves.buttons.mask is np.ma.nomask and moves.buttons.tolist() == [i % 3 for i in range(100)]
    assert type(moves.x) is np.ndarray and moves.x.tolist() == [float(i) for i in range(100)]
    narrow = rec._reader.read_kind("key")
    assert sorted(narrow) == ["native", "pressed", "t", "usage"]  # no validity at all
    df = rec.to_pandas(kind="key")
    assert list(df.columns) == ["t", "pressed", "usage", "native"]
    assert df["usage"].tolist() == [4 + i for i in range(10)] and not df["usage"].isna().any()
    # only some columns, in the kind's order
    assert list(rec.columns("move", columns=["buttons", "x"])) == ["t", "x", "buttons"]
    assert list(rec._reader.read_kind("move", fields=["y"])) == ["t", "y"]


def test_the_wide_table_keeps_only_the_fields_that_hold_data(path):
    # moves without buttons, keys with a usage only: x, y, pressed, usage hold data
    rows = [(0, "move", {"x": 1.0, "y": 2.0}), (1, "key", {"pressed": True, "usage": 4}),
            (2, "move", {"x": 3.0, "y": 4.0}), (3, "key", {"pressed": False, "usage": 4})]
    hidpack.write_table(path, rows_table(rows))
    rec = hidpack.open(path)
    held = ["x", "y", "pressed", "usage"]
    assert set(rec.table()) == {"t", "kind"} | {n for f in held for n in (f, f + "_valid")}
    assert list(rec.to_pandas().columns) == ["t", "kind", *held]
    assert rec.to_arrow().column_names == ["t", "kind", *held]
    assert rec.to_polars().columns == ["t", "kind", *held]
    # kinds=: the rows of those kinds, the fields of those kinds that they hold
    assert list(rec.to_pandas(kinds=["move"]).columns) == ["t", "kind", "x", "y"]
    assert rec.to_arrow(kinds="key").column_names == ["t", "kind", "pressed", "usage"]
    assert rec.to_polars(kinds="key")["usage"].to_list() == [4, 4]
    # columns=: these fields, whatever they hold (an all-null column when nothing)
    df = rec.to_pandas(columns=["buttons", "x"])
    assert list(df.columns) == ["t", "kind", "x", "buttons"] and df["buttons"].isna().all()
    assert set(rec.table(columns=["native"])) == {"t", "kind", "native", "native_valid"}
    assert rec.to_arrow(columns=["text"]).column("text").null_count == 4
    # a named field no selected kind has is left out, as the native reader leaves it out
    assert list(rec.to_pandas(kinds="key", columns=["x", "usage"]).columns) == ["t", "kind", "usage"]
    # the old name still works
    assert list(rec.to_pandas(fields=["y"]).columns) == ["t", "kind", "y"]
    # kind=: the kind's own columns, every one of its fields
    assert list(rec.to_pandas(kind="move").columns) == ["t", "x", "y", "buttons"]


def test_narrow_frames_equal_the_wide_frames_rows_of_that_kind(rec):
    wide = rec.to_pandas(columns=FIELD_NAMES)
    for kind in KINDS:
        narrow = rec.to_pandas(kind=kind)
        rows = wide[wide["kind"] == kind].reset_index(drop=True)
        for name in narrow.columns:
            a, b = narrow[name], rows[name]
            assert a.isna().tolist() == b.isna().tolist(), (kind, name)
            assert a[a.notna()].tolist() == b[b.notna()].tolist(), (kind, name)
        assert rec.to_arrow(kind=kind).to_pandas()["t"].tolist() == narrow["t"].tolist()
        assert rec.to_polars(kind=kind).columns == list(narrow.columns)


def test_kinds_and_columns_are_checked_with_clear_errors(rec):
    with pytest.raises(TypeError, match="kind= .* or kinds="):
        rec.to_pandas(kind="move", kinds=["key"])
    with pytest.raises(TypeError, match="columns= or fields="):
        rec.to_arrow(columns=["x"], fields=["x"])
    with pytest.raises(ValueError, match="unknown field `nope`"):
        rec.to_pandas(columns=["x", "nope"])
    with pytest.raises(ValueError, match="unknown kind 'mouse'"):
        rec.to_polars(kinds=["mouse"])
    with pytest.raises(ValueError, match="'move' events have no field 'usage'; their fields are x, y, buttons"):
        rec.to_pandas(kind="move", columns=["usage"])
    with pytest.raises(ValueError, match="'key' events have no field 'x'"):
        rec.columns("key", columns=["x"])
    with pytest.raises(ValueError, match="move events have no field `usage`; their fields are x, y, buttons"):
        rec._reader.read_kind("move", fields=["usage"])
    with pytest.raises(ValueError, match="no kind has a field, `z`"):
        rec._reader.read_kind("move", fields=["z"])
    with pytest.raises(ValueError, match="unknown kind `mouse`; kinds are move, raw_move"):
        rec._reader.read_kind("mouse")
    with pytest.raises(ValueError, match="block 99 does not exist"):
        rec._reader.read_kind("move", blocks=[99])
