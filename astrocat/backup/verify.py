"""Verify: each object's stored SHA-256 and metadata against the catalog, without
downloading (so it works on Deep Archive objects); `download` re-hashes readable ones."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from astrocat.backup.client import S3, describe, is_missing
from astrocat.backup.upload import library_frames, library_rel, list_keys
from astrocat.clock import utc_now
from astrocat.config import Settings
from astrocat.progress import ProgressFn
from astrocat.rules.backup import ARCHIVE_CLASSES, b64_sha256, frame_key, object_key, restore_state


@dataclass
class VerifyResult:
    checked: int = 0
    ok: int = 0
    downloaded: int = 0
    missing: list[dict[str, str]] = field(default_factory=list)
    mismatched: list[dict[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    changed_locally: list[dict[str, str]] = field(default_factory=list)
    not_backed_up: int = 0
    elapsed_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.mismatched or self.unexpected or self.changed_locally)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "clean": self.clean}


def same_checksum(stored: str, recorded: str) -> bool:
    """A stored checksum against the recorded one. A multipart object's is `digest-N`; some
    servers leave out `-N`, so the part count is compared only when both give it."""
    s_digest, _, s_parts = stored.partition("-")
    r_digest, _, r_parts = recorded.partition("-")
    return s_digest == r_digest and (not s_parts or not r_parts or s_parts == r_parts)


def check_head(row: dict[str, Any], head: dict[str, Any]) -> list[str]:
    """What disagrees between a backup record and the object's HEAD (pure)."""
    bad = []
    stored = head.get("ChecksumSHA256")
    if stored is None:
        bad.append("no SHA-256 checksum stored with the object")
    elif not same_checksum(stored, row["checksum"]):
        bad.append(f"stored checksum {stored} is not the uploaded {row['checksum']}")
    if "-" not in row["checksum"] and row["checksum"] != b64_sha256(row["sha256"]):
        bad.append("the recorded checksum is not the catalog's sha256")
    meta = head.get("Metadata", {}).get("sha256")
    if meta != row["sha256"]:
        bad.append(f"metadata sha256 {meta} is not the catalog's {row['sha256']}")
    if head.get("ContentLength") != row["size"]:
        bad.append(f"size {head.get('ContentLength')} is not {row['size']}")
    return bad


def verify(db: Any, settings: Settings, s3: S3, session: str | None = None, download: bool = False,
           progress: ProgressFn | None = None) -> VerifyResult:
    """Check every backed-up content (of one session with `session`); records the run."""
    assert settings.backup is not None
    started, result = time.perf_counter(), VerifyResult()
    frames = library_frames(db, settings, session)
    shas = {f["sha256"] for f in frames}
    rows = [dict(zip(("sha256", "key", "size", "checksum", "storage_class"), r)) for r in
            db.execute("SELECT sha256, key, size, checksum, storage_class FROM backups ORDER BY key").fetchall()]
    if session:
        rows = [r for r in rows if r["sha256"] in shas]
    by_key = {r["key"]: r for r in rows}
    # a library file now holding other content than the object at its key (unless that
    # content is still in the library under another name: a relayout gave the name away)
    in_library = {f["sha256"] for f in (library_frames(db, settings) if session else frames)}
    for f in frames:
        key = frame_key(settings.backup.prefix, library_rel(settings, f["path"]))
        r = by_key.get(key)
        if r and r["sha256"] != f["sha256"] and r["sha256"] not in in_library:
            result.changed_locally.append({"path": f["path"], "key": key,
                                           "reason": "the local file differs from its backup (kept as archived)"})
    backed = {r["sha256"] for r in rows}
    result.not_backed_up = len(shas - backed)
    run_id = _start_run(db, session)

    def one(row: dict[str, Any]) -> tuple[dict[str, Any], str, list[str]]:
        try:
            head = s3.client.head_object(Bucket=s3.bucket, Key=row["key"], ChecksumMode="ENABLED")
        except Exception as exc:  # noqa: BLE001
            if is_missing(exc):
                return row, "missing", ["not in the bucket"]
            raise describe(s3, exc, "read", row["key"]) from None
        bad = check_head(row, head)
        if not bad and download and _readable(head):
            got = _download_sha(s3, row["key"])
            if got != row["sha256"]:
                bad.append(f"downloaded content has sha256 {got}")
            return row, "mismatch" if bad else "ok-downloaded", bad
        return row, "mismatch" if bad else "ok", bad

    with ThreadPoolExecutor(max_workers=settings.backup.concurrency) as pool:
        for n, (row, verdict, reasons) in enumerate(pool.map(one, rows), 1):
            result.checked += 1
            if verdict == "missing":
                result.missing.append({"key": row["key"], "reason": reasons[0]})
            elif verdict == "mismatch":
                result.mismatched.append({"key": row["key"], "reason": "; ".join(reasons)})
            else:
                result.ok += 1
                result.downloaded += verdict == "ok-downloaded"
            with db.conn:
                db.execute("UPDATE backups SET state = ?, verified_at = ? WHERE sha256 = ?",
                           ["ok" if verdict.startswith("ok") else verdict, utc_now(), row["sha256"]])
            if progress:
                progress(n, len(rows), row["key"])
    if not session:
        try:
            listed = list_keys(s3, object_key(settings.backup.prefix, "frames") + "/")
        except Exception as exc:  # noqa: BLE001
            raise describe(s3, exc, "list") from None
        result.unexpected = sorted(k for k in listed if k not in by_key)
    result.elapsed_s = round(time.perf_counter() - started, 3)
    _finish_run(db, run_id, result)
    return result


def _readable(head: dict[str, Any]) -> bool:
    return head.get("StorageClass") not in ARCHIVE_CLASSES or restore_state(head.get("Restore")) == "restored"


def _download_sha(s3: S3, key: str) -> str:
    h = hashlib.sha256()
    body = s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(8 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def _start_run(db: Any, session: str | None) -> int:
    with db.conn:
        cur = db.execute("INSERT INTO backup_verify_runs (started_at, scope) VALUES (?, ?)",
                         [utc_now(), f"session {session}" if session else "all"])
    return cur.lastrowid


def _finish_run(db: Any, run_id: int, r: VerifyResult) -> None:
    with db.conn:
        db.execute(
            "UPDATE backup_verify_runs SET finished_at = ?, checked = ?, ok = ?, missing = ?, mismatched = ?, "
            "unexpected = ?, changed_locally = ?, downloaded = ? WHERE id = ?",
            [utc_now(), r.checked, r.ok, len(r.missing), len(r.mismatched), len(r.unexpected),
             len(r.changed_locally), r.downloaded, run_id])
