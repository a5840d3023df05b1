"""Links into Datasette for the site, the notes and the terminal. Pure.

Datasette names a database by its file's stem and tilde-encodes names in URLs
(`astro.v2.db` -> `astro~2Ev2`), so links are built here and nowhere else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def tilde_encode(name: str) -> str:
    from datasette.utils import tilde_encode as encode  # Datasette's own rule, imported when a link is made

    return encode(name)


def table_url(base_url: str, db_name: str, table: str, filters: dict[str, Any] | None = None,
              search: str | None = None, facets: tuple[str, ...] = ()) -> str:
    """A Datasette table page with column=value filters, a search and extra facets. Pure."""
    args: list[tuple[str, str]] = [(k, str(v)) for k, v in (filters or {}).items() if v is not None]
    if search:
        args.append(("_search", search))
    args += [("_facet", f) for f in facets]
    query = f"?{urlencode(args)}" if args else ""
    return f"{base_url.rstrip('/')}/{tilde_encode(db_name)}/{tilde_encode(table)}{query}"


def frames_url(base_url: str, db_name: str, **filters: Any) -> str:
    """The frames table filtered like the site's explorer (target=, filter=, night=, ...),
    the whole header JSON hidden. Pure."""
    url = table_url(base_url, db_name, "frames", filters)
    return url + ("&" if "?" in url else "?") + "_nocol=header_json"


def session_frames_url(base_url: str, db_name: str, session_id: str) -> str:
    """A session's frames (the table's facets then count its types, filters, targets). Pure."""
    return frames_url(base_url, db_name, session_id=session_id)


def query_url(base_url: str, db_name: str, query: str, **params: Any) -> str:
    """A canned query with its parameters filled in. Pure."""
    args = {k: str(v) for k, v in params.items() if v is not None}
    return f"{base_url.rstrip('/')}/{tilde_encode(db_name)}/{tilde_encode(query)}" + (f"?{urlencode(args)}" if args else "")
