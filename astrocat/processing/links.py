"""Links in a processing session's folder: made, removed and repaired. A library frame
is only ever the target of a link or the source of a copy; nothing here writes to it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LINK_MODES = ("symlink", "hardlink", "copy")


class LinkError(Exception):
    """A link could not be made; the message names the file and the reason."""


def free_name(dst: Path, frame_id: int) -> Path:
    """dst, or dst with the frame id before the extension when the name is taken."""
    if not os.path.lexists(dst):
        return dst
    name = dst.name
    stem, dot, ext = name.partition(".")
    return dst.with_name(f"{stem}_{frame_id}{dot}{ext}")


def make_link(src: Path, dst: Path, mode: str) -> str:
    """Link (or copy) src at dst, never over an existing file. Falls back from symlink to
    hardlink to copy where the filesystem refuses (Windows without the privilege, FAT,
    another device). Returns the mode used."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(dst):
        raise LinkError(f"{dst}: already exists; not replaced")
    if not src.is_file():
        raise LinkError(f"{src}: the frame's file is not there")
    if mode == "symlink":
        try:
            os.symlink(src, dst)
            return "symlink"
        except OSError:
            mode = "hardlink"
    if mode == "hardlink":
        try:
            os.link(src, dst)
            return "hardlink"
        except OSError:
            mode = "copy"
    tmp = dst.with_name(f".astrocat-tmp-{dst.name}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise LinkError(f"{dst}: cannot copy {src}: {exc.strerror or exc}") from None
    return "copy"


def remove_link(path: Path, folder: Path, library: Path) -> bool:
    """Remove one link (or copy) of the session's folder. Refuses anything outside the
    folder and anything inside the library (a hard link's other name stays untouched)."""
    p = Path(os.path.abspath(path))
    if not p.is_relative_to(Path(os.path.abspath(folder))) or p.is_relative_to(Path(os.path.abspath(library))):
        raise LinkError(f"{p}: not a link of this processing session; left alone")
    if not os.path.lexists(p):
        return False
    if p.is_dir() and not p.is_symlink():
        raise LinkError(f"{p}: a folder, not a link; left alone")
    os.unlink(p)  # a symlink itself, never what it points to
    return True


def points_to(link: Path, target: Path) -> bool:
    try:
        return link.is_symlink() and Path(os.path.abspath(os.path.join(link.parent, os.readlink(link)))) == target
    except OSError:
        return False


def repoint(link: Path, target: Path) -> None:
    """Make a symlink point at target, atomically (a new link renamed over the old)."""
    tmp = link.with_name(f".astrocat-tmp-{link.name}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
