"""Test hooks for the crash and failure tests; never needed in normal use.

Environment variables, read only when set:
`ASTROCAT_TEST_PAUSE_AT=step:n` stops at the n-th time `step` is reached (writes
`ASTROCAT_TEST_PAUSE_FILE`, then sleeps, for a test to kill the process);
`ASTROCAT_TEST_STEP_DELAY=seconds` sleeps at every step; `ASTROCAT_TEST_FAIL_WRITE_AFTER=n`
makes the copy fail with ENOSPC after n bytes; `ASTROCAT_TEST_FORCE_COPY=1` uses the copy
protocol even within one filesystem.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

# The steps a move reaches, in order (the names ASTROCAT_TEST_PAUSE_AT takes).
STEPS = ("journaled", "linked", "copied", "verified", "placed", "filed", "source_removed", "done")


class Hooks:
    """Pause/delay/failure injection, configured from the environment once per run."""

    def __init__(self) -> None:
        env = os.environ
        spec = env.get("ASTROCAT_TEST_PAUSE_AT", "")
        self.pause_step, _, n = spec.partition(":")
        self.pause_n = int(n or 1) if self.pause_step else 0
        self.pause_file = env.get("ASTROCAT_TEST_PAUSE_FILE")
        self.delay = float(env.get("ASTROCAT_TEST_STEP_DELAY", "0") or 0)
        fail = env.get("ASTROCAT_TEST_FAIL_WRITE_AFTER")
        self.fail_after = int(fail) if fail else None
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, step: str) -> None:
        if self.delay:
            time.sleep(self.delay)
        if not self.pause_step:
            return
        with self.lock:
            self.counts[step] = self.counts.get(step, 0) + 1
            hit = step == self.pause_step and self.counts[step] == self.pause_n
        if hit:
            if self.pause_file:
                Path(self.pause_file).write_text(f"{os.getpid()} {step} {self.pause_n}\n")
            time.sleep(3600)


def force_copy() -> bool:
    """ASTROCAT_TEST_FORCE_COPY: the copy protocol even where a hard link would do."""
    return os.environ.get("ASTROCAT_TEST_FORCE_COPY", "") not in ("", "0")
