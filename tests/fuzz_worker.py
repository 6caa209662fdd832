"""The process that reads mutated files for tests/test_fuzz_mutations.py.

It reads one JSON case a line on stdin and answers one JSON line on stdout:
``{"outcome": "ok" | "hidpack" | "other", "detail": ...}``. Running the cases here, not in the
pytest process, lets the test put a timeout on every case (a hang is killed, not waited for)
and survive a crash of the native code (the process dies; the test reports the case).

Case kinds: ``hpk`` (hidpack.open and every read), ``owa`` / ``ducktrack`` / ``csv`` (the
importer's read, then the full import into ``out``), ``cli`` (``hidpack.cli.main(argv)`` in
this process, its exit code and stderr).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from typing import Any, Dict


def read_hpk(path: str) -> None:
    import hidpack

    rec = hidpack.open(path, threads=1)
    rec.table()
    rec.verify()
    rec.info()
    rec.problems  # noqa: B018
    for block in rec:
        block.table()
    for kind in ("move", "button", "key", "text", "focus", "marker", "gap"):
        rec.columns(kind)
    rec.clock()
    rec.between(0, 10**9).table()
    try:
        rec.metadata  # noqa: B018
    except hidpack.MetadataError:
        pass


def import_source(kind: str, path: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    if kind == "owa":
        from hidpack import io_owa

        io_owa.read_owa(path)
        io_owa.import_owa(path, os.path.join(out, "o.hpk"), overwrite=True)
    elif kind == "ducktrack":
        from hidpack import io_ducktrack

        io_ducktrack.read_ducktrack(path)
        io_ducktrack.import_ducktrack(path, os.path.join(out, "d.hpk"), overwrite=True, timezone="UTC")
    elif kind == "csv":
        from hidpack import io_csv

        io_csv.read_csv_sessions(path)
        io_csv.import_csv(path, os.path.join(out, "sessions"), overwrite=True, threads=1)
    else:
        raise AssertionError("unknown case kind %r" % kind)


def run_cli(argv: list) -> Dict[str, Any]:
    from hidpack import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    return {"code": code, "stderr": err.getvalue()}


def run(case: Dict[str, Any]) -> Dict[str, Any]:
    import hidpack

    try:
        if case["kind"] == "cli":
            return {"outcome": "ok", "detail": run_cli(case["argv"])}
        if case["kind"] == "hpk":
            read_hpk(case["path"])
        else:
            import_source(case["kind"], case["path"], case["out"])
        return {"outcome": "ok", "detail": None}
    except hidpack.HidpackError as e:
        return {"outcome": "hidpack", "detail": "%s: %s" % (type(e).__name__, e)}
    except BaseException as e:  # noqa: BLE001 - what the test is looking for
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        return {"outcome": "other", "detail": "%s: %s\n%s" % (type(e).__name__, e, "".join(tb[-6:]))}


def main() -> None:
    answers = os.fdopen(os.dup(1), "w")  # the protocol's own channel
    sys.stdout = sys.stderr  # whatever else is printed does not mix into it
    for line in sys.stdin:
        answer = run(json.loads(line))
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
