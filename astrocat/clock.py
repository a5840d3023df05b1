"""The one clock: timestamps the catalog, notes and reports record."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def utc_now() -> str:
    """Now in UTC as ISO 8601 with a 'Z', to the second (the catalog's timestamp form)."""
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")
