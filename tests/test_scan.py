"""``hidpack.scan_polars``: a lazy polars scan with projection and predicate pushdown (issue 15,
item 3). What is checked:

- every query gives what the eager read gives (``read_many(...).to_polars()`` filtered the same
  way), for hypothesis-made predicates over t, kind and other columns, projections and heads;
- the window pushed down is a superset of the rows the predicate keeps (never a wrong window);
- blocks outside the window (in time, or holding no wanted kind) are never decompressed: a
  damaged block there does not stop a windowed scan, while the full scan raises it;
- only the asked columns are decoded and come back; a fleet comes out in batches.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hidpack
from hidpack import _native, io_ducktrack
from hidpack.scan import EVERYTHING, Window, _Scan, pushdown
from shared_data import balabit_sessions, data_file

KIND_NAMES = ["move", "button", "scroll", "key", "text", "marker", "gap"]


def session(n: int, seed: int, t_start: int = 0) -> dict:
    """n events of mixed kinds, every field a kind uses present (taken from dense columns)."""
    rng = np.random.default_rng(seed)
    kind = rng.choice([0, 0, 0, 2, 3, 4, 5, 7, 8], size=n).astype(np.uint8)
    t = t_start + np.cumsum(rng.integers(0, 3_000_000, size=n))
    return {
        "t": t,
        "kind": kind,
        "x": rng.integers(0, 1920, n).astype(float),
        "y": rng.integers(0, 1080, n).astype(float),
        "buttons": rng.integers(0, 4, n),
        "button": rng.integers(1, 4, n),
        "pressed": rng.integers(0, 2, n).astype(bool),
        "dx": rng.integers(-3, 4, n).astype(float),
        "dy": rng.integers(-3, 4, n).astype(float),
        "usage": rng.integers(4, 40, n),
        "native": rng.integers(0, 200, n),
        "text": [chr(97 + i % 26) for i in range(n)],
        "label": ["m%d" % (i % 3) for i in range(n)],
        "value": rng.integers(0, 10, n),
        "count": rng.integers(1, 50, n),
        "reason": rng.integers(0, 4, n),
    }


T_MAX = 3 * 600 * 1_500_000  # about where the last file ends


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Three files of 600, 0 and 600 events in blocks of 64 (many blocks each), and a one-kind
    file; each file starts later than the one before."""
    d = tmp_path_factory.mktemp("fleet")
    paths = []
    for j, n in enumerate([600, 0, 600]):
        paths.append(str(d / f"s{j}.hpk"))
        hidpack.write_table(paths[-1], session(n, seed=j, t_start=j * 400_000_000), block_events=64)
    paths.append(str(d / "s3.hpk"))
    hidpack.write_table(paths[-1], {"t": np.arange(0, 50) * 7_000_000, "kind": "move", "x": np.ones(50), "y": np.zeros(50)}, block_events=16)
    return paths


def eager(paths, **kw) -> pl.DataFrame:
    return hidpack.read_many(paths, kinds=kw.pop("kinds", None)).to_polars(path=kw.pop("path", False))


def aligned(want: pl.DataFrame, schema) -> pl.DataFrame:
    """``want`` with every column of ``schema``: one the eager frame leaves out (a field with no
    data, should ``to_polars`` keep only populated columns) is all null."""
    return want.select([pl.col(n) if n in want.columns else pl.lit(None, dtype=dt).alias(n) for n, dt in schema.items()])


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """The scan (full schema) equals the eager frame, whose empty fields are left out: those
    must be all null in the scan."""
    if set(want.columns) < set(got.columns):
        want = aligned(want, got.schema)
    assert got.schema == want.schema
    assert got.height == want.height
    assert got.equals(want), (got, want)


@pytest.mark.parametrize("kinds", [None, "move", ["key", "button"]])
@pytest.mark.parametrize("path", [False, True])
def test_a_full_scan_is_the_eager_read(fleet, kinds, path):
    lf = hidpack.scan_polars(fleet, kinds=kinds, path=path)
    schema = lf.collect_schema()
    got = lf.collect()
    assert got.schema == schema  # the schema declared before reading is the one read
    assert_same(got, aligned(eager(fleet, kinds=kinds, path=path), schema))
    assert ("kind" in schema) == (kinds != "move")  # one kind: no kind column, as to_polars
    assert ("path" in schema) == path
    window = pl.col("t").is_between(300_000_000, 1_200_000_000) & (pl.col("x").is_null() | (pl.col("x") < 900))
    got = lf.filter(window).collect()
    assert 0 < got.height < lf.collect().height
    assert_same(got, aligned(eager(fleet, kinds=kinds, path=path), schema).filter(window))


def test_the_schema_is_known_before_reading_and_does_not_depend_on_the_data(fleet, tmp_path):
    moves_only = str(tmp_path / "moves.hpk")
    shutil.copy(fleet[3], moves_only)
    # a file of moves only still scans with every field of every kind (null where absent)
    assert hidpack.scan_polars([moves_only]).collect_schema() == hidpack.scan_polars(fleet).collect_schema()
    assert hidpack.scan_polars([moves_only]).collect()["usage"].null_count() == 50
    assert list(hidpack.scan_polars(fleet, kinds="key").collect_schema()) == ["t", "file", "pressed", "usage", "native"]


# -- predicates ------------------------------------------------------------------------------------

#: the fleet's event times (its files are made from these seeds): bounds at, just before and just
#: after an event are where an off-by-one in the pushed window would lose rows
EVENT_TIMES = sorted({int(t) for j in (0, 2) for t in session(600, seed=j, t_start=j * 400_000_000)["t"]})
times = st.one_of(
    st.integers(min_value=-10**9, max_value=T_MAX + 10**9),
    st.tuples(st.sampled_from(EVENT_TIMES), st.sampled_from([-1, 0, 1])).map(sum),
)


@st.composite
def atoms(draw):
    col = pl.col("t")
    which = draw(st.sampled_from(["cmp", "cmp", "between", "t_in", "kind_eq", "kind_in", "x", "null", "float",
                                  "file_cmp", "file_in", "file_between"]))
    if which == "cmp":
        v = draw(times)
        op = draw(st.sampled_from(["gt", "ge", "lt", "le", "eq", "ne"]))
        flip = draw(st.booleans())
        if op == "eq":
            return col == v
        if op == "ne":
            return col != v
        left = {"gt": col > v, "ge": col >= v, "lt": col < v, "le": col <= v}[op]
        right = {"gt": v < col, "ge": v <= col, "lt": v > col, "le": v >= col}[op]
        return right if flip else left
    if which == "between":
        a, b = sorted([draw(times), draw(times)])
        return col.is_between(a, b, closed=draw(st.sampled_from(["both", "left", "right", "none"])))
    if which == "t_in":
        return col.is_in(draw(st.lists(times, min_size=1, max_size=4)))
    if which == "kind_eq":
        return pl.col("kind") == draw(st.sampled_from(KIND_NAMES + ["raw_move", "focus"]))
    if which == "kind_in":
        return pl.col("kind").is_in(draw(st.lists(st.sampled_from(KIND_NAMES), min_size=0, max_size=3)))
    if which == "x":
        return pl.col("x") > draw(st.integers(0, 1920))
    if which == "null":
        return pl.col("usage").is_null()
    if which == "file_cmp":
        f, v = pl.col("file"), draw(st.integers(-1, 4))
        return draw(st.sampled_from([f == v, f != v, f < v, f <= v, f > v, f >= v, v > f]))
    if which == "file_in":
        return pl.col("file").is_in(draw(st.lists(st.integers(0, 4), max_size=3)))
    if which == "file_between":
        a, b = sorted([draw(st.integers(-1, 4)), draw(st.integers(-1, 4))])
        return pl.col("file").is_between(a, b, closed=draw(st.sampled_from(["both", "left", "right", "none"])))
    return col > draw(st.floats(min_value=-1e9, max_value=T_MAX + 1e9, allow_nan=False))  # t cast to float


predicates = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda ab: ab[0] & ab[1]),
        st.tuples(inner, inner).map(lambda ab: ab[0] | ab[1]),
        inner.map(lambda a: ~a),
    ),
    max_leaves=5,
)

COLUMNS = ["t", "file", "kind", "x", "usage", "text", "value"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pred=predicates, cols=st.none() | st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=4, unique=True), head=st.none() | st.integers(0, 700))
def test_any_query_gives_what_the_eager_read_filtered_gives(fleet, pred, cols, head):
    lf = hidpack.scan_polars(fleet).filter(pred)
    want = eager(fleet).filter(pred)
    if cols is not None:
        lf, want = lf.select(cols), want.select(cols)
    if head is not None:
        lf, want = lf.head(head), want.head(head)
    assert_same(lf.collect(), aligned(want, lf.collect_schema()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pred=predicates)
def test_the_pushed_window_holds_every_row_the_predicate_keeps(fleet, pred):
    window = pushdown(pred, paths=fleet)
    kept = eager(fleet).filter(pred)
    t = kept["t"].to_numpy()
    if window.t0 is not None:
        assert (t >= window.t0).all(), (pred, window)
    if window.t1 is not None:
        assert (t < window.t1).all(), (pred, window)
    if window.kinds is not None:
        codes = {hidpack.KINDS.index(k) for k in kept["kind"].cast(pl.String).unique().to_list()}
        assert codes <= window.kinds, (pred, window)
    if window.files is not None:
        assert set(kept["file"].unique().to_list()) <= window.files, (pred, window)


def test_bounds_at_block_edges_lose_no_row(fleet):
    """Every comparison at, just before and just after the first and last event of each block
    of a file (where the window decides which blocks are read) gives the eager rows."""
    lf, want = hidpack.scan_polars(fleet), eager(fleet)
    edges = {int(b[k]) + d for b in _native.Reader(fleet[2]).blocks() for k in ("t_min", "t_max") for d in (-1, 0, 1)}
    t = pl.col("t")
    for v in sorted(edges):
        for pred in (t > v, t >= v, t < v, t <= v, t == v, t.is_between(v, v + 5_000_000, closed="none"), t.is_in([v])):
            assert lf.filter(pred).select(pl.len()).collect().item() == want.filter(pred).height, (pred, v)


@pytest.mark.parametrize(
    "pred,window",
    [
        (pl.col("t") > 5, Window(t0=6)),
        (pl.col("t") >= 5, Window(t0=5)),
        (pl.col("t") < 5, Window(t1=5)),
        (pl.col("t") <= 5, Window(t1=6)),
        (pl.col("t") == 5, Window(5, 6)),
        (5 < pl.col("t"), Window(t0=6)),
        (pl.col("t").is_between(10, 20), Window(10, 21)),
        (pl.col("t").is_between(10, 20, closed="none"), Window(11, 20)),
        (pl.col("t").is_in([7, 3, 30]), Window(3, 31)),
        (pl.col("kind") == "key", Window(kinds=frozenset({4}))),
        (pl.col("kind").is_in(["move", "gap"]), Window(kinds=frozenset({0, 8}))),
        ((pl.col("t") >= 10) & (pl.col("kind") == "key") & (pl.col("x") > 3), Window(t0=10, kinds=frozenset({4}))),
        ((pl.col("t") < 10) | (pl.col("t") > 100), EVERYTHING),
        (pl.col("t").is_between(0, 9) | pl.col("t").is_between(50, 59), Window(0, 60)),
        ((pl.col("t") < 10) | (pl.col("x") > 3), EVERYTHING),
        (~(pl.col("t") > 5), EVERYTHING),
        (pl.col("t") != 5, EVERYTHING),
        (pl.col("kind") == "mouse", EVERYTHING),  # not a kind: polars decides, the scan reads all
        (pl.col("x") > 3, EVERYTHING),
        (None, EVERYTHING),
    ],
)
def test_pushdown_reads_the_bounds_of_the_predicate(pred, window):
    assert pushdown(pred) == window


PATHS = ["a.hpk", "b.hpk", "c.hpk", "b.hpk"]


@pytest.mark.parametrize(
    "pred,files",
    [
        (pl.col("file") == 2, {2}),
        (2 == pl.col("file"), {2}),
        (pl.col("file") < 2, {0, 1}),
        (pl.col("file") >= 2, {2, 3}),
        (pl.col("file") > 1.5, {2, 3}),
        (pl.col("file") == 9, set()),
        (pl.col("file").is_in([3, 0, 7]), {0, 3}),
        (pl.col("file").is_between(1, 2), {1, 2}),
        (pl.col("file").is_between(1, 3, closed="none"), {2}),
        (pl.col("path") == "b.hpk", {1, 3}),
        (pl.col("path").cast(pl.String) == "c.hpk", {2}),
        (pl.col("path").is_in(["a.hpk", "c.hpk", "z.hpk"]), {0, 2}),
        ((pl.col("path") == "a.hpk") | (pl.col("file") == 2), {0, 2}),
        ((pl.col("path") == "b.hpk") & (pl.col("file") < 2) & (pl.col("t") > 5), {1}),
        ((pl.col("file") == 0) | (pl.col("t") > 5), None),  # the right side holds rows of any file
        (pl.col("file") != 2, None),
        (~(pl.col("file") == 2), None),
        (pl.col("path").str.starts_with("a"), None),
    ],
)
def test_pushdown_reads_the_files_of_the_predicate(pred, files):
    window = pushdown(pred, paths=PATHS)
    assert window.files == (None if files is None else frozenset(files))
    assert pushdown(pred).files is None  # without the paths, nothing is known about the files


def test_a_float_bound_on_t_is_widened_not_wrong():
    w = pushdown(pl.col("t") >= 60e9)
    assert w.t1 is None and 60e9 - 60e9 * 2**-19 < w.t0 <= 60e9
    w = pushdown(pl.col("t") < 1.5)
    assert w.t0 is None and w.t1 >= 2


# -- blocks outside the window are never decompressed ---------------------------------------------


def damage_block(src: str, dst: str, index: int) -> dict:
    """Copy ``src`` to ``dst`` with one byte in the middle of block ``index`` flipped (its
    checksum then fails when, and only when, the block is decompressed)."""
    block = _native.Reader(src).blocks()[index]
    data = bytearray(open(src, "rb").read())
    data[block["offset"] + block["length"] // 2] ^= 0x5A
    open(dst, "wb").write(bytes(data))
    return block


def test_blocks_outside_the_time_window_are_never_decompressed(fleet, tmp_path):
    blocks = _native.Reader(fleet[2]).blocks()
    assert len(blocks) >= 8
    bad = str(tmp_path / "bad.hpk")
    block = damage_block(fleet[2], bad, 4)
    paths = [fleet[0], bad]
    lf = hidpack.scan_polars(paths)
    before = pl.col("t") < block["t_min"]
    after = pl.col("t").is_between(block["t_max"] + 1, 10**12) & (pl.col("kind") != "gap")
    for pred in (before, after, before & (pl.col("x") > 100)):
        got = lf.filter(pred).collect()
        assert got.height > 0
        assert_same(got, aligned(eager([fleet[0], fleet[2]]).filter(pred), got.schema))  # as the undamaged file's
    for query in (lf, lf.filter(pl.col("t") == block["t_min"]), lf.select("t", "file")):
        with pytest.raises(hidpack.CorruptBlockError) as e:
            query.collect()
        assert (e.value.file, e.value.path, e.value.offset) == (1, bad, block["offset"])
        assert str(e.value).startswith(bad + ": corrupt block")
    # the same in batches of 100 rows: the long file read a run of blocks at a time
    scan = _Scan(pl, pa, paths, None, False, None)
    for pred in (before, after):
        got = pl.concat(scan.source(None, pred, None, 100))
        assert_same(got, aligned(eager([fleet[0], fleet[2]]).filter(pred), got.schema))
    for pred in (None, pl.col("t") == block["t_min"]):
        with pytest.raises(hidpack.CorruptBlockError) as e:
            list(scan.source(None, pred, None, 100))
        assert (e.value.file, e.value.path, e.value.offset) == (1, bad, block["offset"])
        assert str(e.value).startswith(bad + ": corrupt block")


def test_blocks_without_a_wanted_kind_are_never_decompressed(tmp_path):
    src = str(tmp_path / "kinds.hpk")
    with hidpack.Writer(src, block_events=1000) as w:
        w.write({"t": np.arange(100), "kind": "move", "x": np.ones(100), "y": np.ones(100)})
        w.flush()
        w.write({"t": 100 + np.arange(50), "kind": "key", "pressed": np.ones(50, bool), "usage": np.full(50, 4)})
        w.flush()
        w.write({"t": 150 + np.arange(100), "kind": "move", "x": np.ones(100), "y": np.ones(100)})
    blocks = _native.Reader(src).blocks()
    assert [b["counts"]["key"] for b in blocks] == [0, 50, 0]
    bad = str(tmp_path / "bad.hpk")
    damage_block(src, bad, 1)  # the keys' block: no t bound, only the kind mask, can skip it
    lf = hidpack.scan_polars([bad])
    for pred in (pl.col("kind") == "move", pl.col("kind").is_in(["move", "button"]) & (pl.col("t") > 3)):
        assert_same(lf.filter(pred).collect(), eager([src]).filter(pred))
    assert lf.filter(pl.col("kind") == "move").select(pl.len()).collect().item() == 200
    for query in (lf, lf.filter(pl.col("kind") == "key"), lf.filter(pl.col("kind") != "move")):
        with pytest.raises(hidpack.CorruptBlockError):
            query.collect()


def test_a_damaged_file_in_a_batch_of_small_files_raises_with_its_own_index(fleet, tmp_path):
    bad = str(tmp_path / "bad.hpk")
    damage_block(fleet[3], bad, 2)
    paths = [fleet[3], fleet[3], fleet[3], bad]  # 50 events each: batches of files 0-1 and 2-3
    scan = _Scan(pl, pa, paths, None, False, None)
    with pytest.raises(hidpack.CorruptBlockError) as e:
        list(scan.source(None, None, None, 60))
    assert (e.value.file, e.value.path) == (3, bad) and str(e.value).startswith(bad + ": corrupt block")
    missing = str(tmp_path / "missing.hpk")
    with pytest.raises(OSError) as e:  # as read_many raises it
        hidpack.scan_polars([fleet[3], missing]).collect()
    assert (e.value.file, e.value.path) == (1, missing) and str(e.value).startswith(missing)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        hidpack.scan_polars(str(tmp_path / "nothing-*.hpk"))


def test_files_the_predicate_rules_out_are_never_opened(fleet, tmp_path):
    """A missing and a corrupt file among those a ``file`` / ``path`` filter excludes: the scan
    does not open them (it would raise, as the unfiltered scan does), and gives the rows of the
    files it keeps."""
    missing, junk = str(tmp_path / "missing.hpk"), str(tmp_path / "junk.hpk")
    with open(junk, "wb") as f:
        f.write(b"not a hidpack file" * 10)
    paths = [fleet[0], missing, fleet[2], junk, fleet[3]]
    good = [0, 2, 4]
    lf = hidpack.scan_polars(paths, path=True)
    for query in (lf, lf.filter(pl.col("file") <= 1), lf.filter(pl.col("path") == junk)):
        with pytest.raises((OSError, hidpack.HidpackError)):
            query.collect()
    want = eager([paths[j] for j in good], path=True).with_columns(
        pl.col("file").replace_strict(list(range(len(good))), good, return_dtype=pl.UInt32),
        pl.col("path").cast(pl.String),
    )
    for pred in (
        pl.col("file").is_in(good),
        (pl.col("file") == 0) | (pl.col("file") == 2) | (pl.col("file") == 4),
        pl.col("path").is_in([paths[j] for j in good]) & (pl.col("t") > 10_000_000),
        (pl.col("path") == fleet[2]) & (pl.col("kind") == "key"),
    ):
        got = lf.filter(pred).collect().with_columns(pl.col("path").cast(pl.String))
        assert_same(got, aligned(want, got.schema).filter(pred))
        assert got.height > 0


def test_a_file_cut_short_raises_as_the_eager_read_does_whatever_the_window(fleet, tmp_path):
    cut = str(tmp_path / "cut.hpk")
    block = _native.Reader(fleet[2]).blocks()[3]
    with open(fleet[2], "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[: block["offset"] + 40])  # inside block 3, index and footer gone
    for pred in (pl.col("t") < 0, pl.col("t") > 10**12, pl.col("kind") == "text"):
        with pytest.raises(hidpack.CorruptBlockError) as want:
            hidpack.read_many([fleet[0], cut]).to_polars().filter(pred)
        with pytest.raises(hidpack.CorruptBlockError) as got:
            hidpack.scan_polars([fleet[0], cut]).filter(pred).collect()
        assert (str(got.value), got.value.file, got.value.offset) == (str(want.value), want.value.file, want.value.offset)


# -- projection, batches ---------------------------------------------------------------------------


def test_only_the_asked_columns_are_decoded_and_returned(fleet, monkeypatch):
    want = eager(fleet)
    calls = []
    real = _native.read_many

    def spy(*args, **kw):
        calls.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(_native, "read_many", spy)
    got = hidpack.scan_polars(fleet).filter(pl.col("usage") > 20).select("t", "x").collect()
    assert got.columns == ["t", "x"]
    assert_same(got, want.filter(pl.col("usage") > 20).select("t", "x"))
    assert calls and all(sorted(kw["fields"]) == ["usage", "x"] for kw in calls)  # nothing else decoded
    calls.clear()
    got = hidpack.scan_polars(fleet).filter(pl.col("kind") == "text", pl.col("t") < 10**9).select("text").collect()
    assert got.columns == ["text"] and got.height > 0
    assert_same(got, want.filter(pl.col("kind") == "text", pl.col("t") < 10**9).select("text"))
    assert calls and all((kw["fields"], kw["kinds"], kw["t0"], kw["t1"]) == (["text"], ["text"], None, 10**9) for kw in calls)


def test_a_long_file_comes_out_a_few_blocks_at_a_time_and_a_fleet_a_few_files_at_a_time(fleet):
    # the plugin's source, called as polars calls it: (with_columns, predicate, n_rows, batch_size)
    scan = _Scan(pl, pa, fleet + [fleet[3]] * 3, None, False, None)
    frames = list(scan.source(None, None, None, 100))
    # 600 events in blocks of 64: runs of two blocks, then the rest; four 50-event files, two by two
    assert [f.height for f in frames] == [128] * 4 + [88] + [128] * 4 + [88] + [100, 100]
    assert_same(pl.concat(frames), eager(fleet + [fleet[3]] * 3))
    frames = list(scan.source(["t"], pl.col("t") < 100_000_000, 7, 10_000))
    assert sum(f.height for f in frames) == 7 and frames[0].columns == ["t"]


def test_head_stops_reading(fleet, tmp_path):
    bad = str(tmp_path / "bad.hpk")
    damage_block(fleet[2], bad, 7)
    lf = hidpack.scan_polars([fleet[0], bad])
    for n in (1, 599, 700):  # the batch after the first file is shrunk to what head still needs
        assert_same(lf.head(n).collect(), eager([fleet[0], fleet[2]]).head(n))
    with pytest.raises(hidpack.CorruptBlockError):
        lf.collect()


# -- real recordings ---------------------------------------------------------------------------


def test_real_recordings_scan_as_they_read(tmp_path):
    duck = str(tmp_path / "duck.hpk")
    io_ducktrack.import_ducktrack(data_file("ducktrack-example", "events.jsonl"), duck, timezone="UTC")
    (tmp_path / "balabit").mkdir()
    paths = [duck] + balabit_sessions(tmp_path / "balabit", 60_000)
    want = eager(paths, path=True)
    lf = hidpack.scan_polars(paths, path=True)
    t_mid = int(want["t"].median())
    for pred in (
        pl.col("t") < t_mid,
        (pl.col("kind") == "button") & pl.col("t").is_between(t_mid // 3, t_mid),
        pl.col("kind").is_in(["key", "scroll"]) | (pl.col("x") < 100),
    ):
        assert_same(lf.filter(pred).collect(), aligned(want.filter(pred), lf.collect_schema()))
    assert os.path.basename(lf.select("path").head(1).collect().item()) == "duck.hpk"
