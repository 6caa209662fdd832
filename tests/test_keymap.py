"""Key-code tables (hidpack.keymap): coverage, consistency and the reversible pynput encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hidpack import keymap

from shared_data import DATA, REPO, data_file  # noqa: F401



# --- JavaScript keyCode --------------------------------------------------------------------


def test_js_letters_digits_function_keys():
    for i in range(26):
        assert keymap.js_keycode_to_usage(65 + i) == 0x04 + i
    for i in range(1, 10):
        assert keymap.js_keycode_to_usage(48 + i) == 0x1E + i - 1
    assert keymap.js_keycode_to_usage(48) == 0x27  # '0'
    for i in range(12):
        assert keymap.js_keycode_to_usage(112 + i) == 0x3A + i  # F1..F12
    for i in range(10):
        assert keymap.js_keycode_to_usage(96 + i) == (0x62 if i == 0 else 0x59 + i - 1)  # keypad


@pytest.mark.parametrize(
    "code,usage",
    [
        (8, 0x2A), (9, 0x2B), (13, 0x28), (16, 0xE1), (17, 0xE0), (18, 0xE2), (20, 0x39),
        (27, 0x29), (32, 0x2C), (33, 0x4B), (34, 0x4E), (35, 0x4D), (36, 0x4A), (37, 0x50),
        (38, 0x52), (39, 0x4F), (40, 0x51), (45, 0x49), (46, 0x4C), (91, 0xE3), (92, 0xE7),
        (106, 0x55), (107, 0x57), (109, 0x56), (110, 0x63), (111, 0x54), (144, 0x53),
        (186, 0x33), (187, 0x2E), (188, 0x36), (189, 0x2D), (190, 0x37), (191, 0x38),
        (192, 0x35), (219, 0x2F), (220, 0x31), (221, 0x30), (222, 0x34),
        (59, 0x33), (61, 0x2E), (173, 0x2D),  # Firefox variants
    ],
)
def test_js_named_keys(code, usage):
    assert keymap.js_keycode_to_usage(code) == usage


def test_js_unknown_codes_are_none():
    for code in (0, 229, 255, 1000, -1):
        assert keymap.js_keycode_to_usage(code) is None


def test_every_keycode_of_the_aalto_corpus_maps():
    import zstandard

    with open(data_file("aalto136m-keys", "events.csv.zst"), "rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read().decode()
    codes = {int(line.split(",")[4]) for line in text.splitlines()[1:]}
    assert len(codes) == 87  # as the corpus README says
    unmapped = sorted(c for c in codes if keymap.js_keycode_to_usage(c) is None)
    assert unmapped == []


# --- Windows VK ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vk,usage",
    [
        (0x41, 0x04), (0x5A, 0x1D), (0x30, 0x27), (0x31, 0x1E), (0x0D, 0x28), (0x1B, 0x29),
        (0x10, 0xE1), (0x11, 0xE0), (0x12, 0xE2), (0xA0, 0xE1), (0xA1, 0xE5), (0xA2, 0xE0),
        (0xA3, 0xE4), (0xA4, 0xE2), (0xA5, 0xE6), (0x5B, 0xE3), (0x5C, 0xE7), (0x70, 0x3A),
        (0x7B, 0x45), (0x7C, 0x68), (0x87, 0x73), (0x60, 0x62), (0x69, 0x61), (0xAD, 0x7F),
        (0xBA, 0x33), (0xDE, 0x34), (0xE2, 0x64), (0x2C, 0x46), (0x14, 0x39),
    ],
)
def test_vk_keys(vk, usage):
    assert keymap.vk_to_usage(vk) == usage


def test_vk_and_js_agree_on_their_shared_codes():
    # keyCode derives from VK: apart from the documented browser quirks they must agree
    quirks = {173, 174, 175, 181, 182, 183, 224, 225, 59, 61}
    for code, usage in keymap.JS_KEYCODE_TO_USAGE.items():
        if code in quirks or code not in keymap.VK_TO_USAGE:
            continue
        assert keymap.VK_TO_USAGE[code] == usage, code


def test_every_mapped_usage_has_a_name_and_is_on_the_keyboard_page():
    tables = [keymap.JS_KEYCODE_TO_USAGE, keymap.VK_TO_USAGE, keymap.PYNPUT_NAME_TO_USAGE]
    for table in tables:
        for usage in table.values():
            assert 0x04 <= usage <= 0xE7
            assert keymap.usage_name(usage), hex(usage)
    assert keymap.usage_name(0x04) == "KeyA"
    assert keymap.usage_name(0xE5) == "ShiftRight"
    assert keymap.usage_name(None) is None


def test_inverse_tables_give_a_code_of_the_same_key():
    for table, fwd, inv in (
        (keymap.JS_KEYCODE_TO_USAGE, keymap.js_keycode_to_usage, keymap.usage_to_js_keycode),
        (keymap.VK_TO_USAGE, keymap.vk_to_usage, keymap.usage_to_vk),
    ):
        for usage in set(table.values()):
            code = inv(usage)
            assert code is not None, hex(usage)
            got = fwd(code)
            # right modifiers come back as the unsided code (-> left usage) in keyCode
            assert got == usage or (usage in (0xE4, 0xE5, 0xE6) and got in (0xE0, 0xE1, 0xE2))
    assert keymap.usage_to_js_keycode(0x2D) == 189  # the standard code, not Firefox's 173
    assert keymap.usage_to_vk(0xE5) == 0xA1


def test_map_codes_matches_the_scalar_lookup():
    codes = np.arange(-5, 400)
    usage, valid = keymap.map_codes(codes, keymap.JS_KEYCODE_TO_USAGE)
    for c, u, v in zip(codes.tolist(), usage.tolist(), valid.tolist()):
        expected = keymap.js_keycode_to_usage(c)
        assert v == (expected is not None)
        assert u == (expected or 0)


# --- pynput names --------------------------------------------------------------------------

# Frozen copy of the start of PYNPUT_KEY_NAMES: the encoding is stored in files, so existing
# entries may never move. New names may only be appended (extend this list when you do).
FROZEN_PYNPUT_NAMES = [
    "alt", "alt_l", "alt_r", "alt_gr", "backspace", "caps_lock", "cmd", "cmd_l", "cmd_r", "ctrl",
    "ctrl_l", "ctrl_r", "delete", "down", "end", "enter", "esc", "f1", "f2", "f3", "f4", "f5",
    "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14", "f15", "f16", "f17", "f18", "f19",
    "f20", "f21", "f22", "f23", "f24", "home", "left", "page_down", "page_up", "right", "shift",
    "shift_l", "shift_r", "space", "tab", "up", "media_play_pause", "media_volume_mute",
    "media_volume_down", "media_volume_up", "media_previous", "media_next", "insert", "menu",
    "num_lock", "pause", "print_screen", "scroll_lock", "media_stop", "media_eject",
]


def test_pynput_key_list_is_append_only():
    names = list(keymap.PYNPUT_KEY_NAMES)
    assert names[: len(FROZEN_PYNPUT_NAMES)] == FROZEN_PYNPUT_NAMES
    assert len(set(names)) == len(names)
    assert keymap.encode_pynput("alt") == 0x110000
    assert keymap.encode_pynput("enter") == 0x110000 + 15


def test_pynput_special_names_round_trip_and_are_distinct():
    codes = [keymap.encode_pynput(n) for n in keymap.PYNPUT_KEY_NAMES]
    assert len(set(codes)) == len(codes)
    assert all(c >= keymap.PYNPUT_SPECIAL_BASE for c in codes)
    assert all(c < 2**32 for c in codes)  # fits the u32 native field
    for name, code in zip(keymap.PYNPUT_KEY_NAMES, codes):
        assert keymap.decode_pynput(code) == name


@given(st.characters(exclude_categories=("Cs",)))
def test_pynput_characters_round_trip(ch):
    code = keymap.encode_pynput(ch)
    assert code == ord(ch)
    assert keymap.decode_pynput(code) == ch


def test_pynput_encoding_errors():
    with pytest.raises(ValueError, match="unknown pynput key name"):
        keymap.encode_pynput("not_a_key")
    with pytest.raises(ValueError):
        keymap.decode_pynput(keymap.PYNPUT_SPECIAL_BASE + len(keymap.PYNPUT_KEY_NAMES))
    with pytest.raises(ValueError):
        keymap.decode_pynput(-1)
    with pytest.raises(ValueError):
        keymap.decode_pynput(0xD800)
    with pytest.raises(TypeError):
        keymap.encode_pynput(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name,usage",
    [
        ("w", 0x1A), ("W", 0x1A), ("@", 0x1F), ("1", 0x1E), ("0", 0x27), ("-", 0x2D), ("?", 0x38),
        (" ", 0x2C), ("enter", 0x28), ("shift", 0xE1), ("shift_r", 0xE5), ("cmd", 0xE3),
        ("cmd_r", 0xE7), ("alt", 0xE2), ("alt_gr", 0xE6), ("ctrl", 0xE0), ("ctrl_r", 0xE4),
        ("tab", 0x2B), ("esc", 0x29), ("space", 0x2C), ("backspace", 0x2A), ("up", 0x52),
        ("down", 0x51), ("left", 0x50), ("right", 0x4F), ("f1", 0x3A), ("f12", 0x45),
        ("f13", 0x68), ("caps_lock", 0x39), ("delete", 0x4C), ("page_up", 0x4B), ("\x01", 0x04),
    ],
)
def test_pynput_usages(name, usage):
    assert keymap.pynput_to_usage(name) == usage


def test_pynput_names_without_a_keyboard_usage():
    assert keymap.pynput_to_usage("media_play_pause") is None
    assert keymap.pynput_to_usage("é") is None
    assert keymap.pynput_to_usage(None) is None


def test_every_key_of_the_ducktrack_example_maps():
    names = set()
    with open(data_file("ducktrack-example", "events.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["action"] in ("press", "release"):
                names.add(d["name"])
    assert {"w", "enter", "space"} <= names
    for name in names:
        assert keymap.pynput_to_usage(name) is not None, name
        assert keymap.decode_pynput(keymap.encode_pynput(name)) == name
