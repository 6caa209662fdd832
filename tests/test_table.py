"""hidpack._table: user input -> native write form, and native read buffers -> numpy / Arrow.

Pure Python: nothing here needs the native extension.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hidpack import _table
from hidpack._table import (
    FIELDS,
    KINDS,
    Columns,
    arrow_array,
    arrow_string_array,
    columns_from_native,
    decode_strings,
    encode_strings,
    masked,
    to_native_table,
)


def test_kinds_and_fields_mirror_the_contract():
    assert KINDS == ("move", "raw_move", "button", "scroll", "key", "text", "focus", "marker", "gap")
    by_name = {name: (typ, req, opt) for name, typ, req, opt in FIELDS}
    assert len(by_name) == len(FIELDS) == 22
    for typ, req, opt in by_name.values():
        assert typ in ("coord", "int", "bool", "str")
        assert not set(req) & set(opt)
    assert by_name["x"] == ("coord", (0,), (2, 3))
    assert by_name["pressed"] == ("bool", (2, 4), ())
    assert by_name["usage"] == ("int", (), (4,))
    assert by_name["text"] == ("str", (5,), ())
    assert by_name["t_end"] == ("int", (), (8,))
    assert [f for f, _, _ in _table.kind_fields("move")] == ["x", "y", "buttons"]
    assert [f for f, _, r in _table.kind_fields("gap") if r] == ["count", "reason"]


# --------------------------------------------------------------------------------------------
# to_native_table: dicts
# --------------------------------------------------------------------------------------------


def test_dict_with_kind_names_derives_validity_and_zeroes_absent_values():
    out = to_native_table(
        {
            "t": [0, 5, 5, -3],
            "kind": ["move", "button", "key", "move"],
            "x": [1.5, None, None, -2.0],
            "y": np.array([2.0, 7.0, np.nan, 3.0]),  # key row: y unused -> absent anyway
            "buttons": [None, None, None, 3],
            "button": [None, 2, None, None],
            "pressed": [None, True, False, None],
            "usage": [None, None, 4, None],
        }
    )
    assert out["t"].dtype == np.int64 and out["t"].tolist() == [0, 5, 5, -3]
    assert out["kind"].dtype == np.uint8 and out["kind"].tolist() == [0, 2, 4, 0]
    assert out["x"].dtype == np.float64
    assert out["x"].tolist() == [1.5, 0.0, 0.0, -2.0]
    assert out["x_valid"].tolist() == [True, False, False, True]
    assert out["y_valid"].tolist() == [True, True, False, True]
    assert out["y"].tolist() == [2.0, 7.0, 0.0, 3.0]
    assert out["buttons"].dtype == np.int64
    assert out["buttons_valid"].tolist() == [False, False, False, True]
    assert out["button"].tolist() == [0, 2, 0, 0]
    assert out["pressed"].dtype == np.bool_
    assert out["pressed_valid"].tolist() == [False, True, True, False]
    assert out["pressed"].tolist() == [False, True, False, False]
    assert out["usage_valid"].tolist() == [False, False, True, False]
    # fields not given at all are omitted (absent everywhere)
    assert "native" not in out and "native_valid" not in out and "text" not in out


def test_values_on_rows_whose_kind_does_not_use_the_field_are_absent():
    out = to_native_table(
        {"t": [0, 1, 2], "kind": [0, 1, 4], "x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0],
         "dx": [9.0, 4.0, 9.0], "dy": [9.0, 4.0, 9.0], "pressed": [True, True, True]}
    )
    assert out["x_valid"].tolist() == [True, False, False]
    assert out["x"].tolist() == [1.0, 0.0, 0.0]
    assert out["dx_valid"].tolist() == [False, True, False]
    assert out["pressed_valid"].tolist() == [False, False, True]


def test_kind_as_codes_scalar_and_columns():
    a = to_native_table({"t": np.arange(3), "kind": np.array([1, 1, 3], dtype=np.int64),
                         "dx": [1.0, 2.0, 3.0], "dy": [0.0, 0.0, 0.0]})
    assert a["kind"].tolist() == [1, 1, 3]
    b = to_native_table({"t": np.arange(3), "kind": "raw_move", "dx": [1.0, 2.0, 3.0], "dy": [0.0] * 3})
    assert b["kind"].tolist() == [1, 1, 1]
    c = to_native_table({"t": np.arange(2), "kind": np.uint8(7), "label": ["a", "b"]})
    assert c["kind"].tolist() == [7, 7]
    cols = Columns({"t": np.array([4, 5]), "label": np.array(["a", None], dtype=object)}, kind="marker")
    with pytest.raises(ValueError, match="label"):  # required label absent on row 1
        to_native_table(cols)
    cols = Columns({"t": np.array([4, 5]), "label": np.array(["a", "é"], dtype=object),
                    "value": np.ma.MaskedArray([1, 2], mask=[True, False])}, kind="marker")
    d = to_native_table(cols)
    assert d["kind"].tolist() == [7, 7] and d["label"] == ["a", "é"]
    assert d["value_valid"].tolist() == [False, True] and d["value"].tolist() == [0, 2]


def test_masked_arrays_and_nan_mean_absent():
    x = np.ma.MaskedArray([1.0, 2.0, 3.0], mask=[False, True, False])
    out = to_native_table({"t": [0, 1, 2], "kind": "button", "button": [1, 1, 2], "pressed": [1, 0, 1],
                           "x": x, "y": [np.nan, 2.0, 3.0]})
    assert out["x_valid"].tolist() == [True, False, True]
    assert out["y_valid"].tolist() == [False, True, True]
    assert out["pressed"].tolist() == [True, False, True]
    assert not np.isnan(out["y"]).any()


def test_required_field_absent_is_refused_with_row():
    with pytest.raises(ValueError, match=r"row 1: field 'x' is required on 'move'") as e:
        to_native_table({"t": [0, 1], "kind": "move", "x": [1.0, np.nan], "y": [0.0, 0.0]})
    assert (e.value.row, e.value.field, e.value.value) == (1, "x", "absent")
    with pytest.raises(ValueError, match=r"field 'y' is required.*no column 'y'"):
        to_native_table({"t": [0, 1], "kind": "move", "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"row 0: field 'text'"):
        to_native_table({"t": [0], "kind": "text", "text": [None]})
    # a required field absent on rows of kinds that do not need it is fine
    out = to_native_table({"t": [0, 1], "kind": ["move", "focus"], "x": [1.0, None], "y": [2.0, None]})
    assert out["x_valid"].tolist() == [True, False]


def test_explicit_valid_column_is_honoured():
    out = to_native_table({"t": [0, 1, 2], "kind": "move", "x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0],
                           "buttons": np.array([1, 2, 3]), "buttons_valid": np.array([True, False, True])})
    assert out["buttons_valid"].tolist() == [True, False, True]
    assert out["buttons"].tolist() == [1, 0, 3]


def test_unknown_column_names_it_and_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        to_native_table({"t": [0], "kind": "move", "x": [1.0], "y": [1.0], "z": [1.0]})
    msg = str(e.value)
    assert "'z'" in msg
    for name in ("t", "kind", "x", "y", "dx", "buttons", "usage", "label", "t_end"):
        assert name in msg
    with pytest.raises(ValueError, match=r"'buton'.*did you mean 'button'"):
        to_native_table({"t": [0], "kind": "button", "buton": [1]})


def test_length_mismatch_reports_both_lengths():
    with pytest.raises(ValueError, match=r"column 'x' has 2 rows but column 't' has 3"):
        to_native_table({"t": [0, 1, 2], "kind": "move", "x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"'kind' has 1 rows but column 't' has 2"):
        to_native_table({"t": [0, 1], "kind": ["move"]})


def test_unknown_kind_reports_row_index():
    with pytest.raises(ValueError, match=r"row 2: unknown kind 'mouse'.*move, raw_move"):
        to_native_table({"t": [0, 1, 2], "kind": ["move", "move", "mouse"], "x": [0.0] * 3, "y": [0.0] * 3})
    with pytest.raises(ValueError, match=r"row 1: unknown kind 'wheel'"):
        to_native_table({"t": [0, 1], "kind": np.array(["move", "wheel"]), "x": [0.0] * 2, "y": [0.0] * 2})
    with pytest.raises(ValueError, match=r"row 1: unknown kind code 9"):
        to_native_table({"t": [0, 1], "kind": np.array([0, 9], dtype=np.uint8), "x": [0.0] * 2, "y": [0.0] * 2})
    with pytest.raises(ValueError, match=r"unknown kind 'nope'"):
        to_native_table({"t": [0], "kind": "nope"})
    with pytest.raises(ValueError, match=r"missing value at row 1"):
        to_native_table({"t": [0, 1], "kind": ["move", None], "x": [0.0] * 2, "y": [0.0] * 2})


def test_t_and_kind_are_required():
    with pytest.raises(ValueError, match="'t' column"):
        to_native_table({"kind": ["move"], "x": [1.0], "y": [1.0]})
    with pytest.raises(ValueError, match="'kind' column"):
        to_native_table({"t": [0], "x": [1.0], "y": [1.0]})
    with pytest.raises(ValueError, match="'t' has a missing value at row 1"):
        to_native_table({"t": [0, None], "kind": "move", "x": [1.0, 1.0], "y": [1.0, 1.0]})
    with pytest.raises(TypeError, match="expected an event table"):
        to_native_table([1, 2, 3])


def test_integer_conversion_is_exact_or_refused():
    base = {"t": [0, 1], "kind": "marker", "label": ["a", "b"]}
    out = to_native_table({**base, "value": [2**63 - 1, -(2**63)]})
    assert out["value"].tolist() == [2**63 - 1, -(2**63)]
    out = to_native_table({**base, "value": np.array([3.0, np.nan])})
    assert out["value"].tolist() == [3, 0] and out["value_valid"].tolist() == [True, False]
    with pytest.raises(ValueError, match=r"'value', row 1: 2.5"):
        to_native_table({**base, "value": [1.0, 2.5]})
    with pytest.raises(ValueError, match=r"'value', row 0: 9223372036854775808 does not fit"):
        to_native_table({**base, "value": np.array([2**63, 1], dtype=np.uint64)})
    with pytest.raises(ValueError, match=r"does not fit in int64"):
        to_native_table({**base, "value": [2**64, 1]})
    with pytest.raises(TypeError, match=r"'value' holds a str"):
        to_native_table({**base, "value": ["1", 2]})
    with pytest.raises(ValueError, match=r"'t', row 0: inf"):
        to_native_table({**base, "t": [np.inf, 0.0]})


def test_bool_conversion():
    base = {"t": [0, 1, 2], "kind": "key"}
    out = to_native_table({**base, "pressed": np.array([1, 0, 1], dtype=np.int8)})
    assert out["pressed"].tolist() == [True, False, True] and out["pressed_valid"].all()
    with pytest.raises(ValueError, match=r"'pressed', row 2: 2 is not a boolean"):
        to_native_table({**base, "pressed": [1, 0, 2]})


def test_string_columns():
    base = {"t": [0, 1, 2], "kind": "focus"}
    out = to_native_table({**base, "app": np.array(["a", "b", "ü"]), "title": ["", None, "🙂\x00x"]})
    assert out["app"] == ["a", "b", "ü"] and all(type(s) is str for s in out["app"])
    assert out["title"] == ["", None, "🙂\x00x"]
    assert "app_valid" not in out  # strings: None marks absence on write
    with pytest.raises(TypeError, match=r"'title', row 1: expected str or None, got bytes"):
        to_native_table({**base, "title": ["a", b"b", None]})
    with pytest.raises(TypeError, match=r"'app', row 0: expected str or None, got int"):
        to_native_table({**base, "app": [1, "b", None]})


def test_native_read_form_strings_are_accepted():
    offsets, data, valid = encode_strings(["ab", None, "ç"])
    out = to_native_table({"t": [0, 1, 2], "kind": "focus", "app_offsets": offsets, "app_data": data,
                           "app_valid": valid})
    assert out["app"] == ["ab", None, "ç"]
    with pytest.raises(ValueError, match=r"'app_offsets' has 3 entries, expected 3 \+ 1"):
        to_native_table({"t": [0, 1, 2], "kind": "focus", "app_offsets": offsets[:3], "app_data": data})


def test_timedelta_t():
    out = to_native_table({"t": np.array([1, 2], dtype="timedelta64[ms]"), "kind": "marker", "label": ["a", "b"]})
    assert out["t"].tolist() == [1_000_000, 2_000_000]


def test_structured_array_input():
    arr = np.zeros(2, dtype=[("t", "i8"), ("kind", "u1"), ("dx", "f8"), ("dy", "f8")])
    arr["t"] = [5, 6]
    arr["kind"] = 1
    arr["dx"] = [1.0, -1.5]
    out = to_native_table(arr)
    assert out["dx"].tolist() == [1.0, -1.5] and out["dy_valid"].all() and out["kind"].tolist() == [1, 1]


# --------------------------------------------------------------------------------------------
# to_native_table: pandas, pyarrow, polars
# --------------------------------------------------------------------------------------------


EXPECTED_MIXED = {
    "t": [0, 10, 20, 30],
    "kind": [0, 2, 4, 6],
    "x": ([1.0, 0.0, 0.0, 0.0], [True, False, False, False]),
    "button": ([0, 3, 0, 0], [False, True, False, False]),
    "pressed": ([False, True, False, False], [False, True, True, False]),
    "usage": ([0, 0, 0, 0], [False, False, False, False]),
    "app": [None, None, None, "Terminal"],
    "title": [None, None, None, None],
}


def check_mixed(out):
    assert out["t"].tolist() == EXPECTED_MIXED["t"]
    assert out["kind"].tolist() == EXPECTED_MIXED["kind"]
    for name in ("x", "button", "pressed", "usage"):
        values, valid = EXPECTED_MIXED[name]
        assert out[name].tolist() == values, name
        assert out[name + "_valid"].tolist() == valid, name
    assert out["app"] == EXPECTED_MIXED["app"]
    assert out["title"] == EXPECTED_MIXED["title"]


def test_pandas_numpy_dtypes():
    df = pd.DataFrame({
        "t": np.array([0, 10, 20, 30]),
        "kind": ["move", "button", "key", "focus"],
        "x": [1.0, np.nan, np.nan, np.nan],
        "y": [2.0, np.nan, np.nan, np.nan],
        "button": [np.nan, 3.0, np.nan, np.nan],  # ints with NaN become float in pandas
        "pressed": np.array([None, True, False, None], dtype=object),
        "usage": [np.nan] * 4,
        "app": [None, None, None, "Terminal"],
        "title": [np.nan] * 4,
    })
    check_mixed(to_native_table(df))


def test_pandas_nullable_dtypes():
    df = pd.DataFrame({
        "t": pd.array([0, 10, 20, 30], dtype="Int64"),
        "kind": pd.Categorical(["move", "button", "key", "focus"], categories=list(KINDS)),
        "x": pd.array([1.0, None, None, None], dtype="Float64"),
        "y": pd.array([2.0, None, None, None], dtype="Float64"),
        "button": pd.array([None, 3, None, None], dtype="Int64"),
        "pressed": pd.array([None, True, False, None], dtype="boolean"),
        "usage": pd.array([None] * 4, dtype="Int64"),
        "app": pd.array([None, None, None, "Terminal"], dtype="string"),
        "title": pd.array([None] * 4, dtype="string"),
    })
    check_mixed(to_native_table(df))


def _mixed_arrow():
    return pa.table({
        "t": pa.array([0, 10, 20, 30], pa.int64()),
        "kind": pa.array(["move", "button", "key", "focus"]).dictionary_encode(),
        "x": pa.array([1.0, None, None, None]),
        "y": pa.array([2.0, None, None, None]),
        "button": pa.array([None, 3, None, None], pa.int64()),
        "pressed": pa.array([None, True, False, None]),
        "usage": pa.nulls(4, pa.int64()),
        "app": pa.array([None, None, None, "Terminal"], pa.large_string()),
        "title": pa.nulls(4),
    })


def test_pyarrow_table_nulls_mean_absent():
    check_mixed(to_native_table(_mixed_arrow()))


def test_pyarrow_chunked_columns_and_record_batches():
    table = _mixed_arrow()
    chunked = pa.Table.from_batches([table.slice(0, 1).to_batches()[0], table.slice(1).to_batches()[0]])
    assert chunked.column("x").num_chunks == 2
    check_mixed(to_native_table(chunked))
    check_mixed(to_native_table(table.to_batches()[0]))


def test_polars_dataframe():
    check_mixed(to_native_table(pl.from_arrow(_mixed_arrow())))


# --------------------------------------------------------------------------------------------
# read side helpers
# --------------------------------------------------------------------------------------------


def test_masked_shares_values_and_masks_absent():
    values = np.array([1.0, 2.0, 3.0])
    m = masked(values, np.array([True, False, True]))
    assert isinstance(m, np.ma.MaskedArray)
    assert np.shares_memory(m.data, values)
    assert m.mask.tolist() == [False, True, False]
    assert m.compressed().tolist() == [1.0, 3.0]


def test_arrow_array_is_zero_copy_with_nulls():
    values = np.array([1.5, 0.0, -2.0])
    arr = arrow_array(values, np.array([True, False, True]))
    assert arr.type == pa.float64()
    assert arr.to_pylist() == [1.5, None, -2.0]
    assert arr.buffers()[1].address == values.ctypes.data
    ints = np.array([2**63 - 1, 0], dtype=np.int64)
    a2 = arrow_array(ints, np.array([True, True]))
    assert a2.null_count == 0 and a2.buffers()[0] is None
    assert a2.to_pylist() == [2**63 - 1, 0]
    assert a2.buffers()[1].address == ints.ctypes.data
    b = arrow_array(np.array([True, False, True, True, False, False, True, False, True]),
                    np.array([True] * 8 + [False]))
    assert b.type == pa.bool_()
    assert b.to_pylist() == [True, False, True, True, False, False, True, False, None]


def test_arrow_string_array_is_zero_copy():
    offsets, data, valid = encode_strings(["héllo", None, "", "🙂\x00"])
    arr = arrow_string_array(offsets, data, valid)
    assert arr.type == pa.large_string()
    assert arr.to_pylist() == ["héllo", None, "", "🙂\x00"]
    assert arr.buffers()[1].address == offsets.ctypes.data
    assert arr.buffers()[2].address == data.ctypes.data
    small = arrow_string_array(offsets.astype(np.int32), data, None)
    assert small.type == pa.string()
    assert small.to_pylist() == ["héllo", "", "", "🙂\x00"]


def test_decode_strings():
    offsets, data, valid = encode_strings(["ab", None, "", "c"])
    out = decode_strings(offsets, data, valid)
    assert out.dtype == object and out.tolist() == ["ab", None, "", "c"]
    offsets, data, valid = encode_strings(["日本", "x", None])
    assert decode_strings(offsets, data, valid).tolist() == ["日本", "x", None]
    assert decode_strings(np.zeros(1, np.int64), np.zeros(0, np.uint8)).tolist() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.text(max_size=12), max_size=30))
def test_string_buffers_roundtrip(values):
    offsets, data, valid = encode_strings(values)
    assert offsets.dtype == np.int64 and len(offsets) == len(values) + 1
    assert decode_strings(offsets, data, valid).tolist() == values
    assert arrow_string_array(offsets, data, valid).to_pylist() == values
    assert to_native_table({"t": np.zeros(len(values), np.int64), "kind": "focus", "app_offsets": offsets,
                            "app_data": data, "app_valid": valid})["app"] == values


def test_columns_behaves_like_a_frame_and_decodes_strings_lazily():
    calls = []
    offsets, data, valid = encode_strings(["a", None])

    def decode():
        calls.append(1)
        return decode_strings(offsets, data, valid)

    cols = Columns({"t": np.array([1, 2])}, kind="focus", lazy={"app": decode}, order=["t", "app"])
    assert len(cols) == 2 and list(cols) == ["t", "app"] and "app" in cols and "x" not in cols
    assert cols.kind == "focus"
    assert cols.t.tolist() == [1, 2]
    assert calls == []
    assert cols.app.tolist() == ["a", None]
    assert cols["app"].tolist() == ["a", None]
    assert calls == [1]  # decoded once, then cached
    assert "rows=2" in repr(cols) and "focus" in repr(cols)
    with pytest.raises(AttributeError, match="no column 'x'"):
        cols.x
    with pytest.raises(KeyError):
        cols["x"]
    with pytest.raises(ValueError, match="3 rows, expected 2"):
        Columns({"t": np.array([1, 2]), "x": np.array([1, 2, 3])})


def test_columns_from_native_table():
    offsets, data, valid = encode_strings(["f", None])
    native = {
        "t": np.array([3, 4]), "kind": np.array([6, 6], np.uint8),
        "app_offsets": offsets, "app_data": data, "app_valid": valid,
        "window": np.array([7, 0]), "window_valid": np.array([True, False]),
    }
    cols = columns_from_native(native, "focus")
    assert cols.columns == ("t", "app", "title", "window", "left", "top", "right", "bottom")
    assert cols.app.tolist() == ["f", None]
    assert cols.title.tolist() == [None, None]
    assert isinstance(cols.window, np.ma.MaskedArray) and cols.window.tolist() == [7, None]
    assert cols.left.mask.all()  # missing from the native table: absent everywhere

    native = {"t": np.array([1]), "kind": np.array([0], np.uint8), "x": np.array([1.5]),
              "x_valid": np.array([True]), "y": np.array([2.0]), "y_valid": np.array([True]),
              "buttons": np.array([0]), "buttons_valid": np.array([False])}
    moves = columns_from_native(native, "move")
    assert type(moves.x) is np.ndarray and moves.x.tolist() == [1.5]
    assert isinstance(moves.buttons, np.ma.MaskedArray) and moves.buttons.mask.tolist() == [True]


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"thing\(\) requires pyarrow: pip install 'hidpack\[arrow\]'"):
        _table.require("pyarrow", "arrow", "thing()")
    with pytest.raises(ImportError, match=r"requires pyarrow: pip install 'hidpack\[arrow\]'"):
        arrow_array(np.zeros(2))


def test_columns_from_a_narrow_read():
    # a narrow read: no kind column, no validity where every row holds a value
    native = {"t": np.array([1, 2]), "x": np.array([1.5, 2.5]), "y": np.array([0.0, 1.0]), "buttons": np.array([1, 0])}
    moves = columns_from_native(native, "move")
    assert moves.columns == ("t", "x", "y", "buttons")
    assert moves.buttons.mask is np.ma.nomask and moves.buttons.tolist() == [1, 0]
    only = columns_from_native({"t": np.array([1]), "y": np.array([2.0])}, "move", ["y"])
    assert only.columns == ("t", "y") and only.y.tolist() == [2.0]


def test_fields_holding_data_and_wide_columns():
    table = {"t": np.zeros(2), "kind": np.zeros(2, np.uint8), "x": np.zeros(2), "x_valid": np.ones(2, bool),
             "usage": np.zeros(2, np.int64), "usage_valid": np.ones(2, bool),
             "text_offsets": np.zeros(3, np.int64), "text_data": np.zeros(0, np.uint8), "text_valid": np.ones(2, bool)}
    assert _table.fields_holding_data(table) == ["x", "usage", "text"]
    assert _table.fields_holding_data(table, ["key"]) == ["usage"]
    assert _table.wide_columns(["usage", "x"], ["move"], "f()") == ["x"]
    assert _table.wide_columns(["usage", "x"], None, "f()") == ["usage", "x"]
    with pytest.raises(ValueError, match=r"f\(\): unknown field `usag` \(did you mean 'usage'\?\)"):
        _table.wide_columns(["usag"], None, "f()")
    with pytest.raises(ValueError, match="'move' events have no field 'usage'; their fields are x, y, buttons"):
        _table.check_kind_columns(["x", "usage"], "move", "f()")


def test_take_rows_keeps_numbers_and_rebuilds_strings():
    offsets, data, valid = encode_strings(["ab", None, "", "héllo", "z"])
    table = {"t": np.arange(5), "x": np.arange(5.0), "x_valid": np.array([1, 0, 1, 0, 1], bool),
             "text_offsets": offsets, "text_data": data, "text_valid": valid}
    rows = np.array([False, True, True, True, False])
    got = _table.take_rows(table, rows)
    assert got["t"].tolist() == [1, 2, 3] and got["x_valid"].tolist() == [False, True, False]
    assert decode_strings(got["text_offsets"], got["text_data"], got["text_valid"]).tolist() == [None, "", "héllo"]
    none = _table.take_rows(table, np.zeros(5, bool))
    assert none["text_offsets"].tolist() == [0] and len(none["text_data"]) == 0 and len(none["t"]) == 0
