"""The one sha256 streamer for whole files (scan, organize, verify, purge)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat

CHUNK = 8 << 20


def sha256_file(path: str | os.PathLike, drop_cache: bool = False) -> str:
    """sha256 of a file; with drop_cache the page cache is dropped first, so the bytes
    come from the disk rather than from memory (after an fsync)."""
    h = hashlib.sha256()
    # O_NONBLOCK: a FIFO named like a frame must not hang the open; it is refused below
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
                 | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        if drop_cache and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            buf = bytearray(min(CHUNK, os.fstat(fd).st_size + 1))
            view = memoryview(buf)
            while n := f.readinto(buf):
                h.update(view[:n])
    finally:
        os.close(fd)
    return h.hexdigest()
