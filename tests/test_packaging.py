"""A built wheel carries the site templates and Datasette metadata and runs from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shipped_in_tree() -> set[str]:
    pkg = ROOT / "astrocat"
    wanted = {p for p in (pkg / "site" / "templates").rglob("*") if p.is_file()}
    wanted.add(pkg / "datasette" / "metadata.yml")
    return {p.relative_to(ROOT).as_posix() for p in wanted}


@pytest.mark.slow
def test_wheel_installed_into_a_target_folder_builds_the_demo_site_from_elsewhere(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = wheels.glob("astrocat-*.whl")
    target = tmp_path / "target"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = {p.relative_to(target).as_posix() for p in (target / "astrocat").rglob("*") if p.is_file()}
    missing = _shipped_in_tree() - installed
    assert not missing, f"not in the wheel: {sorted(missing)}"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("ASTROCAT_CONFIG", None)
    probe = subprocess.run([sys.executable, "-c", "import astrocat; print(astrocat.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, timeout=60)
    assert Path(probe.stdout.strip()).is_relative_to(target), probe.stdout + probe.stderr
    r = subprocess.run([sys.executable, "-m", "astrocat", "demo", "demo"], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    index = elsewhere / "demo" / "site" / "index.html"
    assert "M31" in index.read_text(encoding="utf-8")
    assert (elsewhere / "demo" / "site" / "assets" / "style.css").is_file()
