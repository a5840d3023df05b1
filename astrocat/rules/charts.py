"""SVG charts as strings. Pure: plain values in, markup out, no I/O.

Every text that reaches the markup goes through `esc` (labels come from FITS
headers). Colours are attributes; the page's CSS styles axes, grid and text
through class names, so the dark and red themes restyle charts without a rebuild.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date
from html import escape

from astrocat.units import hours
from typing import Callable, Sequence

Number = float | int
Formatter = Callable[[float], str]

# Conventional filter colours, so Ha is red on every chart of the site.
FILTER_COLORS = {
    "L": "#d8dee9", "R": "#e5534b", "G": "#57ab5a", "B": "#539bf5",
    "Ha": "#ff6b6b", "OIII": "#39c5cf", "SII": "#f0a35e", "Hb": "#6cb6ff",
    "(none)": "#b392f0", "OSC": "#b392f0", "LP": "#daaa3f", "UVIR": "#c69026",
    "L-eXtreme": "#f778ba", "L-eNhance": "#e275ad", "L-Ultimate": "#f778ba", "ALP-T": "#f778ba",
}
PALETTE = ["#6cb6ff", "#f69d50", "#8ddb8c", "#dcbdfb", "#f47067", "#96d0ff", "#e0823d",
           "#b083f0", "#57ab5a", "#daaa3f", "#39c5cf", "#ec775c"]
ACCENT = "#6cb6ff"


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def color_for(name: str, index: int = 0) -> str:
    """A stable colour: the conventional one for known filters, else from the palette by name."""
    if name in FILTER_COLORS:
        return FILTER_COLORS[name]
    h = sum((i + 1) * ord(c) for i, c in enumerate(name)) if name else index
    return PALETTE[h % len(PALETTE)]


def count(n: float) -> str:
    return f"{n:,.0f}"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + 1
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    # up to the first tick at or above hi: the scale must hold the tallest bar
    ticks = []
    i = 0
    while True:
        v = round(start + i * step, 10)
        ticks.append(v)
        if v >= hi - step * 1e-9:
            return ticks
        i += 1


def _svg_open(width: int, height: int, title: str, cls: str) -> str:
    # a deterministic id: pages must come out byte-identical from the same data
    tid = "c" + hashlib.sha1(f"{title}|{width}|{height}|{cls}".encode()).hexdigest()[:10]
    return (
        f'<svg class="chart {esc(cls)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{tid}" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{tid}">{esc(title)}</title>'
    )


def _empty(width: int, height: int, title: str, message: str = "No data yet") -> str:
    return (
        _svg_open(width, height, title, "chart-empty")
        + f'<text class="chart-title" x="16" y="24">{esc(title)}</text>'
        + f'<text class="chart-note" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">{esc(message)}</text>'
        + "</svg>"
    )


def _fmt_tick(v: float, scale_hours: bool) -> str:
    if scale_hours:  # seconds read as '0 h', '30 min', '1.50 h': small totals never all show '0.0'
        return hours(v)
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.1f}"


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number]]],
    *,
    title: str,
    y_label: str,
    x_label: str = "",
    value_format: Formatter = hours,
    seconds_axis: bool = True,
    width: int = 760,
    height: int = 300,
    colors: dict[str, str] | None = None,
) -> str:
    """Vertical bars, stacked when there is more than one series (legend on top).

    `series` is [(name, values aligned with categories)]. With `seconds_axis` the
    values are seconds and the axis reads in hours.
    """
    totals = [sum(float(s[1][i] or 0) for s in series) for i in range(len(categories))]
    if not categories or not any(totals):
        return _empty(width, height, title)
    left, right, top, bottom = 58, 16, 58 if len(series) > 1 else 40, 58
    pw, ph = width - left - right, height - top - bottom
    ticks = nice_ticks(0, max(totals) / (3600.0 if seconds_axis else 1.0))
    scale_max = ticks[-1] * (3600.0 if seconds_axis else 1.0)
    out = [_svg_open(width, height, title, "chart-bar")]
    out.append(f'<text class="chart-title" x="{left}" y="22">{esc(title)}</text>')
    for t in ticks:
        y = top + ph - ph * (t * (3600.0 if seconds_axis else 1.0)) / scale_max
        out.append(f'<line class="chart-grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = _fmt_tick(t * 3600.0, True) if seconds_axis else _fmt_tick(t, False)
        out.append(f'<text class="chart-tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(label)}</text>')
    out.append(
        f'<text class="chart-axis-label" transform="translate(14 {top + ph / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text>'
    )
    n = len(categories)
    slot = pw / n
    bar_w = max(1.0, min(48.0, slot * 0.72))
    label_every = max(1, math.ceil(n / max(1, pw // 64)))
    for i, cat in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        base = top + ph
        parts = []
        for si, (name, values) in enumerate(series):
            v = float(values[i] or 0)
            if v <= 0:
                continue
            h = ph * v / scale_max
            base -= h
            fill = (colors or {}).get(name) or (color_for(name, si) if len(series) > 1 else ACCENT)
            parts.append(f"{name}: {value_format(v)}")
            out.append(
                f'<rect class="chart-bar-rect" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{max(h, 0.5):.1f}" fill="{esc(fill)}"><title>{esc(cat)} — {esc(name)}: '
                f"{esc(value_format(v))}</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text class="chart-tick" x="{x + bar_w / 2:.1f}" y="{top + ph + 18}" '
                f'text-anchor="middle">{esc(cat)}</text>'
            )
    out.append(f'<line class="chart-axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    if x_label:
        out.append(f'<text class="chart-axis-label" x="{left + pw / 2:.0f}" y="{height - 10}" text-anchor="middle">{esc(x_label)}</text>')
    if len(series) > 1:
        out.append(_legend([s[0] for s in series], left, 40, colors))
    out.append("</svg>")
    return "".join(out)


def _legend(names: Sequence[str], x0: float, y: float, colors: dict[str, str] | None) -> str:
    out = ['<g class="chart-legend">']
    x = x0
    for i, name in enumerate(names):
        fill = (colors or {}).get(name) or color_for(name, i)
        out.append(f'<rect x="{x:.0f}" y="{y - 10}" width="12" height="12" rx="2" fill="{esc(fill)}"/>')
        out.append(f'<text class="chart-tick" x="{x + 17:.0f}" y="{y}">{esc(name)}</text>')
        x += 30 + 7.5 * len(name)
    out.append("</g>")
    return "".join(out)


def hbar_chart(
    items: Sequence[tuple[str, Number]],
    *,
    title: str,
    x_label: str,
    value_format: Formatter = hours,
    width: int = 760,
    bar_height: int = 22,
    colors: dict[str, str] | None = None,
    color_by_name: bool = False,
    links: dict[str, str] | None = None,
) -> str:
    """Horizontal bars with the label on the left and the value at the bar's end."""
    items = [(str(k), float(v or 0)) for k, v in items]
    if not items or not any(v for _, v in items):
        return _empty(width, 120, title)
    longest = max(len(k) for k, _ in items)
    left = int(min(260, max(80, 7.4 * longest + 18)))
    right, top = 90, 40
    gap = 8
    height = top + len(items) * (bar_height + gap) + 44
    pw = width - left - right
    vmax = max(v for _, v in items)
    out = [_svg_open(width, height, title, "chart-hbar")]
    out.append(f'<text class="chart-title" x="16" y="22">{esc(title)}</text>')
    for i, (name, v) in enumerate(items):
        y = top + i * (bar_height + gap)
        w = pw * v / vmax if vmax else 0
        fill = (colors or {}).get(name) or (color_for(name, i) if color_by_name else ACCENT)
        label = f'<text class="chart-label" x="{left - 10}" y="{y + bar_height * 0.7:.1f}" text-anchor="end">{esc(_clip(name, 34))}</text>'
        if links and name in links:
            label = f'<a href="{esc(links[name])}">{label}</a>'
        out.append(label)
        out.append(
            f'<rect class="chart-bar-rect" x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{bar_height}" '
            f'rx="3" fill="{esc(fill)}"><title>{esc(name)}: {esc(value_format(v))}</title></rect>'
        )
        out.append(
            f'<text class="chart-value" x="{left + max(w, 1) + 6:.1f}" y="{y + bar_height * 0.7:.1f}">{esc(value_format(v))}</text>'
        )
    axis_y = top + len(items) * (bar_height + gap)
    out.append(f'<line class="chart-axis" x1="{left}" x2="{left + pw}" y1="{axis_y}" y2="{axis_y}"/>')
    out.append(f'<text class="chart-axis-label" x="{left + pw / 2:.0f}" y="{axis_y + 28}" text-anchor="middle">{esc(x_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def line_chart(
    points: Sequence[tuple[str, Number]],
    *,
    title: str,
    y_label: str,
    x_label: str = "",
    seconds_axis: bool = True,
    value_format: Formatter = hours,
    width: int = 760,
    height: int = 300,
) -> str:
    """A filled line over ISO dates (`YYYY-MM-DD`), x proportional to time."""
    pts = []
    for d, v in points:
        try:
            pts.append((date.fromisoformat(str(d)[:10]).toordinal(), float(v or 0), str(d)[:10]))
        except ValueError:
            continue
    if not pts:
        return _empty(width, height, title)
    pts.sort()
    left, right, top, bottom = 58, 20, 40, 52
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = pts[0][0], pts[-1][0]
    if x1 == x0:
        x0, x1 = x0 - 15, x1 + 15
    div = 3600.0 if seconds_axis else 1.0
    ticks = nice_ticks(0, max(v for _, v, _ in pts) / div)
    ymax = ticks[-1] * div or 1

    def X(o: float) -> float:
        return left + pw * (o - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return top + ph - ph * v / ymax

    out = [_svg_open(width, height, title, "chart-line")]
    out.append(f'<text class="chart-title" x="{left}" y="22">{esc(title)}</text>')
    for t in ticks:
        y = Y(t * div)
        out.append(f'<line class="chart-grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = _fmt_tick(t * div, True) if seconds_axis else _fmt_tick(t, False)
        out.append(f'<text class="chart-tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(label)}</text>')
    out.append(
        f'<text class="chart-axis-label" transform="translate(14 {top + ph / 2:.0f}) rotate(-90)" text-anchor="middle">{esc(y_label)}</text>'
    )
    for o, label in _date_ticks(x0, x1, max(2, pw // 90)):
        x = X(o)
        out.append(f'<line class="chart-grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}"/>')
        out.append(f'<text class="chart-tick" x="{x:.1f}" y="{top + ph + 18}" text-anchor="middle">{esc(label)}</text>')
    # a step line: the total only grows on a night with data
    path = [f"M{X(pts[0][0]):.1f},{Y(0):.1f}"]
    prev = 0.0
    for o, v, _ in pts:
        path.append(f"L{X(o):.1f},{Y(prev):.1f}L{X(o):.1f},{Y(v):.1f}")
        prev = v
    line = "".join(path)
    out.append(f'<path class="chart-area" d="{line}L{X(pts[-1][0]):.1f},{Y(0):.1f}Z" fill="{ACCENT}" fill-opacity="0.18"/>')
    out.append(f'<path class="chart-line-path" d="{line}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    last = pts[-1]
    out.append(
        f'<circle cx="{X(last[0]):.1f}" cy="{Y(last[1]):.1f}" r="4" fill="{ACCENT}"><title>{esc(last[2])}: '
        f"{esc(value_format(last[1]))}</title></circle>"
    )
    out.append(
        f'<text class="chart-value" x="{min(X(last[0]), left + pw - 4):.1f}" y="{max(Y(last[1]) - 10, top + 12):.1f}" '
        f'text-anchor="end">{esc(value_format(last[1]))}</text>'
    )
    out.append(f'<line class="chart-axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    if x_label:
        out.append(f'<text class="chart-axis-label" x="{left + pw / 2:.0f}" y="{height - 8}" text-anchor="middle">{esc(x_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def _date_ticks(o0: int, o1: int, max_ticks: int) -> list[tuple[int, str]]:
    """Month or year starts between two ordinals, thinned to at most max_ticks."""
    d0, d1 = date.fromordinal(o0), date.fromordinal(o1)
    months = (d1.year - d0.year) * 12 + d1.month - d0.month
    if months > 24:
        ticks = [(date(y, 1, 1).toordinal(), str(y)) for y in range(d0.year + 1, d1.year + 1)]
        step = max(1, math.ceil(len(ticks) / max_ticks))
        return ticks[::step]
    ticks = []
    y, m = d0.year, d0.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        d = date(y, m, 1)
        if d > d1:
            break
        ticks.append((d.toordinal(), d.strftime("%b %Y") if m == 1 or not ticks else d.strftime("%b")))
    step = max(1, math.ceil(len(ticks) / max_ticks))
    return ticks[::step]


def galactic_plane(n: int = 181) -> list[tuple[float, float]]:
    """(RA, Dec) in degrees along the galactic equator (b = 0), J2000."""
    # the galactic -> equatorial rotation (J2000, Hipparcos values): equatorial = m @ galactic
    m = [[-0.0548755604, 0.4941094279, -0.8676661490],
         [-0.8734370902, -0.4448296300, -0.1980763734],
         [-0.4838350155, 0.7469822445, 0.4559837762]]
    out = []
    for i in range(n):
        lon = math.radians(360.0 * i / (n - 1))
        g = (math.cos(lon), math.sin(lon), 0.0)
        x, y, z = (sum(m[r][c] * g[c] for c in range(3)) for r in range(3))
        ra = math.degrees(math.atan2(y, x)) % 360.0
        dec = math.degrees(math.asin(max(-1.0, min(1.0, z))))
        out.append((ra, dec))
    return out


def sky_map(
    targets: Sequence[tuple[str, float | None, float | None, Number]],
    *,
    title: str,
    links: dict[str, str] | None = None,
    width: int = 760,
    height: int = 420,
    value_format: Formatter = hours,
    label_top: int = 30,
) -> str:
    """Targets on an equirectangular RA/Dec map, RA increasing to the left as on the sky.

    `targets` is [(name, ra_deg, dec_deg, integration_s)]; markers grow with the
    square root of integration. Targets without coordinates are left out. Only the
    `label_top` targets with most integration are labelled (every marker has a tooltip),
    so a catalog of hundreds of targets stays readable.
    """
    pts = [(str(n), float(ra) % 360.0, float(dec), float(w or 0)) for n, ra, dec, w in targets
           if ra is not None and dec is not None and -90 <= float(dec) <= 90]
    left, right, top, bottom = 52, 20, 40, 48
    pw, ph = width - left - right, height - top - bottom

    def X(ra: float) -> float:
        return left + pw * (360.0 - ra) / 360.0

    def Y(dec: float) -> float:
        return top + ph * (90.0 - dec) / 180.0

    out = [_svg_open(width, height, title, "chart-sky")]
    out.append(f'<text class="chart-title" x="{left}" y="22">{esc(title)}</text>')
    out.append(f'<rect class="chart-sky-bg" x="{left}" y="{top}" width="{pw}" height="{ph}"/>')
    for h in range(0, 25, 2):
        x = X(h * 15.0)
        out.append(f'<line class="chart-grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}"/>')
        out.append(f'<text class="chart-tick" x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{h}h</text>')
    for d in range(-90, 91, 30):
        y = Y(d)
        cls = "chart-axis" if d == 0 else "chart-grid"
        out.append(f'<line class="{cls}" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="chart-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{d:+d}°</text>')
    # the Milky Way: break the polyline where it wraps around RA 0h
    segs: list[list[str]] = [[]]
    prev_ra = None
    for ra, dec in galactic_plane():
        if prev_ra is not None and abs(ra - prev_ra) > 180:
            segs.append([])
        segs[-1].append(f"{X(ra):.1f},{Y(dec):.1f}")
        prev_ra = ra
    for seg in segs:
        if len(seg) > 1:
            out.append(f'<polyline class="chart-milkyway" points="{" ".join(seg)}" fill="none"/>')
    out.append(f'<text class="chart-note" x="{X(300):.0f}" y="{Y(48):.0f}">Milky Way</text>')
    out.append(f'<text class="chart-axis-label" x="{left + pw / 2:.0f}" y="{height - 8}" text-anchor="middle">Right ascension (hours, east to the left)</text>')
    out.append(f'<text class="chart-axis-label" transform="translate(12 {top + ph / 2:.0f}) rotate(-90)" text-anchor="middle">Declination</text>')
    if not pts:
        out.append(f'<text class="chart-note" x="{left + pw / 2:.0f}" y="{top + ph / 2:.0f}" text-anchor="middle">No targets with coordinates yet</text>')
    wmax = max((w for *_, w in pts), default=0) or 1
    ranked = sorted(pts, key=lambda p: (-p[3], p[0]))
    # biggest markers first so small ones stay visible; labels last, on top of every marker
    labels = []
    for i, (name, ra, dec, w) in enumerate(ranked):
        r = 3 + 11 * math.sqrt(w / wmax)
        x, y = X(ra), Y(dec)
        mark = (
            f'<circle class="chart-target" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{esc(color_for(name, i))}" '
            f'fill-opacity="0.75"><title>{esc(name)}: {esc(value_format(w))}</title></circle>'
        )
        link = links.get(name) if links else None
        out.append(f'<a href="{esc(link)}">{mark}</a>' if link else mark)
        if i < label_top:
            right_edge = x + r + 3 + 7 * min(len(name), 24) > left + pw
            lx = x - r - 3 if right_edge else x + r + 3
            anchor = ' text-anchor="end"' if right_edge else ""
            label = (f'<text class="chart-label chart-target-label" x="{lx:.1f}" y="{y + 4:.1f}"{anchor}>'
                     f"{esc(_clip(name, 24))}</text>")
            labels.append(f'<a href="{esc(link)}">{label}</a>' if link else label)
    out.extend(labels)
    out.append("</svg>")
    return "".join(out)
