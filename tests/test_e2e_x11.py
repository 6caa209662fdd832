"""End to end on a real X server: Xvfb, real X client windows, ``hidpack record`` with the
pynput capture source, input driven by xdotool along a real trajectory from ../shared/data.

Compared: pointer positions and their order exactly; button and key events exactly; focus
changes present; timing: each move's recorded time (the header's wall-clock anchor + t) within
TIMING_TOLERANCE_MS of the moment the driver's xdotool call returned, for 95% of the moves. Then with a policy that withholds text in a window whose title matches a
rule: the typed secret appears nowhere (raw bytes, every decompressed frame, every export), while
its key timing and classes remain.

Needs Xvfb and xdotool (.ci/run installs them with apt-get); fails, does not skip, without them.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hidpack
from hidpack import keymap
from hidpack.policy import KEY_CLASS_BASE, KEY_CLASSES

from shared_data import data_file
from x11_display import xvfb

HERE = Path(__file__).resolve().parent
W, H = 1280, 1024
SECRET = "swordfishzebra"
#: recorded time of a move vs. the driver's clock when xdotool returned (95% of moves)
TIMING_TOLERANCE_MS = 50.0
WORDS = "hello world"


@pytest.fixture(scope="module")
def xserver():
    with xvfb(W, H, tools=("xdotool",)) as env:
        wins = subprocess.Popen(
            [sys.executable, str(HERE / "x11_windows.py"), "Notes:hidpack notes", "Vault:Secret vault - sign in"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        ids = json.loads(wins.stdout.readline())
        yield env, ids
        wins.stdin.close()
        wins.wait(5)


def _trajectory(n: int = 250) -> tuple[list[tuple[int, int]], list[float]]:
    """The first n distinct moves of the first balabit session, scaled to the screen, and the
    pauses between them (their recorded intervals, clamped to 2..40 ms)."""
    import zstandard

    raw = zstandard.ZstdDecompressor().stream_reader(open(data_file("balabit-mouse", "events.csv.zst"), "rb")).read(1 << 20)
    lines = raw.decode().splitlines()[1:]
    pts, ts = [], []
    for line in lines:
        t, kind, x, y, _b, _s = line.split(",")
        if kind != "move":
            continue
        px = min(W - 1, max(0, int(int(x) * (W - 1) / 1920)))
        py = min(H - 1, max(0, int(int(y) * (H - 1) / 1200)))
        if pts and (px, py) == pts[-1]:
            continue
        pts.append((px, py))
        ts.append(int(t))
        if len(pts) == n:
            break
    gaps = [min(0.04, max(0.002, (b - a) / 1e9)) for a, b in zip(ts, ts[1:])]
    return pts, gaps


def _record(env: dict, out: Path, ids: dict, policy: Path | None) -> tuple[dict, dict]:
    cmd = [sys.executable, "-m", "hidpack", "record", str(out), "--no-status", "--pause-hotkey", ""]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    rec = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    for line in rec.stderr:
        if "recording to" in line:
            break
        if time.time() > deadline:
            break
    else:
        pytest.fail("hidpack record did not start: " + rec.stdout.read())
    x = lambda *a: subprocess.run(["xdotool", *map(str, a)], env=env, check=True)  # noqa: E731
    notes, vault = ids["hidpack notes"], ids["Secret vault - sign in"]
    x("windowfocus", notes)
    time.sleep(0.3)
    pts, gaps = _trajectory()
    stamps = []
    for (px, py), g in zip(pts, gaps + [0.0]):
        x("mousemove", px, py)
        stamps.append(time.time_ns())  # the move has been sent when xdotool returns
        time.sleep(g)
    time.sleep(0.05)
    x("click", 1)
    x("click", 4)
    x("click", 5)
    x("type", "--delay", 40, WORDS)
    time.sleep(0.1)
    x("windowfocus", vault)
    time.sleep(0.3)
    x("type", "--delay", 40, SECRET)
    time.sleep(0.1)
    x("windowfocus", notes)
    time.sleep(0.3)
    rec.send_signal(signal.SIGTERM)
    stdout, stderr = rec.communicate(timeout=30)
    assert rec.returncode == 0, stderr
    stats = json.loads(stdout.strip().splitlines()[-1])
    return stats, {"pts": pts, "gaps": gaps, "stamps": stamps}


def _usages(text: str) -> list[int]:
    return [keymap.pynput_to_usage(" " if c == " " else c) for c in text]


def test_record_real_x11_input(xserver, tmp_path: Path) -> None:
    env, ids = xserver
    out = tmp_path / "desk.hpk"
    stats, drv = _record(env, out, ids, None)
    assert stats["dropped"] == 0 and stats["written"] == stats["pushed"] > len(drv["pts"])
    r = hidpack.open(out)
    assert r.info()["closed"] and r.verify()["ok"]
    m = r.moves()
    got = list(zip(m.x.astype(int).tolist(), m.y.astype(int).tolist()))
    # exactly the driven points, in order (a first move may precede them if the pointer
    # started elsewhere: the trajectory must be a contiguous run of the recording)
    pts = drv["pts"]
    start = got.index(pts[0])
    assert got[start : start + len(pts)] == pts
    # timing: each move's recorded time (wall clock = header anchor + t) against the moment
    # the driver's xdotool call returned, within the stated tolerance
    t = m.t[start : start + len(pts)].astype(np.int64)
    err = (r.header["wall_clock_ns"] + t - np.array(drv["stamps"])) / 1e6
    print("\ntiming error (recorded - driver) ms: median %.1f, p95 |err| %.1f, max |err| %.1f"
          % (np.median(err), np.percentile(np.abs(err), 95), np.abs(err).max()))
    assert np.percentile(np.abs(err), 95) <= TIMING_TOLERANCE_MS
    b = r.buttons()
    assert b.button.tolist() == [1, 1] and b.pressed.tolist() == [True, False]
    assert (b.x.tolist(), b.y.tolist()) == ([float(pts[-1][0])] * 2, [float(pts[-1][1])] * 2)
    s = r.scrolls()
    assert s.dy.tolist() == [1.0, -1.0] and s.dx.tolist() == [0.0, 0.0] and s.x.tolist() == [float(pts[-1][0])] * 2
    k = r.keys()
    presses = k.usage[k.pressed].tolist()
    assert presses == _usages(WORDS) + _usages(SECRET)
    assert k.usage[~k.pressed].tolist() == _usages(WORDS) + _usages(SECRET)
    assert "".join(r.texts().text.tolist()) == WORDS + SECRET
    f = r.focus()
    titles = [x for x in f.title.tolist()]
    assert titles[-3:] == ["hidpack notes", "Secret vault - sign in", "hidpack notes"]
    assert f.app.tolist()[-2] == "Vault"
    print("\nCPU of the recording process: %.2f s over %.1f s (%.2f%%), %d events"
          % (stats["cpu_seconds"], stats["seconds"], stats["cpu_percent"], stats["written"]))


def test_policy_withholds_text_in_a_matching_window(xserver, tmp_path: Path) -> None:
    env, ids = xserver
    pol = tmp_path / "p.toml"
    pol.write_text('[[rule]]\ntitle = "secret"\nkeys = "classes"\ntext = "drop"\n')
    out = tmp_path / "private.hpk"
    stats, _ = _record(env, out, ids, pol)
    assert stats["dropped"] == 0
    assert stats["policy"]["withheld"]["text"] == len(SECRET)
    r = hidpack.open(out)
    k = r.keys()
    f = r.focus()
    t_in = f.t[f.title.tolist().index("Secret vault - sign in")]
    t_out = f.t[len(f.t) - 1]
    inside = (k.t > t_in) & (k.t < t_out)
    # key timing and classes remain: one press and one release per character, all letters
    assert int(inside.sum()) == 2 * len(SECRET)
    assert set(k.usage[inside].tolist()) == {KEY_CLASS_BASE + KEY_CLASSES.index("letter")}
    assert k.native[inside].mask.all()
    # outside the rule's window everything is kept
    assert k.usage[k.pressed & (k.t < t_in)].tolist() == _usages(WORDS)
    assert "".join(r.texts().text.tolist()) == WORDS
    # the secret is nowhere: file bytes, decompressed frames, exports
    secret = SECRET.encode()
    blobs = [out.read_bytes(), subprocess.run(["zstd", "-dc", str(out)], capture_output=True, check=True).stdout]
    for name in ("x.csv", "x.jsonl", "x.parquet"):
        subprocess.run([sys.executable, "-m", "hidpack", "export", str(out), "-o", str(tmp_path / name)], check=True, env=env)
        blobs.append((tmp_path / name).read_bytes())
    import pyarrow.parquet as pq

    blobs.append(pq.read_table(tmp_path / "x.parquet").to_pandas().to_csv().encode())
    assert not any(secret in b for b in blobs)
    info = subprocess.run([sys.executable, "-m", "hidpack", "info", str(out)], capture_output=True, text=True).stdout
    assert "policy      p.toml: keys full, text keep, titles keep, 1 rule(s)" in info
    assert r.metadata["privacy_policy"]["rules"][0]["title"] == "secret"


def test_highest_xdotool_rate_loses_nothing(xserver, tmp_path: Path) -> None:
    """xdotool drives moves as fast as it can (one process, no sleeps): nothing is dropped,
    every position is there in order, and the recording process's CPU is reported."""
    env, ids = xserver
    out = tmp_path / "fast.hpk"
    rec = subprocess.Popen(
        [sys.executable, "-m", "hidpack", "record", str(out), "--no-status", "--pause-hotkey", ""],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in rec.stderr:
        if "recording to" in line:
            break
    n = 20_000
    pts = [(10 + i % 1200, 10 + (i * 7) % 1000) for i in range(n)]
    chain: list[str] = []
    for px, py in pts:
        chain += ["mousemove", str(px), str(py)]
    t0 = time.perf_counter()
    subprocess.run(["xdotool", *chain], env=env, check=True)
    secs = time.perf_counter() - t0
    # The listener may still be working through the X server's backlog (a loaded machine): stop
    # the recorder once the live file (with its tail, checkpointed every second) stops growing.
    seen, still, deadline = -1, 0, time.monotonic() + 60
    while time.monotonic() < deadline and still < 2:
        time.sleep(1.0)
        try:
            now_seen = len(hidpack.open(out).moves().t)
        except (OSError, hidpack.HidpackError):
            now_seen = -1
        still = still + 1 if now_seen == seen else 0
        seen = now_seen
    rec.send_signal(signal.SIGTERM)
    stdout, stderr = rec.communicate(timeout=30)
    assert rec.returncode == 0, stderr
    st = json.loads(stdout.strip().splitlines()[-1])
    m = hidpack.open(out).moves()
    got = list(zip(m.x.astype(int).tolist(), m.y.astype(int).tolist()))
    start = got.index(pts[0])
    # At xdotool's full rate the X server (XTest -> XRecord -> pynput) now and then delivers one
    # motion fewer than xdotool made: seen with the recorder of before and after issue 16 alike,
    # 2 runs in 5 on a quiet machine, and the recorder's own counters show it never saw the
    # event (pushed 19,999 of 20,000). What hidpack owes: every event it was given is written,
    # none dropped, none invented, none out of order.
    assert st["dropped"] == 0 and st["lost"] == 0 and st["written"] == st["pushed"], st
    seq = got[start : start + n]
    # In order, and nothing that xdotool did not make: each recorded position is the next
    # expected one or, after a motion the X server did not deliver, one a few steps later.
    j = 0
    for p in seq:
        if j < n and p == pts[j]:
            j += 1
            continue
        later = pts[j : j + 8]
        assert p in later, "recorded %r where xdotool made %r next" % (p, pts[j] if j < n else None)
        j += later.index(p) + 1
    assert j >= n - 2, "the recording ends at xdotool's position %d of %d" % (j, n)
    assert len(seq) >= n - max(2, n // 1000), "%d of %d moves arrived" % (len(seq), n)
    print("\nxdotool drove %d moves in %.2f s (%.0f moves/s); %d arrived; recorder: dropped %d, CPU %.2f s over %.1f s (%.1f%%)"
          % (n, secs, n / secs, len(seq), st["dropped"], st["cpu_seconds"], st["seconds"], st["cpu_percent"]))


def test_pause_hotkey_withholds_what_is_typed_while_paused(xserver, tmp_path: Path) -> None:
    env, ids = xserver
    out = tmp_path / "hotkey.hpk"
    rec = subprocess.Popen(
        [sys.executable, "-m", "hidpack", "record", str(out), "--no-status"],  # default hotkey <ctrl>+<alt>+p
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in rec.stderr:
        if "recording to" in line:
            break
    x = lambda *a: subprocess.run(["xdotool", *map(str, a)], env=env, check=True)  # noqa: E731
    x("windowfocus", ids["hidpack notes"])
    x("type", "--delay", 30, "ab")
    x("key", "ctrl+alt+p")
    x("type", "--delay", 30, "private")
    x("key", "ctrl+alt+p")
    x("type", "--delay", 30, "ef")
    time.sleep(0.3)
    rec.send_signal(signal.SIGTERM)
    stdout, stderr = rec.communicate(timeout=30)
    assert rec.returncode == 0, stderr
    assert "paused" in stderr and "resumed" in stderr
    st = json.loads(stdout.strip().splitlines()[-1])
    r = hidpack.open(out)
    assert "".join(r.texts().text.tolist()) == "abef"
    g = r.gaps()
    assert g.reason.tolist() == [2] and int(g.count[0]) == st["paused"] >= 2 * len("private")
    assert b"private" not in out.read_bytes()


def test_duration_is_kept_and_status_shows_the_bytes_on_disk(xserver, tmp_path: Path) -> None:
    """`record --duration 2` stops 2 s after it starts recording (it ran 6 s: pynput's X11
    listeners were given 2 s each to stop on an idle desktop), and while the mouse moves the
    status line's bytes grow: the file's blocks plus the write-ahead tail, as the line says."""
    env, _ = xserver
    out = tmp_path / "timed.hpk"
    rec = subprocess.Popen(
        [sys.executable, "-m", "hidpack", "record", str(out), "--duration", "2", "--pause-hotkey", ""],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    seen = b""
    while b"recording to" not in seen:
        byte = rec.stderr.read(1)
        assert byte, "hidpack record did not start: %r" % seen
        seen += byte
    # 1.5 s of moves, then idle until the end. One xdotool process for all of them: 60 process
    # starts on a loaded machine took longer than the 2 s recording (43 of 60 moves landed).
    moves = [str(a) for i in range(60) for a in ("mousemove", 100 + 3 * i, 200 + 2 * i, "sleep", "0.025")]
    subprocess.run(["xdotool", *moves], env=env, check=True)
    stdout, stderr = rec.communicate(timeout=30)
    assert rec.returncode == 0, stderr
    st = json.loads(stdout.decode().strip().splitlines()[-1])
    # from the start of recording to the file closed: 2 s, plus at most a few tenths to stop
    assert 2.0 <= st["seconds"] < 3.0, st
    assert st["pushed"] >= 50 and hidpack.open(out).verify()["ok"]
    lines = [seg for seg in stderr.decode().split("\r") if " on disk " in seg]
    assert len(lines) >= 1, stderr
    on_disk = []
    for line in lines:
        total = int(line.split(" on disk ")[1].split(" bytes")[0].replace(",", ""))
        part = line.split("(file ")[1].split(", ")[0]
        f, tail = (int(v.replace(",", "")) for v in part.split(" + tail "))
        assert total == f + tail, line
        assert ", 0 block(s))" in line  # fewer events than a block: all in the tail so far
        on_disk.append((int(line.split("events ")[1].split()[0].replace(",", "")), total))
    events, total = on_disk[-1]
    assert events > 0 and total > 400, on_disk  # the tail holds them: more than the empty file's bytes


def test_quiet_record_prints_nothing(xserver, tmp_path: Path) -> None:
    """`record -q` records as usual but prints nothing at all: no notes, no "recording to", no
    paused/resumed, no statistics (the file holds what happened, the pause included)."""
    env, ids = xserver
    out = tmp_path / "quiet.hpk"
    rec = subprocess.Popen(
        [sys.executable, "-m", "hidpack", "record", str(out), "-q", "--flush-interval", "0.1"],  # default hotkey
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    x = lambda *a: subprocess.run(["xdotool", *map(str, a)], env=env, check=True)  # noqa: E731
    # nothing announces the start: move the pointer until the live file (its tail) shows a move
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline and rec.poll() is None, "hidpack record -q did not start recording"
        x("mousemove", 50 + int(time.monotonic() * 10) % 100, 60)
        time.sleep(0.2)
        try:
            if len(hidpack.open(out).moves().t):
                break
        except (OSError, hidpack.HidpackError):
            pass
    x("windowfocus", ids["hidpack notes"])
    x("type", "--delay", 30, "ab")
    x("key", "ctrl+alt+p")
    x("type", "--delay", 30, "cd")
    x("key", "ctrl+alt+p")
    x("type", "--delay", 30, "ef")
    time.sleep(0.3)
    rec.send_signal(signal.SIGTERM)
    stdout, stderr = rec.communicate(timeout=30)
    assert (rec.returncode, stdout, stderr) == (0, "", "")
    r = hidpack.open(out)
    assert "".join(r.texts().text.tolist()) == "abef" and r.gaps().reason.tolist() == [2]
