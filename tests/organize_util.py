"""Helpers for the organize tests: real FITS files, real (small) filesystems, tree hashes."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from astrocat.demo.fitswrite import write_fits


def write_frame(path: Path, index: int = 0, shape: tuple[int, int] = (16, 16), **cards: Any) -> str:
    """One small real FITS light (unless IMAGETYP says otherwise); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = datetime(2024, 11, 1, 21, 0, 0) + timedelta(seconds=200 * index)
    values: dict[str, Any] = {
        "IMAGETYP": "LIGHT", "EXPTIME": 180.0, "DATE-OBS": base.isoformat(timespec="seconds"),
        "OBJECT": "M31", "FILTER": "L", "INSTRUME": "ZWO ASI2600MM Pro", "TELESCOP": "Esprit 100",
        "XBINNING": 1, "YBINNING": 1, "CCD-TEMP": -10.0, "SEQNUM": index,
    }
    values.update(cards)
    data = ((np.arange(shape[0] * shape[1], dtype=np.uint32).reshape(shape) + index) % 60000).astype(np.uint16)
    write_fits(path, [(k, v, "") for k, v in values.items() if v is not None], data)
    return sha256(path)


def write_frames(folder: Path, n: int, start: int = 0, **cards: Any) -> dict[str, str]:
    """n distinct frames named like a capture program would; {absolute path: sha256}."""
    out = {}
    for i in range(start, start + n):
        p = folder / f"M31_L_180.00s_{i:04d}.fits"
        out[str(p)] = write_frame(p, i, **cards)
    return out


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def all_files(*roots: Path) -> list[Path]:
    """Every regular file under roots, hidden ones included."""
    out = []
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            out += [Path(folder) / f for f in files]
    return out


def set_pattern(config: Path, pattern: str) -> None:
    text = config.read_text()
    text = re.sub(r'(?m)^naming_pattern = ".*"$', f'naming_pattern = "{pattern}"', text)
    config.write_text(text)


def set_paths(config: Path, **paths: str) -> None:
    text = config.read_text()
    for key, value in paths.items():
        text = re.sub(rf'(?m)^{key} = "[^"]*"', f'{key} = "{value}"', text)
    config.write_text(text)


def can_mount() -> bool:
    return os.geteuid() == 0


@contextmanager
def tmpfs(path: Path, size: str = "4m", readonly: bool = False) -> Iterator[Path | None]:
    """A real small tmpfs at path (root only); yields None when mounting is not possible."""
    path.mkdir(parents=True, exist_ok=True)
    if not can_mount():
        yield None
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        yield None
        return
    try:
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def other_filesystem(tmp_path: Path) -> Iterator[Path | None]:
    """A folder on another filesystem than tmp_path: a tmpfs mount, else /dev/shm, else None."""
    with tmpfs(tmp_path / "otherfs", size="256m") as mnt:
        if mnt is not None:
            yield mnt
            return
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        import shutil
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="astrocat-test-", dir=shm))
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return
    yield None
