"""``hidpack.plot`` and ``hidpack plot``: PNG pictures of the pointer, checked pixel by pixel and
read back with pypng (a PNG decoder nobody here wrote)."""

from __future__ import annotations

import io

import numpy as np
import png  # pypng
import pytest

import hidpack
from hidpack import plot

from shared_data import balabit_sessions
from test_cli import assert_one_line_error, run

WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def read_png(data: bytes) -> np.ndarray:
    w, h, rows, info = png.Reader(bytes=data).asRGB8()
    assert info["bitdepth"] == 8 and not info.get("alpha")
    return np.array([np.frombuffer(bytes(r), np.uint8) for r in rows]).reshape(h, w, 3)


def write_moves(path, xy, t=None, presses=(), **kw):
    """A recording of moves at ``xy`` (1 ms apart unless ``t`` is given), then button presses at
    ``presses`` (x, y)."""
    n = len(xy)
    t = list(range(0, n * 1_000_000, 1_000_000)) if t is None else list(t)
    rows_t = t + [t[-1] + 1 + i for i in range(len(presses))]
    table = {
        "t": rows_t,
        "kind": ["move"] * n + ["button"] * len(presses),
        "x": [float(x) for x, _ in xy] + [float(x) for x, _ in presses],
        "y": [float(y) for _, y in xy] + [float(y) for _, y in presses],
        "button": [None] * n + [1] * len(presses),
        "pressed": [None] * n + [True] * len(presses),
    }
    hidpack.write_table(str(path), table, **kw)
    return str(path)


def test_png_round_trips_through_an_independent_decoder():
    rng = np.random.default_rng(5)
    for h, w in [(1, 1), (3, 7), (64, 33)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        buf = io.BytesIO()
        plot.write_png(buf, img)
        assert np.array_equal(read_png(buf.getvalue()), img)
    for bad in (np.zeros((2, 2), np.uint8), np.zeros((2, 2, 4), np.uint8), np.zeros((2, 2, 3), np.int64),
                np.zeros((0, 2, 3), np.uint8)):
        with pytest.raises(ValueError, match=r"expected a non-empty \(height, width, 3\) uint8 array"):
            plot.write_png(io.BytesIO(), bad)


def test_a_trajectory_is_drawn_where_the_pointer_went(tmp_path):
    # span 100 px, size 105: one pixel per screen pixel, 2 px margin
    path = write_moves(tmp_path / "l.hpk", [(0, 0), (100, 0), (100, 50)], presses=[(50, 50)])
    img = plot.render(hidpack.open(path), "trajectory", size=105)
    assert img.shape == (55, 105, 3)
    first, last = tuple(img[2, 2]), tuple(img[52, 102])
    assert first == (68, 1, 84) and last == (253, 231, 37)  # the ramp's two ends: start, end of the window
    assert all(tuple(img[2, c]) == first for c in range(2, 102))  # the first step, in its colour
    assert all(tuple(img[r, 102]) not in (WHITE, BLACK) for r in range(2, 53))  # the second
    assert all(tuple(img[r, c]) == BLACK for r in (51, 52, 53) for c in (51, 52, 53))  # the press
    drawn = (img != 255).any(axis=2)
    assert drawn.sum() == 100 + 50 + 1 + 9  # nothing else
    assert tuple(img[30, 60]) == WHITE


def test_a_heatmap_is_brightest_where_the_pointer_rested(tmp_path):
    xy = [(0, 0), (300, 100), (150, 50), (0, 100), (300, 0)]
    t = [0, 10**6, 2 * 10**6, 3 * 10**6 + 10**9, 3 * 10**6 + 10**9 + 10**6]  # resting 1 s at (150, 50)
    path = write_moves(tmp_path / "h.hpk", xy, t=t)
    img = plot.render(hidpack.open(path), "heatmap", size=305, axes=False)
    assert img.shape == (105, 305, 3)
    level = img.astype(int).sum(axis=2)
    r, c = np.unravel_index(level.argmax(), level.shape)
    assert (abs(r - 52) <= 1, abs(c - 152) <= 1) == (True, True)
    assert tuple(img[52, 152]) == (252, 255, 164)  # the top of the ramp
    assert tuple(img[80, 60]) == BLACK  # nowhere near a position


def test_a_far_outlier_is_drawn_at_the_edge_and_does_not_shrink_the_picture(tmp_path):
    rng = np.random.default_rng(1)
    xy = [(float(x), float(y)) for x, y in zip(rng.integers(0, 1001, 5000), rng.integers(0, 501, 5000))]
    xy[2500] = (65535.0, 65535.0)  # RDP's sentinel, as in the balabit corpus
    img = plot.render(hidpack.open(write_moves(tmp_path / "o.hpk", xy)), "trajectory", size=400)
    h, w = img.shape[:2]
    assert w <= 400 and 0.45 < h / w < 0.62  # the 1000 x 500 screen, not squashed into a corner
    assert (img != 255).any(axis=2).mean() > 0.2


def test_the_longest_side_is_size_pixels_whatever_the_spans():
    rng = np.random.default_rng(4)
    for _ in range(2000):
        size = int(rng.integers(16, 4097))
        sx, sy = (float(v) for v in rng.uniform(0, 5000, 2) * rng.choice([1e-3, 1, 1e3], 2))
        scale, w, h = plot._canvas(sx, sy, size, 2)
        assert max(w, h) == size or max(sx, sy) < 1.0, (sx, sy, size, w, h)
        assert max(w, h) <= size and min(w, h) >= 5
        assert round(sx * scale) + 2 <= w - 1 and round(sy * scale) + 2 <= h - 1  # every position inside


def test_drawing_in_small_batches_draws_the_same(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    xy = [(float(x), float(y)) for x, y in rng.integers(0, 800, (2000, 2))]
    rec = hidpack.open(write_moves(tmp_path / "b.hpk", xy, presses=xy[::50]))
    whole = plot.render(rec, "trajectory", size=1024)
    monkeypatch.setattr(plot, "BATCH_SAMPLES", 7)
    assert np.array_equal(plot.render(rec, "trajectory", size=1024), whole)


def test_render_rejects_bad_arguments_and_recordings_without_moves(tmp_path):
    rec = hidpack.open(write_moves(tmp_path / "m.hpk", [(0, 0), (5, 5)]))
    with pytest.raises(ValueError, match="unknown plot mode 'bars'; modes are trajectory, heatmap"):
        plot.render(rec, "bars")
    for size in (15, 8193, 100.0, True):
        with pytest.raises(ValueError, match=r"size must be an int in 16\.\.8192"):
            plot.render(rec, "trajectory", size=size)
    keys = str(tmp_path / "k.hpk")
    hidpack.write_table(keys, {"t": [0, 1], "kind": ["key", "key"], "pressed": [True, False], "usage": [4, 4]})
    with pytest.raises(ValueError, match="k.hpk: no move events to plot"):
        plot.plot_file(keys, io.BytesIO())


def test_plot_file_draws_only_the_window(tmp_path):
    path = write_moves(tmp_path / "w.hpk", [(i, i % 7) for i in range(100)])
    buf = io.BytesIO()
    assert plot.plot_file(path, buf, t0=10_000_000, t1=30_000_000, size=64)["moves"] == 20
    assert read_png(buf.getvalue()).shape[1] == 64


def test_real_sessions_in_both_modes(tmp_path):
    path = balabit_sessions(tmp_path, 20_001)[0]
    moves = len(hidpack.open(path).moves().t)
    traj = plot.render(hidpack.open(path), "trajectory", size=512)
    heat = plot.render(hidpack.open(path), "heatmap", size=512)
    assert max(traj.shape[:2]) == max(heat.shape[:2]) == 512 and moves > 1000
    assert 0.005 < (traj != 255).any(axis=2).mean() < 0.9
    assert (heat.sum(axis=2) > 0).mean() > 0.01 and heat.max() == 255


def test_cli_plot(tmp_path):
    path = write_moves(tmp_path / "c.hpk", [(0, 0), (40, 20), (80, 0)])
    out = tmp_path / "c.png"
    rc, stdout, err = run("plot", path, "-o", out, "--mode", "heatmap", "--size", 85)
    assert rc == 0, err
    assert stdout.strip() == (
        f"wrote {out}: heatmap of 3 move(s), 85 x 25 px; screen size unknown (no screen in the metadata; "
        "--screen WxH gives it): the data's extent"
    )
    assert read_png(out.read_bytes()).shape == (25, 85, 3)
    rc, stdout, err = run("plot", path, "-o", out, "--size", 400, "--screen", "200x100", "--force")
    assert rc == 2 and "unrecognized arguments: --force" in err  # plot has no --force: it replaces OUT.png
    rc, stdout, err = run("plot", path, "-o", out, "--size", 400, "--screen", "200x100")
    assert rc == 0, err
    assert stdout.strip().endswith("; screen 200 x 100 px")
    framed = read_png(out.read_bytes())
    assert max(framed.shape[:2]) == 400 and (framed == 0).all(axis=2).sum() > 1000  # frame, ticks, numbers
    rc, stdout, err = run("plot", path, "-o", out, "--size", 400, "--no-axes", "--screen", "data")
    assert rc == 0 and stdout.strip().endswith("; the data's extent")
    assert read_png(out.read_bytes()).shape == (104, 400, 3)
    assert_one_line_error(*run("plot", path, "-o", out, "--screen", "wide"), "--screen must be WIDTHxHEIGHT")
    assert_one_line_error(*run("plot", path, "-o", out, "--screen", "0x5"), "screen must be (width, height)")
    assert_one_line_error(*run("plot", tmp_path / "none.hpk", "-o", out), "none.hpk: no such file")
    assert_one_line_error(*run("plot", path, "-o", out, "--size", 9), "size must be an int in 16..8192")
    assert_one_line_error(*run("plot", path, "-o", out, "--start", 1), "no move events to plot")


# -- axes, the screen's extent, the colour bar ------------------------------------------------------


def frame_of(img, info):
    """(top, left, bottom, right) of the black frame one pixel around the data area, checked
    to be there."""
    r0, c0, h, w = info["area"]
    top, left, bottom, right = r0 - 1, c0 - 1, r0 + h, c0 + w
    for edge in (img[top, left : right + 1], img[bottom, left : right + 1], img[top : bottom + 1, left], img[top : bottom + 1, right]):
        assert (edge == 0).all()
    return top, left, bottom, right


def has_text(img, text, row, col, align="left"):
    """Whether ``text`` (the module's font, size 1) is written with its top at ``row``, its left
    end / centre / right end at ``col``: each of its pixels black, the cells around it not."""
    mask = plot.text_mask(text)
    h, w = mask.shape
    c0 = col - (w // 2 if align == "center" else w - 1 if align == "right" else 0)
    patch = (img[row : row + h, c0 : c0 + w] == 0).all(axis=2)
    return patch.shape == mask.shape and bool((patch == mask).all())


def test_axes_show_screen_pixels_and_the_screen_rectangle(tmp_path):
    # a 200 x 100 screen; the pointer stays well inside it: the picture is the screen, not the data
    xy = [(60, 30), (140, 30), (140, 70), (60, 70)]
    path = write_moves(tmp_path / "s.hpk", xy, metadata={"screen": [200, 100]})
    drawn, info = plot._render(hidpack.open(path), "trajectory", size=400)
    img = read_png(_png(drawn))
    assert max(img.shape[:2]) == 400
    top, left, bottom, right = frame_of(img, info)
    w, h = right - left - 1, bottom - top - 1  # the data area inside the frame
    scale = (w - 5) / 199  # positions 0..199 fill the width less 2 x 2 px of margin
    assert h - 5 == int(np.ceil(99 * scale - 1e-6))  # one scale for both axes: the screen's aspect
    assert 1.5 < scale < 1.7
    # the screen's outline one pixel outside positions 0 and 199 (x), 0 and 99 (y)
    grey = (img == plot.SCREEN_COLOUR).all(axis=2)
    c0, c1 = left + 1 + 2 - 1, left + 1 + round(199 * scale) + 2 + 1
    r0, r1 = top + 1 + 2 - 1, top + 1 + round(99 * scale) + 2 + 1
    assert grey[r0 : r1 + 1, c0].all() and grey[r0 : r1 + 1, c1].all()
    assert grey[r0, c0 : c1 + 1].all() and grey[r1, c0 : c1 + 1].all()
    assert grey.sum() == 2 * (c1 - c0 + 1) + 2 * (r1 - r0 - 1)  # nothing else is grey
    # x ticks below the frame (4 px), their numbers 2 px below, centred; y ticks left, right-aligned
    for v in (0, 50, 100, 150):
        c = left + 1 + round(v * scale) + 2
        assert (img[bottom + 1 : bottom + 5, c] == 0).all()
        assert has_text(img, str(v), bottom + 5 + 2, c, "center"), v
    for v in (0, 20, 40, 60, 80):
        r = top + 1 + round(v * scale) + 2
        assert (img[r, left - 4 : left] == 0).all()
        assert has_text(img, str(v), r - 3, left - 4 - 2 - 1, "right"), v
    assert not has_text(img, "200", bottom + 7, left + 1 + round(200 * scale) + 2, "center")
    # the title says which screen
    assert has_text(img, "x, y: px; screen 200 x 100", 4, left)


def test_without_a_screen_size_the_data_extent_is_drawn_and_said(tmp_path):
    xy = [(60, 30), (140, 30), (140, 70), (60, 70)]
    path = write_moves(tmp_path / "n.hpk", xy)
    rec = hidpack.open(path)
    img, info = plot._render(rec, "trajectory", 400)
    assert info["screen"] is None
    top, left, bottom, right = frame_of(img, info)
    scale = (right - left - 1 - 5) / 80  # positions 60..140
    assert has_text(img, "x, y: px; screen size unknown, extent of the data", 4, left)
    assert not (img == plot.SCREEN_COLOUR).all(axis=2).any()
    for v in (60, 80, 100, 120, 140):
        assert has_text(img, str(v), bottom + 7, left + 1 + round((v - 60) * scale) + 2, "center"), v
    # the same recording with a screen given: its outline; beyond it, the data widens the picture
    img2, info2 = plot._render(rec, "trajectory", 400, screen=(100, 50))
    assert info2["screen"] == (100.0, 50.0) and info2["origin"] == (0.0, 0.0)
    top, left, bottom, right = frame_of(img2, info2)
    scale = (right - left - 1 - 5) / 140
    grey = (img2 == plot.SCREEN_COLOUR).all(axis=2)
    assert grey[top + 2, left + 2 : left + 1 + round(99 * scale) + 4].all()
    assert not grey[top + 2, left + 1 + round(99 * scale) + 4 :].any()


def test_the_screen_size_comes_from_the_metadata_in_each_spelling():
    assert plot.screen_size({"screen": [1920, 1080]}) == (1920.0, 1080.0)
    assert plot.screen_size({"screen": {"width": 1440, "height": 900.5}}) == (1440.0, 900.5)
    assert plot.screen_size({"screen_width": 1280, "screen_height": 800}) == (1280.0, 800.0)
    for md in ({}, {"screen": "big"}, {"screen": [0, 10]}, {"screen": [True, 5]}, {"screen_width": 5}, None):
        assert plot.screen_size(md) is None
    with pytest.raises(ValueError, match=r"screen must be \(width, height\)"):
        plot.render(None, screen=(5,))


def test_the_colour_bar_runs_from_the_first_colour_to_the_last_and_says_its_scale(tmp_path):
    xy = [(i * 7 % 300, i * 3 % 200) for i in range(400)]
    t = [5_000_000_000 + i * 25_000_000 for i in range(400)]  # 5 s .. 14.975 s of file time
    path = write_moves(tmp_path / "c.hpk", xy, t=t, metadata={"screen": {"width": 320, "height": 240}})
    rec = hidpack.open(path)
    for mode, first, last in (("trajectory", (68, 1, 84), (253, 231, 37)), ("heatmap", (0, 0, 0), (252, 255, 164))):
        img, info = plot._render(rec, mode, 500)
        top, left, bottom, right = frame_of(img, info)
        b0, b1, c0, c1 = info["bar"]
        assert b0 == top + 1 and b1 == bottom - 1 and c0 > right
        assert (img[b0, c0 : c1 + 1] == last).all() and (img[b1, c0 : c1 + 1] == first).all()
        column = img[b0 : b1 + 1, c0].astype(int)
        assert len({tuple(c) for c in column}) > 50  # a ramp, not two blocks
        labels = dict((round(p, 6), s) for p, s in info["bar_ticks"])
        for p, label in info["bar_ticks"]:
            r = b0 + round((1 - p) * (b1 - b0))
            assert (img[r, c1 + 1 : c1 + 4] == 0).all()
            assert has_text(img, label, r - 3, c1 + 4 + 2), label
        if mode == "trajectory":
            assert list(labels.values()) == ["6 s", "8 s", "10 s", "12 s", "14 s"]
            p6 = (6 - 5) / 9.975
            assert abs(min(labels) - p6) < 1e-6  # 6 s sits at its place on the 5 .. 14.975 s ramp
        else:
            assert list(labels.values())[0] == "0" and all(s.endswith(("s", "ms", "us", "ns")) for s in list(labels.values())[1:])
        assert has_text(img, "time" if mode == "trajectory" else "dwell/px", 4, c0)


def test_small_pictures_have_no_axes(tmp_path):
    path = write_moves(tmp_path / "k.hpk", [(0, 0), (100, 50)], metadata={"screen": [101, 51]})
    rec = hidpack.open(path)
    assert np.array_equal(plot.render(rec, size=plot.MIN_AXES_SIZE - 1), plot.render(rec, size=plot.MIN_AXES_SIZE - 1, axes=False))
    assert not np.array_equal(plot.render(rec, size=plot.MIN_AXES_SIZE), plot.render(rec, size=plot.MIN_AXES_SIZE, axes=False))


def _png(img):
    buf = io.BytesIO()
    plot.write_png(buf, img)
    return buf.getvalue()
