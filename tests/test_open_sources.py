"""Recordings read from something other than a path (hidpack._sources): bytes and every other
buffer, binary file objects (local, io.BytesIO, fsspec), fsspec URLs in open, read_many and
read_dask. Each must read exactly what the path reads, fail as the path fails on damaged bytes,
and turn a misbehaving file object into a clear error, never a hang or a panic."""

from __future__ import annotations

import io
import mmap
import os
import shutil
import time
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest

import hidpack
from shared_data import balabit_sessions
from test_fleet import dask_client  # noqa: F401 (the fixture)

GOLDEN = Path(__file__).parent / "golden" / "v1"
GOLDEN_FILES = sorted(p.name for p in GOLDEN.glob("*.hpk"))


def memory_fs() -> Any:
    return fsspec.filesystem("memory")


def sources(path: Path, tmp_path: Path) -> tuple[dict[str, Any], list[Any]]:
    """Every kind of source over the bytes of ``path`` (fresh objects: a file object is read
    from wherever its position is), and the files to close after."""
    data = path.read_bytes()
    fs = memory_fs()
    key = f"/open-sources/{tmp_path.name}/{path.name}"
    fs.pipe(key, data)
    padded = b"xx" + data + b"yy"
    mm_file = open(path, "rb")  # noqa: SIM115 (closed by the test's cleanup below)
    out = {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "memoryview slice": memoryview(padded)[2:-2],
        "numpy uint8": np.frombuffer(data, np.uint8),
        "strided numpy": np.repeat(np.frombuffer(data, np.uint8), 2)[::2],
        "BytesIO": io.BytesIO(data),
        "open rb": open(path, "rb"),  # noqa: SIM115
        "fsspec file": fs.open(key, "rb"),
        "memory URL": "memory://" + key,
        "file URL": "file://" + str(path.resolve()),
    }
    if data:
        out["mmap"] = mmap.mmap(mm_file.fileno(), 0, access=mmap.ACCESS_READ)
    return out, [mm_file, out["open rb"]]


def close_all(files: list[Any]) -> None:
    for f in files:
        f.close()


def outcome(source: Any, **read: Any) -> tuple[str, Any, Any, Any]:
    """What opening and reading ``source`` gives: ("ok", table, problems, header) or
    ("error", exception type, message, offset)."""
    try:
        rec = hidpack.open(source)
        table = rec.table(**read)
        header = {k: v for k, v in rec.header.items() if k != "tail"}
        problems = rec.problems
        rec.close()
        return "ok", table, problems, header
    except hidpack.HidpackError as e:
        return "error", type(e), str(e), getattr(e, "offset", None)


def assert_same(got: tuple[str, Any, Any, Any], want: tuple[str, Any, Any, Any], label: str) -> None:
    assert got[0] == want[0], (label, got[:3], want[:3])
    if want[0] == "error":
        assert got[1:] == want[1:], label
        return
    assert sorted(got[1]) == sorted(want[1]), label
    for k in want[1]:
        assert got[1][k].dtype == want[1][k].dtype, (label, k)
        assert np.array_equal(got[1][k], want[1][k]), (label, k)
    assert got[2] == want[2], label
    assert got[3] == want[3], label


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_every_source_reads_what_the_path_reads(name, tmp_path):
    # a copy without the write-ahead tail that lies beside one of them: no other source has one
    path = tmp_path / name
    shutil.copyfile(GOLDEN / name, path)
    want = outcome(str(path))
    src, files = sources(path, tmp_path)
    try:
        for label, s in src.items():
            assert_same(outcome(s), want, label)
            if want[0] == "ok":
                assert_same(outcome(s if not hasattr(s, "seek") else _rewound(s), kinds=["move"]), outcome(str(path), kinds=["move"]), label)
    finally:
        close_all(files)


def _rewound(f: Any) -> Any:
    f.seek(0)
    return f


def test_the_tail_beside_a_path_is_merged_only_for_the_path(tmp_path):
    """killed_with_tail.hpk's events that only its .wal holds: read from the path, not from its bytes."""
    path = GOLDEN / "killed_with_tail.hpk"
    by_path = hidpack.open(path)
    by_bytes = hidpack.open(path.read_bytes())
    assert by_path.info()["tail"] is not None and by_bytes.info()["tail"] is None
    assert len(by_bytes) < len(by_path)
    n = len(by_bytes)
    assert np.array_equal(by_bytes.table()["t"], by_path.table()["t"][:n])


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory) -> Path:
    """A real corpus (balabit, 300,000 rows) as one recording of many blocks, over 256 KiB (so a
    file object is read by ranges, not whole)."""
    d = tmp_path_factory.mktemp("long")
    sessions = balabit_sessions(d, 300_001)
    path = d / "long.hpk"
    with hidpack.Writer(path, block_events=16_384) as w:
        offset = 0
        for s in sessions:  # one after the other in time
            table = hidpack.open(s).table()
            table["t"] = table["t"] + offset
            offset = int(table["t"].max()) + 1
            w.write(table)
    assert path.stat().st_size > 2 * 256 * 1024
    return path


def test_a_real_corpus_reads_the_same_from_every_source(long_recording, tmp_path):
    want = outcome(str(long_recording))
    assert len(want[1]["t"]) == 300_000
    src, files = sources(long_recording, tmp_path)
    try:
        for label, s in src.items():
            assert_same(outcome(s), want, label)
        # decoding on threads reads the file object from several threads at once
        for threads in (1, 2, 4):
            rec = hidpack.open(io.BytesIO(long_recording.read_bytes()), threads=threads)
            assert np.array_equal(rec.table()["x"], want[1]["x"])
        window = hidpack.open(long_recording).between(10**9, 10**11).table()
        got = hidpack.open(io.BytesIO(long_recording.read_bytes())).between(10**9, 10**11).table()
        assert all(np.array_equal(got[k], window[k]) for k in window)
    finally:
        close_all(files)


def cuts(n: int) -> list[int]:
    return sorted({0, 1, 5, 8, 12, 40, 60, 100, n // 3, n // 2, n - 200, n - 30, n - 9, n - 1} & set(range(n)))


@pytest.mark.parametrize("name", ["all_kinds.hpk", "multi_block.hpk", "binned.hpk"])
def test_truncated_and_corrupted_bytes_fail_as_the_file_fails(name, tmp_path):
    data = (GOLDEN / name).read_bytes()
    variants = {f"cut at {c}": data[:c] for c in cuts(len(data))}
    for at in (3, 10, 50, len(data) // 2, len(data) - 20, len(data) - 5):
        bad = bytearray(data)
        bad[at] ^= 0x5A
        variants[f"byte {at} flipped"] = bytes(bad)
    for label, variant in variants.items():
        path = tmp_path / "v.hpk"
        path.write_bytes(variant)
        want = outcome(str(path))
        for kind, s in (("bytes", variant), ("BytesIO", io.BytesIO(variant)), ("bytearray", bytearray(variant))):
            assert_same(outcome(s), want, f"{label}, {kind}")


# -- file objects that misbehave --------------------------------------------------------------


NORMAL = object()


class Counting(io.RawIOBase):
    """A seekable binary file over bytes that counts what is read through it, and can be told to
    fail: raise after some reads, return short reads (``chunk`` bytes at most per call), claim
    more bytes than it has (``extra``), or return the wrong type."""

    def __init__(self, data: bytes, *, chunk: int | None = None, fail_after: int | None = None, extra: int = 0, returns: Any = NORMAL):
        self.data, self.pos = data, 0
        self.chunk, self.fail_after, self.extra, self.returns = chunk, fail_after, extra, returns
        self.bytes_read = self.reads = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else len(self.data) + self.extra + offset
        return self.pos

    def read(self, n: int = -1) -> Any:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise ConnectionError("the object store went away")
        if self.returns is not NORMAL:
            return self.returns
        n = len(self.data) - self.pos if n < 0 else n
        if self.chunk is not None:
            n = min(n, self.chunk)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        self.bytes_read += len(out)
        return out


def test_a_large_file_object_is_read_by_ranges_not_whole(long_recording):
    data = long_recording.read_bytes()
    f = Counting(data)
    rec = hidpack.open(f)
    opened = f.bytes_read
    assert opened < 0.02 * len(data), f"opening read {opened:,} of {len(data):,} bytes"
    views = list(rec)
    assert len(views) > 10
    one = views[len(views) // 2]
    one.table()
    assert f.bytes_read - opened == one.info["length"]
    lo, hi, before = one.info["t_min"], one.info["t_max"] + 1, f.bytes_read
    rec.between(lo, hi).table()
    overlapping = [b["length"] for b in rec.blocks() if b["t_max"] >= lo and b["t_min"] < hi]
    assert f.bytes_read - before == sum(overlapping) < 0.2 * len(data)
    # a small object is read whole, in one go, at open
    small = Counting((GOLDEN / "all_kinds.hpk").read_bytes())
    rec = hidpack.open(small)
    n = small.reads
    rec.table()
    assert small.reads == n and small.bytes_read == len(small.data)


def test_short_reads_that_make_progress_are_read_on(long_recording):
    want = hidpack.open(long_recording).table()["t"]
    f = Counting(long_recording.read_bytes(), chunk=1000)
    assert np.array_equal(hidpack.open(f).table()["t"], want)


def test_a_file_object_that_raises_gives_its_own_error(long_recording):
    data = long_recording.read_bytes()
    # at open
    with pytest.raises(ConnectionError, match="went away") as e:
        hidpack.open(Counting(data, fail_after=2))
    assert any("hidpack read" in n for n in getattr(e.value, "__notes__", []))
    # while reading blocks: raised, not a block silently skipped
    f = Counting(data)
    rec = hidpack.open(f)
    f.fail_after = f.reads + 3
    with pytest.raises(ConnectionError):
        rec.table()
    with pytest.raises(ConnectionError):
        rec.verify()
    # the object recovers: the next read is whole
    f.fail_after = None
    assert len(rec.table()["t"]) == len(rec)


def test_a_file_object_shorter_than_it_claims_fails_clearly(long_recording):
    data = long_recording.read_bytes()
    with pytest.raises(OSError, match="short read"):
        hidpack.open(Counting(data, extra=100)).table()
    # the object loses its second half after the open (the length from open is what is trusted)
    f = Counting(data)
    rec = hidpack.open(f)
    f.data, f.extra = data[: len(data) // 2], len(data) - len(data) // 2
    with pytest.raises(OSError, match="short read"):
        rec.table()


@pytest.mark.parametrize(
    "returns, match",
    [("text", "text mode"), (None, "None"), (12, "int, not bytes"), (b"x" * (1 << 20), "more than asked")],
)
def test_a_file_object_returning_the_wrong_thing_raises_type_error(returns, match, long_recording):
    with pytest.raises(TypeError, match=match):
        hidpack.open(Counting(long_recording.read_bytes(), returns=returns))


def test_file_objects_that_cannot_be_read_by_ranges_are_refused(tmp_path):
    data = (GOLDEN / "all_kinds.hpk").read_bytes()

    class NotSeekable(Counting):
        def seekable(self) -> bool:
            return False

    class WriteOnly(Counting):
        def readable(self) -> bool:
            return False

    class NoSeek:
        def read(self, n: int = -1) -> bytes:
            return b""

    with pytest.raises(io.UnsupportedOperation, match="not seekable"):
        hidpack.open(NotSeekable(data))
    with pytest.raises(io.UnsupportedOperation, match="not readable"):
        hidpack.open(WriteOnly(data))
    with pytest.raises(io.UnsupportedOperation, match="no seek"):
        hidpack.open(NoSeek())
    (tmp_path / "a.hpk").write_bytes(data)
    with open(tmp_path / "a.hpk", encoding="latin-1") as text, pytest.raises(TypeError, match="text-mode"):
        hidpack.open(text)
    with pytest.raises(TypeError, match="not int"):
        hidpack.open(42)
    # the native reader called directly with a bad object: an error, never a crash
    with pytest.raises(AttributeError):
        hidpack._native.Reader(NoSeek())


# -- what needs a path ----------------------------------------------------------------------


def test_sources_that_are_not_paths_are_named_and_need_no_path(tmp_path):
    data = (GOLDEN / "all_kinds.hpk").read_bytes()
    rec = hidpack.open(data)
    assert rec.path is None and rec.name == f"<bytes of {len(data):,} bytes>"
    assert rec.info()["bytes"] == len(data) and rec.info()["path"] is None
    assert "<bytes of" in repr(rec)
    assert hidpack.open(data, name="s3://b/k.hpk").name == "s3://b/k.hpk"
    assert hidpack.open(GOLDEN / "all_kinds.hpk").path == str(GOLDEN / "all_kinds.hpk")
    fs = memory_fs()
    fs.pipe("/named/a.hpk", data)
    assert hidpack.open(fs.open("/named/a.hpk", "rb")).name == "memory:///named/a.hpk"
    for src in (data, io.BytesIO(data), "memory:///named/a.hpk"):
        with pytest.raises(TypeError, match="needs a path"):
            hidpack.recover(src)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a path for dst"):
        hidpack.recover(tmp_path / "x.hpk", io.BytesIO())  # type: ignore[arg-type]


def test_a_writable_buffer_is_copied_and_a_read_only_one_is_held(tmp_path):
    data = (GOLDEN / "all_kinds.hpk").read_bytes()
    want = hidpack.open(data).table()["t"]
    buf = bytearray(data)
    rec = hidpack.open(buf)
    buf[:] = b"\0" * len(buf)
    buf.extend(b"more")  # not exported: the reader holds a copy
    assert np.array_equal(rec.table()["t"], want)
    # a read-only view of the same kind of memory is held: the bytearray cannot be resized under it
    buf = bytearray(data)
    rec = hidpack.open(memoryview(buf).toreadonly())
    with pytest.raises(BufferError):
        buf.extend(b"more")
    assert np.array_equal(rec.table()["t"], want)
    # a closed URL recording closes its file
    fs = memory_fs()
    fs.pipe("/closing/a.hpk", data)
    with hidpack.open("memory:///closing/a.hpk") as rec:
        assert len(rec) == len(want)
    assert rec._owned is None


# -- fleets of URLs ----------------------------------------------------------------------------


@pytest.fixture
def memory_fleet(tmp_path) -> tuple[list[str], str]:
    """The balabit sessions as local files and in fsspec's memory filesystem: (paths, URL of
    the directory)."""
    paths = balabit_sessions(tmp_path, 150_001)
    assert len(paths) >= 4
    fs = memory_fs()
    root = f"/fleet-{tmp_path.name}"
    for p in paths:
        fs.pipe(f"{root}/{os.path.basename(p)}", Path(p).read_bytes())
    return paths, f"memory://{root}"


def assert_fleets_equal(got: Any, want: Any) -> None:
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k
    assert got.events == want.events and got.wall_clock_ns == want.wall_clock_ns


def test_read_many_reads_urls_as_their_files(memory_fleet):
    paths, root = memory_fleet
    want = hidpack.read_many(paths)
    for threads in (1, 2):
        for spec in (root, root + "/*.hpk", [f"{root}/{os.path.basename(p)}" for p in paths]):
            got = hidpack.read_many(spec, threads=threads)
            assert_fleets_equal(got, want)
            assert [os.path.basename(u) for u in got.paths] == [os.path.basename(p) for p in paths]
            assert all(u.startswith("memory://") for u in got.paths)
    # mixed with local paths, and as file:// URLs
    mixed = [paths[0], f"{root}/{os.path.basename(paths[1])}"] + ["file://" + p for p in paths[2:]]
    assert_fleets_equal(hidpack.read_many(mixed), want)
    # a clock re-read (wall_t) goes through the URL too
    fs = memory_fs()
    fs.pipe("/clocked/event_clock.hpk", (GOLDEN / "event_clock.hpk").read_bytes())
    clocked = hidpack.read_many(["memory:///clocked/event_clock.hpk"])
    assert clocked.wall_t().tolist() == hidpack.read_many([GOLDEN / "event_clock.hpk"]).wall_t().tolist()


def test_read_many_of_urls_reports_problems_by_url(memory_fleet):
    paths, root = memory_fleet
    fs = memory_fs()
    data = Path(paths[0]).read_bytes()
    fs.pipe(f"{root[len('memory://'):]}/zz-cut.hpk", data[: len(data) // 2])
    with pytest.raises(hidpack.HidpackError) as e:
        hidpack.read_many(root)
    assert e.value.path.endswith("zz-cut.hpk") and e.value.file == len(paths)
    skipped = hidpack.read_many(root, errors="skip")
    assert skipped.problems and all(p["path"].endswith("zz-cut.hpk") for p in skipped.problems)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        hidpack.read_many(root + "/*.nothing")


def test_read_many_raises_a_failing_url_file_with_its_index(memory_fleet, monkeypatch):
    paths, root = memory_fleet
    from hidpack import _sources

    real = _sources.UrlFile.read

    def failing(self: Any, size: int = -1) -> bytes:
        if self.url.endswith(os.path.basename(paths[2])):
            raise ConnectionResetError("reset by peer")
        return real(self, size)

    monkeypatch.setattr(_sources.UrlFile, "read", failing)
    with pytest.raises(ConnectionResetError) as e:
        hidpack.read_many(root)
    assert e.value.file == 2 and e.value.path.endswith(os.path.basename(paths[2]))
    skipped = hidpack.read_many(root, errors="skip")
    assert [p["file"] for p in skipped.problems] == [2] and skipped.problems[0]["whole_file"]


def test_read_many_fetches_urls_on_its_threads_at_once_and_no_more(memory_fleet, monkeypatch):
    """URLs are fetched in parallel, ``threads`` at a time: with two threads, the first two URLs
    are being opened at the same moment (each waits for the other at a barrier: fetched one by
    one, the barrier would break); never more than ``threads`` at once (each open lingers 20 ms
    to let any excess show); and the result is the one-thread result."""
    import threading

    from hidpack import _sources

    paths, root = memory_fleet
    real = _sources.UrlFile._opened
    lock = threading.Lock()
    state = {"opens": 0, "now": 0, "most": 0}
    meet = threading.Barrier(2, timeout=30)

    def opened(self: Any) -> Any:
        if self._file is not None:
            return real(self)
        with lock:
            state["opens"] += 1
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            first_two = state["opens"] <= 2
        try:
            if first_two and meeting:
                meet.wait()
            time.sleep(0.02)
            return real(self)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(_sources.UrlFile, "_opened", opened)
    meeting = False
    want = hidpack.read_many(root, threads=1)
    assert (state["opens"], state["most"]) == (len(paths), 1)
    for threads in (2, 3):
        meeting = threads == 2
        state.update(opens=0, now=0, most=0)
        assert_fleets_equal(hidpack.read_many(root, threads=threads), want)
        assert state["opens"] == len(paths) and state["most"] <= threads, state
        assert state["most"] >= 2 or not meeting, state


def test_read_dask_reads_urls_on_the_threaded_scheduler(memory_fleet):
    paths, root = memory_fleet
    want = hidpack.read_dask(paths, files_per_partition=2).compute(scheduler="threads").reset_index(drop=True)
    ddf = hidpack.read_dask(root, files_per_partition=2)
    assert ddf.npartitions == (len(paths) + 1) // 2
    got = ddf.compute(scheduler="threads").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # partitions by the filesystem's sizes, as by sizes on disk
    limit = sum(os.path.getsize(p) for p in paths[:3])
    assert hidpack.read_dask(root, partition_bytes=limit).npartitions == hidpack.read_dask(paths, partition_bytes=limit).npartitions


def test_read_dask_of_file_urls_on_a_local_cluster(tmp_path, dask_client):  # noqa: F811 (the fixture)
    """Workers in other processes open their partitions' URLs themselves, through fsspec."""
    paths = balabit_sessions(tmp_path, 20_001)
    urls = ["file://" + p for p in paths]
    ddf = hidpack.read_dask(urls, files_per_partition=3)
    got = dask_client.compute(ddf).result().reset_index(drop=True)
    want = dask_client.compute(hidpack.read_dask(paths, files_per_partition=3)).result().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
