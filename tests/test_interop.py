"""Interop with tools nobody here wrote: the zstd CLI, pyzstd's seekable reader, zstandard.

Every hidpack file is a valid zstd stream whose tail is a seekable-format seek table."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyzstd
import zstandard

import hidpack

ROOT = Path(__file__).resolve().parent.parent
# closed, undamaged files only (a killed file has no seek table: pyzstd's seekable reader refuses it)
CLEAN_VECTORS = [p for p in sorted((ROOT / "tests" / "vectors" / "v1").glob("*.hpk"))
                 if p.stem not in ("torn", "corrupt_block", "unknown_records", "killed_with_tail", "v1_1_compact_torn",
                                   "v1_2_torn", "v1_2_no_seek_table")]


def _moves(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "t": np.cumsum(rng.integers(0, 20_000_000, n)).astype(np.int64),
        "kind": np.zeros(n, np.uint8),
        "x": np.cumsum(rng.integers(-5, 6, n)).astype(np.float64),
        "y": np.cumsum(rng.integers(-5, 6, n)).astype(np.float64) / 256.0,
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("interop")
    paths = []
    for i, (n, block) in enumerate([(1, 16), (1000, 100), (50_000, 4096), (200_000, 65536)]):
        p = d / f"f{i}.hpk"
        hidpack.write_table(p, _moves(n, i), block_events=block, metadata={"i": i})
        paths.append(p)
    return paths + CLEAN_VECTORS


def _frames(path: Path):
    """(offset, compressed size, decompressed size) of every frame, from the seek table."""
    data = path.read_bytes()
    n = int.from_bytes(data[-9:-5], "little")
    assert data[-4:] == (0x8F92EAB1).to_bytes(4, "little")
    start = len(data) - 9 - 8 * n
    off = 0
    out = []
    for i in range(n):
        c = int.from_bytes(data[start + 8 * i:start + 8 * i + 4], "little")
        dsz = int.from_bytes(data[start + 8 * i + 4:start + 8 * i + 8], "little")
        out.append((off, c, dsz))
        off += c
    assert off == start - 8, "seek table must cover every byte before it"
    return data, out


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd CLI missing: .ci/run installs it")
def test_zstd_cli_accepts_every_file_and_dc_equals_pyzstd_seekable(written):
    for p in written:
        r = subprocess.run(["zstd", "-t", "-q", str(p)], capture_output=True)
        assert r.returncode == 0, (p, r.stderr)
        dc = subprocess.run(["zstd", "-dc", "-q", str(p)], capture_output=True, check=True).stdout
        with pyzstd.SeekableZstdFile(p, "r") as f:
            via_seekable = f.read()
        assert dc == via_seekable, p
        data, frames = _frames(p)
        assert len(via_seekable) == sum(d for _, _, d in frames)


def test_pyzstd_seekable_random_access(written):
    p = written[2]
    data, frames = _frames(p)
    whole = pyzstd.SeekableZstdFile(p, "r").read()
    with pyzstd.SeekableZstdFile(p, "r") as f:
        f.seek(len(whole) // 2)
        assert f.read(100) == whole[len(whole) // 2:len(whole) // 2 + 100]


def test_zstandard_decodes_every_data_frame(written):
    dctx = zstandard.ZstdDecompressor()
    for p in written:
        data, frames = _frames(p)
        n_data = 0
        for off, c, d in frames:
            frame = data[off:off + c]
            magic = int.from_bytes(frame[:4], "little")
            if magic == 0xFD2FB528:
                params = zstandard.get_frame_parameters(frame)
                assert params.has_checksum and params.content_size == d
                assert len(dctx.decompress(frame)) == d
                n_data += 1
            else:
                assert magic & 0xFFFFFFF0 == 0x184D2A50 and d == 0, (p, off, hex(magic))
        assert n_data == len(hidpack.open(p).blocks())


def test_stream_reader_reads_the_whole_file_as_one_stream(written):
    p = written[3]
    with open(p, "rb") as fh:
        out = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()
    assert out == pyzstd.SeekableZstdFile(p, "r").read()
    assert io.BytesIO(out).getbuffer().nbytes > 0
