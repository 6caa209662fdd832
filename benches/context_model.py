"""How much could context modelling save on mouse moves? An estimate for docs/PERFORMANCE.md.

    python benches/context_model.py [--every N]

For the moves of the balabit corpus (every Nth session; default 7), this codes each step (dx, dy)
and each clock step (dt, whole milliseconds) the way an adaptive coder with contexts would: the
magnitude class (bit length of |v|) and sign as one symbol from adaptive counts under a context,
the bits below the leading one raw (an Elias-gamma-like split). It prints bits per move without a
context and with the contexts named. The adaptive counts pay for their own learning, so, unlike an
empirical conditional entropy, many contexts are not free.

This is an estimate of a coder hidpack does not have (and would be several times slower than its
rANS), not a measurement of hidpack.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (the harness's corpus loader)


class Adaptive:
    """Adaptive frequency counts per context (increment 24, halved past 8192, like a range coder's)."""

    def __init__(self, symbols: int) -> None:
        self.freq: Dict[object, List[float]] = {}
        self.symbols = symbols

    def cost(self, ctx: object, sym: int) -> float:
        f = self.freq.get(ctx)
        if f is None:
            f = self.freq[ctx] = [1.0] * self.symbols
        total = sum(f)
        bits = -math.log2(f[sym] / total)
        f[sym] += 24
        if total + 24 > 8192:
            self.freq[ctx] = [max(1.0, v / 2) for v in f]
        return bits


def magnitude(v: int) -> int:
    return min(abs(v).bit_length(), 15)


def bits(values: Sequence[int], contexts: Sequence[object]) -> float:
    """Bits to code `values` with a class+sign symbol under `contexts` and raw low bits."""
    model = Adaptive(32)
    total = 0.0
    for v, ctx in zip(values, contexts):
        c = magnitude(v)
        sym = 2 * c + (v < 0) if c else 0
        total += model.cost(ctx, sym) + max(c - 1, 0)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=7, help="use every Nth session (default 7)")
    args = ap.parse_args()
    corpus = compare.load_corpora(False, ["balabit-mouse"])[0]
    sums: Dict[str, float] = {}
    moves = 0
    for s in corpus.sessions[:: args.every]:
        m = s.cols["kind"] == compare.K_MOVE
        x, y, t = s.cols["x"][m].astype(np.int64), s.cols["y"][m].astype(np.int64), s.cols["t"][m]
        if len(x) < 10:
            continue
        dx, dy = np.diff(x).tolist(), np.diff(y).tolist()
        dt = (np.diff(t) // 1_000_000).tolist()
        moves += len(dx)
        cdx, cdy, cdt = [magnitude(v) for v in dx], [magnitude(v) for v in dy], [magnitude(v) for v in dt]
        runs = {
            "dx, no context": (dx, [0] * len(dx)),
            "dx | previous dx class": (dx, [0] + cdx[:-1]),
            "dy, no context": (dy, [0] * len(dy)),
            "dy | dx class, previous dy class": (dy, [a * 16 + b for a, b in zip(cdx, [0] + cdy[:-1])]),
            "dt, no context": (dt, [0] * len(dt)),
            "dt | previous dt class": (dt, [0] + cdt[:-1]),
        }
        for name, (vals, ctx) in runs.items():
            sums[name] = sums.get(name, 0.0) + bits(vals, ctx)
    print(f"balabit-mouse, every {args.every}th session: {moves:,} moves")
    for name, b in sums.items():
        print(f"  {name:34s} {b / moves:6.3f} bits/move")


if __name__ == "__main__":
    main()
