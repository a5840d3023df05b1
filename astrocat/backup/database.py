"""`backup-database`: a consistent snapshot of the catalog (SQLite's backup API, never a
copy of the live WAL files) and the notes folder, as dated objects; N versions are kept."""

from __future__ import annotations

import io
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrocat.backup.client import S3, describe
from astrocat.clock import now
from astrocat.config import Settings
from astrocat.rules.backup import database_prefix


@dataclass
class DatabaseResult:
    stamp: str
    keys: list[str] = field(default_factory=list)
    bytes: int = 0
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def snapshot(catalog: Path, dest: Path) -> None:
    """The catalog as one consistent file, read while other readers and writers may work."""
    src = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=10)
    try:
        out = sqlite3.connect(str(dest))
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()


def notes_archive(notes: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if notes.is_dir():
            tar.add(notes, arcname=notes.name)
    return buf.getvalue()


def backup_database(settings: Settings, s3: S3) -> DatabaseResult:
    b = settings.backup
    assert b is not None
    t = now()
    stamp = t.strftime("%Y-%m-%dT%H%M%S") + f".{t.microsecond // 1000:03d}Z"  # sorts as it reads
    root = database_prefix(b.prefix)
    result = DatabaseResult(stamp)
    with tempfile.TemporaryDirectory(prefix="astrocat-db-") as tmp:
        snap = Path(tmp) / "catalog.db"
        snapshot(settings.catalog, snap)
        uploads = [(f"{root}{stamp}/catalog.db", snap.read_bytes()),
                   (f"{root}{stamp}/notes.tar.gz", notes_archive(settings.notes))]
        for key, body in uploads:
            try:
                s3.client.put_object(Bucket=s3.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                                     StorageClass=b.meta_class)
            except Exception as exc:  # noqa: BLE001
                raise describe(s3, exc, "upload", key) from None
            result.keys.append(key)
            result.bytes += len(body)
    result.removed = prune(s3, root, b.database_versions)
    return result


def versions(s3: S3, root: str) -> dict[str, list[str]]:
    """Dated snapshot folder -> its keys, oldest first."""
    out: dict[str, list[str]] = {}
    try:
        for page in s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=root):
            for obj in page.get("Contents", []):
                stamp = obj["Key"][len(root):].split("/", 1)[0]
                out.setdefault(stamp, []).append(obj["Key"])
    except Exception as exc:  # noqa: BLE001
        raise describe(s3, exc, "list") from None
    return dict(sorted(out.items()))


def prune(s3: S3, root: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` snapshots."""
    found = versions(s3, root)
    old = list(found)[:-keep] if len(found) > keep else []
    removed = [k for stamp in old for k in found[stamp]]
    for i in range(0, len(removed), 1000):
        try:
            s3.client.delete_objects(Bucket=s3.bucket, Delete={"Objects": [{"Key": k} for k in removed[i:i + 1000]]})
        except Exception as exc:  # noqa: BLE001
            raise describe(s3, exc, "delete old snapshots in") from None
    return removed
