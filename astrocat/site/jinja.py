"""The templates: the Jinja2 environment, its filters, and the templates' fingerprint.

Autoescape is on for every template and no header value is ever marked safe; the
only Markup is SVG from `astrocat.rules.charts` (which escapes its inputs) and
Markdown rendered with raw HTML off.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from markupsafe import Markup

from astrocat import markdown, units
from astrocat.resources import package_path
from astrocat.rules.sessions import targets_label

TEMPLATES_DIR = package_path("astrocat.site", "templates")


def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "svg", "xml", "js", "txt"), default=True,
                                     default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        hours=units.hours,
        bytes=units.human_bytes,
        plural=units.plural,
        num=lambda n: f"{n:,}" if isinstance(n, int) else (f"{n:,.1f}" if isinstance(n, float) else n),
        secs=lambda s: "" if s is None else (f"{s:g}" if isinstance(s, (int, float)) else str(s)),
        temp=lambda t: "" if t is None else f"{t:.1f} °C",
        ra=units.ra_hms,
        dec=units.dec_dms,
    )
    env.globals["targets_label"] = targets_label
    return env


def fingerprint(site_format: int, directory: Path = TEMPLATES_DIR) -> str:
    """A hash of every template and static file: editing one re-renders every page."""
    h = hashlib.sha256(f"format {site_format}".encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def render_markdown(text: str) -> Markup:
    """The user's Markdown as safe HTML (astrocat.markdown: CommonMark, raw HTML off)."""
    return Markup(markdown.render(text))
