"""The X server, found and opened one way for every part of hidpack that talks to it: desktop
capture (its focus poll), replay (XTEST injection) and screen frames (the screen's size).

Which display: the name the caller gives, else ``$DISPLAY``. What can go wrong is raised as the
caller's own "cannot run here" exception (``CaptureUnavailable``, ``ReplayUnavailable``,
``ScreenUnavailable``), so each feature keeps its type while the messages stay the same:

* no display: ``no X display: DISPLAY is not set (<why Wayland cannot>). <what needs X11>``;
* python-xlib missing (it comes with pynput on Linux): how to install it;
* the server refuses or is not there: ``cannot open the X display <name>: <reason>``.

    name = display_name(None, ReplayUnavailable, "Replay injects input into an X11 session (or Xvfb).",
                        wayland="a Wayland session does not let clients inject global input")
    d = open_display(name, ReplayUnavailable)      # an Xlib.display.Display; close it when done
"""
from __future__ import annotations

import os
from typing import Any, Optional, Type


def display_name(display: Optional[str], error: Type[Exception], needs: str, *, wayland: str) -> str:
    """``display``, else ``$DISPLAY``; raises ``error`` when there is none, saying so, why a
    Wayland session cannot help (``wayland``, when it is one) and what ``needs`` X11."""
    name = display if display is not None else os.environ.get("DISPLAY")
    if not name:
        note = " (%s)" % wayland if os.environ.get("WAYLAND_DISPLAY") else ""
        raise error("no X display: DISPLAY is not set%s. %s" % (note, needs))
    return name


def open_display(name: str, error: Type[Exception]) -> Any:
    """A python-xlib connection to the X display ``name``; raises ``error`` when python-xlib is
    missing or the server cannot be reached (the message names the display and the reason)."""
    try:
        from Xlib import display as xdisplay  # type: ignore[import-untyped]  # python-xlib (pynput's)
    except ImportError as e:
        raise error("python-xlib cannot be used here: %s (pip install 'hidpack[record]')" % e) from None
    try:
        return xdisplay.Display(name)
    except Exception as e:  # noqa: BLE001 - any connection failure (DisplayError, OSError...)
        raise error("cannot open the X display %s: %s" % (name, e)) from None
