# Stubs for the native extension `hidpack._native` (rust/hidpack-py).
# The contract is docs/ARCHITECTURE.md; checked with `python -m mypy.stubtest hidpack._native`.
from types import TracebackType
from typing import Any, final

from typing_extensions import Self

__all__ = [
    "HidpackError",
    "FormatError",
    "CorruptBlockError",
    "TruncatedError",
    "UnsupportedVersionError",
    "EventValueError",
    "Writer",
    "Reader",
    "KINDS",
    "FORMAT_VERSION",
    "FIELDS",
    "__version__",
]

__version__: str
KINDS: tuple[str, ...]
FIELDS: tuple[tuple[str, str, tuple[int, ...], tuple[int, ...]], ...]
FORMAT_VERSION: int

class HidpackError(Exception): ...

class FormatError(HidpackError):
    offset: int  # byte offset where the problem was found (set when raised by a reader)

class CorruptBlockError(FormatError): ...
class TruncatedError(FormatError): ...
class UnsupportedVersionError(FormatError): ...

class EventValueError(HidpackError, ValueError):
    row: int | None  # row of the batch being written, when known
    field: str  # field name, or "t" / "kind"
    value: str  # the offending value, rendered

@final
class Writer:
    def __new__(
        cls,
        path: str,
        *,
        metadata: str = ...,  # JSON object text; default "{}"
        wall_clock_ns: int | None = None,
        level: int = 3,
        block_events: int = 65536,
        block_span_ns: int | None = None,
        sync_on_close: bool = False,
    ) -> Self: ...
    def write_table(self, table: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> dict[str, int]: ...
    def stats(self) -> dict[str, int]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> bool: ...

@final
class Reader:
    def __new__(cls, path: str) -> Self: ...
    @property
    def header(self) -> dict[str, Any]: ...
    def blocks(self) -> list[dict[str, Any]]: ...
    def read(
        self,
        *,
        t0: int | None = None,
        t1: int | None = None,
        kinds: list[str] | None = None,
        blocks: list[int] | None = None,
    ) -> dict[str, Any]: ...
    def problems(self) -> list[dict[str, Any]]: ...
    def verify(self) -> dict[str, Any]: ...
    def counts(self) -> dict[str, int]: ...
    def __len__(self) -> int: ...
