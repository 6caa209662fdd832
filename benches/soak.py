"""Soak: a synthetic 8-hour recording at 8 kHz (230.4 M events) through hidpack.Recorder, with
peak memory reported. The recorder's memory must stay flat: ring + one open block + the batch
backlog bound, whatever the length of the recording.

    python benches/soak.py            # 8 h at 8 kHz (about a minute on one core)
    python benches/soak.py --hours 0.5

Moves follow a synthetic trajectory (a random walk with pauses) on the event clock, pushed with
``extend`` in batches of 1 s of events, each with one key press, so every kind of block work is
exercised. Prints RSS (VmRSS, VmHWM from /proc/self/status) after each simulated hour and at
the end, the file size, and bytes per event. Exit status 1 if the RSS at the end exceeds the RSS
after the first hour by more than --max-growth-mib (default 64).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import hidpack


def rss_mib() -> tuple[float, float]:
    cur = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--rate", type=int, default=8000, help="events per second")
    ap.add_argument("--max-growth-mib", type=float, default=64.0)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    seconds = int(args.hours * 3600)
    n = args.rate
    step = 1_000_000_000 // n
    out_dir = args.dir or tempfile.mkdtemp(prefix="hidpack-soak-")
    path = os.path.join(out_dir, "soak.hpk")
    rec = hidpack.Recorder(path, clock="event", sync="never")
    x, y = 960, 540
    t0 = time.perf_counter()
    base = None
    samples = []
    for s in range(seconds):
        dx = rng.integers(-3, 4, n).cumsum()
        dy = rng.integers(-3, 4, n).cumsum()
        xs = np.clip(x + dx, 0, 1919).astype(np.float64)
        ys = np.clip(y + dy, 0, 1079).astype(np.float64)
        x, y = int(xs[-1]), int(ys[-1])
        t = s * 1_000_000_000 + np.arange(n, dtype=np.int64) * step
        kind = np.zeros(n, dtype=np.uint8)
        kind[n // 2] = 4  # one key press per second
        usage = np.zeros(n, dtype=np.int64)
        usage[n // 2] = 4
        pressed = np.zeros(n, dtype=bool)
        pressed[n // 2] = True
        rec.extend({"t": t, "kind": kind, "x": xs, "y": ys, "usage": usage, "pressed": pressed})
        if (s + 1) % 3600 == 0 or s + 1 == seconds:
            cur, peak = rss_mib()
            if base is None:
                base = cur
            samples.append(cur)
            st = rec.stats()
            print(
                f"{(s + 1) / 3600:5.2f} h  events {st['pushed']:>12,}  written {st['written']:>12,}  "
                f"RSS {cur:7.1f} MiB  peak {peak:7.1f} MiB  elapsed {time.perf_counter() - t0:6.1f} s",
                flush=True,
            )
    st = rec.close()
    cur, peak = rss_mib()
    size = os.path.getsize(path)
    elapsed = time.perf_counter() - t0
    print(
        f"done: {st['written']:,} events in {elapsed:.1f} s ({st['written'] / elapsed / 1e6:.2f} M events/s), "
        f"{st['blocks']:,} blocks, {size / 2**20:.1f} MiB ({size / st['written']:.3f} B/event); "
        f"RSS {cur:.1f} MiB, peak {peak:.1f} MiB; dropped {st['dropped']}"
    )
    assert st["written"] == seconds * n and st["dropped"] == 0
    os.remove(path)
    growth = (samples[-1] - base) if base is not None else 0.0
    print(f"RSS growth after the first hour: {growth:+.1f} MiB")
    return 1 if growth > args.max_growth_mib else 0


if __name__ == "__main__":
    sys.exit(main())
