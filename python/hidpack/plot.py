"""Pictures of where the pointer went: ``hidpack plot`` and :func:`plot_file`.

Two pictures of a recording's ``move`` events, as PNG:

* ``trajectory``: the path of the pointer, each step a line from one position to the next,
  coloured by time (dark blue at the start of the window, yellow at its end), with a black
  square at each button press that has a position.
* ``heatmap``: where the pointer rested. Each position weighs the time until the next move
  (at most 1 s, so a pause does not drown the rest), the weights are spread over a few pixels,
  and the picture shows them on a log scale, black to white.

The positions map onto the picture with one scale for both axes (the screen's aspect is
kept), the longest side ``size`` pixels. Screen ``y`` grows downwards, as rows do. When the
screen's size is known (metadata ``screen``, or ``screen_width`` / ``screen_height``, or
``screen=`` given), the picture shows the whole screen, its outline in grey, and whatever lies
beyond it; otherwise it shows the data's extent, and its title says so. A few positions far
from all the others (a sentinel such as 65535) do not shrink the picture: they are drawn at
its edge (see ``_extent``).

Around the picture (``axes=True``, from :data:`MIN_AXES_SIZE` pixels on): a frame with ticks
and numbers in screen pixels, a title line (the screen's size, or that it is unknown) and a
colour bar with its scale: file time in seconds (trajectory) or dwell per pixel (heatmap). The
text is written in a built-in 5 x 7 pixel font (:func:`text_mask`), so no plotting package is
needed.

Everything is numpy: steps are drawn by sampling each line at every pixel it crosses, in
batches of at most :data:`BATCH_SAMPLES` samples (bounded memory, whatever the recording's
length), and the PNG is written with the standard library's zlib.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, BinaryIO

import numpy as np

from ._time import as_ns

__all__ = ["render", "write_png", "plot_file", "screen_size", "text_mask", "MODES"]

#: the pictures :func:`render` draws
MODES = ("trajectory", "heatmap")
#: smallest and largest ``size`` (pixels of the longest side)
MIN_SIZE, MAX_SIZE = 16, 8192
#: line samples drawn at once
BATCH_SAMPLES = 1 << 20
#: most time one position weighs in a heatmap (ns)
MAX_DWELL_NS = 1_000_000_000

# colour ramps: (position 0..1, r, g, b)
_TIME_RAMP = ((0.0, 68, 1, 84), (0.25, 59, 82, 139), (0.5, 33, 145, 140), (0.75, 94, 201, 98), (1.0, 253, 231, 37))
_HEAT_RAMP = ((0.0, 0, 0, 0), (0.3, 120, 28, 109), (0.6, 237, 105, 37), (0.85, 251, 180, 26), (1.0, 252, 255, 164))

#: the heatmap's log scale spans this ratio of dwell, brightest to faintest
HEAT_RANGE = 1e4
#: smallest ``size`` that has room for axes, numbers and the colour bar
MIN_AXES_SIZE = 160
#: the screen's outline, the frame and the text
SCREEN_COLOUR = (128, 128, 128)
FRAME_COLOUR = (0, 0, 0)
TEXT_COLOUR = (0, 0, 0)

# A 5 x 7 pixel font (and a descender row) for the numbers and words the decorations write.
_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "a": ("", "", ".###.", "....#", ".####", "#...#", ".####"),
    "b": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."),
    "c": ("", "", ".###.", "#....", "#....", "#...#", ".###."),
    "d": ("....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"),
    "e": ("", "", ".###.", "#...#", "#####", "#....", ".###."),
    "f": ("..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."),
    "g": ("", "", ".####", "#...#", "#...#", ".####", "....#", ".###."),
    "h": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "i": ("..#..", "", ".##..", "..#..", "..#..", "..#..", ".###."),
    "j": ("...#.", "", "..##.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "k": ("#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."),
    "l": (".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "m": ("", "", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"),
    "n": ("", "", "#.##.", "##..#", "#...#", "#...#", "#...#"),
    "o": ("", "", ".###.", "#...#", "#...#", "#...#", ".###."),
    "p": ("", "", "####.", "#...#", "#...#", "####.", "#....", "#...."),
    "q": ("", "", ".####", "#...#", "#...#", ".####", "....#", "....#"),
    "r": ("", "", "#.##.", "##..#", "#....", "#....", "#...."),
    "s": ("", "", ".####", "#....", ".###.", "....#", "####."),
    "t": (".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."),
    "u": ("", "", "#...#", "#...#", "#...#", "#..##", ".##.#"),
    "v": ("", "", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "w": ("", "", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."),
    "x": ("", "", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
    "y": ("", "", "#...#", "#...#", "#...#", ".####", "....#", ".###."),
    "z": ("", "", "#####", "...#.", "..#..", ".#...", "#####"),
    ".": ("", "", "", "", "", ".##..", ".##.."),
    ",": ("", "", "", "", ".##..", "..#..", ".#..."),
    ":": ("", ".##..", ".##..", "", ".##..", ".##..", ""),
    ";": ("", ".##..", ".##..", "", ".##..", "..#..", ".#..."),
    "-": ("", "", "", ".###.", "", "", ""),
    "+": ("", "..#..", "..#..", "#####", "..#..", "..#..", ""),
    "/": ("", "....#", "...#.", "..#..", ".#...", "#....", ""),
    "(": ("...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."),
    ")": (".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."),
    "'": ("..#..", "..#..", "", "", "", "", ""),
    " ": (),
}
_UNKNOWN_GLYPH = ("#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####")
#: rows of a glyph (7 above the baseline, 1 below) and columns a character advances
FONT_ROWS, FONT_ADVANCE = 8, 6


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """The pixels of ``text`` in the built-in font (lower-case letters, digits and ``.,:-+/()'``;
    upper case is drawn lower case), each font pixel ``scale`` x ``scale``: a bool array of
    ``8 * scale`` rows."""
    cols = []
    for ch in text.lower():
        rows = _GLYPHS.get(ch, _UNKNOWN_GLYPH)
        g = np.zeros((FONT_ROWS, FONT_ADVANCE), dtype=bool)
        for r, line in enumerate(rows):
            g[r, : len(line)] = [c == "#" for c in line]
        cols.append(g)
    if not cols:
        return np.zeros((FONT_ROWS * scale, 0), dtype=bool)
    mask = np.concatenate(cols, axis=1)[:, :-1]  # no gap after the last character
    return np.kron(mask, np.ones((scale, scale), dtype=bool)).astype(bool)


def _ramp(stops: tuple[tuple[float, int, int, int], ...], v: np.ndarray) -> np.ndarray:
    """Colours (n, 3) uint8 of values ``v`` in [0, 1] on a piecewise-linear ramp."""
    at = np.array([s[0] for s in stops])
    rgb = np.stack([np.interp(v, at, [s[c] for s in stops]) for c in (1, 2, 3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def render(
    rec: Any, mode: str = "trajectory", size: int = 1024, *, axes: bool = True, screen: Any = None
) -> np.ndarray:
    """The picture of ``rec`` (a :class:`hidpack.Recording` or a view of one, e.g.
    ``rec.between(t0, t1)``) as an ``(height, width, 3)`` uint8 array.

    ``axes``: frame the picture with ticks and numbers in screen pixels, a title line that says
    what the extent is, and a colour bar (time or dwell) with its scale; left out below
    :data:`MIN_AXES_SIZE` pixels. ``screen``: ``(width, height)`` of the screen in pixels, None
    (default) to take it from the metadata (``screen: [w, h]`` or ``{"width", "height"}``, or
    ``screen_width`` / ``screen_height``), False to draw only the data's extent.

    Raises ``ValueError`` for an unknown mode, a size outside 16..8192, a bad ``screen``, or a
    recording with no ``move`` event to draw."""
    return _render(rec, mode, size, axes=axes, screen=screen)[0]


def screen_size(metadata: Any) -> tuple[float, float] | None:
    """The screen's ``(width, height)`` from a recording's metadata, or None when it does not
    say (or says something that is not two positive numbers)."""
    if not isinstance(metadata, dict):
        return None
    s = metadata.get("screen")
    if isinstance(s, dict):
        wh: Any = (s.get("width"), s.get("height"))
    elif isinstance(s, (list, tuple)) and len(s) == 2:
        wh = tuple(s)
    else:
        wh = (metadata.get("screen_width"), metadata.get("screen_height"))
    try:
        return _check_screen(wh)
    except ValueError:
        return None


def _check_screen(wh: Any) -> tuple[float, float]:
    ok = isinstance(wh, (list, tuple)) and len(wh) == 2 and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and 0 < v < 1e7
        for v in wh
    )
    if not ok:
        raise ValueError(f"screen must be (width, height) in pixels, two positive numbers, got {wh!r}")
    return float(wh[0]), float(wh[1])


def _render(
    rec: Any, mode: str, size: int, *, axes: bool = True, screen: Any = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`render`, and what was drawn where: ``moves``, ``screen`` (None: unknown, the
    data's extent drawn), ``area`` (top row, left column, height, width of the data area),
    ``scale`` (picture pixels per screen pixel), ``origin`` (the screen position at the data
    area's first pixel centre, less the margin), ``bar`` (top row, bottom row, first and last
    column of the colour bar; None without axes)."""
    if mode not in MODES:
        raise ValueError(f"unknown plot mode {mode!r}; modes are {', '.join(MODES)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an int in {MIN_SIZE}..{MAX_SIZE} (pixels of the longest side), got {size!r}")
    if screen is None:
        screen = screen_size(getattr(getattr(rec, "recording", rec), "metadata", None))
    elif screen is False:
        screen = None
    else:
        screen = _check_screen(screen)
    moves = rec.moves()
    t = np.asarray(moves.t, dtype=np.int64)
    x = np.asarray(moves.x, dtype=np.float64)
    y = np.asarray(moves.y, dtype=np.float64)
    if len(t) == 0:
        raise ValueError("no move events to plot")
    presses = rec.buttons()
    has_pos = ~np.ma.getmaskarray(presses.x) & np.asarray(presses.pressed, dtype=bool)
    px = np.asarray(np.ma.getdata(presses.x), dtype=np.float64)[has_pos]
    py = np.asarray(np.ma.getdata(presses.y), dtype=np.float64)[has_pos]
    # one scale for both axes; a margin of 2 pixels (the click squares, the screen's outline)
    margin = 2
    lo_x, hi_x = _extent(np.concatenate([x, px]))
    lo_y, hi_y = _extent(np.concatenate([y, py]))
    if screen is not None:  # the whole screen, and what lies beyond it
        lo_x, hi_x = min(lo_x, 0.0), max(hi_x, screen[0] - 1)
        lo_y, hi_y = min(lo_y, 0.0), max(hi_y, screen[1] - 1)
    span_t = max(int(t[-1]) - int(t[0]), 1)
    lay = _layout(mode, size, hi_x - lo_x, hi_y - lo_y, margin, (lo_x, hi_x, lo_y, hi_y), (int(t[0]), int(t[-1]))) if axes else None
    if lay is None:
        scale, width, height = _canvas(hi_x - lo_x, hi_y - lo_y, size, margin)
    else:
        scale, width, height = lay["scale"], lay["width"], lay["height"]
    cx = np.clip((x - lo_x) * scale + margin, 0, width - 1)
    cy = np.clip((y - lo_y) * scale + margin, 0, height - 1)
    weight_max = 0.0
    if mode == "heatmap":
        img, weight_max = _heatmap(t, cx, cy, width, height)
    else:
        img = np.full((height, width, 3), 255, dtype=np.uint8)
        if screen is not None:
            _screen_outline(img, screen, lo_x, lo_y, scale, margin)
        colours = _ramp(_TIME_RAMP, (t - t[0]) / span_t)
        _draw_steps(img, cx, cy, colours)
        # a square of (2r+1)^2 pixels at each press, at most BATCH_SAMPLES pixels at once
        r = max(1, size // 400)
        d = np.arange(-r, r + 1)
        prow = np.round((py - lo_y) * scale + margin).astype(np.int64)
        pcol = np.round((px - lo_x) * scale + margin).astype(np.int64)
        step = max(1, BATCH_SAMPLES // len(d) ** 2)
        for i in range(0, len(prow), step):
            rows = prow[i : i + step, None, None] + d[None, :, None]
            cols = pcol[i : i + step, None, None] + d[None, None, :]
            rows, cols = np.broadcast_arrays(rows, cols)
            img[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)] = 0
    if mode == "heatmap" and screen is not None:
        _screen_outline(img, screen, lo_x, lo_y, scale, margin)
    info: dict[str, Any] = {
        "moves": len(t), "screen": screen, "area": (0, 0, height, width), "scale": scale,
        "origin": (lo_x, lo_y), "bar": None,
    }
    if lay is not None:
        img = _decorate(img, lay, mode, screen, (int(t[0]), int(t[-1])), weight_max, info)
    return img, info


def _screen_outline(img: np.ndarray, screen: tuple[float, float], lo_x: float, lo_y: float, scale: float, margin: int) -> None:
    """The screen's outline, one pixel outside its first and last positions (0 and
    ``width - 1``), so that a position on the screen's edge does not hide it."""
    height, width = img.shape[:2]
    c0 = int(round((0 - lo_x) * scale)) + margin - 1
    c1 = int(round((screen[0] - 1 - lo_x) * scale)) + margin + 1
    r0 = int(round((0 - lo_y) * scale)) + margin - 1
    r1 = int(round((screen[1] - 1 - lo_y) * scale)) + margin + 1
    rows = slice(max(r0, 0), min(r1, height - 1) + 1)
    cols = slice(max(c0, 0), min(c1, width - 1) + 1)
    for c in (c0, c1):
        if 0 <= c < width:
            img[rows, c] = SCREEN_COLOUR
    for r in (r0, r1):
        if 0 <= r < height:
            img[r, cols] = SCREEN_COLOUR


def _canvas(span_x: float, span_y: float, size: int, margin: int) -> tuple[float, int, int]:
    """Pixels per screen unit, width and height: the longer span fills ``size`` pixels less
    the margins, exactly (a rounding error of the scale must not add a column)."""
    return _fit(span_x, span_y, size, size, margin)


def _fit(span_x: float, span_y: float, avail_w: int, avail_h: int, margin: int) -> tuple[float, int, int]:
    """Pixels per screen unit, width and height of a data area that fits ``avail_w`` x
    ``avail_h`` pixels, one scale for both axes, filling one of them exactly."""
    scale = min((avail_w - 1 - 2 * margin) / max(span_x, 1.0), (avail_h - 1 - 2 * margin) / max(span_y, 1.0))
    width = min(int(np.ceil(span_x * scale - 1e-6)), avail_w - 1 - 2 * margin) + 1 + 2 * margin
    height = min(int(np.ceil(span_y * scale - 1e-6)), avail_h - 1 - 2 * margin) + 1 + 2 * margin
    return scale, width, height


def _extent(v: np.ndarray) -> tuple[float, float]:
    """The range to draw of positions ``v``: all of them, unless a few lie far from the rest
    (a sentinel such as 65535, a jump to another screen). Beyond the 0.05 % quantiles at either
    end, a value widens the range only if it stays within a tenth of it; the others are drawn
    at the edge."""
    lo, hi = float(v.min()), float(v.max())
    q_lo, q_hi = (float(q) for q in np.quantile(v, [0.0005, 0.9995]))
    slack = 0.1 * (q_hi - q_lo)
    return max(lo, q_lo - slack), min(hi, q_hi + slack)


def _draw_steps(img: np.ndarray, cx: np.ndarray, cy: np.ndarray, colours: np.ndarray) -> None:
    """Draws the line from each position to the next in the colour of its start (later steps
    over earlier ones), and the last position, sampling each line once per pixel it crosses."""
    height, width = img.shape[:2]
    n = len(cx)
    if n == 1:
        img[int(round(cy[0])), int(round(cx[0]))] = colours[0]
        return
    dx, dy = np.diff(cx), np.diff(cy)
    counts = np.maximum(np.ceil(np.maximum(np.abs(dx), np.abs(dy))), 1).astype(np.int64)
    ends = np.cumsum(counts)
    start = 0
    while start < n - 1:
        # the steps whose samples fit in one batch (at least one step)
        before = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, before + BATCH_SAMPLES, side="right")), start + 1)
        c = counts[start:stop]
        step = np.repeat(np.arange(start, stop), c)
        k = np.arange(len(step)) - np.repeat(np.cumsum(c) - c, c)
        f = k / c[step - start]
        cols = np.clip(np.round(cx[step] + f * dx[step]).astype(np.int64), 0, width - 1)
        rows = np.clip(np.round(cy[step] + f * dy[step]).astype(np.int64), 0, height - 1)
        img[rows, cols] = colours[step]
        start = stop
    img[int(round(cy[-1])), int(round(cx[-1]))] = colours[-1]


def _heatmap(t: np.ndarray, cx: np.ndarray, cy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """The heatmap picture and its brightest value (ns of dwell per pixel, smoothed)."""
    dwell = np.minimum(np.diff(t, append=t[-1]), MAX_DWELL_NS).clip(min=0).astype(np.float64)
    dwell[-1] = float(np.median(dwell[:-1])) if len(dwell) > 1 else 1.0
    cell = np.round(cy).astype(np.int64) * width + np.round(cx).astype(np.int64)
    weight = np.bincount(cell, weights=dwell + 1.0, minlength=height * width).reshape(height, width)
    radius = max(1, max(width, height) // 200)
    for axis in (0, 1):
        for _ in range(2):  # two box passes: a soft spot around each position
            weight = _box(weight, radius, axis)
    top = max(float(weight.max()), 1e-300)
    level = _heat_level(weight, top)
    return _ramp(_HEAT_RAMP, level.ravel()).reshape(height, width, 3), top


def _heat_level(weight: Any, top: float) -> Any:
    """Where a dwell ``weight`` lies on the heatmap's log ramp (0..1) when ``top`` is the most."""
    return np.log1p(np.asarray(weight, dtype=np.float64) / top * HEAT_RANGE) / np.log1p(HEAT_RANGE)


def _box(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    """The mean of each cell's 2r+1 neighbours along ``axis`` (zero beyond the edge)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r + 1, r)
    c = np.cumsum(np.pad(a, pad), axis=axis)
    hi = np.take(c, np.arange(2 * r + 1, c.shape[axis]), axis=axis)
    lo = np.take(c, np.arange(0, c.shape[axis] - 2 * r - 1), axis=axis)
    return (hi - lo) / (2 * r + 1)


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least ``raw``."""
    if raw <= 0:
        return 1.0
    e = 10.0 ** np.floor(np.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * e >= raw * (1 - 1e-9):
            return float(m * e)
    return float(10 * e)  # pragma: no cover


def _ticks(lo: float, hi: float, most: int, whole: bool = True) -> tuple[np.ndarray, int]:
    """Round values in ``[lo, hi]``, at most ``most`` of them (at least one), and the decimals
    their labels need. ``whole``: steps of at least 1 (pixel positions) unless the span is under 2."""
    span = hi - lo
    if span <= 0:
        return np.array([lo]), 0 if float(lo).is_integer() else 2
    step = _nice_step(span / max(most, 1))
    if whole and span >= 2:
        step = max(step, 1.0)
    while True:
        first = np.ceil(lo / step - 1e-9) * step
        ticks = np.arange(first, hi + step * 1e-9, step)
        if len(ticks) <= max(most, 1):
            break
        step = _nice_step(step * 1.01)
    if len(ticks) == 0:  # pragma: no cover - a span of at least one step holds a multiple of it
        ticks = np.array([lo])
    decimals = max(0, int(-np.floor(np.log10(step) + 1e-9)))
    return ticks, decimals


def _number(v: float, decimals: int) -> str:
    text = f"{v:.{decimals}f}"
    return "0" if text.strip("-0.") == "" else text


def _duration_label(ns: float) -> str:
    """A power of ten of nanoseconds as text: ``1 s``, ``100 ms``, ``10 us``, ``1 ns``."""
    for unit, div in (("s", 1e9), ("ms", 1e6), ("us", 1e3), ("ns", 1.0)):
        if ns >= div * (1 - 1e-9):
            return f"{ns / div:.0f} {unit}"
    return f"{ns:.0g} ns"


def _layout(
    mode: str,
    size: int,
    span_x: float,
    span_y: float,
    margin: int,
    extent: tuple[float, float, float, float],
    t_range: tuple[int, int],
) -> dict[str, Any] | None:
    """Where the decorations go: the data area's place and size, the ticks and their labels,
    the colour bar's place and scale. None when ``size`` is too small for them."""
    if size < MIN_AXES_SIZE:
        return None
    f = max(1, size // 600)  # font pixels per screen pixel of the picture
    cw, th, tick, pad = FONT_ADVANCE * f, 7 * f, 4 * f, 4 * f
    lo_x, hi_x, lo_y, hi_y = extent
    # the colour bar's ticks (in ramp position 0..1) and labels
    if mode == "trajectory":
        s0, s1 = t_range[0] / 1e9, t_range[1] / 1e9
        values, dec = _ticks(s0, s1, 5, whole=False)
        span = max(s1 - s0, 1e-9)
        bar_ticks = [((v - s0) / span, _number(v, dec) + " s") for v in values]
        bar_chars = max(len(label) for _, label in bar_ticks)
    else:
        bar_ticks = []  # known once the heatmap is drawn (its brightest value)
        bar_chars = 6
    y_chars = max(len(_number(v, 0)) for v in (np.floor(lo_y), np.ceil(hi_y)))
    top = pad + FONT_ROWS * f + pad + th // 2  # room for the first y label's upper half
    bottom = 1 + tick + 2 * f + th + pad
    bar_w = 10 * f
    right = 1 + 6 * f + bar_w + 3 * f + 2 * f + bar_chars * cw + pad
    for _ in range(4):
        left = pad + y_chars * cw + 2 * f + tick + 1
        avail_w, avail_h = size - left - right, size - top - bottom
        if min(avail_w, avail_h) < 16 + 2 * margin:
            return None
        scale, width, height = _fit(span_x, span_y, avail_w, avail_h, margin)
        y_ticks, y_dec = _ticks(lo_y, hi_y, max(1, height // (3 * th)))
        y_labels = [_number(v, y_dec) for v in y_ticks]
        need = max(len(s) for s in y_labels)
        if need <= y_chars:
            break
        y_chars = need
    x_chars = max(len(_number(v, 2 if span_x < 2 else 0)) for v in (lo_x, hi_x))
    x_ticks, x_dec = _ticks(lo_x, hi_x, max(1, width // ((x_chars + 3) * cw)))
    bar_h = max(height, 8 * th)
    return {
        "f": f, "scale": scale, "width": width, "height": height, "margin": margin,
        "left": left, "top": top, "bottom": bottom, "right": right,
        "total": (top + max(height, bar_h) + bottom, left + width + right),
        "x_ticks": [(float(v), _number(v, x_dec)) for v in x_ticks],
        "y_ticks": [(float(v), s) for v, s in zip(y_ticks, y_labels)],
        "bar": (top, top + bar_h - 1, left + width + 1 + 6 * f, left + width + 6 * f + bar_w),
        "bar_ticks": bar_ticks,
        "extent": extent,
    }


def _paint_text(img: np.ndarray, text: str, row: int, col: int, f: int, align: str = "left", limit: int | None = None) -> None:
    """Writes ``text`` with its top at ``row``; ``col`` is its left end, centre or right end
    (``align``); pixels beyond the picture or right of column ``limit`` are left out."""
    mask = text_mask(text, f)
    w = mask.shape[1]
    c0 = col - (w // 2 if align == "center" else w - 1 if align == "right" else 0)
    height, width = img.shape[:2]
    right = width if limit is None else min(width, limit)
    rows, cols = np.nonzero(mask)
    rows, cols = rows + row, cols + c0
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < right)
    img[rows[keep], cols[keep]] = TEXT_COLOUR


def _decorate(
    area: np.ndarray,
    lay: dict[str, Any],
    mode: str,
    screen: tuple[float, float] | None,
    t_range: tuple[int, int],
    weight_max: float,
    info: dict[str, Any],
) -> np.ndarray:
    """The data area framed: the frame with ticks and numbers in screen pixels, a title line,
    and the colour bar with its scale."""
    f, margin, scale = lay["f"], lay["margin"], lay["scale"]
    top, left = lay["top"], lay["left"]
    height, width = area.shape[:2]
    img = np.full(lay["total"] + (3,), 255, dtype=np.uint8)
    img[top : top + height, left : left + width] = area
    # the frame, one pixel outside the data area
    img[top - 1, left - 1 : left + width + 1] = FRAME_COLOUR
    img[top + height, left - 1 : left + width + 1] = FRAME_COLOUR
    img[top - 1 : top + height + 1, left - 1] = FRAME_COLOUR
    img[top - 1 : top + height + 1, left + width] = FRAME_COLOUR
    lo_x, _, lo_y, _ = lay["extent"]
    tick = 4 * f
    for v, label in lay["x_ticks"]:
        c = left + int(round((v - lo_x) * scale)) + margin
        img[top + height + 1 : top + height + 1 + tick, c] = FRAME_COLOUR
        _paint_text(img, label, top + height + 1 + tick + 2 * f, c, f, "center")
    for v, label in lay["y_ticks"]:
        r = top + int(round((v - lo_y) * scale)) + margin
        img[r, left - 1 - tick : left - 1] = FRAME_COLOUR
        _paint_text(img, label, r - (7 * f) // 2, left - 2 - tick - 2 * f, f, "right")
    # the colour bar: its last colour at the top, its first at the bottom
    b0, b1, c0, c1 = lay["bar"]
    pos = np.linspace(1.0, 0.0, b1 - b0 + 1)
    if mode == "trajectory":
        colours, caption, bar_ticks = _ramp(_TIME_RAMP, pos), "time", lay["bar_ticks"]
    else:
        colours, caption = _ramp(_HEAT_RAMP, pos), "dwell/px"
        decades = 10.0 ** np.arange(np.ceil(np.log10(weight_max / HEAT_RANGE)), np.floor(np.log10(weight_max)) + 1)
        bar_ticks = [(0.0, "0")] + [(float(_heat_level(v, weight_max)), _duration_label(v)) for v in decades]
    img[b0 : b1 + 1, c0 : c1 + 1] = colours[:, None, :]
    last_row = None
    for p, label in sorted(bar_ticks, key=lambda pl: pl[0]):
        r = b0 + int(round((1.0 - p) * (b1 - b0)))
        if last_row is not None and last_row - r < 7 * f + 2 * f:
            continue  # too close to the one below: left out
        last_row = r
        img[r, c1 + 1 : c1 + 1 + 3 * f] = FRAME_COLOUR
        _paint_text(img, label, r - (7 * f) // 2, c1 + 1 + 3 * f + 2 * f, f)
    _paint_text(img, caption, 4 * f, c0, f)
    if screen is None:
        title = "x, y: px; screen size unknown, extent of the data"
    else:
        title = "x, y: px; screen %s x %s" % (_number(screen[0], 0 if float(screen[0]).is_integer() else 1),
                                              _number(screen[1], 0 if float(screen[1]).is_integer() else 1))
    _paint_text(img, title, 4 * f, left - 1, f, limit=c0 - FONT_ADVANCE * f)
    info["area"] = (top, left, height, width)
    info["bar"] = (b0, b1, c0, c1)
    info["x_ticks"], info["y_ticks"], info["bar_ticks"] = lay["x_ticks"], lay["y_ticks"], bar_ticks
    return img


def write_png(out: str | os.PathLike[str] | BinaryIO, rgb: np.ndarray) -> None:
    """Writes an ``(height, width, 3)`` uint8 array as an 8-bit RGB PNG to a path or a binary
    stream."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape:
        raise ValueError(f"expected a non-empty (height, width, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"".join((
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
        chunk(b"IEND", b""),
    ))
    if hasattr(out, "write"):
        out.write(png)  # type: ignore[union-attr]
    else:
        with open(out, "wb") as f:
            f.write(png)


def plot_file(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str] | BinaryIO,
    *,
    mode: str = "trajectory",
    size: int = 1024,
    t0: Any = None,
    t1: Any = None,
    axes: bool = True,
    screen: Any = None,
) -> dict[str, Any]:
    """Draws the recording at ``src`` (its events with ``t0 <= t < t1``, if given: file time,
    nanoseconds or a duration, as :meth:`hidpack.Recording.between` takes them) and writes the
    PNG to ``out``; ``axes`` and ``screen`` as in :func:`render`. Returns
    ``{"width", "height", "moves", "mode", "screen"}`` (``screen`` None: its size was not
    known, the picture shows the data's extent)."""
    import hidpack

    t0, t1 = as_ns("t0", t0), as_ns("t1", t1)
    rec = hidpack.open(src)
    view = rec.between(t0, t1) if t0 is not None or t1 is not None else rec
    try:
        img, info = _render(view, mode, size, axes=axes, screen=screen)
    except ValueError as e:
        raise ValueError(f"{os.fspath(src)}: {e}") from None
    write_png(out, img)
    return {"width": int(img.shape[1]), "height": int(img.shape[0]), "moves": info["moves"], "mode": mode,
            "screen": info["screen"]}
