"""Replay: inject a recording's pointer and keys into an X11 desktop, on the recording's clock.

>>> from hidpack.replay import replay
>>> report = replay("session.hpk", speed=2.0)      # drives the real desktop ($DISPLAY)
>>> print(report.summary())

What is injected, and how:

* ``move``: the absolute pointer position (XTest motion, root coordinates);
* ``button``: press/release (hidpack 1 primary, 2 secondary, 3 middle, 4 back, 5 forward -> X
  buttons 1, 3, 2, 8, 9); a button event whose position differs from the pointer's is preceded
  by a move there;
* ``scroll``: whole wheel steps as X buttons 4 (up, ``dy > 0``), 5 (down), 6 (left, ``dx < 0``)
  and 7 (right), one press+release per step; fractional deltas (pixel scrolling) accumulate
  until they make a whole step;
* ``key``: press/release of an X keycode. A recording made on X11 (``native_keyspace`` =
  ``x11-keysym``: ``hidpack record`` stores the keysym pynput reports) is replayed through its
  keysym, looked up in this server's keyboard map: the same symbol, exactly, without guessing
  from names. Otherwise, or when this server has no key for the keysym, the HID usage (the
  physical key) gives the keycode as its Linux evdev code + 8 (:func:`usage_to_x11_keycode`),
  which is the keycode on every X server using evdev keycodes (Xorg on Linux with the evdev or
  libinput driver, Xvfb, XWayland). A key with neither is skipped and counted. A press of a key
  already held by the replay is an autorepeat: it is skipped (the server's own autorepeat makes
  it again); a release of a key the replay does not hold (its press lies before ``t0``) is
  skipped too.

Not injected, counted in :attr:`ReplayReport.skipped`: ``text`` (the keys that typed it are
replayed; injecting both would type it twice), ``raw_move`` (relative device motion: the
pointer follows the absolute moves), ``focus``, ``marker`` and ``gap`` events.

Refused (:class:`ReplayRefused`, naming the file and the reason) unless ``pointer_only``: a
recording whose keys were kept only as classes (usage ``>= KEY_CLASS_BASE``: the key is not
known), or one with ``redacted`` gaps while its privacy policy may have withheld keys (the key
sequence has holes: a press without its release would leave a key down). Positions outside this
screen are refused too, unless ``clip`` (then clamped to the edge and counted); fractional
positions (macOS points, scaled displays) are rounded half up to whole pixels and counted.

Timing: event ``i`` is due at ``start + (t_i - t_first) / speed`` on the monotonic clock; the
replay sleeps until then (in slices of at most 50 ms, so a stop request is seen at once) and
flushes the X connection after every event. :attr:`ReplayReport.lateness_ms` states how late
the injections were (median, p95, max).

Releasing: whatever ends a replay (its end, ``stop``, Ctrl-C, an error), every key and button
the replay holds is released before :func:`replay` returns or raises, through a fresh X
connection (the replay's own may have been interrupted mid-request).

Why XTest (python-xlib) and not pynput's ``Controller``: on X11 pynput's controller is XTest
too, but it takes key *names* or characters, so replaying keys through it would mean guessing a
name from a usage; XTest takes the keycode itself, which the keysym or the usage gives exactly.
Other platforms are not supported yet (:class:`ReplayUnavailable` says so).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ._table import KIND_CODES
from ._x11 import display_name, open_display

__all__ = [
    "replay",
    "ReplayReport",
    "ReplayError",
    "ReplayRefused",
    "ReplayUnavailable",
    "check_keys",
    "XTestInjector",
    "usage_to_x11_keycode",
    "USAGE_TO_EVDEV",
]

MOVE, RAW_MOVE, BUTTON, SCROLL, KEY, TEXT, FOCUS, MARKER, GAP = (
    KIND_CODES[k] for k in ("move", "raw_move", "button", "scroll", "key", "text", "focus", "marker", "gap")
)
REDACTED = 3  # gap reason
KEY_CLASS_BASE = 0xFFF0  # policy.KEY_CLASS_BASE (not imported: policy loads the native module)

#: hidpack button code -> X button number
X_BUTTONS = {1: 1, 2: 3, 3: 2, 4: 8, 5: 9}
#: X buttons of one wheel step: up, down, left, right
WHEEL_UP, WHEEL_DOWN, WHEEL_LEFT, WHEEL_RIGHT = 4, 5, 6, 7

# operations of a plan
OP_MOVE, OP_BUTTON, OP_KEY = 0, 1, 2


class ReplayError(Exception):
    """Base of the replay's errors."""


class ReplayRefused(ReplayError, ValueError):
    """The recording cannot be replayed faithfully. ``path``: the file; ``reason``: why."""

    def __init__(self, path: Optional[str], reason: str) -> None:
        super().__init__("%s: %s" % (path or "<table>", reason))
        self.path = path
        self.reason = reason


class ReplayUnavailable(ReplayError, RuntimeError):
    """Input cannot be injected here (no X display, no XTest, another platform)."""


# ---------------------------------------------------------------------------------------------
# HID usage -> X keycode
# ---------------------------------------------------------------------------------------------

#: USB HID keyboard usage (page 0x07) -> Linux evdev key code (``input-event-codes.h``), as the
#: Linux HID driver maps them (``hid_keyboard[]`` in drivers/hid/hid-input.c).
USAGE_TO_EVDEV: Dict[int, int] = {
    **dict(zip(range(0x04, 0x1E), (30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16,
                                    19, 31, 20, 22, 47, 17, 45, 21, 44))),  # A..Z
    **dict(zip(range(0x1E, 0x28), range(2, 12))),  # 1..9, 0
    0x28: 28, 0x29: 1, 0x2A: 14, 0x2B: 15, 0x2C: 57, 0x2D: 12, 0x2E: 13, 0x2F: 26, 0x30: 27,
    0x31: 43, 0x32: 43, 0x33: 39, 0x34: 40, 0x35: 41, 0x36: 51, 0x37: 52, 0x38: 53, 0x39: 58,
    **dict(zip(range(0x3A, 0x44), range(59, 69))),  # F1..F10
    0x44: 87, 0x45: 88,  # F11, F12
    0x46: 99, 0x47: 70, 0x48: 119, 0x49: 110, 0x4A: 102, 0x4B: 104, 0x4C: 111, 0x4D: 107,
    0x4E: 109, 0x4F: 106, 0x50: 105, 0x51: 108, 0x52: 103, 0x53: 69, 0x54: 98, 0x55: 55,
    0x56: 74, 0x57: 78, 0x58: 96,
    **dict(zip(range(0x59, 0x62), (79, 80, 81, 75, 76, 77, 71, 72, 73))),  # keypad 1..9
    0x62: 82, 0x63: 83, 0x64: 86, 0x65: 127, 0x66: 116, 0x67: 117,
    **dict(zip(range(0x68, 0x74), range(183, 195))),  # F13..F24
    0x74: 134, 0x75: 138, 0x76: 130, 0x77: 132, 0x78: 128, 0x79: 129, 0x7A: 131, 0x7B: 137,
    0x7C: 133, 0x7D: 135, 0x7E: 136, 0x7F: 113, 0x80: 115, 0x81: 114, 0x85: 121, 0x87: 89,
    0x88: 93, 0x89: 124, 0x8A: 92, 0x8B: 94, 0x90: 122, 0x91: 123, 0x9C: 111,
    0xE0: 29, 0xE1: 42, 0xE2: 56, 0xE3: 125, 0xE4: 97, 0xE5: 54, 0xE6: 100, 0xE7: 126,
}


def usage_to_x11_keycode(usage: Optional[int]) -> Optional[int]:
    """The X keycode of a HID usage on a server with evdev keycodes (evdev code + 8), or None."""
    if usage is None:
        return None
    code = USAGE_TO_EVDEV.get(int(usage))
    return None if code is None else code + 8


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    """What a replay did. ``injected``: moves, button presses+releases, scroll steps, key
    presses+releases sent; ``skipped``: events (or parts) not injected, by reason;
    ``rounded`` / ``clipped``: positions rounded to whole pixels / clamped into the screen;
    ``keys_by``: keys mapped through the recorded keysym or through the usage; ``released``:
    keys and buttons still held at the end (or the interruption) and released then;
    ``lateness_ms``: how late the injections were against their due times (median, p95, max);
    ``interrupted``: a stop request (Ctrl-C) ended it early; ``events``: the recording's events
    in the replayed span; ``done``: those replayed (all of them unless interrupted)."""

    path: Optional[str]
    speed: float
    screen: Tuple[int, int]
    events: int = 0
    done: int = 0
    injected: Dict[str, int] = field(default_factory=dict)
    skipped: Dict[str, int] = field(default_factory=dict)
    rounded: int = 0
    clipped: int = 0
    keys_by: Dict[str, int] = field(default_factory=dict)
    released: int = 0
    lateness_ms: Dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__, screen=list(self.screen))

    def summary(self) -> str:
        def kv(d: Dict[str, Any]) -> str:
            return ", ".join("%s %s" % (k, f"{v:,}") for k, v in d.items() if v) or "none"

        late = self.lateness_ms
        lines = [
            "replayed %s of %s event(s) of %s at speed %g in %.2f s%s"
            % (f"{self.done:,}", f"{self.events:,}", self.path or "<table>", self.speed, self.seconds,
               " (interrupted)" if self.interrupted else ""),
            "  injected: " + kv(self.injected),
            "  skipped:  " + kv(self.skipped),
            "  keys via: " + kv(self.keys_by),
        ]
        if self.rounded or self.clipped:
            lines.append("  positions: %s rounded to whole pixels, %s clipped into the %dx%d screen"
                         % (f"{self.rounded:,}", f"{self.clipped:,}", *self.screen))
        if self.released:
            lines.append("  released at the end: %d held key(s)/button(s)" % self.released)
        if late:
            lines.append("  lateness: median %.2f ms, p95 %.2f ms, max %.2f ms" % (late["median"], late["p95"], late["max"]))
        return "\n".join(lines)


def _bump(d: Dict[str, int], key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


# ---------------------------------------------------------------------------------------------
# reading and checking the recording
# ---------------------------------------------------------------------------------------------


def _col(table: Dict[str, Any], name: str, n: int, dtype: Any) -> Tuple[np.ndarray, np.ndarray]:
    """A field's values and validity; a field missing from a read table is absent everywhere."""
    if name not in table:
        return np.zeros(n, dtype=dtype), np.zeros(n, dtype=bool)
    return np.asarray(table[name]), np.asarray(table[name + "_valid"], dtype=bool)


def _keys_withheld(metadata: Dict[str, Any]) -> bool:
    """Whether the recording's privacy policy may have withheld keys (``keys = "drop"`` by
    default or in a rule); without a stored policy, a redacted gap is taken as withheld keys."""
    pol = metadata.get("privacy_policy")
    if not isinstance(pol, dict):
        return True
    rules = pol.get("rules")
    rules = rules if isinstance(rules, list) else []
    return pol.get("keys") == "drop" or any(isinstance(r, dict) and r.get("keys") == "drop" for r in rules)


def check_keys(table: Dict[str, Any], metadata: Dict[str, Any], path: Optional[str]) -> None:
    """Raise :class:`ReplayRefused` when the keys of ``table`` cannot be replayed: kept only as
    classes, or withheld by a privacy policy (redacted gaps)."""
    kind = np.asarray(table["kind"])
    n = len(kind)
    usage, uv = _col(table, "usage", n, np.int64)
    classes = (kind == KEY) & uv & (usage >= KEY_CLASS_BASE)
    if classes.any():
        raise ReplayRefused(
            path,
            "%s of its %s key event(s) were kept only as key classes (usage 0x%04X..: a privacy "
            "policy replaced the key by its class), so the keys cannot be replayed; "
            "--pointer-only replays the pointer alone" % (f"{int(classes.sum()):,}", f"{int((kind == KEY).sum()):,}",
                                                          KEY_CLASS_BASE),
        )
    reason, rv = _col(table, "reason", n, np.int64)
    redacted = (kind == GAP) & rv & (reason == REDACTED)
    if redacted.any() and _keys_withheld(metadata):
        count, _ = _col(table, "count", n, np.int64)
        raise ReplayRefused(
            path,
            "%s redacted gap(s) hold %s event(s) a privacy policy withheld, keys among them: the key "
            "sequence has holes (a press without its release would leave a key down); "
            "--pointer-only replays the pointer alone" % (f"{int(redacted.sum()):,}", f"{int(count[redacted].sum()):,}"),
        )


# ---------------------------------------------------------------------------------------------
# the plan: the table -> X operations at file times
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """X operations in order: ``t`` (file ns), ``op`` (OP_MOVE / OP_BUTTON / OP_KEY), ``a``,
    ``b`` (x, y / X button, pressed / keycode, pressed), ``row`` (the event each came from)."""

    t: List[int] = field(default_factory=list)
    op: List[int] = field(default_factory=list)
    a: List[int] = field(default_factory=list)
    b: List[int] = field(default_factory=list)
    row: List[int] = field(default_factory=list)

    def add(self, t: int, op: int, a: int, b: int, row: int) -> None:
        self.t.append(t)
        self.op.append(op)
        self.a.append(a)
        self.b.append(b)
        self.row.append(row)


def _pixels(v: np.ndarray, valid: np.ndarray, size: int, clip: bool, axis: str,
            path: Optional[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One coordinate -> whole pixels inside ``[0, size)`` (rounded half up), and where it was
    fractional and where outside the screen (refused unless ``clip``, then clamped)."""
    frac = valid & (v != np.floor(v))
    px = np.floor(v + 0.5).astype(np.int64)
    out = valid & ((px < 0) | (px >= size))
    if out.any() and not clip:
        raise ReplayRefused(
            path,
            "%s position(s) lie outside this %d-pixel-%s screen (%s from %g to %g): replaying them "
            "would move the pointer elsewhere than recorded; --clip clamps them to the edge"
            % (f"{int(out.sum()):,}", size, "wide" if axis == "x" else "high", axis,
               float(v[valid].min()), float(v[valid].max())),
        )
    return np.clip(px, 0, size - 1), frac, out


#: ``keycode(usage, native)`` -> ``(X keycode, "keysym" | "usage")``, or None when neither maps
KeycodeFn = Callable[[Optional[int], Optional[int]], Optional[Tuple[int, str]]]
_NOT_INJECTED = {RAW_MOVE: "raw_move", TEXT: "text", FOCUS: "focus", MARKER: "marker", GAP: "gap"}


class _Planner:
    """Turns events into X operations, one kind at a time, tracking what the replay will have
    pointed at and held (to skip autorepeats and releases of what it does not hold)."""

    def __init__(self, report: ReplayReport, keycode: KeycodeFn) -> None:
        self.plan = Plan()
        self.report = report
        self.keycode = keycode
        self.pos: Optional[Tuple[int, int]] = None
        self.held_keys: set = set()
        self.held_buttons: set = set()
        self.wheel = [0.0, 0.0]  # fractional scroll carried to the next event (dx, dy)

    def move(self, t: int, x: int, y: int, row: int) -> None:
        self.pos = (x, y)
        self.plan.add(t, OP_MOVE, x, y, row)

    def button(self, t: int, code: int, pressed: bool, row: int) -> None:
        xb = X_BUTTONS.get(code)
        if xb is None:
            _bump(self.report.skipped, "button with no X button (code %d)" % code)
        elif pressed and xb in self.held_buttons:
            _bump(self.report.skipped, "button press while held")
        elif not pressed and xb not in self.held_buttons:
            _bump(self.report.skipped, "button release not held")
        else:
            (self.held_buttons.add if pressed else self.held_buttons.discard)(xb)
            self.plan.add(t, OP_BUTTON, xb, int(pressed), row)

    def scroll(self, t: int, dx: float, dy: float, row: int) -> None:
        """Whole wheel steps (press+release each); fractions carry over to the next event."""
        for axis, delta, plus, minus in ((0, dx, WHEEL_RIGHT, WHEEL_LEFT), (1, dy, WHEEL_UP, WHEEL_DOWN)):
            if not math.isfinite(delta):
                continue
            self.wheel[axis] += delta
            steps = int(self.wheel[axis])  # toward zero: the rest waits for the next event
            self.wheel[axis] -= steps
            for _ in range(abs(steps)):
                b = plus if steps > 0 else minus
                self.plan.add(t, OP_BUTTON, b, 1, row)
                self.plan.add(t, OP_BUTTON, b, 0, row)

    def key(self, t: int, usage: Optional[int], native: Optional[int], pressed: bool, row: int) -> None:
        got = self.keycode(usage, native)
        if got is None:
            _bump(self.report.skipped, "key with no keycode here")
            return
        code, via = got
        if pressed and code in self.held_keys:
            _bump(self.report.skipped, "key autorepeat (key held)")
        elif not pressed and code not in self.held_keys:
            _bump(self.report.skipped, "key release not held")
        else:
            (self.held_keys.add if pressed else self.held_keys.discard)(code)
            _bump(self.report.keys_by, via)
            self.plan.add(t, OP_KEY, code, int(pressed), row)


def make_plan(table: Dict[str, Any], report: ReplayReport, keycode: KeycodeFn, *, pointer_only: bool,
              clip: bool) -> Plan:
    """The X operations replaying ``table`` (see the module docs); counts go into ``report``."""
    kind = np.asarray(table["kind"])
    t = np.asarray(table["t"], dtype=np.int64)
    n = len(kind)
    x, xv = _col(table, "x", n, np.float64)
    y, yv = _col(table, "y", n, np.float64)
    px, xfrac, xout = _pixels(x, xv, report.screen[0], clip, "x", report.path)
    py, yfrac, yout = _pixels(y, yv, report.screen[1], clip, "y", report.path)
    report.rounded += int((xfrac | yfrac).sum())
    report.clipped += int((xout | yout).sum())
    dx, _ = _col(table, "dx", n, np.float64)
    dy, _ = _col(table, "dy", n, np.float64)
    button, _ = _col(table, "button", n, np.int64)
    pressed, _ = _col(table, "pressed", n, bool)
    usage, uv = _col(table, "usage", n, np.int64)
    native, nv = _col(table, "native", n, np.int64)
    p = _Planner(report, keycode)
    for i in range(n):
        k, ti = int(kind[i]), int(t[i])
        if k == MOVE:
            p.move(ti, int(px[i]), int(py[i]), i)
        elif k in (BUTTON, SCROLL):
            if xv[i] and yv[i] and p.pos != (int(px[i]), int(py[i])):  # the pointer goes there first
                p.move(ti, int(px[i]), int(py[i]), i)
            if k == BUTTON:
                p.button(ti, int(button[i]), bool(pressed[i]), i)
            else:
                p.scroll(ti, float(dx[i]), float(dy[i]), i)
        elif k == KEY and not pointer_only:
            p.key(ti, int(usage[i]) if uv[i] else None, int(native[i]) if nv[i] else None, bool(pressed[i]), i)
        elif k == KEY:
            _bump(report.skipped, "key (pointer only)")
        else:
            _bump(report.skipped, _NOT_INJECTED.get(k, "kind %d" % k))
    return p.plan


# ---------------------------------------------------------------------------------------------
# injecting: XTest
# ---------------------------------------------------------------------------------------------


class XTestInjector:
    """Fake input on an X server through the XTEST extension (python-xlib).

    ``display``: the X display name (default ``$DISPLAY``)."""

    def __init__(self, display: Optional[str] = None) -> None:
        if not sys.platform.startswith("linux") and not sys.platform.startswith("freebsd"):
            raise ReplayUnavailable(
                "replay injects input through X11's XTEST extension; %s is not supported yet" % sys.platform
            )
        self.name = display_name(display, ReplayUnavailable, "Replay injects input into an X11 session (or Xvfb).",
                                 wayland="a Wayland session does not let clients inject global input")
        self.d = self._open()
        from Xlib import X  # type: ignore[import-untyped]  # python-xlib is there: _open used it
        from Xlib.ext import xtest  # type: ignore[import-untyped]

        self._X, self._xtest = X, xtest
        s = self.d.screen()
        self.size = (int(s.width_in_pixels), int(s.height_in_pixels))
        self._keysyms: Dict[int, int] = {}

    def _open(self) -> Any:
        d = open_display(self.name, ReplayUnavailable)
        if not d.has_extension("XTEST"):
            d.close()
            raise ReplayUnavailable("the X display %s has no XTEST extension: input cannot be injected" % self.name)
        return d

    def keycode(self, usage: Optional[int], native: Optional[int], keysym_space: bool) -> Optional[Tuple[int, str]]:
        """The keycode of a recorded key: through its keysym (X11 recordings) when this server's
        keyboard map has it, else through its usage; None when neither gives one."""
        if keysym_space and native is not None:
            code = self._keysyms.get(native)
            if code is None:
                code = self._keysyms[native] = int(self.d.keysym_to_keycode(native))
            if code:
                return code, "keysym"
        kc = usage_to_x11_keycode(usage)
        return None if kc is None else (kc, "usage")

    def move(self, x: int, y: int) -> None:
        self._xtest.fake_input(self.d, self._X.MotionNotify, x=x, y=y)

    def button(self, b: int, pressed: bool) -> None:
        self._xtest.fake_input(self.d, self._X.ButtonPress if pressed else self._X.ButtonRelease, b)

    def key(self, code: int, pressed: bool) -> None:
        self._xtest.fake_input(self.d, self._X.KeyPress if pressed else self._X.KeyRelease, code)

    def flush(self) -> None:
        self.d.flush()

    def sync(self) -> None:
        """Wait until the server has handled every request sent so far."""
        self.d.sync()

    def release(self, buttons: List[int], keys: List[int]) -> None:
        """Release ``buttons`` and ``keys`` through a fresh connection (the replay's own may have
        been interrupted in the middle of a request), waiting until the server has them."""
        try:  # what the old connection still holds goes first (a press must not follow its release)
            self.d.flush()
        except Exception:  # noqa: BLE001 - a broken connection: the fresh one still releases
            pass
        d = self._open()
        try:
            for b in buttons:
                self._xtest.fake_input(d, self._X.ButtonRelease, b)
            for k in keys:
                self._xtest.fake_input(d, self._X.KeyRelease, k)
            d.sync()
        finally:
            d.close()

    def close(self) -> None:
        try:
            self.d.close()
        except Exception:  # noqa: BLE001 - closing a connection that broke
            pass


# ---------------------------------------------------------------------------------------------
# running a plan
# ---------------------------------------------------------------------------------------------

_WHEEL = (WHEEL_UP, WHEEL_DOWN, WHEEL_LEFT, WHEEL_RIGHT)
_SLEEP_SLICE_NS = 50_000_000


def _run(plan: Plan, inj: Any, report: ReplayReport, speed: float, stop: threading.Event,
         on_progress: Optional[Callable[[int], None]]) -> None:
    """Inject ``plan`` on schedule; release whatever is held when it ends, however it ends."""
    held_buttons: Dict[int, None] = {}
    held_keys: Dict[int, None] = {}
    late: List[int] = []
    n = len(plan.t)
    t_first = plan.t[0] if n else 0
    start = time.perf_counter_ns()
    done_rows = 0
    i = 0
    try:
        while i < n:
            due = start + int((plan.t[i] - t_first) / speed)
            while True:
                rest = due - time.perf_counter_ns()
                if rest <= 0 or stop.is_set():
                    break
                time.sleep(min(rest, _SLEEP_SLICE_NS) / 1e9)
            if stop.is_set():
                report.interrupted = True
                break
            t_i = plan.t[i]
            while i < n and plan.t[i] == t_i:  # every operation due at this time, then one flush
                op, a, b = plan.op[i], plan.a[i], plan.b[i]
                if op == OP_MOVE:
                    inj.move(a, b)
                    _bump(report.injected, "move")
                elif op == OP_BUTTON:
                    if b:
                        held_buttons[a] = None
                    inj.button(a, bool(b))
                    if not b:
                        held_buttons.pop(a, None)
                    if a not in _WHEEL:
                        _bump(report.injected, "button press" if b else "button release")
                    elif not b:
                        _bump(report.injected, "scroll step")
                else:
                    if b:
                        held_keys[a] = None
                    inj.key(a, bool(b))
                    if not b:
                        held_keys.pop(a, None)
                    _bump(report.injected, "key press" if b else "key release")
                i += 1
            inj.flush()
            late.append(time.perf_counter_ns() - due)
            rows = plan.row[i - 1] + 1
            if on_progress is not None:
                on_progress(rows - done_rows)
            done_rows = rows
        inj.sync()  # returns once the server has handled every injection
    finally:
        report.seconds = (time.perf_counter_ns() - start) / 1e9
        report.done = done_rows if i < n else report.events
        if held_buttons or held_keys:
            report.released = len(held_buttons) + len(held_keys)
            inj.release(list(held_buttons), list(held_keys))
        if late:
            arr = np.asarray(late, dtype=np.float64) / 1e6
            report.lateness_ms = {"median": float(np.median(arr)), "p95": float(np.percentile(arr, 95)),
                                  "max": float(arr.max())}


def replay(
    rec_or_path: Any,
    *,
    speed: float = 1.0,
    t0: Optional[int] = None,
    t1: Optional[int] = None,
    pointer_only: bool = False,
    clip: bool = False,
    display: Optional[str] = None,
    stop: Optional[threading.Event] = None,
    on_progress: Optional[Callable[[int], None]] = None,
    on_start: Optional[Callable[[ReplayReport], None]] = None,
) -> ReplayReport:
    """Replay a recording (a path or an open :class:`hidpack.Recording`) on the X display
    (``display``, default ``$DISPLAY``): see the module docs for what is injected, refused and
    skipped.

    ``speed``: 2.0 replays twice as fast. ``t0`` / ``t1``: only events with ``t0 <= t < t1``
    (file ns). ``pointer_only``: no keys (and key classes or withheld keys are then no reason to
    refuse). ``clip``: clamp positions outside the screen instead of refusing. ``stop``: set it
    to end the replay early (held keys and buttons are released; ``interrupted`` is then set).
    ``on_progress(n)``: ``n`` more events done. ``on_start(report)``: called once checked and
    planned, just before the first injection (``report.events`` is known).

    Raises :class:`ReplayRefused` (the file cannot be replayed faithfully),
    :class:`ReplayUnavailable` (no display, no XTEST), ``ValueError`` (a bad argument);
    a ``KeyboardInterrupt`` raised while replaying propagates after held keys are released."""
    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
        raise ValueError("speed must be a finite number > 0, got %r" % (speed,))
    from .recording import Recording, open as open_recording

    rec = rec_or_path if isinstance(rec_or_path, Recording) else open_recording(rec_or_path)
    path = rec.path
    table = rec.between(t0, t1).table()
    metadata = rec._metadata_or_empty()
    if not pointer_only:
        check_keys(table, metadata, path)
    inj = XTestInjector(display)
    try:
        report = ReplayReport(path=path, speed=float(speed), screen=inj.size, events=len(table["t"]))
        keysym_space = metadata.get("native_keyspace") == "x11-keysym"
        plan = make_plan(
            table, report, lambda u, nat: inj.keycode(u, nat, keysym_space), pointer_only=pointer_only, clip=clip
        )
        if on_start is not None:
            on_start(report)
        inj.sync()  # the connection's set-up round trips are over before the clock starts
        _run(plan, inj, report, float(speed), stop or threading.Event(), on_progress)
    finally:
        inj.close()
    return report
