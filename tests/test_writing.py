"""hidpack.writing: tables already in native form skip the Python conversion, with the same
results and the same errors as the full conversion (hypothesis over valid and invalid tables)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hidpack
from hidpack import _native, writing
from hidpack._table import FIELDS, KIND_CODES, to_native_table

NUMERIC = [(name, typ, req, opt) for name, typ, req, opt in FIELDS if typ != "str"]
# kinds whose fields are all numeric (text, focus and marker carry strings)
KIND_POOL = [KIND_CODES[k] for k in ("move", "raw_move", "button", "scroll", "key", "gap")]


def full_path(table):
    """What write_table did before the native-form shortcut."""
    return _native.prepare_table(to_native_table(table))


def outcome(prepare, table, path):
    """("ok", file bytes) or ("error", exception type, message)."""
    try:
        prepared = prepare(table)
    except Exception as e:  # noqa: BLE001 - the point is to compare whatever is raised
        return ("error", type(e), str(e))
    w = _native.Writer(path)
    w.write_table(prepared)
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return ("ok", data)


@st.composite
def native_tables(draw):
    """Native-form tables, mostly valid; in some, one kind of fault (a NaN, an off-grid or
    out-of-range value, a missing or stray field, x without y)."""
    n = draw(st.integers(1, 24))
    kinds = draw(st.lists(st.sampled_from(KIND_POOL), min_size=n, max_size=n))
    table = {"t": np.array(draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)), np.int64),
             "kind": np.array(kinds, np.uint8)}
    fault = draw(st.sampled_from(["none"] * 6 + ["nan", "grid", "range", "missing", "stray", "xy", "nan_opt"]))
    shared_valid = None  # x and y share their validity unless the fault is "xy"
    for name, typ, req, opt in NUMERIC:
        uses = np.isin(table["kind"], list(req + opt))
        required = np.isin(table["kind"], list(req))
        if not uses.any():
            if fault == "stray" and draw(st.integers(0, 3)) == 0:
                table[name] = np.zeros(n, {"coord": np.float64, "int": np.int64, "bool": np.bool_}[typ])
                table[name + "_valid"] = np.ones(n, np.bool_)
            continue
        if fault == "missing" and required.any() and draw(st.booleans()):
            continue
        if typ == "coord":
            vals = np.array(draw(st.lists(st.integers(-4000, 4000), min_size=n, max_size=n)), np.float64) / 4
        elif typ == "int":
            vals = np.array(draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), np.int64)
        else:
            vals = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_)
        i = draw(st.integers(0, n - 1))
        if typ == "coord" and fault in ("nan", "nan_opt") and (fault == "nan" or not required[i]):
            vals[i] = np.nan
        if typ == "coord" and fault == "grid":
            vals[i] = 0.1
        if typ == "int" and fault == "range" and draw(st.booleans()):
            vals[i] = draw(st.sampled_from([-2, 300, 70000, 2**40]))
        table[name] = vals
        if draw(st.booleans()) or (name in ("x", "y") and shared_valid is not None):
            if name in ("x", "y") and shared_valid is not None and fault != "xy":
                valid = shared_valid
            else:
                valid = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_) & uses
                valid |= required  # a required field is present ...
                if fault == "missing" and draw(st.booleans()):
                    valid[i] = False  # ... unless the fault takes one away
            if fault == "stray" and draw(st.booleans()):
                valid = valid | ~uses
            table[name + "_valid"] = valid
            if name == "x":
                shared_valid = valid
    return table


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=native_tables())
def test_native_form_shortcut_equals_the_full_conversion(tmp_path, table):
    assert writing._native_form(table) is table
    path = str(tmp_path / "t.hpk")
    assert outcome(writing.prepare, table, path) == outcome(full_path, table, path)


def test_other_forms_take_the_full_conversion():
    n = 3
    base = {"t": np.arange(n, dtype=np.int64), "kind": np.zeros(n, np.uint8),
            "x": np.ones(n), "y": np.ones(n)}
    assert writing._native_form(base) is base
    for change in (
        {"kind": ["move"] * n},  # names
        {"kind": np.zeros(n, np.int64)},  # codes, not uint8
        {"x": np.ones(n, np.float32)},
        {"x": np.arange(n)},  # int coordinates
        {"x": np.ma.masked_array(np.ones(n))},
        {"x": list(np.ones(n))},
        {"x": np.ones(n).astype(">f8")},  # not native byte order
        {"x": np.ones((n, 1))},
        {"text": ["a"] * n},
    ):
        assert writing._native_form({**base, **change}) is None, change
    assert writing._native_form({"t": base["t"]}) is None
    assert writing._native_form([base]) is None


def test_nan_means_absent_through_the_shortcut(tmp_path):
    # a button with NaN for its optional position: the native checks refuse NaN, the full
    # conversion stores the position as absent; write_table gives the latter
    table = {"t": np.array([0, 1], np.int64), "kind": np.array([2, 2], np.uint8),
             "button": np.array([1, 1], np.int64), "pressed": np.array([True, False]),
             "x": np.array([np.nan, 5.0]), "y": np.array([np.nan, 6.0])}
    path = str(tmp_path / "nan.hpk")
    hidpack.write_table(path, table)
    got = hidpack.open(path).table()
    assert got["x_valid"].tolist() == [False, True] and got["y"].tolist() == [0.0, 6.0]


def test_a_prepared_table_is_written_once(tmp_path):
    table = {"t": np.array([0], np.int64), "kind": np.array([0], np.uint8), "x": np.ones(1), "y": np.ones(1)}
    prepared = writing.prepare(table)
    assert len(prepared) == 1
    w = _native.Writer(str(tmp_path / "p.hpk"))
    w.write_table(prepared)
    with pytest.raises(ValueError, match="already written"):
        w.write_table(prepared)
    w.close()
    with pytest.raises(TypeError):
        _native.Writer(str(tmp_path / "q.hpk")).write_table([table])


def test_write_table_still_validates_before_creating_the_file(tmp_path):
    path = tmp_path / "keep.hpk"
    path.write_bytes(b"precious")
    bad = {"t": np.array([0], np.int64), "kind": np.array([2], np.uint8), "button": np.array([999], np.int64),
           "pressed": np.array([True])}
    with pytest.raises(hidpack.EventValueError, match="button"):
        hidpack.write_table(path, bad)
    assert path.read_bytes() == b"precious"


def test_metadata_is_stored_without_insignificant_whitespace(tmp_path):
    # every file carries its metadata: an import's 141 bytes were 9 spaces longer than the JSON needs
    md = {"session": "p1", "source": "a/b.csv.zst", "source_index": 3, "nested": {"k": [1, 2]}, "text": "a, b: ü"}
    p = tmp_path / "m.hpk"
    hidpack.write_table(p, {"t": np.array([0], np.int64), "kind": np.array(["marker"]), "label": ["x"]}, metadata=md)
    raw = p.read_bytes()
    n = int.from_bytes(raw[8 + 33:8 + 37], "little")  # FORMAT §4.2: metadata_len at body offset 33
    assert raw[8 + 37:8 + 37 + n].decode() == '{"session":"p1","source":"a/b.csv.zst","source_index":3,"nested":{"k":[1,2]},"text":"a, b: ü"}'
    assert hidpack.open(p).metadata == md


def _written(path, write):
    w = _native.Writer(path)
    write(w)
    w.close()
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


def _outcome(path, write):
    try:
        return ("ok", _written(path, write))
    except Exception as e:  # noqa: BLE001 - the point is to compare whatever is raised
        return ("error", type(e), str(e))


@pytest.mark.parametrize("rows", [100, (1 << 18) + 5])
def test_prepare_table_from_the_arrays_memory_equals_a_copy(tmp_path, rows):
    """``prepare_table`` builds a table of up to 2^18 rows from the numpy arrays' own memory (the
    GIL held) and a larger one from copies; ``Writer.write_table`` of a dict always copies. Both
    write the same bytes and raise the same errors, with strided (non-contiguous) columns too."""
    rng = np.random.default_rng(rows)
    kind = np.where(rng.random(rows) < 0.9, KIND_CODES["move"], KIND_CODES["button"]).astype(np.uint8)
    is_btn = kind == KIND_CODES["button"]
    wide_x = rng.integers(0, 1920, 2 * rows).astype(np.float64)
    table = {
        "t": np.cumsum(rng.integers(0, 20_000_000, rows)).astype(np.int64),
        "kind": kind,
        "x": wide_x[::2],  # not contiguous
        "y": rng.integers(0, 1080, rows).astype(np.float64),
        "button": np.where(is_btn, 1, 0).astype(np.int64),
        "button_valid": is_btn,
        "pressed": is_btn & (rng.random(rows) < 0.5),
        "pressed_valid": is_btn,
    }
    borrowed = _outcome(str(tmp_path / "a.hpk"), lambda w: w.write_table(_native.prepare_table(table)))
    copied = _outcome(str(tmp_path / "b.hpk"), lambda w: w.write_table(table))
    assert borrowed[0] == "ok" and borrowed == copied
    bad = dict(table, y=table["y"].copy())
    bad["y"][rows - 3] = 0.1  # not a multiple of 2^-16 px
    borrowed = _outcome(str(tmp_path / "c.hpk"), lambda w: w.write_table(_native.prepare_table(bad)))
    copied = _outcome(str(tmp_path / "d.hpk"), lambda w: w.write_table(bad))
    assert borrowed[0] == "error" and borrowed == copied
    assert str(rows - 3) in borrowed[2]


# ---- write_table to a binary file object ---------------------------------------------------------

def _moves(n: int = 3000, seed: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(1, 20_000_000, n))
    x = np.cumsum(rng.integers(-3, 4, n)).astype(np.float64)
    y = np.cumsum(rng.integers(-3, 4, n)).astype(np.float64)
    kind = np.where(rng.random(n) < 0.05, "button", "move")
    button = np.where(kind == "button", 1, 0)
    return {"t": t, "kind": kind, "x": x, "y": y, "button": np.ma.masked_where(kind != "button", button),
            "pressed": np.ma.masked_where(kind != "button", rng.random(n) < 0.5)}


@pytest.mark.parametrize("options", [{}, {"clock_grid": False}, {"binned": False}, {"block_events": 700, "level": 9},
                                     {"metadata": {"user": "ü"}, "wall_clock_ns": 1_700_000_000_000_000_000}])
def test_a_file_object_gets_the_bytes_a_path_gets(tmp_path, options):
    import io

    table = _moves()
    path = tmp_path / "s.hpk"
    on_disk = hidpack.write_table(path, table, **options)
    buf = io.BytesIO()
    in_memory = hidpack.write_table(buf, table, **options)
    assert in_memory == on_disk and in_memory["bytes"] == len(buf.getvalue())
    assert buf.getvalue() == path.read_bytes()
    back = hidpack.open(buf.getvalue())
    assert back.moves()["t"].tolist() == table["t"][table["kind"] == "move"].tolist()


def test_a_file_object_on_an_object_store_reads_back(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    table = _moves(500)
    with fs.open("/bucket/s.hpk", "wb") as f:
        stats = hidpack.write_table(f, table)
    with fs.open("/bucket/s.hpk", "rb") as f:
        r = hidpack.open(f)
        assert len(r.moves()) == int((table["kind"] == "move").sum())
    assert fs.size("/bucket/s.hpk") == stats["bytes"]


def test_a_refused_table_writes_nothing_to_the_file_object():
    import io

    buf = io.BytesIO()
    with pytest.raises(ValueError, match="field 'y' is required on 'move' rows"):
        hidpack.write_table(buf, {"t": [0, 1], "kind": "move", "x": [1.0, 2.0]})  # y missing
    assert buf.getvalue() == b""
    with pytest.raises(ValueError, match="clock_grid=True needs the BINNED"):
        hidpack.write_table(buf, _moves(10), binned=False, clock_grid=True)
    assert buf.getvalue() == b""


def test_what_is_not_a_destination_is_refused_by_name():
    import io

    with pytest.raises(TypeError, match="not int"):
        hidpack.write_table(3, _moves(10))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="StringIO is a text file object; open the file in binary mode"):
        hidpack.write_table(io.StringIO(), _moves(10))
    with pytest.raises(ValueError, match="overwrite=True applies to a path"):
        hidpack.write_table(io.BytesIO(), _moves(10), overwrite=True)
