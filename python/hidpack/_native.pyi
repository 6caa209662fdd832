# Stubs for the native extension `hidpack._native` (rust/hidpack-py).
# The contract is docs/ARCHITECTURE.md; checked with `python -m mypy.stubtest hidpack._native`.
import os
from types import TracebackType
from typing import Any, Protocol, Sequence, final

import numpy as np
import numpy.typing as npt

from typing_extensions import Self, disjoint_base

__all__ = [
    "HidpackError",
    "FormatError",
    "CorruptBlockError",
    "TruncatedError",
    "UnsupportedVersionError",
    "EventValueError",
    "PolicyError",
    "TokenError",
    "tokens_encode",
    "tokens_decode",
    "tokens_names",
    "tokens_vocab",
    "Policy",
    "PolicySession",
    "key_class",
    "Writer",
    "Reader",
    "Recorder",
    "now",
    "recover",
    "read_many",
    "actions",
    "Prepared",
    "prepare_table",
    "encode_table",
    "KINDS",
    "FORMAT_VERSION",
    "READ_MANY_COUNT_FILES",
    "FIELDS",
    "__version__",
]

__version__: str
KINDS: tuple[str, ...]
READ_MANY_COUNT_FILES: int
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

class PolicyError(HidpackError, ValueError): ...

class TokenError(HidpackError, ValueError):
    position: int  # index of the token where decoding failed
    token: int | None  # the id there; None when the stream ended

# hidpack.tokens (docs/TOKENS.md)
def tokens_encode(
    table: dict[str, Any],
    *,
    time_unit: int | None = None,
    coord_unit: int | None = None,
    kinds: list[str] | None = None,
    native: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]: ...
def tokens_decode(tokens: np.ndarray) -> dict[str, Any]: ...
def tokens_names(tokens: np.ndarray) -> list[str]: ...
def tokens_vocab() -> dict[str, Any]: ...

@final
class Policy:
    def __new__(cls, spec: str) -> Self: ...  # JSON: {"name", "keys", "text", "titles", "rules", "title_key"}
    def describe(self) -> str: ...  # JSON text, never the title key
    @property
    def is_off(self) -> bool: ...
    def settings(self, app: str | None = None, title: str | None = None) -> tuple[str, str, str]: ...
    def session(self) -> PolicySession: ...

@final
class PolicySession:
    def focus(self, app: str | None = None, title: str | None = None) -> tuple[str | None, str | None]: ...
    def key(self, usage: int | None, native: int | None = None) -> tuple[int | None, int | None] | None: ...
    def keep_text(self) -> bool: ...
    def hash_title(self, title: str) -> str: ...
    def apply(self, table: Prepared) -> Prepared: ...
    def report(self) -> dict[str, dict[str, int]]: ...

def key_class(usage: int | None) -> int: ...
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
        binned: bool = True,
        overwrite: bool = False,
        atomic: bool = False,
        clock_grid: bool | None = None,  # None: the core writer's default
    ) -> Self: ...
    def write_table(self, table: dict[str, Any] | Prepared) -> None: ...
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
class Prepared:
    def __len__(self) -> int: ...

def prepare_table(table: dict[str, Any]) -> Prepared: ...
def encode_table(
    table: dict[str, Any] | Prepared,
    *,
    metadata: str = ...,  # JSON object text; default "{}"
    wall_clock_ns: int | None = None,
    level: int = 3,
    block_events: int = 65536,
    block_span_ns: int | None = None,
    binned: bool = True,
    clock_grid: bool | None = None,  # None: the core writer's default
) -> tuple[bytes, dict[str, int]]: ...

class _RangeFile(Protocol):
    """What a Reader reads a file object through: ``seek(0, 2)`` for its length, then
    ``seek(offset)`` + ``read(n)`` per range."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def read(self, size: int = ..., /) -> bytes: ...

#: A recording to read: a path, its bytes as a uint8 array (read-only: held in place; writable:
#: copied at open), or a binary file object.
_Source = str | os.PathLike[str] | npt.NDArray[np.uint8] | _RangeFile

@final
class Reader:
    def __new__(cls, source: _Source, *, name: str | None = None) -> Self: ...
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
        fields: list[str] | None = None,
        threads: int | None = None,
        layout: str = "table",
    ) -> dict[str, Any]: ...
    def read_kind(
        self,
        kind: str,
        *,
        t0: int | None = None,
        t1: int | None = None,
        blocks: list[int] | None = None,
        fields: list[str] | None = None,
        threads: int | None = None,
    ) -> dict[str, Any]: ...
    def problems(self) -> list[dict[str, Any]]: ...
    def verify(self) -> dict[str, Any]: ...
    def chunks(self) -> list[dict[str, Any]]: ...
    def counts(self) -> dict[str, int]: ...
    def __len__(self) -> int: ...

@disjoint_base
class Recorder:
    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = 1.0,
        ring_capacity: int = 65536,
        level: int = 3,
        block_events: int = 65536,
        block_span: float | None = None,
        metadata: str = ...,  # JSON object text; default "{}"
        clock: str = "monotonic",
        sync: str = "interval",
        tail: bool = True,
        rotate_every: float | None = None,
        rotate_bytes: int | None = None,
        on_close: Any | None = None,
        wall_clock_ns: int | None = None,
        max_batch_backlog: int = 4194304,
        clock_every: float = 60.0,
        policy: Policy | None = None,
        overwrite: bool = False,
        _writer_delay: float | None = None,
    ) -> Self: ...
    def move(self, x: float, y: float, t: int | None = None, buttons: int | None = None) -> bool: ...
    def raw_move(self, dx: float, dy: float, t: int | None = None) -> bool: ...
    def button(
        self, button: int, pressed: bool, x: float | None = None, y: float | None = None, t: int | None = None
    ) -> bool: ...
    def scroll(
        self, dx: float, dy: float, x: float | None = None, y: float | None = None, t: int | None = None
    ) -> bool: ...
    def key(self, usage: int | None, pressed: bool, native: int | None = None, t: int | None = None) -> bool: ...
    def text(self, text: str, t: int | None = None) -> bool: ...
    def focus(
        self,
        app: str | None = None,
        title: str | None = None,
        window: int | None = None,
        rect: tuple[int, int, int, int] | None = None,
        t: int | None = None,
    ) -> bool: ...
    def marker(self, label: str, value: int | None = None, t: int | None = None) -> bool: ...
    def gap(self, count: int, reason: int, t_end: int | None = None, t: int | None = None) -> bool: ...
    def _extend_table(self, table: dict[str, Any] | Prepared) -> None: ...
    def pause(self, t: int | None = None) -> None: ...
    def resume(self, t: int | None = None) -> None: ...
    @property
    def paused(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> str: ...
    def flush(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def file_time(self, t: int) -> int: ...
    def policy_report(self) -> dict[str, dict[str, int]] | None: ...
    @property
    def policy(self) -> str | None: ...
    def close(self) -> dict[str, int]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> bool: ...

def now() -> int: ...
def recover(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, overwrite: bool = False) -> dict[str, Any]: ...
def read_many(
    paths: Sequence[_Source],
    *,
    t0: int | None = None,
    t1: int | None = None,
    kinds: list[str] | None = None,
    fields: list[str] | None = None,
    threads: int | None = None,
    errors: str = "raise",
    names: list[str] | None = None,
    layout: str = "table",  # or "pandas": a DataFrame's columns (NaN / <field>_mask for absent)
) -> tuple[dict[str, Any], list[int], list[int | None], list[dict[str, Any]]]: ...
def actions(
    reader: Reader,
    *,
    edges: list[int] | None = None,
    fps: tuple[int, int] | None = None,
    start: int | None = None,
    end: int | None = None,
    t0: int | None = None,
    t1: int | None = None,
    blocks: list[int] | None = None,
    lossless: bool = False,
    threads: int | None = None,
) -> dict[str, Any]: ...
