"""How exactly ``hidpack.screen`` places video frames on the recording's clock (docs/TRAINING.md).

Starts Xvfb, records the screen with :class:`hidpack.screen.ScreenCapture` into a recording,
paints the whole screen a new colour CHANGES times at random moments (python-xlib: root
background, clear, sync; the wall clock read before and after each), then decodes every frame
of the video and checks that every frame, placed at its marker time, shows the colour that was
on screen then. For each frame: how far its marker time lies outside the span
in which its colour was on screen (a lower bound on that frame's placement error, tight when a
change lands close to a grab; 0 for most frames). Exits 1 if that is a frame period or more, or
a colour is seen out of order.

    PYTHONPATH=python python3 benches/screen_frames.py [--fps 30] [--changes 60]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

import hidpack
from hidpack.screen import ScreenCapture

W, H = 160, 120


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--changes", type=int, default=60)
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
        return measure(disp, args.fps, args.changes)
    finally:
        xvfb.terminate()
        xvfb.wait(5)


def measure(disp: str, fps: float, n_changes: int) -> int:
    from Xlib import display as xdisplay

    d = xdisplay.Display(disp)
    root = d.screen().root
    rng = random.Random(1)
    # distinct colours 85 apart per channel (told apart after 4:2:0 video coding), shuffled
    grid = [(r, g, b) for r in range(0, 256, 85) for g in range(0, 256, 85) for b in range(0, 256, 85)]
    rng.shuffle(grid)
    if n_changes + 1 > len(grid):
        raise SystemExit("at most %d changes" % (len(grid) - 1))
    colours = grid[: n_changes + 1]

    def paint(rgb: tuple) -> tuple[int, int]:
        t0 = time.time_ns()
        root.change_attributes(background_pixel=(rgb[0] << 16) | (rgb[1] << 8) | rgb[2])
        root.clear_area()
        d.sync()
        return t0, time.time_ns()

    with tempfile.TemporaryDirectory() as tmp:
        out, video = os.path.join(tmp, "m.hpk"), os.path.join(tmp, "m.mkv")
        paint(colours[0])
        screen = ScreenCapture(video, fps=fps, display=disp)
        rec = hidpack.Recorder(out, metadata=screen.metadata(out))
        screen.start(rec)
        changes = [(0, 0)]
        time.sleep(0.3)
        for rgb in colours[1:]:
            time.sleep(rng.uniform(2.0, 3.0) / fps)
            changes.append(paint(rgb))
        time.sleep(0.3)
        report = screen.stop()
        rec.close()
        r = hidpack.open(out)
        frames = r.frames()
        wall = r.wall_t(frames.t)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-fps_mode", "passthrough", "-s", "8x6",
                              "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    images = np.frombuffer(raw, np.uint8).reshape(-1, 6, 8, 3).reshape(-1, 48, 3).mean(axis=1)
    palette = np.array(colours, dtype=float)
    seen = [int(np.argmin(np.abs(palette - img).sum(axis=1))) for img in images]
    assert len(seen) == len(frames) == report["frames"], (len(seen), len(frames), report)
    # per frame: by how much its marker time lies outside the span in which its colour was on
    # screen (after its change began, before the next one was complete); 0 when inside
    late, early = np.zeros(len(seen)), np.zeros(len(seen))
    for k, c in enumerate(seen):
        if c > 0:
            late[k] = max(0.0, changes[c][0] - wall[k])  # the image was taken after the stamp
        if c + 1 < len(changes):
            early[k] = max(0.0, wall[k] - changes[c + 1][1])  # the image was taken before it
    order_ok = all(b >= a for a, b in zip(seen, seen[1:]))
    paint_us = np.median([b - a for a, b in changes[1:]]) / 1e3
    worst = max(late.max(), early.max())
    print("fps %g, %d frames, %d changes (median paint span %.0f us); colours in order: %s"
          % (fps, len(frames), n_changes, paint_us, order_ok))
    print("frames outside their colour's span: %d; image after its marker by up to %.2f ms, before it by up to"
          " %.2f ms (a frame period is %.1f ms)" % (int(np.sum((late > 0) | (early > 0))), late.max() / 1e6,
                                                   early.max() / 1e6, 1e3 / fps))
    return 0 if worst < 1e9 / fps and order_ok else 1


if __name__ == "__main__":
    sys.exit(main())
