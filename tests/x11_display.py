"""A private X server for the tests that drive a real desktop (test_e2e_x11, test_replay,
test_screen): Xvfb on a display number it picks itself.

``-displayfd`` makes Xvfb choose a free display and write its number to a pipe once it accepts
connections, so two test runs on one machine never race for a number and no socket is polled.
A missing tool fails the test (CI installs them all), with the apt package that provides it.

    with xvfb(1280, 1024, tools=("xdotool",)) as env:   # env: os.environ + DISPLAY, no Wayland
        subprocess.run(["xdotool", "getmouselocation"], env=env, check=True)
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

#: the Debian package behind each tool the X tests run
APT_PACKAGE = {"Xvfb": "xvfb", "xdotool": "xdotool", "ffmpeg": "ffmpeg", "ffprobe": "ffmpeg"}
#: how long Xvfb may take to accept connections (a loaded 2-CPU machine takes well under 1 s)
START_TIMEOUT_S = 20.0


def need(*tools: str) -> None:
    """Fail (never skip) when a tool is not on PATH, saying how to install it."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(sorted({APT_PACKAGE.get(t, t) for t in missing}))
        pytest.fail(f"{', '.join(missing)} not installed (apt-get install {packages}; .ci/run does it)")


@contextmanager
def xvfb(width: int, height: int, *, tools: Sequence[str] = (), args: Sequence[str] = ()) -> Iterator[dict[str, str]]:
    """Run Xvfb with one ``width`` x ``height`` x 24 screen (plus the server ``args``) for the
    duration of the block; yields the environment whose ``DISPLAY`` names it. ``tools``: the
    other programs the caller needs, checked first with :func:`need`."""
    need("Xvfb", *tools)
    log = tempfile.TemporaryFile()  # not a pipe: a chatty server must never block on it
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", *args],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=log,
        )
        os.close(write_fd)
        write_fd = -1
        number = _read_display_number(read_fd)
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
    if number is None:
        try:
            exited: int | None = proc.wait(2)  # the pipe closed: it is exiting, or it hangs
        except subprocess.TimeoutExpired:
            exited = None
            proc.kill()
            proc.wait(5)
        log.seek(0)
        err = log.read().decode(errors="replace").strip()[-2000:]  # the fatal error comes last
        log.close()
        why = f"exited with status {exited}" if exited is not None else f"not ready within {START_TIMEOUT_S} s"
        pytest.fail(f"Xvfb did not start ({why}): {err}")
    env = dict(os.environ, DISPLAY=f":{number}")
    env.pop("WAYLAND_DISPLAY", None)
    try:
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _read_display_number(fd: int) -> int | None:
    """The display number Xvfb writes (``"<n>\\n"``) when ready; None if it exits or times out."""
    text = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not text.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return None
        chunk = os.read(fd, 32)
        if not chunk:  # Xvfb exited (the pipe's only writer) before it was ready
            return None
        text += chunk
    return int(text)
