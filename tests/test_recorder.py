"""hidpack.Recorder: per-event pushes, batches, drops as gaps, pause, crash safety, rotation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import hidpack


def test_every_kind_round_trips_through_the_ring(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    with hidpack.Recorder(p, clock="event", metadata={"screen": [1920, 1080]}) as rec:
        assert rec.move(10.5, 20, t=1, buttons=1)
        assert rec.raw_move(-3, 4, t=2)
        assert rec.button(1, True, 10.5, 20, t=3)
        assert rec.button(2, False, t=4)
        assert rec.scroll(0, -1, 5, 6, t=5)
        assert rec.key(0x04, True, native=38, t=6)
        assert rec.key(None, False, t=7)
        assert rec.text("héllo, a text longer than one ring slot can hold inline", t=8)
        assert rec.focus("firefox", "Wikipedia — Mozilla Firefox", window=42, rect=(0, 0, 800, 600), t=9)
        assert rec.focus(title="only a title", t=10)
        assert rec.marker("frame", 7, t=11)
        assert not rec.closed
    st = rec.stats()
    assert rec.closed
    assert (st["pushed"], st["written"], st["dropped"], st["gaps"]) == (11, 11, 0, 0)
    assert not Path(str(p) + ".wal").exists()
    r = hidpack.open(p)
    assert r.info()["closed"] is True
    assert r.metadata == {"screen": [1920, 1080]}
    m = r.moves()
    assert m.t.tolist() == [1] and m.x.tolist() == [10.5] and m.buttons.tolist() == [1]
    assert r.raw_moves().dx.tolist() == [-3.0]
    b = r.buttons()
    assert b.button.tolist() == [1, 2] and b.pressed.tolist() == [True, False]
    assert b.x.mask.tolist() == [False, True]
    k = r.keys()
    assert k.usage.tolist() == [4, None] and k.native.tolist() == [38, None]
    assert r.texts().text.tolist() == ["héllo, a text longer than one ring slot can hold inline"]
    f = r.focus()
    assert f.app.tolist() == ["firefox", None]
    assert f.title.tolist() == ["Wikipedia — Mozilla Firefox", "only a title"]
    assert f.window.tolist() == [42, None] and f.right.tolist() == [800, None]
    assert r.markers().label.tolist() == ["frame"]


def test_bad_values_raise_and_are_not_counted(tmp_path: Path) -> None:
    with hidpack.Recorder(tmp_path / "r.hpk", clock="event") as rec:
        with pytest.raises(hidpack.EventValueError) as e:
            rec.move(0.1, 0, t=0)  # not on the 1/65536 grid: never rounded
        assert e.value.field == "x"
        with pytest.raises(ValueError, match="both x and y"):
            rec.button(1, True, 5, None, t=1)
        with pytest.raises(ValueError, match="every push needs a time"):
            rec.move(1, 1)
        assert rec.stats()["pushed"] == 0
    with pytest.raises(ValueError, match="closed"):
        rec.move(1, 1, t=5)
    with pytest.raises(ValueError, match="clock must be"):
        hidpack.Recorder(tmp_path / "x.hpk", clock="wall")
    with pytest.raises(ValueError, match="flush_interval"):
        hidpack.Recorder(tmp_path / "y.hpk", flush_interval=0)
    with pytest.raises(ValueError, match=r"\{n\}"):
        hidpack.Recorder(tmp_path / "z.hpk", rotate_every=60)
    with pytest.raises(OSError):
        hidpack.Recorder(tmp_path / "no" / "such" / "dir.hpk")


def test_monotonic_clock_stamps_at_push(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    before = time.time_ns()
    rec = hidpack.Recorder(p)
    t_os = hidpack.now()
    rec.move(1, 1, t=t_os)
    rec.move(2, 2)
    rec.flush()
    # still recording: the file and its tail are readable as they are
    r = hidpack.open(p)
    assert r.info()["closed"] is False and r.info()["tail"]["events"] == 2
    t = r.moves().t
    assert t[0] == rec.file_time(t_os) and 0 <= t[0] <= t[1] < 60 * 10**9
    rec.close()
    wall = hidpack.open(p).header["wall_clock_ns"]
    assert before - 10**9 < wall < time.time_ns()


def test_a_live_recorder_writes_clock_records_that_readers_use(tmp_path: Path) -> None:
    p = tmp_path / "c.hpk"
    rec = hidpack.Recorder(p, flush_interval=0.01, clock_every=0.05)
    for i in range(30):
        rec.move(i, i)
        time.sleep(0.01)
    st = rec.close()
    assert st["written"] == 30 and st["gaps"] == 0  # the records are neither
    r = hidpack.open(p)
    t, wall = r.clock()
    assert t[0] == 0 and wall[0] == r.wall_clock_ns and len(t) >= 4, (t, wall)
    assert np.all(np.diff(t[1:]) >= 50_000_000)
    # the wall clock did not move against the recording clock: every point on one line
    assert np.all(np.abs((wall - t) - r.wall_clock_ns) < 2_000_000)
    moves = r.moves().t
    assert np.all(np.abs(r.wall_t(moves) - (r.wall_clock_ns + moves)) < 2_000_000)
    markers = r.markers()
    assert set(np.asarray(markers.label, dtype=object)) == {"hidpack:clock"}
    with pytest.raises(ValueError, match="clock_every must be a positive number of seconds"):
        hidpack.Recorder(tmp_path / "x.hpk", clock_every=0)
    # none on the event clock
    with hidpack.Recorder(tmp_path / "e.hpk", clock="event", flush_interval=0.01, clock_every=0.01) as ev:
        ev.move(1, 1, t=0)
        time.sleep(0.05)
    assert len(hidpack.open(tmp_path / "e.hpk").markers().t) == 0


def test_extend_keeps_order_with_single_pushes(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    n = 100_000
    with hidpack.Recorder(p, clock="event") as rec:
        rec.marker("start", t=0)
        rec.extend({"t": np.arange(1, n + 1), "kind": "move", "x": np.arange(n) % 1920.0, "y": np.zeros(n)})
        arr = np.zeros(3, dtype=[("t", "i8"), ("kind", "U4"), ("usage", "i8"), ("pressed", "?")])
        arr["t"] = [n + 1, n + 2, n + 3]
        arr["kind"] = "key"
        arr["usage"] = [4, 5, 6]
        rec.extend(arr)
        rec.marker("end", t=n + 4)
        with pytest.raises(ValueError):
            rec.extend({"t": [1], "kind": "nonsense"})
    st = rec.stats()
    assert st["written"] == st["pushed"] == n + 5
    r = hidpack.open(p)
    assert r.moves().t.tolist() == list(range(1, n + 1))
    assert r.keys().usage.tolist() == [4, 5, 6]
    assert r.markers().t.tolist() == [0, n + 4]
    assert len(r) == n + 5


def test_slow_writer_counts_every_drop_and_places_its_gap(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    n = 100_000
    rec = hidpack.Recorder(p, clock="event", ring_capacity=64, _writer_delay=0.0005)
    accepted = [rec.move(0, i, t=i) for i in range(n)]
    st = rec.close()
    assert st["dropped"] > 0, "the slowed writer must make the ring overflow"
    assert st["dropped"] == accepted.count(False)
    assert st["pushed"] == n and st["written"] + st["dropped"] == st["pushed"]
    r = hidpack.open(p)
    assert r.info()["drops"] == st["dropped"]
    g = r.gaps()
    assert int(g.count.sum()) == st["dropped"] and set(g.reason.tolist()) == {1}
    # each gap covers exactly the missing indices between its neighbours
    y = r.moves().y.astype(int)
    kept = set(y.tolist())
    assert kept == {i for i, ok in enumerate(accepted) if ok}
    for t0, t1, c in zip(g.t.tolist(), g.t_end.tolist(), g.count.tolist()):
        assert c == t1 - t0 + 1 and not kept & set(range(t0, t1 + 1))


def test_the_write_ahead_tail_is_valid_zstd(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    rec = hidpack.Recorder(p, clock="event")
    for i in range(20_000):
        rec.move(i % 500, 3, t=i * 1_000_000)  # 20 s of event time: about 20 checkpoints
    rec.flush()
    wal = Path(str(p) + ".wal")
    res = subprocess.run(["zstd", "-t", "-q", str(wal)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    dump = subprocess.run(["zstd", "-dc", str(wal)], capture_output=True, check=True).stdout
    assert len(dump) > 0
    r = hidpack.open(p)
    assert len(r) == 20_000 and r.info()["tail"]["events"] == 20_000
    rec.close()
    assert not wal.exists()


def test_pause_withholds_everything_but_a_gap(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    with hidpack.Recorder(p, clock="event") as rec:
        rec.key(4, True, t=1)
        rec.pause(t=2)
        assert rec.paused
        assert not rec.text("hunter2", t=3)
        assert not rec.key(5, True, t=4)
        rec.resume(t=5)
        rec.key(6, True, t=6)
    st = rec.stats()
    assert (st["paused"], st["written"], st["gaps"]) == (2, 2, 1)
    r = hidpack.open(p)
    g = r.gaps()
    assert (g.t.tolist(), g.t_end.tolist(), g.count.tolist(), g.reason.tolist()) == ([2], [5], [2], [2])
    assert b"hunter2" not in p.read_bytes()


def test_rotation_ships_closed_files(tmp_path: Path) -> None:
    closed: list[str] = []
    pattern = tmp_path / "part-{n}.hpk"
    with hidpack.Recorder(pattern, clock="event", rotate_every=1.0, on_close=closed.append) as rec:
        for i in range(5000):
            rec.move(i % 100, 0, t=i * 1_000_000)  # 5 s of event time at 1 kHz
    assert [os.path.basename(c) for c in closed] == [f"part-{n:04d}.hpk" for n in range(5)]
    total = 0
    for n, c in enumerate(closed):
        r = hidpack.open(c)
        assert r.metadata["part"] == n and r.info()["closed"]
        total += len(r)
    assert total == 5000 == rec.stats()["written"]


CHILD = textwrap.dedent(
    """
    import sys, threading, time
    import hidpack
    path, rate = sys.argv[1], float(sys.argv[2])
    rec = hidpack.Recorder(path, flush_interval=0.25)
    t0_mono = time.monotonic_ns() - rec.file_time(hidpack.now())
    period = 3 / rate  # 3 producers share the rate
    def produce(p):
        start = time.perf_counter()
        i = 0
        while True:
            target = start + i * period
            while time.perf_counter() < target:
                pass
            if not rec.move(p, i):
                print("DROP", p, i, flush=True)
            i += 1
    for p in range(3):
        threading.Thread(target=produce, args=(p,), daemon=True).start()
    print(t0_mono, flush=True)
    time.sleep(3600)
    """
)


def test_sigkill_loses_at_most_the_flush_interval(tmp_path: Path) -> None:
    """A process recording at 8 kHz from 3 threads is killed with SIGKILL: the file opens as it
    is, and every event pushed more than flush_interval (+ slack for the fsync and scheduling)
    before the kill is there exactly once, in order for each producer."""
    p = tmp_path / "killed.hpk"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(p), "8000"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    t0_mono = int(child.stdout.readline())
    time.sleep(3.0)
    kill_mono = time.monotonic_ns()
    child.send_signal(signal.SIGKILL)
    child.wait()
    drops = [line for line in child.stdout.read().splitlines() if line.startswith("DROP")]
    assert drops == []
    r = hidpack.open(p)  # no repair step
    info = r.info()
    assert info["closed"] is False and info["tail"] is not None
    m = r.moves()
    kill_t = kill_mono - t0_mono
    flush_interval, slack = 250_000_000, 500_000_000
    assert len(m) > 3 * 8000 * 0.5, f"only {len(m)} events: the child did not record at 8 kHz"
    for prod in range(3):
        sel = m.x == prod
        seq = m.y[sel].astype(int)
        assert seq.tolist() == list(range(len(seq))), f"producer {prod}: lost, duplicated or reordered"
        last_t = int(m.t[sel][-1])
        assert kill_t - last_t <= flush_interval + slack, (
            f"producer {prod}: its last event in the file was pushed {(kill_t - last_t) / 1e6:.0f} ms "
            "before the kill"
        )
        # hidpack recover writes a clean file with the same events
    out = tmp_path / "clean.hpk"
    rep = hidpack.recover(p, out)
    assert rep["events"] == len(r) and rep["tail_events"] == info["tail"]["events"]
    clean = hidpack.open(out)
    assert clean.info()["closed"] is True and clean.verify()["ok"]
    assert np.array_equal(clean.moves().y, m.y) and np.array_equal(clean.moves().t, m.t)
    # in place, through the CLI: the tail is then deleted
    res = subprocess.run([sys.executable, "-m", "hidpack", "recover", str(p)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "write-ahead tail" in res.stdout
    assert not Path(str(p) + ".wal").exists()
    assert hidpack.open(p).info()["closed"] is True and len(hidpack.open(p)) == len(r)
