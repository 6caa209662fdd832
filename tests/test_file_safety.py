"""Nothing lost on the write side (issue 16): recordings are created exclusively, replaced only
when asked and then atomically, locked while written; a killed process loses at most the flush
interval whatever the clock; a write error is reported at once. Each test reproduces a finding
in a child process killed with SIGKILL where the finding needs a real kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hidpack


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


def _killed_recording(path: Path, n: int = 3000) -> None:
    """A recorder that checkpointed `n` events and was then killed (SIGKILL)."""
    res = _run(
        f"""
        import os, signal, hidpack
        rec = hidpack.Recorder({str(path)!r}, clock="event", block_events=1 << 20)
        for i in range({n}):
            rec.move(i % 1000, i % 700, t=i * 1000)
        rec.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert res.returncode == -signal.SIGKILL, res.stderr


def _moves(n: int) -> dict[str, object]:
    return {"t": np.arange(n, dtype=np.int64), "kind": "move", "x": np.arange(n, dtype=np.float64), "y": np.zeros(n)}


def test_recorder_and_write_table_never_truncate_an_existing_file(tmp_path: Path) -> None:
    p = tmp_path / "keep.hpk"
    hidpack.write_table(p, _moves(10))
    before = p.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite") as e:
        hidpack.Recorder(p)
    assert e.value.filename == str(p)
    with pytest.raises(FileExistsError):
        hidpack.write_table(p, _moves(3))
    with pytest.raises(FileExistsError):
        hidpack.Writer(p)
    assert p.read_bytes() == before
    hidpack.write_table(p, _moves(3), overwrite=True)
    assert len(hidpack.open(p).moves().t) == 3


def test_a_killed_unrecovered_recording_is_refused_naming_recover(tmp_path: Path) -> None:
    """Finding: Recorder(path) and write_table(path) silently truncated a killed, unrecovered
    recording and its .wal (3,000 recoverable events gone)."""
    p = tmp_path / "killed.hpk"
    _killed_recording(p)
    assert len(hidpack.open(p).moves().t) == 3000
    for make in (
        lambda: hidpack.Recorder(p, overwrite=True),
        lambda: hidpack.write_table(p, _moves(3), overwrite=True),
        lambda: hidpack.Recorder(p),
    ):
        with pytest.raises(FileExistsError, match="hidpack recover"):
            make()
    assert len(hidpack.open(p).moves().t) == 3000, "every event still there"
    hidpack.recover(p)
    assert len(hidpack.open(p).moves().t) == 3000
    assert not Path(str(p) + ".wal").exists()


def test_two_recorders_cannot_share_a_path(tmp_path: Path) -> None:
    """Finding: two Recorders on one path both 'succeeded' and left 0 readable events."""
    p = tmp_path / "shared.hpk"
    with hidpack.Recorder(p, clock="event", tail=False) as a:
        a.move(1, 2, t=0)
        with pytest.raises(BlockingIOError, match="another hidpack writer"):
            hidpack.Recorder(p, clock="event", tail=False, overwrite=True)
        with pytest.raises(BlockingIOError):
            hidpack.write_table(p, _moves(3), overwrite=True)
    assert hidpack.open(p).moves().x.tolist() == [1.0]


def test_write_table_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    """Finding: write_table over a file killed mid-write left 0 bytes."""
    p = tmp_path / "t.hpk"
    hidpack.write_table(p, _moves(100))
    before = p.read_bytes()
    res = _run(
        f"""
        import os, signal, numpy as np
        from hidpack import _native
        from hidpack.writing import prepare
        n = 200_000
        w = _native.Writer({str(p)!r}, overwrite=True, atomic=True, block_events=4096)
        w.write_table(prepare({{"t": np.arange(n, dtype=np.int64), "kind": "move", "x": np.zeros(n), "y": np.zeros(n)}}))
        w.flush()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert p.read_bytes() == before
    assert len(hidpack.open(p).moves().t) == 100


def test_event_clock_recorder_checkpoints_when_input_stops(tmp_path: Path) -> None:
    """Finding: with clock="event", events that arrived within one flush interval and then
    stopped were never checkpointed (SIGKILL 1 s later: a 0-byte file)."""
    p = tmp_path / "ev.hpk"
    res = _run(
        f"""
        import os, signal, time, hidpack
        rec = hidpack.Recorder({str(p)!r}, clock="event", flush_interval=0.2)
        for i in range(5):
            rec.move(i, i, t=i)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert hidpack.open(p).moves().t.tolist() == [0, 1, 2, 3, 4]


def test_a_write_error_is_reported_at_once(tmp_path: Path) -> None:
    """Finding: a disk-full writer kept returning True from pushes; the error surfaced only at
    close. A file-size limit (RLIMIT_FSIZE) stands in for a full disk."""
    p = tmp_path / "full.hpk"
    res = _run(
        f"""
        import resource, time, hidpack
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))
        rec = hidpack.Recorder({str(p)!r}, clock="event", block_events=2000, flush_interval=0.05, tail=False)
        pushed, error = 0, None
        for i in range(2_000_000):
            try:
                rec.move(i % 4000, (i * 7919) % 3000, t=i * 1_000_000)
                pushed += 1
            except OSError as e:
                error = e
                break
            if i % 2000 == 0:
                time.sleep(0.01)
        assert error is not None, "no push reported the error"
        st = rec.stats()
        assert st["error"] and "File too large" in st["error"], st
        try:
            rec.move(1, 1, t=0)
            raise SystemExit("a push after the error succeeded")
        except OSError:
            pass
        try:
            rec.close()
        except OSError:
            pass
        print(pushed, st["written"] + st["lost"], st["written"])
        """
    )
    assert res.returncode == 0, res.stderr
    pushed, accounted, written = map(int, res.stdout.split())
    # the error came at once: at most a ring's worth of pushes after the failing write
    assert pushed - written <= 65536 + 2000, (pushed, written)
    # every block written before the error reads back
    r = hidpack.open(p)
    assert 0 < len(r.moves().t) <= written


def test_recover_leaves_no_temporary_on_bad_metadata_and_replaces_only_with_force(tmp_path: Path) -> None:
    p = tmp_path / "k.hpk"
    _killed_recording(p, 500)
    other = tmp_path / "other.txt"
    other.write_text("unrelated")
    with pytest.raises(FileExistsError):
        hidpack.recover(p, other)
    assert other.read_text() == "unrelated"
    rep = hidpack.recover(p, other, overwrite=True)
    assert rep["events"] == 500
    assert sorted(os.listdir(tmp_path)) == sorted(["k.hpk", "k.hpk.wal", "other.txt"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_tail_does_not_hang_open_info_or_recover(tmp_path: Path) -> None:
    p = tmp_path / "f.hpk"
    _killed_recording(p, 100)
    wal = Path(str(p) + ".wal")
    wal.unlink()
    os.mkfifo(wal)
    res = subprocess.run([sys.executable, "-m", "hidpack", "info", str(p)], capture_output=True, text=True, timeout=60)
    assert res.returncode in (0, 1), res.stderr
    assert "not a regular file" in res.stdout + res.stderr
    rep = hidpack.recover(p)
    assert rep["tail_moved_to"] and Path(rep["tail_moved_to"]).exists()


def test_os_errors_name_the_path_and_have_the_right_class(tmp_path: Path) -> None:
    """Finding: OS errors carried no path and were not FileNotFoundError/IsADirectoryError."""
    with pytest.raises(IsADirectoryError) as e:
        hidpack.open(tmp_path)
    assert e.value.filename == str(tmp_path)
    missing = tmp_path / "missing.hpk"
    with pytest.raises(FileNotFoundError) as f:
        hidpack.open(missing)
    assert f.value.filename == str(missing)
    with pytest.raises(FileNotFoundError) as g:
        hidpack.write_table(tmp_path / "no" / "such" / "dir.hpk", _moves(2))
    assert "dir.hpk" in str(g.value)
