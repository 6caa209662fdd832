"""Bounded, deterministic mutation fuzzing of the reader and the importers (issue 16).

Real inputs (hidpack files written from the shared/data sessions; the OWA MCAP, DuckTrack JSONL
and CSV files of shared/data) are mutated with bit flips, truncations, byte insertions and
deletions, extreme integers written over length fields, and splices of other parts of the file.
Every mutant must read or raise a ``hidpack.HidpackError``: never another exception, never a
crash, never a hang. The cases run in a worker process (tests/fuzz_worker.py) with a timeout
each; the CLI (``hidpack info``/``verify``/``import``) must answer every mutant with exit code
0, 1 (verify found problems) or 2 and one line on stderr, never a traceback.

Seeds are fixed, so a failure names a case that replays: ``_mutant(seed, source)``. The counts
keep the whole file well under a minute on one CPU. A long run (``HIDPACK_FUZZ_SCALE=20``
multiplies the counts) is for hunting, not for CI.
"""
from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import zstandard

import hidpack
from hidpack import io_csv, io_ducktrack, io_owa
from shared_data import data_file

WORKER = Path(__file__).resolve().parent / "fuzz_worker.py"
SCALE = int(os.environ.get("HIDPACK_FUZZ_SCALE", "1"))
TIMEOUT = 30.0  # seconds per case: the slowest honest case takes well under one


# --- the inputs ---------------------------------------------------------------------------------


def _csv_head(name: str, lines: int) -> bytes:
    with open(data_file(name, "events.csv.zst"), "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read(lines * 80)
    return b"\n".join(text.split(b"\n")[:lines]) + b"\n"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[Tuple[str, bytes]]]:
    """``kind -> [(file name, bytes)]`` of the real inputs the mutants are made from."""
    d = tmp_path_factory.mktemp("fuzz-seeds")
    hpk = []
    table, md = io_ducktrack.read_ducktrack(data_file("ducktrack-example", "events.jsonl"))
    hidpack.write_table(d / "ducktrack.hpk", table, metadata=md, block_events=2000)
    hpk.append("ducktrack.hpk")
    table, md, wall = io_owa.read_owa(data_file("owa-mcap", "example.mcap"))
    hidpack.write_table(d / "owa.hpk", table, metadata=md, wall_clock_ns=wall, block_events=40)
    hpk.append("owa.hpk")
    balabit = _csv_head("balabit-mouse", 1500)
    aalto = _csv_head("aalto136m-keys", 800)
    for name, text in (("balabit", balabit), ("aalto", aalto)):
        (d / (name + ".csv")).write_bytes(text)
        s = io_csv.read_csv_sessions(d / (name + ".csv"))[0]
        hidpack.write_table(d / (name + ".hpk"), s.table, metadata={"session": s.session}, block_events=300)
        hpk.append(name + ".hpk")
    jsonl = data_file("ducktrack-example", "events.jsonl").read_bytes()
    jsonl = b"".join(jsonl.splitlines(keepends=True)[:400])
    owa_dir = data_file("owa-mcap", "example.mcap").parent
    return {
        "hpk": [(n, (d / n).read_bytes()) for n in hpk],
        "owa": [(p.name, p.read_bytes()) for p in sorted(owa_dir.glob("*.mcap"))],
        "ducktrack": [
            ("events.jsonl", jsonl),
            ("metadata.json", data_file("ducktrack-example", "metadata.json").read_bytes()),
        ],
        "csv": [
            ("balabit.csv", balabit),
            ("aalto.csv", aalto),
            ("balabit.csv.zst", zstandard.ZstdCompressor(level=3).compress(balabit)),
        ],
    }


# --- mutations ----------------------------------------------------------------------------------

_EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]


def mutate(rng: random.Random, data: bytes) -> Tuple[bytes, str]:
    """One mutant of ``data`` and what was done (for the failure message)."""
    d = bytearray(data)
    n = len(d)
    op = rng.randrange(7)
    if op == 0:
        bits = [(rng.randrange(n), rng.randrange(8)) for _ in range(rng.choice((1, 1, 2, 4, 8)))]
        for i, b in bits:
            d[i] ^= 1 << b
        return bytes(d), "flip bits %s" % bits
    if op == 1:
        cut = rng.randrange(n)
        return bytes(d[:cut]), "truncate at %d" % cut
    if op == 2:
        i = rng.randrange(n + 1)
        ins = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 16, 100))))
        d[i:i] = ins
        return bytes(d), "insert %d byte(s) at %d" % (len(ins), i)
    if op == 3:
        i = rng.randrange(n)
        k = rng.choice((1, 2, 4, 16, 256))
        del d[i : i + k]
        return bytes(d), "delete %d byte(s) at %d" % (k, i)
    if op == 4:
        a, b = rng.randrange(n), rng.randrange(n)
        k = rng.choice((4, 16, 64, 512))
        d[a : a + k] = data[b : b + k]
        return bytes(d), "splice %d byte(s) from %d over %d" % (k, b, a)
    if op == 5:
        a, b = sorted((rng.randrange(n), rng.randrange(n)))
        return bytes(d[:a] + data[b:]), "cut %d..%d out" % (a, b)
    i = rng.randrange(n)
    width = rng.choice((1, 2, 4, 8))
    v = rng.choice(_EXTREMES) & ((1 << (8 * width)) - 1)
    d[i : i + width] = v.to_bytes(width, "little")
    return bytes(d), "write %d (%d bytes) at %d" % (v, width, i)


def _mutant(seed: int, source: List[Tuple[str, bytes]]) -> Tuple[int, str, bytes, str]:
    """Case ``seed``: which file of ``source`` it mutates (index), its name, bytes, what was done."""
    rng = random.Random(seed)
    which = rng.randrange(len(source))
    name, data = source[which]
    mutant, what = mutate(rng, data)
    return which, name, mutant, what


# --- the worker ---------------------------------------------------------------------------------


class Worker:
    """tests/fuzz_worker.py as a process: ``run(case)`` answers within ``timeout`` or is
    reported as a hang (the process is killed and started again); a process that dies is
    reported as a crash."""

    def __init__(self) -> None:
        self.proc: Any = None
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=str(WORKER.parent),  # PYTHONPATH names the tests' hidpack (conftest.py)
        )

    def run(self, case: Dict[str, Any], timeout: float = TIMEOUT) -> Dict[str, Any]:
        try:
            self.proc.stdin.write(json.dumps(case) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self._start()
            return {"outcome": "hang", "detail": "no answer in %.0f s" % timeout}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self._start()
            return {"outcome": "crash", "detail": "the worker died with exit code %s" % code}
        answer: Dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def worker() -> Any:
    w = Worker()
    yield w
    w.close()


def _fuzz(worker: Worker, tmp_path: Path, kind: str, source: List[Tuple[str, bytes]], count: int, base: int) -> Dict[str, int]:
    """Run ``count`` mutants of ``source`` through the worker; fail naming every case that
    neither read nor raised a hidpack error. Returns the outcomes counted."""
    outcomes: Dict[str, int] = {}
    bad: List[str] = []
    for seed in range(base, base + count):
        which, name, data, what = _mutant(seed, source)
        case_dir = tmp_path / ("case%d" % seed)
        case_dir.mkdir()
        if kind == "ducktrack":  # the events file and its metadata.json, one of them mutated
            for i, (n, original) in enumerate(source):
                (case_dir / n).write_bytes(data if i == which else original)
            path = case_dir / "events.jsonl"
        else:
            path = case_dir / name
            path.write_bytes(data)
        answer = worker.run({"kind": kind, "path": str(path), "out": str(case_dir / "out")})
        outcomes[answer["outcome"]] = outcomes.get(answer["outcome"], 0) + 1
        if answer["outcome"] not in ("ok", "hidpack"):
            bad.append("seed %d (%s: %s): %s %s" % (seed, name, what, answer["outcome"], answer["detail"]))
    assert not bad, "%d of %d mutant(s) failed:\n%s" % (len(bad), count, "\n".join(bad[:10]))
    return outcomes


# --- the tests ----------------------------------------------------------------------------------


def test_mutated_recordings_read_or_raise_hidpack_errors(seeds, worker, tmp_path):
    outcomes = _fuzz(worker, tmp_path, "hpk", seeds["hpk"], 240 * SCALE, 0)
    # the mutations reach the checks (a fuzzer whose mutants all read would test nothing)
    assert outcomes.get("hidpack", 0) >= 10 and outcomes.get("ok", 0) >= 10, outcomes


@pytest.mark.parametrize("kind,count", [("owa", 150), ("ducktrack", 100), ("csv", 160)])
def test_mutated_sources_import_or_raise_hidpack_errors(seeds, worker, tmp_path, kind, count):
    outcomes = _fuzz(worker, tmp_path, kind, seeds[kind], count * SCALE, 10_000)
    assert outcomes.get("hidpack", 0) >= count // 4, outcomes


def _check_cli(answer: Dict[str, Any], what: str, codes: Tuple[int, ...]) -> List[str]:
    if answer["outcome"] != "ok":
        return ["%s: %s %s" % (what, answer["outcome"], answer["detail"])]
    code, err = answer["detail"]["code"], answer["detail"]["stderr"]
    problems = []
    if code not in codes:
        problems.append("%s: exit code %r" % (what, code))
    if "Traceback" in err:
        problems.append("%s: a traceback:\n%s" % (what, err))
    if code == 2 and (err.count("\n") != 1 or not err.startswith("hidpack: error: ")):
        problems.append("%s: not one error line: %r" % (what, err))
    return problems


def test_cli_answers_every_mutant_with_an_exit_code_and_one_line(seeds, worker, tmp_path):
    """``hidpack info``, ``verify`` and ``import`` on mutants (main() in the worker process)."""
    bad: List[str] = []
    codes: Dict[int, int] = {}
    for seed in range(20_000, 20_000 + 30 * SCALE):
        _, name, data, what = _mutant(seed, seeds["hpk"])
        path = tmp_path / ("%d-%s" % (seed, name))
        path.write_bytes(data)
        for argv, ok in ((["info", str(path)], (0, 2)), (["verify", str(path)], (0, 1, 2))):
            answer = worker.run({"kind": "cli", "argv": argv})
            bad += _check_cli(answer, "seed %d %s (%s)" % (seed, " ".join(argv[:1]), what), ok)
            if answer["outcome"] == "ok":
                codes[answer["detail"]["code"]] = codes.get(answer["detail"]["code"], 0) + 1
    for kind in ("owa", "ducktrack", "csv"):
        for seed in range(30_000, 30_000 + 15 * SCALE):
            which, name, data, what = _mutant(seed, seeds[kind])
            d = tmp_path / ("%s-%d" % (kind, seed))
            d.mkdir()
            if kind == "ducktrack":
                for i, (n, original) in enumerate(seeds[kind]):
                    (d / n).write_bytes(data if i == which else original)
                src = d / "events.jsonl"
            else:
                src = d / name
                src.write_bytes(data)
            argv = ["import", str(src), str(d / "out"), "--format", kind]
            answer = worker.run({"kind": "cli", "argv": argv})
            bad += _check_cli(answer, "seed %d import %s (%s)" % (seed, name, what), (0, 2))
            if answer["outcome"] == "ok":
                codes[answer["detail"]["code"]] = codes.get(answer["detail"]["code"], 0) + 1
    assert not bad, "\n".join(bad[:10])
    assert codes.get(2, 0) >= 10 and codes.get(0, 0) >= 10, codes


def test_cli_in_a_subprocess_on_damaged_inputs(seeds, tmp_path):
    """The real command, a few times: a damaged input is one line on stderr and exit code 2."""
    cases = []
    owa = seeds["owa"][0][1]
    (tmp_path / "cut.mcap").write_bytes(owa[: len(owa) // 2])
    cases.append(["import", str(tmp_path / "cut.mcap"), str(tmp_path / "o1")])
    nested = b'{"time_stamp": 1.0, "action": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    (tmp_path / "dt").mkdir()
    (tmp_path / "dt" / "events.jsonl").write_bytes(nested)
    cases.append(["import", str(tmp_path / "dt" / "events.jsonl"), str(tmp_path / "o2")])
    zst = seeds["csv"][2][1]
    (tmp_path / "cut.csv.zst").write_bytes(zst[: len(zst) - 7])
    cases.append(["import", str(tmp_path / "cut.csv.zst"), str(tmp_path / "o3")])
    hpk = bytearray(seeds["hpk"][0][1])
    hpk[3] ^= 0x10  # the magic number
    (tmp_path / "bad.hpk").write_bytes(bytes(hpk))
    cases.append(["info", str(tmp_path / "bad.hpk")])
    for argv in cases:
        r = subprocess.run(
            [sys.executable, "-m", "hidpack", *argv], capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert r.stderr.startswith("hidpack: error: ") and r.stderr.count("\n") == 1, (argv, r.stderr)
        assert "Traceback" not in r.stderr
        if argv[0] == "import":
            assert argv[1] in r.stderr, r.stderr  # the file is named
