"""Where the third-party corpora live (../shared/data, or $HIDPACK_DATA). Never copied here."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HIDPACK_DATA", str(REPO.parent / "shared" / "data")))


def data_file(*parts: str) -> Path:
    """A corpus file; fails (never skips) when it is missing, since CI always has it."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"test data {p} is missing (set HIDPACK_DATA to the shared/data folder)")
    return p


def balabit_sessions(tmp_path: Path, lines: int) -> list[str]:
    """The first ``lines`` rows of the balabit corpus (a real, third-party recording) imported as
    one file per session: their paths, sorted."""
    import zstandard

    from hidpack import io_csv

    with open(data_file("balabit-mouse", "events.csv.zst"), "rb") as f:
        head = zstandard.ZstdDecompressor().stream_reader(f).read(max(lines * 64, 1 << 20))
    src = tmp_path / "head.csv"
    src.write_bytes(b"\n".join(head.split(b"\n")[:lines]) + b"\n")
    io_csv.import_csv(src, tmp_path / "sessions")
    return sorted(str(p) for p in (tmp_path / "sessions").glob("*.hpk"))
