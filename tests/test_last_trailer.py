"""Format 1.2 (docs/FORMAT.md §4.6): a closed file's last block has no trailer when the index record
follows its data frame; every other block keeps its trailer. Checked on the bytes the Python
entry points really write (``write_table``, ``Recorder``, the CSV importer), and on what they
keep writing in the older versions (``binned=False``: 1.0, a trailer after every block)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import hidpack
from hidpack import io_csv

MAGIC = (0x184D2A58).to_bytes(4, "little")


def tags_after_blocks(path: Path) -> list:
    """The record tag right after each block's data frame (None: no hidpack record there)."""
    raw = path.read_bytes()
    out = []
    for b in hidpack.open(path).blocks():
        end = int(b["offset"]) + int(b["length"])
        out.append(raw[end + 8:end + 12].decode() if raw[end:end + 4] == MAGIC else None)
    return out


def _keys(n: int) -> dict:
    native = np.arange(n) % 26 + 65
    return {
        "t": np.arange(n, dtype=np.int64) * 90_000_000,
        "kind": np.full(n, "key"),
        "pressed": np.arange(n) % 2 == 0,
        "native": native,
        "usage": native - 61,
    }


def test_write_table_leaves_out_only_the_last_trailer(tmp_path: Path) -> None:
    one, many, plain = tmp_path / "one.hpk", tmp_path / "many.hpk", tmp_path / "plain.hpk"
    hidpack.write_table(one, _keys(300))
    hidpack.write_table(many, _keys(300), block_events=64)
    hidpack.write_table(plain, _keys(300), block_events=64, binned=False)
    assert hidpack.open(one).header["version"] == "1.4"  # 1.3 and 1.4 keep the 1.2 layout (FORMAT §9)
    assert tags_after_blocks(one) == ["HPKX"]
    assert tags_after_blocks(many) == ["HPKT"] * 4 + ["HPKX"]
    # binned=False still writes format 1.0: a full trailer after every block, the 1.0 index
    assert hidpack.open(plain).header["version"] == "1.0"
    assert tags_after_blocks(plain) == ["HPKB"] * 5
    for p in (one, many, plain):
        rec = hidpack.open(p)
        assert rec.header["layout"] == "index" and rec.verify()["ok"], p
        assert np.array_equal(rec.table()["native"], _keys(300)["native"])


def test_recorder_files_end_their_last_block_with_the_index(tmp_path: Path) -> None:
    p = tmp_path / "r.hpk"
    with hidpack.Recorder(p, clock="event") as rec:
        for i in range(50):
            assert rec.key(4 + i % 3, i % 2 == 0, native=65 + i % 3, t=i * 1000)
    assert not Path(str(p) + ".wal").exists()
    assert tags_after_blocks(p) == ["HPKX"]
    assert len(hidpack.open(p).table()["t"]) == 50


def test_imported_sessions_use_the_1_2_layout(tmp_path: Path) -> None:
    src = tmp_path / "keys.csv"
    src.write_text("t_ns,kind,x,y,button,session\n"
                   + "".join("%d,%s,,,%d,p%d\n" % (i * 50_000_000, ("key_down", "key_up")[i % 2], 65 + i % 5, i // 40)
                             for i in range(120)))
    io_csv.import_csv(src, tmp_path / "out")
    files = sorted((tmp_path / "out").glob("*.hpk"))
    assert len(files) == 3
    for f in files:
        assert hidpack.open(f).header["version"] == "1.4"  # with 1.2's layout
        assert tags_after_blocks(f) == ["HPKX"], f
