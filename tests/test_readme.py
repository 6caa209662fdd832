"""README.md is executed: every ```python block (in order, in one namespace, as a notebook would
run them) and every line of the "Command line" block, on real recordings prepared in a temp dir
(session.hpk: the DuckTrack example imported with the README's own ``hidpack import``; fleet/:
that session and the OWAMcap examples). README and code cannot drift: a snippet that stops
working, an option the CLI no longer has, or a command the README does not show fails here.

Tracebacks of a Python block point at README.md's own line numbers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

import hidpack
from hidpack.cli import build_parser

from shared_data import DATA, REPO, balabit_sessions, data_file

README = REPO / "README.md"


# -- README parsing -------------------------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(language, line number of the first code line, code)`` of every fenced block."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            start, j = i + 1, i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            blocks.append((m.group(1), start + 1, "\n".join(lines[start:j]) + "\n"))
            i = j
        i += 1
    return blocks


def section(text: str, title: str) -> str:
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.S | re.M)
    assert m, "README.md has no section %r" % title
    return m.group(1)


def python_blocks() -> list[tuple[int, str]]:
    return [(line, code) for lang, line, code in fenced_blocks(README.read_text()) if lang == "python"]


def cli_lines() -> list[str]:
    """The synopsis lines of the "Command line" section, comments removed."""
    blocks = fenced_blocks(section(README.read_text(), "Command line"))
    assert len(blocks) == 1, "the Command line section should hold one block"
    out = []
    for line in blocks[0][2].splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line:
            assert line.startswith("hidpack "), line
            out.append(line)
    return out


class Synopsis:
    """One README line such as ``hidpack plot FILE -o OUT.png [--mode trajectory|heatmap]``:
    the command, its positional placeholders, its required options and its optional groups.
    An option is ``(flag, value spec)``; a value spec is None (a switch), a placeholder
    (``OUT``, ``...``) or a list of alternatives (``csv|jsonl``; upper case ones are placeholders)."""

    def __init__(self, line: str):
        self.line = line
        words = line.split()[1:]
        self.command = words[0]
        self.positional: list[str] = []
        self.required: list[tuple[str, object]] = []
        self.optional: list[tuple[str, object]] = []
        tokens = re.findall(r"\[[^\]]*\]|\S+", line)[2:]
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.startswith("["):
                parts = tok[1:-1].split()
                assert parts and parts[0].startswith("-"), line
                self.optional.append((parts[0], self._spec(parts[1]) if len(parts) > 1 else None))
            elif tok.startswith("-"):
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if nxt is not None and not nxt.startswith(("-", "[")):
                    self.required.append((tok, self._spec(nxt)))
                    i += 1
                else:
                    self.required.append((tok, None))
            else:
                self.positional.append(tok)
            i += 1

    @staticmethod
    def _spec(v: str) -> object:
        return v.split("|") if "|" in v else v


def is_placeholder(v: str) -> bool:
    return v == "..." or v != v.lower()


# -- real recordings the snippets name ------------------------------------------------------------


def hidpack_cli(*args, cwd, check=True):
    env = dict(os.environ, HIDPACK_DATA=str(DATA))
    p = subprocess.run(
        [sys.executable, "-m", "hidpack.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=600,
    )
    if check:
        assert p.returncode == 0, "hidpack %s -> exit %d\n%s%s" % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """session.hpk (the DuckTrack example, through the CLI), fleet/ (that session and the four
    OWAMcap examples: real recordings that have a wall clock), head.csv (the first rows of the
    balabit corpus, for the CSV import)."""
    from hidpack.io_owa import import_owa

    d = tmp_path_factory.mktemp("readme")
    hidpack_cli("import", data_file("ducktrack-example", "events.jsonl"), "session.hpk", cwd=d)
    (d / "fleet").mkdir()
    shutil.copy(d / "session.hpk", d / "fleet" / "ducktrack.hpk")
    for mcap in sorted(data_file("owa-mcap").glob("*.mcap")):
        import_owa(mcap, d / "fleet" / (mcap.stem + ".hpk"))
    balabit_sessions(d, 4000)  # writes head.csv (and the sessions, unused)
    shutil.rmtree(d / "sessions")
    return d


def copy_of(workspace: Path, tmp_path: Path) -> Path:
    d = tmp_path / "w"
    shutil.copytree(workspace, d)
    return d


# -- the Python blocks ----------------------------------------------------------------------------


def test_readme_has_the_python_blocks():
    blocks = python_blocks()
    assert len(blocks) >= 4
    text = "".join(code for _, code in blocks)
    for call in ("hidpack.open(", ".between(60e9, 120e9)", "hidpack.read_many(", "hidpack.read_dask(",
                 "hidpack.Recorder(", "hidpack.write_table("):
        assert call in text, call


def run_blocks(cwd: Path) -> dict:
    """Runs README's Python blocks in order in one namespace, in ``cwd``; returns the namespace."""
    ns: dict = {"__name__": "__readme__"}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        for line, code in python_blocks():
            # compiled as README.md, at its own line numbers: a traceback shows the README line
            exec(compile("\n" * (line - 1) + code, str(README), "exec"), ns)
    finally:
        os.chdir(old)
    return ns


def test_readme_python_blocks_run_on_real_recordings(workspace, tmp_path):
    d = copy_of(workspace, tmp_path)
    before = hidpack.open(d / "session.hpk")
    want_keys = before.keys().t
    n_events = len(before)
    ns = run_blocks(d)

    # the notebook block read the real session
    m = ns["m"]
    assert len(m.t) == 13_163 and m.t.dtype == np.int64
    assert ns["keys"].t.tolist() == want_keys[(want_keys >= 60e9) & (want_keys < 120e9)].tolist()
    assert list(ns["t"]) [:2] == ["t", "kind"] and "x" in ns["t"] and "usage" not in ns["t"]
    assert len(ns["df"]) == n_events and len(ns["pl_df"]) == 13_163
    assert ns["img"].ndim == 3 and ns["img"].shape[2] == 3 and ns["img"].dtype == np.uint8
    # the fleet block: five real sessions, every move read
    ft = ns["ft"]
    paths = ns["paths"]
    assert len(paths) == 5
    assert len(ft["t"]) == sum(len(hidpack.open(d / p).moves()) for p in paths)
    assert ns["moves_df"]["x"].tolist() == ft["x"].tolist() and list(ns["moves_df"].columns[:2]) == ["t", "file"]
    assert len(ns["ddf"].columns) > 3
    # the recorder block wrote a new file that reads back (never over session.hpk, which is
    # intact), the bulk block its two moves
    assert hidpack.open(d / "session.hpk").verify()["ok"]
    live = hidpack.open(d / "live.hpk")
    assert live.verify()["ok"]
    assert [k for k, v in live.info()["counts"].items() if v] == ["move", "button", "key", "text", "focus", "gap"]
    out = hidpack.open(d / "out.hpk")
    assert out.moves().y.tolist() == [200.0, 199.75]


def test_a_broken_readme_snippet_fails(workspace, tmp_path, monkeypatch):
    """The check of the checker: a README whose between() call is wrong makes run_blocks raise,
    with the README's line in the traceback."""
    broken = tmp_path / "README.md"
    text = README.read_text()
    assert "rec.between(60e9, 120e9)" in text
    broken.write_text(text.replace("rec.between(60e9, 120e9)", "rec.between('60 s', 120e9)"))
    monkeypatch.setattr(sys.modules[__name__], "README", broken)
    with pytest.raises(TypeError, match="t0 must be") as info:
        run_blocks(copy_of(workspace, tmp_path))
    line = next(i for i, s in enumerate(broken.read_text().splitlines(), 1) if "'60 s'" in s)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.filename == str(broken) and f.lineno == line for f in frames), frames


# -- the Command line block -----------------------------------------------------------------------


def subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


def test_readme_shows_every_command():
    shown = {Synopsis(line).command for line in cli_lines()}
    assert set(subparsers()) <= shown, "commands missing from README's Command line block: %s" % (
        set(subparsers()) - shown)


@pytest.mark.parametrize("line", cli_lines())
def test_readme_options_exist(line):
    """Every option and every choice the README shows is one the CLI takes."""
    syn = Synopsis(line)
    if syn.command.startswith("-"):
        return  # `hidpack --version`: run below
    sub = subparsers()
    assert syn.command in sub, line
    actions = {s: a for a in sub[syn.command]._actions for s in a.option_strings}
    for flag, spec in syn.required + syn.optional:
        assert flag in actions, "%s: the CLI has no %s" % (line, flag)
        a = actions[flag]
        if spec is None:
            assert a.nargs == 0, "%s: %s takes a value" % (line, flag)
        else:
            assert a.nargs != 0, "%s: %s is a switch" % (line, flag)
        if isinstance(spec, list) and a.choices is not None:
            literal = [v for v in spec if not is_placeholder(v)]
            assert set(literal) <= set(a.choices), (line, flag, a.choices)


class Values:
    """Real values for a synopsis' placeholders, in the workspace ``d``."""

    SOURCES = {
        "csv": "head.csv",
        "ducktrack": str(DATA / "ducktrack-example" / "events.jsonl"),
        "owa": str(DATA / "owa-mcap" / "example.mcap"),
    }

    def __init__(self, d: Path):
        self.d = d
        self.n = 0
        self.outputs: list[Path] = []

    def fresh(self, name: str) -> str:
        self.n += 1
        return "out%d-%s" % (self.n, name)

    def positional(self, cmd: str, name: str, choice: dict) -> list[str]:
        name = choice.get(name, name)  # one alternative of FILE|DIR
        if name == "DIR":
            return ["fleet"]
        if cmd == "import":
            fmt = choice.get("--format", "ducktrack")
            if name == "SRC":
                return [self.SOURCES[fmt]]
            if name == "OUT":
                out = self.fresh("import" if fmt == "csv" else "import.hpk")
                self.outputs.append(self.d / out)
                return [out]
        if name in ("FILES...",):
            return ["fleet", "session.hpk"]
        if name == "FILE":
            if cmd == "recover":  # a copy whose last quarter is cut off, as a killed writer leaves it
                data = (self.d / "session.hpk").read_bytes()
                cut = self.fresh("cut.hpk")
                (self.d / cut).write_bytes(data[: len(data) * 3 // 4])
                return [cut]
            return ["session.hpk"]
        raise AssertionError("no value for README placeholder %s of `hidpack %s`: add one to test_readme.Values" % (name, cmd))

    def option(self, cmd: str, flag: str, spec: object, choice: dict) -> list[str]:
        if spec is None:
            return [flag]
        if isinstance(spec, list):
            return [flag, choice[flag]]
        if flag == "--policy" and spec == "...":
            return [flag, "strict"]
        if spec in ("OUT", "OUT.png"):
            ext = {"export": "." + choice.get("--to", "jsonl"), "plot": ".png", "recover": ".hpk"}.get(cmd, "")
            out = self.fresh(cmd + ext)
            self.outputs.append(self.d / out)
            return [flag, out]
        if spec == "PX":
            return [flag, "256"]
        if spec == "WxH":
            return [flag, "1920x1080"]
        if spec == "TZ":
            return [flag, "UTC"]
        if spec == "S":
            return [flag, {"--start": "1", "--end": "20", "--duration": "1"}[flag]]
        raise AssertionError("no value for README's %s %s of `hidpack %s`: add one to test_readme.Values" % (flag, spec, cmd))


def runs(syn: Synopsis, values: Values) -> list[list[str]]:
    """The invocations that exercise a synopsis: its required part (once per alternative of a
    required choice or of a positional such as ``FILE|DIR``), then each optional group added on
    its own (once per literal alternative)."""
    def choices(spec):
        return [v for v in spec if not is_placeholder(v)] if isinstance(spec, list) else [None]

    def argv(choice, extra):
        a = [syn.command]
        for name in syn.positional:
            a += values.positional(syn.command, name, choice)
        for flag, spec in syn.required + extra:
            a += values.option(syn.command, flag, spec, choice)
        return a

    req_choices = [{}]
    for name in syn.positional:
        if "|" in name:
            req_choices = [dict(c, **{name: v}) for c in req_choices for v in name.split("|")]
    for flag, spec in syn.required:
        if isinstance(spec, list):
            req_choices = [dict(c, **{flag: v}) for c in req_choices for v in choices(spec)]
    out = [argv(c, []) for c in req_choices]
    for flag, spec in syn.optional:
        for v in choices(spec):
            c = dict(req_choices[0], **({flag: v} if v is not None else {}))
            out.append(argv(c, [(flag, spec)]))
    return out


#: commands that drive or read a real desktop: their README lines are parsed, never run
DESKTOP = ("record", "replay")


@pytest.mark.parametrize("line", [s for s in cli_lines() if Synopsis(s).command not in DESKTOP])
def test_readme_command_lines_run(line, workspace, tmp_path):
    d = copy_of(workspace, tmp_path)
    syn = Synopsis(line)
    if syn.command == "--version":
        p = hidpack_cli("--version", cwd=d)
        assert p.stdout.strip() == "hidpack " + hidpack.__version__
        return
    values = Values(d)
    argvs = runs(syn, values)
    assert argvs
    for argv in argvs:
        p = hidpack_cli(*argv, cwd=d)
        assert p.stdout.strip() or p.stderr.strip(), argv
    for out in values.outputs:
        assert out.exists(), "%s did not write %s" % (line, out.name)


@pytest.mark.parametrize("command", DESKTOP)
def test_readme_desktop_line_parses_and_explains_itself(workspace, command):
    """``record`` and ``replay`` need a desktop (and ``replay`` would drive it): their README
    lines are parsed (every option, every choice), and ``hidpack COMMAND --help`` runs from the
    base install."""
    line = next(s for s in cli_lines() if s.startswith("hidpack %s " % command))
    syn = Synopsis(line)
    for flag, spec in syn.optional:
        for v in (spec if isinstance(spec, list) else [spec]):
            value = [] if v is None else [{"FILE.toml": "policy.toml", "S": "2", "X": "2"}.get(v, v)]
            args = build_parser().parse_args([command, "x.hpk", flag, *value])
            assert args.command == command
    p = hidpack_cli(command, "--help", cwd=workspace)
    for flag, _ in syn.optional:
        assert flag in p.stdout


def test_readme_gives_exactly_two_setup_commands():
    setup = section(README.read_text(), "Set up on a fresh machine")
    commands = [
        line for lang, _, code in fenced_blocks(setup) if lang == "bash"
        for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands == ["pip install . && hidpack demo", "bash .ci/run"]
