"""Screen frames: record the X11 screen with ffmpeg beside the input, one marker per video frame.

>>> screen = ScreenCapture("screen.mkv", fps=10)      # checks ffmpeg, DISPLAY, the path
>>> rec = hidpack.Recorder("session.hpk", metadata=screen.metadata("session.hpk"))
>>> screen.start(rec)    # ffmpeg runs; each frame it grabs becomes a marker in ``rec``
>>> ...
>>> report = screen.stop(); rec.close()
>>> frames = hidpack.open("session.hpk").frames()   # t (recording clock), pts_ns, stream, video
>>> pts_ns, images = decode_video("screen.mkv", size=(320, 180))   # every stored frame, RGB

How a frame is put on the recording's clock (docs/TRAINING.md, "Screen frames"):

* ffmpeg's ``x11grab`` stamps each frame with the wall clock (``av_gettime``, Unix µs) taken just
  before it asks the X server for the image. ``-copyts`` keeps that stamp, and the filter chain
  ``showinfo@grab,settb=1/1000,setpts=PTS-STARTPTS,showinfo@file`` logs, for frame ``n``, both
  the grab stamp and the pts the frame gets in the file (ms since the first frame: Matroska's
  time base). With ``-fps_mode passthrough`` (no frame dropped or duplicated to keep a constant
  rate) and ``-enc_time_base 1:1000`` (no rounding of the pts to frame periods), every frame that
  passes the filters is written with exactly that pts.
* A reader thread pairs the two log lines of each frame and pushes a ``marker`` labelled
  ``"screen"`` whose ``value`` is the file pts in ns and whose ``t`` is the grab stamp moved to
  the recorder's clock: ``t = grab_wall - (time.time_ns() - hidpack.now())``, the offset taken
  when the line is read (a few ms after the grab; the wall clock read between two recorder-clock
  reads, the tightest of up to 5 tries, so a thread switch between the reads cannot skew it), so
  a wall-clock step is wrong for at most the frames grabbed in those ms.
* ffmpeg is stopped with ``q`` on its stdin (then SIGINT, then SIGKILL), so the file is finalized;
  it runs in its own session (a Ctrl-C in the terminal reaches the recorder, which stops it) and
  gets SIGINT if the recorder dies (Linux parent-death signal), so it never outlives it. The
  video is written in clusters of at most 1 s (``-cluster_time_limit 1000``, ``-flush_packets
  1``), so a killed ffmpeg leaves a readable file missing at most its last second; a keyframe
  every 2 s (``-g``) keeps seeking to a frame cheap.

Limits: X11 only (x11grab; Wayland does not let clients grab the screen); frames grabbed while
the recorder is paused are in the video but get no marker (counted in ``unmarked``); a frame
whose log line was not read when ffmpeg died (killed) has no marker, and a marker whose frame
was still in the encoder when ffmpeg was killed has no frame (a clean stop loses neither).
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

import numpy as np

from . import _native
from ._table import Columns
from ._x11 import display_name, open_display

__all__ = [
    "ScreenCapture",
    "ScreenUnavailable",
    "decode_video",
    "display_size",
    "ffmpeg_command",
    "frames_of",
    "screen_metadata",
]

#: marker label of the first (or only) video; further videos of an import are "screen#1", ...
LABEL = "screen"

_SHOWINFO = re.compile(r"\[showinfo@(grab|file) @ [^\]]*\] n:\s*(\d+) pts:\s*(-?\d+)\s")


class ScreenUnavailable(RuntimeError):
    """Screen recording cannot run here (no ffmpeg, no X display, ffmpeg refused to start); the
    message says why and what to do."""


def _need_display(display: Optional[str]) -> str:
    return display_name(display, ScreenUnavailable, "Screen recording needs an X11 session (or Xvfb).",
                        wayland="Wayland sessions do not let clients grab the screen")


def _need_ffmpeg(ffmpeg: str) -> str:
    path = shutil.which(ffmpeg)
    if path is None:
        raise ScreenUnavailable(
            "screen recording needs ffmpeg (with x11grab and libx264), which is not installed: "
            "apt-get install ffmpeg"
        )
    return path


def display_size(display: Optional[str] = None) -> Tuple[int, int]:
    """Width and height in pixels of the X screen ``display`` (default ``$DISPLAY``)."""
    d = open_display(_need_display(display), ScreenUnavailable)
    try:
        s = d.screen()
        return int(s.width_in_pixels), int(s.height_in_pixels)
    finally:
        d.close()


def screen_metadata(video: str, recording: str, fps: float, size: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """The recording metadata that names the video: ``video`` (its path relative to the
    recording's directory, so the pair can be moved together), ``video_fps``, ``screen_shape``
    ([width, height], as the OWA import writes it) and ``video_clock`` (how the markers relate
    the two)."""
    rel = os.path.relpath(os.path.abspath(video), os.path.dirname(os.path.abspath(recording)))
    md: Dict[str, Any] = {
        "video": rel,
        "video_fps": fps,
        "video_clock": "marker 'screen': t = grab time (recording clock), value = the frame's pts in ns",
    }
    if size is not None:
        md["screen_shape"] = [int(size[0]), int(size[1])]
    return md


def ffmpeg_command(
    video: str, *, fps: float, display: str, size: Tuple[int, int], overwrite: bool = False, ffmpeg: str = "ffmpeg"
) -> List[str]:
    """The ffmpeg command line (see the module docs for why each option is there)."""
    return [
        ffmpeg, "-hide_banner", "-nostats", "-loglevel", "info",
        "-f", "x11grab", "-framerate", "%g" % fps, "-video_size", "%dx%d" % size, "-i", display,
        "-copyts",
        "-vf", "showinfo@grab,settb=1/1000,setpts=PTS-STARTPTS,showinfo@file",
        "-fps_mode", "passthrough", "-enc_time_base", "1:1000",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", str(max(1, round(2 * fps))), "-flush_packets", "1", "-cluster_time_limit", "1000",
        "-y" if overwrite else "-n", video,
    ]  # fmt: skip


def _child_setup() -> None:  # pragma: no cover - runs in the child before exec
    """ffmpeg ignores SIGPIPE (its log pipe breaks when the recorder dies: it must go on to
    finalize the file, not die mid-write) and, on Linux, gets SIGINT when the recorder's thread
    that started it dies (it then finalizes the file instead of grabbing forever)."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, never block the exec
        pass


class ScreenCapture:
    """Records the screen to ``video`` with ffmpeg and puts one ``"screen"`` marker per frame
    into the recorder given to :meth:`start` (see the module docs). ``fps``: grab rate;
    ``display``: default ``$DISPLAY``; ``size``: default the whole screen; ``overwrite``: replace
    an existing video. The constructor checks ffmpeg, the display and the path, so a caller can
    refuse before it creates anything."""

    def __init__(
        self,
        video: str | os.PathLike[str],
        *,
        fps: float = 10.0,
        display: Optional[str] = None,
        size: Optional[Tuple[int, int]] = None,
        overwrite: bool = False,
        ffmpeg: str = "ffmpeg",
    ) -> None:
        if not (0 < fps <= 240):
            raise ValueError("fps must be in (0, 240], not %r" % fps)
        self.rec: Any = None
        self.video = os.fspath(video)
        self.fps = float(fps)
        self.display = _need_display(display)
        self.ffmpeg = _need_ffmpeg(ffmpeg)
        if os.path.exists(self.video) and not overwrite:
            raise FileExistsError("%s exists (overwrite it with --force / overwrite=True)" % self.video)
        self.size = size or display_size(self.display)
        self.overwrite = overwrite
        self.frames = 0  # frames seen in ffmpeg's log (each one is in the file after a clean stop)
        self.markers = 0  # of which a marker was recorded
        self.unmarked = 0  # of which the recorder refused the marker (paused, closed)
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._tail: Deque[str] = collections.deque(maxlen=20)  # ffmpeg's last other log lines
        self._first = threading.Event()
        self._stopping = False
        self._push_error: Optional[str] = None  # the first error the recorder raised on a marker

    # -- lifecycle -----------------------------------------------------------------------------

    def metadata(self, recording: str | os.PathLike[str]) -> Dict[str, Any]:
        """The metadata naming this video, for the recording at path ``recording``."""
        return screen_metadata(self.video, os.fspath(recording), self.fps, self.size)

    def start(self, recorder: Any, timeout: float = 10.0) -> None:
        """Start ffmpeg, its markers going to ``recorder``, and wait for its first frame
        (``ScreenUnavailable`` if it exits first, with its last log lines, or if no frame comes
        within ``timeout`` seconds)."""
        self.rec = recorder
        existed = os.path.exists(self.video)
        cmd = ffmpeg_command(self.video, fps=self.fps, display=self.display, size=self.size,
                             overwrite=self.overwrite, ffmpeg=self.ffmpeg)
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
        self._reader = threading.Thread(target=self._read_log, name="hidpack-screen", daemon=True)
        self._reader.start()
        limit = time.monotonic() + timeout
        while not self._first.wait(0.05):
            status = self._proc.poll()
            if status is not None or time.monotonic() > limit:
                # why, decided before a kill sets a status of its own
                why = "exit status %s" % status if status is not None else "no frame in %g s; stopped it" % timeout
                if status is None:
                    self._kill()
                self._reader.join(2.0)
                if os.path.exists(self.video) and (not existed or self.overwrite):
                    os.remove(self.video)  # what ffmpeg began: not a video (an old one was replaced as asked)
                raise ScreenUnavailable(
                    "ffmpeg did not start recording the screen (%s): %s" % (why, self.log_tail() or "no output")
                )

    def failed(self) -> Optional[str]:
        """Why the screen recording failed: ffmpeg stopped on its own, or the recorder refused a
        marker with an error (None while all is well, and after :meth:`stop`)."""
        if self._proc is None or self._stopping:
            return None
        if self._proc.poll() is None:
            return self._push_error
        return "ffmpeg exited with status %s while recording: %s" % (self._proc.returncode, self.log_tail() or "no output")

    def stop(self, timeout: float = 10.0) -> Dict[str, Any]:
        """Stop ffmpeg cleanly (``q``, then SIGINT, then SIGKILL, ``timeout`` seconds each) and
        wait for the last markers; returns a report: ``video``, ``frames`` (in the video),
        ``markers`` (recorded), ``unmarked``, ``ffmpeg_status``, and ``error`` when ffmpeg
        failed or had to be killed (then the last frames may be missing from the file)."""
        assert self._proc is not None and self._reader is not None, "start() first"
        error = self.failed()
        self._stopping = True
        proc = self._proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(b"q")
                proc.stdin.flush()
            except OSError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._kill()
                    error = "ffmpeg did not stop on q or SIGINT; killed (the video may be unfinished)"
        self._reader.join(timeout)
        if proc.stdin is not None:
            proc.stdin.close()
        if error is None and proc.returncode != 0:
            error = "ffmpeg exited with status %s: %s" % (proc.returncode, self.log_tail() or "no output")
        error = error or self._push_error
        report: Dict[str, Any] = {
            "video": self.video, "frames": self.frames, "markers": self.markers, "unmarked": self.unmarked,
            "ffmpeg_status": proc.returncode,
        }  # fmt: skip
        if error:
            report["error"] = error
        return report

    def log_tail(self) -> str:
        """ffmpeg's last log lines other than per-frame ones (for error messages)."""
        return " | ".join(self._tail)

    def _kill(self) -> None:
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait()

    # -- the log reader (one thread) -------------------------------------------------------------

    def _read_log(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        grabbed: Dict[int, int] = {}  # frame number -> grab time (Unix µs), until its file pts is seen
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            m = _SHOWINFO.search(line)
            if m is None:
                if line and "color_range:" not in line and "config " not in line:
                    self._tail.append(line.strip())
                continue
            which, n, pts = m.group(1), int(m.group(2)), int(m.group(3))
            if which == "grab":
                grabbed[n] = pts
                continue
            grab_us = grabbed.pop(n, None)
            if grab_us is None:  # cannot happen with the chain above: both lines come per frame
                self._tail.append("frame %d: file pts without a grab time" % n)
                continue
            offset = _clock_offset()
            self.frames += 1
            try:
                pushed = self.rec.marker(LABEL, pts * 1_000_000, t=grab_us * 1000 - offset)
            except Exception as e:  # noqa: BLE001 - the recorder stopped (write error, closed)
                self._push_error = self._push_error or "marker of frame %d not recorded: %s" % (n, e)
                pushed = False
            if pushed:
                self.markers += 1
            else:
                self.unmarked += 1
            self._first.set()


def _clock_offset() -> int:
    """Wall clock minus the recorder clock, now, in ns. Read between two recorder-clock reads,
    the tightest of a few tries: another Python thread can take the GIL between two calls (for
    ms), which would skew a single pair by that much."""
    best = None
    for _ in range(5):
        a = _native.now()
        wall = time.time_ns()
        b = _native.now()
        if best is None or b - a < best[0]:
            best = (b - a, wall - (a + b) // 2)
        if b - a < 20_000:
            break
    assert best is not None
    return best[1]


# -- reading ---------------------------------------------------------------------------------------


def decode_video(
    video: str | os.PathLike[str], size: Optional[Tuple[int, int]] = None, ffmpeg: str = "ffmpeg"
) -> Tuple[np.ndarray, np.ndarray]:
    """Every frame of ``video`` as stored (no frame dropped or repeated to make a constant rate):
    ``(pts_ns, images)``, int64 ``(n,)`` and uint8 RGB ``(n, height, width, 3)``, scaled to
    ``size`` = (width, height) if given. Whole-video decode through a pipe: meant for short
    videos or small sizes (n × width × height × 3 bytes of memory). Pair with
    :meth:`hidpack.RecordingView.frames` by ``pts_ns``."""
    path = os.fspath(video)
    exe = _need_ffmpeg(ffmpeg)
    probe = os.path.join(os.path.dirname(exe), "ffprobe")
    if not os.path.exists(probe):
        probe = _need_ffmpeg("ffprobe")
    info = subprocess.run(
        [probe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,time_base:packet=pts",
         "-of", "json", path],
        capture_output=True, text=True,
    )  # fmt: skip
    if info.returncode != 0:
        raise ValueError("%s: not a readable video: %s" % (path, info.stderr.strip()))
    meta = json.loads(info.stdout)
    stream = meta["streams"][0]
    num, den = (int(v) for v in stream["time_base"].split("/"))
    pts = np.array(sorted(int(p["pts"]) for p in meta.get("packets", []) if "pts" in p), dtype=np.int64)
    pts_ns = pts * 1_000_000_000 * num // den
    w, h = size if size is not None else (int(stream["width"]), int(stream["height"]))
    raw = subprocess.run(
        [exe, "-v", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-s", "%dx%d" % (w, h),
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
    )  # fmt: skip
    if raw.returncode != 0:
        raise ValueError("%s: ffmpeg could not decode it: %s" % (path, raw.stderr.decode(errors="replace").strip()))
    images = np.frombuffer(raw.stdout, np.uint8).reshape(-1, h, w, 3)
    if len(images) != len(pts_ns):
        raise ValueError("%s: %d frames decoded, %d packets" % (path, len(images), len(pts_ns)))
    return pts_ns, images

_STREAM = re.compile(r"^screen(?:#(\d+))?$")


def frames_of(view: Any) -> Columns:
    """The screen frames of a recording view (see :meth:`hidpack.RecordingView.frames`)."""
    m = view.markers()
    labels = np.asarray(m["label"], dtype=object)
    streams = np.full(len(labels), -1, dtype=np.int64)
    for i, label in enumerate(labels):
        hit = _STREAM.match(label) if isinstance(label, str) else None
        if hit is not None:
            streams[i] = int(hit.group(1) or 0)
    rows = streams >= 0
    md = view.recording._metadata_or_empty()
    videos = md.get("video")
    if isinstance(videos, str):
        videos = [videos]
    base = os.path.dirname(os.path.abspath(view.recording.path))
    paths: List[Optional[str]] = []
    for v in videos if isinstance(videos, list) else []:
        ok = isinstance(v, str) and not v.startswith("data:")
        paths.append(os.path.join(base, v) if ok and "://" not in v else (v if ok else None))
    stream = streams[rows]
    video = np.array([paths[s] if s < len(paths) else None for s in stream.tolist()], dtype=object)
    value = m["value"]
    pts = np.ma.MaskedArray(np.ma.getdata(value)[rows].astype(np.int64), mask=np.ma.getmaskarray(value)[rows])
    return Columns(
        {"t": np.asarray(m["t"])[rows].astype(np.int64), "pts_ns": pts, "stream": stream, "video": video},
        order=["t", "pts_ns", "stream", "video"],
    )
