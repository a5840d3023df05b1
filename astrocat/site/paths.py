"""Where things are on the site: file names of pages and the hrefs between them. Pure.

Every href is relative to the site's root; a page prefixes it with its own `root`
("../" per folder level), so the site works from any folder and from file://.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import quote

from astrocat.rules.naming import WINDOWS_RESERVED, note_stem

# The pages of the catalog feature (the same hrefs as its entries in the feature registry's nav).
DASHBOARD = "index.html"
SESSIONS = "sessions/index.html"
TARGETS = "targets/index.html"
FILES = "files.html"
STATS = "stats.html"


@functools.lru_cache(maxsize=8192)
def slug(name: str) -> str:
    """A file-name-safe, stable slug; a short hash keeps slugs of different names apart."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "item"
    if s != name or s.upper() in WINDOWS_RESERVED:
        s += "-" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return s


def session_href(sid: str) -> str:
    return f"sessions/{slug(sid)}.html"


def target_href(name: str) -> str:
    return f"targets/{slug(name)}.html"


def explorer_href(key: str, value: str) -> str:
    """The file explorer opened pre-filtered: `files.html#session=ID`, `#target=NAME`."""
    return f"{FILES}#{key}={quote(value, safe='')}"


def note_file_name(name: str) -> str:
    """A note's file name, as the notes feature names it (before any collision suffix)."""
    return note_stem(name) + ".md"
