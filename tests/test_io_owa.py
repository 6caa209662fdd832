"""OWAMcap import (hidpack.io_owa), checked message by message against the `mcap` package."""

from __future__ import annotations

import json
import sys
from collections import Counter

import numpy as np
import pytest
from mcap.reader import make_reader

import hidpack
from hidpack import io_owa, keymap

from shared_data import DATA, REPO, data_file  # noqa: F401
FILES = ["0.3.2.mcap", "0.4.2.mcap", "0.5.1.mcap", "example.mcap"]



def mcap_messages(path):
    """(topic, log_time, decoded JSON) in log_time order (stable), read with the mcap package."""
    out = []
    with open(path, "rb") as fh:
        for i, (_schema, channel, msg) in enumerate(make_reader(fh).iter_messages(log_time_order=False)):
            out.append((msg.log_time, i, channel.topic, json.loads(msg.data)))
    out.sort(key=lambda m: (m[0], m[1]))
    return [(topic, lt, d) for lt, _, topic, d in out]


@pytest.fixture(scope="module", params=FILES)
def imported(request, tmp_path_factory):
    src = data_file("owa-mcap", request.param)
    out = tmp_path_factory.mktemp("owa") / (request.param + ".hpk")
    report = io_owa.import_owa(src, out)
    return src, out, report


def test_every_mouse_keyboard_window_message_reads_back_equal(imported):
    src, out, _ = imported
    expected = [
        (topic, lt, {k: v for k, v in d.items() if v is not None})
        for topic, lt, d in mcap_messages(src)
        if topic in ("mouse", "keyboard", "window")
    ]
    back = [m for m in io_owa.iter_owa(out) if m[0] != "screen"]
    assert len(back) == len(expected) > 0
    for a, b in zip(back, expected):
        assert a == b


def test_every_screen_message_is_a_marker_with_its_frame_time(imported):
    src, out, _ = imported
    screens = [(lt, d) for topic, lt, d in mcap_messages(src) if topic == "screen"]
    rec = hidpack.open(out)
    first = mcap_messages(src)[0][1]
    assert rec.wall_clock_ns == first
    markers = rec.markers()
    assert list(markers.label) == ["screen"] * len(screens)
    assert len(screens) > 0
    for (lt, d), t, value in zip(screens, np.asarray(markers.t), np.asarray(markers.value)):
        pts = d["media_ref"]["pts_ns"] if "media_ref" in d else d["pts"]
        assert first + int(t) == lt
        assert int(value) == pts
    video = screens[0][1]["media_ref"]["uri"] if "media_ref" in screens[0][1] else screens[0][1]["path"]
    assert rec.metadata["video"] == video


def test_state_topics_are_counted_not_lost_silently(imported):
    src, out, report = imported
    topics = Counter(topic for topic, _, _ in mcap_messages(src))
    expected = {t: topics[t] for t in ("keyboard/state", "mouse/state")}
    assert all(v > 0 for v in expected.values())
    assert report.skipped == expected
    md = hidpack.open(out).metadata
    assert md["import_skipped"] == expected
    stored = sum(report.counts.values())
    assert stored + sum(expected.values()) == sum(topics.values())


def test_keys_windows_and_metadata(imported):
    src, out, _ = imported
    rec = hidpack.open(out)
    md = rec.metadata
    assert md["native_keyspace"] == "windows_vk"
    assert md["source"] == "owa-mcap"
    keys = rec.keys()
    vks = np.asarray(keys.native)
    usages = np.asarray(keys.usage)
    for vk, usage in zip(vks.tolist(), usages.tolist()):
        assert usage == keymap.vk_to_usage(vk)
    focus = rec.focus()
    assert len(np.asarray(focus.t)) > 0
    assert all(isinstance(t, str) and t for t in focus.title)


def test_missing_mcap_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mcap", None)
    monkeypatch.setitem(sys.modules, "mcap.reader", None)
    with pytest.raises(ImportError, match=r"pip install 'hidpack\[mcap\]'"):
        io_owa.import_owa(data_file("owa-mcap", "example.mcap"), tmp_path / "x.hpk")


def _write_mcap(path, messages):
    from mcap.writer import Writer

    with open(path, "wb") as fh:
        w = Writer(fh)
        w.start(profile="owa", library="test")
        channels = {}
        for topic, log_time, data in messages:
            if topic not in channels:
                sid = w.register_schema(name="desktop/" + topic.replace("/", "_"), encoding="jsonschema", data=b"{}")
                channels[topic] = w.register_channel(topic=topic, message_encoding="json", schema_id=sid)
            w.add_message(channels[topic], log_time=log_time, data=json.dumps(data).encode(), publish_time=log_time)
        w.finish()


def test_scroll_raw_and_unknown_topics(tmp_path):
    base = 1_700_000_000_000_000_000
    src = tmp_path / "s.mcap"
    _write_mcap(
        src,
        [
            ("mouse", base, {"event_type": "scroll", "x": 10, "y": 20, "dx": 0, "dy": -120}),
            ("mouse/raw", base + 5, {"dx": -3, "dy": 7}),
            ("gamepad", base + 6, {"a": 1}),
            ("mouse", base + 9, {"event_type": "click", "x": 1, "y": 2, "button": "x1", "pressed": False}),
            ("mouse", base + 10, {"event_type": "move", "x": 1, "y": 2, "timestamp": 99}),
        ],
    )
    report = io_owa.import_owa(src, tmp_path / "out")
    assert report.files == [str(tmp_path / "out" / "s.hpk")]
    assert report.skipped == {"gamepad": 1}
    assert any("mouse.timestamp" in w for w in report.warnings)
    rec = hidpack.open(report.files[0])
    assert rec.metadata["import_dropped_fields"] == {"mouse.timestamp": 1}
    assert rec.wall_clock_ns == base
    s = rec.scrolls()
    assert list(s.t) == [0] and list(s.dx) == [0.0] and list(s.dy) == [-120.0]
    assert list(s.x) == [10.0] and list(s.y) == [20.0]
    r = rec.raw_moves()
    assert list(r.t) == [5] and list(r.dx) == [-3.0] and list(r.dy) == [7.0]
    b = rec.buttons()
    assert list(b.button) == [4] and list(b.pressed) == [False]
    back = list(io_owa.iter_owa(rec))
    assert back[0] == ("mouse", base, {"event_type": "scroll", "x": 10, "y": 20, "dx": 0, "dy": -120})
    assert back[2] == ("mouse", base + 9, {"event_type": "click", "x": 1, "y": 2, "button": "x1", "pressed": False})


def test_bad_message_is_an_error_naming_it(tmp_path):
    src = tmp_path / "bad.mcap"
    _write_mcap(src, [("mouse", 5, {"event_type": "teleport", "x": 1, "y": 2})])
    with pytest.raises(ValueError, match=r"mouse message at log_time 5: unknown event_type 'teleport'"):
        io_owa.import_owa(src, tmp_path / "bad.hpk")
