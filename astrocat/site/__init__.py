"""The static site: catalog queries -> page contexts -> Jinja2 -> files, incrementally.

    writer.py     the manifest, incremental file writes, BuildResult and the errors
    build.py      one build: the catalog snapshot, the pages in order, stale files removed
    pages/        one module per kind of page (sessions, targets, explorer, dashboard, stats, files)
    paths.py      page file names and hrefs;  external.py: Datasette and Obsidian links
    commands.py   the commands pages offer to copy (built features only)
    jinja.py      the template environment;  helpers.py: small pure helpers
    thumbs.py     previews per build;  preview.py: rendering one preview
    steps.py      the pipeline step

Safety: Jinja2 autoescape is on for every template and no header value is ever marked
safe. JS data files are JSON with <, > and & escaped, and the explorer writes cells
with textContent.
"""

from astrocat.site.build import build
from astrocat.site.external import is_loopback_url
from astrocat.site.helpers import evenly, js_data, month_range
from astrocat.site.paths import note_file_name, session_href, slug, target_href
from astrocat.site.writer import BuildResult, SiteBusy, SiteError

__all__ = [
    "BuildResult", "SiteBusy", "SiteError", "build", "evenly", "is_loopback_url", "js_data", "month_range",
    "note_file_name", "session_href", "slug", "target_href",
]
