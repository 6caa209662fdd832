"""The ``hidpack`` command line: ``record``, ``import``, ``export``, ``info``, ``verify``,
``recover``, ``plot``, ``replay``, ``demo``.

Exit codes: 0 success; 1 ``verify`` found problems; 2 an error (bad arguments, unreadable input,
a ``hidpack.HidpackError``), reported as one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

from . import _progress as progress

PROG = "hidpack"


class CliError(Exception):
    """An error to report as one line (exit code 2)."""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _n(v: Any) -> str:
    return f"{int(v):,}"


def _size(n: int) -> str:
    if n >= 10 * 1024 * 1024:
        return "%s bytes (%.1f MiB)" % (_n(n), n / 1048576)
    if n >= 10 * 1024:
        return "%s bytes (%.1f KiB)" % (_n(n), n / 1024)
    return "%s bytes" % _n(n)


def _duration(ns: Optional[int]) -> str:
    if ns is None:
        return "-"
    s = ns / 1e9
    if s >= 3600:
        return "%.3f s (%d h %02d min)" % (s, s // 3600, (s % 3600) // 60)
    if s >= 60:
        return "%.3f s (%d min %02d s)" % (s, s // 60, s % 60)
    return "%.3f s" % s


def _ms(s: float) -> str:
    return "%.1f ms" % (s * 1000) if s < 10 else "%.2f s" % s


def _detect_format(src: str) -> str:
    name = src.lower()
    if name.endswith((".csv", ".csv.zst", ".csv.zstd", ".csv.gz")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "ducktrack"
    if name.endswith(".mcap"):
        return "owa"
    raise CliError(
        "cannot tell the format of %r from its extension (.csv[.zst], .jsonl, .mcap): "
        "pass --format csv|ducktrack|owa" % src
    )


def _hidpack_error() -> Tuple[Type[BaseException], ...]:
    try:
        from ._io import hidpack_error

        return (hidpack_error(),)
    except ImportError:
        return ()


# ---------------------------------------------------------------------------------------------
# import / export
# ---------------------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    src = args.src
    if not os.path.exists(src):
        raise CliError("%s: no such file" % src)
    fmt = args.format or _detect_format(src)
    policy = None
    if args.policy:
        from .policy import PolicyError, load_policy

        try:
            policy = load_policy(args.policy)
        except PolicyError as e:
            raise CliError(str(e)) from None
    if args.timezone is not None and fmt != "ducktrack":
        raise CliError("--timezone is for DuckTrack imports (their start_time has no zone); %s has none to read" % fmt)
    name = os.path.basename(src)
    if fmt == "csv":
        from .io_csv import _source_name, import_csv

        # progress: the bytes of the source read so far (compressed bytes for a .zst)
        with progress.bar(os.path.getsize(src), "importing " + name, unit="B", quiet=args.quiet) as bar, open(
            src, "rb"
        ) as fh:
            report = import_csv(
                bar.wrap(fh), args.out, source=_source_name(src), level=args.level, overwrite=args.force, policy=policy,
                clock_grid=args.clock_grid,
            )
    elif fmt == "ducktrack":
        from .io_ducktrack import import_ducktrack

        with progress.busy("importing " + name, quiet=args.quiet):
            report = import_ducktrack(
                src, args.out, level=args.level, overwrite=args.force, policy=policy, timezone=args.timezone,
                clock_grid=args.clock_grid,
            )
    else:
        from .io_owa import import_owa

        with progress.busy("importing " + name, quiet=args.quiet):
            report = import_owa(
                src, args.out, level=args.level, overwrite=args.force, policy=policy, clock_grid=args.clock_grid
            )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    elif not args.quiet:
        print(report.summary())
        if len(report.files) == 1:
            print("  wrote " + report.files[0])
        elif report.files:
            print("  wrote %d files in %s" % (len(report.files), os.path.dirname(report.files[0])))
    return 0


def _export_mcap(args: argparse.Namespace) -> int:
    """``export --to mcap``: OWAMcap, one file per recording; what OWA cannot carry is counted."""
    from .io_mcap_export import export_mcap

    report = export_mcap(args.src, args.output, overwrite=args.force, strict=args.strict)
    if not getattr(args, "quiet", False) or report.skipped:
        print(report.summary())
    return 0


def _export_hf(args: argparse.Namespace) -> int:
    """``export --to hf``: a Hugging Face ``datasets`` dataset saved in the directory OUT."""
    from ._io import expand_recordings
    from .io_hf import export_hf

    paths = expand_recordings(args.src)
    with progress.bar(len(paths), "exporting to " + os.path.basename(args.output), quiet=args.quiet) as bar:
        report = export_hf(
            paths, args.output, unit=args.unit or "episode", window=args.window, fps=args.fps, overwrite=args.force,
            on_file=lambda p: bar.update(1),
        )
    if not args.quiet:
        print(report.summary())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ._io import expand_recordings
    from .io_export import export, guess_format

    for s in args.src:
        if not os.path.exists(s):
            raise CliError("%s: no such file or directory" % s)
    to = args.to or guess_format(args.output)
    if to is None:
        raise CliError("cannot tell the export format from %r: pass --to csv|jsonl|parquet|mcap|hf" % args.output)
    if (args.unit or args.window is not None or args.fps is not None) and to != "hf":
        raise CliError("--unit, --window and --fps are for --to hf")
    if args.fps is not None and args.unit != "bins":
        raise CliError("--fps is for --unit bins")
    if args.window is not None and args.unit == "bins":
        raise CliError("--window is for --unit episode")
    if to == "mcap":
        return _export_mcap(args)
    if to == "hf":
        return _export_hf(args)
    paths = expand_recordings(args.src)
    if len(paths) == 1:
        with progress.busy("exporting " + os.path.basename(paths[0]), quiet=args.quiet):
            report = export(paths, args.output, to=to)
    else:
        with progress.bar(len(paths), "exporting to " + os.path.basename(args.output), quiet=args.quiet) as bar:
            report = export(paths, args.output, to=to, on_file=lambda p: bar.update(1))
    if not args.quiet:
        print(report.summary())
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plot import plot_file

    if not os.path.exists(args.file):
        raise CliError("%s: no such file" % args.file)
    t0 = None if args.start is None else int(round(args.start * 1e9))
    t1 = None if args.end is None else int(round(args.end * 1e9))
    screen: Any = None
    if args.screen is not None:
        try:
            screen = False if args.screen == "data" else tuple(int(v) for v in args.screen.lower().split("x"))
        except ValueError:
            raise CliError("--screen must be WIDTHxHEIGHT (e.g. 1920x1080) or 'data', got %r" % args.screen) from None
    r = plot_file(args.file, args.output, mode=args.mode, size=args.size, t0=t0, t1=t1, axes=not args.no_axes,
                  screen=screen)
    if r["screen"] is not None:
        where = "screen %g x %g px" % r["screen"]
    elif screen is False:
        where = "the data's extent"
    else:
        where = "screen size unknown (no screen in the metadata; --screen WxH gives it): the data's extent"
    if not args.quiet:
        print("wrote %s: %s of %s move(s), %d x %d px; %s"
              % (args.output, r["mode"], _n(r["moves"]), r["width"], r["height"], where))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a recording's pointer and keys on this X display (hidpack.replay), after a
    countdown (--yes: at once); Ctrl-C or SIGTERM stops it with every held key released."""
    import signal
    import threading

    from .replay import ReplayError, replay

    if not os.path.exists(args.file):
        raise CliError("%s: no such file" % args.file)
    t0 = None if args.start is None else int(round(args.start * 1e9))
    t1 = None if args.end is None else int(round(args.end * 1e9))
    countdown = 0.0 if args.yes else args.countdown
    stop = threading.Event()
    bars: List[Any] = []

    def started(report: Any) -> None:
        # checked and planned: now the countdown (Ctrl-C here stops before anything is injected)
        if countdown > 0:
            print("%s: replaying %s events of %s on display %s in %g s (Ctrl-C to cancel)"
                  % (PROG, _n(report.events), args.file, os.environ.get("DISPLAY"), countdown),
                  file=sys.stderr, flush=True)
            if stop.wait(countdown):
                return
        bars.append(progress.bar(report.events, "replaying", unit="event", quiet=args.quiet))

    old = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = replay(args.file, speed=args.speed, t0=t0, t1=t1, pointer_only=args.pointer_only, clip=args.clip,
                        stop=stop, on_start=started, on_progress=lambda n: bars[0].update(n) if bars else None)
    except ReplayError as e:
        raise CliError(str(e)) from None
    finally:
        for b in bars:
            b.close()
        for sig, h in old.items():
            signal.signal(sig, h)
    if args.json:
        print(json.dumps(report.as_dict()))
    elif not args.quiet:
        print(report.summary())
    if report.interrupted:
        print("%s: interrupted after %s of %s events; %d held key(s)/button(s) released"
              % (PROG, _n(report.done), _n(report.events), report.released), file=sys.stderr)
        return 130
    return 0


# ---------------------------------------------------------------------------------------------
# info / verify
# ---------------------------------------------------------------------------------------------


def _open(path: str) -> Any:
    if not os.path.exists(path):
        raise CliError("%s: no such file" % path)
    import hidpack

    return hidpack.open(path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (bytes, bytearray)):
        return x.hex()
    return x


def _problem_line(p: Dict[str, Any]) -> str:
    off = p.get("offset")
    length = p.get("length")
    lost = p.get("events_lost")
    where = "offset %s" % (off if isinstance(off, int) else "?")
    if isinstance(length, int):
        where += " (+%d bytes)" % length
    tail = "" if lost is None else "; %s event(s) lost" % _n(lost)
    return "%s: %s%s" % (where, p.get("error", "problem"), tail)


def _fleet_file(path: str, quick: bool) -> Dict[str, Any]:
    """One file of ``info DIR``: what its index says (and, unless ``quick``, its full check's
    problems); an unreadable file gives ``{"path", "bytes", "error"}``. Never raises for it."""
    unreadable: Tuple[Type[BaseException], ...] = (*_hidpack_error(), OSError, ValueError)
    try:
        size = os.path.getsize(path)
    except OSError as e:
        return {"path": path, "bytes": 0, "error": _one_line(e)}
    try:
        import hidpack

        rec = hidpack.open(path, threads=1)  # the files are read in parallel: one thread each
        info = dict(rec.info())
        problems = list(info.get("problems") or [])
        if not quick:
            seen = {(p.get("offset"), p.get("error")) for p in problems}
            problems += [p for p in rec.verify().get("problems") or [] if (p.get("offset"), p.get("error")) not in seen]
    except unreadable as e:
        return {"path": path, "bytes": size, "error": _one_line(e)}
    keep = ("events", "counts", "blocks", "duration_ns", "t_min", "t_max", "wall_clock_ns", "drops", "closed")
    out = {k: info.get(k) for k in keep}
    out.update(path=path, bytes=size, problems=problems)
    return out


def _covered(spans: List[Tuple[int, int]]) -> int:
    """ns covered by the union of ``[start, end]`` spans."""
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _utc(ns: int) -> str:
    return _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def cmd_info_fleet(args: argparse.Namespace, paths: List[str]) -> int:
    """``hidpack info DIR`` / ``info A B ...``: one summary of many recordings."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool, progress.bar(
        len(paths), "reading", quiet=args.quiet
    ) as bar:
        files = []
        for f in pool.map(lambda p: _fleet_file(p, args.quick), paths):
            bar.update(1)
            files.append(f)
    ok = [f for f in files if "error" not in f]
    counts: Dict[str, int] = {}
    for f in ok:
        for k, v in (f.get("counts") or {}).items():
            counts[k] = counts.get(k, 0) + int(v or 0)
    counts = {k: v for k, v in counts.items() if v}
    events = sum(int(f.get("events") or 0) for f in ok)
    size = sum(int(f["bytes"]) for f in files)
    durations = sorted(int(f.get("duration_ns") or 0) for f in ok)
    walled = [f for f in ok if isinstance(f.get("wall_clock_ns"), int)]
    spans = [
        (f["wall_clock_ns"] + int(f.get("t_min") or 0), f["wall_clock_ns"] + int(f.get("t_max") or 0))
        for f in walled if f.get("t_min") is not None
    ]
    bad = [f for f in files if "error" in f or f.get("problems")]
    summary: Dict[str, Any] = {
        "files": len(files),
        "events": events,
        "counts": counts,
        "duration_ns": sum(durations),
        "bytes": size,
        "bytes_per_event": size / events if events else None,
        "blocks": sum(int(f.get("blocks") or 0) for f in ok),
        "drops": sum(int(f.get("drops") or 0) for f in ok),
        "checked": not args.quick,
        "files_with_problems": len(bad),
        "wall_clock": {
            "files": len(walled),
            "files_without": [f["path"] for f in ok if f not in walled],
            "first_ns": min((a for a, _ in spans), default=None),
            "last_ns": max((b for _, b in spans), default=None),
            "covered_ns": _covered(spans),
        },
        "problems": [
            {"path": f["path"], "error": f["error"]} if "error" in f else {"path": f["path"], **p}
            for f in bad for p in ([{}] if "error" in f else f["problems"])
        ],
        "per_file": files,
    }
    if args.json:
        print(json.dumps(_jsonable(summary), indent=2, ensure_ascii=False))
        return 0
    lines = ["files       %s (%s)" % (_n(len(files)), ", ".join(args.file) if len(args.file) <= 3 else "%d paths" % len(args.file))]
    lines.append("events      %s" % _n(events))
    width = max((len(k) for k in counts), default=4)
    for k, v in counts.items():
        lines.append("  %-*s  %12s  %5.1f%%" % (width, k, _n(v), 100.0 * v / events if events else 0))
    if durations:
        lines.append(
            "duration    %s in all; per file %s (shortest) .. %s (median) .. %s (longest)"
            % (_duration(sum(durations)), _duration(durations[0]), _duration(durations[len(durations) // 2]),
               _duration(durations[-1]))
        )
    lines.append("size        %s" % _size(size))
    if events:
        lines.append("bytes/event %.2f" % (size / events))
    lines.append("blocks      %s" % _n(summary["blocks"]))
    if summary["drops"]:
        lines.append("dropped     %s event(s) (ring full)" % _n(summary["drops"]))
    wc = summary["wall_clock"]
    if spans:
        lines.append(
            "wall clock  %s of %s file(s); %s .. %s UTC, %s of it recorded"
            % (_n(len(walled)), _n(len(ok)), _utc(wc["first_ns"]), _utc(wc["last_ns"]), _duration(wc["covered_ns"]).split(" (")[0])
        )
    elif walled:
        lines.append("wall clock  %s of %s file(s) (none has events)" % (_n(len(walled)), _n(len(ok))))
    else:
        lines.append("wall clock  none of %s file(s): no wall_t, no wall_time columns" % _n(len(ok)))
    if walled and wc["files_without"]:
        lines.append(
            "            %s file(s) without one (wall_t refused for them), e.g. %s"
            % (_n(len(wc["files_without"])), wc["files_without"][0])
        )
    if bad:
        lines.append("problems    %s file(s)%s" % (_n(len(bad)), "" if not args.quick else " (only what the index shows: --quick)"))
        for f in bad[:20]:
            if "error" in f:
                lines.append("  %s: FAILED: %s" % (f["path"], f["error"]))
            else:
                lines.append("  %s: %s" % (f["path"], "; ".join(_problem_line(p) for p in f["problems"][:3])))
        if len(bad) > 20:
            lines.append("  ... and %s more (hidpack verify lists them all)" % _n(len(bad) - 20))
    else:
        lines.append("problems    none" + (" (not checked: --quick)" if args.quick else ""))
    print("\n".join(lines))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from ._io import expand_recordings

    paths = expand_recordings(args.file)
    if len(args.file) > 1 or os.path.isdir(args.file[0]):
        if not paths:
            raise CliError("no recordings in %s (a directory with no *.hpk files)" % ", ".join(args.file))
        if args.chunks:
            raise CliError("--chunks is for one file")
        for p in paths:
            if not os.path.exists(p):
                raise CliError("%s: no such file" % p)
        return cmd_info_fleet(args, paths)
    args.file = paths[0]
    rec = _open(args.file)
    info = dict(rec.info())
    if not args.quick:
        # a full check, so that "problems" lists every bad block, not only those read so far
        check = dict(rec.verify())
        info["verified"] = bool(check.get("ok"))
        seen = {(p.get("offset"), p.get("error")) for p in info.get("problems") or []}
        info["problems"] = list(info.get("problems") or []) + [
            p for p in check.get("problems") or [] if (p.get("offset"), p.get("error")) not in seen
        ]
        if (info.get("counts") or {}).get("marker"):
            # clock records (markers the recorder wrote): how far the wall clock moved against
            # the recording clock (a suspend, a clock step); rec.wall_t() follows them
            ct, cw = rec.clock()
            n = len(ct) - (1 if isinstance(info.get("wall_clock_ns"), int) else 0)
            if n:
                shift = (cw - ct) - int(cw[0] - ct[0])
                info["clock_records"] = n
                info["clock_shift_ns"] = int(shift[np.argmax(np.abs(shift))])
    if args.chunks:
        info["chunks"] = rec.chunks()
    if args.json:
        print(json.dumps(_jsonable(info), indent=2, ensure_ascii=False))
        return 0
    counts = {k: v for k, v in (info.get("counts") or {}).items() if v}
    events = int(info.get("events") or 0)
    size = int(info.get("bytes") or os.path.getsize(args.file))
    lines = ["file        %s" % args.file]
    if info.get("version") is not None or info.get("created_by"):
        lines.append("format      version %s, written by %s" % (info.get("version"), info.get("created_by") or "?"))
    lines.append("duration    %s" % _duration(info.get("duration_ns")))
    wall = info.get("wall_clock_ns")
    if isinstance(wall, int):
        when = _dt.datetime.fromtimestamp(wall / 1e9, tz=_dt.timezone.utc)
        lines.append("started     %s UTC" % when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
    elif not info.get("clock_records"):
        lines.append("wall clock  none: the writer did not know when t = 0 was (no wall_t, no wall_time columns)")
    if info.get("clock_records"):
        shift = info["clock_shift_ns"] / 1e9
        lines.append(
            "clock       %s clock record(s) (markers); the wall clock moved by at most %s s against the recording clock"
            % (_n(info["clock_records"]), "%+.3f" % shift if abs(shift) >= 0.0005 else "0.000")
        )
    lines.append("events      %s" % _n(events))
    width = max((len(k) for k in counts), default=4)
    for k, v in counts.items():
        lines.append("  %-*s  %12s  %5.1f%%" % (width, k, _n(v), 100.0 * v / events if events else 0))
    lines.append("size        %s" % _size(size))
    if events:
        lines.append("bytes/event %.2f" % (size / events))
    lines.append("blocks      %s" % _n(info.get("blocks") or 0))
    if info.get("drops"):
        lines.append("dropped     %s event(s) (ring full)" % _n(info["drops"]))
    if info.get("paused"):
        lines.append("paused      %s event(s) withheld while paused" % _n(info["paused"]))
    pol = info.get("policy")
    if isinstance(pol, dict):
        rules = pol.get("rules") or []
        lines.append(
            "policy      %s: keys %s, text %s, titles %s, %d rule(s)"
            % (pol.get("name"), pol.get("keys"), pol.get("text"), pol.get("titles"), len(rules))
        )
        applied = (info.get("metadata") or {}).get("privacy_applied") or {}
        withheld = applied.get("withheld") or {}
        transformed = applied.get("transformed") or {}
        parts = ["%s redacted event(s) in gaps" % _n(info.get("redacted") or 0)]
        parts += ["%s %s event(s) withheld" % (_n(v), k) for k, v in withheld.items() if v]
        parts += ["%s %s" % (_n(v), k.replace("_", " ")) for k, v in transformed.items() if v]
        lines.append("withheld    " + "; ".join(parts))
    tail = info.get("tail")
    if tail:
        lines.append(
            "not closed  %s event(s) read from the write-ahead tail %s (`hidpack recover` makes a clean file)"
            % (_n(tail.get("events") or 0), tail.get("path"))
        )
    elif info.get("closed") is False:
        lines.append("not closed  no footer: blocks found by scanning (`hidpack recover` makes a clean file)")
    md = {k: v for k, v in (info.get("metadata") or {}).items() if k not in ("privacy_policy", "privacy_applied")}
    if md:
        lines.append("metadata")
        for k, v in md.items():
            text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            if len(text) > 100:
                text = text[:97] + "..."
            lines.append("  %s: %s" % (k, text))
    problems = info.get("problems") or []
    if problems:
        lines.append("problems    %d" % len(problems))
        for p in problems:
            lines.append("  " + _problem_line(p))
    else:
        lines.append("problems    none" + (" (not checked: --quick)" if args.quick else ""))
    chunks = info.get("chunks")
    if chunks:
        total = sum(c["bytes"] for c in chunks) or 1
        lines.append("chunks      where the bytes go (block payloads before zstd: %s)" % _size(total))
        for c in chunks:
            name = "%s.%s" % (c["kind"], c["field"]) if c["kind"] else c["field"]
            enc = c["encoding"] + (" (%s)" % c["predictor"] if c["predictor"] else "")
            per = "  %6.3f B/event" % (c["bytes"] / events) if events else ""
            lines.append("  %-16s %-26s %12s%s  %5.1f%%" % (name, enc, _n(c["bytes"]), per, 100.0 * c["bytes"] / total))
    print("\n".join(lines))
    return 0


def _verify_one(path: str) -> Tuple[bool, List[str], int, int]:
    """(ok, report lines, blocks, events readable) for one file; never raises for a file that is
    not readable."""
    unreadable: Tuple[Type[BaseException], ...] = (*_hidpack_error(), OSError)
    if not os.path.exists(path):
        return False, ["%s: FAILED: no such file" % path], 0, 0
    try:
        rec = _open(path)
        result = dict(rec.verify())
    except unreadable as e:  # the file cannot even be opened: that is what verify reports
        return False, ["%s: FAILED: %s" % (path, _one_line(e))], 0, 0
    problems = list(result.get("problems") or [])
    blocks, events = int(result.get("blocks") or 0), int(result.get("events") or 0)
    if result.get("ok") and not problems:
        return True, ["%s: OK (%s block(s), %s event(s))" % (path, _n(blocks), _n(events))], blocks, events
    lines = [
        "%s: %d problem(s) (%s block(s), %s event(s) readable)" % (path, len(problems) or 1, _n(blocks), _n(events))
    ]
    lines += ["  " + _problem_line(p) for p in problems]
    return False, lines, blocks, events


def cmd_verify(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from ._io import expand_recordings

    paths = expand_recordings(args.files)
    if not paths:
        raise CliError("no recordings to verify (the directories hold no *.hpk files)")
    if len(paths) == 1 and not os.path.exists(paths[0]):
        raise CliError("%s: no such file" % paths[0])
    # Files are checked on a few threads (the native check releases the GIL), reported in order:
    # the problems (every file with -v), then one summary line.
    failed = blocks = events = 0
    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool, progress.bar(
        len(paths), "verifying", quiet=args.quiet
    ) as bar:
        for ok, lines, b, e in pool.map(_verify_one, paths):
            bar.update(1)
            failed += not ok
            blocks += b
            events += e
            if not ok or args.verbose:
                bar.write("\n".join(lines))
    if not args.quiet:  # -q: only the problems (and the exit code)
        print(
            "%s file(s): %s OK, %s with problems; %s event(s) in %s block(s)%s"
            % (_n(len(paths)), _n(len(paths) - failed), _n(failed), _n(events), _n(blocks), " readable" if failed else "")
        )
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------

_WORDS = (
    "the quick brown fox jumps over the lazy dog while hidpack records every move click "
    "and key press of a human at the computer"
).split()

_APPS = (
    ("Firefox", "Wikipedia, the free encyclopedia - Mozilla Firefox"),
    ("Code", "recorder.py - hidpack - Visual Studio Code"),
    ("Terminal", "bash - 120x40"),
)


def _min_jerk(n: int) -> np.ndarray:
    s = np.linspace(0.0, 1.0, n)
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def synthetic_session(seconds: float = 60.0, seed: int = 7) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A synthetic but realistic desktop session as ``(write table, metadata)``.

    Mouse: aimed movements between targets (Fitts'-law durations, curved paths with a minimum-jerk
    speed profile, small tremor, occasional overshoot and correction) sampled at ~125 Hz on integer
    pixels; clicks, double clicks, drags (``buttons`` = 1) and wheel scrolls at the pointer; typed
    words with key rollover (``usage`` + JavaScript ``native`` code, ``text`` events);
    focus changes between three apps; ``marker`` events at the task boundaries.
    """
    from . import keymap
    from ._io import BUTTON, FOCUS, KEY, MARKER, MOVE, SCROLL, TEXT, TableBuilder

    rng = np.random.default_rng(seed)
    W, H = 1920, 1080
    end_ns = int(seconds * 1e9)
    events: List[Tuple[int, int, Dict[str, Any]]] = []
    seq = [0]

    def ev(t: int, kind: int, **f: Any) -> None:
        events.append((int(t), seq[0], {"kind": kind, **f}))
        seq[0] += 1

    t = 0
    pos = np.array([W / 2, H / 2])
    held = 0
    app = 0
    ev(0, MARKER, label="task_start", value=1)
    ev(0, FOCUS, app=_APPS[0][0], title=_APPS[0][1], window=0x10000 + 0, left=0, top=0, right=W, bottom=H)

    def move_to(target: np.ndarray, t: int) -> int:
        nonlocal pos
        dist = float(np.hypot(*(target - pos)))
        if dist < 1:
            return t
        mt = 0.12 + 0.14 * np.log2(dist / 24.0 + 1.0) + rng.normal(0, 0.03)
        n = max(3, int(mt / 0.008))
        s = _min_jerk(n)
        d = target - pos
        normal = np.array([-d[1], d[0]]) / dist
        bend = rng.normal(0, 0.12) * dist
        c1 = pos + d * 0.3 + normal * bend
        c2 = pos + d * 0.7 + normal * bend * 0.5
        b = (
            ((1 - s) ** 3)[:, None] * pos
            + (3 * (1 - s) ** 2 * s)[:, None] * c1
            + (3 * (1 - s) * s**2)[:, None] * c2
            + (s**3)[:, None] * target
        )
        b += rng.normal(0, 0.6, b.shape) * np.sin(np.pi * s)[:, None]
        last = None
        for i in range(1, n):
            t += int(8_000_000 + rng.integers(-900_000, 900_000))
            x = int(np.clip(round(b[i, 0]), 0, W - 1))
            y = int(np.clip(round(b[i, 1]), 0, H - 1))
            if (x, y) != last:
                ev(t, MOVE, x=x, y=y, buttons=held)
                last = (x, y)
        pos = np.array([float(target[0]), float(target[1])])
        return t

    def click(t: int, button: int = 1) -> int:
        x, y = int(pos[0]), int(pos[1])
        ev(t, BUTTON, button=button, pressed=True, x=x, y=y)
        t += int(rng.integers(60, 140)) * 1_000_000
        ev(t, BUTTON, button=button, pressed=False, x=x, y=y)
        return t

    def type_word(t: int, word: str) -> int:
        for ch in word:
            usage = keymap.pynput_to_usage(ch)
            code = keymap.usage_to_js_keycode(usage) if usage is not None else None
            shift = ch.isupper()
            if shift:
                ev(t, KEY, usage=0xE1, native=16, pressed=True)
                t += int(rng.integers(30, 80)) * 1_000_000
            ev(t, KEY, usage=usage, native=code, pressed=True)
            ev(t, TEXT, text=ch)
            hold = int(rng.integers(60, 130)) * 1_000_000
            ev(t + hold, KEY, usage=usage, native=code, pressed=False)  # may overlap the next key
            if shift:
                ev(t + hold + 10_000_000, KEY, usage=0xE1, native=16, pressed=False)
            t += int(rng.lognormal(np.log(150), 0.35)) * 1_000_000
        return t

    while t < end_ns:
        r = rng.random()
        target = np.array([rng.uniform(20, W - 20), rng.uniform(20, H - 20)])
        if r < 0.45:
            t = move_to(target, t)
            if rng.random() < 0.2:  # overshoot correction
                t = move_to(np.clip(target + rng.normal(0, 6, 2), 0, [W - 1, H - 1]), t)
            t += int(rng.integers(80, 250)) * 1_000_000
            t = click(t, 1 if rng.random() < 0.9 else 2)
            if rng.random() < 0.15:  # double click
                t += int(rng.integers(70, 120)) * 1_000_000
                t = click(t)
        elif r < 0.55:  # drag
            t = move_to(target, t)
            ev(t, BUTTON, button=1, pressed=True, x=int(pos[0]), y=int(pos[1]))
            held = 1
            t = move_to(np.clip(target + rng.normal(0, 200, 2), 0, [W - 1, H - 1]), t + 120_000_000)
            held = 0
            t += int(rng.integers(50, 150)) * 1_000_000
            ev(t, BUTTON, button=1, pressed=False, x=int(pos[0]), y=int(pos[1]))
        elif r < 0.7:  # scroll
            t = move_to(target, t)
            direction = 1 if rng.random() < 0.6 else -1
            for _ in range(int(rng.integers(3, 12))):
                t += int(rng.integers(25, 90)) * 1_000_000
                ev(t, SCROLL, dx=0, dy=direction, x=int(pos[0]), y=int(pos[1]))
        elif r < 0.9:  # type a few words
            words = rng.choice(_WORDS, size=int(rng.integers(2, 6)))
            for i, w in enumerate(words):
                w = str(w)
                if i == 0 and rng.random() < 0.3:
                    w = w.capitalize()
                t = type_word(t, w + ("" if i == len(words) - 1 else " "))
            ev(t, KEY, usage=0x28, native=13, pressed=True)
            ev(t + 90_000_000, KEY, usage=0x28, native=13, pressed=False)
            t += 300_000_000
        else:  # switch app
            app = (app + 1 + int(rng.integers(0, 2))) % len(_APPS)
            name, title = _APPS[app]
            left, top = int(rng.integers(0, 300)), int(rng.integers(0, 200))
            ev(t, FOCUS, app=name, title=title, window=0x10000 + app, left=left, top=top, right=left + 1400, bottom=top + 850)
            t += int(rng.integers(200, 600)) * 1_000_000
        t += int(rng.exponential(400)) * 1_000_000  # idle
    ev(t, MARKER, label="task_end", value=1)

    events.sort(key=lambda e: (e[0], e[1]))
    b = TableBuilder()
    for tt, _, f in events:
        kind = f.pop("kind")
        b.add(tt, kind, **f)
    md = {
        "session": "synthetic-%d" % seed,
        "source": "hidpack demo (synthetic)",
        "screen_width": W,
        "screen_height": H,
        "native_keyspace": "js_keycode",
        "seed": seed,
    }
    return b.build(), md


def _find_data_dir() -> Tuple[Optional[str], str]:
    """(the data folder holding the DuckTrack example, or None; how it was found or why not).
    Looked for in $HIDPACK_DATA if set, else in ../shared/data from the current folder (where a
    clone of the repository sits beside shared/), never beside the installed package."""
    example = os.path.join("ducktrack-example", "events.jsonl")
    env = os.environ.get("HIDPACK_DATA")
    if env:
        if os.path.isfile(os.path.join(env, example)):
            return os.path.normpath(env), "HIDPACK_DATA=%s" % env
        return None, "HIDPACK_DATA=%s has no %s" % (env, example)
    rel = os.path.join("..", "shared", "data")
    if os.path.isfile(os.path.join(rel, example)):
        return os.path.normpath(os.path.abspath(rel)), "../shared/data from the current folder"
    return None, "HIDPACK_DATA is not set and ../shared/data from the current folder has no %s" % example


def _tables_equal(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Whether a written table and the table read back hold the same events."""
    from ._io import FIELD_KINDS, field, string_column

    if not np.array_equal(np.asarray(a["t"]), np.asarray(b["t"])):
        return False
    if not np.array_equal(np.asarray(a["kind"]), np.asarray(b["kind"])):
        return False
    for name, (typ, _) in FIELD_KINDS.items():
        if typ == "str":
            if string_column(a, name) != string_column(b, name):
                return False
            continue
        va, ma = field(a, name)
        vb, mb = field(b, name)
        if not np.array_equal(ma, mb) or not np.array_equal(np.asarray(va)[ma], np.asarray(vb)[mb]):
            return False
    return True


def cmd_record(args: argparse.Namespace) -> int:
    """Record this desktop's input until --duration, Ctrl-C or SIGTERM; close the file cleanly.
    Prints its statistics as one JSON line on stdout at the end; -q prints nothing but errors
    (the capture's own errors, kept in the statistics otherwise, then go to stderr)."""
    import resource
    import signal
    import threading

    import hidpack
    from .desktop import CaptureUnavailable, DesktopCapture
    from .policy import PolicyError, load_policy
    from .screen import ScreenUnavailable

    try:
        policy = load_policy(args.policy) if args.policy else None
    except PolicyError as e:
        raise CliError(str(e)) from None
    if os.path.exists(args.out) and not args.force:
        raise CliError("%s exists (use --force to replace it)" % args.out)
    meta: Dict[str, Any] = {"source": "hidpack record (pynput)", "platform": sys.platform}
    screen = _screen_capture(args)
    if screen is not None:
        meta.update(screen.metadata(args.out))
    if sys.platform.startswith("linux"):
        meta["native_keyspace"] = "x11-keysym"
        meta["display_server"] = "wayland" if os.environ.get("WAYLAND_DISPLAY") else "x11"
    elif sys.platform == "win32":
        meta["native_keyspace"] = "windows-vk"
    elif sys.platform == "darwin":
        meta["native_keyspace"] = "macos-keycode"
    rec = hidpack.Recorder(args.out, policy=policy, metadata=meta, flush_interval=args.flush_interval, overwrite=args.force)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def toggled(paused: bool) -> None:
        if not args.quiet:
            print("\n%s: %s" % (PROG, "paused" if paused else "resumed"), file=sys.stderr, flush=True)

    cap = DesktopCapture(rec, hotkey=args.pause_hotkey or None, on_toggle=toggled)
    try:
        cap.start()
    except CaptureUnavailable as e:
        rec.close()
        os.remove(args.out)
        raise CliError(str(e)) from None
    try:
        if screen is not None:
            screen.start(rec, timeout=args.screen_timeout)
    except ScreenUnavailable as e:
        cap.stop()
        rec.close()
        os.remove(args.out)
        raise CliError(str(e)) from None
    if not args.quiet:
        for lim in cap.limitations:
            print("%s: note: %s" % (PROG, lim), file=sys.stderr)
        print(
            "%s: recording to %s%s (%s to pause/resume; Ctrl-C to stop)"
            % (PROG, args.out, " with policy %s" % policy.name if policy else "", args.pause_hotkey or "no hotkey"),
            file=sys.stderr,
            flush=True,
        )
    if args.quiet:
        args.status = False
    t_start = time.monotonic()
    last = (t_start, 0)
    tick = 1.0 if args.status else 0.2
    end = None if args.duration is None else t_start + args.duration
    try:
        # wake at the next status tick or at the end, whichever is first: --duration is kept
        while not stop.wait(tick if end is None else max(0.0, min(tick, end - time.monotonic()))):
            now = time.monotonic()
            if end is not None and now >= end:
                break
            if screen is not None and screen.failed():
                break
            if args.status:
                st = rec.stats()
                rate = (st["pushed"] - last[1]) / max(now - last[0], 1e-9)
                last = (now, st["pushed"])
                print("\r" + _record_status(args.out, st, now - t_start, rate, rec.paused), end="", file=sys.stderr,
                      flush=True)
    finally:
        screen_report = None if screen is None else screen.stop()
        cap.stop()
        st = dict(rec.close())
        for sig, h in old.items():
            signal.signal(sig, h)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    st["seconds"] = round(time.monotonic() - t_start, 3)
    st["cpu_seconds"] = round(ru.ru_utime + ru.ru_stime, 3)
    st["cpu_percent"] = round(100.0 * st["cpu_seconds"] / max(st["seconds"], 1e-9), 2)
    if policy is not None and hasattr(rec, "policy_report"):
        st["policy"] = rec.policy_report()
    if cap.errors:
        st["capture_errors"] = cap.errors[:10]
    if args.status:
        print(file=sys.stderr)
    if screen_report is not None:
        st["screen"] = screen_report
    if not args.quiet:
        print(json.dumps(st))
    else:
        for err in st.get("capture_errors", []):
            print("%s: capture error: %s" % (PROG, err), file=sys.stderr)
    if screen_report is not None and "error" in screen_report:
        print("%s: screen recording failed (input recording stopped with it): %s" % (PROG, screen_report["error"]),
              file=sys.stderr)
        return 1
    return 0


def _screen_capture(args: argparse.Namespace) -> Any:
    """The screen capture ``record --screen`` asked for (None without --screen): checked before
    anything is written (ffmpeg and DISPLAY present, the video not in the way)."""
    if args.screen is None:
        return None
    if not args.screen_timeout > 0:  # also refuses NaN
        raise CliError("--screen-timeout must be a number of seconds above 0, got %r" % args.screen_timeout)
    from .screen import ScreenCapture, ScreenUnavailable

    try:
        return ScreenCapture(args.screen, fps=args.screen_fps, overwrite=args.force)
    except (ScreenUnavailable, FileExistsError, ValueError) as e:
        raise CliError(str(e)) from None


def _record_status(out: str, st: Dict[str, Any], seconds: float, rate: float, paused: bool) -> str:
    """The live status line of ``hidpack record``. Its bytes are what is on disk now: the file's
    closed blocks plus the write-ahead tail (``OUT.wal``) where the last second's events are
    checkpointed until a block closes (a block holds up to 65,536 events, so a short recording
    has no block yet). Bytes per event: those on disk over the events written so far (the tail
    is less compact than a block, so it falls when a block closes)."""
    try:
        tail = os.path.getsize(out + ".wal")
    except OSError:
        tail = 0
    per = "%.2f B/ev" % ((st["bytes"] + tail) / st["written"]) if st.get("written") else "- B/ev"
    return "%s  %7.0f ev/s  events %s  dropped %s  on disk %s (file %s + tail %s, %s block(s))  %s%s   " % (
        _duration(int(seconds * 1e9)),
        rate,
        _n(st["pushed"]),
        _n(st["dropped"]),
        _size(st["bytes"] + tail).split(" (")[0],
        _n(st["bytes"]),
        _n(tail),
        _n(st.get("blocks") or 0),
        per,
        "  [paused]" if paused else "",
    )


def cmd_recover(args: argparse.Namespace) -> int:
    import hidpack

    if not os.path.exists(args.file):
        raise CliError("%s: no such file" % args.file)
    out = args.output or args.file
    herr = _hidpack_error()
    try:
        with progress.busy("recovering " + os.path.basename(args.file), quiet=args.quiet):
            rep = hidpack.recover(args.file, out, overwrite=args.force)
    except FileExistsError as e:
        raise CliError("%s: cannot recover: %s exists (pass --force to replace it)" % (args.file, e.filename or out)) from None
    except BlockingIOError as e:
        raise CliError("%s: cannot recover: a live recorder is writing it (%s)" % (args.file, e.strerror)) from None
    except herr as e:
        raise CliError("%s: cannot recover: %s" % (args.file, _one_line(e))) from None
    if not args.quiet:
        print(
            "%s: %s event(s) from %s block(s) (%s from the write-ahead tail) -> %s"
            % (args.file, _n(rep["events"]), _n(rep["blocks_read"]), _n(rep["tail_events"]), out)
        )
    # what was lost is said even with -q (on stderr then: stdout stays empty)
    say = sys.stderr if args.quiet else sys.stdout
    for p in rep["problems"]:
        print("%sskipped: %s" % ("%s: %s: " % (PROG, args.file) if args.quiet else "  ", p), file=say)
    if rep["events_lost"]:
        print("%s%s event(s) lost in damaged blocks" % ("%s: %s: " % (PROG, args.file) if args.quiet else "  ", _n(rep["events_lost"])), file=say)
    if rep.get("tail_moved_to"):
        print(
            "%sthe write-ahead tail was not merged whole: kept as %s"
            % ("%s: %s: " % (PROG, args.file) if args.quiet else "  ", rep["tail_moved_to"]),
            file=say,
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import hidpack

    source = args.source
    data, found = (None, "--source synthetic") if source == "synthetic" else _find_data_dir()
    if source == "ducktrack" and data is None:
        raise CliError("the DuckTrack example was not found: %s (set HIDPACK_DATA to the shared/data folder)" % found)
    # without --out the recording goes to a temporary folder, removed at the end
    temp = None if args.out else tempfile.TemporaryDirectory(prefix="hidpack-demo-")
    out_dir = args.out or temp.name  # type: ignore[union-attr]
    try:
        os.makedirs(out_dir, exist_ok=True)
        return _demo(args, hidpack, data, found, out_dir, temporary=temp is not None)
    finally:
        if temp is not None:
            temp.cleanup()


#: Times the demo's speed test writes and reads: the best is shown (the first pays one-off costs).
DEMO_REPEATS = 3
#: Events the demo's speed test writes: the sample, repeated (a file's fixed costs then do not count).
DEMO_SPEED_EVENTS = 250_000


def _tiled(native: Dict[str, Any], at_least: int) -> Dict[str, Any]:
    """A native table repeated until it holds ``at_least`` events, each copy's times after the
    previous copy's."""
    t = np.asarray(native["t"], dtype=np.int64)
    k = max(1, -(-at_least // max(len(t), 1)))
    span = int(t.max() - t.min()) + 1 if len(t) else 0
    out: Dict[str, Any] = {}
    for key, v in native.items():
        if key == "t":
            out[key] = np.concatenate([t + i * span for i in range(k)])
        elif isinstance(v, np.ndarray):
            out[key] = np.tile(v, k)
        else:
            out[key] = list(v) * k
    return out


def _demo(args: argparse.Namespace, hidpack: Any, data: Optional[str], found: str, out_dir: str, temporary: bool) -> int:
    from ._io import KINDS, event_rows

    src_file = None
    if data is not None:
        from .io_ducktrack import read_ducktrack

        src_file = os.path.join(data, "ducktrack-example", "events.jsonl")
        table, md = read_ducktrack(src_file)
        title = "a real DuckTrack recording (macOS, pynput; %s)" % src_file
        origin = "source: the DuckTrack example, found by %s" % found
        path = os.path.join(out_dir, "ducktrack-example.hpk")
    else:
        table, md = synthetic_session(seconds=args.seconds, seed=args.seed)
        title = "a synthetic %.0f s desktop session (seed %d)" % (args.seconds, args.seed)
        origin = "source: generated (%s)" % (
            found if args.source == "synthetic" else "no DuckTrack example: %s" % found
        )
        path = os.path.join(out_dir, "synthetic.hpk")

    n = len(table["t"])
    hidpack.write_table(path, table, metadata=md)
    rec = hidpack.open(path)
    back = rec.table()
    result = dict(rec.verify())
    # Speed: a sample of a few thousand events is mostly a file's fixed costs, so the sample is
    # repeated (times shifted) to DEMO_SPEED_EVENTS events, already converted to numpy columns
    # (what the encoder takes), written and read DEMO_REPEATS times; the fastest pass is shown.
    # write_table's two steps are timed apart: checking and converting the caller's columns
    # (Python), then encoding, compressing and writing them (native).
    from . import _native
    from .writing import prepare, to_native_table

    big = _tiled(to_native_table(table), DEMO_SPEED_EVENTS)
    n_big = len(big["t"])
    speed_path = os.path.join(out_dir, "speed-test.hpk")
    t_prepare = t_write = t_read = float("inf")
    try:
        for _ in range(DEMO_REPEATS):
            t0 = time.perf_counter()
            prepared = prepare(big)
            t1 = time.perf_counter()
            # (this run's own scratch file, written once per pass)
            writer = _native.Writer(speed_path, metadata="{}", wall_clock_ns=None, level=3, block_events=65536,
                                    block_span_ns=None, binned=True, overwrite=True)
            writer.write_table(prepared)
            writer.close()
            t2 = time.perf_counter()
            hidpack.open(speed_path).table()
            t_prepare, t_write = min(t_prepare, t1 - t0), min(t_write, t2 - t1)
            t_read = min(t_read, time.perf_counter() - t2)
    finally:
        if os.path.exists(speed_path):
            os.remove(speed_path)
    same = _tables_equal(table, back)
    size = os.path.getsize(path)

    import zstandard

    # The same events as JSON rows (one object a line), for the size comparison.
    jsonl_bytes = "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in event_rows(back)
    ).encode("utf-8")
    jsonl_size = len(jsonl_bytes)

    jsonl_zst = len(zstandard.ZstdCompressor(level=3).compress(jsonl_bytes))

    counts = np.bincount(np.asarray(back["kind"], np.int64), minlength=len(KINDS))
    span = int(np.asarray(back["t"]).max() - np.asarray(back["t"]).min()) if n else 0
    t_moves = np.asarray(back["t"])[np.asarray(back["kind"]) == 0]
    gap = "" if len(t_moves) < 2 else ", median gap between moves %.1f ms" % (np.median(np.diff(t_moves)) / 1e6)
    out = []
    out.append("hidpack demo: %s" % title)
    out.append("  " + origin)
    out.append("  %s events over %s%s" % (_n(n), _duration(span), gap))
    out.append("")
    out.append("events per kind")
    for i, c in enumerate(counts):
        if c:
            out.append("  %-9s %10s" % (KINDS[i], _n(c)))
    out.append("")
    out.append("size of the same %s events" % _n(n))
    rows = [("hidpack", size)]
    if src_file:
        rows.append(("source JSONL", os.path.getsize(src_file)))
    rows.append(("JSONL", jsonl_size))
    rows.append(("JSONL + zstd -3", jsonl_zst))
    for name, s in rows:
        ratio = "" if name == "hidpack" else "  %6.1fx the hidpack file" % (s / size)
        out.append("  %-16s %12s bytes  %7.2f bytes/event%s" % (name, _n(s), s / n if n else 0, ratio))
    out.append("")
    out.append("speed: the sample repeated to %s events, numpy columns in and out (best of %d, whole calls)"
               % (_n(n_big), DEMO_REPEATS))
    for what, sec, note in (
        ("check", t_prepare, "write_table's first step: check and convert the columns, in Python"),
        ("write", t_write, "its second: encode, compress, write the file"),
        ("read", t_read, "open + table(): every column into numpy"),
    ):
        out.append("  %-5s  %10s  %5.0f ns/event  %6.2f M events/s  (%s)"
                   % (what, _ms(sec), sec / n_big * 1e9 if n_big else 0, n_big / sec / 1e6 if sec else 0, note))
    out.append("  (one CPU's worth of a shared machine; `python benches/compare.py` times whole corpora against other formats)")
    out.append("")
    ok = bool(result.get("ok")) and not result.get("problems")
    out.append("verify: %s (%s block(s)); read back identical to what was written: %s" % (
        "OK" if ok else "PROBLEMS", _n(result.get("blocks") or 0), "yes" if same else "NO"))
    if temporary:
        out.append("file:   written to a temporary folder, removed now (--out DIR keeps it)")
    else:
        out.append("file:   %s" % path)
        out.append("next:   %s info %s   |   %s export %s --to jsonl -o events.jsonl   |   %s plot %s -o trajectory.png"
                   % (PROG, path, PROG, path, PROG, path))
    print("\n".join(out))
    return 0 if ok and same else 1


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="hidpack: compact, crash-safe recordings of human computer input.",
    )
    from . import __version__

    p.add_argument("--version", action="version", version="%s %s" % (PROG, __version__))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("import", help="import a normalized CSV, a DuckTrack JSONL or an OWAMcap file")
    s.add_argument("src", metavar="SRC")
    s.add_argument("out", metavar="OUT", help="output directory (CSV: one file per session) or .hpk file")
    s.add_argument("--format", choices=("csv", "ducktrack", "owa"), help="default: from SRC's extension")
    s.add_argument("--level", type=int, default=3, help="zstd level (default 3)")
    s.add_argument("--force", action="store_true", help="replace existing output files")
    s.add_argument(
        "--clock-grid", action=argparse.BooleanOptionalAction, default=None,
        help="the clock grid for stamps of a coarse OS timer (Windows' 15.6 ms tick; format 1.4's, sparse "
        "residues): about 5 %% smaller mouse files, a few %% slower to decode (default: the writer's, on)",
    )
    s.add_argument("--json", action="store_true", help="print the import report as JSON")
    s.add_argument("--policy", metavar="FILE|PRESET", help="apply a privacy policy (TOML file, or the preset strict)")
    s.add_argument(
        "--timezone", metavar="ZONE",
        help="DuckTrack: the zone its start_time was written in (UTC, -04:00, America/New_York; default: this machine's)",
    )
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("export", help="export recordings to CSV, JSON Lines, Parquet, OWAMcap or a Hugging Face dataset")
    s.add_argument("src", metavar="SRC", nargs="+", help="recordings or directories of *.hpk")
    s.add_argument("--to", choices=("csv", "jsonl", "parquet", "mcap", "hf"),
                   help="default: from OUT's extension; hf: a Hugging Face datasets directory (datasets.load_from_disk)")
    s.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="output file (.zst/.gz compress csv/jsonl); mcap: a .mcap file, or a directory for several")
    s.add_argument("--force", action="store_true", help="mcap, hf: replace existing output (hf: only a saved dataset)")
    s.add_argument("--unit", choices=("episode", "bins"),
                   help="hf: one row per recording: its events (episode; the default) or fixed-rate actions (bins)")
    s.add_argument("--fps", metavar="F", help="hf --unit bins: bins per second (default 20; e.g. 30000/1001)")
    s.add_argument("--window", type=float, metavar="S", help="hf: one row per S seconds of each recording instead")
    s.add_argument("--strict", action="store_true",
                   help="mcap: refuse a recording holding what OWAMcap cannot carry (text, gaps, other markers, "
                        "fractional positions, held buttons, app names...) instead of leaving it out and counting it")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("info", help="summary of a recording, or of a fleet (a directory, several files)")
    s.add_argument("file", metavar="FILE", nargs="+", help="a recording; a directory of *.hpk or several: one summary")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--quick", action="store_true", help="do not decode every block to look for problems")
    s.add_argument("--chunks", action="store_true", help="also show where the bytes go: each column's encoding and size")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("verify", help="check every block of recordings (exit 1 on problems)")
    s.add_argument("files", metavar="FILE", nargs="+", help="recordings, or directories of *.hpk")
    s.add_argument("-v", "--verbose", action="store_true", help="a line for every file, not only those with problems")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("record", help="record this desktop's mouse, keyboard and window focus")
    s.add_argument("out", metavar="OUT", help="the .hpk file to write")
    s.add_argument("--policy", metavar="FILE|PRESET", help="privacy policy: a TOML file or a preset (strict)")
    s.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)")
    s.add_argument("--flush-interval", type=float, default=1.0, metavar="SECONDS", help="most a crash loses (default 1)")
    s.add_argument(
        "--pause-hotkey", default="<ctrl>+<alt>+p", metavar="KEYS", help="toggles pause (pynput syntax; '' disables)"
    )
    s.add_argument("--no-status", dest="status", action="store_false", help="no live status line")
    s.add_argument("--force", action="store_true", help="replace OUT (and the --screen video) if it exists")
    s.add_argument("--screen", metavar="VIDEO.mkv",
                   help="also record the X11 screen with ffmpeg into VIDEO, one 'screen' marker per frame")
    s.add_argument("--screen-fps", type=float, default=10.0, metavar="N", help="frames per second of --screen (default 10)")
    s.add_argument("--screen-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for ffmpeg's first frame of --screen before giving up (default 10)")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser(
        "recover", help="rewrite a recording that was not closed (or is damaged) as a clean, complete file"
    )
    s.add_argument("file", help="the .hpk file (its <file>.wal tail is read too)")
    s.add_argument("-o", "--output", help="where to write (default: replace FILE and delete its tail)")
    s.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (never needed for FILE itself)")
    s.set_defaults(func=cmd_recover)

    s = sub.add_parser("plot", help="draw a recording's pointer trajectories or a heatmap as PNG")
    s.add_argument("file", metavar="FILE")
    s.add_argument("-o", "--output", metavar="OUT.png", required=True)
    s.add_argument("--mode", choices=("trajectory", "heatmap"), default="trajectory",
                   help="trajectory: the path, coloured by time, presses as squares; heatmap: where the pointer rested")
    s.add_argument("--size", type=int, default=1024, help="pixels of the longest side (16..8192, default 1024)")
    s.add_argument("--start", type=float, metavar="SECONDS", help="only events from this file time on")
    s.add_argument("--end", type=float, metavar="SECONDS", help="only events before this file time")
    s.add_argument("--screen", metavar="WxH|data",
                   help="the screen's size in pixels (default: from the metadata, else the data's extent); "
                        "'data': only the data's extent")
    s.add_argument("--no-axes", action="store_true",
                   help="only the picture: no ticks and numbers in screen pixels, no colour bar")
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("demo", help="record a sample session, read it back and compare with JSONL")
    s.add_argument("--out", metavar="DIR", help="where to write the recording (default: a new temp dir)")
    s.add_argument(
        "--source", choices=("auto", "synthetic", "ducktrack"), default="auto",
        help="auto: the DuckTrack example in $HIDPACK_DATA, else in ../shared/data from the current folder, "
             "else a generated session (the output says which)",
    )
    s.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic session")
    s.add_argument("--seed", type=int, default=7, help="random seed of the synthetic session")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("replay", help="inject a recording's pointer and keys into this X display (XTest)")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--speed", type=float, default=1.0, help="2 replays twice as fast (default 1)")
    s.add_argument("--start", type=float, metavar="SECONDS", help="only events from this file time on")
    s.add_argument("--end", type=float, metavar="SECONDS", help="only events before this file time")
    s.add_argument("--pointer-only", action="store_true",
                   help="no keys (replays files whose keys were kept as classes or withheld)")
    s.add_argument("--clip", action="store_true", help="clamp positions outside this screen instead of refusing")
    s.add_argument("--countdown", type=float, default=3.0, metavar="SECONDS",
                   help="wait this long before injecting, so you can let go of mouse and keyboard (default 3)")
    s.add_argument("-y", "--yes", action="store_true", help="start at once (no countdown)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_replay)

    for s in sub.choices.values():
        s.add_argument(
            "-q", "--quiet", action="store_true",
            help="no progress and no report: only errors and what the command is for (info's summary, "
                 "verify's problems, --json output)",
        )
    return p


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().replace("\n", " | ") or type(e).__name__
    return msg


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handled: Tuple[Type[BaseException], ...] = _hidpack_error() + (
        OSError,
        ValueError,
        ImportError,
        TypeError,
        KeyError,
    )
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print("%s: error: %s" % (PROG, _one_line(e)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("%s: interrupted" % PROG, file=sys.stderr)
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except ModuleNotFoundError as e:
        extra = _EXTRAS.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            "%s: error: this needs the optional package %s: pip install 'hidpack[%s]'" % (PROG, e.name, extra),
            file=sys.stderr,
        )
        return 2
    except handled as e:
        print("%s: error: %s: %s" % (PROG, type(e).__name__, _one_line(e)), file=sys.stderr)
        return 2


#: optional packages -> the extra that installs them
_EXTRAS = {"pyarrow": "arrow", "pandas": "pandas", "polars": "polars", "mcap": "mcap", "pynput": "record"}


if __name__ == "__main__":
    sys.exit(main())
