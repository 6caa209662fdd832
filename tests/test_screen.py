"""Screen frames (``hidpack record --screen``) on a real X server (Xvfb) with ffmpeg.

The test paints the whole screen a known colour at known times (python-xlib: root background,
clear, sync; the wall clock read before and after), records with ``--screen``, then decodes the
video (ffmpeg to raw rgb24, every frame as stored: ``-fps_mode passthrough``) and checks: one
``screen`` marker per frame in the file, in order, with that frame's pts; and every frame whose
marker time is clearly after a change (by more than one frame period + TOLERANCE_MS) and clearly
before the next one shows that change's colour. The measured placement error (how far any
frame's marker lies outside the span its colour was on screen) is printed (pytest -s).

Needs Xvfb and ffmpeg (.ci/run installs them with apt-get); fails, does not skip, without them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hidpack
from hidpack import io_owa
from hidpack.screen import decode_video

from shared_data import data_file
from x11_display import xvfb

W, H = 160, 120
FPS = 10
#: beyond one frame period: scheduling slack of a loaded 2-CPU machine (Xvfb, ffmpeg, recorder)
TOLERANCE_MS = 30.0
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (255, 255, 0)]


@pytest.fixture(scope="module")
def xserver():
    with xvfb(W, H, tools=("ffmpeg",)) as env:
        yield env


class Painter:
    """Paints the whole X screen one colour; returns the wall-clock span in which it changed."""

    def __init__(self, display: str) -> None:
        from Xlib import display as xdisplay

        self.d = xdisplay.Display(display)
        self.root = self.d.screen().root

    def paint(self, rgb: tuple[int, int, int]) -> tuple[int, int]:
        pixel = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]
        t0 = time.time_ns()
        self.root.change_attributes(background_pixel=pixel)
        self.root.clear_area()
        self.d.sync()  # the server has done it when the reply comes
        return t0, time.time_ns()

    def close(self) -> None:
        self.d.close()


def _start(env: dict, out: Path, video: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hidpack", "record", str(out), "--screen", str(video), "--screen-fps", str(FPS),
           "--no-status", "--pause-hotkey", "", "--screen-timeout", "60", *extra]
    rec = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert rec.stderr is not None
    said = []
    for line in rec.stderr:
        if "recording to" in line:
            return rec
        said.append(line)
    rec.wait(10)
    out_text = rec.stdout.read() if rec.stdout else ""
    pytest.fail("hidpack record did not start (exit %s); stderr: %s stdout: %s" % (rec.returncode, "".join(said), out_text))


def _stop(rec: subprocess.Popen) -> tuple[int, dict, str]:
    rec.send_signal(signal.SIGTERM)
    stdout, stderr = rec.communicate(timeout=30)
    lines = stdout.strip().splitlines()
    return rec.returncode, (json.loads(lines[-1]) if lines else {}), stderr


def _packet_pts_ms(video: Path) -> list[int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts", "-of", "csv=p=0", str(video)],
        check=True, capture_output=True, text=True,
    ).stdout
    return sorted(int(v) for v in out.split())


def _decode(video: Path, w: int = 16, h: int = 12) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), "-fps_mode", "passthrough", "-s", f"{w}x{h}",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def _colour_index(frame: np.ndarray) -> int:
    mean = frame.reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(mean - np.array(c)).sum() for c in COLOURS]))


def test_frames_line_up_with_known_screen_changes(xserver, tmp_path: Path) -> None:
    out, video = tmp_path / "s.hpk", tmp_path / "s.mkv"
    painter = Painter(xserver["DISPLAY"])
    painter.paint(COLOURS[0])
    video.write_bytes(b"an older video")  # --force replaces it
    rec = _start(xserver, out, video, "--force")
    changes = [(0, 0)]  # colour i is on screen from changes[i] (wall span) until changes[i + 1]
    try:
        time.sleep(0.5)
        for i, rgb in enumerate(COLOURS[1:]):
            time.sleep(0.37 + 0.05 * i)  # not a multiple of the frame period: the phase varies
            changes.append(painter.paint(rgb))
        time.sleep(0.5)
    finally:
        code, stats, stderr = _stop(rec)
        painter.close()
    assert code == 0, stderr
    assert stats["screen"]["frames"] == stats["screen"]["markers"] > 0 and "error" not in stats["screen"], stats

    r = hidpack.open(out)
    assert r.metadata["video"] == "s.mkv" and r.metadata["screen_shape"] == [W, H]
    assert r.metadata["video_fps"] == FPS
    frames = r.frames()
    pts_ms = _packet_pts_ms(video)
    images = _decode(video)
    # one marker per frame actually in the file, with its pts, in order
    assert len(frames) == len(pts_ms) == len(images) == stats["screen"]["frames"]
    assert list(np.asarray(frames.pts_ns)) == [p * 1_000_000 for p in pts_ms]
    assert not np.ma.getmaskarray(frames.pts_ns).any()
    assert set(frames.video) == {str(out.parent / "s.mkv")} and set(frames.stream) == {0}
    assert np.all(np.diff(np.asarray(frames.t)) > 0)

    pts_ns, small = decode_video(video, (16, 12))  # the library's decoder agrees with the above
    assert list(pts_ns) == list(np.asarray(frames.pts_ns)) and np.array_equal(small, images)

    wall = r.wall_t(frames.t)  # grab times as Unix ns
    seen = [_colour_index(img) for img in images]
    period = 1e9 / FPS
    slack = period + TOLERANCE_MS * 1e6
    checked = 0
    for i in range(1, len(changes)):
        before_lo = changes[i - 1][1] + slack if i > 1 else -np.inf
        for k in range(len(frames)):
            if changes[i][1] + slack < wall[k] < (changes[i + 1][0] - slack if i + 1 < len(changes) else np.inf):
                assert seen[k] == i, (k, i, seen)
                checked += 1
            elif before_lo < wall[k] < changes[i][0] - slack:
                assert seen[k] == i - 1, (k, i, seen)
    assert checked >= len(COLOURS) - 1

    # the placement error measured: how far each frame's marker lies outside the span in which
    # its colour was on screen (benches/screen_frames.py does this with many more changes)
    late, early = _outside(wall, seen, changes)
    print("\nframe placement: image after its marker by up to %.2f ms, before it by up to %.2f ms"
          % (late / 1e6, early / 1e6))
    assert late < slack and early < slack


def _outside(wall: np.ndarray, seen: list[int], changes: list[tuple[int, int]]) -> tuple[float, float]:
    """The most any frame's marker time lies before its colour appeared (its image was taken
    after its marker time) and after its colour was replaced (taken before); 0 if none does."""
    late = early = 0.0
    for k, c in enumerate(seen):
        if c > 0:
            late = max(late, changes[c][0] - wall[k])
        if c + 1 < len(changes):
            early = max(early, wall[k] - changes[c + 1][1])
    return float(late), float(early)


def test_refuses_an_existing_video_without_force(xserver, tmp_path: Path) -> None:
    out, video = tmp_path / "s.hpk", tmp_path / "s.mkv"
    video.write_bytes(b"keep me")
    cmd = [sys.executable, "-m", "hidpack", "record", str(out), "--screen", str(video), "--duration", "0.5",
           "--no-status", "--pause-hotkey", ""]
    p = subprocess.run(cmd, env=xserver, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "s.mkv exists" in p.stderr and "--force" in p.stderr
    assert video.read_bytes() == b"keep me" and not out.exists()  # (--force: the test above)


def test_clear_errors_without_display_or_ffmpeg(xserver, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "hidpack", "record", str(tmp_path / "s.hpk"), "--screen", str(tmp_path / "s.mkv"),
           "--duration", "0.5", "--no-status"]
    env = {k: v for k, v in xserver.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "DISPLAY is not set" in p.stderr
    bare = tmp_path / "bin"
    bare.mkdir()
    os.symlink(sys.executable, bare / "python3")
    p = subprocess.run(cmd, env=dict(xserver, PATH=str(bare)), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "needs ffmpeg" in p.stderr and "apt-get install ffmpeg" in p.stderr
    assert not (tmp_path / "s.hpk").exists() and not (tmp_path / "s.mkv").exists()


def test_a_screen_that_gives_no_first_frame_in_time_is_an_error_and_leaves_nothing(xserver, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "hidpack", "record", str(tmp_path / "s.hpk"), "--screen", str(tmp_path / "s.mkv"),
           "--duration", "0.5", "--no-status", "--pause-hotkey", ""]
    p = subprocess.run([*cmd, "--screen-timeout", "0"], env=xserver, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--screen-timeout must be a number of seconds above 0, got 0.0" in p.stderr
    # ffmpeg cannot grab a first frame in a microsecond: the recorder says so and removes what it made
    p = subprocess.run([*cmd, "--screen-timeout", "1e-6"], env=xserver, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "ffmpeg did not start recording the screen (no frame in 1e-06 s; stopped it)" in p.stderr
    assert not (tmp_path / "s.hpk").exists() and not (tmp_path / "s.mkv").exists()


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def test_ffmpeg_dying_mid_recording_is_reported(xserver, tmp_path: Path) -> None:
    out, video = tmp_path / "s.hpk", tmp_path / "s.mkv"
    rec = _start(xserver, out, video)
    time.sleep(0.5)
    ffmpeg = [c for c in _children(rec.pid) if "ffmpeg" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(ffmpeg) == 1
    os.kill(ffmpeg[0], signal.SIGKILL)
    stdout, stderr = rec.communicate(timeout=30)  # the recorder stops by itself
    assert rec.returncode == 1
    assert "screen recording failed" in stderr and "ffmpeg exited with status -9" in stderr
    stats = json.loads(stdout.strip().splitlines()[-1])
    assert "error" in stats["screen"]
    assert len(hidpack.open(out).frames()) == stats["screen"]["markers"] > 0  # the input file is complete


def test_owa_screen_markers_are_frames_too(tmp_path: Path) -> None:
    report = io_owa.import_owa(data_file("owa-mcap", "example.mcap"), tmp_path / "e.hpk")
    r = hidpack.open(report.files[0])
    m = r.markers()
    frames = r.frames()
    assert len(frames) == int(np.sum(np.asarray(m.label) == "screen")) > 0
    assert list(np.asarray(frames.pts_ns)) == list(np.asarray(m.value)[np.asarray(m.label) == "screen"])
    assert set(frames.video) == {os.path.join(str(tmp_path), r.metadata["video"])}
    half = int(np.asarray(frames.t)[len(frames) // 2])
    assert len(r.between(None, half).frames()) == int(np.sum(np.asarray(frames.t) < half))


def test_several_videos_are_streams(tmp_path: Path) -> None:
    from test_io_owa import _write_mcap

    base = 1_700_000_000_000_000_000
    src = tmp_path / "v.mcap"
    ref = lambda uri, pts: {"media_ref": {"uri": uri, "pts_ns": pts}}  # noqa: E731
    _write_mcap(src, [
        ("screen", base, ref("a.mkv", 0)),
        ("screen", base + 10, ref("b.mkv", 5)),
        ("screen", base + 20, ref("a.mkv", 100)),
        ("screen", base + 30, {"path": None, "pts": None}),
        ("marker", base + 40, {}),
    ])
    r = hidpack.open(io_owa.import_owa(src, tmp_path / "v.hpk").files[0])
    f = r.frames()
    assert list(f.t) == [0, 10, 20, 30]
    assert list(f.stream) == [0, 1, 0, 0]
    assert list(f.pts_ns.filled(-1)) == [0, 5, 100, -1]
    assert list(f.video) == [str(tmp_path / "a.mkv"), str(tmp_path / "b.mkv")] + [str(tmp_path / "a.mkv")] * 2


def test_ffmpeg_finalizes_the_video_when_the_recorder_is_killed(xserver, tmp_path: Path) -> None:
    out, video = tmp_path / "s.hpk", tmp_path / "s.mkv"
    rec = _start(xserver, out, video)
    time.sleep(0.5)
    (ffmpeg,) = [c for c in _children(rec.pid) if "ffmpeg" in Path(f"/proc/{c}/cmdline").read_text()]
    rec.kill()
    rec.wait(10)
    for _ in range(200):  # ffmpeg gets SIGINT (parent-death signal), writes the trailer and exits
        if not os.path.exists(f"/proc/{ffmpeg}"):
            break
        time.sleep(0.05)
    else:
        os.kill(ffmpeg, signal.SIGKILL)
        pytest.fail("ffmpeg outlived the killed recorder")
    assert len(_packet_pts_ms(video)) > 0


def test_paused_frames_are_counted_and_a_refused_marker_is_an_error(xserver, tmp_path: Path) -> None:
    from hidpack.screen import ScreenCapture

    out, video = tmp_path / "p.hpk", tmp_path / "p.mkv"
    screen = ScreenCapture(video, fps=FPS, display=xserver["DISPLAY"])
    rec = hidpack.Recorder(out, metadata=screen.metadata(out))
    screen.start(rec)
    time.sleep(0.3)
    rec.pause()
    time.sleep(0.5)
    rec.resume()
    time.sleep(0.3)
    report = screen.stop()
    rec.close()
    assert "error" not in report, report
    assert report["unmarked"] >= 3 and report["frames"] == report["markers"] + report["unmarked"]
    assert len(hidpack.open(out).frames()) == report["markers"]
    assert len(_packet_pts_ms(video)) == report["frames"]  # the paused frames are in the video

    class Broken:
        def marker(self, *a: object, **k: object) -> bool:
            raise OSError("disk full")

    screen = ScreenCapture(tmp_path / "b.mkv", fps=FPS, display=xserver["DISPLAY"])
    screen.start(Broken())
    assert "disk full" in (screen.failed() or "")
    report = screen.stop()
    assert "marker of frame 0 not recorded: disk full" in report["error"] and report["markers"] == 0
