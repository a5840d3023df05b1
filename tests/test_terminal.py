"""What people read in a terminal: messages printed as text (never as rich markup), labels
that agree with their numbers, and tables that fit an 80-column terminal."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import invoke_cli

NARROW = {"COLUMNS": "80"}


# -- messages are text, not markup ----------------------------------------------------------------

def test_init_prints_square_brackets(tmp_path: Path):
    r = invoke_cli("init", str(tmp_path / "lib"))
    assert r.returncode == 0, r.stderr
    assert "change [observatory] timezone if it is wrong" in r.stdout


def test_scan_prints_a_bracketed_path_as_it_is(library):
    bad = library.quarantine / "M31 [red]" / "bad [x].fits"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a FITS file at all" * 200)
    r = invoke_cli("scan", "--quiet", cwd=library.config_path.parent)
    assert r.returncode == 1, r.stderr
    assert re.search(r"rejected \S*M31 \[red\]/bad \[x\]\.fits: ", r.stdout), r.stdout
