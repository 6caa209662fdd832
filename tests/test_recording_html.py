"""Recording._repr_html_: the notebook view (a summary table and an inline trajectory PNG),
the PNG decoded with pypng (a decoder nobody here wrote)."""

from __future__ import annotations

import base64
import re

import numpy as np
import png  # pypng

import hidpack
from hidpack import _html



def pngs_in(page):
    out = []
    for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        w, h, rows, info = png.Reader(bytes=base64.b64decode(b64)).asRGB8()
        out.append(np.array([np.frombuffer(bytes(r), np.uint8) for r in rows]).reshape(h, w, 3))
    return out


def cell(page, name):
    m = re.search(r"<th[^>]*>%s</th><td[^>]*>([^<]*)</td>" % re.escape(name), page)
    assert m, name
    return m.group(1)


def test_html_has_the_summary_and_a_decodable_trajectory(tmp_path):
    path = str(tmp_path / "n.hpk")
    n = 300
    t = list(range(0, n * 10_000_000, 10_000_000))
    kinds = ["move"] * (n - 5) + ["key"] * 3 + ["gap", "gap"]
    table = {
        "t": t, "kind": kinds,
        "x": [float(i % 200) for i in range(n - 5)] + [None] * 5,
        "y": [float(i % 100) for i in range(n - 5)] + [None] * 5,
        "pressed": [None] * (n - 5) + [True, False, True, None, None],
        "usage": [None] * (n - 5) + [4, 4, 5, None, None],
        "count": [None] * (n - 2) + [7, 2], "reason": [None] * (n - 2) + [1, 2],
    }
    hidpack.write_table(path, table, metadata={"screen": [200, 100], "session": "<b>me</b>"},
                        wall_clock_ns=1_700_000_000_000_000_000)
    page = hidpack.open(path)._repr_html_()
    assert cell(page, "events") == "300"
    assert cell(page, "&nbsp;&nbsp;move") == "295 (98.3 %)"
    assert cell(page, "&nbsp;&nbsp;key") == "3 (1.0 %)"
    assert cell(page, "&nbsp;&nbsp;gap") == "2 (0.7 %)"
    assert cell(page, "dropped") == "7 event(s) (ring full)"
    assert cell(page, "gaps").startswith("2 gap event(s); 2 event(s) withheld while paused")
    assert cell(page, "duration") == "2.990 s"
    assert cell(page, "wall clock") == "started 2023-11-14 22:13:20.000 UTC"
    assert cell(page, "policy") == "none"
    size = hidpack.open(path).info()["bytes"]
    assert cell(page, "size") == "%s bytes, %.2f bytes/event" % (f"{size:,}", size / 300)
    (img,) = pngs_in(page)
    assert max(img.shape[:2]) == _html.PICTURE_SIZE
    assert ((img == (68, 1, 84)).all(axis=2)).any() and ((img == (253, 231, 37)).all(axis=2)).any()  # start, end
    assert "pointer trajectory, coloured by time (295 moves)" in page
    assert "<b>me</b>" not in page  # text from the file is escaped, never markup


def test_html_of_a_recording_without_moves_or_wall_clock(tmp_path):
    path = str(tmp_path / "k.hpk")
    hidpack.write_table(path, {"t": [0, 5], "kind": ["key", "key"], "pressed": [True, False], "usage": [4, 4]})
    page = hidpack.open(path)._repr_html_()
    assert pngs_in(page) == [] and "no move events to draw" in page
    assert cell(page, "wall clock").startswith("none")


def test_the_picture_decodes_a_bounded_number_of_blocks(tmp_path):
    path = str(tmp_path / "long.hpk")
    n = 140_000  # three blocks of at most 65,536 events
    rng = np.random.default_rng(3)
    hidpack.write_table(path, {
        "t": np.arange(n, dtype=np.int64) * 8_000_000, "kind": ["move"] * n,
        "x": np.cumsum(rng.integers(-3, 4, n)).astype(float), "y": np.cumsum(rng.integers(-3, 4, n)).astype(float),
    })
    rec = hidpack.open(path)
    sizes = [int(b["events"]) for b in rec.blocks()]
    assert len(sizes) == 3
    png_all, what_all = _html.trajectory_png(rec)
    assert what_all == "20,000 of the 140,000 moves"
    png_two, what_two = _html.trajectory_png(rec, max_blocks=2)  # the first and the last block
    assert what_two == "20,000 of the %s moves of 2 of its 3 blocks, evenly spaced" % f"{sizes[0] + sizes[2]:,}"
    png_few, what_few = _html.trajectory_png(rec, most=500)
    assert what_few == "500 of the 140,000 moves"
    assert len({png_all, png_two, png_few}) == 3
    page = rec._repr_html_()
    assert "(20,000 of the 140,000 moves)" in page and len(pngs_in(page)) == 1
