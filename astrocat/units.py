"""Human-readable units and counts, shared by the terminal, the site, the notes and the charts. Pure."""

from __future__ import annotations


def human_bytes(n: int | float | None) -> str:
    """1500 -> '1.5 KB': decimal multiples (1 KB = 1000 bytes), as disks are sold and
    as macOS and GNOME show sizes."""
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if round(n, 1) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 session', '2 sessions', '0 frames' (`many` for an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def hours(seconds: float | None) -> str:
    """An integration time: '0 h', '4 s', '12 min', '2.34 h', '1,250 h'."""
    s = float(seconds or 0.0)
    if s <= 0:
        return "0 h"
    if s < 59.5:
        return f"{s:.0f} s" if s >= 1 else f"{s:.2g} s"
    h = s / 3600.0
    if h < 0.9995:
        return f"{s / 60:.0f} min"
    return f"{h:.2f} h" if h < 100 else f"{h:,.0f} h"


def ra_hms(deg: float | None) -> str:
    """Right ascension in degrees as '00h 42m 44.3s' ('' when unknown)."""
    if deg is None:
        return ""
    total = round((deg % 360.0) / 15.0 * 3600.0, 1) % 86400.0
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}h {int(m):02d}m {s:04.1f}s"


def dec_dms(deg: float | None) -> str:
    """Declination in degrees as '+41° 16′ 09″' ('' when unknown)."""
    if deg is None:
        return ""
    sign = "−" if deg < 0 else "+"
    total = round(abs(deg) * 3600.0)
    d, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{int(d):02d}° {int(m):02d}′ {int(s):02d}″"
