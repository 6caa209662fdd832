"""Fleets of recordings (hidpack.fleet): read_many and the Dask reader on a real LocalCluster."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hidpack

from shared_data import balabit_sessions
from test_recording import FIELD_NAMES, ROWS, assert_polars_equal, rows_table, via_arrow

def write_files(tmp_path, parts, block_events=4):
    paths = []
    for j, rows in enumerate(parts):
        p = str(tmp_path / f"f{j}.hpk")
        hidpack.write_table(p, rows_table(rows), block_events=block_events)
        paths.append(p)
    return paths


def expected(paths, **kw):
    """read_many's table, built from one read per file. A file's read leaves out the fields
    none of its rows holds: the fleet has each field some file holds, absent on the rows of
    the files without it."""
    tables = [hidpack.open(p).table(**kw) for p in paths]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    like = {k: t[k] for t in tables for k in t}

    def col(t, k):
        if k in t:
            return t[k]
        n = len(t["t"])
        return np.zeros(n + 1 if k.endswith("_offsets") else 0 if k.endswith("_data") else n, like[k].dtype)

    out = {}
    for k in keys:
        if k.endswith("_offsets"):  # string offsets restart in every file
            acc, pieces = 0, [np.zeros(1, np.int64)]
            for t in tables:
                pieces.append(col(t, k)[1:] + acc)
                acc += int(col(t, k)[-1])
            out[k] = np.concatenate(pieces)
        else:
            out[k] = np.concatenate([col(t, k) for t in tables])
    out["file"] = np.concatenate([np.full(len(t["t"]), j, np.uint32) for j, t in enumerate(tables)])
    return out


def assert_tables_equal(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert np.array_equal(got[k], want[k]), k


SPLIT = [ROWS[:5], [], ROWS[5:6], ROWS[6:15], ROWS[15:], ROWS]


@pytest.mark.parametrize("threads", [1, 2, 3, 16, None])
def test_read_many_stacks_the_files_in_order(tmp_path, threads):
    paths = write_files(tmp_path, SPLIT)
    got = hidpack.read_many(paths, threads=threads)
    assert isinstance(got, hidpack.FleetTable)
    assert list(got)[:3] == ["t", "kind", "file"]
    assert got["file"].dtype == np.uint32
    assert_tables_equal(got, expected(paths))
    assert got.paths == paths
    assert got.events == [len(p) for p in SPLIT]
    assert got.problems == []


def test_read_many_selects_like_table(tmp_path):
    paths = write_files(tmp_path, SPLIT)
    assert_tables_equal(hidpack.read_many(paths, kinds="key"), expected(paths, kinds=["key"]))
    assert_tables_equal(
        hidpack.read_many(paths, kinds=["move", "button"], fields=["x"]),
        expected(paths, kinds=["move", "button"], fields=["x"]),
    )
    got = hidpack.read_many(paths, t0=2_000, t1=6_001)
    want = [[r for r in rows if 2_000 <= r[0] < 6_001] for rows in SPLIT]
    assert got.events == [len(w) for w in want]
    assert got["t"].tolist() == [r[0] for w in want for r in w]
    # bounds past int64 keep their meaning
    assert len(hidpack.read_many(paths, t0=-(2**70), t1=2**70)["t"]) == sum(map(len, SPLIT))
    assert len(hidpack.read_many(paths, t0=2**70)["t"]) == 0


def test_read_many_of_no_files(tmp_path):
    got = hidpack.read_many([])
    assert got.events == [] and got.paths == []
    assert len(got["t"]) == 0 and got["file"].dtype == np.uint32
    # no row holds a value of any field: none is made, unless named
    assert set(got) == {"t", "kind", "file"}
    one = write_files(tmp_path, [ROWS[:1]])
    assert set(hidpack.read_many([], columns=FIELD_NAMES)) == set(hidpack.read_many(one, columns=FIELD_NAMES))


def test_read_many_rejects_bad_arguments(tmp_path):
    paths = write_files(tmp_path, [ROWS[:2]])
    with pytest.raises(TypeError, match="sequence of paths"):
        hidpack.read_many(paths[0])
    with pytest.raises(ValueError, match="errors must be 'raise' or 'skip'"):
        hidpack.read_many(paths, errors="ignore")
    with pytest.raises(ValueError, match="threads must be at least 1"):
        hidpack.read_many(paths, threads=0)
    with pytest.raises(ValueError, match="unknown kind 'mouse'"):
        hidpack.read_many(paths, kinds="mouse")
    with pytest.raises(ValueError, match="unknown field 'z'"):
        hidpack.read_many(paths, fields=["x", "z"])


def damage_second_block(path):
    rec = hidpack.open(path)
    b = rec.blocks()[1]
    offset, length, events = b["offset"], b["length"], b["events"]
    rec.close()
    data = bytearray(open(path, "rb").read())
    data[offset + length // 2] ^= 0x5A
    open(path, "wb").write(bytes(data))
    return offset, events


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_read_many_raises_the_first_problem_with_its_path(tmp_path, threads):
    paths = write_files(tmp_path, [ROWS] * 5)
    offset, lost = damage_second_block(paths[3])
    os.remove(paths[1])
    with pytest.raises(OSError) as e:
        hidpack.read_many(paths, threads=threads)
    assert str(e.value).startswith(paths[1] + ": ")
    assert (e.value.file, e.value.path) == (1, paths[1])
    with pytest.raises(hidpack.CorruptBlockError) as e:
        hidpack.read_many(paths[2:], threads=threads)
    assert str(e.value).startswith(paths[3] + ": corrupt block at offset")
    assert f"({lost} events lost)" in str(e.value)
    assert (e.value.file, e.value.path, e.value.offset) == (1, paths[3], offset)


@pytest.mark.parametrize("threads", [1, 3])
def test_read_many_skip_lists_every_problem(tmp_path, threads):
    paths = write_files(tmp_path, [ROWS] * 5)
    offset, lost = damage_second_block(paths[3])
    os.remove(paths[1])
    got = hidpack.read_many(paths, errors="skip", threads=threads)
    n = len(ROWS)
    assert got.events == [n, 0, n, n - lost, n]
    assert len(got["t"]) == 4 * n - lost
    assert [(p["file"], p["path"], p["whole_file"]) for p in got.problems] == [
        (1, paths[1], True),
        (3, paths[3], False),
    ]
    block = got.problems[1]
    assert (block["offset"], block["events_lost"]) == (offset, lost)
    assert "corrupt" in block["error"] or "checksum" in block["error"]
    assert got.problems[0]["events_lost"] is None
    # the rows of the damaged file are what a single read of it gives
    one = hidpack.open(paths[3]).table()
    assert got["t"][got["file"] == 3].tolist() == one["t"].tolist()


def random_moves(n, seed):
    """n moves with random steps (about 5 bytes per event: a few MB of files quickly)."""
    rng = np.random.default_rng(seed)
    return {
        "t": np.cumsum(rng.integers(0, 20_000_000, n)).astype(np.int64),
        "kind": np.zeros(n, np.uint8),
        "x": np.cumsum(rng.integers(-300, 300, n)).astype(np.float64),
        "y": np.cumsum(rng.integers(-300, 300, n)).astype(np.float64),
    }


@pytest.mark.parametrize("threads", [1, 2])
def test_a_large_read_many_counts_its_rows_first_and_equals_one_read_per_file(tmp_path, threads):
    # From READ_MANY_COUNT_FILES files on, read_many sizes its columns from the files' indexes
    # before reading, and each file's rows go straight into them: the same table either way,
    # with selections (where the index over-counts) and with problems (skipped rows).
    paths = []
    for j in range(hidpack._native.READ_MANY_COUNT_FILES + 4):
        p = str(tmp_path / f"f{j}.hpk")
        if j % 64 == 1:
            hidpack.write_table(p, random_moves(50_000, j), block_events=20_000)
        else:
            hidpack.write_table(p, rows_table(ROWS[: j % len(ROWS)]), block_events=4)
        paths.append(p)
    assert_tables_equal(hidpack.read_many(paths, threads=threads), expected(paths))
    for kw in [{"kinds": ["key", "text"]}, {"fields": ["x", "text"]}]:
        assert_tables_equal(hidpack.read_many(paths, threads=threads, **kw), expected(paths, **kw))
    window = hidpack.read_many(paths, threads=threads, t0=3_000, t1=200_000_000_000)
    # (named: a file's read leaves out the fields none of its rows holds)
    some = ["x", "y", "text", "usage"]
    parts = [hidpack.open(p).between(3_000, 200_000_000_000).table(columns=some) for p in paths]
    assert window.events == [len(t["t"]) for t in parts]
    for k in ("t", "kind", "x", "x_valid", "y", "text_valid", "usage"):
        assert np.array_equal(window[k], np.concatenate([t[k] for t in parts])), k
    offset, lost = damage_second_block(paths[65])
    os.remove(paths[5])
    got = hidpack.read_many(paths, threads=threads, errors="skip")
    assert [(p["file"], p["whole_file"]) for p in got.problems] == [(5, True), (65, False)]
    assert got.events[65] == 50_000 - lost and got.events[5] == 0
    readable = [p for p in paths if os.path.exists(p)]
    want = expected(readable)
    del want["file"]
    del got["file"]
    assert_tables_equal(got, want)


def as_buffers(paths):
    """The files as uint8 arrays: read_many opens them as it reads them (no index counted first),
    so their read is the ordinary one, batch by batch, whatever the count of files."""
    return [np.frombuffer(open(p, "rb").read(), np.uint8) for p in paths]


def assert_native_reads_equal(got, want):
    """Two results of _native.read_many: the same columns (NaN equal to NaN), events, wall
    clocks and problems."""
    (ga, ge, gw, gs), (wa, we, ww, ws) = got, want
    assert list(ga) == list(wa)
    for k in wa:
        assert ga[k].dtype == wa[k].dtype, k
        assert np.array_equal(ga[k], wa[k], equal_nan=ga[k].dtype.kind == "f"), k
    assert (ge, gw, gs) == (we, ww, ws)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_placed_fleet_read_equals_the_ordinary_one(tmp_path, threads):
    # From READ_MANY_COUNT_FILES paths on, each file's rows are written straight into the output
    # columns (sized from the indexes first): the same columns, in both layouts, as the ordinary
    # read of the same files, with kinds, columns, windows (on block edges and across them) and
    # bad files under both errors= modes.
    paths = []
    for j in range(hidpack._native.READ_MANY_COUNT_FILES + 3):
        p = str(tmp_path / f"f{j}.hpk")
        if j % 50 == 7:
            hidpack.write_table(p, random_moves(3_000, j), block_events=1_000)
        else:
            hidpack.write_table(p, rows_table(ROWS[j % 7 : j % len(ROWS)]), block_events=4 + j % 5)
        paths.append(p)
    queries = [
        {},
        {"kinds": ["key", "text"]},
        {"kinds": ["move"]},
        {"fields": ["x", "text", "usage"]},
        {"t0": 3_000, "t1": 200_000_000_000},
        {"t0": 0, "t1": 1_000_000_000_000_000},
    ]
    for layout in ("table", "pandas"):
        for q in queries:
            got = hidpack._native.read_many(paths, threads=threads, layout=layout, **q)
            want = hidpack._native.read_many(as_buffers(paths), threads=threads, layout=layout, **q)
            assert_native_reads_equal(got, want)
    # bad files: a damaged block, a missing file, a file cut short (no footer)
    damage_second_block(paths[7])
    os.remove(paths[3])
    data = open(paths[57], "rb").read()
    open(paths[57], "wb").write(data[: len(data) * 2 // 3])
    bufs = as_buffers([p for p in paths if os.path.exists(p)])
    bufs.insert(3, np.zeros(3, np.uint8))  # read as the missing file's stand-in: not a recording
    for layout in ("table", "pandas"):
        got = hidpack._native.read_many(paths, threads=threads, layout=layout, errors="skip")
        want = hidpack._native.read_many(bufs, threads=threads, layout=layout, errors="skip")
        gs, ws = got[3], want[3]
        assert [(p["file"], p["whole_file"]) for p in gs] == [(p["file"], p["whole_file"]) for p in ws]
        assert [(p["file"], p["whole_file"]) for p in gs] == [(3, True), (7, False), (57, False)]
        assert_native_reads_equal(got[:3] + (ws,), want)
    with pytest.raises(OSError) as e:
        hidpack.read_many(paths, threads=threads)
    assert (e.value.file, e.value.path) == (3, paths[3])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, len(ROWS)), max_size=6), threads=st.integers(1, 4), block=st.integers(1, 9))
def test_read_many_equals_one_read_per_file(tmp_path_factory, cuts, threads, block):
    tmp = tmp_path_factory.mktemp("fleet")
    bounds = [0, *sorted(cuts), len(ROWS)]
    parts = [ROWS[a:b] for a, b in zip(bounds, bounds[1:])]
    paths = write_files(tmp, parts, block_events=block)
    assert_tables_equal(hidpack.read_many(paths, threads=threads), expected(paths))


def test_fleet_table_to_arrow_pandas_polars(tmp_path):
    paths = write_files(tmp_path, SPLIT)
    got = hidpack.read_many(paths)
    tbl = got.to_arrow()
    assert tbl.column_names[:3] == ["t", "file", "kind"]
    assert tbl.schema.field("file").type == pa.uint32()
    assert tbl.column("file").to_pylist() == got["file"].tolist()
    one = hidpack.open(paths[-1]).to_arrow()
    assert tbl.slice(tbl.num_rows - one.num_rows).drop_columns(["file"]).equals(one)
    df = got.to_pandas()
    assert df["file"].dtype == np.uint32 and df["kind"].dtype == "category"
    assert df["buttons"].dtype == pd.Int64Dtype()
    assert got.to_polars().height == len(got["t"])
    # one kind, some fields: that kind's schema, only those fields
    keys = hidpack.read_many(paths, kinds="key", fields=["usage"]).to_arrow()
    assert keys.column_names == ["t", "file", "usage"]


def test_fleet_to_pandas_equals_the_arrow_conversion_and_owns_its_arrays(tmp_path):
    walls = [1_700_000_000_000_000_000, 1_800_000_000_000_000_000, 1_900_000_000_000_000_000]
    paths = []
    for j, rows in enumerate([ROWS[:5], ROWS[5:12], ROWS[12:]]):
        paths.append(str(tmp_path / f"w{j}.hpk"))
        hidpack.write_table(paths[-1], rows_table(rows), wall_clock_ns=walls[j])
    for kw in ({}, {"kinds": "button"}, {"kinds": ["key", "text"], "fields": ["usage", "text"]}, {"fields": []}):
        got = hidpack.read_many(paths, **kw)
        for wall_time in (False, True):
            pd.testing.assert_frame_equal(got.to_pandas(wall_time), via_arrow(got.to_arrow(wall_time)), check_exact=True)
            assert_polars_equal(got.to_polars(wall_time), pl.from_arrow(got.to_arrow(wall_time)))
    got = hidpack.read_many(paths)
    before = {k: v.copy() for k, v in got.items()}
    df = got.to_pandas()
    df.iloc[0, df.columns.get_loc("t")] = -1
    df.loc[0, "x"] = 99.0
    df.loc[1, "buttons"] = 7
    assert all(np.array_equal(got[k], v) for k, v in before.items())
    assert not np.shares_memory(df["t"].to_numpy(), got["t"])


def balabit_fleet(tmp_path, lines=200_000):
    """The first sessions of the balabit corpus (a real, third-party recording), one file each."""
    paths = balabit_sessions(tmp_path, lines)
    assert len(paths) >= 3, paths
    return paths


def test_read_many_on_real_sessions(tmp_path):
    paths = balabit_fleet(tmp_path)
    want = expected(paths, fields=["x", "y", "buttons"])
    for threads in (1, 2):
        assert_tables_equal(hidpack.read_many(paths, fields=["x", "y", "buttons"], threads=threads), want)
    assert sum(hidpack.read_many(paths, fields=[]).events) == sum(len(hidpack.open(p)) for p in paths)


@pytest.fixture(scope="module")
def dask_client():
    import distributed  # in the test extra: a missing install fails here, never skips
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def as_dask_strings(df):
    """Dask stores text as its own string dtype (config ``dataframe.convert-string``): the same
    values, nulls as pd.NA."""
    return df.astype({c: "string[pyarrow]" for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})


def test_read_dask_on_a_local_cluster(tmp_path, dask_client):
    paths = balabit_fleet(tmp_path)
    ddf = hidpack.read_dask(paths, files_per_partition=2)
    assert ddf.npartitions == math.ceil(len(paths) / 2)
    # every field comes (the partitions' columns cannot depend on what their files hold)
    want = as_dask_strings(hidpack.read_many(paths).to_pandas(columns=FIELD_NAMES))
    assert list(ddf.columns) == list(want.columns)
    assert dict(ddf.dtypes) == dict(want.dtypes)
    got = dask_client.compute(ddf).result().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # work on the cluster: moves per file
    per_file = dask_client.compute(ddf[ddf.kind == "move"].groupby("file").size()).result().sort_index()
    counts = [hidpack.open(p).info()["counts"]["move"] for p in paths]
    assert per_file.tolist() == [c for c in counts if c]
    # by default, files are grouped by their bytes on disk (these sessions are small: one partition)
    assert sum(os.path.getsize(p) for p in paths) < hidpack.fleet.PARTITION_BYTES
    assert hidpack.read_dask(paths).npartitions == 1
    sizes = [os.path.getsize(p) for p in paths]
    limit = sizes[0] + sizes[1]
    by_bytes = hidpack.read_dask(paths, partition_bytes=limit)
    firsts, acc = [0], 0
    for i, size in enumerate(sizes[:-1]):
        acc += size
        if acc >= limit:
            firsts.append(i + 1)
            acc = 0
    assert by_bytes.npartitions == len(firsts) > 1
    got = dask_client.compute(by_bytes).result().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # one kind and some fields
    keys = hidpack.read_dask(paths, kinds="button", fields=["button", "pressed"])
    assert list(keys.columns) == ["t", "file", "button", "pressed"]
    got = dask_client.compute(keys).result().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, as_dask_strings(hidpack.read_many(paths, kinds="button", fields=["button", "pressed"]).to_pandas()))


def test_read_dask_wall_time(tmp_path, dask_client):
    paths = []
    for j, rows in enumerate([ROWS[:4], ROWS[4:9], ROWS[9:]]):
        paths.append(str(tmp_path / f"w{j}.hpk"))
        hidpack.write_table(paths[-1], rows_table(rows), wall_clock_ns=1_700_000_000_000_000_000 + j * 10**12)
    ddf = hidpack.read_dask(paths, wall_time=True, files_per_partition=2)
    want = as_dask_strings(hidpack.read_many(paths).to_pandas(wall_time=True))
    assert dict(ddf.dtypes) == dict(want.dtypes)
    pd.testing.assert_frame_equal(dask_client.compute(ddf).result().reset_index(drop=True), want)


def test_read_dask_fails_with_the_path_of_a_bad_file(tmp_path, dask_client):
    paths = write_files(tmp_path, [ROWS] * 3)
    damage_second_block(paths[2])
    ddf = hidpack.read_dask(paths)
    with pytest.raises(hidpack.CorruptBlockError, match=f"^{paths[2]}: corrupt block"):
        dask_client.compute(ddf).result()
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="files_per_partition must be None or an int of at least 1"):
            hidpack.read_dask(paths, files_per_partition=bad)
        with pytest.raises(ValueError, match="partition_bytes must be an int of at least 1"):
            hidpack.read_dask(paths, partition_bytes=bad)
    # a file that cannot be measured counts no bytes; reading it fails with its path
    missing = str(tmp_path / "missing.hpk")
    ddf = hidpack.read_dask([*paths[:2], missing], partition_bytes=1)
    assert ddf.npartitions == 3
    with pytest.raises(OSError, match="missing.hpk"):
        dask_client.compute(ddf).result()
    empty = hidpack.read_dask([])
    assert len(empty.compute()) == 0
    assert list(empty.columns) == list(hidpack.read_many([]).to_pandas(columns=FIELD_NAMES).columns)


def test_wall_t_adds_each_files_wall_clock(tmp_path):
    walls = [1_700_000_000_000_000_000, None, 1_800_000_000_000_000_000]
    parts = [ROWS[:3], [], ROWS[3:7]]
    paths = []
    for j, (rows, w) in enumerate(zip(parts, walls)):
        paths.append(str(tmp_path / f"w{j}.hpk"))
        hidpack.write_table(paths[-1], rows_table(rows), wall_clock_ns=w)
    got = hidpack.read_many(paths)
    assert got.wall_clock_ns == walls
    assert got.wall_t().tolist() == [walls[0] + r[0] for r in parts[0]] + [walls[2] + r[0] for r in parts[2]]
    hidpack.write_table(paths[1], rows_table(ROWS[:1]), overwrite=True)  # now the file without a clock has rows
    with pytest.raises(ValueError, match=f"^{paths[1]}: the file has no wall clock"):
        hidpack.read_many(paths).wall_t()
    os.remove(paths[1])
    skipped = hidpack.read_many(paths, errors="skip")
    assert skipped.wall_clock_ns == [walls[0], None, walls[2]]
    assert len(skipped.wall_t()) == len(parts[0]) + len(parts[2])
    # as a column: UTC timestamps after t, in Arrow, pandas and polars
    tbl = skipped.to_arrow(wall_time=True)
    assert tbl.column_names[:3] == ["t", "wall_t", "file"]
    assert str(tbl.schema.field("wall_t").type) == "timestamp[ns, tz=UTC]"
    df = skipped.to_pandas(wall_time=True)
    assert str(df["wall_t"].dtype) == "datetime64[ns, UTC]"
    assert df["wall_t"].tolist() == list(pd.to_datetime(skipped.wall_t(), utc=True))
    assert skipped.to_polars(wall_time=True)["wall_t"].dtype.time_zone == "UTC"
    assert "wall_t" not in skipped.to_pandas()


def test_wall_t_follows_each_files_clock_records(tmp_path):
    anchor = 1_700_000_000_000_000_000
    record = (5_000_000, "marker", {"label": "hidpack:clock", "value": anchor + 5_000_000 + 10**10})
    moves = [(0, "move", {"x": 1.0, "y": 1.0}), (8_000_000, "move", {"x": 2.0, "y": 2.0})]
    files = [(moves, anchor), ([*moves, record], anchor), ([*moves, record], None)]
    paths = []
    for j, (rows, wall) in enumerate(files):
        paths.append(str(tmp_path / f"c{j}.hpk"))
        hidpack.write_table(paths[-1], rows_table(rows), wall_clock_ns=wall)
    got = hidpack.read_many(paths, kinds="move")
    want = [anchor, anchor + 8_000_000,  # header anchor only
            anchor, anchor + 8_000_000 + 10**10,  # moved by the record from t = 5 ms on
            anchor + 10**10, anchor + 8_000_000 + 10**10]  # no anchor: the record holds throughout
    assert got.wall_t().tolist() == want
    assert got.wall_t().tolist() == np.concatenate([hidpack.open(p).wall_t(hidpack.open(p).moves().t) for p in paths]).tolist()
    assert got.to_pandas(wall_time=True)["wall_t"].tolist() == list(pd.to_datetime(want, utc=True))
    window = hidpack.read_many(paths, kinds="move", t0=6_000_000)  # the records lie before the window
    assert window.wall_t().tolist() == want[1::2]


def test_every_conformance_vector_reads_through_read_many():
    """The fleet reader is a reader too: on the committed vectors (a killed recording with its
    write-ahead tail, a torn one, a corrupt block, unknown kinds...) it returns what one read per
    file returns, and lists exactly the problems those reads report."""
    vec = os.path.join(os.path.dirname(__file__), "vectors", "v1")
    paths = sorted(os.path.join(vec, f) for f in os.listdir(vec) if f.endswith(".hpk"))
    assert any(p.endswith("killed_with_tail.hpk") for p in paths) and len(paths) >= 10
    got = hidpack.read_many(paths, errors="skip", threads=3)
    want_problems = []
    for j, p in enumerate(paths):
        rec = hidpack.open(p)
        one = rec.table(columns=["x", "y", "usage", "pressed"])
        rows = got["file"] == j
        assert got.events[j] == len(one["t"]), p
        for k in ("t", "kind", "x", "y", "x_valid", "usage", "usage_valid", "pressed"):
            assert np.array_equal(got[k][rows], one[k]), (p, k)
        want_problems += [(j, pr["offset"], pr["error"]) for pr in rec.problems]
    assert [(p["file"], p["offset"], p["error"]) for p in got.problems] == want_problems
    assert want_problems, "some vectors are damaged on purpose"
    with pytest.raises(hidpack.HidpackError) as e:
        hidpack.read_many(paths)
    assert e.value.file == want_problems[0][0]


# --- directories, globs, repr, path column, time types (issue 18) -----------------------------


def test_read_many_takes_a_directory_or_a_glob(tmp_path):
    paths = write_files(tmp_path, SPLIT)  # f0.hpk, f1.hpk, ...
    (tmp_path / "notes.txt").write_text("not a recording")
    want = hidpack.read_many(paths)
    by_dir = hidpack.read_many(tmp_path)  # a PathLike directory: its *.hpk, sorted
    assert by_dir.paths == sorted(paths) == paths
    assert by_dir["t"].tolist() == want["t"].tolist() and by_dir.events == want.events
    by_glob = hidpack.read_many(str(tmp_path / "f[12].hpk"))
    assert by_glob.paths == paths[1:3]
    # a list may mix files, directories and patterns
    sub = tmp_path / "sub"
    sub.mkdir()
    more = write_files(sub, SPLIT[:1])
    mixed = hidpack.read_many([paths[0], str(sub), str(tmp_path / "f1.*")])
    assert mixed.paths == [paths[0], more[0], paths[1]]
    assert hidpack.read_many(str(tmp_path / "**" / "*.hpk")).paths == sorted(paths + more)


def test_read_many_directory_or_glob_that_finds_nothing_says_so(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="a directory with no \\*.hpk files"):
        hidpack.read_many(empty)
    with pytest.raises(FileNotFoundError, match="no file matches this pattern"):
        hidpack.read_many(str(tmp_path / "*.hpk"))
    with pytest.raises(TypeError, match="is one file: use hidpack.open"):
        hidpack.read_many(str(tmp_path / "one.hpk"))


def test_a_listed_name_ending_in_hpk_is_read_as_a_file(tmp_path):
    # Listed *.hpk names are not stat'ed (that cost 4 % of a 1,000-file read): a directory
    # named like a recording fails when it is read, with an error naming it, not silently.
    paths = write_files(tmp_path, SPLIT[:1])
    odd = tmp_path / "odd.hpk"
    odd.mkdir()
    write_files(odd, SPLIT[:1])
    with pytest.raises(OSError, match="odd.hpk.*is a directory"):
        hidpack.read_many([paths[0], str(odd)])
    # named without the suffix, the same directory is expanded as before
    assert len(hidpack.read_many([paths[0], str(odd) + os.sep]).paths) == 2


def test_fleet_table_repr_is_a_summary(tmp_path):
    paths = write_files(tmp_path, [ROWS[:3], ROWS[3:5], ROWS[:1]])
    (tmp_path / "bad.hpk").write_bytes(b"not hidpack at all")
    ft = hidpack.read_many(paths + [str(tmp_path / "bad.hpk")], kinds=["move", "button"], fields=["x", "y"], errors="skip")
    text = repr(ft)
    assert len(text) < 1000 and "array(" not in text
    assert text.splitlines()[0] == "<FleetTable: 4 file(s), 5 row(s) (move 3, button 2)>"
    assert "  columns: t, file, kind, x, y" in text
    assert "  files:   %s, ..., %s" % (paths[0], tmp_path / "bad.hpk") in text
    assert "  wall clock: 0 of 4 file(s)" in text
    assert "  problems: 1 (first: %s: " % (tmp_path / "bad.hpk") in text
    assert str(ft) == text
    clean = hidpack.read_many(paths[:1], kinds="move")
    assert "columns: t, file, x, y, buttons" in repr(clean) and "problems: none" in repr(clean)


def test_path_column_is_dictionary_encoded(tmp_path):
    paths = write_files(tmp_path, SPLIT)
    ft = hidpack.read_many(paths + paths[:1])  # a file twice: still one category per path
    names = [ft.paths[i] for i in ft["file"]]
    df = ft.to_pandas(path=True)
    assert list(df.columns[:4]) == ["t", "file", "path", "kind"]
    assert isinstance(df["path"].dtype, pd.CategoricalDtype)
    assert list(df["path"].cat.categories) == paths
    assert df["path"].astype(str).tolist() == names
    tbl = ft.to_arrow(path=True)
    assert pa.types.is_dictionary(tbl.schema.field("path").type)
    assert tbl.column("path").combine_chunks().dictionary.to_pylist() == paths  # a string per file, not per row
    assert tbl.column("path").to_pylist() == names
    pdf = ft.to_polars(path=True)
    assert pdf["path"].dtype == pl.Categorical and pdf["path"].cast(pl.String).to_list() == names
    assert "path" not in ft.to_pandas().columns and "path" not in ft.to_arrow().column_names


def test_time_as_timedelta_or_datetime(tmp_path):
    paths = []
    walls = [1_700_000_000_000_000_000, 1_700_000_100_000_000_000]
    for j, rows in enumerate(SPLIT[:2]):
        paths.append(str(tmp_path / f"w{j}.hpk"))
        hidpack.write_table(paths[-1], rows_table(rows), wall_clock_ns=walls[j])
    ft = hidpack.read_many(paths)
    t = ft["t"]
    df = ft.to_pandas(time="timedelta")
    assert df["t"].dtype == "timedelta64[ns]" and (df["t"].to_numpy().view(np.int64) == t).all()
    df = ft.to_pandas(time="datetime", wall_time=True)
    assert str(df["t"].dtype) == "datetime64[ns, UTC]"
    assert (df["t"].dt.tz_convert(None).to_numpy().view(np.int64) == ft.wall_t()).all()
    assert (df["t"] == df["wall_t"]).all()
    tbl = ft.to_arrow(time="timedelta")
    assert tbl.schema.field("t").type == pa.duration("ns")
    assert tbl.schema.field("t").type == pa.duration("ns") and tbl.column("t").cast(pa.int64()).to_pylist() == t.tolist()
    assert ft.to_arrow(time="datetime").schema.field("t").type == pa.timestamp("ns", tz="UTC")
    assert ft.to_polars(time="datetime")["t"].dtype == pl.Datetime("ns", "UTC")
    assert ft.to_pandas()["t"].dtype == np.int64  # "ns", the default, is unchanged
    with pytest.raises(ValueError, match="time must be 'ns', 'timedelta' or 'datetime', got 's'"):
        ft.to_pandas(time="s")


def test_time_datetime_is_refused_naming_the_file_without_a_wall_clock(tmp_path):
    paths = write_files(tmp_path, SPLIT[:2])  # no wall clock
    ft = hidpack.read_many(paths)
    for call in (lambda: ft.to_pandas(time="datetime"), lambda: ft.to_arrow(time="datetime")):
        with pytest.raises(ValueError, match=f"{paths[0]}: the file has no wall clock.*no time='datetime'"):
            call()
    assert ft.to_pandas(time="timedelta")["t"].dtype == "timedelta64[ns]"  # needs no wall clock


def test_a_fleet_keeps_the_fields_some_file_holds(tmp_path):
    moves = [(i, "move", {"x": float(i), "y": 2.0}) for i in range(5)]
    keys = [(i, "key", {"pressed": True, "native": 30 + i}) for i in range(3)]
    paths = write_files(tmp_path, [moves, keys, []])
    got = hidpack.read_many(paths)
    assert set(got) == {"t", "kind", "file", "x", "x_valid", "y", "y_valid", "pressed", "pressed_valid",
                        "native", "native_valid"}
    assert list(got.to_pandas().columns) == ["t", "file", "kind", "x", "y", "pressed", "native"]
    # named columns come whatever they hold; kinds= leaves out the fields of other kinds
    assert list(hidpack.read_many(paths, columns=["usage", "x"]).to_pandas().columns) == ["t", "file", "kind", "x", "usage"]
    assert list(hidpack.read_many(paths, kinds="key").to_pandas().columns) == ["t", "file", "pressed", "native"]


def test_fleet_frames_take_kinds_and_columns(tmp_path):
    paths = write_files(tmp_path, SPLIT)
    fleet = hidpack.read_many(paths)
    for kinds in (["key"], ["move", "text"], "focus"):
        want = hidpack.read_many(paths, kinds=kinds)
        pd.testing.assert_frame_equal(fleet.to_pandas(kinds=kinds), want.to_pandas())
        assert fleet.to_arrow(kinds=kinds).equals(want.to_arrow())
        assert_polars_equal(fleet.to_polars(kinds=kinds), want.to_polars())
    sel = fleet.to_pandas(kinds=["key", "button"], columns=["pressed", "x", "usage"], wall_time=False)
    want = hidpack.read_many(paths, kinds=["key", "button"], columns=["pressed", "x", "usage"]).to_pandas()
    pd.testing.assert_frame_equal(sel, want)
    assert list(fleet.to_pandas(columns="text").columns) == ["t", "file", "kind", "text"]
    assert fleet.to_arrow(path=True, kinds="key").column("path").to_pylist() == \
        [paths[f] for f in fleet["file"][fleet["kind"] == 4]]
    # clear errors: a kind or column that was not read, an unknown name
    with pytest.raises(ValueError, match=r"kinds \['move'\] were not read"):
        hidpack.read_many(paths, kinds="key").to_pandas(kinds=["move"])
    with pytest.raises(ValueError, match=r"columns \['x'\] were not read"):
        hidpack.read_many(paths, columns=["usage"]).to_arrow(columns=["x"])
    with pytest.raises(ValueError, match="unknown field `nope`"):
        fleet.to_polars(columns=["nope"])
    with pytest.raises(ValueError, match="unknown kind 'mouse'"):
        fleet.to_pandas(kinds="mouse")
    with pytest.raises(TypeError, match="columns= or fields="):
        fleet.to_pandas(columns=["x"], fields=["x"])


# --- read_pandas: a fleet straight into a DataFrame (issue 15) --------------------------------


def assert_frames_identical(got, want):
    """The same frame, exactly: columns, dtypes, values, and under each null mask the same
    stored values (pandas' masked arrays keep a value under every null)."""
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    for name in want.columns:
        a, b = got[name].array, want[name].array
        if isinstance(b, (pd.arrays.IntegerArray, pd.arrays.BooleanArray)):
            assert np.array_equal(a._data, b._data) and np.array_equal(a._mask, b._mask), name


def assert_read_pandas_is_the_fleet_frame(paths, threads=None, **kw):
    frame_kw = {k: kw.pop(k) for k in ("wall_time", "path", "time") if k in kw}
    want = hidpack.read_many(paths, threads=threads, **kw).to_pandas(**frame_kw)
    got = hidpack.read_pandas(paths, threads=threads, **kw, **frame_kw)
    assert_frames_identical(got, want)
    return got


SELECTIONS = [
    {},
    {"kinds": "key"},
    {"kinds": "button"},
    {"kinds": ["move", "scroll"]},
    {"kinds": ["key", "text"], "columns": ["usage", "text"]},
    {"columns": ["x", "pressed", "title"]},
    {"columns": []},
    {"columns": FIELD_NAMES},
    {"kinds": "gap", "columns": ["count"]},
    {"t0": 3_000, "t1": 9_000},
    {"t0": 3_000, "kinds": ["move", "key"]},
]


@pytest.mark.parametrize("threads", [1, 3])
def test_read_pandas_is_read_many_to_pandas(tmp_path, threads):
    # every kind, empty files, files holding some fields only (moves first: the other fields
    # appear in later files), one kind, selections and windows
    parts = [[r for r in ROWS if r[1] == "move"], [], ROWS[:5], [], ROWS[5:6], ROWS[6:15], ROWS[15:], ROWS, []]
    paths = write_files(tmp_path, parts)
    for kw in SELECTIONS:
        assert_read_pandas_is_the_fleet_frame(paths, threads, **kw)
    assert_read_pandas_is_the_fleet_frame([], threads)
    assert_read_pandas_is_the_fleet_frame([], threads, columns=FIELD_NAMES)
    assert_read_pandas_is_the_fleet_frame(paths[1:2], threads, kinds="move")


def test_read_pandas_keys_only_and_moves_only(tmp_path):
    keys = [r for r in ROWS if r[1] == "key"]
    moves = [r for r in ROWS if r[1] == "move"]
    paths = write_files(tmp_path, [keys, keys[:1], [], keys])
    for kw in ({}, {"kinds": "key"}, {"kinds": "key", "columns": ["usage"]}, {"kinds": ["key", "move"]}):
        df = assert_read_pandas_is_the_fleet_frame(paths, **kw)
        assert len(df) == 2 * len(keys) + 1
    # one kind: required fields are plain numpy columns, optional ones nullable
    df = hidpack.read_pandas(paths, kinds="key")
    assert df["pressed"].dtype == np.bool_ and df["usage"].dtype == pd.Int64Dtype()
    (tmp_path / "m").mkdir()
    paths = write_files(tmp_path / "m", [moves, moves])
    df = assert_read_pandas_is_the_fleet_frame(paths, kinds="move")
    assert df["x"].dtype == np.float64 and not df["x"].isna().any()


def test_read_pandas_wall_time_path_time_and_problems(tmp_path):
    walls = [1_700_000_000_000_000_000, 1_800_000_000_000_000_000, 1_900_000_000_000_000_000, None]
    paths = []
    for j, rows in enumerate([ROWS[:5], ROWS[5:12], ROWS[12:], []]):
        paths.append(str(tmp_path / f"w{j}.hpk"))
        hidpack.write_table(paths[-1], rows_table(rows), wall_clock_ns=walls[j], block_events=4)
    for kw in ({"wall_time": True}, {"path": True}, {"time": "timedelta"}, {"time": "datetime", "path": True},
               {"wall_time": True, "kinds": "move", "t0": 1_000}):
        assert_read_pandas_is_the_fleet_frame(paths, **kw)
    # problems: raised with the path first, or listed in the frame's attrs
    (tmp_path / "big").mkdir()
    big = write_files(tmp_path / "big", [ROWS] * 4)
    offset, lost = damage_second_block(big[2])
    os.remove(big[0])
    with pytest.raises(OSError) as e:
        hidpack.read_pandas(big)
    assert str(e.value).startswith(big[0] + ": ")
    with pytest.raises(hidpack.CorruptBlockError):
        hidpack.read_pandas(big[1:])
    df = assert_read_pandas_is_the_fleet_frame(big, errors="skip")
    assert df.attrs["problems"] == hidpack.read_many(big, errors="skip").problems
    assert [(p["file"], p["whole_file"]) for p in df.attrs["problems"]] == [(0, True), (2, False)]
    assert "problems" not in hidpack.read_pandas(big[1:2]).attrs
    with pytest.raises(ValueError, match="errors must be 'raise' or 'skip'"):
        hidpack.read_pandas(big, errors="ignore")
    with pytest.raises(ValueError, match="time must be"):
        hidpack.read_pandas(big, time="s")
    with pytest.raises(TypeError, match="sequence of paths"):
        hidpack.read_pandas(big[1])


@pytest.mark.parametrize("threads", [1, 2])
def test_read_pandas_of_a_large_fleet_fills_its_columns_batch_by_batch(tmp_path, threads):
    # more rows than a batch (128 Ki), files of every size, a window (where the indexes
    # over-count the rows), a damaged block (fewer rows than counted)
    paths = []
    for j in range(40):
        p = str(tmp_path / f"f{j}.hpk")
        if j % 8 == 1:
            hidpack.write_table(p, random_moves(60_000, j), block_events=20_000)
        else:
            hidpack.write_table(p, rows_table(ROWS[: j % len(ROWS)]), block_events=4)
        paths.append(p)
    for kw in ({}, {"t0": 3_000, "t1": 200_000_000_000}, {"kinds": ["move", "key"]}, {"columns": ["x", "usage"]}):
        df = assert_read_pandas_is_the_fleet_frame(paths, threads, **kw)
    assert len(df) > 2 * 2**17
    damage_second_block(paths[17])
    assert_read_pandas_is_the_fleet_frame(paths, threads, errors="skip")


def test_read_pandas_on_real_sessions(tmp_path):
    paths = balabit_fleet(tmp_path)
    for kw in ({}, {"kinds": "move"}, {"columns": ["x", "y", "buttons"]}):
        assert_read_pandas_is_the_fleet_frame(paths, **kw)
