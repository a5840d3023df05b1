"""What every benchmark shares: interleaved rounds, medians with their spread, whole processes.

Figures hold only when contenders run under the same conditions, so:

- contenders run interleaved (A B A B ..., the order reversed every other round), never all
  of one side and then all of the other;
- a figure is the median of the rounds, printed with its spread (min..max), never a minimum;
- a peer is timed as a whole process, the way a user runs it (start-up included), and so is
  astrocat (`astrocat_cmd`);
- the machine's load is printed with the figures (`load()`), so a reader can judge them.

Usage inside a benchmark:

    stats = interleave({"astrocat": lambda r: process(astrocat_cmd("sync"), cwd=lib).wall,
                        "rsync": lambda r: process(["rsync", ...]).wall}, rounds=5)
    print_table(stats, baseline="rsync")
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """One whole process: wall seconds, CPU seconds (user + system) and peak resident memory."""

    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class Stats:
    runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.runs), max(self.runs)

    def __str__(self) -> str:
        lo, hi = self.spread
        return f"{fmt(self.median)} (spread {fmt(lo)}..{fmt(hi)}, n={len(self.runs)})"


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def env() -> dict[str, str]:
    """The environment for astrocat processes: this checkout first on the path."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def astrocat_cmd(*args: str) -> list[str]:
    """astrocat as a user runs it: a new interpreter, start-up included."""
    return [sys.executable, "-m", "astrocat", *args]


def process(cmd: Sequence[str], cwd: Path | None = None, check: bool = True,
            environ: dict[str, str] | None = None) -> Run:
    """Run a whole process; its own wall time, CPU time and peak RSS (from wait4).

    Linux keeps a process's high-water mark across exec, so `peak_mb` includes what the
    process had at fork: this harness's own size (about 14 MB for a bare interpreter).
    For an exact peak, run the command under GNU time (`/usr/bin/time -f %M`), as
    bench_listing and bench_site do."""
    import tempfile
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        p = subprocess.Popen(list(cmd), cwd=cwd, env=environ or env(), text=True,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    run = Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, p.returncode, stdout, stderr)
    if check and run.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {run.returncode}: {stderr.strip()[-500:]}")
    return run


def interleave(contenders: dict[str, Callable[[int], float]], rounds: int,
               warmup: bool = True) -> dict[str, Stats]:
    """Time each contender `rounds` times, interleaved (order reversed every other round).

    Each callable gets the round number and returns the seconds it measured (so it may
    reset its own state outside the timed part)."""
    names = list(contenders)
    if warmup:
        for name in names:
            contenders[name](-1)
    stats = {name: Stats() for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else reversed(names)):
            stats[name].runs.append(contenders[name](r))
    return stats


def ratio(stats: dict[str, Stats], ours: str, peer: str) -> float:
    """How many times faster `ours` is than `peer` (median of per-round ratios)."""
    return statistics.median(p / o for o, p in zip(stats[ours].runs, stats[peer].runs, strict=True))


def load() -> str:
    """The machine's load while the figures were taken."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unavailable"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def print_table(stats: dict[str, Stats], baseline: str | None = None, title: str = "") -> None:
    if title:
        print(title)
    width = max(len(n) for n in stats)
    for name, s in stats.items():
        extra = ""
        if baseline and name != baseline:
            extra = f"   {ratio(stats, name, baseline):.2f}x the speed of {baseline}"
        print(f"  {name:<{width}}  {s}{extra}")
    print(f"  ({load()})")
