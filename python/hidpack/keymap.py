"""Key-code tables: platform key codes -> USB HID keyboard usages (usage page 0x07).

A hidpack ``key`` event carries two codes:

* ``usage``: the USB HID keyboard usage ID of the *physical* key (HID Usage Tables, page 0x07,
  "Keyboard/Keypad"); W3C ``KeyboardEvent.code`` names map 1:1 onto it (:data:`USAGE_NAMES`).
* ``native``: the code the source platform delivered, in the key-code space named by the
  recording's ``native_keyspace`` metadata entry.

This module holds the tables used by the importers:

* JavaScript ``KeyboardEvent.keyCode`` (``native_keyspace = "js_keycode"``):
  :data:`JS_KEYCODE_TO_USAGE`, :func:`js_keycode_to_usage`.
* Windows virtual-key codes (``native_keyspace = "windows_vk"``): :data:`VK_TO_USAGE`,
  :func:`vk_to_usage`.
* pynput key names as written by DuckTrack (``native_keyspace = "pynput"``): a single character
  (``"w"``, ``"W"``, ``"@"``) or a ``pynput.keyboard.Key`` member name without the ``Key.``
  prefix (``"enter"``, ``"shift_r"``, ``"f1"``): :func:`pynput_to_usage`, and the exact,
  reversible integer encoding :func:`encode_pynput` / :func:`decode_pynput`:

  - a single character -> its Unicode code point (0 .. 0x10FFFF);
  - a ``Key`` name -> ``PYNPUT_SPECIAL_BASE (0x110000) + index`` in :data:`PYNPUT_KEY_NAMES`.

  :data:`PYNPUT_KEY_NAMES` is **append-only**: files written with one version of hidpack must
  decode with every later one, so existing entries never move; new names go at the end.

Generic (unsided) modifiers map to the *left* usage: JS 16/17/18, VK_SHIFT/VK_CONTROL/VK_MENU,
pynput ``shift``/``ctrl``/``alt``/``cmd``. Codes with no key on page 0x07 (media
play/pause/next/previous, browser keys, IME process key 229, ...) map to ``None``: the usage is
then stored as absent, while ``native`` keeps the source code.

Browser quirks of ``keyCode`` (from the Aalto typing corpus and MDN's keyCode table): Firefox
sends 59 for ``;``, 61 for ``=``, 173 for ``-`` and 224 for Meta; these are mapped as such (so
JS 173 is *minus*, whereas Windows ``VK_VOLUME_MUTE`` 0xAD maps to Mute).
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

__all__ = [
    "USAGE_NAMES",
    "JS_KEYCODE_TO_USAGE",
    "VK_TO_USAGE",
    "PYNPUT_KEY_NAMES",
    "PYNPUT_SPECIAL_BASE",
    "PYNPUT_NAME_TO_USAGE",
    "js_keycode_to_usage",
    "vk_to_usage",
    "pynput_to_usage",
    "usage_to_js_keycode",
    "usage_to_vk",
    "usage_name",
    "encode_pynput",
    "decode_pynput",
    "lookup_array",
    "map_codes",
]

# ---------------------------------------------------------------------------------------------
# USB HID keyboard usages (page 0x07) and their W3C KeyboardEvent.code names
# ---------------------------------------------------------------------------------------------


def _usage_names() -> Dict[int, str]:
    names: Dict[int, str] = {}
    for i in range(26):
        names[0x04 + i] = "Key" + chr(ord("A") + i)
    for i in range(9):
        names[0x1E + i] = "Digit%d" % (i + 1)
    names[0x27] = "Digit0"
    names.update(
        {
            0x28: "Enter",
            0x29: "Escape",
            0x2A: "Backspace",
            0x2B: "Tab",
            0x2C: "Space",
            0x2D: "Minus",
            0x2E: "Equal",
            0x2F: "BracketLeft",
            0x30: "BracketRight",
            0x31: "Backslash",
            0x32: "IntlHash",  # Non-US # and ~
            0x33: "Semicolon",
            0x34: "Quote",
            0x35: "Backquote",
            0x36: "Comma",
            0x37: "Period",
            0x38: "Slash",
            0x39: "CapsLock",
        }
    )
    for i in range(12):
        names[0x3A + i] = "F%d" % (i + 1)
    names.update(
        {
            0x46: "PrintScreen",
            0x47: "ScrollLock",
            0x48: "Pause",
            0x49: "Insert",
            0x4A: "Home",
            0x4B: "PageUp",
            0x4C: "Delete",
            0x4D: "End",
            0x4E: "PageDown",
            0x4F: "ArrowRight",
            0x50: "ArrowLeft",
            0x51: "ArrowDown",
            0x52: "ArrowUp",
            0x53: "NumLock",
            0x54: "NumpadDivide",
            0x55: "NumpadMultiply",
            0x56: "NumpadSubtract",
            0x57: "NumpadAdd",
            0x58: "NumpadEnter",
        }
    )
    for i in range(9):
        names[0x59 + i] = "Numpad%d" % (i + 1)
    names.update(
        {
            0x62: "Numpad0",
            0x63: "NumpadDecimal",
            0x64: "IntlBackslash",  # Non-US \ and |
            0x65: "ContextMenu",  # "Keyboard Application"
            0x66: "Power",
            0x67: "NumpadEqual",
        }
    )
    for i in range(12):
        names[0x68 + i] = "F%d" % (13 + i)
    names.update(
        {
            0x74: "Execute",  # no W3C code; HID name
            0x75: "Help",
            0x76: "Props",  # HID "Menu"
            0x77: "Select",
            0x78: "Stop",  # HID "Stop" (W3C has no keyboard-page Stop)
            0x79: "Again",
            0x7A: "Undo",
            0x7B: "Cut",
            0x7C: "Copy",
            0x7D: "Paste",
            0x7E: "Find",
            0x7F: "AudioVolumeMute",
            0x80: "AudioVolumeUp",
            0x81: "AudioVolumeDown",
            0x85: "NumpadComma",
            0x87: "IntlRo",  # International1
            0x88: "KanaMode",  # International2
            0x89: "IntlYen",  # International3
            0x8A: "Convert",  # International4
            0x8B: "NonConvert",  # International5
            0x90: "Lang1",  # Hangul/English toggle
            0x91: "Lang2",  # Hanja
            0x9C: "NumpadClear",  # HID "Keyboard Clear"
            0xE0: "ControlLeft",
            0xE1: "ShiftLeft",
            0xE2: "AltLeft",
            0xE3: "MetaLeft",
            0xE4: "ControlRight",
            0xE5: "ShiftRight",
            0xE6: "AltRight",
            0xE7: "MetaRight",
        }
    )
    return names


#: usage ID -> W3C ``KeyboardEvent.code`` name (or the HID name where W3C has none).
USAGE_NAMES: Mapping[int, str] = _usage_names()

_LETTERS = {ord("A") + i: 0x04 + i for i in range(26)}  # 'A'..'Z' (== JS/VK codes 65..90)
_DIGITS = {ord("1") + i: 0x1E + i for i in range(9)}  # '1'..'9' (== JS/VK codes 49..57)
_DIGITS[ord("0")] = 0x27

# Shared part of the JavaScript keyCode and Windows VK spaces (keyCode derives from VK).
_COMMON: Dict[int, int] = {
    0x08: 0x2A,  # Backspace
    0x09: 0x2B,  # Tab
    0x0C: 0x9C,  # Clear (numpad 5 without NumLock) -> Keyboard Clear
    0x0D: 0x28,  # Enter
    0x10: 0xE1,  # Shift (unsided) -> left
    0x11: 0xE0,  # Control (unsided) -> left
    0x12: 0xE2,  # Alt / VK_MENU (unsided) -> left
    0x13: 0x48,  # Pause
    0x14: 0x39,  # CapsLock
    0x15: 0x90,  # Kana / Hangul -> Lang1
    0x19: 0x91,  # Hanja / Kanji -> Lang2
    0x1B: 0x29,  # Escape
    0x1C: 0x8A,  # Convert
    0x1D: 0x8B,  # NonConvert
    0x20: 0x2C,  # Space
    0x21: 0x4B,  # PageUp
    0x22: 0x4E,  # PageDown
    0x23: 0x4D,  # End
    0x24: 0x4A,  # Home
    0x25: 0x50,  # ArrowLeft
    0x26: 0x52,  # ArrowUp
    0x27: 0x4F,  # ArrowRight
    0x28: 0x51,  # ArrowDown
    0x29: 0x77,  # Select
    0x2B: 0x74,  # Execute
    0x2C: 0x46,  # PrintScreen
    0x2D: 0x49,  # Insert
    0x2E: 0x4C,  # Delete
    0x2F: 0x75,  # Help
    0x5B: 0xE3,  # Meta / left Windows key
    0x5C: 0xE7,  # right Meta / right Windows key
    0x5D: 0x65,  # ContextMenu / VK_APPS
    0x60: 0x62,  # Numpad0
    0x6A: 0x55,  # NumpadMultiply
    0x6B: 0x57,  # NumpadAdd
    0x6C: 0x85,  # Separator -> NumpadComma
    0x6D: 0x56,  # NumpadSubtract
    0x6E: 0x63,  # NumpadDecimal
    0x6F: 0x54,  # NumpadDivide
    0x90: 0x53,  # NumLock
    0x91: 0x47,  # ScrollLock
    0xBA: 0x33,  # ;:
    0xBB: 0x2E,  # =+
    0xBC: 0x36,  # ,<
    0xBD: 0x2D,  # -_
    0xBE: 0x37,  # .>
    0xBF: 0x38,  # /?
    0xC0: 0x35,  # `~
    0xC1: 0x87,  # ABNT_C1 -> IntlRo
    0xC2: 0x85,  # ABNT_C2 -> NumpadComma
    0xDB: 0x2F,  # [{
    0xDC: 0x31,  # \|
    0xDD: 0x30,  # ]}
    0xDE: 0x34,  # '"
    0xE2: 0x64,  # OEM_102 -> IntlBackslash
}
_COMMON.update(_LETTERS)
_COMMON.update(_DIGITS)
for _i in range(9):
    _COMMON[0x61 + _i] = 0x59 + _i  # Numpad1..9
for _i in range(12):
    _COMMON[0x70 + _i] = 0x3A + _i  # F1..F12
for _i in range(12):
    _COMMON[0x7C + _i] = 0x68 + _i  # F13..F24

# Browser variants of keyCode (Firefox: 59 ;  61 =  173 -  181/182/183 mute/down/up  224 Meta;
# Chrome: 174/175 volume down/up; 225 AltGraph).
_JS_EXTRA = {
    59: 0x33,
    61: 0x2E,
    173: 0x2D,
    174: 0x81,
    175: 0x80,
    181: 0x7F,
    182: 0x81,
    183: 0x80,
    224: 0xE3,
    225: 0xE6,
}
#: JavaScript ``KeyboardEvent.keyCode`` -> usage.
JS_KEYCODE_TO_USAGE: Mapping[int, int] = {**_COMMON, **_JS_EXTRA}

#: Windows virtual-key code -> usage.
VK_TO_USAGE: Mapping[int, int] = {
    **_COMMON,
    **{
        0xA0: 0xE1,  # VK_LSHIFT
        0xA1: 0xE5,  # VK_RSHIFT
        0xA2: 0xE0,  # VK_LCONTROL
        0xA3: 0xE4,  # VK_RCONTROL
        0xA4: 0xE2,  # VK_LMENU
        0xA5: 0xE6,  # VK_RMENU
        0xAD: 0x7F,  # VK_VOLUME_MUTE
        0xAE: 0x81,  # VK_VOLUME_DOWN
        0xAF: 0x80,  # VK_VOLUME_UP
    },
}

# ---------------------------------------------------------------------------------------------
# pynput key names
# ---------------------------------------------------------------------------------------------

#: Native code of ``PYNPUT_KEY_NAMES[0]``; single characters use their code point (< 0x110000).
PYNPUT_SPECIAL_BASE = 0x110000

#: ``pynput.keyboard.Key`` member names, in a fixed order. APPEND-ONLY: the native code of a name
#: is ``PYNPUT_SPECIAL_BASE + index``, stored in files, so an entry must never move or disappear.
PYNPUT_KEY_NAMES: Tuple[str, ...] = (
    "alt",  # 0
    "alt_l",
    "alt_r",
    "alt_gr",
    "backspace",
    "caps_lock",
    "cmd",
    "cmd_l",
    "cmd_r",
    "ctrl",
    "ctrl_l",  # 10
    "ctrl_r",
    "delete",
    "down",
    "end",
    "enter",
    "esc",
    "f1",
    "f2",
    "f3",
    "f4",  # 20
    "f5",
    "f6",
    "f7",
    "f8",
    "f9",
    "f10",
    "f11",
    "f12",
    "f13",
    "f14",  # 30
    "f15",
    "f16",
    "f17",
    "f18",
    "f19",
    "f20",
    "f21",
    "f22",
    "f23",
    "f24",  # 40
    "home",
    "left",
    "page_down",
    "page_up",
    "right",
    "shift",
    "shift_l",
    "shift_r",
    "space",
    "tab",  # 50
    "up",
    "media_play_pause",
    "media_volume_mute",
    "media_volume_down",
    "media_volume_up",
    "media_previous",
    "media_next",
    "insert",
    "menu",
    "num_lock",  # 60
    "pause",
    "print_screen",
    "scroll_lock",
    "media_stop",
    "media_eject",
)

_PYNPUT_INDEX: Dict[str, int] = {name: i for i, name in enumerate(PYNPUT_KEY_NAMES)}

#: pynput ``Key`` member name -> usage (names without a page-0x07 key are missing).
PYNPUT_NAME_TO_USAGE: Mapping[str, int] = {
    "alt": 0xE2,
    "alt_l": 0xE2,
    "alt_r": 0xE6,
    "alt_gr": 0xE6,
    "backspace": 0x2A,
    "caps_lock": 0x39,
    "cmd": 0xE3,
    "cmd_l": 0xE3,
    "cmd_r": 0xE7,
    "ctrl": 0xE0,
    "ctrl_l": 0xE0,
    "ctrl_r": 0xE4,
    "delete": 0x4C,
    "down": 0x51,
    "end": 0x4D,
    "enter": 0x28,
    "esc": 0x29,
    "home": 0x4A,
    "left": 0x50,
    "page_down": 0x4E,
    "page_up": 0x4B,
    "right": 0x4F,
    "shift": 0xE1,
    "shift_l": 0xE1,
    "shift_r": 0xE5,
    "space": 0x2C,
    "tab": 0x2B,
    "up": 0x52,
    "media_volume_mute": 0x7F,
    "media_volume_down": 0x81,
    "media_volume_up": 0x80,
    "insert": 0x49,
    "menu": 0x65,
    "num_lock": 0x53,
    "pause": 0x48,
    "print_screen": 0x46,
    "scroll_lock": 0x47,
    "media_stop": 0x78,
}
for _i in range(12):
    PYNPUT_NAME_TO_USAGE["f%d" % (_i + 1)] = 0x3A + _i  # type: ignore[index]
    PYNPUT_NAME_TO_USAGE["f%d" % (_i + 13)] = 0x68 + _i  # type: ignore[index]

# Characters on a US layout -> the physical key producing them (shifted or not).
_CHAR_TO_USAGE: Dict[str, int] = {}
for _c, _u in _LETTERS.items():
    _CHAR_TO_USAGE[chr(_c)] = _u
    _CHAR_TO_USAGE[chr(_c).lower()] = _u
    _CHAR_TO_USAGE[chr(_c - ord("A") + 1)] = _u  # Ctrl+letter control characters (\x01..\x1a)
for _c, _u in _DIGITS.items():
    _CHAR_TO_USAGE[chr(_c)] = _u
for _chars, _u in (
    ("!", 0x1E),
    ("@", 0x1F),
    ("#", 0x20),
    ("$", 0x21),
    ("%", 0x22),
    ("^", 0x23),
    ("&", 0x24),
    ("*", 0x25),
    ("(", 0x26),
    (")", 0x27),
    ("-_", 0x2D),
    ("=+", 0x2E),
    ("[{", 0x2F),
    ("]}", 0x30),
    ("\\|", 0x31),
    (";:", 0x33),
    ("'\"", 0x34),
    ("`~", 0x35),
    (",<", 0x36),
    (".>", 0x37),
    ("/?", 0x38),
    (" ", 0x2C),
    ("\r\n", 0x28),
    ("\t", 0x2B),
    ("\x08", 0x2A),
    ("\x1b", 0x29),
    ("\x7f", 0x4C),
):
    for _ch in _chars:
        # control characters \x08/\t/\n/\r/\x1b above win over the Ctrl+letter aliases
        _CHAR_TO_USAGE[_ch] = _u


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------


def js_keycode_to_usage(code: int) -> Optional[int]:
    """JavaScript ``keyCode`` -> usage, or ``None`` when the code has no page-0x07 key."""
    return JS_KEYCODE_TO_USAGE.get(int(code))


def vk_to_usage(vk: int) -> Optional[int]:
    """Windows virtual-key code -> usage, or ``None``."""
    return VK_TO_USAGE.get(int(vk))


def pynput_to_usage(name: Optional[str]) -> Optional[int]:
    """pynput key name (single character or ``Key`` member name) -> usage, or ``None``.

    Characters are mapped to the key producing them on a US layout (``"W"`` and ``"w"`` -> KeyW,
    ``"@"`` -> Digit2); characters a US keyboard does not produce map to ``None``.
    """
    if name is None:
        return None
    if len(name) == 1:
        return _CHAR_TO_USAGE.get(name)
    return PYNPUT_NAME_TO_USAGE.get(name)


def _inverse(table: Mapping[int, int], prefer: Iterable[int] = ()) -> Dict[int, int]:
    inv: Dict[int, int] = {}
    for code in list(prefer) + sorted(table):
        inv.setdefault(table[code], code)
    return inv


# Preferred codes where several map to the same usage: the standard (Chrome/Windows) ones.
_USAGE_TO_JS = _inverse(JS_KEYCODE_TO_USAGE, prefer=(0xBA, 0xBB, 0xBD, 0x5B, 0xE2, 0x6C, 0xAE, 0xAF))
_USAGE_TO_VK = _inverse(VK_TO_USAGE, prefer=(0x10, 0x11, 0x12, 0xA1, 0xA3, 0xA5, 0x6C))


def usage_to_js_keycode(usage: int) -> Optional[int]:
    """Usage -> a JavaScript ``keyCode`` producing it (the Chrome/Windows one), or ``None``.

    Left modifiers give the unsided codes 16/17/18; the right ones too (keyCode has no side).
    """
    u = int(usage)
    if u in (0xE4, 0xE5, 0xE6):
        return {0xE4: 17, 0xE5: 16, 0xE6: 18}[u]
    return _USAGE_TO_JS.get(u)


def usage_to_vk(usage: int) -> Optional[int]:
    """Usage -> a Windows virtual-key code (unsided for the left modifiers), or ``None``."""
    return _USAGE_TO_VK.get(int(usage))


def usage_name(usage: Optional[int]) -> Optional[str]:
    """Usage -> W3C ``KeyboardEvent.code`` name (``0x04`` -> ``"KeyA"``), or ``None``."""
    if usage is None:
        return None
    return USAGE_NAMES.get(int(usage))


def encode_pynput(name: str) -> int:
    """Exact, reversible integer code of a pynput key name (see the module docstring).

    Raises ``ValueError`` for a multi-character string that is not a known ``Key`` name.
    """
    if not isinstance(name, str):
        raise TypeError("pynput key name must be a str, got %r" % (name,))
    if len(name) == 1:
        return ord(name)
    index = _PYNPUT_INDEX.get(name)
    if index is None:
        raise ValueError(
            "unknown pynput key name %r: not a single character nor one of the %d Key names in "
            "hidpack.keymap.PYNPUT_KEY_NAMES" % (name, len(PYNPUT_KEY_NAMES))
        )
    return PYNPUT_SPECIAL_BASE + index


def decode_pynput(native: int) -> str:
    """Inverse of :func:`encode_pynput`. Raises ``ValueError`` for a code it never produces."""
    n = int(native)
    if 0 <= n < PYNPUT_SPECIAL_BASE:
        if 0xD800 <= n <= 0xDFFF:
            raise ValueError("pynput native code %#x is a UTF-16 surrogate, not a character" % n)
        return chr(n)
    index = n - PYNPUT_SPECIAL_BASE
    if 0 <= index < len(PYNPUT_KEY_NAMES):
        return PYNPUT_KEY_NAMES[index]
    raise ValueError("pynput native code %#x is outside the known Key names" % n)


def lookup_array(table: Mapping[int, int], size: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Dense numpy lookup arrays ``(usage, valid)`` indexed by code, for vectorised mapping."""
    n = size if size is not None else (max(table) + 1 if table else 1)
    usage = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    for code, u in table.items():
        if 0 <= code < n:
            usage[code] = u
            valid[code] = True
    return usage, valid


def map_codes(codes: np.ndarray, table: Mapping[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Vectorised ``table`` lookup: ``codes`` (ints) -> ``(usage int64, valid bool)``.

    Codes outside the table (negative, too large or unmapped) give ``valid = False``, usage 0.
    """
    codes = np.asarray(codes, dtype=np.int64)
    lut, lut_valid = lookup_array(table)
    inside = (codes >= 0) & (codes < len(lut))
    idx = np.where(inside, codes, 0)
    valid = inside & lut_valid[idx]
    usage = np.where(valid, lut[idx], 0).astype(np.int64)
    return usage, valid
