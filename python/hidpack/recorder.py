"""``hidpack.Recorder``: record events from hook callbacks and threads into a hidpack file.

>>> with hidpack.Recorder("session.hpk", metadata={"screen": [1920, 1080]}) as rec:
...     rec.move(100, 200)                 # stamped now; True if recorded
...     rec.key(0x04, True, native=38)     # HID usage 0x04 ("a") pressed
...     rec.text("a")
...     rec.stats()["written"]

Each per-event method is one call into Rust that converts its arguments and pushes the event
into a bounded lock-free ring: no lock, no allocation, no I/O, nothing but the push under the GIL.
A background thread drains the ring, encodes, compresses and writes. When the ring is full the
event is dropped at once (the method returns ``False``), counted in ``stats()["dropped"]`` and
written as a ``gap`` event where it happened. Every ``flush_interval`` seconds (default 1) the
events of the open block are checkpointed to a write-ahead tail ``<path>.wal``, so a killed
process loses at most that interval; ``hidpack.open`` reads such a file as it is and
``hidpack recover`` rewrites it cleanly. ``close()`` (or leaving the ``with`` block) writes the
footer and deletes the tail.

Times: with ``clock="monotonic"`` (live capture, the default) ``t`` is a :func:`hidpack.now`
value (the OS event time converted to that clock) and defaults to the time of the call; it is
stored relative to the recorder's start, and the header holds the Unix time of that start. With
``clock="event"`` (imports, replays) ``t`` is required and stored as given, and checkpoints and
rotation follow the events' own times, so the files are the same whatever the import speed.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from . import _native
from ._table import to_native_table
from .writing import _metadata_json, prepare

_REDACTED = 3

__all__ = ["Recorder", "now"]


def now() -> int:
    """Nanoseconds on the recorder clock (monotonic; the ``t`` of a live push)."""
    return _native.now()


def _columns(batch: Any) -> Any:
    """A numpy structured array as a dict of its columns; any other batch as it is."""
    if isinstance(batch, np.ndarray) and batch.dtype.names:
        return {name: batch[name] for name in batch.dtype.names}
    return batch


class Recorder(_native.Recorder):
    """A recording in progress (see the module docs).

    Parameters: ``path`` (with rotation, a pattern containing ``{n}``, the part number);
    ``flush_interval`` (seconds, the most a crash loses); ``ring_capacity`` (slots; an event takes
    one, plus one per 56 bytes of text beyond 8); ``level`` (zstd); ``block_events`` and
    ``block_span`` (seconds of event time) bound a block; ``metadata`` (a JSON-serialisable dict);
    ``clock`` (``"monotonic"`` or ``"event"``); ``sync`` (fsync policy: ``"never"``, ``"block"``,
    ``"interval"``); ``tail`` (keep the write-ahead tail); ``rotate_every`` (seconds of event time)
    / ``rotate_bytes`` start a new file, and ``on_close(path)`` is called (on the encoder thread)
    with each closed file, so a client can ship it while recording goes on.

    ``clock_every`` (seconds): with ``clock="monotonic"`` and no ``wall_clock_ns`` given, the
    recorder writes a *clock record* (a ``marker`` labelled ``"hidpack:clock"`` whose value is
    the Unix time in ns at its ``t``) at least this often, and at once when the wall clock has
    moved against the recording clock by 1 ms or more: events are stamped on a monotonic clock,
    which stops while the machine sleeps, and :meth:`Recording.wall_t` uses the records to put
    every event at its true wall time.

    ``policy``: a privacy policy (a preset name such as ``"strict"``, a TOML file path, a dict or
    a :class:`hidpack.policy.Policy`) applied to ``key``, ``text`` and ``focus`` *before* the
    event is pushed: withheld keys and text never reach the ring (they are counted in ``gap``
    events of reason ``redacted``), kept keys may be reduced to classes, titles hashed or dropped.
    The policy is stored in the header (``metadata["privacy_policy"]``). ``extend`` refuses key,
    text and focus events under a policy (apply ``policy.session().apply_table`` first).
    """

    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = 1.0,
        ring_capacity: int = 65536,
        level: int = 3,
        block_events: int = 65536,
        block_span: float | None = None,
        metadata: dict[str, Any] | None = None,
        clock: str = "monotonic",
        sync: str = "interval",
        tail: bool = True,
        rotate_every: float | None = None,
        rotate_bytes: int | None = None,
        on_close: Callable[[str], Any] | None = None,
        wall_clock_ns: int | None = None,
        max_batch_backlog: int = 1 << 22,
        clock_every: float = 60.0,
        policy: Any = None,
        _writer_delay: float | None = None,
    ) -> "Recorder":
        pol = None
        if policy is not None:
            from .policy import load_policy

            pol = load_policy(policy)
            if pol.is_off:
                pol = None
        if pol is not None:
            metadata = dict(metadata or {})
            metadata["privacy_policy"] = pol.describe()
            if cls is Recorder:
                cls = _PolicyRecorder
        callback = None
        if on_close is not None:
            if not callable(on_close):
                raise TypeError(f"on_close must be callable, not {type(on_close).__name__}")

            def callback(p: os.PathLike[str]) -> None:
                on_close(os.fspath(p))

        return super().__new__(
            cls,
            os.fspath(path),
            flush_interval=flush_interval,
            ring_capacity=ring_capacity,
            level=level,
            block_events=block_events,
            block_span=block_span,
            metadata=_metadata_json(metadata),
            clock=clock,
            sync=sync,
            tail=tail,
            rotate_every=rotate_every,
            rotate_bytes=rotate_bytes,
            on_close=callback,
            wall_clock_ns=wall_clock_ns,
            max_batch_backlog=max_batch_backlog,
            clock_every=clock_every,
            _writer_delay=_writer_delay,
        )

    def __init__(self, path: Any, *, policy: Any = None, **kwargs: Any) -> None:
        # (construction happens in __new__; this only receives the same arguments)
        pass

    def extend(self, batch: Any) -> None:
        """Append a batch of events in one call: a dict of columns, a numpy structured array,
        :class:`hidpack.Columns`, a pandas or polars DataFrame or a pyarrow Table (the forms
        :func:`hidpack.write_table` takes; ``t`` on this recorder's clock). The batch is
        validated first (on error nothing is recorded), then handed to the encoder in order
        with the single pushes around it, with the GIL released. It may wait while more than
        ``max_batch_backlog`` batch events are queued; it never drops."""
        self._extend_table(prepare(_columns(batch)))

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("paused" if self.paused else "recording")
        return f"<hidpack.Recorder {self.path!r} {state}>"


class _PolicyRecorder(Recorder):
    """A Recorder with a privacy policy: key, text and focus go through the policy first."""

    def __init__(self, path: Any, *, policy: Any = None, **kwargs: Any) -> None:
        from .policy import load_policy

        self._session = load_policy(policy).session()
        self._run: list[int] | None = None  # [t0, t1, count] of the current redacted run

    def _t(self, t: int | None) -> int:
        return now() if t is None else t

    def _withhold(self, t: int | None) -> bool:
        ts = self._t(t)
        if self._run is None:
            self._run = [ts, ts, 0]
        self._run[1] = ts
        self._run[2] += 1
        return False

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            super().gap(run[2], _REDACTED, t_end=run[1], t=run[0])

    def key(self, usage: int | None, pressed: bool, native: int | None = None, t: int | None = None) -> bool:
        if self.paused:
            return super().key(usage, pressed, native, t)  # counted as paused, nothing stored
        r = self._session.key(usage, native)
        if r is None:
            return self._withhold(t)
        self._close_run()
        return super().key(r[0], pressed, r[1], t)

    def text(self, text: str, t: int | None = None) -> bool:
        if self.paused:
            return super().text("", t)
        if not self._session.keep_text():
            return self._withhold(t)
        self._close_run()
        return super().text(text, t)

    def focus(
        self,
        app: str | None = None,
        title: str | None = None,
        window: int | None = None,
        rect: tuple[int, int, int, int] | None = None,
        t: int | None = None,
    ) -> bool:
        self._close_run()
        app, title = self._session.focus(app, title)
        return super().focus(app, title, window, rect, t)

    def extend(self, batch: Any) -> None:
        native = to_native_table(_columns(batch))
        kinds = np.asarray(native["kind"])
        if np.isin(kinds, [4, 5, 6]).any():
            raise ValueError(
                "extend() under a privacy policy takes no key, text or focus events; apply "
                "policy.session().apply_table() to the batch, or push them one by one"
            )
        self._extend_table(native)

    def policy_report(self) -> dict[str, Any]:
        """What the policy withheld and transformed so far."""
        return self._session.report()

    def close(self) -> dict[str, int]:
        if not self.closed:
            self._close_run()
        return super().close()

    def __exit__(self, *exc: object) -> bool:
        self.close()
        return False
