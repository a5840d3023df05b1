"""The file explorer's page (`files.html`); its data is written by `pages.explorer`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrocat.site.paths import FILES

if TYPE_CHECKING:
    from astrocat.site.build import Site


def write(site: Site) -> None:
    site.page(FILES, "files.html", title="File explorer", section=FILES, wide=True)
