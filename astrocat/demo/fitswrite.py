"""Write small FITS files card by card, quirks included (demo data, fixtures, benchmarks).

astropy refuses to write some things real programs write (N.I.N.A. 1.9's unquoted
DATE-OBS), so the demo writes cards itself. Values are passed as Python values;
`Raw("...")` is written verbatim into the value field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

BLOCK = 2880


@dataclass(frozen=True)
class Raw:
    """A value written as-is (no quotes), e.g. an unquoted date."""

    text: str


def format_card(key: str, value: Any = None, comment: str = "") -> str:
    if key in ("COMMENT", "HISTORY"):
        return f"{key:<8}{value or ''}"[:80].ljust(80)
    if key.startswith("HIERARCH "):
        body = f"{key} = {_fmt_value(value).strip()}"
        if comment:
            body += f" / {comment}"
        return body[:80].ljust(80)
    val = _fmt_value(value)
    card = f"{key:<8}= {val}"
    if comment:
        card += f" / {comment}"
    return card[:80].ljust(80)


def _fmt_value(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text.ljust(20)
    if isinstance(value, bool):
        return ("T" if value else "F").rjust(20)
    if isinstance(value, int):
        return str(value).rjust(20)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:.6E}"
        elif "." not in text:
            text += "."
        return text.rjust(20)
    if value is None:
        return " " * 20
    s = str(value).replace("'", "''")
    return f"'{s:<8}'".ljust(20)


def header_bytes(cards: Sequence[tuple[str, Any, str] | tuple[str, Any]]) -> bytes:
    lines = [format_card(*c) for c in cards]
    lines.append("END".ljust(80))
    text = "".join(lines)
    pad = (-len(text)) % BLOCK
    return (text + " " * pad).encode("ascii", "replace")


def image_cards(data: np.ndarray) -> list[tuple[str, Any, str]]:
    """Structural cards for an unsigned 16-bit image (stored with BZERO 32768, as cameras do)."""
    cards: list[tuple[str, Any, str]] = [
        ("SIMPLE", True, "file does conform to FITS standard"),
        ("BITPIX", 16, "number of bits per data pixel"),
        ("NAXIS", data.ndim, "number of data axes"),
    ]
    for i, n in enumerate(reversed(data.shape), start=1):
        cards.append((f"NAXIS{i}", int(n), f"length of data axis {i}"))
    cards += [
        ("EXTEND", True, "FITS dataset may contain extensions"),
        ("BZERO", 32768, "offset data range to that of unsigned short"),
        ("BSCALE", 1, "default scaling factor"),
    ]
    return cards


def data_bytes(data: np.ndarray) -> bytes:
    raw = (data.astype(np.int32) - 32768).astype(">i2").tobytes()
    return raw + b"\0" * ((-len(raw)) % BLOCK)


def write_fits(path: str | os.PathLike, cards: Sequence[tuple], data: np.ndarray | None) -> int:
    """Write a FITS file: structural cards for `data` then `cards`. Returns bytes written.

    Refuses to overwrite an existing file."""
    if data is not None:
        all_cards = image_cards(data) + [c for c in cards if c[0] not in _STRUCTURAL]
        body = data_bytes(data)
    else:
        all_cards = [("SIMPLE", True, ""), ("BITPIX", 8, ""), ("NAXIS", 0, "")] + list(cards)
        body = b""
    blob = header_bytes(all_cards) + body
    with open(path, "xb") as f:
        f.write(blob)
    return len(blob)


_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "BZERO", "BSCALE"}


def star_field(
    rng: np.random.Generator,
    width: int = 64,
    height: int = 48,
    stars: Sequence[tuple[float, float, float]] = (),
    background: float = 1200.0,
    noise: float = 40.0,
    nebula: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """A small uint16 frame: background, noise, Gaussian stars (x, y, flux) and an optional blob."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.full((height, width), background, dtype=np.float32)
    if nebula is not None:
        nx, ny, sigma, amp = nebula
        img += amp * np.exp(-((x - nx) ** 2 + (y - ny) ** 2) / (2 * sigma**2))
    for sx, sy, flux in stars:
        img += flux * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * 1.1**2))
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 65535).astype(np.uint16)
