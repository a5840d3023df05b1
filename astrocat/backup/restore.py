"""Restore: ask the archive for copies, then download them, verified, never over other data.

Archived objects (Deep Archive, Glacier) are readable only after a restore request; each
request is recorded, reported as pending with its expected time, and the next run picks
it up. A download goes to a temporary name, is checked against the catalog's sha256 and
only then takes its name; an existing file with other content is never overwritten."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from astrocat.backup.client import S3, BackupError, describe, is_missing
from astrocat.backup.upload import library_rel
from astrocat.clock import now, utc_now
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.progress import ProgressFn
from astrocat.rules.backup import ARCHIVE_CLASSES, RESTORE_HOURS, restore_state, tier_refusal

TMP_SUFFIX = ".astrocat-restore"


@dataclass
class RestoreResult:
    selected: int = 0
    restored: int = 0
    already_there: int = 0
    requested: int = 0
    pending: list[dict[str, str]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    recataloged: int = 0

    @property
    def complete(self) -> bool:
        return not (self.pending or self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "complete": self.complete}


def select(db: Any, settings: Settings, session: str | None = None, target: str | None = None,
           glob: str | None = None) -> list[dict[str, Any]]:
    """Backed-up contents chosen by session, target or library path glob; one per sha256."""
    where, args = ["f.location IN ('library', 'missing')"], []
    if session:
        where.append("f.session_id = ?")
        args.append(session)
    if target:
        where.append("f.target = ?")
        args.append(target)
    cur = db.execute(
        "SELECT b.sha256, b.key, b.size, b.storage_class, f.path, f.mtime FROM backups b JOIN frames f "
        f"ON f.sha256 = b.sha256 WHERE {' AND '.join(where)} ORDER BY f.path", args)
    out, seen = [], set()
    for sha, key, size, cls, path, mtime in cur.fetchall():
        rel = library_rel(settings, path)
        if glob and not fnmatch.fnmatchcase(rel, glob):
            continue
        if sha in seen:
            continue
        seen.add(sha)
        out.append({"sha256": sha, "key": key, "size": size, "storage_class": cls, "rel": rel, "mtime": mtime})
    return out


def select_from_manifests(s3: S3, prefix: str, session: str | None = None, target: str | None = None,
                          glob: str | None = None) -> list[dict[str, Any]]:
    """The same choice made from the session manifests in the bucket: for a catalog that
    was lost (a new computer, a damaged disk) and so has no backup records."""
    import json

    from astrocat.backup.upload import list_keys
    from astrocat.rules.backup import object_key

    out, seen = [], set()
    try:
        keys = sorted(list_keys(s3, object_key(prefix, "manifests") + "/"))
        for key in keys:
            manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
            if session and manifest.get("session") != session:
                continue
            for f in manifest.get("frames", []):
                if target and f.get("header", {}).get("target") != target:
                    continue
                if glob and not fnmatch.fnmatchcase(f["path"], glob):
                    continue
                if f["sha256"] in seen:
                    continue
                seen.add(f["sha256"])
                out.append({"sha256": f["sha256"], "key": f["key"], "size": f["size"],
                            "storage_class": f.get("storage_class", "STANDARD"), "rel": f["path"],
                            "mtime": f.get("mtime")})
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"a session manifest in the bucket is not readable ({type(exc).__name__})") from None
    except BackupError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise describe(s3, exc, "read the manifests in") from None
    return sorted(out, key=lambda i: i["rel"])


def refusal(items: list[dict[str, Any]], tier: str) -> str | None:
    """Why this tier cannot restore these objects (checked before any request)."""
    for cls in sorted({i["storage_class"] for i in items}):
        why = tier_refusal(cls, tier)
        if why:
            return why
    return None


def restore(db: Any, settings: Settings, s3: S3, items: list[dict[str, Any]], to: Path, tier: str = "Bulk",
            progress: ProgressFn | None = None) -> RestoreResult:
    """Request, or download, each item into `to` (its library path below it)."""
    assert settings.backup is not None
    result = RestoreResult(selected=len(items))
    written: list[Path] = []
    total, done = sum(i["size"] for i in items), 0
    for item in items:
        dest = to / item["rel"]
        try:
            _one(db, settings, s3, item, dest, tier, result, written)
        except BackupError as exc:
            if exc.config:
                raise
            result.problems.append({"path": str(dest), "reason": str(exc)})
        except OSError as exc:
            result.problems.append({"path": str(dest), "reason": exc.strerror or str(exc)})
        done += item["size"]
        if progress:
            progress(done, total, item["rel"])
    if written and _inside(to, settings.library):
        from astrocat.ingest.scan import scan

        res = scan(db, settings, roots=sorted({p.parent for p in written}))
        result.recataloged = res.new + res.changed + res.unchanged
    return result


def _one(db: Any, settings: Settings, s3: S3, item: dict[str, Any], dest: Path, tier: str,
         result: RestoreResult, written: list[Path]) -> None:
    if dest.exists():
        if sha256_file(dest) == item["sha256"]:
            result.already_there += 1
            _close_requests(db, item["key"], "done")
            return
        result.problems.append({"path": str(dest), "reason": "exists with other content; not overwritten"})
        return
    try:
        head = s3.client.head_object(Bucket=s3.bucket, Key=item["key"])
    except Exception as exc:  # noqa: BLE001
        if is_missing(exc):
            result.problems.append({"path": str(dest), "reason": f"{item['key']} is not in the bucket"})
            return
        raise describe(s3, exc, "read", item["key"]) from None
    cls = head.get("StorageClass") or "STANDARD"
    state = restore_state(head.get("Restore"))
    if cls in ARCHIVE_CLASSES and state != "restored":
        why = tier_refusal(cls, tier)
        if why:
            raise BackupError(why, config=True)
        _request(db, settings, s3, item, dest, cls, tier, state, result)
        return
    _download(s3, item, dest)
    written.append(dest)
    result.restored += 1
    _close_requests(db, item["key"], "done")


def _request(db: Any, settings: Settings, s3: S3, item: dict[str, Any], dest: Path, cls: str, tier: str,
             state: str, result: RestoreResult) -> None:
    row = db.execute("SELECT tier, ready_by FROM backup_restores WHERE key = ? AND state = 'pending' "
                     "ORDER BY id DESC LIMIT 1", [item["key"]]).fetchone()
    if state == "none" and row is not None:
        # the archive knows of no restore: the copy asked for expired before it was downloaded
        with db.conn:
            db.execute("UPDATE backup_restores SET state = 'failed', finished_at = ?, error = ? "
                       "WHERE key = ? AND state = 'pending'",
                       [utc_now(), "the restored copy expired before it was downloaded; asked again", item["key"]])
        row = None
    if state == "none":
        assert settings.backup is not None
        try:
            s3.client.restore_object(Bucket=s3.bucket, Key=item["key"], RestoreRequest={
                "Days": settings.backup.restore_days, "GlacierJobParameters": {"Tier": tier}})
        except Exception as exc:  # noqa: BLE001
            from botocore.exceptions import ClientError

            if not (isinstance(exc, ClientError)
                    and exc.response.get("Error", {}).get("Code") == "RestoreAlreadyInProgress"):
                raise describe(s3, exc, "request a restore of", item["key"]) from None
        hours = RESTORE_HOURS.get((cls, tier), 48)
        ready_by = (now() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        with db.conn:
            db.execute("INSERT INTO backup_restores (sha256, key, dest, tier, requested_at, ready_by, state) "
                       "VALUES (?, ?, ?, ?, ?, ?, 'pending')",
                       [item["sha256"], item["key"], str(dest), tier, utc_now(), ready_by])
        result.requested += 1
        row = (tier, ready_by)
    result.pending.append({"path": str(dest), "key": item["key"], "tier": row[0] if row else tier,
                           "ready_by": row[1] if row else "unknown"})


def _close_requests(db: Any, key: str, state: str) -> None:
    with db.conn:
        db.execute("UPDATE backup_restores SET state = ?, finished_at = ? WHERE key = ? AND state = 'pending'",
                   [state, utc_now(), key])


def _download(s3: S3, item: dict[str, Any], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + TMP_SUFFIX)
    h = hashlib.sha256()
    try:
        try:
            body = s3.client.get_object(Bucket=s3.bucket, Key=item["key"])["Body"]
            with open(tmp, "wb") as f:
                for chunk in iter(lambda: body.read(8 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise describe(s3, exc, "download", item["key"]) from None
        if h.hexdigest() != item["sha256"]:
            raise BackupError(f"{item['key']}: downloaded content has sha256 {h.hexdigest()}, "
                              f"not the catalog's {item['sha256']}; not restored")
        if item.get("mtime"):
            os.utime(tmp, (item["mtime"], item["mtime"]))
        try:
            os.link(tmp, dest)  # fails if dest appeared meanwhile: never overwrite
        except FileExistsError:
            raise BackupError("appeared while restoring; not overwritten") from None
        except OSError:
            if dest.exists():
                raise BackupError("appeared while restoring; not overwritten") from None
            os.rename(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def pending(db: Any) -> list[dict[str, Any]]:
    cur = db.execute("SELECT key, dest, tier, requested_at, ready_by FROM backup_restores WHERE state = 'pending' "
                     "ORDER BY id")
    return [dict(zip(("key", "dest", "tier", "requested_at", "ready_by"), r)) for r in cur.fetchall()]


def _inside(folder: Path, root: Path) -> bool:
    try:
        return Path(os.path.abspath(folder)).resolve().is_relative_to(root.resolve())
    except OSError:
        return False
