"""Progress for the command line: a tqdm bar on stderr when stderr is a terminal and the user did
not ask for quiet, nothing otherwise (pipes, files, CI logs and ``--quiet`` stay clean).

:func:`bar` counts work of known size (files, bytes); :func:`busy` shows the elapsed time of one
long call that reports nothing while it runs (a native recover, a one-file import). Lines printed
while a bar is up go through :meth:`Bar.write`, which clears the bar, prints and redraws it.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Iterator, Optional

from contextlib import contextmanager

__all__ = ["enabled", "bar", "busy", "Bar"]


def enabled(quiet: bool = False) -> bool:
    """Whether to show progress: stderr is a terminal and not ``quiet``."""
    if quiet:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


class Bar:
    """A tqdm bar, or nothing (every method a no-op) when progress is off."""

    def __init__(self, total: Optional[float], desc: str, unit: str, quiet: bool, **kw: Any) -> None:
        self._bar: Any = None
        if enabled(quiet):
            from tqdm import tqdm

            try:
                width, height = os.get_terminal_size(sys.stderr.fileno())
            except (OSError, ValueError):
                width = height = 0
            # a terminal that reports no size (a pty nobody sized) would get no bar at all
            size: dict[str, Any] = {"dynamic_ncols": True} if width else {"ncols": 80}
            if not height:
                size["nrows"] = 24
            self._bar = tqdm(
                total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, mininterval=0.2, **size, **kw
            )

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def update(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def note(self, text: str) -> None:
        """A short status after the counts (e.g. the file being read)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def write(self, text: str, file: Any = None) -> None:
        """Print ``text`` (stdout by default) without tearing the bar."""
        out = sys.stdout if file is None else file
        if self._bar is not None:
            from tqdm import tqdm

            tqdm.write(text, file=out)
        else:
            print(text, file=out, flush=True)

    def wrap(self, stream: Any) -> Any:
        """``stream`` whose ``read`` advances the bar by the bytes read (the bar counts bytes)."""
        if self._bar is None:
            return stream
        from tqdm.utils import CallbackIOWrapper

        return CallbackIOWrapper(self._bar.update, stream, "read")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: Optional[float], desc: str, unit: str = "file", quiet: bool = False, **kw: Any) -> Bar:
    """A progress bar of ``total`` ``unit``\\ s (``unit="B"``: bytes, scaled to KB/MB)."""
    if unit == "B":
        kw.setdefault("unit_scale", True)
        kw.setdefault("unit_divisor", 1024)
    return Bar(total, desc, unit, quiet, **kw)


@contextmanager
def busy(desc: str, quiet: bool = False) -> Iterator[Bar]:
    """``desc: 3.2 s``, kept up to date while the body runs (for a call that cannot report)."""
    b = Bar(None, desc, "s", quiet, bar_format="{desc}: {elapsed}")
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            if b._bar is not None:
                b._bar.refresh()

    t = threading.Thread(target=tick, name="hidpack-progress", daemon=True) if b.shown else None
    if t is not None:
        t.start()
    try:
        yield b
    finally:
        stop.set()
        if t is not None:
            t.join()
        b.close()
