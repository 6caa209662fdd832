"""Where the bytes of hidpack files go: header, data frames, block trailers, index, seek table,
and inside the block payloads each column chunk (before zstd), summed over a set of files.

    PYTHONPATH=python python3 benches/size_breakdown.py DIR_OR_FILES... [--pcodec-bpe X]

Frames are found by walking the file (FORMAT.md §1: a concatenation of zstd frames); column
bytes come from ``Recording.chunks()`` (pre-zstd chunk bodies). ``zstd framing`` is a data
frame's length minus the payload bytes it holds when zstd stored it smaller or larger.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from collections import Counter
from typing import Dict, Iterable, List


def _files(args: Iterable[str]) -> List[str]:
    out: List[str] = []
    for a in args:
        if os.path.isdir(a):
            out += sorted(os.path.join(a, f) for f in os.listdir(a) if f.endswith(".hpk"))
        else:
            out.append(a)
    return out


def _frames(b: bytes) -> Dict[str, int]:
    """Bytes per frame role of one file, by walking its frames."""
    sizes: Counter = Counter()
    pos = 0
    first = True
    while pos + 8 <= len(b):
        magic, size = struct.unpack_from("<II", b, pos)
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            n = 8 + size
            if first:
                role = "header"
                md_len = struct.unpack_from("<I", b, pos + 8 + 33)[0]
                sizes["header: metadata JSON"] += md_len
                n_rest = n - md_len
                sizes["header: fixed + created_by + framing"] += n_rest
                pos += n
                first = False
                continue
            if magic == 0x184D2A5E:
                role = "seek table"
            else:
                roles = {b"HPKB": "block trailers", b"HPKT": "block trailers", b"HPKI": "index", b"HPKX": "index"}
                role = roles.get(b[pos + 8:pos + 12], "other records")
            sizes[role] += n
            pos += n
        else:  # a data frame: its length is in the block list, found below
            raise ValueError("unexpected data frame")
    return sizes


def breakdown(paths: List[str]) -> Dict[str, object]:
    import hidpack

    tot: Counter = Counter()
    cols: Counter = Counter()
    events = 0
    for p in paths:
        b = open(p, "rb").read()
        rec = hidpack.open(p)
        blocks = rec._reader.blocks()
        # blank the data frames out so the frame walk sees records only
        rest = bytearray()
        pos = 0
        for blk in blocks:
            off, ln = int(blk["offset"]), int(blk["length"])
            rest += b[pos:off]
            pos = off + ln
            tot["data frames"] += ln
            events += int(blk["events"])
        rest += b[pos:]
        payload = 0
        for c in rec.chunks():
            name = "%s.%s" % (c["kind"] or "-", c["field"])
            cols[name] += int(c["bytes"])
            payload += int(c["bytes"])
        tot["(payload column bytes, pre-zstd)"] += payload
        tot.update(_frames(bytes(rest)))
        tot["file bytes"] += len(b)
    return {"files": len(paths), "events": events, "totals": tot, "columns": cols}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--pcodec-bpe", type=float, default=None, help="pcodec bytes/event to compare with")
    a = ap.parse_args(argv)
    paths = _files(a.paths)
    r = breakdown(paths)
    n, ev = r["files"], r["events"]
    tot: Counter = r["totals"]  # type: ignore[assignment]
    print("%d files, %d events (%.0f events/file)" % (n, ev, ev / max(n, 1)))
    print("%-44s %12s %10s %8s" % ("part", "bytes", "B/file", "B/event"))
    for k in sorted(tot, key=lambda k: -tot[k]):
        print("%-44s %12d %10.1f %8.3f" % (k, tot[k], tot[k] / n, tot[k] / ev))
    print("columns (chunk bodies before zstd):")
    cols: Counter = r["columns"]  # type: ignore[assignment]
    for k in sorted(cols, key=lambda k: -cols[k]):
        print("  %-42s %12d %10.1f %8.3f" % (k, cols[k], cols[k] / n, cols[k] / ev))
    if a.pcodec_bpe:
        print("size x pcodec: %.3f" % (tot["file bytes"] / ev / a.pcodec_bpe))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
