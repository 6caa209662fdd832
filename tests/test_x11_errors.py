"""Without an X display, each X11 feature (desktop capture, replay, screen frames) says so in its
own exception type, with why a Wayland session cannot stand in and what needs X11 (the one
check in hidpack/_x11.py); an unreachable display is named. No X server needed."""
from __future__ import annotations

import pytest

from hidpack.desktop import CaptureUnavailable, DesktopCapture
from hidpack.replay import ReplayUnavailable, XTestInjector
from hidpack.screen import ScreenCapture, ScreenUnavailable, display_size


@pytest.fixture
def wayland_only(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")


def test_each_feature_names_the_missing_display_in_its_own_terms(wayland_only, tmp_path) -> None:
    with pytest.raises(CaptureUnavailable) as e:
        DesktopCapture(None).start()
    assert str(e.value) == ("no X display: DISPLAY is not set (this is a Wayland session, which does not allow "
                            "global input capture). Desktop capture needs an X11 session (or Xvfb).")
    with pytest.raises(ReplayUnavailable) as e:
        XTestInjector()
    assert str(e.value) == ("no X display: DISPLAY is not set (a Wayland session does not let clients inject "
                            "global input). Replay injects input into an X11 session (or Xvfb).")
    with pytest.raises(ScreenUnavailable) as e:
        ScreenCapture(tmp_path / "s.mkv")
    assert str(e.value) == ("no X display: DISPLAY is not set (Wayland sessions do not let clients grab the "
                            "screen). Screen recording needs an X11 session (or Xvfb).")
    assert not (tmp_path / "s.mkv").exists()


def test_an_unreachable_display_is_named(wayland_only) -> None:
    with pytest.raises(ScreenUnavailable, match="^cannot open the X display :4094: "):
        display_size(":4094")
    with pytest.raises(ReplayUnavailable, match="^cannot open the X display :4094: "):
        XTestInjector(":4094")
