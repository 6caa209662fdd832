"""Desktop capture: OS input hooks (pynput) feeding a :class:`hidpack.Recorder`.

>>> rec = hidpack.Recorder("session.hpk", policy="strict")
>>> cap = DesktopCapture(rec)
>>> cap.start()          # hooks run on pynput's threads; each callback is one push
>>> ...
>>> cap.stop(); rec.close()

What it records, and from where:

* ``move`` (absolute pointer position), ``button`` (1 left, 2 right, 3 middle, 4 back, 5 forward,
  with the position), ``scroll`` (wheel steps as delivered, with the position): pynput's mouse
  listener (X11 RECORD extension, Windows low-level hook, macOS event tap).
* ``key``: HID usage (from the key, on a US layout for characters), ``native`` = the platform's
  key code as pynput gives it (X11: the keysym; Windows: the virtual-key code; macOS: the key
  code), and ``text`` events with the character a key press produced, when pynput knows it
  (none while Ctrl, Alt or Cmd is held: such chords are shortcuts, they type nothing).
* ``focus``: app (``WM_CLASS`` class name) and title (``_NET_WM_NAME``, else ``WM_NAME``) of the
  active window (``_NET_ACTIVE_WINDOW``, else the X input focus), with its window id and
  rectangle, polled every ``focus_poll`` seconds (default 0.05) on X11 only.

Every timestamp is taken in the callback (the recorder stamps the push). What a platform cannot
give is stated in :attr:`DesktopCapture.limitations` (and printed by ``hidpack record``), never
silently missing: raw (relative) motion is not available through pynput; focus is X11-only;
Wayland sessions do not let clients observe global input at all.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, List, Optional

from . import keymap
from ._x11 import display_name, open_display

__all__ = ["DesktopCapture", "CaptureUnavailable", "platform_limitations"]


class CaptureUnavailable(RuntimeError):
    """Desktop capture cannot run here (no display, Wayland, pynput missing); the message says
    why and what to do."""


#: modifiers with which a key press types no text (AltGr does type: it is not here)
_CHORD = {"ctrl", "ctrl_l", "ctrl_r", "alt", "alt_l", "alt_r", "cmd", "cmd_l", "cmd_r"}

_BUTTONS = {"left": 1, "right": 2, "middle": 3, "x1": 4, "x2": 5, "button8": 4, "button9": 5}


def platform_limitations() -> List[str]:
    """What this platform's capture cannot record (stated, never silently missing)."""
    out = ["raw_move: relative device motion is not available through pynput (pointer positions only)"]
    if sys.platform.startswith("linux"):
        if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
            out.append("Wayland: global input capture is not possible for clients; nothing can be recorded")
        elif os.environ.get("WAYLAND_DISPLAY"):
            out.append("Wayland with XWayland: only input to X11 windows is seen")
        out.append("key native codes are X11 keysyms (pynput does not expose keycodes)")
    else:
        out.append("focus (app, window title) is recorded on X11 only")
    return out


class DesktopCapture:
    """Hooks mouse, keyboard and (X11) focus into ``recorder`` (see the module docs).

    ``hotkey``: a pynput hotkey string (default ``"<ctrl>+<alt>+p"``) that toggles pause/resume
    (``None`` disables it); ``on_toggle(paused)`` is called after each toggle.
    """

    def __init__(
        self,
        recorder: Any,
        *,
        mouse: bool = True,
        keyboard: bool = True,
        focus: bool = True,
        focus_poll: float = 0.05,
        hotkey: Optional[str] = "<ctrl>+<alt>+p",
        on_toggle: Optional[Callable[[bool], None]] = None,
    ) -> None:
        self.rec = recorder
        self._want = (mouse, keyboard, focus)
        self.focus_poll = focus_poll
        self.hotkey = hotkey
        self.on_toggle = on_toggle
        self.limitations = platform_limitations()
        self._listeners: List[Any] = []
        self._stop = threading.Event()
        self._closed = False  # set by stop(): callbacks then record nothing
        self._last_event = 0.0  # monotonic time of the last callback (stop() waits for a quiet spell)
        self._focus_thread: Optional[threading.Thread] = None
        self._hotkey_obj: Any = None
        self._display = ""  # the X display (Linux), set by start()
        self._chord: set = set()  # held ctrl/alt/cmd keys: a key pressed with them types no text
        self.errors: List[str] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if sys.platform.startswith("linux"):
            self._display = display_name(None, CaptureUnavailable, "Desktop capture needs an X11 session (or Xvfb).",
                                         wayland="this is a Wayland session, which does not allow global input capture")
        try:
            from pynput import keyboard as kb
            from pynput import mouse as ms
        except ImportError as e:
            raise CaptureUnavailable("pynput cannot be used here: %s (pip install 'hidpack[record]')" % e) from None
        mouse, keyboard, focus = self._want
        if self.hotkey:
            self._hotkey_obj = kb.HotKey(kb.HotKey.parse(self.hotkey), self._toggle)
        if mouse:
            self._listeners.append(ms.Listener(on_move=self._on_move, on_click=self._on_click, on_scroll=self._on_scroll))
        if keyboard:
            self._kb = kb
            self._listeners.append(kb.Listener(on_press=self._on_press, on_release=self._on_release))
        for listener in self._listeners:
            listener.start()
        for listener in self._listeners:
            listener.wait()
        if focus and sys.platform.startswith("linux"):
            self._focus_thread = threading.Thread(target=self._poll_focus, name="hidpack-focus", daemon=True)
            self._focus_thread.start()

    def stop(self) -> None:
        """Stop capturing: in 0.3 s on an idle desktop, after the backlog otherwise.

        pynput's X11 listeners notice a stop only at their next input event (on an idle desktop
        ``hidpack record --duration 2`` ran 4 s more, in two 2 s joins). So the listeners are
        waited for only while their callbacks still deliver events that were queued before the
        stop (up to 4 s in all, as before), and not once they have been quiet for 0.3 s; those still
        running are daemon threads, left to end at their next event, whose callback records
        nothing and returns False (which ends a pynput listener)."""
        self._stop.set()
        for listener in self._listeners:
            listener.stop()
        limit = time.monotonic() + 4.0
        while any(listener.is_alive() for listener in self._listeners) and time.monotonic() < limit:
            if time.monotonic() - self._last_event >= 0.3:
                break
            time.sleep(0.02)
        self._closed = True
        if self._focus_thread is not None:
            self._focus_thread.join(0.5)

    # -- callbacks (hook threads: one push each) ------------------------------------------------

    def _on_move(self, x: float, y: float) -> Optional[bool]:
        self._last_event = time.monotonic()
        if self._closed:
            return False  # stopped: nothing more reaches the recorder (False ends the listener)
        self.rec.move(x, y)
        return None

    def _on_click(self, x: float, y: float, button: Any, pressed: bool) -> Optional[bool]:
        self._last_event = time.monotonic()
        if self._closed:
            return False
        name = getattr(button, "name", str(button))
        code = _BUTTONS.get(name)
        if code is None:
            v = getattr(button, "value", None)
            code = v if isinstance(v, int) and 0 <= v < 256 else 0
        self.rec.button(code, pressed, x, y)
        return None

    def _on_scroll(self, x: float, y: float, dx: float, dy: float) -> Optional[bool]:
        self._last_event = time.monotonic()
        if self._closed:
            return False
        self.rec.scroll(dx, dy, x, y)
        return None

    def _key_info(self, key: Any) -> tuple:
        char = getattr(key, "char", None)
        if char is not None:
            name = char
            vk = getattr(key, "vk", None)
        else:
            name = getattr(key, "name", None)
            value = getattr(key, "value", None)
            vk = getattr(value, "vk", None)
            char = getattr(value, "char", None)  # Key.space carries ' '
        usage = keymap.pynput_to_usage(name) if name is not None else None
        native = vk if isinstance(vk, int) and 0 <= vk <= 0xFFFFFFFF else None
        return usage, native, char

    def _on_press(self, key: Any) -> Optional[bool]:
        self._last_event = time.monotonic()
        if self._closed:
            return False
        usage, native, char = self._key_info(key)
        name = getattr(key, "name", None)
        if name in _CHORD:
            self._chord.add(name)
        self.rec.key(usage, True, native)
        if char is not None and char.isprintable() and not self._chord:
            self.rec.text(char)
        if self._hotkey_obj is not None:
            self._hotkey_obj.press(self._canonical(key))
        return None

    def _on_release(self, key: Any) -> Optional[bool]:
        self._last_event = time.monotonic()
        if self._closed:
            return False
        usage, native, _ = self._key_info(key)
        self._chord.discard(getattr(key, "name", None))
        self.rec.key(usage, False, native)
        if self._hotkey_obj is not None:
            self._hotkey_obj.release(self._canonical(key))
        return None

    def _canonical(self, key: Any) -> Any:
        for listener in self._listeners:
            if hasattr(listener, "canonical"):
                return listener.canonical(key)
        return key

    def _toggle(self) -> None:
        if self.rec.paused:
            self.rec.resume()
        else:
            self.rec.pause()
        if self.on_toggle is not None:
            self.on_toggle(self.rec.paused)

    # -- focus (X11) ----------------------------------------------------------------------------

    def _poll_focus(self) -> None:
        try:
            d = open_display(self._display, CaptureUnavailable)  # start() found it: the thread runs on Linux only
        except CaptureUnavailable as e:
            self.errors.append("focus: %s" % e)
            return
        from Xlib import X  # python-xlib is there: open_display used it
        from Xlib.error import XError
        root = d.screen().root
        NET_ACTIVE = d.intern_atom("_NET_ACTIVE_WINDOW")
        NET_NAME = d.intern_atom("_NET_WM_NAME")
        UTF8 = d.intern_atom("UTF8_STRING")
        last: Any = None
        while not self._stop.wait(self.focus_poll):
            try:
                win = None
                prop = root.get_full_property(NET_ACTIVE, X.AnyPropertyType)
                if prop is not None and len(prop.value) and prop.value[0]:
                    win = d.create_resource_object("window", int(prop.value[0]))
                else:
                    f = d.get_input_focus().focus
                    if not isinstance(f, int) and f != root:
                        win = f
                app = title = None
                wid = rect = None
                w = win
                for _ in range(8):  # walk up to the top-level window that has WM_CLASS
                    if w is None or (isinstance(w, int)):
                        break
                    cls = w.get_wm_class()
                    if cls:
                        app = cls[1] if len(cls) > 1 else cls[0]
                        p = w.get_full_property(NET_NAME, UTF8)
                        if p is not None:
                            title = p.value.decode("utf-8", "replace") if isinstance(p.value, bytes) else str(p.value)
                        else:
                            nm = w.get_wm_name()
                            title = nm.decode("latin-1") if isinstance(nm, bytes) else nm
                        wid = int(w.id)
                        g = w.get_geometry()
                        pos = w.translate_coords(root, 0, 0)
                        left, top = -int(pos.x), -int(pos.y)
                        rect = (left, top, left + int(g.width), top + int(g.height))
                        break
                    tree = w.query_tree()
                    if tree.parent == 0 or tree.parent == root or tree.parent is None:
                        break
                    w = tree.parent
                state = (app, title, wid, rect)
                if state != last and wid is not None:
                    last = state
                    self.rec.focus(app, title, window=wid, rect=rect)
            except XError:
                continue  # the window went away between two calls
            except Exception as e:  # noqa: BLE001 - report, keep recording input
                self.errors.append("focus: %s" % e)
                if len(self.errors) > 100:
                    return
        d.close()
