"""Tokens per event of hidpack's tokenizer against two text encodings of the same events, and
encode/decode throughput through the Python API (one thread).

    python benches/tokens_compare.py --quick     # CI: the first 200,000 rows of each CSV corpus (~15 s)
    python benches/tokens_compare.py             # every event of every corpus (baselines on a sample)

Corpora (from ``$HIDPACK_DATA``, default ``../shared/data``; never copied here): balabit-mouse,
aalto136m-keys (both CSV, every session), ducktrack-example, the four owa-mcap files.

Baselines, counted fairly: no BPE vocabulary is available offline, so a text encoding is counted
in *pre-tokenizer pieces* of the GPT-2 regex (the split a GPT-2 / tiktoken BPE does before
merging; every piece is at least one BPE token, so the count is a lower bound that favours the
baselines). OWA's special tokens (``<EVENT_START>``, ``<EVENT_END>``) count as one token each.

* ``jsonl``: one JSON object per event, ``{"t": ns since start, "kind": ..., fields present}``;
* ``owa-json``: the shape of Open World Agents' JSONEventEncoder (``<EVENT_START>`` + a JSON
  McapMessage with topic, absolute ``timestamp`` in ns, ``message_type`` and the message as JSON
  text + ``<EVENT_END>``), with OWA's message names for mouse / keyboard events.

hidpack tokens: ``lossless`` (exact) and ``default`` (1 ms, whole pixels, native codes dropped).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import regex
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shared_data import data_file  # noqa: E402

from hidpack import _native, io_csv, io_ducktrack, io_owa, tokens  # noqa: E402
from hidpack._table import KINDS, decode_strings, to_native_table  # noqa: E402

GPT2 = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
OWA_SPECIAL = ("<EVENT_START>", "<EVENT_END>")
QUICK_ROWS = 200_000
EPOCH_NS = 1_745_362_786_814_673_800  # an absolute clock like OWA's (its timestamps are Unix ns)


def pieces(text: str) -> int:
    """GPT-2 pre-tokenizer pieces of ``text``, OWA's special tokens as one each."""
    n = 0
    for s in OWA_SPECIAL:
        n += text.count(s)
        text = text.replace(s, " ")
    return n + len(GPT2.findall(text))


def rows(table: dict[str, Any], limit: int) -> Iterator[dict[str, Any]]:
    """The events of a reader-form table as dicts of the fields present (first ``limit``)."""
    n = min(len(table["t"]), limit)
    cols: dict[str, Any] = {}
    for name in table:
        if name.endswith("_valid"):
            f = name[: -len("_valid")]
            if f + "_offsets" in table:
                cols[f] = (decode_strings(table[f + "_offsets"], table[f + "_data"], table[name]), table[name])
            else:
                cols[f] = (table[f], table[name])
    for i in range(n):
        r: dict[str, Any] = {"t": int(table["t"][i]), "kind": KINDS[int(table["kind"][i])]}
        for f, (vals, valid) in cols.items():
            if valid[i]:
                v = vals[i]
                r[f] = v.item() if hasattr(v, "item") else v
        yield r


def jsonl(r: dict[str, Any]) -> str:
    return json.dumps(r, separators=(",", ":"), ensure_ascii=False)


def owa_json(r: dict[str, Any]) -> str:
    k = r["kind"]
    if k in ("move", "button", "scroll", "raw_move"):
        topic, mtype = ("mouse/raw", "desktop/RawMouseEvent") if k == "raw_move" else ("mouse", "desktop/MouseEvent")
        msg: dict[str, Any] = {"event_type": {"move": "move", "button": "click", "scroll": "scroll", "raw_move": "move"}[k]}
        for src, dst in (("x", "x"), ("y", "y"), ("dx", "dx"), ("dy", "dy"), ("button", "button"), ("pressed", "pressed")):
            if src in r:
                msg[dst] = r[src]
    elif k == "key":
        topic, mtype = "keyboard", "desktop/KeyboardEvent"
        msg = {"event_type": "press" if r["pressed"] else "release", "vk": r.get("native", r.get("usage"))}
    else:
        topic, mtype = k, f"hidpack/{k}"
        msg = {f: v for f, v in r.items() if f not in ("t", "kind")}
    m = {"topic": topic, "timestamp": EPOCH_NS + r["t"], "message_type": mtype, "message": json.dumps(msg, separators=(",", ":"))}
    return f"<EVENT_START>{json.dumps(m, separators=(',', ':'))}<EVENT_END>"


def corpora(quick: bool) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(name, list of write tables) per corpus."""
    for name in ("balabit-mouse", "aalto136m-keys"):
        src: Any = data_file(name, "events.csv.zst")
        if quick:  # the sessions of the first 200,000 rows
            with open(src, "rb") as f:
                text = zstandard.ZstdDecompressor().stream_reader(f).read(QUICK_ROWS * 80)
            src = io.BytesIO(b"\n".join(text.split(b"\n")[:QUICK_ROWS]) + b"\n")
        yield name, [s.table for s in io_csv.read_csv_sessions(src)]
    yield "ducktrack-example", [io_ducktrack.read_ducktrack(data_file("ducktrack-example", "events.jsonl"))[0]]
    owa = [io_owa.read_owa(data_file("owa-mcap", f + ".mcap"))[0] for f in ("0.3.2", "0.4.2", "0.5.1", "example")]
    yield "owa-mcap", owa


def timed(f: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.thread_time()
    out = f(*args, **kw)
    return out, time.thread_time() - t0


def measure(name: str, tables: list[dict[str, Any]], sample: int) -> dict[str, Any]:
    native = [to_native_table(t) for t in tables]
    events = sum(len(t["t"]) for t in native)
    out: dict[str, Any] = {"corpus": name, "files": len(native), "events": events}
    for mode, kw in (("lossless", {"time_unit": None, "coord_unit": None, "native": True}),
                     ("default", {"time_unit": 1_000_000, "coord_unit": 65536, "native": False})):
        n_tok, t_enc, t_dec = 0, 0.0, 0.0
        for t in native:
            (toks, _), dt = timed(_native.tokens_encode, t, **kw)
            _, dd = timed(_native.tokens_decode, toks)
            n_tok, t_enc, t_dec = n_tok + len(toks), t_enc + dt, t_dec + dd
        out[mode] = {"tokens_per_event": n_tok / events, "encode_Mtok_s": n_tok / t_enc / 1e6, "decode_Mtok_s": n_tok / t_dec / 1e6}
    # baselines on the first `sample` events of the corpus (its files in order, in the reader's form)
    counts = {"jsonl": 0, "owa-json": 0}
    n = 0
    for t in native:
        if n >= sample:
            break
        table = tokens.decode(_native.tokens_encode(t, time_unit=None, coord_unit=None)[0])
        for r in rows(table, sample - n):
            counts["jsonl"] += pieces(jsonl(r))
            counts["owa-json"] += pieces(owa_json(r))
            n += 1
    for k, v in counts.items():
        out[k] = v / n
    out["baseline_events"] = n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"the sessions in the first {QUICK_ROWS:,} rows of each CSV corpus")
    ap.add_argument("--sample", type=int, default=None, help="events per corpus for the text baselines")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    sample = a.sample or (10_000 if a.quick else 100_000)
    results = []
    print(f"{'corpus':<18} {'events':>9} | {'tokens/event':>25} | {'text baselines (GPT-2 pieces)':>30} | {'M tokens/s, 1 thread (enc / dec)':>33}")
    print(f"{'':<18} {'':>9} | {'lossless':>12} {'1ms,1px':>12} | {'jsonl':>14} {'owa-json':>15} | {'lossless':>16} {'1ms,1px':>16}")
    for name, tables in corpora(a.quick):
        r = measure(name, tables, sample)
        results.append(r)
        lo, de = r["lossless"], r["default"]
        print(f"{name:<18} {r['events']:>9} | {lo['tokens_per_event']:>12.2f} {de['tokens_per_event']:>12.2f} | "
              f"{r['jsonl']:>14.1f} {r['owa-json']:>15.1f} | "
              f"{lo['encode_Mtok_s']:>7.1f} / {lo['decode_Mtok_s']:>6.1f} {de['encode_Mtok_s']:>7.1f} / {de['decode_Mtok_s']:>6.1f}")
        assert lo["tokens_per_event"] < r["jsonl"] and lo["tokens_per_event"] < r["owa-json"], name
    print("(throughput: Python API end to end, table conversion included, thread CPU time; baselines on the first "
          f"{sample:,} events of each corpus)")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
