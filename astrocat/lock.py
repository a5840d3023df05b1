"""One writer at a time: a lock file beside the catalog.

The lock is the operating system's (flock on POSIX, LockFileEx on Windows), which the OS
drops when its process dies, so a `kill -9` never leaves a stale lock behind. On POSIX
astrocat takes flock itself: that is a few lines, while importing filelock (it loads
asyncio, ssl and socket) cost 30-60 ms on every writing command. Elsewhere (Windows, or
a Python without fcntl) filelock does it. Who holds the lock is written to a separate
`<lock>.holder` file, only to be shown to a process that finds the lock busy: on Windows
the lock file itself is locked, so it cannot carry that note.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Callable, Iterator


# (st_dev, st_ino) of the lock files this process holds, for `_drop_inherited`
_held: dict[int, tuple[int, int]] = {}


def _drop_inherited() -> None:
    """In a forked child: close its copies of the held locks' descriptors.

    flock belongs to the open file, which a forked child shares: a child that outlived a
    killed parent would keep the catalog locked in a dead process's name. Closing (never
    unlocking) drops only the child's share."""
    if not _held:
        return
    keys = set(_held.values())
    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    try:
        fds = [int(n) for n in os.listdir(fd_dir) if n.isdigit()]
    except OSError:
        return
    for fd in fds:
        try:
            st = os.fstat(fd)
        except OSError:
            continue  # the descriptor of the listing itself, closed by now
        if (st.st_dev, st.st_ino) in keys:
            with suppress(OSError):
                os.close(fd)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited)


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
    release = _acquire(lock_path, max(wait_s, 0.0))  # a negative wait means one try
    if release is None:
        holder = _holder(holder_path)
        raise LockBusy(
            f"{lock_path}: another astrocat process is writing this catalog"
            f"{f' ({holder})' if holder else ''}; waited {wait_s:g} s, try again later"
        )
    try:
        with suppress(OSError):
            st = os.stat(lock_path)
            _held[id(release)] = (st.st_dev, st.st_ino)
        with suppress(OSError):  # the note is only information; the lock is what counts
            holder_path.write_text(f"pid {os.getpid()} {command}", encoding="utf-8")
        yield
    finally:
        _held.pop(id(release), None)
        with suppress(OSError):
            holder_path.unlink()
        release()


def _acquire(lock_path: Path, wait_s: float) -> Callable[[], None] | None:
    """Take the lock within `wait_s` seconds: its release function, or None. A lock file
    that cannot be opened or locked at all raises OSError, as filelock does."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is None or not hasattr(fcntl, "flock"):
        return _acquire_filelock(lock_path, wait_s)
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held by another process; any other error is raised
            os.close(fd)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(0.1, left))
            continue
        except OSError:
            os.close(fd)
            raise
        if os.fstat(fd).st_nlink == 0:  # removed between open and flock: lock the new file
            os.close(fd)
            continue

        def release(fd: int = fd) -> None:
            with suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

        return release


def _acquire_filelock(lock_path: Path, wait_s: float) -> Callable[[], None] | None:
    filelock = _filelock()
    lock = filelock.FileLock(lock_path, timeout=wait_s)
    try:
        lock.acquire(poll_interval=0.1)
    except filelock.Timeout:
        return None
    return lock.release


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
