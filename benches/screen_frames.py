"""How exactly ``hidpack.screen`` places video frames on the recording's clock (docs/TRAINING.md).

Starts Xvfb, records the screen with :class:`hidpack.screen.ScreenCapture` into a recording while
painting the whole screen (python-xlib: root background, clear, sync; the wall clock read before
and after each paint), then decodes every frame of the video and compares the colour it shows with
the paints around its marker time. Two modes:

* ``--mode changes`` (default): CHANGES colour changes at random moments, 2-3 frame periods
  apart. Every frame must show the colour that was on screen at its marker time; a frame whose
  marker lies outside that colour's span by x ms is misplaced by at least x ms (counted, worst
  printed). Exits 1 if that is a frame period or more, or a colour is seen out of order.
* ``--mode sweep``: paints for SECONDS, a new colour every ms (216 colours in a cycle of 216
  ms), so every frame's image pins the moment it was taken to about a millisecond: prints
  the distribution of (image time - marker time) over all frames. Exits 1 if a frame is off by
  a frame period or more.

    PYTHONPATH=python python3 benches/screen_frames.py [--fps 30] [--changes 63]
    PYTHONPATH=python python3 benches/screen_frames.py --mode sweep [--fps 10] [--seconds 10]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, List, Tuple

import numpy as np

import hidpack
from hidpack.screen import ScreenCapture, decode_video

W, H = 160, 120


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("changes", "sweep"), default="changes")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--changes", type=int, default=63)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--display", type=int, default=171)
    args = ap.parse_args()
    disp = ":%d" % args.display
    xvfb = subprocess.Popen(["Xvfb", disp, "-screen", "0", "%dx%dx24" % (W, H), "-nolisten", "tcp"],
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists("/tmp/.X11-unix/X%d" % args.display):
                break
            time.sleep(0.05)
        if args.mode == "changes":
            return changes(disp, args.fps, args.changes)
        return sweep(disp, args.fps, args.seconds)
    finally:
        xvfb.terminate()
        xvfb.wait(5)


def _palette(n: int, levels: int) -> List[Tuple[int, int, int]]:
    """n distinct colours, 255/(levels-1) apart per channel (told apart after 4:2:0 coding)."""
    step = 255 // (levels - 1)
    grid = [(r, g, b) for r in range(0, 256, step) for g in range(0, 256, step) for b in range(0, 256, step)]
    random.Random(1).shuffle(grid)
    if n > len(grid):
        raise SystemExit("at most %d colours" % len(grid))
    return grid[:n]


def _painter(disp: str) -> Callable[[Tuple[int, int, int]], Tuple[int, int]]:
    from Xlib import display as xdisplay

    d = xdisplay.Display(disp)
    root = d.screen().root

    def paint(rgb: Tuple[int, int, int]) -> Tuple[int, int]:
        t0 = time.time_ns()
        root.change_attributes(background_pixel=(rgb[0] << 16) | (rgb[1] << 8) | rgb[2])
        root.clear_area()
        d.sync()  # the server has done it when the reply comes
        return t0, time.time_ns()

    return paint


def _record(disp: str, fps: float, body: Callable[[], Any]) -> Tuple[np.ndarray, np.ndarray, dict]:
    """Record the screen while ``body()`` runs: (marker wall times, decoded frames, report)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, video = os.path.join(tmp, "m.hpk"), os.path.join(tmp, "m.mkv")
        screen = ScreenCapture(video, fps=fps, display=disp)
        rec = hidpack.Recorder(out, metadata=screen.metadata(out))
        screen.start(rec)
        body()
        report = screen.stop()
        rec.close()
        r = hidpack.open(out)
        frames = r.frames()
        wall = r.wall_t(frames.t)
        pts_ns, images = decode_video(video, (8, 6))
    assert len(images) == len(frames) == report["frames"], (len(images), len(frames), report)
    assert list(pts_ns) == list(np.asarray(frames.pts_ns))
    return wall, images.reshape(len(images), -1, 3).mean(axis=1), report


def _nearest(images: np.ndarray, palette: List[Tuple[int, int, int]]) -> Tuple[List[int], np.ndarray]:
    """The palette index nearest each frame's mean colour, and how far it is (sum over RGB)."""
    pal = np.array(palette, dtype=float)
    dist = np.abs(pal[None, :, :] - images[:, None, :]).sum(axis=2)
    return [int(i) for i in dist.argmin(axis=1)], dist.min(axis=1)


def changes(disp: str, fps: float, n_changes: int) -> int:
    colours = _palette(n_changes + 1, 4)
    paint = _painter(disp)
    rng = random.Random(2)
    spans = [(0, 0)]
    paint(colours[0])

    def body() -> None:
        time.sleep(0.3)
        for rgb in colours[1:]:
            time.sleep(rng.uniform(2.0, 3.0) / fps)
            spans.append(paint(rgb))
        time.sleep(0.3)

    wall, images, _ = _record(disp, fps, body)
    seen, _ = _nearest(images, colours)
    # per frame: by how much its marker time lies outside the span in which its colour was on
    # screen (after its change began, before the next one was complete); 0 when inside
    late, early = np.zeros(len(seen)), np.zeros(len(seen))
    for k, c in enumerate(seen):
        if c > 0:
            late[k] = max(0.0, spans[c][0] - wall[k])  # the image was taken after the marker time
        if c + 1 < len(spans):
            early[k] = max(0.0, wall[k] - spans[c + 1][1])  # the image was taken before it
    order_ok = all(b >= a for a, b in zip(seen, seen[1:]))
    print("changes: fps %g, %d frames, %d changes (median paint span %.0f us); colours in order: %s"
          % (fps, len(seen), n_changes, np.median([b - a for a, b in spans[1:]]) / 1e3, order_ok))
    print("frames outside their colour's span: %d; image after its marker by up to %.2f ms, before it by up to"
          " %.2f ms (a frame period is %.1f ms)" % (int(np.sum((late > 0) | (early > 0))), late.max() / 1e6,
                                                   early.max() / 1e6, 1e3 / fps))
    return 0 if max(late.max(), early.max()) < 1e9 / fps and order_ok else 1


def sweep(disp: str, fps: float, seconds: float) -> int:
    colours = _palette(216, 6)
    paint = _painter(disp)
    spans: List[Tuple[int, int]] = []  # paint i showed colours[i % 216]
    stop = threading.Event()

    def loop() -> None:
        i = 0
        while not stop.is_set():
            spans.append(paint(colours[i % len(colours)]))
            i += 1
            while time.time_ns() < spans[-1][0] + 1_000_000:  # one paint a ms: a cycle of the
                time.sleep(0.0002)  # palette lasts 216 ms, far more than any lag (no aliasing)

    def body() -> None:
        th = threading.Thread(target=loop)
        th.start()
        time.sleep(seconds)
        stop.set()
        th.join()

    wall, images, _ = _record(disp, fps, body)
    seen, dist = _nearest(images, colours)
    t0 = np.array([a for a, _ in spans], dtype=np.int64)
    t1 = np.array([b for _, b in spans], dtype=np.int64)
    period = len(colours)
    lo, hi = [], []
    unsure = 0
    for k, c in enumerate(seen):
        if dist[k] > 25:  # not clearly one colour of the palette (video coding): not pinned
            unsure += 1
            continue
        # the paints that showed this colour; take the one nearest the marker (a cycle of 216
        # paints lasts 216 ms: a lag of up to 108 ms either way is read right)
        idx = np.arange(c, len(spans), period)
        if len(idx) == 0 or not (t0[0] < wall[k] < t1[-1]):
            continue  # before the first paint or after the last: not pinned
        j = int(idx[np.argmin(np.abs(t0[idx] - wall[k]))])
        lo.append(t0[j] - wall[k])  # taken after paint j began ...
        hi.append((t1[j + 1] if j + 1 < len(spans) else t1[j]) - wall[k])  # ... before paint j+1 was done
    lo_ms, hi_ms = np.array(lo) / 1e6, np.array(hi) / 1e6
    sharp = (hi_ms - lo_ms) <= 3.0  # pinned to 3 ms or better (the painter was not held up)
    mid = ((lo_ms + hi_ms) / 2)[sharp]
    pct = np.percentile(mid, [50, 90, 99])
    print("sweep: fps %g, %d frames pinned (%d to 3 ms or better; %d not clearly one colour), a paint every %.2f ms"
          % (fps, len(lo_ms), len(mid), unsure, (t0[-1] - t0[0]) / 1e6 / max(1, len(spans) - 1)))
    print("image time - marker time (sharp frames): median %+.2f ms, p90 %+.2f, p99 %+.2f, max %+.2f; all frames:"
          " image at least %.2f ms after its marker at worst, at least %.2f ms before it at worst; > 5 ms late: %d,"
          " > 1 frame period: %d"
          % (pct[0], pct[1], pct[2], mid.max(), lo_ms.max(), max(0.0, -hi_ms.min()), int(np.sum(lo_ms > 5)),
             int(np.sum(lo_ms >= 1e3 / fps))))
    return 0 if lo_ms.max() < 1e3 / fps and hi_ms.min() > -1e3 / fps else 1


if __name__ == "__main__":
    sys.exit(main())
