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
from .writing import _metadata_json, prepare

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
    ``flush_interval`` (seconds, the most a crash loses: with ``clock="event"`` too, where the
    tail is also checkpointed on a timer of wall time, so events that arrive and then stop are
    saved within the interval); ``ring_capacity`` (slots; an event takes
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
    a :class:`hidpack.policy.Policy`), enforced by the native core inside every push and every
    ``extend`` batch, before the event reaches the ring: withheld keys and text never reach it
    (they are counted in ``gap`` events of reason ``redacted``, one per run), kept keys may be
    reduced to classes, titles hashed or dropped. A key is transformed before the pause state is
    read, so no interleaving of ``pause()``/``resume()`` with pushes on other threads lets a raw
    key through. The policy is stored in the header (``metadata["privacy_policy"]``);
    ``policy_report()`` says what it withheld and transformed.

    Files: each file is created exclusively (``FileExistsError`` if it exists, unless
    ``overwrite=True``), a path with an unrecovered write-ahead tail beside it (a recorder was
    killed) is refused with a message naming ``hidpack recover``, and a file is locked while it
    is written, so two recorders cannot share a path. A write error (a full disk) stops the
    recorder at once: the next call raises it (``OSError``), ``stats()["error"]`` says it, and
    the file keeps every block written before it (readable with ``hidpack.open``, or made clean
    by ``hidpack recover``).
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
        overwrite: bool = False,
        _writer_delay: float | None = None,
    ) -> "Recorder":
        native_policy = None
        if policy is not None:
            from .policy import load_policy

            pol = load_policy(policy)
            if not pol.is_off:
                native_policy = pol.native
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
            policy=native_policy,
            overwrite=overwrite,
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
        ``max_batch_backlog`` batch events are queued; it never drops. Under a privacy policy
        the batch's rows go through it in order, as single pushes would."""
        self._extend_table(prepare(_columns(batch)))

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("paused" if self.paused else "recording")
        return f"<hidpack.Recorder {self.path!r} {state}>"
