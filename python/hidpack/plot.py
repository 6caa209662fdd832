"""Pictures of where the pointer went: ``hidpack plot`` and :func:`plot_file`.

Two pictures of a recording's ``move`` events, as PNG:

* ``trajectory``: the path of the pointer, each step a line from one position to the next,
  coloured by time (dark blue at the start of the window, yellow at its end), with a black
  square at each button press that has a position.
* ``heatmap``: where the pointer rested. Each position weighs the time until the next move
  (at most 1 s, so a pause does not drown the rest), the weights are spread over a few pixels,
  and the picture shows them on a log scale, black to white.

The positions map onto the picture with one scale for both axes (the screen's aspect is
kept), the longest side ``size`` pixels. Screen ``y`` grows downwards, as rows do. A few
positions far from all the others (a sentinel such as 65535) do not shrink the picture: they
are drawn at its edge (see ``_extent``).

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

__all__ = ["render", "write_png", "plot_file", "MODES"]

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


def _ramp(stops: tuple[tuple[float, int, int, int], ...], v: np.ndarray) -> np.ndarray:
    """Colours (n, 3) uint8 of values ``v`` in [0, 1] on a piecewise-linear ramp."""
    at = np.array([s[0] for s in stops])
    rgb = np.stack([np.interp(v, at, [s[c] for s in stops]) for c in (1, 2, 3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def render(rec: Any, mode: str = "trajectory", size: int = 1024) -> np.ndarray:
    """The picture of ``rec`` (a :class:`hidpack.Recording` or a view of one, e.g.
    ``rec.between(t0, t1)``) as an ``(height, width, 3)`` uint8 array.

    Raises ``ValueError`` for an unknown mode, a size outside 16..8192, or a recording with no
    ``move`` event to draw."""
    return _render(rec, mode, size)[0]


def _render(rec: Any, mode: str, size: int) -> tuple[np.ndarray, int]:
    """:func:`render`, and the number of moves drawn."""
    if mode not in MODES:
        raise ValueError(f"unknown plot mode {mode!r}; modes are {', '.join(MODES)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an int in {MIN_SIZE}..{MAX_SIZE} (pixels of the longest side), got {size!r}")
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
    # one scale for both axes; a margin of 2 pixels (the click squares)
    margin = 2
    lo_x, hi_x = _extent(np.concatenate([x, px]))
    lo_y, hi_y = _extent(np.concatenate([y, py]))
    scale, width, height = _canvas(hi_x - lo_x, hi_y - lo_y, size, margin)
    cx = np.clip((x - lo_x) * scale + margin, 0, width - 1)
    cy = np.clip((y - lo_y) * scale + margin, 0, height - 1)
    if mode == "heatmap":
        return _heatmap(t, cx, cy, width, height), len(t)
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    span_t = max(int(t[-1]) - int(t[0]), 1)
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
    return img, len(t)


def _canvas(span_x: float, span_y: float, size: int, margin: int) -> tuple[float, int, int]:
    """Pixels per screen unit, width and height: the longer span fills ``size`` pixels less
    the margins, exactly (a rounding error of the scale must not add a column)."""
    scale = (size - 1 - 2 * margin) / max(span_x, span_y, 1.0)
    width = min(int(np.ceil(span_x * scale - 1e-6)), size - 1 - 2 * margin) + 1 + 2 * margin
    height = min(int(np.ceil(span_y * scale - 1e-6)), size - 1 - 2 * margin) + 1 + 2 * margin
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


def _heatmap(t: np.ndarray, cx: np.ndarray, cy: np.ndarray, width: int, height: int) -> np.ndarray:
    dwell = np.minimum(np.diff(t, append=t[-1]), MAX_DWELL_NS).clip(min=0).astype(np.float64)
    dwell[-1] = float(np.median(dwell[:-1])) if len(dwell) > 1 else 1.0
    cell = np.round(cy).astype(np.int64) * width + np.round(cx).astype(np.int64)
    weight = np.bincount(cell, weights=dwell + 1.0, minlength=height * width).reshape(height, width)
    radius = max(1, max(width, height) // 200)
    for axis in (0, 1):
        for _ in range(2):  # two box passes: a soft spot around each position
            weight = _box(weight, radius, axis)
    level = np.log1p(weight / max(float(weight.max()), 1e-300) * 1e4) / np.log1p(1e4)
    return _ramp(_HEAT_RAMP, level.ravel()).reshape(height, width, 3)


def _box(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    """The mean of each cell's 2r+1 neighbours along ``axis`` (zero beyond the edge)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r + 1, r)
    c = np.cumsum(np.pad(a, pad), axis=axis)
    hi = np.take(c, np.arange(2 * r + 1, c.shape[axis]), axis=axis)
    lo = np.take(c, np.arange(0, c.shape[axis] - 2 * r - 1), axis=axis)
    return (hi - lo) / (2 * r + 1)


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
) -> dict[str, Any]:
    """Draws the recording at ``src`` (its events with ``t0 <= t < t1``, if given: file time,
    nanoseconds or a duration, as :meth:`hidpack.Recording.between` takes them) and writes the PNG
    to ``out``. Returns ``{"width", "height", "moves", "mode"}``."""
    import hidpack

    t0, t1 = as_ns("t0", t0), as_ns("t1", t1)
    rec = hidpack.open(src)
    view = rec.between(t0, t1) if t0 is not None or t1 is not None else rec
    try:
        img, moves = _render(view, mode, size)
    except ValueError as e:
        raise ValueError(f"{os.fspath(src)}: {e}") from None
    write_png(out, img)
    return {"width": int(img.shape[1]), "height": int(img.shape[0]), "moves": moves, "mode": mode}
