"""The links that leave the site: the local Datasette and Obsidian. Neither is ever fetched.

Datasette URLs are made by `astrocat.links` only (it tilde-encodes the database name:
`astro.v2.db` is served as `astro~2Ev2`). They appear only when `datasette_url` is on
this machine, so a published copy of the site never points at a server.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from astrocat import links

_LOOPBACK_HOSTS = {"localhost", "::1"}


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs on this machine only (127.0.0.0/8, localhost, ::1)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def obsidian_url(path: Path) -> str:
    return "obsidian://open?path=" + quote(str(path), safe="")


class DatasetteLinks:
    """Links into the local Datasette serving `catalog`; every method returns None when
    the configured URL is not a loopback one."""

    def __init__(self, datasette_url: str, catalog: Path) -> None:
        self.base = datasette_url.rstrip("/") if is_loopback_url(datasette_url) else None
        self.db_name = catalog.stem  # Datasette's name for a database file

    def frames(self, **filters: Any) -> str | None:
        return links.frames_url(self.base, self.db_name, **filters) if self.base else None

    def session(self, session_id: str) -> str | None:
        return links.session_frames_url(self.base, self.db_name, session_id) if self.base else None

    def query(self, name: str, **params: Any) -> str | None:
        return links.query_url(self.base, self.db_name, name, **params) if self.base else None
