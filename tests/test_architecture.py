"""The house's rules hold: import contracts (import-linter) and the map in docs/architecture.md."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import need

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports")
    need(exe is not None, "import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_import_contracts_are_kept() -> None:
    r = _lint_imports(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout and "4 kept" in r.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("rules/sessions.py", "import sqlite3", "Rules are pure"),
    ("notes/steps.py", "from astrocat.site import build", "Outputs never import each other"),
    ("catalog/queries.py", "from astrocat.cli import app", "Nothing imports the CLI"),
    ("catalog/derived.py", "from astrocat.library import organize", "Data flows one way"),
])
def test_each_contract_catches_a_violation(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copytree(ROOT / "astrocat", tmp_path / "astrocat", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "astrocat" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    r = _lint_imports(tmp_path)
    assert r.returncode == 1, r.stdout
    broken = r.stdout.split("Broken contracts", 1)[1]
    assert contract in broken


def _map_entries() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"## The map\n.*?```text\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no '## The map' text block"
    return {line.split()[0] for line in block.group(1).splitlines() if line.strip().startswith("astrocat/")}


def test_the_house_map_names_every_module_and_nothing_else() -> None:
    pkg = ROOT / "astrocat"
    actual = {f"astrocat/{p.relative_to(pkg).as_posix()}" for p in pkg.rglob("*.py") if p.name != "__init__.py"}
    actual |= {f"astrocat/{p.relative_to(pkg).as_posix()}/" for p in pkg.rglob("*")
               if p.is_dir() and (p / "__init__.py").exists()}
    mapped = _map_entries()
    assert sorted(actual - mapped) == [], "modules missing from docs/architecture.md"
    assert sorted(mapped - actual) == [], "docs/architecture.md names modules that do not exist"

