"""One writer at a time: an advisory lock file beside the catalog.

The kernel drops a flock when its process dies, so a `kill -9` never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class LockBusy(Exception):
    """Another astrocat process holds the lock; the message says which."""


@contextmanager
def catalog_lock(catalog: Path, command: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold `<catalog>.lock` for the duration; wait up to `wait_s`, then raise LockBusy.

    The default wait is 10 s, or `ASTROCAT_LOCK_WAIT_S` seconds when that is set."""
    if wait_s is None:
        try:
            wait_s = float(os.environ.get("ASTROCAT_LOCK_WAIT_S", "10"))
        except ValueError:
            wait_s = 10.0
    lock_path = Path(str(catalog) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(lock_path)
                    raise LockBusy(
                        f"{lock_path}: another astrocat process is writing this catalog"
                        f"{f' ({holder})' if holder else ''}; waited {wait_s:g} s, try again later"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} {command}".encode())
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _holder(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip()[:100]
    except OSError:
        return ""
