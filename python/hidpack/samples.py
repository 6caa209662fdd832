"""Sample makers: how one recording becomes training samples.

A *sample maker* is any callable ``maker(recording, file) -> iterable of samples`` taking an
open :class:`hidpack.Recording` and the file's index in its fleet. :class:`hidpack.dataset.FleetDataset`
(PyTorch) and ``hidpack export --to hf`` (Hugging Face ``datasets``) both run one over every file,
so a sample looks the same in a training loop and in a saved dataset. It must be picklable (a
module-level function or an instance of a module-level class) so that DataLoader workers started
by ``spawn`` can receive it.

:class:`Episodes` is the built-in one (``sample="episode"``): one sample per file, or one per
fixed window of ``window`` seconds. A sample is a dict::

    {"path": "fleet/s0.hpk", "file": 0, "metadata": {...}, "wall_clock_ns": 1733222400000000000 | None,
     "move": {"t": int64[n], "x": float64[n], "y": float64[n], "buttons": int64[n], "buttons_valid": bool[n]},
     "key":  {"t": ..., "pressed": bool[m], "usage": int64[m], "usage_valid": bool[m], ...},
     ...one entry per kind read, empty arrays for a kind the file does not hold}

Each kind's columns are ``t`` (int64 ns of file time) and that kind's fields (docs/ARCHITECTURE.md):
required fields as plain arrays; optional numeric fields as values (0 where absent) plus a
``<field>_valid`` bool array, because tensors have no nulls; string fields (``text``, ``app``,
``title``, ``label``) as object arrays of ``str``, ``None`` where absent. Rows keep file order.
With ``window``, samples also carry ``window`` (its index from the file's first window), ``t0``
and ``t1`` (its bounds: ``t0 <= t < t1``, file time, multiples of the window); every window from
the one holding the file's first event to the one holding its last is a sample, empty ones
included, so sample ``k`` always covers the same span of the screen video.

Makers register in :data:`SAMPLES` under the name the dataset and the CLI accept; one that is
to be exported to Hugging Face also says its layout (``schema()``, see :meth:`Episodes.schema`).
:func:`file_samples` runs a maker over one file with the error policy both users share.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any, Callable, Dict, Iterator, Sequence

import numpy as np

from ._table import KIND_CODES, KINDS, kind_fields

__all__ = ["Episodes", "Bins", "SAMPLES", "sample_maker", "file_samples", "kind_columns"]


@functools.lru_cache(maxsize=None)
def _kind_columns(kind: str) -> tuple[tuple[str, str], ...]:
    out = [("t", "int")]
    for name, typ, required in kind_fields(kind):
        out.append((name, typ))
        if not required and typ != "str":
            out.append((name + "_valid", "bool"))
    return tuple(out)


def kind_columns(kind: str) -> list[tuple[str, str]]:
    """The columns of ``kind`` in a sample, as ``(name, type)`` with type one of ``"int"``,
    ``"coord"`` (float64), ``"bool"``, ``"str"``: ``t``, then each field, each optional numeric
    one followed by its ``_valid``."""
    return list(_kind_columns(kind))


_DTYPES = {"int": np.int64, "coord": np.float64, "str": object, "bool": np.bool_}


def _strings_at(table: Dict[str, Any], name: str, rows: Any, n: int) -> np.ndarray:
    """The ``str | None`` values of string field ``name`` on ``rows`` (decoding only those)."""
    out = np.full(n, None, dtype=object)
    if name + "_offsets" not in table or not n:
        return out
    offsets = np.asarray(table[name + "_offsets"], dtype=np.int64)
    valid = np.asarray(table[name + "_valid"], dtype=bool)[rows]
    if not valid.any():
        return out
    buf = np.asarray(table[name + "_data"], dtype=np.uint8).tobytes()
    starts = offsets[:-1][rows].tolist()
    ends = offsets[1:][rows].tolist()
    out[:] = [buf[a:b].decode("utf-8") if v else None for a, b, v in zip(starts, ends, valid.tolist())]
    return out


@functools.lru_cache(maxsize=None)
def _empty_columns(kind: str) -> Dict[str, np.ndarray]:
    """The columns of a kind with no rows (shared: an empty array holds nothing to change)."""
    return {name: np.empty(0, dtype=_DTYPES[typ]) for name, typ in _kind_columns(kind)}


def split_kinds(table: Dict[str, Any], kinds: Sequence[str]) -> Dict[str, Dict[str, np.ndarray]]:
    """A native read table (all kinds mixed, file order) as one dict of columns per kind."""
    code = np.asarray(table["kind"])
    n = len(code)
    counts = np.bincount(code, minlength=len(KINDS)) if n else np.zeros(len(KINDS), dtype=np.intp)
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for kind in kinds:
        k = KIND_CODES[kind]
        m = int(counts[k])
        if m == 0:
            out[kind] = dict(_empty_columns(kind))
            continue
        # every row of this kind: the columns as they are (no copy); else its rows, gathered
        rows: Any = slice(None) if m == n else np.flatnonzero(code == k)
        cols: Dict[str, np.ndarray] = {}
        for name, typ in _kind_columns(kind):
            if typ == "str":
                cols[name] = _strings_at(table, name, rows, m)
            elif name in table:
                cols[name] = np.asarray(table[name], dtype=_DTYPES[typ])[rows]
            else:  # a field a read leaves out is absent on every row (and 0 as a value)
                cols[name] = np.zeros(m, dtype=_DTYPES[typ])
        out[kind] = cols
    return out


class Episodes:
    """The ``"episode"`` sample maker: each file as one sample, or (``window`` seconds) as one
    sample per window; see the module doc for the sample's layout.

    ``kinds``: the kinds read, in this order (default: all nine), each always present in a
    sample (empty arrays when the file or window holds none), so samples of one dataset share
    their keys and dtypes."""

    def __init__(self, kinds: Sequence[str] | str | None = None, window: float | None = None) -> None:
        names = list(KINDS) if kinds is None else [kinds] if isinstance(kinds, str) else list(kinds)
        for k in names:
            if k not in KIND_CODES:
                raise ValueError(f"unknown kind {k!r}; valid kinds: {', '.join(KINDS)}")
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"kinds must name at least one kind, each once, got {names!r}")
        self.kinds = names
        self.window_ns = None if window is None else _window_ns(window)

    def __repr__(self) -> str:
        w = "" if self.window_ns is None else f", window={self.window_ns / 1e9!r}"
        return f"Episodes(kinds={self.kinds!r}{w})"

    def schema(self) -> Dict[str, Any]:
        """The layout of a sample, for writers that need it before the first one (the Hugging
        Face export): name -> ``"str"``, ``"int"``, ``"coord"``, ``"bool"``, ``"json"`` (a
        dict), ``["<type>"]`` (an array of that type) or a dict of these (nested)."""
        out: Dict[str, Any] = {"path": "str", "file": "int", "metadata": "json", "wall_clock_ns": "int"}
        if self.window_ns is not None:
            out.update(window="int", t0="int", t1="int")
        for kind in self.kinds:
            out[kind] = {name: [typ] for name, typ in kind_columns(kind)}
        return out

    def __call__(self, rec: Any, file: int) -> Iterator[Dict[str, Any]]:
        table = rec.table(self.kinds)
        head = {
            "path": rec.path,
            "file": int(file),
            # damaged metadata reads as {} here; the dataset sees it in rec.problems
            "metadata": rec._metadata_or_empty(),
            "wall_clock_ns": rec.wall_clock_ns,
        }
        if self.window_ns is None:
            yield {**head, **split_kinds(table, self.kinds)}
            return
        yield from self._windows(head, table)

    def _windows(self, head: Dict[str, Any], table: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        w = self.window_ns
        assert w is not None
        t = np.asarray(table["t"], dtype=np.int64)
        if not len(t):
            return
        first, last = int(t.min()) // w, int(t.max()) // w  # floor: window k is [k*w, (k+1)*w)
        per_kind = split_kinds(table, self.kinds)
        bounds = np.arange(first, last + 2)
        # each kind's rows grouped by window, each group in file order: a stable sort, or
        # (times in order, as a recorder writes them) the rows as they are, cut into views
        cuts: Dict[str, Any] = {}
        for kind, cols in per_kind.items():
            if len(cols["t"]):
                index = cols["t"] // w
                in_order = bool(np.all(index[1:] >= index[:-1]))
                order = None if in_order else np.argsort(index, kind="stable")
                cuts[kind] = (order, np.searchsorted(index if in_order else index[order], bounds).tolist())
        for j in range(last - first + 1):
            k = first + j
            sample = {**head, "window": j, "t0": k * w, "t1": (k + 1) * w}
            for kind, cols in per_kind.items():
                if kind not in cuts:
                    sample[kind] = dict(_empty_columns(kind))
                    continue
                order, starts = cuts[kind]
                a, b = starts[j], starts[j + 1]
                rows = slice(a, b) if order is None else order[a:b]
                sample[kind] = {name: col[rows] for name, col in cols.items()}
            yield sample


def _window_ns(window: Any) -> int:
    """``window`` seconds as whole ns (at least 1)."""
    if isinstance(window, bool) or not isinstance(window, numbers.Real) or not 0 < float(window) < float("inf"):
        raise ValueError(f"window must be a positive, finite number of seconds, got {window!r}")
    ns = int(round(float(window) * 1e9))
    if ns < 1:
        raise ValueError(f"window must be at least 1 ns (1e-9 s), got {window!r}")
    return ns


class Bins:
    """The ``"bins"`` sample maker: each file as one sample of fixed-rate actions
    (:meth:`hidpack.Recording.actions`, binned in the Rust core): ``fps`` bins per second, or
    (``frames=True``) one bin per screen frame of the file (:meth:`hidpack.Recording.frames`).
    A sample is ``path``, ``file``, ``metadata``, ``wall_clock_ns``, ``before``/``after`` (events
    outside the bins), then one array per bin field (``t`` = bin start, ``x``, ``y``, ``dx``,
    ``dy``, ``moves``, ``raw_dx``, ``raw_dy``, ``scroll_dx``, ``scroll_dy``, ``scrolls``,
    ``held``, ``text``) and the ragged events as flat arrays with per-bin ``offsets``:
    ``button`` = {offsets, dt, button, pressed}, ``key`` = {offsets, dt, pressed, usage,
    usage_valid, native, native_valid}; bin ``i``'s key events are rows
    ``key["offsets"][i]:key["offsets"][i+1]``."""

    _PER_BIN = (("x", "coord"), ("y", "coord"), ("dx", "coord"), ("dy", "coord"), ("moves", "int"),
                ("raw_dx", "coord"), ("raw_dy", "coord"), ("scroll_dx", "coord"), ("scroll_dy", "coord"),
                ("scrolls", "int"), ("held", "int"))
    _BUTTON = (("offsets", "int"), ("dt", "int"), ("button", "int"), ("pressed", "bool"))
    _KEY = (("offsets", "int"), ("dt", "int"), ("pressed", "bool"), ("usage", "int"), ("usage_valid", "bool"),
            ("native", "int"), ("native_valid", "bool"))

    def __init__(self, fps: Any = 20, frames: bool = False) -> None:
        from .actions import fps_fraction

        self.frames = bool(frames)
        self.fps = None if self.frames else fps_fraction(fps)

    def __repr__(self) -> str:
        return "Bins(frames=True)" if self.frames else f"Bins(fps={self.fps[0]}/{self.fps[1]})"  # type: ignore[index]

    def schema(self) -> Dict[str, Any]:
        """The layout of a sample (see :meth:`Episodes.schema` for the type names)."""
        out: Dict[str, Any] = {"path": "str", "file": "int", "metadata": "json", "wall_clock_ns": "int",
                               "before": "int", "after": "int", "t": ["int"]}
        out.update({name: [typ] for name, typ in self._PER_BIN})
        out["text"] = ["str"]
        out["button"] = {name: [typ] for name, typ in self._BUTTON}
        out["key"] = {name: [typ] for name, typ in self._KEY}
        return out

    def __call__(self, rec: Any, file: int) -> Iterator[Dict[str, Any]]:
        if self.frames:
            frames = rec.frames()
            if len(frames.t) == 0:
                raise ValueError(f"{rec.path}: bins by frames, but the recording has no screen frames")
            acts = rec.actions(frames=frames)
        elif len(rec) == 0:
            return  # nothing to bin: no sample
        else:
            acts = rec.actions(fps="%d/%d" % self.fps)  # type: ignore[str-format]
        sample: Dict[str, Any] = {
            "path": rec.path, "file": int(file), "metadata": rec._metadata_or_empty(),
            "wall_clock_ns": rec.wall_clock_ns, "before": acts.before, "after": acts.after,
            "t": np.asarray(acts.t, dtype=np.int64),
        }
        for name, typ in self._PER_BIN:
            sample[name] = np.asarray(getattr(acts, name), dtype=_DTYPES[typ])
        sample["text"] = acts.text
        b, k = acts.buttons, acts.keys
        sample["button"] = {"offsets": b.offsets, "dt": b.dt, "button": b.button.astype(np.int64), "pressed": b.pressed}
        sample["key"] = {
            "offsets": k.offsets, "dt": k.dt, "pressed": k.pressed,
            "usage": np.asarray(k.usage.data, dtype=np.int64), "usage_valid": ~np.ma.getmaskarray(k.usage),
            "native": np.asarray(k.native.data, dtype=np.int64), "native_valid": ~np.ma.getmaskarray(k.native),
        }
        yield sample


#: The sample makers by name: ``FleetDataset(sample=NAME)`` and ``hidpack export --to hf --unit NAME``.
SAMPLES: Dict[str, Callable[..., Callable[[Any, int], Any]]] = {"episode": Episodes, "bins": Bins}


def sample_maker(sample: Any, **options: Any) -> Callable[[Any, int], Any]:
    """``sample`` as a sample maker: a name in :data:`SAMPLES` (built with ``options``) or a
    callable (taken as it is; ``options`` must then be empty)."""
    if isinstance(sample, str):
        if sample not in SAMPLES:
            raise ValueError(f"unknown sample {sample!r}; known: {', '.join(SAMPLES)} (or pass a callable)")
        return SAMPLES[sample](**options)
    if not callable(sample):
        raise TypeError(f"sample must be a name ({', '.join(SAMPLES)}) or a callable(recording, file), got {sample!r}")
    if options:
        raise TypeError(f"{', '.join(sorted(options))}: options of a named sample; a callable sample takes none")
    return sample  # type: ignore[no-any-return]


def file_samples(
    maker: Callable[[Any, int], Any], path: str, file: int, *, threads: int | None = 1, errors: str = "raise"
) -> Iterator[Dict[str, Any]]:
    """The samples ``maker`` makes of the file ``path`` (index ``file`` in its fleet).

    Nothing is dropped silently. ``errors="raise"``: a file that cannot be opened raises its
    error (a :class:`hidpack.HidpackError` led by the path, or an ``OSError``); a block that
    cannot be read raises a :class:`hidpack.CorruptBlockError` led by the path (with ``.path``
    and ``.offset``), header metadata that is not a JSON object a :class:`hidpack.MetadataError`,
    before any sample made after the problem is passed on. ``errors="skip"``: a file that cannot be opened yields nothing, a damaged
    one what is readable; each problem is a ``RuntimeWarning`` naming the file."""
    from ._native import HidpackError
    from .recording import open as open_recording

    try:
        rec = open_recording(path, threads=threads)
    except (HidpackError, OSError) as e:
        if errors == "raise":
            if isinstance(e, OSError):  # its message names the file already
                raise
            raise _led_by_path(e, path) from e
        warnings.warn(f"{path}: skipped, cannot be read: {e}", RuntimeWarning, stacklevel=2)
        return
    with rec:
        header = rec._header_problems()  # (read once: the header does not change)
        seen = 0
        for sample in maker(rec, file):
            seen = _check(rec, header, seen, errors)  # before the sample is passed on
            yield sample
        _check(rec, header, seen, errors)


def _check(rec: Any, header: list, seen: int, errors: str) -> int:
    """Raise on (``errors="raise"``) or warn of the problems ``rec`` found after the first ``seen``
    (``header``: its header's, then the reader's, as in :attr:`Recording.problems`)."""
    problems = header + list(rec._reader.problems())
    for p in problems[seen:]:
        if errors == "raise":
            raise _problem_error(rec, p)
        warnings.warn(f"{rec.path}: {p['error']} ({p.get('events_lost')} event(s) lost)", RuntimeWarning, stacklevel=3)
    return len(problems)


def _problem_error(rec: Any, problem: Dict[str, Any]) -> BaseException:
    """The error of a problem: the header's :class:`hidpack.MetadataError`, or a
    :class:`hidpack.CorruptBlockError` led by the path (as ``read_many`` raises it)."""
    from ._errors import MetadataError
    from ._native import CorruptBlockError

    if problem in rec._header_problems():
        try:
            rec.metadata
        except MetadataError as e:
            return e
    err = CorruptBlockError(f"{rec.path}: {problem['error']}; errors='skip' reads the rest")
    err.path = rec.path
    err.offset = problem["offset"]
    return err


def _led_by_path(e: BaseException, path: str) -> BaseException:
    """An error of ``e``'s class whose message starts with ``path``, carrying ``.path``."""
    err = type(e)(f"{path}: {e}")
    err.path = path  # type: ignore[attr-defined]
    return err
