"""Files that ship inside the package: site templates and static files, Datasette metadata.

They live beside the code (`astrocat/site/templates/`, `astrocat/datasette/metadata.yml`)
and are found through importlib.resources, so a wheel, a `pip install --user` and an
editable install all find them without looking under `sys.prefix`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(package: str, name: str) -> Path:
    """A data file or folder of an astrocat subpackage as a real path.

    astrocat is installed as plain files (never zipped), so the Traversable is a Path."""
    return Path(str(files(package).joinpath(name)))
