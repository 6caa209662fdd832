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
