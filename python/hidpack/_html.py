"""The notebook view of a recording: :meth:`hidpack.Recording._repr_html_`.

A summary table (duration, events per kind, drops and gaps, bytes per event, wall clock,
privacy policy) and a small picture of the pointer's trajectory as an inline PNG (a base64
``data:`` URI). Its cost is bounded whatever the file's length: the summary comes from the
block index (and the gap events, which are few); the picture decodes only the ``move`` events'
``x`` and ``y`` columns of at most :data:`MAX_BLOCKS` blocks (evenly spaced over the file) and
draws at most :data:`MAX_DRAWN` of them, evenly spaced (presses are not drawn).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from types import SimpleNamespace
from typing import Any

import numpy as np

#: most moves the picture draws (evenly spaced over the recording)
MAX_DRAWN = 20_000
#: most blocks whose moves the picture decodes (evenly spaced over the file)
MAX_BLOCKS = 8
#: pixels of the picture's longest side
PICTURE_SIZE = 420


def _n(v: Any) -> str:
    return f"{int(v):,}"


def _duration(ns: int | None) -> str:
    if not ns:
        return "0 s"
    s = ns / 1e9
    if s >= 3600:
        return "%.1f s (%d h %02d min)" % (s, s // 3600, (s % 3600) // 60)
    if s >= 60:
        return "%.1f s (%d min %02d s)" % (s, s // 60, s % 60)
    return "%.3f s" % s


class _Moves:
    """What :func:`hidpack.plot._render` reads of a recording: every ``stride``-th move, no
    presses, the recording's metadata."""

    def __init__(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, metadata: dict[str, Any]) -> None:
        self._moves = SimpleNamespace(t=t, x=x, y=y)
        self.metadata = metadata

    def moves(self) -> Any:
        return self._moves

    def buttons(self) -> Any:
        empty = np.ma.masked_array(np.zeros(0), mask=np.ones(0, bool))
        return SimpleNamespace(x=empty, y=empty, pressed=np.zeros(0, bool))


def trajectory_png(
    rec: Any, size: int = PICTURE_SIZE, most: int = MAX_DRAWN, max_blocks: int = MAX_BLOCKS
) -> tuple[bytes | None, str]:
    """``(PNG bytes, or None when there is no move; what was drawn, in words)``. Decodes the
    ``x`` and ``y`` of the moves of at most ``max_blocks`` blocks (evenly spaced over the
    file when it has more) and draws at most ``most`` of them (evenly spaced)."""
    from .plot import _render, write_png
    from .recording import RecordingView

    from .recording import _block_count

    blocks = [int(b["index"]) for b in rec.blocks() if _block_count(b, "move")]
    if len(blocks) > max_blocks:
        picked = [blocks[i] for i in np.unique(np.linspace(0, len(blocks) - 1, max_blocks).round().astype(int))]
        view: Any = RecordingView(rec.recording, rec.t0, rec.t1, picked)
        part = " of %d of its %d blocks, evenly spaced" % (len(picked), len(blocks))
    else:
        view, part = rec, ""
    table = view.table(kinds=["move"], columns=["x", "y"])
    t = np.asarray(table["t"], dtype=np.int64)
    n = len(t)
    if n == 0:
        return None, "no move events to draw"
    keep = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(np.int64))
    moves = _Moves(t[keep], np.asarray(table["x"])[keep], np.asarray(table["y"])[keep], rec.recording.metadata)
    img, _ = _render(moves, "trajectory", size)
    buf = io.BytesIO()
    write_png(buf, img)
    what = "%s moves%s" % (_n(n), part) if len(keep) == n else "%s of the %s moves%s" % (_n(len(keep)), _n(n), part)
    return buf.getvalue(), what


def recording_html(rec: Any) -> str:
    """The HTML of :meth:`hidpack.Recording._repr_html_`."""
    info = rec.info()
    esc = html.escape
    rows: list[tuple[str, str]] = []
    rows.append(("file", esc(str(info["path"]))))
    rows.append(("duration", _duration(info.get("duration_ns"))))
    events = int(info.get("events") or 0)
    counts = {k: v for k, v in (info.get("counts") or {}).items() if v}
    rows.append(("events", _n(events)))
    for k, v in counts.items():
        rows.append(("&nbsp;&nbsp;" + esc(k), "%s (%.1f %%)" % (_n(v), 100.0 * v / events if events else 0)))
    rows.append(("dropped", "%s event(s) (ring full)" % _n(info.get("drops") or 0)))
    rows.append(("gaps", "%s gap event(s); %s event(s) withheld while paused, %s redacted"
                 % (_n(info.get("gaps") or 0), _n(info.get("paused") or 0), _n(info.get("redacted") or 0))))
    size = int(info.get("bytes") or 0)
    rows.append(("size", "%s bytes, %s bytes/event" % (_n(size), "%.2f" % (size / events) if events else "-")))
    wall = info.get("wall_clock_ns")
    if isinstance(wall, int):
        when = _dt.datetime.fromtimestamp(wall / 1e9, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        rows.append(("wall clock", "started %s UTC" % when))
    else:
        rows.append(("wall clock", "none (the writer did not know it: no wall_t)"))
    pol = info.get("policy")
    if isinstance(pol, dict):
        rows.append(("policy", esc("%s: keys %s, text %s, titles %s" % (
            pol.get("name"), pol.get("keys"), pol.get("text"), pol.get("titles")))))
    else:
        rows.append(("policy", "none"))
    problems = info.get("problems") or []
    if problems:
        rows.append(("problems", "%d (see rec.problems)" % len(problems)))
    png, what = trajectory_png(rec)
    table = "".join(
        '<tr><th style="text-align:left;padding-right:1em">%s</th><td style="text-align:left">%s</td></tr>' % r
        for r in rows
    )
    if png is None:
        picture = "<p>%s</p>" % what
    else:
        picture = (
            '<figure style="margin:0"><img alt="trajectory of the pointer" src="data:image/png;base64,%s"/>'
            "<figcaption>pointer trajectory, coloured by time (%s)</figcaption></figure>"
            % (base64.b64encode(png).decode("ascii"), what)
        )
    return (
        '<div class="hidpack-recording" style="display:flex;gap:1.5em;align-items:flex-start">'
        "<table><caption style=\"text-align:left\"><b>hidpack recording</b></caption>%s</table>%s</div>"
        % (table, picture)
    )
