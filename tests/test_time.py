"""Times the public API takes (``between``, ``read_many``/``read_dask`` ``t0``/``t1``,
``plot_file``, ``wall_t``): plain numbers are nanoseconds, durations convert exactly, anything
that would have to be rounded is refused (``hidpack._time``)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hidpack
from hidpack import plot
from hidpack._time import as_ns, as_ns_array

I64 = st.integers(-(2**63), 2**63 - 1)
NS_PER = {"W": 604_800 * 10**9, "D": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9,
          "ms": 10**6, "us": 10**3, "ns": 1}


@given(I64)
def test_integers_are_nanoseconds(ns):
    assert as_ns("t0", ns) == ns
    assert as_ns("t0", np.int64(ns)) == ns
    assert type(as_ns("t0", np.int64(ns))) is int
    if ns != -(2**63):  # timedelta64's -2**63 is NaT
        assert as_ns("t0", np.timedelta64(ns, "ns")) == ns


@given(st.integers(-(2**53), 2**53))
def test_whole_floats_are_nanoseconds(ns):
    assert as_ns("t0", float(ns)) == ns
    assert as_ns("t0", np.float64(ns)) == ns
    assert as_ns("t0", Fraction(ns)) == ns and as_ns("t0", Decimal(ns)) == ns


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f.is_integer()))
def test_any_whole_float_converts_exactly(f):
    assert as_ns("t1", f) == int(f)


@given(st.sampled_from(sorted(NS_PER)), st.integers(-(10**6), 10**6))
def test_timedelta64_of_every_fixed_unit_converts_exactly(unit, v):
    assert as_ns("t0", np.timedelta64(v, unit)) == v * NS_PER[unit]
    assert as_ns("t0", pd.Timedelta(np.timedelta64(v, unit))) == v * NS_PER[unit]


@given(st.integers(-999_999_999, 999_999_999), st.integers(0, 86_399), st.integers(0, 999_999))
def test_datetime_timedelta_converts_exactly(days, seconds, us):
    td = dt.timedelta(days=days, seconds=seconds, microseconds=us)
    assert as_ns("t0", td) == ((days * 86_400 + seconds) * 10**6 + us) * 1_000


@given(st.integers(-(2**62), 2**62))
def test_pandas_timedelta_keeps_nanoseconds(ns):
    assert as_ns("t0", pd.Timedelta(ns, unit="ns")) == ns


def test_sub_nanosecond_units_only_when_whole():
    assert as_ns("t0", np.timedelta64(3000, "ps")) == 3
    assert as_ns("t0", np.timedelta64(5 * 10**9, "as")) == 5
    with pytest.raises(ValueError, match=r"t0=np.timedelta64\(1,'ps'\) is not a whole number of nanoseconds"):
        as_ns("t0", np.timedelta64(1, "ps"))


def test_none_stays_none():
    assert as_ns("t0", None) is None


@pytest.mark.parametrize(
    "value, error, message",
    [
        (1.5, ValueError, r"t0=1\.5 is not a whole number of nanoseconds"),
        (np.float32(0.25), ValueError, r"t0=.*0\.25.* is not a whole number"),
        (float("nan"), ValueError, r"t0=nan is not a finite time"),
        (float("inf"), ValueError, r"t0=inf is not a finite time"),
        (np.float64("-inf"), ValueError, r"t0=.*inf.* is not a finite time"),
        (Fraction(1, 3), ValueError, r"t0=Fraction\(1, 3\) is not a whole number"),
        (Decimal("NaN"), ValueError, r"t0=Decimal\('NaN'\) is not a finite time"),
        (np.timedelta64("NaT"), ValueError, r"t0 is NaT"),
        (pd.NaT, ValueError, r"t0 is NaT"),
        (np.timedelta64(1, "M"), ValueError, r"unit 'M' has no fixed length"),
        (np.timedelta64(1, "Y"), ValueError, r"unit 'Y' has no fixed length"),
        (np.timedelta64(5), ValueError, r"unitless timedelta64"),
        (True, TypeError, r"t0 must be an int or float of nanoseconds.*not a bool \(True\)"),
        (np.bool_(False), TypeError, r"not a bool"),
        ("60", TypeError, r"t0 must be .* not str \('60'\)"),
        (dt.datetime(2024, 1, 1), TypeError, r"not datetime"),
        ([1, 2], TypeError, r"not list"),
        (1 + 2j, TypeError, r"not complex"),
    ],
)
def test_refused_with_a_message_naming_argument_and_value(value, error, message):
    with pytest.raises(error, match=message):
        as_ns("t0", value)


def test_arrays_of_times():
    assert as_ns_array("t", 5).tolist() == 5
    assert as_ns_array("t", [1, 2.0, 3e9]).tolist() == [1, 2, 3_000_000_000]
    assert as_ns_array("t", np.array([1, 2], "m8[ms]")).tolist() == [1_000_000, 2_000_000]
    assert as_ns_array("t", np.array([2000, 4000], "m8[ps]")).tolist() == [2, 4]
    assert as_ns_array("t", pd.to_timedelta([1, 2], unit="s")).tolist() == [10**9, 2 * 10**9]
    assert as_ns_array("t", pd.Series(pd.to_timedelta([3], unit="us"))).tolist() == [3000]
    assert as_ns_array("t", [dt.timedelta(seconds=1), np.timedelta64(2, "ns")]).tolist() == [10**9, 2]
    for bad, error, message in [
        ([0.5], ValueError, "not whole numbers of nanoseconds"),
        ([np.nan], ValueError, "NaN or infinite"),
        (np.array([1, "NaT"], "m8[s]"), ValueError, "NaT"),
        (np.array([1], "m8[ps]"), ValueError, "not whole numbers of nanoseconds"),
        (np.array([1], "m8[M]"), ValueError, "no fixed length"),
        (np.array([2**62], "m8[s]"), ValueError, "beyond the int64"),
        ([True, False], TypeError, "array of bool"),
        (["1"], TypeError, "array of <U1"),
        ([None, 1], TypeError, "holds None"),
        (None, TypeError, "not None"),
    ]:
        with pytest.raises(error, match=message):
            as_ns_array("t", bad)


# -- the public API takes every kind of time ------------------------------------------------------

SECOND = 10**9
WINDOW = [
    (60 * SECOND, 120 * SECOND),
    (60e9, 120e9),
    (np.int64(60 * SECOND), np.uint64(120 * SECOND)),
    (np.float64(60e9), np.float32(2**37)),  # float32(2**37) is whole: 137.4 s
    (dt.timedelta(minutes=1), dt.timedelta(minutes=2)),
    (np.timedelta64(1, "m"), np.timedelta64(120_000, "ms")),
    (pd.Timedelta(minutes=1), pd.Timedelta("120s")),
]


@pytest.fixture(scope="module")
def minutes(tmp_path_factory):
    """Moves every 0.5 s for 3 minutes (wall clock known), in small blocks."""
    path = str(tmp_path_factory.mktemp("time") / "m.hpk")
    t = np.arange(0, 180 * SECOND, SECOND // 2, dtype=np.int64)
    hidpack.write_table(
        path,
        {"t": t, "kind": "move", "x": np.arange(len(t), dtype=float) % 500, "y": np.arange(len(t), dtype=float) % 300},
        block_events=32,
        wall_clock_ns=1_700_000_000 * SECOND,
    )
    return path, t


@pytest.mark.parametrize("t0, t1", WINDOW, ids=lambda v: type(v).__name__)
def test_between_takes_numbers_and_durations(minutes, t0, t1):
    path, t = minutes
    want_t1 = int(t1) if isinstance(t1, (np.floating, float)) else as_ns("t1", t1)
    want = t[(t >= 60 * SECOND) & (t < want_t1)]
    rec = hidpack.open(path)
    assert rec.between(t0, t1).moves().t.tolist() == want.tolist()
    assert rec.between(t0, t1).t0 == 60 * SECOND and rec.between(t0, t1).t1 == want_t1
    # a window inside a window takes them too
    assert rec.between(None, t1).between(t0).moves().t.tolist() == want.tolist()


@pytest.mark.parametrize("t0, t1", WINDOW, ids=lambda v: type(v).__name__)
def test_read_many_takes_numbers_and_durations(minutes, t0, t1):
    path, t = minutes
    got = hidpack.read_many([path, path], kinds="move", t0=t0, t1=t1)
    want = hidpack.open(path).between(60 * SECOND, as_ns("t1", t1)).moves().t
    assert got["t"].tolist() == want.tolist() * 2


def test_read_dask_takes_durations_and_checks_them_before_computing(minutes):
    path, t = minutes
    ddf = hidpack.read_dask([path], kinds="move", t0=pd.Timedelta(minutes=1), t1=np.timedelta64(2, "m"))
    got = ddf.compute()["t"].to_numpy()
    assert got.tolist() == t[(t >= 60 * SECOND) & (t < 120 * SECOND)].tolist()
    with pytest.raises(ValueError, match=r"t1=0\.5 is not a whole number"):
        hidpack.read_dask([path], t1=0.5)


def test_errors_name_the_argument(minutes):
    path, _ = minutes
    rec = hidpack.open(path)
    with pytest.raises(ValueError, match=r"t1=nan is not a finite time"):
        rec.between(0, float("nan"))
    with pytest.raises(TypeError, match=r"t0 must be .*not str"):
        hidpack.read_many([path], t0="1 min")
    with pytest.raises(ValueError, match=r"t0=0\.1 is not a whole number"):
        plot.plot_file(path, io.BytesIO(), t0=0.1)


def test_plot_file_takes_durations(minutes):
    path, t = minutes
    a, b = io.BytesIO(), io.BytesIO()
    ra = plot.plot_file(path, a, t0=60 * SECOND, t1=120 * SECOND, size=64)
    rb = plot.plot_file(path, b, t0=dt.timedelta(seconds=60), t1=pd.Timedelta(seconds=120), size=64)
    assert ra == rb and ra["moves"] == int(((t >= 60 * SECOND) & (t < 120 * SECOND)).sum())
    assert a.getvalue() == b.getvalue()


def test_wall_t_takes_times_and_arrays_of_them(minutes):
    path, _ = minutes
    rec = hidpack.open(path)
    base = 1_700_000_000 * SECOND
    assert int(rec.wall_t(60e9)) == base + 60 * SECOND
    assert int(rec.wall_t(dt.timedelta(seconds=1))) == base + SECOND
    assert rec.wall_t(pd.to_timedelta([0, 2], unit="s")).tolist() == [base, base + 2 * SECOND]
    assert rec.wall_t(rec.moves().t[:2]).tolist() == [base, base + SECOND // 2]
    with pytest.raises(ValueError, match="not whole numbers of nanoseconds"):
        rec.wall_t([0.5])
