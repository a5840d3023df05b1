"""One writer at a time: a lock file beside the catalog.

filelock takes the operating system's lock (flock on POSIX, LockFileEx on Windows),
which the OS drops when its process dies, so a `kill -9` never leaves a stale lock
behind. Who holds it is written to a separate `<lock>.holder` file, only to be shown
to a process that finds the lock busy: filelock opens and, on Windows, locks the
lock file itself, so it cannot carry that note.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
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
    holder_path = Path(str(lock_path) + ".holder")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    filelock = _filelock()
    # a negative timeout means "forever" to filelock; here it means "one try"
    lock = filelock.FileLock(lock_path, timeout=max(wait_s, 0.0))
    try:
        lock.acquire(poll_interval=0.1)
    except filelock.Timeout:
        holder = _holder(holder_path)
        raise LockBusy(
            f"{lock_path}: another astrocat process is writing this catalog"
            f"{f' ({holder})' if holder else ''}; waited {wait_s:g} s, try again later"
        ) from None
    try:
        with suppress(OSError):  # the note is only information; the lock is what counts
            holder_path.write_text(f"pid {os.getpid()} {command}", encoding="utf-8")
        yield
    finally:
        with suppress(OSError):
            holder_path.unlink()
        lock.release()


def _filelock():
    """filelock, imported on first use. Where neither fcntl nor msvcrt exists it falls
    back to a lock file whose existence is the lock, and warns about that at import:
    astrocat still works there, so the warning would only be noise on every command."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="only soft file lock is available")
        import filelock
    return filelock


def _holder(holder_path: Path) -> str:
    try:
        return holder_path.read_text(encoding="utf-8", errors="replace").strip()[:100]
    except OSError:
        return ""
