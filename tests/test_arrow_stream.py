"""The Arrow C stream interface (``__arrow_c_stream__``) of read results, and ``columns=`` as the
name of the field selection (``fields=``: its older name), on real recordings (issue 15)."""
from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import hidpack
from hidpack import io_ducktrack
from shared_data import balabit_sessions, data_file


@pytest.fixture(scope="module")
def ducktrack(tmp_path_factory):
    """The DuckTrack example (moves, buttons, scrolls, keys) imported with hidpack."""
    out = tmp_path_factory.mktemp("ducktrack") / "example.hpk"
    io_ducktrack.import_ducktrack(data_file("ducktrack-example", "events.jsonl"), out, timezone="UTC")
    return str(out)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Balabit sessions (a real third-party mouse corpus), one file per session."""
    paths = balabit_sessions(tmp_path_factory.mktemp("balabit"), 60_000)
    assert len(paths) >= 2
    return paths


def nonzero(counts: dict) -> dict:
    return {k: int(n) for k, n in counts.items() if n}


def test_duckdb_counts_a_recording_as_info_does(ducktrack):
    rec = hidpack.open(ducktrack)
    got = dict(duckdb.sql("SELECT kind, count(*) FROM rec GROUP BY kind").fetchall())
    want = nonzero(rec.info()["counts"])
    assert len(want) >= 3  # moves, buttons, keys at least: the query sees more than one kind
    assert got == want
    # a filter and an aggregate over a field, against numpy
    m = rec.moves()
    [(n, x_max)] = duckdb.sql("SELECT count(*), max(x) FROM rec WHERE kind = 'move'").fetchall()
    assert (n, x_max) == (len(m), float(np.max(m.x)))


def test_pyarrow_and_polars_read_a_recording_directly(ducktrack):
    rec = hidpack.open(ducktrack)
    expected = rec.to_arrow()
    assert pa.table(rec).equals(expected)
    assert pa.RecordBatchReader.from_stream(rec).read_all().equals(expected)
    assert pl.DataFrame(rec).equals(pl.from_arrow(expected))
    # a restricted view streams its own events
    view = rec.between(0, 5e9)
    assert pa.table(view).equals(view.to_arrow())
    assert 0 < pa.table(view).num_rows < expected.num_rows


def test_a_recording_of_one_session_through_duckdb(fleet):
    rec = hidpack.open(fleet[0])
    got = dict(duckdb.sql("SELECT kind, count(*) FROM rec GROUP BY kind").fetchall())
    assert got == nonzero(rec.info()["counts"])
    assert pa.table(rec).equals(rec.to_arrow())


def test_duckdb_counts_a_fleet_as_info_does(fleet):
    ft = hidpack.read_many(fleet)
    # a FleetTable is a dict: DuckDB scans it through its stream, as a RecordBatchReader
    reader = pa.RecordBatchReader.from_stream(ft)  # noqa: F841 (the query names it)
    rows = duckdb.sql("SELECT file, kind, count(*) FROM reader GROUP BY file, kind").fetchall()
    got: dict[int, dict[str, int]] = {}
    for f, kind, n in rows:
        got.setdefault(int(f), {})[kind] = n
    want = {i: nonzero(hidpack.open(p).info()["counts"]) for i, p in enumerate(fleet)}
    assert got == {i: c for i, c in want.items() if c}
    assert sum(sum(c.values()) for c in got.values()) == len(ft["t"])


def test_a_fleets_stream_is_its_to_arrow(fleet):
    ft = hidpack.read_many(fleet, kinds="move", columns=["x", "y"])
    streamed = pa.RecordBatchReader.from_stream(ft).read_all()
    assert streamed.equals(ft.to_arrow())
    assert streamed.column_names == ["t", "file", "x", "y"]


def test_a_requested_schema_is_passed_to_pyarrow(ducktrack):
    rec = hidpack.open(ducktrack)
    schema = rec.to_arrow().schema
    capsule = rec.__arrow_c_stream__(schema.__arrow_c_schema__())
    assert pa.RecordBatchReader._import_from_c_capsule(capsule).read_all().equals(rec.to_arrow())


# -- columns= (fields=: the older name) ---------------------------------------------------------


def same_tables(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


def test_table_columns_and_fields_are_the_same_selection(ducktrack):
    rec = hidpack.open(ducktrack)
    by_columns = rec.table(columns=["x", "y"])
    same_tables(by_columns, rec.table(fields=["x", "y"]))
    same_tables(by_columns, rec.table(None, ["x", "y"]))
    assert set(by_columns) == {"t", "kind", "x", "x_valid", "y", "y_valid"}
    same_tables(rec.table(kinds="key", columns="usage"), rec.table(kinds="key", fields="usage"))
    # the default (no selection) is unchanged: every field
    assert set(rec.table()) > set(by_columns)


def test_read_many_columns_and_fields_are_the_same_selection(fleet):
    a = hidpack.read_many(fleet, kinds="move", columns=["x", "y"])
    b = hidpack.read_many(fleet, kinds="move", fields=["x", "y"])
    same_tables(a, b)
    assert a.fields == b.fields == ["x", "y"]
    assert a.to_arrow().equals(b.to_arrow())


def test_read_dask_columns_and_fields_are_the_same_selection(fleet):
    a = hidpack.read_dask(fleet, columns=["x"]).compute()
    b = hidpack.read_dask(fleet, fields=["x"]).compute()
    assert list(a.columns) == ["t", "file", "kind", "x"]
    assert a.equals(b)


@pytest.mark.parametrize(
    "call",
    [
        lambda p: hidpack.open(p[0]).table(columns=["x"], fields=["x"]),
        lambda p: hidpack.read_many(p, columns=["x"], fields=["y"]),
        lambda p: hidpack.read_dask(p, columns=["x"], fields=["x"]),
    ],
    ids=["table", "read_many", "read_dask"],
)
def test_columns_and_fields_together_are_refused(fleet, call):
    with pytest.raises(TypeError, match="columns= or fields="):
        call(fleet)


def test_an_unknown_column_name_is_refused_under_either_name(fleet):
    with pytest.raises(ValueError, match="nope"):
        hidpack.read_many(fleet, columns=["nope"])
    with pytest.raises(ValueError, match="nope"):
        hidpack.read_many(fleet, fields=["nope"])
