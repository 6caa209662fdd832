"""The command line, run as a subprocess (`python -m hidpack.cli`): output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import hidpack

from shared_data import DATA, REPO, data_file  # noqa: F401



def run(*args, cwd=None, env_extra=None, module="hidpack.cli"):
    env = dict(os.environ)
    env.update(env_extra or {})
    p = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )
    return p.returncode, p.stdout, p.stderr


def assert_one_line_error(rc, out, err, *needles):
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hidpack: error:")
    for n in needles:
        assert n in lines[0], (n, lines[0])


SMALL_CSV = (
    "t_ns,kind,x,y,button,session\n"
    "0,move,10,20,,a\n"
    "16000000,move,12,21,drag,a\n"
    "30000000,down,12,21,left,a\n"
    "90000000,up,12,21,left,a\n"
    "95000000,scroll,12,21,-1,a\n"
    "0,key_down,,,72,b\n"
    "80000000,key_up,,,72,b\n"
)


@pytest.fixture(scope="module")
def duck(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rc, out, err = run("import", data_file("ducktrack-example", "events.jsonl"), d / "duck.hpk")
    assert rc == 0, err
    return d / "duck.hpk", out


def test_import_ducktrack(duck):
    path, out = duck
    assert path.exists()
    assert "13,401 event(s)" in out and "move 13,163" in out and "(ducktrack)" in out


def test_info_human_and_json(duck):
    path, _ = duck
    rc, out, err = run("info", path)
    assert rc == 0, err
    assert "duration    32.502 s" in out
    assert "events      13,401" in out
    for kind, n in (("move", "13,163"), ("button", "44"), ("scroll", "140"), ("key", "54")):
        assert any(line.split()[:2] == [kind, n] for line in out.splitlines()), kind
    assert "bytes/event" in out and "blocks" in out
    assert "clock_origin_ns: 150160965463208" in out
    assert "problems    none" in out
    rc, out, err = run("info", "--json", path)
    assert rc == 0, err
    info = json.loads(out)
    assert info["events"] == 13401 and info["counts"]["move"] == 13163
    assert info["bytes"] == path.stat().st_size
    assert info["metadata"]["native_keyspace"] == "pynput"
    assert info["problems"] == [] and info["verified"] is True


def test_info_reports_clock_records(tmp_path):
    p = tmp_path / "c.hpk"
    anchor = 1_700_000_000_000_000_000
    hidpack.write_table(str(p), {
        "t": [0, 5_000_000, 6_000_000, 9_000_000], "kind": ["move", "marker", "marker", "move"],
        "x": [1.0, None, None, 2.0], "y": [1.0, None, None, 2.0],
        "label": [None, "hidpack:clock", "frame", None], "value": [None, anchor + 5_000_000 + 10**10, 3, None],
    }, wall_clock_ns=anchor)
    rc, out, err = run("info", p)
    assert rc == 0, err
    assert "clock       1 clock record(s) (markers); the wall clock moved by at most +10.000 s" in out
    rc, out, err = run("info", "--json", p)
    info = json.loads(out)
    assert (info["clock_records"], info["clock_shift_ns"]) == (1, 10**10)
    rc, out, err = run("info", "--quick", p)  # --quick decodes nothing: no clock line
    assert rc == 0 and "clock " not in out


def test_verify_clean_corrupt_and_not_hidpack(tmp_path):
    n = 5000
    good = tmp_path / "good.hpk"
    hidpack.write_table(
        good,
        {"t": np.arange(n) * 1_000_000, "kind": "move", "x": (np.arange(n) % 700) * 1.0, "y": (np.arange(n) % 300) * 1.0},
        block_events=1000,
    )
    rc, out, err = run("verify", good)
    assert rc == 0, err
    assert out == "1 file(s): 1 OK, 0 with problems; 5,000 event(s) in 5 block(s)\n"  # no line per good file
    rc, out, err = run("verify", "-v", good)
    assert rc == 0, err
    assert out.splitlines()[0] == "%s: OK (5 block(s), 5,000 event(s))" % good

    block = hidpack.open(good).blocks()[2]
    data = bytearray(good.read_bytes())
    data[block["offset"] + block["length"] // 2] ^= 0xFF
    bad = tmp_path / "bad.hpk"
    bad.write_bytes(bytes(data))
    rc, out, err = run("verify", bad)
    assert rc == 1
    assert "1 problem(s)" in out
    assert "offset %d" % block["offset"] in out
    assert "1,000 event(s) lost" in out
    rc, out, err = run("info", bad)  # info lists it too, and still succeeds
    assert rc == 0 and "problems    1" in out and "offset %d" % block["offset"] in out

    junk = tmp_path / "junk.hpk"
    junk.write_bytes(b"not a hidpack file at all" * 10)
    rc, out, err = run("verify", junk)
    assert rc == 1 and "FAILED" in out and "Traceback" not in err + out


def test_verify_many_files_and_directories(tmp_path):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for j in range(4):
        hidpack.write_table(fleet / f"s{j}.hpk", {"t": np.arange(50) * 1000, "kind": "move",
                                                   "x": np.arange(50) * 1.0, "y": np.zeros(50)}, block_events=10)
    (fleet / "notes.txt").write_text("not a recording")
    rc, out, err = run("verify", fleet)
    assert rc == 0, err
    assert out.splitlines() == ["4 file(s): 4 OK, 0 with problems; 200 event(s) in 20 block(s)"]
    rc, out, err = run("verify", "--verbose", fleet)  # -v: a line for every file, in order
    assert rc == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [str(fleet / f"s{j}.hpk") for j in range(4)]
    assert all(": OK (5 block(s), 50 event(s))" in line for line in lines[:4])
    assert lines[-1] == "4 file(s): 4 OK, 0 with problems; 200 event(s) in 20 block(s)"

    block = hidpack.open(fleet / "s2.hpk").blocks()[1]
    data = bytearray((fleet / "s2.hpk").read_bytes())
    data[block["offset"] + block["length"] // 2] ^= 0xFF
    (fleet / "s2.hpk").write_bytes(bytes(data))
    junk = tmp_path / "junk.hpk"
    junk.write_bytes(b"not a hidpack file at all" * 10)
    rc, out, err = run("verify", fleet, junk, tmp_path / "missing.hpk")
    assert rc == 1 and "Traceback" not in err + out
    assert "s2.hpk: 1 problem(s) (5 block(s), 40 event(s) readable)" in out
    assert "offset %d" % block["offset"] in out
    assert "junk.hpk: FAILED: " in out and "missing.hpk: FAILED: no such file" in out
    assert ": OK" not in out  # only the problems, then the summary
    assert out.splitlines()[0].startswith(str(fleet / "s2.hpk"))
    assert out.splitlines()[-1] == "6 file(s): 3 OK, 3 with problems; 190 event(s) in 20 block(s) readable"
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out, err = run("verify", empty)
    assert_one_line_error(rc, out, err, "no recordings to verify")


def test_hidpack_errors_are_one_line_exit_2(tmp_path):
    junk = tmp_path / "junk.hpk"
    junk.write_bytes(b"not a hidpack file at all" * 10)
    rc, out, err = run("info", junk)
    assert_one_line_error(rc, out, err, "not a hidpack file")
    rc, out, err = run("export", junk, "--to", "jsonl", "-o", tmp_path / "x.jsonl")
    assert_one_line_error(rc, out, err, "not a hidpack file")
    rc, out, err = run("info", tmp_path / "missing.hpk")
    assert_one_line_error(rc, out, err, "no such file")
    rc, out, err = run("import", tmp_path / "missing.csv", tmp_path / "o")
    assert_one_line_error(rc, out, err, "no such file")
    (tmp_path / "x.txt").write_text("hello")
    rc, out, err = run("import", tmp_path / "x.txt", tmp_path / "o")
    assert_one_line_error(rc, out, err, "--format")
    bad = tmp_path / "bad.csv"
    bad.write_text("t_ns,kind,x,y,button,session\n0,jump,1,2,,s\n")
    rc, out, err = run("import", bad, tmp_path / "o")
    assert_one_line_error(rc, out, err, "line 2", "unknown kind 'jump'")


def test_usage_errors_exit_2():
    rc, out, err = run()
    assert rc == 2 and "usage:" in err
    rc, out, err = run("export", "x.hpk", "--to", "xml", "-o", "y")
    assert rc == 2 and "invalid choice" in err


def test_header_only_csv_import_is_an_error(tmp_path):
    src = tmp_path / "only-header.csv"
    src.write_text("t_ns,kind,x,y,button,session\n")
    rc, out, err = run("import", src, tmp_path / "out")
    assert_one_line_error(rc, out, err, str(src), "no events to import")
    assert not (tmp_path / "out").exists()


def test_csv_import_export_round_trip(tmp_path):
    src = tmp_path / "events.csv"
    src.write_text(SMALL_CSV)
    rc, out, err = run("import", src, tmp_path / "rec")
    assert rc == 0, err
    assert "7 event(s) into 2 file(s)" in out
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["a.hpk", "b.hpk"]
    rc, out, err = run("import", src, tmp_path / "rec")
    assert_one_line_error(rc, out, err, "exists")
    rc, out, err = run("import", "--force", src, tmp_path / "rec")
    assert rc == 0, err
    rc, out, err = run("export", tmp_path / "rec", "--to", "csv", "-o", tmp_path / "back.csv")
    assert rc == 0, err
    assert "7 row(s)" in out
    assert (tmp_path / "back.csv").read_text() == SMALL_CSV


def test_export_jsonl_and_parquet(tmp_path, duck):
    path, _ = duck
    rc, out, err = run("export", path, "--to", "jsonl", "-o", tmp_path / "e.jsonl")
    assert rc == 0, err
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert len(lines) == 13401
    first = json.loads(lines[0])
    assert first == {"t": 0, "kind": "move", "x": 1175.421875, "y": 50.421875}
    click = next(json.loads(row) for row in lines if '"button"' in row)
    assert set(click) == {"t", "kind", "x", "y", "button", "pressed"}

    rc, out, err = run("export", path, "-o", tmp_path / "e.parquet")  # format from the extension
    assert rc == 0, err
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 13401
    assert table.column("x")[0].as_py() == 1175.421875
    assert table.column("kind")[0].as_py() == "move"
    assert table.column("usage").null_count == 13401 - 54


def test_export_several_recordings_adds_the_session(tmp_path):
    src = tmp_path / "events.csv"
    src.write_text(SMALL_CSV)
    assert run("import", src, tmp_path / "rec")[0] == 0
    rc, out, err = run("export", tmp_path / "rec" / "a.hpk", tmp_path / "rec" / "b.hpk",
                       "--to", "jsonl", "-o", tmp_path / "e.jsonl")
    assert rc == 0, err
    objs = [json.loads(row) for row in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [o["session"] for o in objs] == ["a"] * 5 + ["b"] * 2
    assert objs[5] == {"session": "b", "t": 0, "kind": "key", "pressed": True, "usage": 0x0B, "native": 72}
    rc, out, err = run("export", tmp_path / "rec", "--to", "parquet", "-o", tmp_path / "e.parquet")
    assert rc == 0, err
    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "e.parquet")
    assert t.column("session").to_pylist() == ["a"] * 5 + ["b"] * 2


def test_info_says_whether_a_file_has_a_wall_clock(tmp_path):
    # OWA stamps Unix ns: the import sets the wall clock; a normalized CSV has none, and info says so
    rc, out, err = run("import", data_file("owa-mcap", "0.4.2.mcap"), tmp_path / "owa.hpk")
    assert rc == 0, err
    rc, out, err = run("info", tmp_path / "owa.hpk")
    assert rc == 0, err
    assert "started     20" in out and "wall clock  none" not in out
    src = tmp_path / "s.csv"
    src.write_text(SMALL_CSV)
    rc, out, err = run("import", src, tmp_path / "csv")
    assert rc == 0, err
    rc, out, err = run("info", tmp_path / "csv" / "a.hpk")
    assert rc == 0, err
    assert "wall clock  none: the writer did not know when t = 0 was" in out and "started" not in out


def test_import_ducktrack_timezone(tmp_path):
    src = data_file("ducktrack-example", "events.jsonl")
    rc, out, err = run("import", src, tmp_path / "d.hpk", "--timezone", "UTC")
    assert rc == 0, err
    assert "warning: wall clock" not in out
    rc, out, err = run("info", tmp_path / "d.hpk")
    assert "started     2023-10-20 17:19:53.000 UTC" in out
    rc, out, err = run("import", tmp_path / "d.hpk", tmp_path / "e.hpk", "--format", "csv", "--timezone", "UTC")
    assert_one_line_error(rc, out, err, "--timezone is for DuckTrack imports")


def test_import_owa(tmp_path):
    rc, out, err = run("import", data_file("owa-mcap", "0.4.2.mcap"), tmp_path)
    assert rc == 0, err
    assert "not stored: keyboard/state 4, mouse/state 4" in out
    rc, out, err = run("info", tmp_path / "0.4.2.hpk")
    assert rc == 0, err
    assert "focus" in out and "marker" in out and "started     2025-06-20" in out


def test_demo_synthetic(tmp_path):
    rc, out, err = run("demo", "--source", "synthetic", "--seconds", "20", "--out", tmp_path)
    assert rc == 0, (out, err)
    assert "synthetic" in out
    for word in ("move", "button", "scroll", "key", "text", "focus", "bytes/event", "JSONL", "write", "read"):
        assert word in out, word
    assert "verify: OK" in out and "identical to what was written: yes" in out
    path = tmp_path / "synthetic.hpk"
    rec = hidpack.open(path)
    counts = rec.info()["counts"]
    assert all(counts[k] > 0 for k in ("move", "button", "scroll", "key", "text", "focus", "marker"))
    moves = rec.moves()
    gaps = np.diff(np.asarray(moves.t))
    assert 6e6 < np.median(gaps) < 10e6  # ~125 Hz while the mouse moves
    jsonl = next(row for row in out.splitlines() if row.startswith("  JSONL "))
    size = next(row for row in out.splitlines() if row.startswith("  hidpack "))
    assert int(size.split()[1].replace(",", "")) == path.stat().st_size
    assert float(jsonl.split("bytes/event")[1].split("x")[0]) > 3  # JSONL is several times larger


def test_demo_uses_the_ducktrack_example_when_present(tmp_path):
    data_file("ducktrack-example", "events.jsonl")
    rc, out, err = run("demo", "--out", tmp_path, env_extra={"HIDPACK_DATA": str(DATA)}, module="hidpack")
    assert rc == 0, (out, err)
    assert "DuckTrack" in out and "13,401 events" in out and "source JSONL" in out
    assert (tmp_path / "ducktrack-example.hpk").exists()


def run_demo(cwd, tmp, hidpack_data=None, *args):
    """``hidpack demo`` in ``cwd`` with TMPDIR=``tmp`` and HIDPACK_DATA as given (unset: None)."""
    env = {k: v for k, v in os.environ.items() if k != "HIDPACK_DATA"}
    env["TMPDIR"] = str(tmp)
    env["PYTHONPATH"] = str(REPO / "python") + os.pathsep + env.get("PYTHONPATH", "")
    if hidpack_data is not None:
        env["HIDPACK_DATA"] = str(hidpack_data)
    p = subprocess.run([sys.executable, "-m", "hidpack.cli", "demo", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr


def test_demo_finds_data_from_the_current_folder_says_so_and_leaves_no_temp_folder(tmp_path):
    # a clone beside shared/data, as in the README: ../shared/data from where the user stands
    example = data_file("ducktrack-example", "events.jsonl")
    (tmp_path / "shared" / "data" / "ducktrack-example").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "ducktrack-example" / "events.jsonl").symlink_to(example)
    (tmp_path / "clone").mkdir()
    (tmp_path / "tmp").mkdir()
    rc, out, err = run_demo(tmp_path / "clone", tmp_path / "tmp")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[1] == "  source: the DuckTrack example, found by ../shared/data from the current folder"
    assert "13,401 events" in lines[2]
    assert "file:   written to a temporary folder, removed now (--out DIR keeps it)" in lines
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing left behind
    # the speed test: the sample repeated to >= 250,000 events, best of several, per-event costs
    speed = next(line for line in lines if line.startswith("speed: the sample repeated to "))
    assert int(speed.split("repeated to ")[1].split()[0].replace(",", "")) >= 250_000
    for step in ("check", "write", "read"):
        row = next(line for line in lines if line.startswith("  %-5s  " % step))
        assert "ns/event" in row and "M events/s" in row
    # elsewhere (no ../shared/data, no HIDPACK_DATA): generated data, and it says why
    (tmp_path / "a" / "b").mkdir(parents=True)
    rc, out, err = run_demo(tmp_path / "a" / "b", tmp_path / "tmp", None, "--seconds", "5")
    assert rc == 0, err
    assert out.splitlines()[1] == (
        "  source: generated (no DuckTrack example: HIDPACK_DATA is not set and ../shared/data from the "
        "current folder has no ducktrack-example/events.jsonl)"
    )
    assert list((tmp_path / "tmp").iterdir()) == []
    # HIDPACK_DATA wins, and a wrong one is named
    rc, out, err = run_demo(tmp_path / "clone", tmp_path / "tmp", tmp_path / "nowhere", "--seconds", "5")
    assert rc == 0, err
    assert "source: generated (no DuckTrack example: HIDPACK_DATA=%s has no " % (tmp_path / "nowhere") in out
    rc, out, err = run_demo(tmp_path / "tmp", tmp_path / "tmp", tmp_path / "shared" / "data")
    assert rc == 0 and "found by HIDPACK_DATA=%s" % (tmp_path / "shared" / "data") in out
    rc, out, err = run_demo(tmp_path / "tmp", tmp_path / "tmp", tmp_path / "nowhere", "--source", "ducktrack")
    assert_one_line_error(rc, out, err, "the DuckTrack example was not found: HIDPACK_DATA=")
    # the demo never looks beside the installed package: a run from / finds nothing there
    rc, out, err = run_demo("/", tmp_path / "tmp", None, "--seconds", "5")
    assert rc == 0 and "source: generated" in out


def test_missing_extra_is_named_not_a_traceback(tmp_path):
    # A pyarrow that cannot be imported, as on a machine without the `arrow` extra.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "pyarrow").mkdir()
    (blocker / "pyarrow" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pyarrow'\", name='pyarrow')\n")
    src = data_file("ducktrack-example", "events.jsonl")
    env = {"PYTHONPATH": str(blocker) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rc, out, err = run("import", str(src), str(tmp_path / "d"), env_extra=env)
    assert rc == 0, err
    rc, out, err = run("export", str(tmp_path / "d"), "--to", "parquet", "-o", str(tmp_path / "x.parquet"), env_extra=env)
    assert_one_line_error(rc, out, err, "pip install 'hidpack[arrow]'")
    rc, out, err = run("demo", "--out", str(tmp_path / "demo"), env_extra=env)
    assert rc == 0, err
    assert "bytes/event" in out


def _fleet(tmp_path, n=3, wall=True):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for j in range(n):
        hidpack.write_table(
            fleet / f"s{j}.hpk",
            {"t": np.arange(100) * 10_000_000, "kind": ["move"] * 90 + ["button"] * 10, "x": np.arange(100) * 1.0,
             "y": np.zeros(100), "button": [None] * 90 + [1] * 10, "pressed": [None] * 90 + [True, False] * 5},
            block_events=50,
            wall_clock_ns=(1_700_000_000_000_000_000 + j * 3_600 * 10**9) if wall and j < n - 1 else None,
        )
    return fleet


def test_info_of_a_directory_summarises_the_fleet(tmp_path):
    fleet = _fleet(tmp_path)
    (fleet / "notes.txt").write_text("not a recording")
    rc, out, err = run("info", fleet)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "files       3 (%s)" % fleet
    assert "events      300" in lines
    assert any(line.split()[:3] == ["move", "270", "90.0%"] for line in lines)
    assert any(line.split()[:3] == ["button", "30", "10.0%"] for line in lines)
    assert "duration    2.970 s in all; per file 0.990 s (shortest) .. 0.990 s (median) .. 0.990 s (longest)" in lines
    size = sum(p.stat().st_size for p in fleet.glob("*.hpk"))
    assert "size        %s bytes" % f"{size:,}" in out and "bytes/event %.2f" % (size / 300) in out
    assert "blocks      6" in lines
    # two files have a wall clock an hour apart: 1.98 s of the span recorded; the third is named
    assert "wall clock  2 of 3 file(s); 2023-11-14 22:13:20 .. 2023-11-14 23:13:20 UTC, 1.980 s of it recorded" in lines
    assert "            1 file(s) without one (wall_t refused for them), e.g. %s" % (fleet / "s2.hpk") in lines
    assert lines[-1] == "problems    none"


def test_info_fleet_json_problems_and_several_files(tmp_path):
    fleet = _fleet(tmp_path, wall=False)
    block = hidpack.open(fleet / "s1.hpk").blocks()[1]
    data = bytearray((fleet / "s1.hpk").read_bytes())
    data[block["offset"] + block["length"] // 2] ^= 0xFF
    (fleet / "s1.hpk").write_bytes(bytes(data))
    (fleet / "junk.hpk").write_bytes(b"not a hidpack file" * 10)
    rc, out, err = run("info", "--json", fleet)
    assert rc == 0, err
    info = json.loads(out)
    assert (info["files"], info["events"], info["counts"]) == (4, 300, {"move": 270, "button": 30})
    assert info["files_with_problems"] == 2 and info["checked"] is True
    assert info["wall_clock"]["files"] == 0 and len(info["wall_clock"]["files_without"]) == 3
    assert [p["path"] for p in info["problems"]] == [str(fleet / "junk.hpk"), str(fleet / "s1.hpk")]
    assert info["problems"][1]["offset"] == block["offset"]
    assert [f["path"] for f in info["per_file"]] == [str(fleet / n) for n in ("junk.hpk", "s0.hpk", "s1.hpk", "s2.hpk")]
    rc, out, err = run("info", fleet)
    assert rc == 0, err
    assert "wall clock  none of 3 file(s): no wall_t, no wall_time columns" in out
    assert "problems    2 file(s)" in out and "junk.hpk: FAILED: " in out and "offset %d" % block["offset"] in out
    # several files given: the same summary, of those files
    rc, out, err = run("info", fleet / "s0.hpk", fleet / "s2.hpk")
    assert rc == 0, err
    assert out.splitlines()[0].startswith("files       2 (") and "events      200" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(*run("info", empty), "no recordings in")


# --- progress (a bar on a terminal only) and --quiet ------------------------------------------


def run_on_tty(*args):
    """The CLI with stderr on a pseudo-terminal (as in a shell; the pty reports no window size,
    as some do) and stdout on a pipe: (exit code, stdout, what the terminal received)."""
    import pty
    import select

    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "hidpack.cli", *map(str, args)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
    # the slave stays open here until the end: closed, Linux may drop what the child wrote last
    out = p.communicate(timeout=120)[0].decode()
    tty = b""
    while select.select([master], [], [], 0.2)[0]:
        tty += os.read(master, 65536)
    os.close(slave)
    os.close(master)
    return p.returncode, out, tty.decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_and_never_in_a_pipe(tmp_path):
    fleet = _fleet(tmp_path)
    src = tmp_path / "s.csv"
    src.write_text(SMALL_CSV)
    duck = data_file("ducktrack-example", "events.jsonl")
    commands = [
        (("verify", fleet), "verifying: ", "0/3 [", "3 file(s): 3 OK"),
        (("info", fleet), "reading: ", "0/3 [", "files       3"),
        (("export", fleet, "-o", tmp_path / "all.jsonl"), "exporting to all.jsonl: ", "0/3 [", "exported 3 recording(s)"),
        (("export", fleet / "s0.hpk", "-o", tmp_path / "one.csv"), "exporting s0.hpk: ", "", "exported 1 recording(s)"),
        (("import", src, tmp_path / "csv"), "importing s.csv: ", "/192 [", "imported "),
        (("import", duck, tmp_path / "d.hpk", "--timezone", "UTC"), "importing events.jsonl: ", "", "imported "),
        (("recover", fleet / "s1.hpk", "-o", tmp_path / "r.hpk"), "recovering s1.hpk: ", "", "-> "),
    ]
    for args, bar, count, report in commands:
        rc, out, tty = run_on_tty(*args)
        assert rc == 0, (args, tty)
        assert bar in tty and count in tty, (args, tty)
        assert report in out, (args, out)
        assert bar not in out  # the bar is on stderr, the report on stdout
        for extra in (tmp_path / "csv", tmp_path / "d.hpk", tmp_path / "r.hpk", tmp_path / "all.jsonl", tmp_path / "one.csv"):
            if extra.is_dir():
                import shutil

                shutil.rmtree(extra)
            elif extra.exists():
                extra.unlink()
        # the same command into pipes: no bar, nothing on stderr at all
        rc, out, err = run(*args)
        assert rc == 0 and err == "" and report in out, (args, err)


def test_quiet_leaves_only_errors_and_what_the_command_is_for(tmp_path):
    fleet = _fleet(tmp_path)
    src = tmp_path / "s.csv"
    src.write_text(SMALL_CSV)
    quiet = [
        ("import", "-q", src, tmp_path / "csv"),
        ("import", "--quiet", data_file("ducktrack-example", "events.jsonl"), tmp_path / "d.hpk"),
        ("export", "-q", fleet, "-o", tmp_path / "all.parquet"),
        ("verify", "-q", fleet),
        ("recover", "-q", fleet / "s1.hpk", "-o", tmp_path / "r.hpk"),
        ("plot", "-q", fleet / "s0.hpk", "-o", tmp_path / "p.png"),
    ]
    for args in quiet:
        rc, out, tty = run_on_tty(*args)
        assert rc == 0 and out == "" and tty == "", (args, out, tty)
    assert (tmp_path / "csv" / "a.hpk").exists() and (tmp_path / "all.parquet").exists() and (tmp_path / "p.png").exists()
    # info exists to print its summary: -q keeps it (and drops the bar); --json is kept too
    rc, out, tty = run_on_tty("info", "-q", fleet)
    assert rc == 0 and tty == "" and out.startswith("files       3")
    rc, out, tty = run_on_tty("import", "-q", "--json", src, tmp_path / "csv2")
    assert rc == 0 and tty == "" and json.loads(out)["events"] == 7
    # verify -q: the problems only, and the exit code
    (fleet / "junk.hpk").write_bytes(b"not a hidpack file" * 10)
    rc, out, tty = run_on_tty("verify", "-q", fleet)
    assert rc == 1 and tty == "" and out.splitlines() == [str(fleet / "junk.hpk") + ": FAILED: " + out.split(": FAILED: ")[1].strip()]
    # errors still show
    rc, out, err = run("import", "-q", tmp_path / "missing.csv", tmp_path / "x")
    assert_one_line_error(rc, out, err, "no such file")


def test_import_clock_grid_on_and_off(tmp_path):
    # one session stamped by Windows' 15.6 ms timer, floored to whole milliseconds
    rng = np.random.default_rng(11)
    ticks = np.cumsum(rng.choice([0, 1, 2, 7], 8000, p=[0.1, 0.6, 0.2, 0.1]))
    t = (ticks * 15_600_000 + 400_000) // 1_000_000 * 1_000_000
    x = np.cumsum(rng.integers(-4, 5, t.size)) + 500
    src = tmp_path / "tick.csv"
    src.write_text("t_ns,kind,x,y,button,session\n"
                   + "".join(f"{a},move,{b},300,,s\n" for a, b in zip(t.tolist(), x.tolist())))
    size = {}
    for flag in ("--clock-grid", "--no-clock-grid"):
        rc, out, err = run("import", src, tmp_path / flag, "--json", flag)
        assert rc == 0, err
        (f,) = json.loads(out)["files"]
        size[flag] = os.path.getsize(f)
        np.testing.assert_array_equal(hidpack.open(f).moves()["t"], t)
    assert size["--clock-grid"] < size["--no-clock-grid"], size
