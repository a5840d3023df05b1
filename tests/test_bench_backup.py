"""Smoke test of the backup benchmark: it runs end to end against moto and awscli and prints
its figures. No timing is asserted (timings are the benchmark's business, not the suite's)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def test_bench_backup_runs_and_prints_the_ratio() -> None:
    need(shutil.which("aws") is not None, "awscli is not installed")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_backup.py"),
                        "--files", "3", "--size-mb", "1", "--repeat", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    number = r"\d+\.\d+"
    for name in ("astrocat backup upload", "aws s3 cp --recursive"):
        assert re.search(rf"^{re.escape(name)}\s+{number}\s+{number}\s+{number}x$", r.stdout, re.M), r.stdout
    assert re.search(rf"^throughput ratio astrocat / awscli: {number}x$", r.stdout, re.M)
