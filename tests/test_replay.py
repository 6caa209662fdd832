"""``hidpack replay`` on a real X server (Xvfb): a recording built from a slice of a real
trajectory (../shared/data, balabit), clicks, scrolls and a typed word is replayed while
``hidpack record`` (the pynput source) records the desktop, and the two event streams are
compared: positions exact and in order, buttons, wheel steps and keys exact, timing within
TIMING_TOLERANCE_MS (95% of events, relative to the first replayed move).

Also: refusals (key classes, withheld keys, off-screen positions, no DISPLAY), rounding and
clipping, the usage -> keycode table against the server's keyboard map, and that an
interrupted replay (SIGINT to the CLI, KeyboardInterrupt in the API) leaves no key or button
down.

Needs Xvfb (.ci/run installs it with apt-get); fails, does not skip, without it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import hidpack
from hidpack import keymap
from hidpack.policy import KEY_CLASS_BASE, load_policy
from hidpack.replay import (
    ReplayRefused,
    ReplayUnavailable,
    XTestInjector,
    check_keys,
    replay,
    usage_to_x11_keycode,
)

from shared_data import data_file
from x11_display import xvfb

W, H = 1280, 1024
MS = 1_000_000
#: |interval - source interval / speed| for 95% of the replayed events (ms), intervals from the
#: first replayed move, less their median (see _timing), by the X server's event times (1 ms
#: resolution): the replay's own timing. Measured p95 0-4 ms, up to 5.5 ms while other jobs
#: loaded this shared 2-CPU machine (the error is then the replay process waiting for a CPU);
#: the bound leaves room for that and still catches a wrong schedule (tens to hundreds of ms)
TIMING_TOLERANCE_MS = 15.0
#: the same by the times ``hidpack record`` stored (its listener's latency jitter added; measured
#: p95 0.5-9 ms). Measured with _ServerEvents connected: on an Xvfb where no client selects input
#: events, the recorder's X RECORD client received the events in bursts about 45 ms apart (p95
#: 24 ms here), which is the X server's flushing, not the replay
RECORDER_TOLERANCE_MS = 20.0
#: replays that may be tried to meet those bounds (see test_replay_is_what_the_desktop_records)
TIMING_ATTEMPTS = 3
WORD = "Hidpack"
XK_SHIFT_L = 0xFFE1
NAN = float("nan")


@pytest.fixture(scope="module")
def xserver():
    # -noreset: the server must not reset (releasing every key, centring the pointer) when its
    # last client leaves, or a key left down by a replay would go unnoticed
    with xvfb(W, H, args=("-noreset",)) as env:
        yield env


# ---------------------------------------------------------------------------------------------
# the recording to replay
# ---------------------------------------------------------------------------------------------


def _trajectory(n: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The first n distinct moves of the first balabit session scaled to the screen, and their
    recorded times (ns from the first; intervals clamped to 2..60 ms to keep the test short)."""
    import zstandard

    with open(data_file("balabit-mouse", "events.csv.zst"), "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read(1 << 20)
    pts: list[tuple[int, int]] = []
    ts: list[int] = []
    for line in raw.decode().splitlines()[1:]:
        t, kind, x, y, _b, _s = line.split(",")
        if kind != "move":
            continue
        p = (min(W - 2, max(1, int(int(x) * (W - 1) / 1920))), min(H - 2, max(1, int(int(y) * (H - 1) / 1200))))
        if pts and p == pts[-1]:
            continue
        pts.append(p)
        ts.append(int(t))
        if len(pts) == n:
            break
    gaps = np.clip(np.diff(np.array(ts, dtype=np.int64)), 2 * MS, 60 * MS)
    return pts, [0] + np.cumsum(gaps).tolist()


def _session(path: Path, n_moves: int = 200) -> dict:
    """Write the recording to replay; return what the desktop should see."""
    pts, times = _trajectory(n_moves)
    rows: list[dict] = []
    t0 = 200 * MS
    for (x, y), t in zip(pts, times):
        rows.append(dict(t=t0 + t, kind="move", x=float(x), y=float(y)))
    t = rows[-1]["t"]
    last = pts[-1]
    # a click where the pointer is; a text event, a focus change and a marker (not injected)
    for dt, pressed in ((100, True), (180, False)):
        rows.append(dict(t=t + dt * MS, kind="button", button=1, pressed=pressed, x=float(last[0]), y=float(last[1])))
    rows.append(dict(t=t + 200 * MS, kind="focus", app="Notes", title="notes"))
    rows.append(dict(t=t + 210 * MS, kind="marker", label="task start"))
    # wheel: one step up, two down (one event), one right
    for dt, dx, dy in ((300, 0.0, 1.0), (400, 0.0, -2.0), (500, 1.0, 0.0)):
        rows.append(dict(t=t + dt * MS, kind="scroll", dx=dx, dy=dy, x=float(last[0]), y=float(last[1])))
    # "Hidpack": Shift+h and i with their X keysyms (replayed through the keysym), "dpack" with
    # the usage alone (replayed through the usage); the recorder's text events are skipped
    keys: list[tuple[int, bool, int | None]] = [(0xE1, True, XK_SHIFT_L), (0x0B, True, ord("H")),
                                                (0x0B, False, ord("H")), (0xE1, False, XK_SHIFT_L),
                                                (0x0C, True, ord("i")), (0x0C, False, ord("i"))]
    for c in WORD[2:]:
        u = keymap.pynput_to_usage(c)
        keys += [(u, True, None), (u, False, None)]
    tk = t + 700 * MS
    for u, pressed, native in keys:
        tk += (40 if pressed else 60) * MS
        rows.append(dict(t=tk, kind="key", usage=u, pressed=pressed, native=native))
    rows.append(dict(t=tk + 5 * MS, kind="text", text=WORD))
    _write(path, rows)
    return {"pts": pts, "rows": rows}


def _write(path: Path, rows: list[dict], metadata: dict | None = None) -> None:
    cols = ("x", "y", "dx", "dy", "button", "pressed", "usage", "native", "text", "app", "title", "label")
    table: dict = {"t": [r["t"] for r in rows], "kind": [r["kind"] for r in rows]}
    for c in cols:
        vals = [r.get(c) for r in rows]
        if any(v is not None for v in vals):
            table[c] = vals
    md = {"native_keyspace": "x11-keysym"} if metadata is None else metadata
    hidpack.write_table(path, table, metadata=md)


# ---------------------------------------------------------------------------------------------
# driving and reading the desktop
# ---------------------------------------------------------------------------------------------


def _start_recorder(env: dict, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hidpack", "record", str(out), "--no-status", "--pause-hotkey", ""]
    rec = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert rec.stderr is not None
    for line in rec.stderr:
        if "recording to" in line:
            return rec
    pytest.fail("hidpack record did not start: " + (rec.stdout.read() if rec.stdout else ""))


def _stop_recorder(rec: subprocess.Popen) -> None:
    rec.send_signal(signal.SIGTERM)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 0, err


def _cli(env: dict, *args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hidpack", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _park_pointer(env: dict) -> None:
    """Put the pointer in a corner no replayed position uses (so the first replayed move moves)."""
    inj = XTestInjector(env["DISPLAY"])
    inj.move(0, 0)
    inj.d.sync()
    inj.close()


def _held(env: dict) -> tuple[list[int], int]:
    """The keycodes down and the pointer's button mask, as the X server has them now."""
    from Xlib import display

    d = display.Display(env["DISPLAY"])
    try:
        keys = [i * 8 + b for i, byte in enumerate(d.query_keymap()) for b in range(8) if byte >> b & 1]
        return keys, int(d.screen().root.query_pointer().mask) & 0x1F00  # Button1Mask..Button5Mask
    finally:
        d.close()


class _ServerEvents:
    """The X server's own account of the input: pointer motion, buttons and keys delivered to
    the root window (no window manager, no windows: everything goes there), each with the
    server's event time (ms) and position."""

    def __init__(self, env: dict) -> None:
        from Xlib import X, display

        self.d = display.Display(env["DISPLAY"])
        self.d.screen().root.change_attributes(
            event_mask=X.PointerMotionMask | X.ButtonPressMask | X.ButtonReleaseMask | X.KeyPressMask | X.KeyReleaseMask
        )
        self.d.sync()
        self.events: list[tuple[int, int, int, int, int]] = []  # (type, time ms, x, y, detail)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import select

        while not self._stop.is_set():
            while self.d.pending_events():
                e = self.d.next_event()
                if 2 <= e.type <= 6:  # KeyPress .. MotionNotify (not MappingNotify and the like)
                    self.events.append((e.type, int(e.time), int(e.root_x), int(e.root_y), int(e.detail)))
            select.select([self.d], [], [], 0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.d.close()


def _replay_and_record(env: dict, tmp_path: Path, speed: float, attempt: int = 0) -> tuple[dict, dict, hidpack.Recording, list]:
    src = tmp_path / "session.hpk"
    if not src.exists():
        _session(src)
    out = tmp_path / ("desk-%g-%d.hpk" % (speed, attempt))
    _park_pointer(env)
    rec = _start_recorder(env, out)
    server = _ServerEvents(env)
    try:
        time.sleep(0.3)
        p = _cli(env, "replay", src, "--yes", "--json", "--speed", speed)
        assert p.returncode == 0, p.stderr
    finally:
        time.sleep(0.3)
        server.stop()
        _stop_recorder(rec)
    return _session_expectation(src), json.loads(p.stdout), hidpack.open(out), server.events


def _session_expectation(src: Path) -> dict:
    r = hidpack.open(src)
    return {"moves": r.moves(), "buttons": r.buttons(), "keys": r.keys(), "scrolls": r.scrolls()}


def _timing(src_t: np.ndarray, got_t: np.ndarray, speed: float) -> dict:
    """|recorded interval - source interval / speed| (ms) of each event, intervals from the first
    event, less their median: the clock of the replay's start and the clock that saw the events
    are not tied together, so the constant offset between them is taken out."""
    diff = (got_t - got_t[0]) - (src_t - src_t[0]) / speed
    err = np.abs(diff - np.median(diff)) / MS
    return {"median": float(np.median(err)), "p95": float(np.percentile(err, 95)), "max": float(err.max()),
            "n": len(err)}


def _compare(src: dict, report: dict, got: hidpack.Recording, server: list, speed: float) -> tuple[dict, dict]:
    """Assert the recorded desktop saw exactly what was replayed; return the timing errors seen
    by the recorder and by the X server."""
    m = got.moves()
    pts = list(zip(src["moves"].x.astype(int).tolist(), src["moves"].y.astype(int).tolist()))
    seen = list(zip(m.x.astype(int).tolist(), m.y.astype(int).tolist()))
    assert (m.x == np.round(m.x)).all() and (m.y == np.round(m.y)).all()
    # exactly the replayed positions, in order, as a contiguous run (after the parking move)
    start = seen.index(pts[0])
    assert seen[start:start + len(pts)] == pts and len(seen) == start + len(pts)
    b = got.buttons()
    assert b.button.tolist() == [1, 1] and b.pressed.tolist() == [True, False]
    assert (b.x.tolist(), b.y.tolist()) == ([float(pts[-1][0])] * 2, [float(pts[-1][1])] * 2)
    s = got.scrolls()
    assert s.dy.tolist() == [1.0, -1.0, -1.0, 0.0] and s.dx.tolist() == [0.0, 0.0, 0.0, 1.0]
    k = got.keys()
    assert k.usage.tolist() == src["keys"].usage.tolist() and k.pressed.tolist() == src["keys"].pressed.tolist()
    # the recorder stores keysyms: those the source had come back unchanged
    had = ~np.ma.getmaskarray(src["keys"].native)
    assert k.native[had].tolist() == src["keys"].native[had].tolist()
    assert "".join(got.texts().text.tolist()) == WORD
    assert report["injected"] == {"move": len(pts), "button press": 1, "button release": 1, "scroll step": 4,
                                  "key press": len(WORD) + 1, "key release": len(WORD) + 1}
    assert report["skipped"] == {"focus": 1, "marker": 1, "text": 1}
    assert report["keys_by"] == {"keysym": 6, "usage": 2 * (len(WORD) - 2)}
    assert report["released"] == 0 and not report["interrupted"]
    # the X server's account: the same positions, buttons (wheel steps as buttons 4-7), keycodes
    motion = [(x, y) for typ, _, x, y, _ in server if typ == 6]
    assert motion == pts
    srv_buttons = [(typ, d) for typ, _, _, _, d in server if typ in (4, 5)]
    assert srv_buttons == [(4, 1), (5, 1), (4, 4), (5, 4), (4, 5), (5, 5), (4, 5), (5, 5), (4, 7), (5, 7)]
    srv_keys = [(typ, d) for typ, _, _, _, d in server if typ in (2, 3)]
    assert srv_keys == [(2 if p else 3, usage_to_x11_keycode(u)) for u, p in zip(src["keys"].usage.tolist(),
                                                                                   src["keys"].pressed.tolist())]
    src_t = np.concatenate([src["moves"].t, src["buttons"].t, src["keys"].t])
    got_t = np.concatenate([m.t[start:], b.t, k.t])
    srv_t = np.array([t for typ, t, _, _, d in server if typ == 6 or typ in (2, 3) or d == 1], dtype=np.int64) * MS
    return _timing(src_t, got_t, speed), _timing(src_t, srv_t, speed)


@pytest.mark.parametrize("speed", [1.0, 4.0])
def test_replay_is_what_the_desktop_records(xserver, tmp_path: Path, speed: float) -> None:
    """The streams must match exactly on every attempt. The timing bound must be met by one of
    TIMING_ATTEMPTS replays: on this shared machine (load averages of 9 on 2 CPUs were seen) the
    X server itself was once starved for 400 ms, which no replay can help; a replay that keeps
    time wrongly misses the bound on every attempt. Every attempt's numbers are printed."""
    env = xserver
    seen = []
    for attempt in range(TIMING_ATTEMPTS):
        src, report, got, server = _replay_and_record(env, tmp_path, speed, attempt)
        rec_err, srv_err = _compare(src, report, got, server, speed)
        assert _held(env) == ([], 0)
        late = report["lateness_ms"]
        line = ("replay at speed %g, %d events: timing error |interval - source interval / speed| "
                "seen by the X server: median %.2f ms, p95 %.2f ms, max %.2f ms; seen by hidpack record: median %.2f ms, "
                "p95 %.2f ms, max %.2f ms; injection lateness: median %.2f ms, p95 %.2f ms, max %.2f ms; load %.1f"
                % (speed, srv_err["n"], srv_err["median"], srv_err["p95"], srv_err["max"], rec_err["median"],
                   rec_err["p95"], rec_err["max"], late["median"], late["p95"], late["max"], os.getloadavg()[0]))
        print("\n" + line)
        seen.append(line)
        if srv_err["p95"] <= TIMING_TOLERANCE_MS and rec_err["p95"] <= RECORDER_TOLERANCE_MS:
            return
    pytest.fail("timing bound (p95 <= %g ms by the server, %g ms by the recorder) missed on all %d attempts:\n%s"
                % (TIMING_TOLERANCE_MS, RECORDER_TOLERANCE_MS, TIMING_ATTEMPTS, "\n".join(seen)))


# ---------------------------------------------------------------------------------------------
# keycodes, positions
# ---------------------------------------------------------------------------------------------


def test_usage_keycodes_match_the_server_keymap(xserver) -> None:
    """The usage -> keycode table gives the keycode this (evdev) server has for the key's
    keysym: every US character key and the named keys."""
    from Xlib import XK, display

    d = display.Display(xserver["DISPLAY"])
    try:
        chars = "abcdefghijklmnopqrstuvwxyz0123456789-=[]\\;',./` "
        pairs = [(keymap.pynput_to_usage(c), ord(c)) for c in chars]
        named = {"enter": "Return", "esc": "Escape", "backspace": "BackSpace", "tab": "Tab", "caps_lock": "Caps_Lock",
                 "shift_l": "Shift_L", "shift_r": "Shift_R", "ctrl_l": "Control_L", "ctrl_r": "Control_R",
                 "alt_l": "Alt_L", "cmd_l": "Super_L", "up": "Up", "down": "Down", "left": "Left", "right": "Right",
                 "home": "Home", "end": "End", "page_up": "Prior", "page_down": "Next", "insert": "Insert",
                 "delete": "Delete", "menu": "Menu", "print_screen": "Print", "scroll_lock": "Scroll_Lock",
                 "pause": "Pause", "num_lock": "Num_Lock", **{"f%d" % i: "F%d" % i for i in range(1, 13)}}
        pairs += [(keymap.PYNPUT_NAME_TO_USAGE[k], XK.string_to_keysym(v)) for k, v in named.items()]
        pairs += [(0x58, XK.string_to_keysym("KP_Enter")), (0x55, XK.string_to_keysym("KP_Multiply"))]
        wrong = [(hex(u), ks, usage_to_x11_keycode(u), d.keysym_to_keycode(ks)) for u, ks in pairs
                 if usage_to_x11_keycode(u) != d.keysym_to_keycode(ks)]
        assert len(pairs) == 88 and wrong == []
    finally:
        d.close()
    assert usage_to_x11_keycode(None) is None and usage_to_x11_keycode(0x03) is None


def _pointer(env: dict) -> tuple[int, int]:
    from Xlib import display

    d = display.Display(env["DISPLAY"])
    try:
        p = d.screen().root.query_pointer()
        return int(p.root_x), int(p.root_y)
    finally:
        d.close()


def test_fractional_positions_are_rounded_and_counted(xserver, tmp_path: Path) -> None:
    f = tmp_path / "points.hpk"
    _write(f, [dict(t=0, kind="move", x=100.0, y=100.0), dict(t=MS, kind="move", x=100.5, y=200.25)],
           metadata={"source": "macOS points"})
    r = replay(f, display=xserver["DISPLAY"])
    assert _pointer(xserver) == (101, 200) and r.rounded == 1 and r.injected == {"move": 2}


def test_off_screen_positions_are_refused_or_clipped(xserver, tmp_path: Path) -> None:
    f = tmp_path / "wide.hpk"
    _write(f, [dict(t=0, kind="move", x=10.0, y=10.0), dict(t=MS, kind="move", x=3000.0, y=500.0)])
    with pytest.raises(ReplayRefused, match=r"wide\.hpk: 1 position\(s\) lie outside this 1280-pixel-wide screen"):
        replay(f, display=xserver["DISPLAY"])
    assert _pointer(xserver) != (10, 10)  # refused before anything was injected
    r = replay(f, display=xserver["DISPLAY"], clip=True)
    assert _pointer(xserver) == (W - 1, 500) and r.clipped == 1
    assert "1 clipped into the 1280x1024 screen" in r.summary()


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------


def _policy_file(tmp_path: Path, name: str, policy_toml: str) -> Path:
    """Keys typed into a window under a privacy policy (through the recorder, as record does)."""
    pol = tmp_path / (name + ".toml")
    pol.write_text(policy_toml)
    f = tmp_path / (name + ".hpk")
    rec = hidpack.Recorder(str(f), policy=load_policy(str(pol)))
    rec.move(50.0, 50.0)
    rec.focus("Notes", "notes", window=1)
    for c in "abc":
        rec.key(keymap.pynput_to_usage(c), True, ord(c))
        rec.text(c)
        rec.key(keymap.pynput_to_usage(c), False, ord(c))
    rec.focus("Vault", "sign in", window=2)
    for c in "xyz":
        rec.key(keymap.pynput_to_usage(c), True, ord(c))
        rec.key(keymap.pynput_to_usage(c), False, ord(c))
    rec.move(60.0, 60.0)
    rec.close()
    return f


def test_key_classes_are_refused(xserver, tmp_path: Path) -> None:
    f = _policy_file(tmp_path, "classes", 'keys = "classes"\n')
    assert (hidpack.open(f).keys().usage >= KEY_CLASS_BASE).all()
    with pytest.raises(ReplayRefused, match=r"classes\.hpk: 12 of its 12 key event\(s\) were kept only as key classes") as e:
        replay(f, display=xserver["DISPLAY"])
    assert e.value.path == str(f)
    p = _cli(xserver, "replay", f, "--yes")
    assert p.returncode == 2 and "classes.hpk" in p.stderr and "key classes" in p.stderr and "--pointer-only" in p.stderr
    # --pointer-only replays the pointer and says what it left out
    p = _cli(xserver, "replay", f, "--yes", "--pointer-only", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["injected"] == {"move": 2} and r["skipped"]["key (pointer only)"] == 12
    assert _pointer(xserver) == (60, 60)


def test_withheld_keys_are_refused(xserver, tmp_path: Path) -> None:
    f = _policy_file(tmp_path, "withheld", '[[rule]]\ntitle = "sign in"\nkeys = "drop"\n')
    gaps = hidpack.open(f).gaps()
    assert gaps.reason.tolist() == [3] and gaps.count.tolist() == [6]
    with pytest.raises(ReplayRefused, match=r"withheld\.hpk: 1 redacted gap\(s\) hold 6 event\(s\) a privacy policy withheld"):
        replay(f, display=xserver["DISPLAY"])
    r = replay(f, display=xserver["DISPLAY"], pointer_only=True)
    assert r.injected == {"move": 2} and r.skipped == {"key (pointer only)": 6, "text": 3, "focus": 2, "gap": 1}


def test_withheld_text_alone_is_no_reason_to_refuse(tmp_path: Path) -> None:
    f = _policy_file(tmp_path, "notext", '[[rule]]\ntitle = "notes"\ntext = "drop"\n')
    r = hidpack.open(f)
    assert r.gaps().reason.tolist() == [3, 3, 3]  # the withheld text
    check_keys(r.table(), r.metadata, str(f))  # no exception: the keys are all there
    no_policy = dict(r.metadata)
    del no_policy["privacy_policy"]  # a redacted gap with no policy saying what it withheld
    with pytest.raises(ReplayRefused, match="redacted gap"):
        check_keys(r.table(), no_policy, str(f))


def test_no_display_is_refused_clearly(tmp_path: Path) -> None:
    f = tmp_path / "m.hpk"
    _write(f, [dict(t=0, kind="move", x=1.0, y=1.0)])
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = _cli(env, "replay", f, "--yes")
    assert p.returncode == 2
    assert p.stderr.strip() == "hidpack: error: no X display: DISPLAY is not set. Replay injects input into an X11 session (or Xvfb)."
    with pytest.raises(ReplayUnavailable, match="cannot open the X display :4095"):
        replay(f, display=":4095")
    with pytest.raises(ValueError, match="speed must be a finite number > 0"):
        replay(f, speed=0)


# ---------------------------------------------------------------------------------------------
# interruption: nothing stays down
# ---------------------------------------------------------------------------------------------


def _held_session(path: Path) -> None:
    """Shift and the left button go down early and would come up 60 s later."""
    _write(path, [
        dict(t=0, kind="move", x=300.0, y=300.0),
        dict(t=10 * MS, kind="key", usage=0xE1, pressed=True, native=XK_SHIFT_L),
        dict(t=20 * MS, kind="button", button=1, pressed=True, x=300.0, y=300.0),
        dict(t=30 * MS, kind="key", usage=0x04, pressed=True),
        dict(t=60_000 * MS, kind="key", usage=0x04, pressed=False),
        dict(t=60_000 * MS, kind="button", button=1, pressed=False, x=300.0, y=300.0),
        dict(t=60_000 * MS, kind="key", usage=0xE1, pressed=False, native=XK_SHIFT_L),
    ])


def _wait_held(env: dict, keys: int) -> tuple[list[int], int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = _held(env)
        if len(held[0]) == keys and held[1]:
            return held
        time.sleep(0.05)
    pytest.fail("the replay did not press the keys: %r" % (_held(env),))


def test_ctrl_c_releases_held_keys_and_buttons(xserver, tmp_path: Path) -> None:
    env = xserver
    f = tmp_path / "held.hpk"
    _held_session(f)
    p = subprocess.Popen([sys.executable, "-m", "hidpack", "replay", str(f), "--yes"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    keys, mask = _wait_held(env, 2)
    assert sorted(keys) == [38, 50] and mask == 0x100  # a, Shift_L; Button1Mask
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 130, err
    assert "hidpack: interrupted after 4 of 7 events; 3 held key(s)/button(s) released" in err
    assert "(interrupted)" in out and "released at the end: 3" in out
    assert _held(env) == ([], 0)


def test_keyboard_interrupt_in_the_api_releases_held_keys(xserver, tmp_path: Path) -> None:
    env = xserver
    f = tmp_path / "held.hpk"
    _held_session(f)

    def interrupt() -> None:
        _wait_held(env, 2)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main thread

    t = threading.Thread(target=interrupt)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            replay(f, display=env["DISPLAY"])
    finally:
        t.join()
    assert _held(env) == ([], 0)


def test_stop_event_and_countdown(xserver, tmp_path: Path) -> None:
    """A stop during the CLI's countdown injects nothing."""
    f = tmp_path / "held.hpk"
    _held_session(f)
    p = subprocess.Popen([sys.executable, "-m", "hidpack", "replay", str(f), "--countdown", "30"], env=xserver,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    line = p.stderr.readline()
    assert "replaying 7 events of %s on display %s in 30 s (Ctrl-C to cancel)" % (f, xserver["DISPLAY"]) in line
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 130 and "interrupted after 0 of 7 events; 0 held" in err
    assert '"move"' not in out and "injected: none" in out
    assert _held(xserver) == ([], 0)


# ---------------------------------------------------------------------------------------------
# progress and quiet
# ---------------------------------------------------------------------------------------------


def _on_tty(env: dict, *args: object) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, what
    the terminal received)."""
    import pty
    import select

    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "hidpack", *map(str, args)], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
    out = p.communicate(timeout=60)[0].decode()
    tty = b""
    while select.select([master], [], [], 0.2)[0]:
        tty += os.read(master, 65536)
    os.close(slave)
    os.close(master)
    return p.returncode, out, tty.decode("utf-8", "replace")


def test_progress_on_a_terminal_nothing_with_quiet_or_in_a_pipe(xserver, tmp_path: Path) -> None:
    f = tmp_path / "line.hpk"
    _write(f, [dict(t=i * 10 * MS, kind="move", x=float(100 + i), y=200.0) for i in range(60)])
    rc, out, tty = _on_tty(xserver, "replay", f, "--yes")
    assert rc == 0 and "replaying: " in tty and "/60 [" in tty, tty
    assert out.startswith("replayed 60 of 60 event(s) of %s at speed 1" % f) and "injected: move 60" in out
    rc, out, tty = _on_tty(xserver, "replay", f, "--yes", "-q")
    assert (rc, out, tty) == (0, "", "")
    p = _cli(xserver, "replay", f, "--yes")
    assert p.returncode == 0 and p.stderr == "" and "injected: move 60" in p.stdout
    assert _pointer(xserver) == (159, 200)
