"""ruff, with the rules in pyproject.toml, finds nothing in the code, tests, benchmarks and docs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from conftest import need

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    need(importlib.util.find_spec("ruff") is not None, "ruff (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    r = ruff("astrocat", "tests", "benchmarks", "docs")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_rules_catch_an_unused_import_and_an_undefined_name(tmp_path: Path) -> None:
    """The check above is not empty: the project's rules do flag what pyflakes finds."""
    (tmp_path / "bad.py").write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    r = ruff("--config", str(ROOT / "pyproject.toml"), "bad.py", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "F401" in r.stdout and "F821" in r.stdout, r.stdout
