"""The comparison harness (benches/compare.py) itself: it measures every format on corpora whose
x/y presence is not a function of kind, and it fails loudly when hidpack cannot be measured."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("hidpack_bench_compare", ROOT / "benches" / "compare.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


def _mixed_corpus(compare, float_xy: bool):
    """Two sessions in which x/y presence is not a function of kind: button presses and releases
    with and without a position, scrolls (vertical and horizontal) with and without one, moves
    (some drags) and keys; and a keys-only session (no position on any row)."""
    c = compare
    rng = np.random.default_rng(7)
    rows = []  # (kind, has_xy, code)
    for i in range(300):
        rows.append((c.K_MOVE, True, 1 if i % 7 == 0 else 0))
        if i % 10 == 3:
            rows += [(c.K_DOWN, True, 1), (c.K_UP, True, 1)]
        if i % 10 == 5:
            rows += [(c.K_DOWN, False, 2), (c.K_UP, False, 2)]  # a button without position
        if i % 10 == 7:
            rows += [(c.K_SCROLL, False, -1), (c.K_HSCROLL, False, 3)]  # scrolls without position
        if i % 10 == 9:
            rows += [(c.K_SCROLL, True, 2), (c.K_KEY_DOWN, False, 65), (c.K_KEY_UP, False, 65)]
    n = len(rows)
    kind = np.array([r[0] for r in rows], np.uint8)
    xy_valid = np.array([r[1] for r in rows], bool)
    code = np.array([r[2] for r in rows], np.int64)
    t = np.cumsum(rng.integers(0, 20_000_000, n)).astype(np.int64)
    t -= t[0]
    step = 0.25 if float_xy else 1
    x = np.cumsum(rng.integers(-5, 6, n)) * step + 500
    y = np.cumsum(rng.integers(-5, 6, n)) * step + 400
    a = c._mk_cols(t, kind, x, y, code, float_xy, xy_valid)
    m = 40
    keys = c._mk_cols(np.arange(m, dtype=np.int64) * 90_000_000, np.tile([c.K_KEY_DOWN, c.K_KEY_UP], m // 2),
                      np.zeros(m), np.zeros(m), np.repeat(np.arange(65, 65 + m // 2), 2), float_xy)
    assert not keys["xy_valid"].any()
    corpus = c.Corpus("mixed", [c.Session("a", a), c.Session("keys", keys)], float_xy=float_xy,
                      xy_scale=4 if float_xy else 1, key_field="native")
    corpus.total_sessions, corpus.total_events = 2, corpus.events
    return corpus


def test_mk_cols_keeps_presence_per_row(compare):
    c = compare
    cols = c._mk_cols([0, 1, 2], [c.K_DOWN, c.K_SCROLL, c.K_KEY_DOWN], [5, 6, 7], [8, 9, 10], [1, 1, 65], False,
                      [False, True, False])
    assert cols["xy_valid"].tolist() == [False, True, False]
    assert cols["x"].tolist() == [0, 6, 0] and cols["y"].tolist() == [0, 9, 0]  # 0 where absent
    # without a presence column: the kind's usual
    assert c._mk_cols([0, 1], [c.K_MOVE, c.K_KEY_UP], [1, 2], [3, 4], [0, 9], False)["xy_valid"].tolist() == [True, False]


def test_kind_flip_round_trip(compare):
    c = compare
    kind = np.array([c.K_MOVE, c.K_DOWN, c.K_UP, c.K_SCROLL, c.K_HSCROLL, c.K_KEY_DOWN, c.K_KEY_UP] * 2, np.uint8)
    valid = np.array([True] * 5 + [False] * 2 + [False] * 5 + [True] * 2)
    stored = c.kind_with_flip({"kind": kind, "xy_valid": valid})
    assert stored[:7].tolist() == kind[:7].tolist()  # the usual: stored as is
    assert (stored[7:] & c.XY_FLIP).all()
    k, v = c.kind_and_xy_valid(stored)
    assert k.tolist() == kind.tolist() and v.tolist() == valid.tolist()


@pytest.mark.parametrize("float_xy", [False, True])
def test_every_format_measures_a_corpus_with_positionless_buttons_and_scrolls(compare, tmp_path, capsys, float_xy):
    c = compare
    corpus = _mixed_corpus(c, float_xy)
    fmts, hp_err, missing = c.build_formats(True, str(tmp_path))
    assert hp_err is None
    assert missing == {}, missing  # the test extras install every peer
    names = [f.name for f in fmts]
    assert sum(n.startswith("hidpack") for n in names) == 4 and "pcodec" in names
    failed: list[str] = []
    fake_missing = {"some peer": "ModuleNotFoundError: No module named 'somepeer'"}
    out = c.run_corpus(corpus, fmts, fake_missing, 1, 1, str(tmp_path), failed)
    assert failed == []
    rows = {r["format"]: r for r in out["rows"]}
    assert rows["some peer"]["not_installed"]
    for f in fmts:
        r = rows[f.name]
        assert r["error"] is None and r["lossless"] is True, (f.name, r["error"])
        assert r["bytes"] > 0
    # into memory, the same file as to a path
    assert rows["hidpack (write_table to io.BytesIO, 65536-event blocks)"]["bytes"] == \
        rows["hidpack (write_table, 65536-event blocks)"]["bytes"]
    assert out["fleet_read_mev_s"]["read_many_1"] > 0
    text = capsys.readouterr().out
    assert "| some peer | **not installed** (ModuleNotFoundError" in text
    assert "NOT LOSSLESS" not in text and "error:" not in text


def test_a_format_that_loses_presence_is_an_error(compare, tmp_path, capsys):
    """The lossless check sees x/y presence: a packed layout that derived it from kind alone
    (what the harness did before) fails the run."""
    c = compare

    class KindDerived(c.PackedZstd):
        def decode(self, blob):
            out = super().decode(blob)
            out["xy_valid"] = c.XY_LUT[out["kind"]]
            return out

    fmt = KindDerived(3)
    fmt.name = "kind-derived"
    failed: list[str] = []
    out = c.run_corpus(_mixed_corpus(c, False), [fmt], {}, 1, 1, str(tmp_path), failed)
    assert len(failed) == 1 and "kind-derived" in failed[0] and "xy_valid differs" in failed[0]
    assert out["rows"][0]["lossless"] is False


def test_missing_peer_is_reported_not_installed(compare, tmp_path, monkeypatch):
    def unavailable():
        raise ModuleNotFoundError("No module named 'pcodec'", name="pcodec")

    monkeypatch.setattr(compare, "PEERS", [("pcodec", unavailable), ("JSONL", compare.JSONL)])
    fmts, hp_err, missing = compare.build_formats(False, str(tmp_path))
    assert [f.name for f in fmts] == ["JSONL"]
    assert missing == {"pcodec": "ModuleNotFoundError: No module named 'pcodec'"}


def test_harness_exits_non_zero_when_hidpack_cannot_be_imported(compare, monkeypatch, capsys):
    # the native module cannot be imported (as before it is built)
    monkeypatch.setitem(sys.modules, "hidpack._native", None)
    monkeypatch.setattr(compare, "_HIDPACK", None)
    monkeypatch.setattr(compare, "_HIDPACK_ERR", None)
    hp, err = compare.import_hidpack()
    assert hp is None and "hidpack._native" in err
    rc = compare.main(["--quick", "--no-pin", "--corpus", "ducktrack-example"])
    assert rc == 2
    cap = capsys.readouterr()
    assert "error: hidpack cannot be measured" in cap.err and "hidpack._native" in cap.err
    assert "--no-hidpack" in cap.err
    assert "###" not in cap.out  # no table without hidpack's rows


def test_concat_sessions_puts_sessions_end_to_end(compare):
    c = compare
    a = c._mk_cols([0, 5, 9], [c.K_MOVE] * 3, [1, 2, 3], [1, 2, 3], [0, 0, 0], False)
    b = c._mk_cols([0, 2], [c.K_SCROLL, c.K_MOVE], [0, 4], [0, 4], [1, 0], False, [False, True])
    out = c.concat_sessions([c.Session("a", a), c.Session("b", b)])
    assert out["t"].tolist() == [0, 5, 9, 9 + c.SESSION_GAP_NS, 11 + c.SESSION_GAP_NS]
    assert out["xy_valid"].tolist() == [True, True, True, False, True]
    assert out["kind"].tolist() == [0, 0, 0, c.K_SCROLL, 0]


def test_user_path_inputs_sizes(compare, monkeypatch):
    c = compare
    sessions = [c.Session(str(i), c._mk_cols(np.arange(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), False))
                for i, n in enumerate([5, 4, 3, 2, 1])]
    corpus = c.Corpus("five", sessions)
    monkeypatch.setattr(c, "LONG_MIN_EVENTS", 8)
    monkeypatch.setattr(c, "FLEET_MIN_FILES", 3)
    long_s, fleet_s, _, _ = c.user_path_inputs(corpus, quick=True)
    assert [s.name for s in long_s] == ["0", "1"]  # 9 events >= 8
    assert [s.name for s in fleet_s] == ["2", "3", "4"]
    long_s, fleet_s, _, _ = c.user_path_inputs(corpus, quick=False)
    assert len(long_s) == len(fleet_s) == 5
    monkeypatch.setattr(c, "FLEET_MIN_FILES", 6)
    with pytest.raises(ValueError, match="need 6 sessions"):
        c.user_path_inputs(corpus, quick=True)


def test_user_path_readers_on_positionless_rows(compare, tmp_path):
    """Every user-path reader, in this process, on files of a corpus whose buttons and scrolls
    are partly without a position: each returns every row it should, first and last t right."""
    c = compare
    hp, _ = c.import_hidpack()
    corpus = _mixed_corpus(c, float_xy=False)
    long_cols = c.concat_sessions(corpus.sessions)
    files = c.write_user_files(hp, corpus, long_cols, corpus.sessions, str(tmp_path))
    mv = long_cols["t"][long_cols["kind"] == c.K_MOVE]
    n_fleet = corpus.events
    expect = {"long-numpy": (len(mv), int(mv[0]), int(mv[-1])),
              "long-pandas": (len(long_cols["t"]), 0, int(long_cols["t"][-1])),
              "fleet-table": (n_fleet, 0, int(corpus.sessions[-1].cols["t"][-1]))}
    expect["fleet-pandas"] = expect["fleet-table"]
    readers = c._user_readers()
    assert len(readers) == 24
    for name, (group, _call, _threaded, read) in readers.items():
        fmt = name.split("/")[1].split("-")[0]
        what = "long" if group.startswith("long") else "fleet"
        out = read(files[what][fmt if fmt in ("hidpack", "pcodec") else "parquet"], False)
        rows, nbytes, t_first, t_last = c.result_size(out)
        assert (rows, t_first, t_last) == expect[group], name
        assert nbytes >= rows * 8, name  # t alone is 8 bytes a row
    # the pandas frames keep x/y absence as NaN
    df = readers["long-pandas/pcodec"][3](files["long"]["pcodec"], False)
    assert np.array_equal(df["x"].isna().to_numpy(), ~long_cols["xy_valid"])


def test_user_path_row_runs_in_a_fresh_process(compare, tmp_path):
    c = compare
    hp, _ = c.import_hidpack()
    corpus = _mixed_corpus(c, float_xy=False)
    long_cols = c.concat_sessions(corpus.sessions)
    files = c.write_user_files(hp, corpus, long_cols, corpus.sessions, str(tmp_path))
    r = c.run_user_path_row("long-numpy/hidpack-1", files["long"]["hidpack"], files["fleet"]["hidpack"][:1], 2, False)
    assert r["rows"] == int(np.count_nonzero(long_cols["kind"] == c.K_MOVE))
    assert len(r["times"]) == 2 and all(t > 0 for t in r["times"])
    assert len(r["cpu_times"]) == 2 and all(c >= 0 for c in r["cpu_times"])
    assert r["elsewhere_cpus"] is None or 0 <= r["elsewhere_cpus"] <= (os.cpu_count() or 1)
    with pytest.raises(RuntimeError, match="exited 1"):  # a read that fails says why
        c.run_user_path_row("long-numpy/hidpack-1", [str(tmp_path / "missing.hpk")], files["fleet"]["hidpack"][:1],
                            1, False)


def test_user_path_table_says_what_was_not_measured(compare, tmp_path):
    c = compare
    hp, _ = c.import_hidpack()
    corpus = _mixed_corpus(c, float_xy=False)
    files = c.write_user_files(hp, corpus, c.concat_sessions(corpus.sessions), corpus.sessions, str(tmp_path),
                               with_pcodec=False)
    assert files["long"]["pcodec"] == [] and len(files["fleet"]["parquet"]) == 2
    ok = {"rows": 10, "result_bytes": 1000, "t_first": 0, "t_last": 9, "peak_growth": 1500, "first_s": 1.0,
          "times": [1.0]}
    figs = {"long": {"events": 10, "moves": 8, "how": "x", "bytes": {"hidpack": 20, "pcodec": 0, "parquet": 70}},
            "fleet": {"files": 2, "events": 10, "how": "y", "bytes": {"hidpack": 20, "pcodec": 0, "parquet": 70}},
            "rows": {"long-numpy/hidpack-1": dict(ok, mev_s=2.0),
                     "long-numpy/pcodec": {"not_installed": "ModuleNotFoundError: No module named 'pcodec'"},
                     "long-numpy/parquet-1": dict(ok, mev_s=4.0, elsewhere_cpus=0.734, cpu_times=[0.5, 0.25, 0.75]),
                     "long-numpy/parquet": {"error": "RuntimeError: the read's process exited 1:\nboom"}}}
    text = c.fmt_user_paths(figs, c._user_readers(), 1)
    assert "| `hp.open(p, threads=1).moves()` | 1 | 2.00 | – | – | 0.50 | 0 | 1.50 | – | – |" in text
    assert "| 4.00 | – | – | 1.00 | 0 | 1.50 | 0.73 | 500.0 |" in text  # the CPUs busy elsewhere during the row
    assert "**not installed** (ModuleNotFoundError" in text
    assert "error: RuntimeError: the read's process exited 1: |" in text
    assert "moves into numpy, 1 thread: × Parquet: 0.50 [>= 2]" in text
    assert "× pcodec: not measured" in text
    assert "pcodec 0.00" not in text  # no pcodec files: no size for them


def test_user_path_rounds_sample_separate_processes(compare, tmp_path, monkeypatch):
    """Every row runs once a round in its own process; its Mev/s is the median of every round's
    passes, and the targets list shows the range of the rounds' own ratios."""
    c = compare
    hp, _ = c.import_hidpack()
    corpus = _mixed_corpus(c, float_xy=False)
    monkeypatch.setattr(c, "LONG_MIN_EVENTS", 1)
    monkeypatch.setattr(c, "FLEET_MIN_FILES", 1)
    failed: list = []
    text, figs = c.user_paths(hp, corpus, False, str(tmp_path), 1, failed, {},
                              ["long-numpy/hidpack-1", "long-numpy/parquet-1"], rounds=2)
    assert failed == []
    assert set(figs["rows"]) == {"long-numpy/hidpack-1", "long-numpy/parquet-1"}
    for r in figs["rows"].values():
        assert len(r["times"]) == 2 and len(r["round_mev_s"]) == 2 and len(r["first_s"]) == 2
        assert r["rows"] == int(np.count_nonzero(c.concat_sessions(corpus.sessions)["kind"] == c.K_MOVE))
    assert "2 rounds, every row once a round" in text
    assert re.search(r"× Parquet: \d+\.\d\d \(rounds \d+\.\d\d–\d+\.\d\d\) \[>= 2\]", text)


def test_user_path_rounds_aggregate_and_stop_a_failed_row(compare, tmp_path, monkeypatch):
    """Rounds combine into one row (median of all passes, the largest peak and the busiest round),
    and a row that fails is reported once and not run again."""
    c = compare
    hp, _ = c.import_hidpack()
    corpus = _mixed_corpus(c, float_xy=False)
    monkeypatch.setattr(c, "LONG_MIN_EVENTS", 1)
    monkeypatch.setattr(c, "FLEET_MIN_FILES", 1)
    long_cols = c.concat_sessions(corpus.sessions)
    mv = long_cols["t"][long_cols["kind"] == c.K_MOVE]
    calls = []

    def fake(name, paths, warm, repeats, float_xy):
        calls.append(name)
        if name == "long-numpy/parquet-1":
            raise RuntimeError("the read's process exited 1:\nboom")
        k = sum(n == name for n in calls)  # the round, from 1
        return {"rows": len(mv), "result_bytes": 100, "t_first": int(mv[0]), "t_last": int(mv[-1]),
                "peak_growth": 100 * k, "first_s": 1.0, "times": [k * 1.0, k * 1.0 + 0.5],
                "cpu_times": [0.1 * k], "elsewhere_cpus": 0.25 * k}

    monkeypatch.setattr(c, "run_user_path_row", fake)
    failed: list = []
    _text, figs = c.user_paths(hp, corpus, False, str(tmp_path), 2, failed, {},
                               ["long-numpy/hidpack-1", "long-numpy/parquet-1"], rounds=3)
    assert calls.count("long-numpy/hidpack-1") == 3
    assert calls.count("long-numpy/parquet-1") == 1  # failed in round 1: not run again
    assert len(failed) == 1 and "boom" in failed[0]
    r = figs["rows"]["long-numpy/hidpack-1"]
    assert r["times"] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    n = len(long_cols["t"])
    assert r["mev_s"] == pytest.approx(n / 2.25 / 1e6)
    assert r["round_mev_s"] == pytest.approx([n / 1.25 / 1e6, n / 2.25 / 1e6, n / 3.25 / 1e6])
    assert r["peak_growth"] == 300 and r["elsewhere_cpus"] == 0.75
    assert figs["rows"]["long-numpy/parquet-1"]["error"].startswith("RuntimeError")
