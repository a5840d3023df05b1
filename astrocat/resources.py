"""Where the files that ship beside the package are: site templates, Datasette metadata.

In a source checkout (and an editable install) they sit at the top of the repository;
a wheel installs them under `<prefix>/share/astrocat/` (pyproject's data-files).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def shared_path(name: str) -> Path:
    """The first existing of <repo>/name and <prefix>/share/astrocat/name (else the first)."""
    candidates = [_REPO / name]
    for prefix in (sys.prefix, sysconfig.get_paths().get("data", sys.prefix)):
        candidates.append(Path(prefix) / "share" / "astrocat" / name)
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]
