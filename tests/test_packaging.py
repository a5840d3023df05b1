"""A wheel (not only an editable install) carries the site templates and Datasette metadata."""

import glob
import tomllib
from pathlib import Path

from astrocat.resources import shared_path

ROOT = Path(__file__).resolve().parent.parent


def test_data_files_cover_every_shipped_file():
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {Path(p) for patterns in data_files.values() for pattern in patterns for p in glob.glob(str(ROOT / pattern))}
    wanted = {p for p in (ROOT / "site_templates").rglob("*") if p.is_file()} | {ROOT / "datasette_metadata.yml"}
    assert wanted == shipped, sorted(str(p.relative_to(ROOT)) for p in wanted ^ shipped)
    for target, patterns in data_files.items():  # each file lands where resources.py looks
        for pattern in patterns:
            folder = Path(pattern).parent.as_posix()
            assert target == ("share/astrocat" if folder == "." else f"share/astrocat/{folder}")


def test_shared_path_finds_the_checkout_files():
    assert shared_path("site_templates") == ROOT / "site_templates"
    assert shared_path("datasette_metadata.yml") == ROOT / "datasette_metadata.yml"
