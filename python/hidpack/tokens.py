"""Events as integer tokens and back: a reversible tokenizer for sequence models.

>>> from hidpack import tokens
>>> enc = tokens.encode(rec)                     # 1 ms, whole pixels (the training default)
>>> enc.tokens                                   # numpy uint32, ids < tokens.VOCAB.size
>>> table = tokens.decode(enc.tokens)            # the reader's table form
>>> exact = tokens.encode(rec, lossless=True)    # decode(exact.tokens) == rec.table(), field for field

The vocabulary (version 1, ``VOCAB``) and the grammar are specified in ``docs/TOKENS.md``; the
work is done by ``hidpack_core::tokens`` in Rust, with the GIL released.

Lossy mode rounds absolute times to ``time_ns`` and positions to ``coord_px`` (halves up) and
sends steps between the rounded values, so errors stay within half a unit and never add up;
``raw_move`` / ``scroll`` amounts are rounded as running sums (every prefix sum within half a
unit). Kinds not asked for are skipped and counted in ``Encoding.skipped``; native key codes
are dropped unless ``keep_native=True`` and counted in ``Encoding.natives_dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import _native
from ._table import KINDS, to_native_table
from .writing import _native_form

__all__ = ["encode", "decode", "describe", "Encoding", "Vocab", "VOCAB", "TokenError"]

TokenError = _native.TokenError

COORD_UNITS_PER_PX = 65536


@dataclass(frozen=True)
class Vocab:
    """The token vocabulary: ``version``, ``size`` (every id is below it) and its id ranges as
    ``(name, first id, count)``, in id order."""

    version: int
    size: int
    ranges: tuple[tuple[str, int, int], ...]
    dt_bits: int
    num_bits: int
    step_radius: int

    def name(self, token: int) -> str:
        """The readable name of one id (``"MOVE +3 -2"``, ``"KEY down 0x04"``, ``"DT 8"``)."""
        return describe([token])[0]


def _vocab() -> Vocab:
    v = _native.tokens_vocab()
    return Vocab(
        version=v["version"],
        size=v["size"],
        ranges=tuple((str(n), int(a), int(c)) for n, a, c in v["ranges"]),
        dt_bits=v["dt_bits"],
        num_bits=v["num_bits"],
        step_radius=v["step_radius"],
    )


VOCAB = _vocab()


@dataclass(frozen=True)
class Encoding:
    """What :func:`encode` made: ``tokens`` (uint32), the units written to the stream's header,
    and what was left out (``skipped``: kind -> events; ``natives_dropped``: key events)."""

    tokens: np.ndarray
    time_ns: int
    coord_px: float
    lossless: bool
    skipped: dict[str, int] = field(default_factory=dict)
    natives_dropped: int = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def per_event(self, events: int) -> float:
        """Tokens per event, for ``events`` events (the header's tokens included)."""
        return len(self.tokens) / events if events else 0.0


def _table_of(source: Any) -> dict[str, Any]:
    """A native write table of a Recording / view (its ``table()``) or of any table form."""
    table = source.table() if hasattr(source, "table") and callable(source.table) else source
    native = _native_form(table)  # a native table as it is; anything else converted
    return to_native_table(table) if native is None else native


def _coord_unit(coord_px: float) -> int:
    units = coord_px * COORD_UNITS_PER_PX
    if not np.isfinite(units) or units < 1 or units != int(units):
        raise ValueError(f"coord_px must be a positive multiple of 1/65536 px, got {coord_px!r}")
    return int(units)


def encode(
    source: Any,
    *,
    lossless: bool = False,
    time_ns: int | None = 1_000_000,
    coord_px: float | None = 1.0,
    kinds: Sequence[str] | None = None,
    keep_native: bool = False,
) -> Encoding:
    """The tokens of ``source``'s events: a :class:`hidpack.Recording` or a view of one
    (``rec.between(...)``), or an event table in any form ``write_table`` takes.

    ``lossless=True``: every event of every kind, exactly (units are the coarsest ones that lose
    nothing; native key codes kept). Otherwise times are rounded to ``time_ns`` ns and
    coordinates to ``coord_px`` px (``None``: exact for that one), only ``kinds`` are tokenized
    (``None``: all) and native key codes are kept only with ``keep_native=True``."""
    if lossless:
        if kinds is not None:
            raise ValueError("lossless=True tokenizes every kind; pass kinds= without it")
        time_unit, coord_unit, keep_native = None, None, True
    else:
        if time_ns is not None and (not isinstance(time_ns, (int, np.integer)) or time_ns < 1):
            raise ValueError(f"time_ns must be a positive whole number of ns or None, got {time_ns!r}")
        time_unit = None if time_ns is None else int(time_ns)
        coord_unit = None if coord_px is None else _coord_unit(coord_px)
    if isinstance(kinds, str):
        kinds = [kinds]
    for k in kinds or ():
        if k not in KINDS:
            raise ValueError(f"unknown kind {k!r}; kinds are {', '.join(KINDS)}")
    toks, info = _native.tokens_encode(
        _table_of(source),
        time_unit=time_unit,
        coord_unit=coord_unit,
        kinds=None if kinds is None else list(kinds),
        native=keep_native,
    )
    return Encoding(
        tokens=toks,
        time_ns=info["time_unit"],
        coord_px=info["coord_unit"] / COORD_UNITS_PER_PX,
        lossless=lossless,
        skipped=dict(info["skipped"]),
        natives_dropped=info["natives_dropped"],
    )


def _token_array(tokens: Any) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"tokens must be a 1-d array of integers, got {arr.dtype} with shape {arr.shape}")
    if arr.size and arr.dtype != np.uint32:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 0xFFFF_FFFF:
            bad = int(np.flatnonzero((arr < 0) | (arr > 0xFFFF_FFFF))[0])
            raise ValueError(f"token {int(arr[bad])} at position {bad} is not a uint32 id")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def decode(tokens: Any) -> dict[str, Any]:
    """The events of a token stream (as :func:`encode` makes it) as the reader's event table
    (``t``, ``kind``, fields with ``_valid``, strings as ``_offsets``/``_data``/``_valid``).
    A malformed stream raises :class:`TokenError` with ``.position`` and ``.token``."""
    return _native.tokens_decode(_token_array(tokens))


def describe(tokens: Any) -> list[str]:
    """The readable name of every token (``["STREAM v1", "NUM_MORE 976", ..., "MOVE +3 -2"]``)."""
    return _native.tokens_names(_token_array(tokens))
