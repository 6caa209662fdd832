"""hidpack: a compact, crash-safe, seekable file format for human computer input.

>>> import hidpack
>>> hidpack.write_table("s.hpk", {"t": [0, 8_000_000], "kind": "move", "x": [10.0, 12.5], "y": [5.0, 6.0]})
>>> rec = hidpack.open("s.hpk")
>>> rec.moves().x
array([10. , 12.5])

Names that need the native extension (``open``, ``write_table``, the error classes, ...) are
loaded on first use, so the pure-Python parts (``KINDS``, ``FIELDS``, ``Columns``) import even
where the extension is not built.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._table import FIELDS, GAP_REASONS, KINDS, Columns

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__: str = _version("hidpack")
except PackageNotFoundError:
    __version__ = "0+unknown"

_LAZY: dict[str, tuple[str, str]] = {
    "open": ("recording", "open"),
    "Recording": ("recording", "Recording"),
    "write_table": ("writing", "write_table"),
    "Writer": ("writing", "Writer"),
    "Recorder": ("recorder", "Recorder"),
    "now": ("recorder", "now"),
    "recover": ("recording", "recover"),
    "read_many": ("fleet", "read_many"),
    "read_pandas": ("fleet", "read_pandas"),
    "read_dask": ("fleet", "read_dask"),
    "FleetTable": ("fleet", "FleetTable"),
    "scan_polars": ("scan", "scan_polars"),
    "HidpackError": ("_native", "HidpackError"),
    "FormatError": ("_native", "FormatError"),
    "CorruptBlockError": ("_native", "CorruptBlockError"),
    "TruncatedError": ("_native", "TruncatedError"),
    "UnsupportedVersionError": ("_native", "UnsupportedVersionError"),
    "EventValueError": ("_native", "EventValueError"),
    "ImportFormatError": ("_errors", "ImportFormatError"),
    "MetadataError": ("_errors", "MetadataError"),
}

__all__ = [
    "open",
    "write_table",
    "Writer",
    "Recorder",
    "now",
    "recover",
    "read_many",
    "read_pandas",
    "read_dask",
    "FleetTable",
    "scan_polars",
    "Recording",
    "Columns",
    "KINDS",
    "FIELDS",
    "GAP_REASONS",
    "HidpackError",
    "FormatError",
    "CorruptBlockError",
    "TruncatedError",
    "UnsupportedVersionError",
    "EventValueError",
    "ImportFormatError",
    "MetadataError",
    "__version__",
]

if TYPE_CHECKING:
    from ._native import (
        CorruptBlockError,
        EventValueError,
        FormatError,
        HidpackError,
        TruncatedError,
        UnsupportedVersionError,
    )
    from ._errors import ImportFormatError, MetadataError
    from .fleet import FleetTable, read_dask, read_many, read_pandas
    from .recorder import Recorder, now
    from .scan import scan_polars
    from .recording import Recording, open, recover
    from .writing import Writer, write_table


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hidpack' has no attribute {name!r}") from None
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except ImportError as e:
        if importlib.util.find_spec(f"{__name__}._native") is None:
            raise ImportError(
                f"hidpack.{name} needs the native extension hidpack._native, which is not built or "
                "not installed (from a source checkout: `maturin develop`)"
            ) from e
        raise
    value = getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
