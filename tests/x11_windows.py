"""A real X client for the end-to-end test: opens one top-level window per title given
(``WM_CLASS`` = the word before ':'), prints their ids as JSON, and keeps them mapped until
stdin closes.

    DISPLAY=:99 python tests/x11_windows.py "Notes:hidpack notes" "Vault:Secret vault - login"
"""
import json
import sys

from Xlib import X, display

d = display.Display()
screen = d.screen()
root = screen.root
utf8 = d.intern_atom("UTF8_STRING")
net_name = d.intern_atom("_NET_WM_NAME")
ids = {}
for i, spec in enumerate(sys.argv[1:]):
    cls, title = spec.split(":", 1)
    w = root.create_window(
        40 + 420 * i, 40, 400, 300, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        background_pixel=screen.white_pixel, event_mask=X.KeyPressMask | X.StructureNotifyMask,
    )
    w.set_wm_name(title)
    w.change_property(net_name, utf8, 8, title.encode("utf-8"))
    w.set_wm_class(cls.lower(), cls)
    w.map()
    ids[title] = w.id
d.sync()
print(json.dumps(ids), flush=True)
sys.stdin.read()  # hold the windows until the test closes our stdin
