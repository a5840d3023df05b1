"""Smoke test of the scan benchmark: it runs end to end and prints every figure.

No timing is asserted (timings are the benchmark's business, not the suite's)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_scan_runs_and_prints_a_ratio_per_contender(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    out.mkdir()
    (out / "mine.txt").write_text("not the benchmark's")
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scan.py"),
         "--files", "50", "--rescan-files", "50", "--repeat", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    text = r.stdout
    assert "generated 50 frames" in text
    number = r"\d+(\.\d+)?"
    for name in ("astrocat scan (cold, sha256)", "ccdproc ImageFileCollection", "astropy getheader loop"):
        # table row: seconds, files/s, ratio vs astrocat, CPU seconds
        assert re.search(rf"^{re.escape(name)}\s+{number}\s+[\d,]+\s+{number}x\s+{number}", text, re.M), text
    for peer in ("ccdproc ImageFileCollection", "astropy getheader loop"):
        assert re.search(rf"^ratio astrocat vs {re.escape(peer)}: {number}x faster \(target >= ", text, re.M), text
    assert re.search(rf"^rescan of 50 unchanged files: {number} s whole process", text, re.M), text
    # without --keep it removes what it made, and only that
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
