"""pytest-benchmark: the Python capture path, hidpack.Recorder against what the peers use.

Run:  pytest benches/test_bench_push.py --benchmark-only
(quick: add ``--benchmark-min-rounds=3 --benchmark-max-time=0.5``)

* per-event push: ``Recorder.move(x, y)`` (stamped at push) and ``move(x, y, t=...)``, each round
  a loop of 1000 calls, against ``queue.Queue.put`` of a stamped tuple, what OpenAdapt, Open World
  Agents and DuckTrack do, and ``queue.SimpleQueue.put``. Divide the reported time by 1000 for
  the time per event (the loop's own cost, ~15 ns per iteration, is included in all of them).
* key pushes, plain and under the ``strict`` privacy policy (enforced in the core, before the
  ring): the policy's cost per key is the difference.
* ``extend``: one call with 1 M moves as numpy columns (call throughput: conversion, validation
  and hand-off), and 4 M moves through ``extend`` + ``close`` (end to end, encoder included).

The recorder writes to a temporary directory; its ring is large enough that the encoder keeps
up, and every benchmark asserts that nothing was dropped.
"""
from __future__ import annotations

import queue
import time
from pathlib import Path

import numpy as np
import pytest

import hidpack

pytest.importorskip("pytest_benchmark")

LOOP = 1000


@pytest.fixture()
def rec(tmp_path: Path):
    r = hidpack.Recorder(tmp_path / "bench.hpk", ring_capacity=1 << 20, sync="never")
    yield r
    st = r.close()
    assert st["dropped"] == 0, st


def test_push_hidpack_move_stamped(benchmark, rec) -> None:
    move = rec.move

    def run() -> None:
        for i in range(LOOP):
            move(100, 200)

    benchmark(run)


def test_push_hidpack_move_with_t(benchmark, rec) -> None:
    move = rec.move
    now = hidpack.now

    def run() -> None:
        for i in range(LOOP):
            move(100, 200, now())

    benchmark(run)


def test_push_queue_put(benchmark) -> None:
    q: queue.Queue = queue.Queue()
    put = q.put
    mono = time.monotonic_ns

    def run() -> None:
        for i in range(LOOP):
            put(("move", mono(), 100, 200))
        q.queue.clear()

    benchmark(run)


def test_push_simplequeue_put(benchmark) -> None:
    q: queue.SimpleQueue = queue.SimpleQueue()
    put = q.put
    mono = time.monotonic_ns

    def run() -> None:
        for i in range(LOOP):
            put(("move", mono(), 100, 200))
        while not q.empty():
            q.get_nowait()

    benchmark(run)


def _key_loop(rec: hidpack.Recorder):
    key = rec.key

    def run() -> None:
        for i in range(LOOP):
            key(0x04 + (i & 15), bool(i & 1), 38)

    return run


def test_push_hidpack_key_plain(benchmark, rec) -> None:
    """Key push without a policy: the baseline of the next one."""
    benchmark(_key_loop(rec))


def test_push_hidpack_key_strict(benchmark, tmp_path: Path) -> None:
    """Key push under the strict policy (issue 16 target: within 2x the plain key push). The
    policy runs in the core: the key's class is looked up and the event transformed before the
    ring, on the pushing thread."""
    r = hidpack.Recorder(tmp_path / "strict.hpk", ring_capacity=1 << 20, sync="never", policy="strict")
    r.focus("editor", "notes.txt")
    benchmark(_key_loop(r))
    st = r.close()
    assert st["dropped"] == 0, st
    assert r.policy_report()["transformed"]["key_classes"] > 0


def _moves(n: int, t0: int = 0) -> dict:
    i = np.arange(n, dtype=np.int64)
    return {"t": t0 + i * 125_000, "kind": "move", "x": (i % 1920).astype(np.float64), "y": (i % 1080).astype(np.float64)}


def test_extend_call_1M(benchmark, tmp_path: Path) -> None:
    batch = _moves(1_000_000)
    r = hidpack.Recorder(tmp_path / "x.hpk", clock="event", max_batch_backlog=1 << 40, sync="never")
    benchmark.extra_info["events_per_call"] = 1_000_000
    benchmark.pedantic(r.extend, args=(batch,), rounds=5, iterations=1)
    r.close()


def test_extend_end_to_end_4M(benchmark, tmp_path: Path) -> None:
    batch = _moves(1_000_000)
    n = [0]

    def run() -> None:
        n[0] += 1
        r = hidpack.Recorder(tmp_path / f"e{n[0]}.hpk", clock="event", sync="never")
        for k in range(4):
            b = dict(batch)
            b["t"] = batch["t"] + k * 125_000_000_000
            r.extend(b)
        st = r.close()
        assert st["written"] == 4_000_000

    benchmark.extra_info["events_per_round"] = 4_000_000
    benchmark.pedantic(run, rounds=3, iterations=1)
