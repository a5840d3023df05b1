"""charts.py: pure SVG functions, tested with plain values."""

from __future__ import annotations

import re
import xml.dom.minidom

import pytest

from astrocat.rules import charts

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


def parse(svg: str):
    """The markup is well-formed XML (so no stray unescaped < or & from a label)."""
    return xml.dom.minidom.parseString(svg)


def texts(svg: str) -> list[str]:
    dom = parse(svg)
    return ["".join(n.data for n in t.childNodes if n.nodeType == n.TEXT_NODE) for t in dom.getElementsByTagName("text")]


# about five steps of 1, 2, 2.5 or 5 times a power of ten, worked out by hand
@pytest.mark.parametrize("lo,hi,want", [
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]),  # 1/5 = 0.2
    (0, 7.3, [0, 2, 4, 6, 8]),  # 1.46 -> 2
    (0, 123, [0, 25, 50, 75, 100, 125]),  # 24.6 -> 25
    (0, 0.04, [0, 0.01, 0.02, 0.03, 0.04]),  # 0.008 -> 0.01
    (3, 3, [3, 3.2, 3.4, 3.6, 3.8, 4]),  # an empty range is widened to one unit
    (0, 98765, [0, 20000, 40000, 60000, 80000, 100000]),  # 19753 -> 20000
])
def test_nice_ticks_cover_range_with_round_steps(lo, hi, want):
    assert charts.nice_ticks(lo, hi) == pytest.approx(want, abs=1e-9)


def test_bar_chart_heights_are_proportional_and_stacked():
    svg = charts.bar_chart(["2024-01", "2024-02"], [("Ha", [3600, 7200]), ("OIII", [0, 3600])],
                           title="Integration", y_label="hours")
    dom = parse(svg)
    rects = [r for r in dom.getElementsByTagName("rect") if r.getAttribute("class") == "chart-bar-rect"]
    heights = [float(r.getAttribute("height")) for r in rects]
    assert len(rects) == 3  # the zero OIII bar is not drawn
    ha1, ha2, oiii2 = heights
    assert ha2 == pytest.approx(2 * ha1, rel=0.01)
    assert oiii2 == pytest.approx(ha1, rel=0.01)
    # stacked: OIII sits on top of Ha in February
    feb_ha, feb_oiii = rects[1], rects[2]
    assert float(feb_oiii.getAttribute("y")) + oiii2 == pytest.approx(float(feb_ha.getAttribute("y")), abs=0.2)
    assert charts.FILTER_COLORS["Ha"] in svg and "Integration" in texts(svg)
    assert "hours" in texts(svg)  # axis title
    assert {"Ha", "OIII"} <= set(texts(svg))  # legend


def test_single_series_bar_chart_has_no_legend_and_labels_ticks():
    svg = charts.bar_chart(["a", "b", "c"], [("x", [1800, 3600, 5400])], title="T", y_label="hours")
    assert "chart-legend" not in svg
    t = texts(svg)
    assert {"a", "b", "c"} <= set(t)
    # 1.5 h tallest: ticks every half hour, each read in its own unit
    assert [x for x in t if x not in ("T", "hours", "a", "b", "c")] == ["0 h", "30 min", "1.00 h", "1.50 h"]


def test_small_integration_ticks_are_not_all_zero():
    t = texts(charts.bar_chart(["a"], [("x", [40])], title="T", y_label="hours"))
    ticks = [x for x in t if x not in ("T", "hours", "a")]
    assert ticks == ["0 h", "9 s", "18 s", "27 s", "36 s", "45 s"]


def test_empty_charts_say_so():
    for svg in (charts.bar_chart([], [], title="Empty", y_label="h"),
                charts.hbar_chart([], title="Empty", x_label="h"),
                charts.line_chart([], title="Empty", y_label="h")):
        assert "No data yet" in texts(svg)


def test_labels_are_escaped_everywhere():
    links = {EVIL: 'targets/x"onmouseover="alert(1).html'}
    svgs = [
        charts.bar_chart([EVIL], [(EVIL, [100]), ("L", [50])], title=EVIL, y_label=EVIL, x_label=EVIL),
        charts.hbar_chart([(EVIL, 10)], title=EVIL, x_label=EVIL, links=links),
        charts.line_chart([("2024-01-01", 5)], title=EVIL, y_label=EVIL, x_label=EVIL),
        charts.sky_map([(EVIL, 10.0, 20.0, 100)], title=EVIL, links=links),
    ]
    for svg in svgs:
        dom = parse(svg)
        assert not dom.getElementsByTagName("script")
        assert not dom.getElementsByTagName("img")
        for node in dom.getElementsByTagName("*"):
            assert not any(a.startswith("on") for a in node.attributes.keys())
        # escaped, not mangled: the title reads back exactly as given
        title = dom.getElementsByTagName("title")[0]
        assert "".join(n.data for n in title.childNodes) == EVIL
    for svg in (svgs[1], svgs[3]):  # the charts with links: the href reads back exactly too
        hrefs = {a.getAttribute("href") for a in parse(svg).getElementsByTagName("a")}
        assert hrefs == {links[EVIL]}


def test_hbar_values_and_order():
    svg = charts.hbar_chart([("M31", 7200), ("M42", 3600)], title="Top", x_label="hours")
    dom = parse(svg)
    rects = [r for r in dom.getElementsByTagName("rect") if r.getAttribute("class") == "chart-bar-rect"]
    w = [float(r.getAttribute("width")) for r in rects]
    assert w[0] == pytest.approx(2 * w[1], rel=0.01)
    assert "2.00 h" in texts(svg) and "1.00 h" in texts(svg)


def test_line_chart_x_is_proportional_to_time():
    svg = charts.line_chart([("2024-01-01", 3600), ("2024-01-11", 7200), ("2024-01-31", 9000)],
                            title="Growth", y_label="hours")
    d = re.search(r'class="chart-line-path" d="([^"]+)"', svg).group(1)
    xs = sorted({float(x) for x, _ in re.findall(r"L([\d.]+),([\d.]+)", d)})
    # three distinct x positions; the gap of 10 days is half the gap of 20 days
    assert len(xs) == 3
    assert (xs[1] - xs[0]) * 2 == pytest.approx(xs[2] - xs[1], rel=0.02)
    assert "2.50 h" in texts(svg)  # the last value is labelled


def test_sky_map_puts_ra_increasing_to_the_left_and_skips_missing_coordinates():
    svg = charts.sky_map([("East", 90.0, 0.0, 10), ("West", 270.0, 0.0, 10), ("Nowhere", None, None, 5)],
                         title="Sky", width=760, height=420)
    dom = parse(svg)
    circles = {c.getElementsByTagName("title")[0].firstChild.data.split(":")[0]: float(c.getAttribute("cx"))
               for c in dom.getElementsByTagName("circle")}
    assert set(circles) == {"East", "West"}
    assert circles["East"] > circles["West"]  # RA 6h is right of RA 18h
    assert "Milky Way" in texts(svg)


def test_galactic_plane_passes_through_the_galactic_centre():
    pts = charts.galactic_plane(721)
    # Sgr A*: RA 266.40, Dec -28.94
    best = min(pts, key=lambda p: (p[0] - 266.40) ** 2 + (p[1] + 28.94) ** 2)
    assert abs(best[0] - 266.40) < 1.0 and abs(best[1] + 28.94) < 1.0
    assert all(-63 <= dec <= 63 for _, dec in pts)  # the plane is tilted 62.9 deg to the equator


def test_output_is_deterministic():
    a = charts.bar_chart(["x"], [("Ha", [10])], title="Same", y_label="h")
    b = charts.bar_chart(["x"], [("Ha", [10])], title="Same", y_label="h")
    assert a == b


def test_hours_formatting():
    from astrocat.units import hours

    assert hours(0) == hours(None) == "0 h"
    assert hours(4) == "4 s"
    assert hours(0.5) == "0.5 s"
    assert hours(1800) == "30 min"
    assert hours(5400) == "1.50 h"
    assert hours(3600 * 250) == "250 h"
    assert hours(3600 * 1250) == "1,250 h"


def test_sky_map_labels_only_the_leading_targets_but_draws_all():
    pts = [(f"T{i}", i * 3.0, 10.0, 1000 - i) for i in range(100)]
    svg = charts.sky_map(pts, title="Sky", label_top=10)
    dom = parse(svg)
    assert len(dom.getElementsByTagName("circle")) == 100
    labels = [t for t in texts(svg) if t.startswith("T")]
    assert sorted(labels) == sorted(f"T{i}" for i in range(10))
    # a label near the right edge (RA near 0h) is placed on the marker's left
    edge = charts.sky_map([("NGC 1234567", 0.5, 0.0, 10)], title="Sky")
    assert 'text-anchor="end">NGC 1234567' in edge
