"""Export of recordings to a Hugging Face ``datasets`` dataset on disk: :func:`export_hf`
(``hidpack export FILES... --to hf -o DIR``).

One row per sample of a sample maker (:mod:`hidpack.samples`; ``unit="episode"``: one row per
file, or per ``window`` seconds of it), written with ``datasets.Dataset.from_generator`` (which
streams rows to Arrow files, so a fleet larger than memory is fine) and ``save_to_disk``;
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
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from ._io import ExportReport, PathLike
from .fleet import expand_paths
from .samples import file_samples, sample_maker

__all__ = ["export_hf", "hf_features"]

_VALUE = {"str": "string", "json": "string", "int": "int64", "coord": "float64", "bool": "bool"}


def hf_features(schema: Dict[str, Any]) -> Any:
    """``datasets.Features`` of a sample maker's ``schema()``."""
    import datasets

    list_type = getattr(datasets, "List", None) or datasets.Sequence  # List: datasets >= 4

    def feature(spec: Any) -> Any:
        if isinstance(spec, dict):
            return {name: feature(v) for name, v in spec.items()}
        if isinstance(spec, list):
            return list_type(feature(spec[0]))
        return datasets.Value(_VALUE[spec])

    return datasets.Features({name: feature(v) for name, v in schema.items()})


def _row(sample: Dict[str, Any], schema: Dict[str, Any]) -> Dict[str, Any]:
    """A sample as a row ``datasets`` encodes: dicts of ``"json"`` columns as JSON text, arrays
    of strings as lists (numeric arrays pass as they are)."""
    out: Dict[str, Any] = {}
    for name, spec in schema.items():
        v = sample[name]
        if spec == "json":
            out[name] = json.dumps(v, ensure_ascii=False, sort_keys=True)
        elif isinstance(spec, dict):
            out[name] = _row(v, spec)
        elif isinstance(v, np.ndarray) and v.dtype == object:
            out[name] = v.tolist()
        else:
            out[name] = v
    return out


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
    overwrite: bool = False,
    on_file: Optional[Callable[[str], None]] = None,
) -> ExportReport:
    """Write the samples (``unit``: a name in :data:`hidpack.samples.SAMPLES`, built with
    ``kinds`` and ``window``) of every recording (files, directories of ``*.hpk``, glob patterns)
    as a Hugging Face dataset saved in the directory ``out``. A recording that cannot be read
    whole raises (its path leads the message) and leaves ``out`` as it was. ``on_file(path)`` is
    called after each recording (progress)."""
    out = os.fspath(out)
    sources = [recording_paths] if isinstance(recording_paths, (str, os.PathLike)) else list(recording_paths)
    paths = expand_paths(sources)
    if not paths:
        raise ValueError("no recordings to export")
    options = {k: v for k, v in (("kinds", kinds), ("window", window)) if v is not None}
    maker = sample_maker(unit, **options)
    schema = maker.schema()
    _check_out(out, overwrite)
    import datasets  # (after the checks: it takes seconds to import)
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    t0 = time.perf_counter()
    report = ExportReport(out=out, to="hf")

    def rows() -> Iterator[Dict[str, Any]]:
        for i, path in enumerate(paths):
            for sample in file_samples(maker, path, i, threads=None):
                report.rows += 1
                yield _row(sample, schema)
            report.recordings += 1
            if on_file is not None:
                on_file(path)

    parent = os.path.dirname(os.path.abspath(out))
    work = tempfile.mkdtemp(prefix=".hidpack-hf-", dir=parent)
    bars = is_progress_bar_enabled()
    disable_progress_bar()  # ours counts files; theirs would count rows twice
    try:
        ds = datasets.Dataset.from_generator(
            rows,
            features=hf_features(schema),
            cache_dir=os.path.join(work, "cache"),
            fingerprint=uuid.uuid4().hex,  # a fresh build: nothing to hash or reuse
            # episodes are large rows: write each as it comes; windows in small groups
            writer_batch_size=1 if window is None else 64,
        )
        ds.save_to_disk(os.path.join(work, "dataset"))
        del ds  # its cache files are about to go
        if os.path.lexists(out):
            _check_out(out, overwrite)  # still what it was when we started
            os.rename(out, os.path.join(work, "replaced"))
        os.rename(os.path.join(work, "dataset"), out)
    except datasets.exceptions.DatasetGenerationError as e:
        # the recording's own error (led by its path), not the builder's wrapper
        raise (e.__cause__ or e) from None
    finally:
        if bars:
            enable_progress_bar()
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report
