"""Settings.location_of: where a path lies, by string prefixes that must agree with the folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from astrocat.config import Settings


def settings_in(base: Path) -> Settings:
    return Settings(config_path=base / "astrocat.toml", base_dir=base, quarantine=base / "q", library=base / "lib",
                    processing=base / "proc", notes=base / "notes", site=base / "site", catalog=base / "catalog.db")


@pytest.fixture
def s(tmp_path: Path) -> Settings:
    return settings_in(tmp_path.resolve())


@pytest.mark.parametrize("rel, expected", [
    ("lib", "library"),  # the root itself
    ("lib/", "library"),
    ("lib/2024/M31/a.fits", "library"),
    ("library2/a.fits", "external"),  # a sibling sharing the root's name as a prefix
    ("lib2", "external"),
    ("li/a.fits", "external"),
    ("lib/../library2/a.fits", "external"),  # normalized before the test
    ("lib/../q/a.fits", "quarantine"),
    ("q", "quarantine"),
    ("q/NINA/a.fits", "quarantine"),
    ("q_other/a.fits", "external"),
    ("q/_duplicates/a.fits", "duplicate"),
    ("q/_duplicates/NINA/2024/a.fits", "duplicate"),
    ("q/_duplicates", "quarantine"),  # the folder itself holds no frame
    ("q/_duplicates2/a.fits", "quarantine"),
    ("q/NINA/_duplicates/a.fits", "quarantine"),  # only quarantine's own _duplicates
    ("q//_duplicates//a.fits", "duplicate"),
    ("proc/s1/a.fits", "processing"),
    ("processing/a.fits", "external"),
    ("a.fits", "external"),
])
def test_location_of_absolute_paths(s: Settings, rel: str, expected: str) -> None:
    assert s.location_of(f"{s.base_dir}/{rel}") == expected
    assert s.location_of(Path(s.base_dir, rel)) == expected


def test_relative_paths_are_taken_from_the_current_folder(s: Settings, monkeypatch) -> None:
    monkeypatch.chdir(s.base_dir)
    assert s.location_of("lib/a.fits") == "library"
    assert s.location_of("q/_duplicates/a.fits") == "duplicate"
    assert s.location_of("library2/a.fits") == "external"
    s.library.mkdir()
    monkeypatch.chdir(s.library)
    assert s.location_of("a.fits") == "library"
    assert s.location_of("../q/a.fits") == "quarantine"


@pytest.mark.skipif(os.sep != "/", reason="a POSIX filesystem root")
def test_a_root_at_the_filesystem_root(tmp_path: Path) -> None:
    s = settings_in(tmp_path.resolve())
    s.processing = Path("/")
    assert s.location_of("/anything/a.fits") == "processing"
    assert s.location_of("/") == "processing"
    assert s.location_of(s.library / "a.fits") == "library"  # the earlier roots still win


def test_agrees_with_the_folder_tree_rule(s: Settings) -> None:
    """Every combination of near-miss names, against pathlib's parents (the rule it replaces)."""
    def by_parents(path: str) -> str:
        p = Path(os.path.abspath(path))
        for name in ("quarantine", "library", "processing"):
            root: Path = getattr(s, name)
            if p == root or root in p.parents:
                return "duplicate" if name == "quarantine" and root / "_duplicates" in p.parents else name
        return "external"

    names = ["q", "lib", "proc", "li", "lib2", "library2", "q_", "_duplicates", "_duplicates2", ".", ".."]
    seen = set()
    for a in names:
        for b in names + [""]:
            for c in ["", "x.fits"]:
                path = "/".join(part for part in (str(s.base_dir), a, b, c) if part)
                got = s.location_of(path)
                assert got == by_parents(path), path
                seen.add(got)
    assert seen == {"quarantine", "duplicate", "library", "processing", "external"}
