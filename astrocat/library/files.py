"""File operations of a move: no-overwrite placing, durable copies, fsync, free space.

Nothing here reads or writes the catalog. Errors are sorted by whom they concern:
`DestinationError` (the destination disk as a whole: the run stops), `SourceError`
(this one file: the run goes on), `Collision` (the name is taken: never overwritten).
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = ".astrocat-tmp-"
CHUNK = 8 << 20
# O_BINARY: without it Windows opens in text mode and would rewrite line ends and stop at ^Z
_OPEN_FLAGS = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
FREE_SPACE_MARGIN = 1 << 20
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}
GONE = "the file is gone since it was scanned; run `astrocat scan`"


class DestinationError(Exception):
    """Writing the destination failed; the run stops (full disk, read-only, no permission)."""


class SourceError(Exception):
    """This one source cannot be moved (gone, changed, unreadable); the run goes on."""


class Collision(Exception):
    """The destination name exists: it is never overwritten."""


def describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def fsync_dir(path: str | os.PathLike) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the data itself was fsynced
    finally:
        os.close(fd)


def device_of(path: str | os.PathLike) -> int:
    """st_dev of the nearest existing folder at or above `path`."""
    p = Path(path)
    while True:
        try:
            return os.stat(p).st_dev
        except FileNotFoundError:
            if p.parent == p:
                raise
            p = p.parent


def place(src: str, dst: str) -> str:
    """Give `src`'s file the name `dst` without ever replacing an existing `dst`.

    Returns 'link' (both names exist now; caller removes src) or 'rename' (src is gone).
    """
    try:
        os.link(src, dst)
        return "link"
    except FileExistsError:
        raise Collision(dst) from None
    except OSError as exc:
        # EINVAL: Windows' answer on FAT/exFAT (ERROR_INVALID_FUNCTION)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV,
                             errno.EINVAL):
            raise
    # no hard links here (FAT, exFAT, some network shares): we hold the catalog lock, so
    # checking first then renaming races only with programs writing into the library
    if os.path.lexists(dst):
        raise Collision(dst)
    os.rename(src, dst)
    return "rename"


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def tmp_name(dst_catalog_path: str, move_id: int) -> str:
    """The temporary copy's name: in the destination folder, so placing it is a link."""
    folder = os.path.dirname(dst_catalog_path)
    return f"{folder}/{TMP_PREFIX}{move_id}" if folder else f"{TMP_PREFIX}{move_id}"


def check_free_space(folder: str, size: int) -> None:
    """DestinationError unless `size` bytes (and a margin) fit in `folder`."""
    free = shutil.disk_usage(folder).free
    if free < size + FREE_SPACE_MARGIN:
        raise DestinationError(f"not enough free space in {folder}: {size} bytes needed, {free} free")


def positioned_reader(fd: int) -> Callable[[memoryview, int], int]:
    """read_at(view, offset) -> bytes read into view. preadv reads straight into the
    buffer; pread (no preadv: older macOS) copies once; Windows has neither, so seek
    and read there."""
    if hasattr(os, "preadv"):
        return lambda view, offset: os.preadv(fd, [view], offset)
    if hasattr(os, "pread"):
        def pread(view: memoryview, offset: int) -> int:
            data = os.pread(fd, len(view), offset)
            view[: len(data)] = data
            return len(data)
        return pread
    f = io.FileIO(fd, "rb", closefd=False)

    def seek_read(view: memoryview, offset: int) -> int:
        f.seek(offset)
        return f.readinto(view) or 0
    return seek_read


def copy_bytes(src_fd: int, dst_fd: int, fail_after: int | None = None) -> int:
    """Copy everything from src_fd to dst_fd (kernel sendfile, else read/write).

    `fail_after`: a test hook; fail with ENOSPC after that many bytes."""
    total = 0
    use_sendfile = hasattr(os, "sendfile")
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    read_at = positioned_reader(src_fd)
    while True:
        want = CHUNK * 4
        if fail_after is not None:
            if total >= fail_after:
                raise DestinationError(os.strerror(errno.ENOSPC))
            want = min(want, fail_after - total)
        if use_sendfile:
            try:
                n = os.sendfile(dst_fd, src_fd, total, want)
            except OSError as exc:
                if exc.errno in _NO_SENDFILE and total == 0:
                    use_sendfile = False
                    continue
                # the kernel does not say which side failed; stopping the run is the safe answer
                raise DestinationError(describe(exc)) from exc
            if n == 0:
                return total
            total += n
            continue
        try:
            n = read_at(view[:want], total)
        except OSError as exc:
            raise SourceError(f"read error: {describe(exc)}") from None
        if n == 0:
            return total
        off = 0
        while off < n:
            try:
                off += os.write(dst_fd, view[off:n])
            except OSError as exc:
                raise DestinationError(describe(exc)) from exc
        total += n


def copy_to_tmp(src: str, tmp: str, fail_after: int | None = None) -> os.stat_result:
    """Copy src to tmp (new file), keep its times, fsync. Returns the source's stat."""
    try:
        sfd = os.open(src, os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        raise SourceError(GONE) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {describe(exc)}") from None
    try:
        st = os.fstat(sfd)
        try:
            dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise DestinationError(f"cannot create {tmp}: {describe(exc)}") from exc
        try:
            copy_bytes(sfd, dfd, fail_after)
            # a read-only frame stays read-only. Windows (no fchmod) has only a read-only
            # flag, which would also stop the temporary copy from being removed on failure.
            if hasattr(os, "fchmod"):
                try:
                    os.fchmod(dfd, stat.S_IMODE(st.st_mode))
                except OSError:
                    pass  # FAT/exFAT and some shares have no permissions to keep
            os.utime(dfd if os.utime in os.supports_fd else tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            try:
                os.fsync(dfd)
            except OSError as exc:
                raise DestinationError(f"fsync failed: {describe(exc)}") from exc
        except BaseException:
            os.close(dfd)
            dfd = -1
            unlink_quiet(tmp)
            raise
        finally:
            if dfd >= 0:
                os.close(dfd)
    finally:
        os.close(sfd)
    return st


def remove_copied_source(src: str, st: os.stat_result | None, copy_name: str) -> str | None:
    """Remove a copied source unless it changed while it was copied; the reason it was kept."""
    try:
        now = os.stat(src)
    except FileNotFoundError:
        return None
    if st is not None and (now.st_size, now.st_mtime_ns, now.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino):
        os.unlink(src)
        return None
    return f"the source changed while it was copied; the verified copy is {copy_name}, the source was kept"


def prune_empty_dirs(root: Path) -> None:
    """Remove folders a relayout emptied (only inside `root`, never `root` itself)."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        if Path(folder) == root or files:
            continue
        try:
            os.rmdir(folder)
        except OSError:
            pass
