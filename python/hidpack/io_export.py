"""Export of recordings to CSV, JSON Lines or Parquet: :func:`export`.

* ``to="csv"``: the normalized CSV layout of ``shared/data`` (:func:`hidpack.io_csv.export_csv`);
  kinds the layout cannot hold are left out and counted in the report.
* ``to="jsonl"``: one JSON object per event, ``{"t": ..., "kind": "move", <present fields>}``
  (absent fields are left out; integral coordinates print as integers). With several recordings,
  each object starts with ``"session"`` (the ``session`` metadata entry, else the file stem).
* ``to="mcap"``: OWAMcap (Open World Agents' MCAP profile), one file per recording; what it
  cannot carry is left out and counted (:mod:`hidpack.io_mcap_export`).
* ``to="parquet"``: ``Recording.to_arrow()`` with every field named (null = absent: one schema
  for every recording, whatever fields it holds) written with pyarrow (zstd); with several
  recordings a ``session`` column (dictionary-encoded) comes first.

``out`` ending in ``.zst`` / ``.gz`` compresses CSV and JSONL output.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Iterable, List, Optional, Union

import numpy as np

from ._io import (
    FIELD_KINDS,
    FIELD_ORDER,
    KINDS,
    ExportReport,
    PathLike,
    expand_recordings,
    field,
    open_recording,
)

__all__ = ["export", "FORMATS", "jsonl_lines", "guess_format"]

FORMATS = ("csv", "jsonl", "parquet", "mcap")

#: Every field, named so that a Parquet export keeps the all-null ones (a read leaves them out).
_EVERY_FIELD = list(FIELD_ORDER)


def guess_format(out: str) -> Optional[str]:
    name = out.lower()
    for suffix in (".zst", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    for fmt, exts in (
        ("csv", (".csv",)), ("jsonl", (".jsonl", ".ndjson")), ("parquet", (".parquet", ".pq")), ("mcap", (".mcap",))
    ):
        if name.endswith(exts):
            return fmt
    return None


def _session_of(path: str, md: dict) -> str:
    s = md.get("session")
    return s if isinstance(s, str) else os.path.splitext(os.path.basename(path))[0]


def _open_text_out(out: str) -> List[Any]:
    """[stream, *to_close] for a binary output, compressed by extension."""
    fh = open(out, "wb")
    if out.endswith(".zst"):
        import zstandard

        w = zstandard.ZstdCompressor(level=3, threads=-1).stream_writer(fh, closefd=False)
        return [w, w, fh]
    if out.endswith(".gz"):
        import gzip

        g = gzip.GzipFile(fileobj=fh, mode="wb")
        return [g, g, fh]
    return [fh, fh]


def jsonl_lines(table: dict, session: Optional[str] = None) -> Any:
    """One JSON object per event of a read table, as a pyarrow string array of lines (``\\n``-ended)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .io_csv import _coord_text

    t = np.asarray(table["t"], dtype=np.int64)
    n = len(t)
    if n == 0:
        return pa.array([], pa.string())
    kind = np.asarray(table["kind"]).astype(np.int32)
    frags: List[Any] = []
    if session is not None:
        frags.append(pa.scalar('"session":' + json.dumps(session, ensure_ascii=False)))
    frags.append(pc.binary_join_element_wise(pa.scalar('"t":'), pc.cast(pa.array(t), pa.string()), ""))
    frags.append(
        pa.DictionaryArray.from_arrays(
            pa.array(kind), pa.array(['"kind":' + json.dumps(k) for k in KINDS])
        ).dictionary_decode()
    )
    for name in FIELD_ORDER:
        typ = FIELD_KINDS[name][0]
        if typ == "str":
            if name + "_offsets" not in table and name not in table:
                continue
            from ._io import string_column

            values = string_column(table, name)
            if all(v is None for v in values):
                continue
            enc = pa.array(values, pa.string()).dictionary_encode()
            dic = pa.array(
                ['"%s":%s' % (name, json.dumps(v, ensure_ascii=False)) for v in enc.dictionary.to_pylist()],
                pa.string(),
            )
            frags.append(pa.DictionaryArray.from_arrays(enc.indices, dic).dictionary_decode())
            continue
        if name not in table:
            continue
        vals, valid = field(table, name)
        if not valid.any():
            continue
        if typ == "coord":
            text = _coord_text(vals, valid)
        elif typ == "bool":
            text = pc.if_else(pa.array(np.asarray(vals, bool)), pa.scalar("true"), pa.scalar("false"))
        else:
            text = pc.cast(pa.array(np.asarray(vals, np.int64)), pa.string())
        text = pc.binary_join_element_wise(pa.scalar('"%s":' % name), text, "")
        frags.append(pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string())))
    body = pc.binary_join_element_wise(*frags, ",", null_handling="skip")
    return pc.binary_join_element_wise(pa.scalar("{"), body, pa.scalar("}\n"), "")


def _write_lines(fh: Any, lines: Any) -> None:
    from .io_csv import _write_array_bytes

    _write_array_bytes(fh, lines)


def export(
    recording_paths: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    to: Optional[str] = None,
    on_file: Optional[Callable[[str], None]] = None,
) -> ExportReport:
    """Export recordings (files or directories of ``*.hpk``) to ``out`` as ``to``
    (``"csv"``, ``"jsonl"`` or ``"parquet"``; guessed from ``out``'s extension when ``None``).
    ``on_file(path)`` is called after each recording is written (progress)."""
    out = os.fspath(out)
    if to is None:
        to = guess_format(out)
        if to is None:
            raise ValueError("cannot tell the export format from %r: pass to='csv'|'jsonl'|'parquet'" % out)
    if to not in FORMATS:
        raise ValueError("unknown export format %r (expected one of %s)" % (to, ", ".join(FORMATS)))
    paths = expand_recordings(recording_paths)
    if not paths:
        raise ValueError("no recordings to export")
    if to == "csv":
        from .io_csv import export_csv

        return export_csv(paths, out, on_file=on_file)
    if to == "mcap":  # OWAMcap, one file per recording: see hidpack.io_mcap_export
        from .io_mcap_export import export_mcap

        return export_mcap(paths, out, on_file=on_file)
    t0 = time.perf_counter()
    report = ExportReport(out=out, to=to)
    many = len(paths) > 1
    if to == "jsonl":
        streams = _open_text_out(out)
        try:
            for p in paths:
                rec = open_recording(p)
                md = dict(rec.metadata or {})
                table = rec.table()
                lines = jsonl_lines(table, _session_of(p, md) if many else None)
                _write_lines(streams[0], lines)
                report.rows += len(lines)
                report.recordings += 1
                if on_file is not None:
                    on_file(p)
        finally:
            for s in streams[1:]:
                s.close()
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for p in paths:
                rec = open_recording(p)
                tbl = rec.to_arrow(columns=_EVERY_FIELD)  # (one writer: one schema)
                if many:
                    session = _session_of(p, dict(rec.metadata or {}))
                    col = pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(tbl.num_rows, np.int32)), pa.array([session], pa.string())
                    )
                    tbl = tbl.add_column(0, pa.field("session", col.type, nullable=False), col)
                if writer is None:
                    writer = pq.ParquetWriter(out, tbl.schema, compression="zstd")
                writer.write_table(tbl)
                report.rows += tbl.num_rows
                report.recordings += 1
                if on_file is not None:
                    on_file(p)
        finally:
            if writer is not None:
                writer.close()
    report.seconds = time.perf_counter() - t0
    return report
