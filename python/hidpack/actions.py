"""Fixed-rate actions: a recording's events cut into time bins, as agents that see one screen
frame at a time consume them (the binning runs in the Rust core, ``hidpack_core::actions``).

>>> import hidpack
>>> hidpack.write_table("a.hpk", {"t": [0, 30_000_000, 70_000_000], "kind": ["move", "button", "move"],
...                               "x": [10.0, None, 14.5], "y": [5.0, None, 6.0],
...                               "button": [None, 1, None], "pressed": [None, True, None]}, overwrite=True)
>>> acts = hidpack.open("a.hpk").actions(fps=20)
>>> len(acts), acts.x, acts.dx
(2, array([10. , 14.5]), array([0. , 4.5]))
>>> acts.buttons.bin(0)
{'dt': array([30000000]), 'button': array([1], dtype=uint8), 'pressed': array([ True])}

Bin ``i`` is ``edges[i] <= t < edges[i + 1]``: with ``fps``, ``edges[i] = start + ⌊i · 10⁹ / fps⌋``
(exact for rational rates such as 30000/1001); with ``frames``, one bin per frame from its time to
the next frame's (the last bin as long as the median frame period, unless ``end`` is given). Per
bin (arrays of ``len(acts)``):

=====================  ============================================================================
``t``                  the bin's start (ns, the recording's clock); ``edges`` has one more entry
``x``, ``y``           pointer position at the bin's end (px; NaN until a position is known): the
                       last ``move``, or ``button``/``scroll`` that carried a position
``dx``, ``dy``         the pointer's step over the bin: ``x == start[0] + cumsum(dx)`` *exactly*
                       wherever the position is known (the core sums in the file's 1/65536 px unit)
``moves``              number of ``move`` events
``raw_dx``, ``raw_dy``  sums of ``raw_move`` deltas
``scroll_dx/dy``       sums of ``scroll`` deltas; ``scrolls`` their number
``held``               mask of buttons held at the bin's end (bit ``b`` for button ``b < 32``)
``buttons``, ``keys``  every button / key event in order, with ``dt`` = its offset from the bin's
                       start (:class:`Ragged`: ``bin(i)`` gives bin ``i``'s events)
``text``               the bin's ``text`` events, concatenated (``text_at(i)``)
=====================  ============================================================================

Nothing vanishes: events before the first edge or at/after the last are counted in ``before`` and
``after`` (``before`` events still set the starting position and held buttons). With
``lossless=True``, ``events`` lists every binned event of every kind (:class:`Ragged` with the
event table's columns, ``row`` = the event's index in the view's push order), and
:meth:`Actions.rebuild_events` gives them back exactly: events -> bins -> events is the identity.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["Actions", "Ragged", "fps_fraction", "frame_edges"]


class Ragged:
    """Events cut by bin: the events of bin ``i`` are rows ``offsets[i]:offsets[i + 1]`` of the
    columns (``dt`` and the others, each an ndarray)."""

    def __init__(self, offsets: np.ndarray, columns: dict[str, Any]) -> None:
        self.offsets = offsets.astype(np.int64, copy=False)
        self.columns = columns

    def __len__(self) -> int:
        """Events in all bins."""
        return int(self.offsets[-1]) if len(self.offsets) else 0

    def counts(self) -> np.ndarray:
        """Events per bin."""
        return np.diff(self.offsets)

    def bin_index(self) -> np.ndarray:
        """The bin of each event."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts())

    def bin(self, i: int) -> dict[str, Any]:
        """The columns of bin ``i``'s events."""
        n = len(self.offsets) - 1
        if not -n <= i < n:
            raise IndexError(f"bin {i} out of range for {n} bins")
        i %= n
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return {k: v[a:b] for k, v in self.columns.items()}

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"<Ragged {len(self)} events in {len(self.offsets) - 1} bins: {', '.join(self.columns)}>"


def fps_fraction(fps: Any) -> tuple[int, int]:
    """``fps`` (int, float, ``Fraction``, or a string like ``"30000/1001"``) as (numerator,
    denominator); floats are taken to the nearest fraction with a denominator up to 10⁶."""
    if isinstance(fps, bool):
        raise TypeError("fps must be a number, not a bool")
    try:
        f = Fraction(fps) if isinstance(fps, (int, str, Fraction)) else Fraction(float(fps)).limit_denominator(10**6)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        raise ValueError(f"fps must be a positive finite number, got {fps!r}") from None
    if f <= 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    return f.numerator, f.denominator


def frame_edges(t: Any, end: int | None = None) -> np.ndarray:
    """Bin edges for one bin per frame: the frame times and one closing edge (``end``, or the
    last frame plus the median frame period). Frame times must increase strictly."""
    t = np.asarray(getattr(t, "t", t))
    if t.dtype.kind not in "iu":
        raise TypeError(f"frame times must be integers (ns), got dtype {t.dtype}")
    t = t.astype(np.int64)
    if len(t) == 0:
        raise ValueError("no frames to bin by")
    if np.any(np.diff(t) <= 0):
        i = int(np.argmax(np.diff(t) <= 0))
        raise ValueError(f"frame times must increase strictly: frame {i} is at {t[i]} ns and frame {i + 1} at {t[i + 1]} ns")
    if end is None:
        if len(t) < 2:
            raise ValueError("one frame has no period: give end= to close its bin")
        end = int(t[-1] + max(1, int(np.median(np.diff(t)))))
    if end <= t[-1]:
        raise ValueError(f"end ({end} ns) must be after the last frame ({int(t[-1])} ns)")
    return np.append(t, np.int64(end))


class Actions:
    """The result of :meth:`hidpack.Recording.actions` (see the module docs for every field)."""

    edges: np.ndarray
    x: np.ndarray
    y: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    moves: np.ndarray
    raw_dx: np.ndarray
    raw_dy: np.ndarray
    scroll_dx: np.ndarray
    scroll_dy: np.ndarray
    scrolls: np.ndarray
    held: np.ndarray
    buttons: Ragged
    keys: Ragged
    events: Ragged | None

    def __init__(self, native: dict[str, Any]) -> None:
        self.edges = native["edges"]
        self.before = int(native["before"])
        self.after = int(native["after"])
        #: pointer position before the first bin (px), or None when no event carried one
        self.start: tuple[float, float] | None = native["start"]
        known = native["pos_known"]
        self.x = np.where(known, native["x"], np.nan)
        self.y = np.where(known, native["y"], np.nan)
        for name in ("dx", "dy", "moves", "raw_dx", "raw_dy", "scroll_dx", "scroll_dy", "scrolls", "held"):
            setattr(self, name, native[name])
        b = native["buttons"]
        self.buttons = Ragged(b["offsets"], {"dt": b["dt"], "button": b["button"], "pressed": b["pressed"]})
        k = native["keys"]
        self.keys = Ragged(
            k["offsets"],
            {
                "dt": k["dt"],
                "pressed": k["pressed"],
                "usage": np.ma.MaskedArray(k["usage"], mask=~k["usage_valid"]),
                "native": np.ma.MaskedArray(k["native"], mask=~k["native_valid"]),
            },
        )
        self._text_offsets = native["text_offsets"]
        self._text_data: bytes = native["text_data"]
        ev = native["events"]
        self._table: dict[str, Any] | None = None
        self.events = None
        if ev is not None:
            self._table = ev["table"]
            cols: dict[str, Any] = {"dt": ev["dt"], "row": ev["row"]}
            self.events = Ragged(ev["offsets"], cols)

    def __len__(self) -> int:
        return len(self.edges) - 1

    @property
    def t(self) -> np.ndarray:
        """Each bin's start (ns)."""
        return self.edges[:-1]

    def text_at(self, i: int) -> str:
        """The text typed in bin ``i``."""
        a, b = int(self._text_offsets[i]), int(self._text_offsets[i + 1])
        return self._text_data[a:b].decode("utf-8")

    @property
    def text(self) -> np.ndarray:
        """The text typed in each bin (object array of str, "" where none)."""
        out = np.full(len(self), "", dtype=object)
        for i in np.flatnonzero(np.diff(self._text_offsets)).tolist():  # only bins with text
            out[i] = self.text_at(i)
        return out

    def events_table(self) -> dict[str, Any]:
        """The binned events (``lossless=True``) as an event table, in bin order (push order
        within a bin): ``t``, ``kind`` and every field, as :meth:`hidpack.Recording.table`."""
        if self._table is None:
            raise ValueError("events are listed only by actions(..., lossless=True)")
        return self._table

    def rebuild_events(self) -> dict[str, Any]:
        """The binned events back in their original order, each ``t`` rebuilt from its bin's
        start and ``dt`` alone (``lossless=True``): equal to the view's :meth:`table` whenever
        ``before == after == 0``."""
        table = self.events_table()
        assert self.events is not None
        t = np.repeat(self.edges[:-1], self.events.counts()) + self.events.dt
        order = np.argsort(self.events.row, kind="stable")
        out = {k: _take(v, order) for k, v in table.items() if not k.endswith(("_offsets", "_data"))}
        out["t"] = t[order]
        for k in table:
            if k.endswith("_offsets"):
                name = k[: -len("_offsets")]
                strings = _strings(table[k], table[name + "_data"])[order]
                out[k], out[name + "_data"] = _pack(strings)
        return out

    def to_pandas(self) -> Any:
        """One row per bin: t, x, y, dx, dy, moves, raw/scroll sums, held, the number of button
        and key events, and text (the ragged events stay in :attr:`buttons` / :attr:`keys`)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "t": self.t,
                "x": self.x,
                "y": self.y,
                "dx": self.dx,
                "dy": self.dy,
                "moves": self.moves,
                "raw_dx": self.raw_dx,
                "raw_dy": self.raw_dy,
                "scroll_dx": self.scroll_dx,
                "scroll_dy": self.scroll_dy,
                "scrolls": self.scrolls,
                "held": self.held,
                "buttons": self.buttons.counts(),
                "keys": self.keys.counts(),
                "text": self.text,
            }
        )

    def __repr__(self) -> str:
        period = ""
        if len(self) > 0:
            period = f", {np.median(np.diff(self.edges)) / 1e6:g} ms each"
        return (
            f"<Actions {len(self)} bins{period}: {int(self.moves.sum())} moves, {len(self.buttons)} button and "
            f"{len(self.keys)} key events; {self.before} before, {self.after} after the bins>"
        )


def _take(v: np.ndarray, order: np.ndarray) -> np.ndarray:
    return v[order]


def _strings(offsets: np.ndarray, data: Any) -> np.ndarray:
    raw = bytes(np.asarray(data, dtype=np.uint8))
    out = np.empty(len(offsets) - 1, dtype=object)
    for i in range(len(out)):
        out[i] = raw[offsets[i] : offsets[i + 1]]
    return out


def _pack(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.frombuffer(b"".join(strings), dtype=np.uint8).copy()
