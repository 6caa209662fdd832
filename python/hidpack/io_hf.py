"""Export of recordings to a Hugging Face ``datasets`` dataset on disk: :func:`export_hf`
(``hidpack export FILES... --to hf -o DIR``).

One row per sample of a sample maker (:mod:`hidpack.samples`; ``unit="episode"``: one row per
file, or per ``window`` seconds of it). Each file's samples become one Arrow record batch of
the dataset's schema (list columns built over the concatenated numpy arrays: no per-event Python
work), streamed to an Arrow file (one file in memory at a time, so a fleet larger than memory is
fine), which ``datasets.Dataset.from_file`` maps and ``save_to_disk`` saves;
``datasets.load_from_disk(DIR)`` reads it back. A row has the sample's columns: ``path``,
``file``, ``metadata`` (as JSON text: metadata keys differ between files, a column's type cannot),
``wall_clock_ns`` (null when unknown), then one struct per kind of lists (``row["move"]["x"]``),
optional numeric fields as values plus ``<field>_valid``, strings null where absent. So
``load_from_disk(DIR).with_format("numpy")`` gives back what :class:`hidpack.dataset.FleetDataset`
gives, event for event.

``DIR`` is written whole or not at all: the dataset is built in a temporary directory beside it
and renamed into place. An existing ``DIR`` is replaced only with ``overwrite=True`` (``--force``),
and only if it is a saved dataset (it holds ``state.json``) or empty: nothing else is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from ._io import ExportReport, PathLike
from .fleet import expand_paths
from .samples import file_samples, sample_maker

__all__ = ["export_hf", "hf_features"]

_VALUE = {"str": "string", "json": "string", "int": "int64", "coord": "float64", "bool": "bool"}


def hf_features(schema: Dict[str, Any]) -> Any:
    """``datasets.Features`` of a sample maker's ``schema()``."""
    import datasets

    def feature(spec: Any) -> Any:
        if isinstance(spec, dict):
            return {name: feature(v) for name, v in spec.items()}
        if isinstance(spec, list):
            return datasets.List(feature(spec[0]))
        return datasets.Value(_VALUE[spec])

    return datasets.Features({name: feature(v) for name, v in schema.items()})


_ARROW = {"str": "string", "json": "string", "int": "int64", "coord": "float64", "bool": "bool_"}
_NUMPY = {"int": np.int64, "coord": np.float64, "bool": np.bool_}


def _arrow_column(pa: Any, values: List[Any], spec: Any) -> Any:
    """One column of a record batch from the samples' ``values`` (``spec`` as in ``schema()``):
    arrays become a list array over their concatenation (no per-element Python work)."""
    if isinstance(spec, dict):
        fields = [_arrow_column(pa, [v[name] for v in values], sub) for name, sub in spec.items()]
        return pa.StructArray.from_arrays(fields, names=list(spec))
    if isinstance(spec, list):
        lengths = np.array([len(v) for v in values], dtype=np.int64)
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] >= 2**31:
            raise ValueError(f"{int(offsets[-1]):,} values in one column of one file: over Arrow's 2**31 per list column")
        if spec[0] == "str":
            flat = pa.array([x for v in values for x in v], pa.string())
        else:
            dtype = _NUMPY[spec[0]]
            flat = pa.array(np.concatenate([np.asarray(v, dtype=dtype) for v in values]) if values else np.empty(0, dtype))
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), flat)
    if spec == "json":
        return pa.array([json.dumps(v, ensure_ascii=False, sort_keys=True) for v in values], pa.string())
    return pa.array(values, getattr(pa, _ARROW[spec])())


#: A record batch is written once it holds this many events or rows (whole files: a batch
#: of short files shares the per-column cost of building it; one long file is its own batch).
BATCH_EVENTS = 1 << 20
BATCH_ROWS = 256


def _events(sample: Dict[str, Any], schema: Dict[str, Any]) -> int:
    """The rows of a sample, for batching: its per-kind columns' rows (episodes), or its bins
    and ragged events (bins)."""
    rows = len(sample.get("t", ()))
    for name, spec in schema.items():
        if isinstance(spec, dict):
            col = sample[name]
            rows += len(col["t"] if "t" in col else col["dt"])
    return rows


def _record_batch(pa: Any, samples: List[Dict[str, Any]], schema: Dict[str, Any], arrow_schema: Any) -> Any:
    columns = [_arrow_column(pa, [s[name] for s in samples], spec) for name, spec in schema.items()]
    return pa.RecordBatch.from_arrays(columns, schema=arrow_schema)


def _check_out(out: str, overwrite: bool) -> None:
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise FileExistsError(f"{out}: already exists; pass --force (overwrite=True) to replace it")
    if not os.path.isdir(out) or os.path.islink(out):
        raise FileExistsError(f"{out}: exists and is not a directory; not replaced (remove it yourself)")
    if os.listdir(out) and not os.path.isfile(os.path.join(out, "state.json")):
        raise FileExistsError(
            f"{out}: exists and is not a saved Hugging Face dataset (no state.json); not replaced (remove it yourself)"
        )


def export_hf(
    recording_paths: Union[PathLike, Iterable[PathLike]],
    out: PathLike,
    *,
    unit: str = "episode",
    kinds: Optional[Sequence[str]] = None,
    window: Optional[float] = None,
    fps: Optional[Any] = None,
    overwrite: bool = False,
    on_file: Optional[Callable[[str], None]] = None,
) -> ExportReport:
    """Write the samples (``unit``: a name in :data:`hidpack.samples.SAMPLES`, built with
    ``kinds`` and ``window`` for episodes, ``fps`` for bins) of every recording (files, directories of ``*.hpk``, glob patterns)
    as a Hugging Face dataset saved in the directory ``out``. A recording that cannot be read
    whole raises (its path leads the message) and leaves ``out`` as it was. ``on_file(path)`` is
    called after each recording (progress)."""
    out = os.fspath(out)
    sources = [recording_paths] if isinstance(recording_paths, (str, os.PathLike)) else list(recording_paths)
    paths = expand_paths(sources)
    if not paths:
        raise ValueError("no recordings to export")
    options = {k: v for k, v in (("kinds", kinds), ("window", window), ("fps", fps)) if v is not None}
    maker = sample_maker(unit, **options)
    schema = maker.schema()
    _check_out(out, overwrite)
    import datasets  # (after the checks: it takes seconds to import)
    import pyarrow as pa
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    t0 = time.perf_counter()
    report = ExportReport(out=out, to="hf")
    features = hf_features(schema)
    arrow_schema = features.arrow_schema  # (a property that rebuilds it on every call)
    parent = os.path.dirname(os.path.abspath(out))
    work = tempfile.mkdtemp(prefix=".hidpack-hf-", dir=parent)
    bars = is_progress_bar_enabled()
    disable_progress_bar()  # ours counts files; theirs would count rows again
    try:
        # record batches of whole files (about BATCH_EVENTS events or BATCH_ROWS rows each),
        # streamed to an Arrow file that datasets maps
        arrow_path = os.path.join(work, "rows.arrow")
        with pa.OSFile(arrow_path, "wb") as sink, pa.ipc.new_stream(sink, arrow_schema) as writer:
            pending: List[Dict[str, Any]] = []
            events = 0
            for i, path in enumerate(paths):
                for sample in file_samples(maker, path, i, threads=None):
                    pending.append(sample)
                    events += _events(sample, schema)
                report.recordings += 1
                if pending and (events >= BATCH_EVENTS or len(pending) >= BATCH_ROWS or i == len(paths) - 1):
                    writer.write_batch(_record_batch(pa, pending, schema, arrow_schema))
                    report.rows += len(pending)
                    pending, events = [], 0
                if on_file is not None:
                    on_file(path)
        ds = datasets.Dataset.from_file(arrow_path, info=datasets.DatasetInfo(features=features))
        ds.save_to_disk(os.path.join(work, "dataset"))
        del ds  # it maps the file about to go
        if os.path.lexists(out):
            _check_out(out, overwrite)  # still what it was when we started
            os.rename(out, os.path.join(work, "replaced"))
        os.rename(os.path.join(work, "dataset"), out)
    finally:
        if bars:
            enable_progress_bar()
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report
