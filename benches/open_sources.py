"""Reading one long recording from a path, from bytes in memory, and through file objects
(``hidpack.open``'s sources, hidpack._sources): what reading from memory or an object store's
file costs against a local path.

    PYTHONPATH=python python3 benches/open_sources.py [--rows 2000000] [--repeat 5]

The recording is the balabit corpus's first ``--rows`` rows (its sessions end to end, one file,
blocks of 65,536 events), built once in a temporary folder. Each row: the median of ``--repeat``
runs of ``open(source).table()`` (every event, every field; the default threads), and of
``.table(kinds="move", columns=["x", "y"])``, in this process, after one untimed run. Bytes read
through a file object are counted.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


class CountingFile(io.RawIOBase):
    """A seekable file object over bytes that counts the bytes read through it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.bytes_read = data, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else len(self.data) + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        out = self.data[self.pos : self.pos + n] if n >= 0 else self.data[self.pos :]
        self.pos += len(out)
        self.bytes_read += len(out)
        return out


def build(rows: int, folder: Path) -> Path:
    import hidpack
    from shared_data import balabit_sessions

    sessions = balabit_sessions(folder, rows + 1)
    path = folder / "long.hpk"
    with hidpack.Writer(path) as w:
        offset = 0
        for s in sessions:
            table = hidpack.open(s).table()
            table["t"] = table["t"] + offset
            offset = int(table["t"].max()) + 1
            w.write(table)
    return path


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import fsspec

    import hidpack

    with tempfile.TemporaryDirectory() as d:
        path = build(args.rows, Path(d))
        data = path.read_bytes()
        n = len(hidpack.open(path))
        fs = fsspec.filesystem("memory")
        fs.pipe("/bench/long.hpk", data)
        counting = CountingFile(data)
        sources: dict[str, Callable[[], Any]] = {
            "path": lambda: str(path),
            "bytes (held in place)": lambda: data,
            "bytearray (copied at open)": lambda: bytearray(data),
            "io.BytesIO (by ranges)": lambda: io.BytesIO(data),
            "file opened rb (by ranges)": lambda: open(path, "rb"),  # noqa: SIM115 (garbage-collected)
            "fsspec memory:// URL": lambda: "memory:///bench/long.hpk",
            "counting file object": lambda: counting,
        }
        print(f"one recording: {n:,} events, {len(data):,} bytes, {len(hidpack.open(path).blocks())} blocks")
        print(f"{'source':30} {'all events':>12} {'M ev/s':>7} {'moves x,y':>11} {'M ev/s':>7}")
        base = None
        for label, make in sources.items():
            whole = median_s(lambda: hidpack.open(make()).table(), args.repeat)
            moves = median_s(lambda: hidpack.open(make()).table(kinds="move", columns=["x", "y"]), args.repeat)
            base = base or whole
            print(f"{label:30} {whole * 1e3:10.1f}ms {n / whole / 1e6:7.1f} {moves * 1e3:9.1f}ms {n / moves / 1e6:7.1f}   ({whole / base:.2f}x the path's time)")
        opening = CountingFile(data)
        hidpack.open(opening)
        print(f"opening a file object: {opening.bytes_read:,} bytes read (header, seek table, index)")
        reads = 2 * (args.repeat + 1)
        print(f"counting file object: {counting.bytes_read / reads:,.0f} bytes read per open + read ({len(data):,} in the file)")


if __name__ == "__main__":
    main()
