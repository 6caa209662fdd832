"""Export to OWAMcap (hidpack.io_mcap_export): read back with the `mcap` package and with
hidpack's OWA importer; real OWA files and a real balabit session round-trip exactly."""

from __future__ import annotations

import json
import numpy as np
import pytest
from mcap.reader import make_reader

import hidpack
from hidpack import io_owa
from hidpack.io_mcap_export import SCHEMAS, TOPICS, export_mcap

from shared_data import balabit_sessions, data_file
from test_cli import assert_one_line_error, run

OWA_FILES = ["0.3.2.mcap", "0.4.2.mcap", "0.5.1.mcap", "example.mcap"]


def same_tables(a, b, skip=()):
    keys = (set(a) | set(b)) - {k for s in skip for k in (s, s + "_valid")}
    for k in sorted(keys):
        assert k in a and k in b, k
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


def read_mcap(path):
    with open(path, "rb") as fh:
        r = make_reader(fh, validate_crcs=True)
        header, summary = r.get_header(), r.get_summary()
        msgs = [(ch.topic, sc.name, m.log_time, m.publish_time, json.loads(m.data))
                for sc, ch, m in r.iter_messages(log_time_order=False)]
        meta = {m.name: dict(m.metadata) for m in r.iter_metadata()}
    return header, summary, msgs, meta


@pytest.mark.parametrize("name", OWA_FILES)
def test_owa_files_round_trip_exactly(tmp_path, name):
    first = tmp_path / "a.hpk"
    io_owa.import_owa(data_file("owa-mcap", name), first)
    out = tmp_path / "a.mcap"
    report = export_mcap(first, out)
    assert report.skipped == {} and report.warnings == [] and report.recordings == 1
    again = tmp_path / "b.hpk"
    back = io_owa.import_owa(out, again)
    assert back.skipped == {} and back.warnings == []
    a, b = hidpack.open(first), hidpack.open(again)
    same_tables(a.table(), b.table())
    assert a.wall_clock_ns == b.wall_clock_ns
    for k in ("native_keyspace", "video", "screen_shape", "screen_source_shape"):
        assert a.metadata.get(k) == b.metadata.get(k), k
    # what the mcap package reads: the OWA profile, OWA's schema names, JSON messages, one per event
    header, summary, msgs, meta = read_mcap(out)
    assert header.profile == "owa"
    assert {ch.topic: summary.schemas[ch.schema_id].name for ch in summary.channels.values()} == {
        t: TOPICS[t] for t in ("mouse", "keyboard", "window", "screen")}
    assert all(ch.message_encoding == "json" for ch in summary.channels.values())
    assert all(json.loads(s.data) == SCHEMAS[s.name] and s.encoding == "jsonschema" for s in summary.schemas.values())
    assert len(msgs) == report.rows == len(a)
    assert all(lt == pt for _, _, lt, pt, _ in msgs)
    # each message as the OWA source had it (fields hidpack stores), at the same log_time
    src = [(topic, lt, {k: v for k, v in d.items() if v is not None})
           for topic, _, lt, d in io_owa.iter_mcap_messages(data_file("owa-mcap", name))
           if topic in ("mouse", "keyboard", "window")]
    mine = [(topic, lt, d) for topic, _, lt, _, d in msgs if topic != "screen"]
    assert mine == src
    assert json.loads(meta["hidpack"]["metadata"]) == a.metadata
    assert json.loads(meta["hidpack"]["not_carried"]) == {}


def test_a_balabit_session_round_trips_and_what_owa_cannot_carry_is_counted(tmp_path):
    path = balabit_sessions(tmp_path, 20_001)[0]
    rec = hidpack.open(path)
    table = rec.table()
    held = int((np.asarray(table["kind"]) == 0)[np.asarray(table["buttons_valid"])].sum())
    assert held > 0 and rec.wall_clock_ns is None
    report = export_mcap(path, tmp_path / "b.mcap")
    assert report.skipped == {"move.buttons values": held}  # drag state: OWA's MouseEvent has no field for it
    assert any("has no wall clock" in w for w in report.warnings)
    assert "not representable in mcap, left out: move.buttons values %s" % f"{held:,}" in report.summary()
    io_owa.import_owa(tmp_path / "b.mcap", tmp_path / "c.hpk")
    back = hidpack.open(tmp_path / "c.hpk")
    same_tables(table, back.table(), skip=("buttons",))
    assert "buttons" not in back.table()  # no move holds buttons: the column is not made
    assert not np.asarray(back.table(columns=["buttons"])["buttons_valid"]).any()
    assert back.wall_clock_ns == 0  # log_time = t, from 1970


def every_kind(path, keyspace="windows_vk", **kw):
    rows = [
        # t, kind, fields
        (100, "move", dict(x=10.0, y=20.0)),
        (101, "move", dict(x=10.5, y=20.0)),  # macOS-style fraction: not an OWA int
        (102, "move", dict(x=11.0, y=20.0, buttons=1)),  # held button: not carried
        (103, "raw_move", dict(dx=-3.0, dy=7.0)),
        (104, "raw_move", dict(dx=0.25, dy=1.0)),
        (105, "button", dict(button=4, pressed=True, x=11.0, y=20.0)),
        (106, "button", dict(button=1, pressed=False)),  # no position
        (107, "button", dict(button=9, pressed=True, x=1.0, y=1.0)),
        (108, "scroll", dict(dx=0.0, dy=-120.0, x=5.0, y=6.0)),
        (109, "key", dict(pressed=True, usage=4, native=65)),
        (110, "key", dict(pressed=False, usage=4)),
        (111, "key", dict(pressed=True, native=999999)),
        (112, "text", dict(text="a")),
        (113, "focus", dict(title="Notepad", window=77, left=1, top=2, right=300, bottom=400)),
        (114, "focus", dict(title="Editor", window=78, left=1, top=2, right=30, bottom=40, app="code")),
        (115, "focus", dict(app="bare")),
        (116, "marker", dict(label="screen", value=123)),
        (117, "marker", dict(label="screen#1", value=5)),
        (118, "marker", dict(label="lap", value=1)),
        (119, "gap", dict(count=3, reason=1)),
    ]
    names = sorted({k for _, _, f in rows for k in f})
    table = {"t": [r[0] for r in rows], "kind": [r[1] for r in rows]}
    for n in names:
        table[n] = [r[2].get(n) for r in rows]
    md = {"native_keyspace": keyspace, "video": "v.mkv", "screen_shape": [640, 480]}
    hidpack.write_table(str(path), table, metadata=md, wall_clock_ns=1_700_000_000_000_000_000, **kw)
    return str(path)


EXPECTED_SKIPS = {
    "moves with non-integer x/y": 1, "move.buttons values": 1, "buttons without an integer position": 1,
    "button codes above 5": 1, "raw moves with non-integer dx/dy": 1, "text events": 1, "gap events": 1,
    "keys without a Windows virtual key": 0, "focus events without title, rectangle and window": 1,
    "focus.app values": 1, "markers other than screen frames": 1, "screen markers without a video URI": 1,
}


def test_every_kind_maps_and_every_loss_is_counted(tmp_path):
    src = every_kind(tmp_path / "k.hpk")
    report = export_mcap(src, tmp_path / "k.mcap")
    assert report.skipped == {k: v for k, v in EXPECTED_SKIPS.items() if v}
    assert any("first exported event is at t = 100 ns" in w for w in report.warnings)
    _, summary, msgs, meta = read_mcap(tmp_path / "k.mcap")
    base = 1_700_000_000_000_000_000
    assert [(topic, schema, lt - base, d) for topic, schema, lt, _, d in msgs] == [
        ("mouse", "desktop/MouseEvent", 100, {"event_type": "move", "x": 10, "y": 20}),
        ("mouse", "desktop/MouseEvent", 102, {"event_type": "move", "x": 11, "y": 20}),
        ("mouse/raw", "desktop/RawMouseEvent", 103, {"last_x": -3, "last_y": 7}),
        ("mouse", "desktop/MouseEvent", 105, {"event_type": "click", "x": 11, "y": 20, "button": "x1", "pressed": True}),
        ("mouse", "desktop/MouseEvent", 108, {"event_type": "scroll", "x": 5, "y": 6, "dx": 0, "dy": -120}),
        ("keyboard", "desktop/KeyboardEvent", 109, {"event_type": "press", "vk": 65}),
        ("keyboard", "desktop/KeyboardEvent", 110, {"event_type": "release", "vk": 65}),
        ("keyboard", "desktop/KeyboardEvent", 111, {"event_type": "press", "vk": 999999}),
        ("window", "desktop/WindowInfo", 113, {"title": "Notepad", "rect": [1, 2, 300, 400], "hWnd": 77}),
        ("window", "desktop/WindowInfo", 114, {"title": "Editor", "rect": [1, 2, 30, 40], "hWnd": 78}),
        ("screen", "desktop/ScreenCaptured", 116, {"shape": [640, 480], "media_ref": {"uri": "v.mkv", "pts_ns": 123}}),
    ]
    assert json.loads(meta["hidpack"]["not_carried"]) == report.skipped
    # re-imported: what was exported comes back exactly (t from the first message)
    io_owa.import_owa(tmp_path / "k.mcap", tmp_path / "back.hpk")
    back = hidpack.open(tmp_path / "back.hpk")
    assert back.wall_clock_ns == base + 100
    kept = hidpack.open(src).table()
    rows = [0, 2, 3, 5, 8, 9, 10, 11, 13, 14, 16]
    b = back.table()
    assert list(np.asarray(b["t"])) == [kept["t"][i] - 100 for i in rows]
    assert list(np.asarray(b["kind"])) == [kept["kind"][i] for i in rows]
    r = back.raw_moves()
    assert list(r.dx) == [-3.0] and list(r.dy) == [7.0]
    assert back.info()["counts"] == {"move": 2, "raw_move": 1, "button": 1, "scroll": 1, "key": 3, "text": 0,
                                     "focus": 2, "marker": 1, "gap": 0}


def test_keys_of_another_keyspace_go_as_the_virtual_key_of_their_usage(tmp_path):
    src = every_kind(tmp_path / "x.hpk", keyspace="x11-keysym")
    report = export_mcap(src, tmp_path / "x.mcap")
    assert report.skipped["key.native values not Windows virtual keys (sent as the virtual key of the usage)"] == 1
    assert report.skipped["keys without a Windows virtual key"] == 1  # native only, no usage
    keys = [d for topic, _, _, _, d in read_mcap(tmp_path / "x.mcap")[2] if topic == "keyboard"]
    assert keys == [{"event_type": "press", "vk": 0x41}, {"event_type": "release", "vk": 0x41}]


def test_strict_refuses_and_writes_nothing(tmp_path):
    src = every_kind(tmp_path / "s.hpk")
    with pytest.raises(ValueError, match=r"OWAMcap cannot carry moves with non-integer x/y 1, .*text events 1"):
        export_mcap(src, tmp_path / "s.mcap", strict=True)
    assert not (tmp_path / "s.mcap").exists() and not (tmp_path / "s.mcap.part").exists()


def test_cli_export_to_mcap(tmp_path):
    src = every_kind(tmp_path / "c.hpk")
    out = tmp_path / "c.mcap"
    rc, stdout, err = run("export", src, "-o", out)  # the format from the extension
    assert rc == 0, err
    assert "exported 1 recording(s), 11 row(s)" in stdout and "text events 1" in stdout and "gap events 1" in stdout
    assert_one_line_error(*run("export", src, "-o", out), "c.mcap exists (use overwrite=True / --force")
    rc, _, err = run("export", src, "-o", out, "--force")
    assert rc == 0, err
    assert_one_line_error(*run("export", src, "-o", out, "--force", "--strict"), "OWAMcap cannot carry")
    other = every_kind(tmp_path / "d.hpk")
    assert_one_line_error(*run("export", src, other, "--to", "mcap", "-o", out, "--force"), "give a directory")
    rc, stdout, err = run("export", src, other, "--to", "mcap", "-o", tmp_path / "dir")
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["c.mcap", "d.mcap"]
    assert "exported 2 recording(s), 22 row(s)" in stdout
