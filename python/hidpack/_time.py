"""Times given to the public API, as integer nanoseconds: the one conversion every reader uses.

A time (``Recording.between(t0, t1)``, ``read_many(t0=, t1=)``, ``read_dask``, ``plot_file``,
``Recording.wall_t``) may be:

* a plain number, in **nanoseconds** (file time: since the recording's start): an ``int``, a
  numpy integer, or a ``float`` / numpy float that is a whole number of nanoseconds (``60e9`` is
  one minute). ``1.5`` is refused, as are NaN and infinities: a bound that silently rounded
  would move the window.
* a duration, converted exactly: ``datetime.timedelta``, ``numpy.timedelta64`` (any fixed unit,
  weeks to attoseconds, as long as the value is a whole number of nanoseconds) and
  ``pandas.Timedelta``.

Anything else raises ``TypeError``; a value of the right type that is not a whole number of
nanoseconds (or is NaN, infinite, NaT, or a calendar unit such as months) raises ``ValueError``.
Both messages name the argument and its value.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["as_ns", "as_ns_array"]

#: nanoseconds per numpy timedelta64 unit (fixed-length units only)
_UNIT_NS: dict[str, Fraction] = {
    "W": Fraction(7 * 86_400 * 10**9),
    "D": Fraction(86_400 * 10**9),
    "h": Fraction(3_600 * 10**9),
    "m": Fraction(60 * 10**9),
    "s": Fraction(10**9),
    "ms": Fraction(10**6),
    "us": Fraction(10**3),
    "ns": Fraction(1),
    "ps": Fraction(1, 10**3),
    "fs": Fraction(1, 10**6),
    "as": Fraction(1, 10**9),
}

_ACCEPTED = "an int or float of nanoseconds, a datetime.timedelta, a numpy.timedelta64 or a pandas.Timedelta"


def _whole(name: str, value: Any, ns: Fraction) -> int:
    if ns.denominator != 1:
        raise ValueError(f"{name}={value!r} is not a whole number of nanoseconds")
    return int(ns)


def _timedelta64_ns(name: str, value: np.timedelta64) -> int:
    if np.isnat(value):
        raise ValueError(f"{name} is NaT (not a time)")
    unit, count = np.datetime_data(value.dtype)
    per = _UNIT_NS.get(unit)
    if per is None:
        why = "a unitless timedelta64" if unit == "generic" else f"unit {unit!r} has no fixed length"
        raise ValueError(f"{name}={value!r}: {why}; give a fixed unit such as 's', 'ms' or 'ns'")
    return _whole(name, value, int(value.astype(np.int64)) * count * per)


def as_ns(name: str, value: Any) -> int | None:
    """``value`` (see the module docstring) as an int of nanoseconds; None stays None.

    ``name`` is the argument's name, for the error messages (``"t0"``)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {_ACCEPTED}, not a bool ({value!r})")
    if isinstance(value, np.timedelta64):  # before np.integer: timedelta64 subclasses it
        return _timedelta64_ns(name, value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"{name}={value!r} is not a finite time")
        if not f.is_integer():
            raise ValueError(
                f"{name}={value!r} is not a whole number of nanoseconds (plain numbers are ns since the "
                f"recording's start: one minute is 60e9; or pass a datetime.timedelta)"
            )
        return int(f)
    if type(value).__name__ == "NaTType":  # pandas.NaT (pandas is not imported for the test)
        raise ValueError(f"{name} is NaT (not a time)")
    if isinstance(value, _dt.timedelta):
        to64 = getattr(value, "to_timedelta64", None)  # pandas.Timedelta: ns (or finer) precision
        if to64 is not None:
            return _timedelta64_ns(name, to64())
        return (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1_000
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (numbers.Real, Decimal)):  # Fraction, Decimal
        try:
            exact = Fraction(value)  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            raise ValueError(f"{name}={value!r} is not a finite time") from None
        return _whole(name, value, exact)
    raise TypeError(f"{name} must be {_ACCEPTED}, not {type(value).__name__} ({value!r})")


def as_ns_array(name: str, values: Any) -> np.ndarray:
    """Times as an int64 array of nanoseconds: a scalar as :func:`as_ns` takes it, or an array
    (or sequence, pandas Series or TimedeltaIndex) of integers, of whole-nanosecond floats, or of
    ``timedelta64`` with a fixed unit. Same errors as :func:`as_ns`; NaN and NaT are refused."""
    if np.ndim(values) == 0 and not isinstance(values, np.ndarray):
        ns = as_ns(name, values)
        if ns is None:
            raise TypeError(f"{name} must be a time or an array of times, not None")
        return np.asarray(ns, dtype=np.int64)
    arr = np.asarray(values)
    if arr.dtype.kind == "m":
        if np.isnat(arr).any():
            raise ValueError(f"{name} holds NaT (not a time)")
        unit, count = np.datetime_data(arr.dtype)
        per = _UNIT_NS.get(unit)
        if per is None:
            raise ValueError(f"{name}: timedelta64 unit {unit!r} has no fixed length; give 's', 'ms' or 'ns'")
        raw = arr.astype(np.int64)
        scale = per * count
        if scale.denominator != 1:
            if (raw % scale.denominator).any():
                raise ValueError(f"{name} holds times that are not whole numbers of nanoseconds")
            raw = raw // scale.denominator
        if len(raw) and int(np.abs(raw).max()) > (2**63 - 1) // scale.numerator:
            raise ValueError(f"{name} holds times beyond the int64 nanosecond range")
        out: np.ndarray = raw * np.int64(scale.numerator)
        return out
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds NaN or infinite times")
        if (arr != np.floor(arr)).any():
            raise ValueError(f"{name} holds times that are not whole numbers of nanoseconds (plain numbers are ns)")
        return arr.astype(np.int64)
    if arr.dtype == object:
        ns = [as_ns(name, v) for v in arr.ravel()]
        if None in ns:
            raise TypeError(f"{name} holds None, not a time")
        return np.array(ns, dtype=np.int64).reshape(arr.shape)
    raise TypeError(f"{name} must be times ({_ACCEPTED}) or an array of them, not an array of {arr.dtype}")
