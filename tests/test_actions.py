"""Fixed-rate actions (hidpack.actions, core: hidpack_core::actions): bins against a plain
Python reference, exact position steps, lossless events -> bins -> events, frames, errors, and a
real corpus."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hidpack
from hidpack.actions import fps_fraction, frame_edges

MS = 1_000_000


def _write(path, rows):
    """rows: (t, kind, fields) -> a file."""
    cols: dict = {"t": [r[0] for r in rows], "kind": [r[1] for r in rows]}
    names = sorted({k for r in rows for k in r[2]})
    for n in names:
        cols[n] = [r[2].get(n) for r in rows]
    hidpack.write_table(path, cols, overwrite=True)
    return hidpack.open(path)


PX = st.integers(-2000 * 4, 2000 * 4).map(lambda v: v / 4)  # quarter pixels: exact, fractional


@st.composite
def events(draw, sorted_t=True):
    n = draw(st.integers(0, 60))
    t = 0
    rows = []
    for _ in range(n):
        t += draw(st.integers(0, 40 * MS)) if sorted_t else draw(st.integers(-10 * MS, 40 * MS))
        kind = draw(st.sampled_from(["move", "move", "button", "scroll", "key", "text", "raw_move", "marker", "focus"]))
        if kind == "move":
            f = {"x": draw(PX), "y": draw(PX)}
        elif kind == "button":
            f = {"button": draw(st.integers(1, 40)), "pressed": draw(st.booleans())}
            if draw(st.booleans()):
                f.update(x=draw(PX), y=draw(PX))
        elif kind == "scroll":
            f = {"dx": draw(PX), "dy": draw(PX)}
            if draw(st.booleans()):
                f.update(x=draw(PX), y=draw(PX))
        elif kind == "key":
            f = {"pressed": draw(st.booleans())}
            if draw(st.booleans()):
                f["usage"] = draw(st.integers(0, 0xFFFF))
            if draw(st.booleans()):
                f["native"] = draw(st.integers(0, 2**32 - 1))
        elif kind == "text":
            f = {"text": draw(st.text(alphabet="ab é\U0001F600", max_size=3))}
        elif kind == "raw_move":
            f = {"dx": draw(PX), "dy": draw(PX)}
        elif kind == "marker":
            f = {"label": draw(st.sampled_from(["a", "screen", "é"]))}
        else:
            f = {"title": draw(st.text(alphabet="ab é\U0001F600", max_size=3))}
        rows.append((t, kind, f))
    return rows


def _reference(rows, edges):
    """Per-bin values computed the plain way (one walk over bins and time-sorted rows)."""
    n = len(edges) - 1
    out = {k: [] for k in ("x", "y", "moves", "held", "scroll_dy", "raw_dx", "text", "buttons", "keys")}
    pos, held = None, 0
    j = 0
    for i in range(n):
        lo, hi = edges[i], edges[i + 1]
        moves = scroll_dy = raw_dx = 0
        text, buttons, keys = "", [], []
        while j < len(rows) and rows[j][0] < hi:
            t, kind, f = rows[j]
            j += 1
            if "x" in f and kind in ("move", "button", "scroll"):
                pos = (f["x"], f["y"])
            if kind == "button" and f["button"] < 32:
                held = held | (1 << f["button"]) if f["pressed"] else held & ~(1 << f["button"])
            if t < lo:  # before the first bin: the starting state only
                continue
            moves += kind == "move"
            if kind == "scroll":
                scroll_dy += f["dy"]
            if kind == "raw_move":
                raw_dx += f["dx"]
            if kind == "text":
                text += f["text"]
            if kind == "button":
                buttons.append((t - lo, f["button"], f["pressed"]))
            if kind == "key":
                keys.append((t - lo, f["pressed"], f.get("usage"), f.get("native")))
        out["x"].append(np.nan if pos is None else pos[0])
        out["y"].append(np.nan if pos is None else pos[1])
        for k, v in (("moves", moves), ("held", held), ("scroll_dy", scroll_dy), ("raw_dx", raw_dx),
                     ("text", text), ("buttons", buttons), ("keys", keys)):
            out[k].append(v)
    return out


def _check_against_reference(acts, rows):
    ref = _reference(rows, acts.edges.tolist())
    np.testing.assert_array_equal(acts.x, np.array(ref["x"], dtype=float))
    np.testing.assert_array_equal(acts.y, np.array(ref["y"], dtype=float))
    assert acts.moves.tolist() == ref["moves"]
    assert acts.held.tolist() == ref["held"]
    assert acts.scroll_dy.tolist() == ref["scroll_dy"]
    assert acts.raw_dx.tolist() == ref["raw_dx"]
    assert acts.text.tolist() == ref["text"]
    for i in range(len(acts)):
        b = acts.buttons.bin(i)
        assert list(zip(b["dt"].tolist(), b["button"].tolist(), b["pressed"].tolist())) == ref["buttons"][i]
        k = acts.keys.bin(i)
        got = list(zip(k["dt"].tolist(), k["pressed"].tolist(), k["usage"].tolist(), k["native"].tolist()))
        assert got == ref["keys"][i]
    # the steps rebuild every known position exactly
    if acts.start is not None:
        known = ~np.isnan(acts.x)
        np.testing.assert_array_equal((acts.start[0] + np.cumsum(acts.dx))[known], acts.x[known])
        np.testing.assert_array_equal((acts.start[1] + np.cumsum(acts.dy))[known], acts.y[known])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=events(), fps=st.sampled_from([1, 20, 30, Fraction(30000, 1001), 60.5, 1000]))
def test_bins_match_a_plain_reference(tmp_path, rows, fps):
    rec = _write(str(tmp_path / "a.hpk"), rows)
    if not rows:
        with pytest.raises(ValueError, match="no events to bin"):
            rec.actions(fps=fps)
        return
    acts = rec.actions(fps=fps)
    assert (acts.before, acts.after) == (0, 0)
    num, den = fps_fraction(fps)
    assert acts.edges[0] == rows[0][0]
    assert acts.edges[-1] > rows[-1][0] >= acts.edges[-2]
    assert all(acts.edges[i] == rows[0][0] + i * 10**9 * den // num for i in range(len(acts.edges)))
    _check_against_reference(acts, rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=events(sorted_t=False), fps=st.sampled_from([7, 20, 1000]))
def test_lossless_events_to_bins_to_events_is_exact(tmp_path, rows, fps):
    """Times may decrease (push order is kept): every binned event comes back, in order, with
    its exact time rebuilt from bin start + offset."""
    rec = _write(str(tmp_path / "a.hpk"), rows)
    if not rows:
        return
    acts = rec.actions(fps=fps, lossless=True)
    assert (acts.before, acts.after) == (0, 0)
    back = acts.rebuild_events()
    table = rec.table()
    assert back.keys() == table.keys()
    for k in table:
        np.testing.assert_array_equal(back[k], table[k], err_msg=k)
    # every event sits inside its bin
    dt, bins = acts.events.dt, acts.events.bin_index()
    assert np.all(dt >= 0) and np.all(acts.edges[bins] + dt < acts.edges[bins + 1])


def test_events_outside_the_bins_are_counted_and_set_the_start(tmp_path):
    rec = _write(str(tmp_path / "a.hpk"), [
        (0, "move", {"x": 1.0, "y": 2.0}),
        (5 * MS, "button", {"button": 1, "pressed": True}),
        (100 * MS, "move", {"x": 4.0, "y": 6.0}),
        (300 * MS, "key", {"pressed": True, "usage": 4}),
    ])
    acts = rec.actions(fps=10, start=50 * MS, end=250 * MS)
    assert (len(acts), acts.before, acts.after) == (2, 2, 1)
    assert acts.start == (1.0, 2.0)
    assert acts.dx.tolist() == [3.0, 0.0] and acts.dy.tolist() == [4.0, 0.0]
    assert acts.held.tolist() == [2, 2]
    assert "2 before, 1 after" in repr(acts)
    # a view's window bounds the bins by default
    view = rec.between(100 * MS, 200 * MS).actions(fps=10)
    assert view.edges.tolist() == [100 * MS, 200 * MS] and view.moves.tolist() == [1]


def test_frame_bins(tmp_path):
    rec = _write(str(tmp_path / "a.hpk"), [
        (0, "move", {"x": 1.0, "y": 2.0}),
        (40 * MS, "move", {"x": 2.0, "y": 2.0}),
        (80 * MS, "marker", {"label": "screen", "value": 0}),
        (90 * MS, "move", {"x": 3.0, "y": 2.0}),
        (125 * MS, "move", {"x": 5.0, "y": 2.0}),
        (130 * MS, "marker", {"label": "screen", "value": 50 * MS}),
        (131 * MS, "move", {"x": 8.0, "y": 2.0}),
        (200 * MS, "move", {"x": 9.0, "y": 2.0}),
    ])
    frames = np.array([80 * MS, 130 * MS])
    acts = rec.actions(frames=frames)
    # one bin per frame; the last as long as the median period (50 ms)
    assert acts.edges.tolist() == [80 * MS, 130 * MS, 180 * MS]
    assert (acts.before, acts.after) == (2, 1)
    assert acts.x.tolist() == [5.0, 8.0] and acts.dx.tolist() == [3.0, 3.0]
    assert rec.actions(frames=frames, end=201 * MS).after == 0
    class Frames:  # anything with a .t, as rec.frames() gives
        t = frames
    assert rec.actions(frames=Frames()).edges.tolist() == acts.edges.tolist()


def test_bad_arguments_are_refused_clearly(tmp_path):
    rec = _write(str(tmp_path / "a.hpk"), [(0, "move", {"x": 1.0, "y": 2.0}), (MS, "move", {"x": 1.0, "y": 2.0})])
    with pytest.raises(TypeError, match="exactly one of fps= and frames="):
        rec.actions()
    with pytest.raises(TypeError, match="exactly one"):
        rec.actions(fps=10, frames=[0, 1])
    for bad in (0, -5, float("nan"), float("inf"), "fast"):
        with pytest.raises(ValueError, match="fps must be"):
            rec.actions(fps=bad)
    with pytest.raises(TypeError, match="bool"):
        rec.actions(fps=True)
    with pytest.raises(ValueError, match="frame 1 is at 5 ns and frame 2 at 5 ns"):
        rec.actions(frames=[0, 5, 5])
    with pytest.raises(ValueError, match="give end="):
        rec.actions(frames=[0])
    with pytest.raises(TypeError, match="integers"):
        rec.actions(frames=[0.5, 1.5])
    with pytest.raises(ValueError, match="at most 268435456"):
        rec.actions(fps=10**9, end=10**9)
    with pytest.raises(ValueError, match="before start"):
        rec.actions(fps=10, start=5, end=4)
    with pytest.raises(ValueError, match="lossless=True"):
        rec.actions(fps=10).events_table()
    with pytest.raises(IndexError, match="bin 7 out of range for 1 bins"):
        rec.actions(fps=10).buttons.bin(7)


def test_fps_fraction_is_exact():
    assert fps_fraction(30) == (30, 1)
    assert fps_fraction("30000/1001") == (30000, 1001)
    assert fps_fraction(29.97) == (2997, 100)
    assert fps_fraction(Fraction(1, 3)) == (1, 3)
    assert frame_edges([0, 10, 30]).tolist() == [0, 10, 30, 45]


def test_real_sessions_against_the_reference(tmp_path):
    """Balabit sessions (real, third-party RDP mouse data): 20 fps bins match the plain
    reference, and the lossless listing gives back every event."""
    from shared_data import balabit_sessions

    paths = balabit_sessions(tmp_path, 6000)
    assert paths
    kinds = hidpack.KINDS
    for path in paths:
        rec = hidpack.open(path)
        table = rec.table()
        rows = []
        for i in range(len(table["t"])):
            f = {}
            for name in ("x", "y", "button", "pressed", "dx", "dy", "usage", "native"):
                if f"{name}_valid" in table and table[f"{name}_valid"][i]:
                    f[name] = table[name][i].item()
            rows.append((int(table["t"][i]), kinds[table["kind"][i]], f))
        _check_against_reference(rec.actions(fps=20), rows)
        back = rec.actions(fps=20, lossless=True).rebuild_events()
        for k in table:
            np.testing.assert_array_equal(back[k], table[k], err_msg=k)


def test_bins_samples_through_the_dataset_and_the_hf_export(tmp_path):
    """`sample="bins"` gives each file's actions to FleetDataset, and `export --to hf --unit bins`
    saves the same arrays: datasets.load_from_disk reads back what Recording.actions gives."""
    import datasets

    from hidpack.cli import main
    from hidpack.dataset import FleetDataset

    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for i in range(3):
        _write(str(fleet / f"s{i}.hpk"), [
            (0, "move", {"x": 1.0 + i, "y": 2.0}),
            (30 * MS, "key", {"pressed": True, "usage": 4 + i}),
            (40 * MS, "text", {"text": "ab"[: i + 1]}),
            (60 * MS, "button", {"button": 1, "pressed": True}),
            (150 * MS + i, "move", {"x": 7.25, "y": -3.0}),
        ])
    samples = sorted(FleetDataset(str(fleet), sample="bins", fps=10), key=lambda s: s["path"])
    assert [s["file"] for s in samples] == [0, 1, 2]
    out = tmp_path / "hf"
    assert main(["export", str(fleet), "--to", "hf", "--unit", "bins", "--fps", "10", "-o", str(out), "-q"]) == 0
    ds = datasets.load_from_disk(str(out))
    assert len(ds) == 3
    for row, sample in zip(sorted(ds, key=lambda r: r["path"]), samples):
        acts = hidpack.open(sample["path"]).actions(fps=10)
        assert row["t"] == acts.t.tolist() == sample["t"].tolist()
        np.testing.assert_array_equal(np.array(row["x"], dtype=float), acts.x)
        assert row["dx"] == acts.dx.tolist() and row["held"] == acts.held.tolist()
        assert row["text"] == acts.text.tolist()
        assert row["key"]["usage"] == acts.keys.usage.tolist() and row["key"]["offsets"] == acts.keys.offsets.tolist()
        assert row["button"]["dt"] == acts.buttons.dt.tolist()
    assert main(["export", str(fleet), "--to", "hf", "--fps", "10", "-o", str(tmp_path / "x"), "-q"]) != 0
