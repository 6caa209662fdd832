"""Property tests: whatever the format can store comes back exactly, in push order, from any
number of blocks; whatever it cannot store is refused with EventValueError."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hidpack
from hidpack._table import FIELDS, KIND_CODES, KINDS, decode_strings, kind_fields

FIELD_NAMES = [name for name, _, _, _ in FIELDS]
FIELD_TYPE = {name: typ for name, typ, _, _ in FIELDS}

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
COORD_MAX = 2**37  # px; stored in units of 1/65536 px

i64 = st.integers(I64_MIN, I64_MAX)
timestamps = st.one_of(
    i64,
    st.integers(-3, 3),  # many equal and decreasing values
    st.sampled_from([I64_MIN, I64_MIN + 1, I64_MAX - 1, I64_MAX, 0]),
)
# every value on the 1/65536 grid with |v| <= 2^37, extremes included
coords = st.one_of(
    st.integers(-(2**53), 2**53),
    st.sampled_from([-(2**53), 2**53, 1, -1, 0, 2**53 - 1]),
    st.integers(-(2**20), 2**20).map(lambda v: v * 65536),  # whole pixels
).map(lambda units: units / 65536)
u8, u16, u32 = st.integers(0, 255), st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
strings = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=16),
    st.sampled_from(["", "\x00", "a\x00b", "🙂", "👩‍💻 ünïcødé", "日本語", "\U0010ffff"]),
)

FIELD_VALUES = {
    "move": ({"x": coords, "y": coords}, {"buttons": u32}),
    "raw_move": ({"dx": coords, "dy": coords}, {}),
    "button": ({"button": u8, "pressed": st.booleans()}, {}),
    "scroll": ({"dx": coords, "dy": coords}, {}),
    "key": ({"pressed": st.booleans()}, {"usage": u16, "native": u32}),
    "text": ({"text": strings}, {}),
    "focus": ({}, {"app": strings, "title": strings, "window": i64, "left": i32, "top": i32,
                   "right": i32, "bottom": i32}),
    "marker": ({"label": strings}, {"value": i64}),
    "gap": ({"count": st.integers(0, I64_MAX), "reason": u8}, {"t_end": i64}),
}
# the position of a button / scroll is optional as a pair: x and y are present or absent together
position = st.one_of(st.just({}), st.fixed_dictionaries({"x": coords, "y": coords}))
PAIRED = ("button", "scroll")


def _event(kind, req, opt):
    fields = st.fixed_dictionaries(req, optional=opt)
    if kind in PAIRED:
        fields = st.builds(lambda f, pos: {**f, **pos}, fields, position)
    return st.tuples(timestamps, st.just(kind), fields)


events = st.one_of([_event(kind, req, opt) for kind, (req, opt) in FIELD_VALUES.items()])


def rows_table(rows):
    table = {"t": [t for t, _, _ in rows], "kind": [k for _, k, _ in rows]}
    for name in FIELD_NAMES:
        table[name] = [f.get(name) for _, _, f in rows]
    return table


def assert_native_equals_rows(table, rows):
    assert table["t"].tolist() == [t for t, _, _ in rows]
    assert table["kind"].tolist() == [KIND_CODES[k] for _, k, _ in rows]
    for name in FIELD_NAMES:
        expected = [f.get(name) for _, _, f in rows]
        if (name + "_offsets" if FIELD_TYPE[name] == "str" else name) not in table:
            assert all(v is None for v in expected), name
            continue
        if FIELD_TYPE[name] == "str":
            got = decode_strings(table[name + "_offsets"], table[name + "_data"], table[name + "_valid"])
            assert got.tolist() == expected, name
        else:
            valid = table[name + "_valid"].tolist()
            got = [v if ok else None for v, ok in zip(table[name].tolist(), valid)]
            assert got == expected, name


def assert_columns_equal_rows(cols, rows, kind):
    sel = [r for r in rows if r[1] == kind]
    assert cols.t.tolist() == [t for t, _, _ in sel]
    for name, _, _ in kind_fields(kind):
        assert cols[name].tolist() == [f.get(name) for _, _, f in sel], name


def _write(d, rows, **kw):
    path = os.path.join(d, "h.hpk")
    summary = hidpack.write_table(path, rows_table(rows), **kw)
    return path, summary


EXTREMES = [
    (I64_MAX, "move", {"x": float(COORD_MAX), "y": -float(COORD_MAX), "buttons": 2**32 - 1}),
    (I64_MIN, "raw_move", {"dx": -float(COORD_MAX), "dy": 1 / 65536}),
    (I64_MIN, "raw_move", {"dx": float(COORD_MAX), "dy": -1 / 65536}),
    (I64_MAX, "gap", {"count": I64_MAX, "reason": 255, "t_end": I64_MIN}),
    (0, "marker", {"label": "\x00", "value": I64_MIN}),
    (0, "text", {"text": ""}),
    (-1, "focus", {"title": "🙂" * 40, "window": I64_MAX, "left": -(2**31), "bottom": 2**31 - 1}),
    (-1, "key", {"pressed": False, "usage": 65535, "native": 0}),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(events, max_size=60), block_events=st.integers(1, 7))
@example(rows=EXTREMES, block_events=1)
@example(rows=EXTREMES, block_events=3)
def test_everything_storable_roundtrips(rows, block_events):
    with tempfile.TemporaryDirectory() as d:
        path, summary = _write(d, rows, block_events=block_events)
        assert summary["events"] == len(rows)
        rec = hidpack.open(path)
        assert len(rec) == len(rows)
        assert_native_equals_rows(rec.table(), rows)
        for kind in KINDS:
            assert_columns_equal_rows(rec.columns(kind), rows, kind)

        # blocks close every block_events events; each block's summary describes its rows
        blocks = rec.blocks()
        assert len(blocks) == math.ceil(len(rows) / block_events) == summary["blocks"]
        for i, b in enumerate(blocks):
            chunk = rows[i * block_events:(i + 1) * block_events]
            assert b["events"] == len(chunk)
            assert b["t_min"] == min(t for t, _, _ in chunk)
            assert b["t_max"] == max(t for t, _, _ in chunk)
            counts = {k: n for k, n in b["counts"].items() if n}
            assert counts == {k: sum(1 for r in chunk if r[1] == k) for k in KINDS if any(r[1] == k for r in chunk)}
        assert [len(v) for v in rec] == [b["events"] for b in blocks]
        assert rec.verify()["ok"] is True
        assert rec.problems == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(events, max_size=40),
    block_events=st.integers(1, 6),
    t0=st.none() | timestamps | st.sampled_from([-(2**64), 2**64]),
    t1=st.none() | timestamps | st.sampled_from([-(2**64), 2**64]),
)
def test_between_is_a_filter_in_push_order(rows, block_events, t0, t1):
    with tempfile.TemporaryDirectory() as d:
        path, _ = _write(d, rows, block_events=block_events)
        view = hidpack.open(path).between(t0, t1)
        expected = [r for r in rows if (t0 is None or r[0] >= t0) and (t1 is None or r[0] < t1)]
        assert_native_equals_rows(view.table(), expected)
        assert len(view) == len(expected)
        for kind in ("move", "focus", "gap"):
            assert_columns_equal_rows(view.columns(kind), expected, kind)


def _on_grid_in_range(v: float) -> bool:
    return math.isfinite(v) and (v * 65536).is_integer() and abs(v) <= COORD_MAX


BASE = {
    "move": {"x": 0.0, "y": 0.0},
    "raw_move": {"dx": 0.0, "dy": 0.0},
    "button": {"button": 1, "pressed": True},
    "scroll": {"dx": 0.0, "dy": 0.0},
}
COORD_FIELDS = [("move", "x"), ("move", "y"), ("raw_move", "dx"), ("scroll", "dy"), ("scroll", "x"),
                ("button", "y")]


@settings(max_examples=200, deadline=None)
@given(
    value=st.one_of(
        st.floats(allow_nan=False).filter(lambda v: not _on_grid_in_range(v)),
        st.sampled_from([0.1, 1 / 3, 2.0**-17, COORD_MAX + 2.0**-15, -COORD_MAX - 2.0**-15, 2.0**38,
                         float("inf"), float("-inf"), 1e300]),
    ),
    where=st.sampled_from(COORD_FIELDS),
    before=st.integers(0, 3),
)
def test_unstorable_coordinates_raise_event_value_error(value, where, before):
    kind, field = where
    rows = [(i, "move", {"x": 1.0, "y": 1.0}) for i in range(before)]
    fields = {**BASE[kind], field: value}
    if kind in PAIRED and field in ("x", "y"):  # give the other half of the position
        fields.setdefault("y" if field == "x" else "x", 0.0)
    rows.append((before, kind, fields))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad.hpk")
        with pytest.raises(hidpack.EventValueError, match=rf"row {before}\b.*field\W+{field}\W"):
            hidpack.write_table(path, rows_table(rows))
        assert not os.path.exists(path)


@pytest.mark.parametrize("kind, field", [("move", "x"), ("move", "y"), ("raw_move", "dx"), ("scroll", "dy")])
def test_nan_in_a_required_coordinate_raises(tmp_path, kind, field):
    table = rows_table([(0, kind, BASE[kind])])
    table[field] = np.array([np.nan])
    with pytest.raises(hidpack.EventValueError, match=rf"row 0\b.*field\W+{field}\W"):
        hidpack.write_table(str(tmp_path / "n.hpk"), table)


def test_nan_in_an_optional_coordinate_means_absent(tmp_path):
    path = str(tmp_path / "n.hpk")
    hidpack.write_table(path, {"t": [0, 1], "kind": "button", "button": [1, 2], "pressed": [True, False],
                               "x": np.array([np.nan, 4.5]), "y": np.array([np.nan, 1.0])})
    b = hidpack.open(path).buttons()
    assert b.x.tolist() == [None, 4.5] and b.y.tolist() == [None, 1.0]


@pytest.mark.parametrize("kind", PAIRED)
@pytest.mark.parametrize("given_field", ["x", "y"])
def test_half_a_position_is_refused_naming_the_batch_row(tmp_path, kind, given_field):
    # hidpack-core stores the optional position of a button/scroll as a pair
    rows = [(0, "move", {"x": 1.0, "y": 1.0}), (1, "key", {"pressed": True}),
            (2, kind, {**BASE[kind], given_field: 3.0})]
    with pytest.raises(hidpack.EventValueError, match=r"row 2\b.*field\W+[xy]\W"):
        hidpack.write_table(str(tmp_path / "p.hpk"), rows_table(rows))


@pytest.mark.parametrize("value", [float(COORD_MAX), -float(COORD_MAX), COORD_MAX - 1 / 65536, 1 / 256, 2.0**-16])
def test_grid_values_at_the_limit_are_exact(tmp_path, value):
    path = str(tmp_path / "g.hpk")
    hidpack.write_table(path, {"t": [0], "kind": "move", "x": [value], "y": [-value]})
    m = hidpack.open(path).moves()
    assert m.x.tolist() == [value] and m.y.tolist() == [-value]
