"""Upload: each library file once, as one object checked by its catalog sha256.

What to send is decided from the `backups` table (sha256 -> key), so a run with nothing
new sends nothing and a frame whose library path changed is not sent again. Each object
is recorded as soon as it is complete; an interrupted run resumes: a finished object is
found by a HEAD, a multipart upload continues from the parts the server already holds."""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrocat.backup.client import S3, BackupError, Throttle, ThrottledReader, describe, is_missing
from astrocat.clock import utc_now
from astrocat.config import Settings
from astrocat.hashing import sha256_file
from astrocat.progress import ProgressFn
from astrocat.rules.backup import alternate_key, b64_sha256, frame_key, manifest_key, parts_of

LIST_OVER = 20  # more files to send than this: list the bucket once rather than a HEAD each
MANIFEST_FIELDS = ("frame_type", "target", "filter", "exposure_s", "date_obs", "camera", "telescope", "night")


@dataclass
class Item:
    sha256: str
    path: str  # the catalog path
    rel: str  # relative to the library
    size: int
    session_id: str | None
    key: str


@dataclass
class Plan:
    todo: list[Item] = field(default_factory=list)
    already: int = 0  # contents with a backup record
    changed: list[dict[str, str]] = field(default_factory=list)  # a different content at a backed-up key

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.todo)


@dataclass
class UploadResult:
    dry_run: bool = False
    planned: int = 0
    uploaded: int = 0
    found: int = 0  # complete on the server from an interrupted run: recorded, not sent
    parts_reused: int = 0
    bytes_sent: int = 0
    already: int = 0
    manifests: int = 0
    elapsed_s: float = 0.0
    problems: list[dict[str, str]] = field(default_factory=list)
    changed: list[dict[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["bytes_per_s"] = round(self.bytes_sent / self.elapsed_s) if self.elapsed_s else 0
        return d


def library_frames(db: Any, settings: Settings, session: str | None = None, year: str | None = None) -> list[dict]:
    """Present library frames with a sha256, one row per path."""
    where, args = ["location = 'library'", "sha256 IS NOT NULL"], []
    if session:
        where.append("session_id = ?")
        args.append(session)
    if year:
        where.append("substr(night, 1, 4) = ?")
        args.append(str(year))
    cols = ", ".join(("path", "sha256", "size", "mtime", "session_id") + MANIFEST_FIELDS)
    cur = db.execute(f"SELECT {cols} FROM frames WHERE {' AND '.join(where)} ORDER BY path", args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def library_rel(settings: Settings, catalog_path: str) -> str:
    return Path(os.path.relpath(settings.abs(catalog_path), settings.library)).as_posix()


def plan(db: Any, settings: Settings, session: str | None = None, year: str | None = None) -> Plan:
    b = settings.backup
    assert b is not None
    done = dict(db.execute("SELECT sha256, key FROM backups").fetchall())
    key_sha = {k: s for s, k in done.items()}
    out, seen = Plan(), set()
    in_library = {r["sha256"] for r in library_frames(db, settings)} if key_sha else set()
    for row in library_frames(db, settings, session, year):
        sha = row["sha256"]
        if sha in seen:
            continue  # a second library copy of the same content
        seen.add(sha)
        if sha in done:
            out.already += 1
            continue
        rel = library_rel(settings, row["path"])
        key = frame_key(b.prefix, rel)
        if key in key_sha and key_sha[key] in in_library:
            key = alternate_key(key, sha)  # the old content moved on (relayout): this is another frame
        elif key in key_sha:
            out.changed.append({"path": row["path"], "key": key,
                                "reason": "changed since its upload (the archived copy is kept, not overwritten)"})
            continue
        out.todo.append(Item(sha, row["path"], rel, row["size"], row["session_id"], key))
    return out


class _Sender:
    """Sends one item; runs in worker threads (the boto3 client is thread-safe)."""

    def __init__(self, s3: S3, settings: Settings, on_server: set[str] | None):
        assert settings.backup is not None
        self.s3, self.settings, self.b = s3, settings, settings.backup
        self.throttle = Throttle(self.b.bandwidth_limit)
        self.on_server = on_server  # keys listed before the run (None: not listed, HEAD each)

    def send(self, item: Item) -> dict[str, Any]:
        path = self.settings.abs(item.path)
        try:
            if os.path.getsize(path) != item.size or sha256_file(path) != item.sha256:
                return {"problem": "changed since the last scan; run `astrocat scan` first"}
        except OSError as exc:
            return {"problem": f"cannot read ({exc.strerror or exc})"}
        try:
            found = self._existing(item)
            if found is not None:
                return found
            if item.size <= self.b.multipart_threshold:
                return self._put(item, path)
            return self._multipart(item, path)
        except BackupError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line per file
            err = describe(self.s3, exc, "upload", item.key)
            if err.config:
                raise err from None
            return {"problem": str(err)}

    def _existing(self, item: Item) -> dict[str, Any] | None:
        """A complete object from an interrupted run: recorded without sending it again."""
        if self.on_server is not None and item.key not in self.on_server:
            return None
        try:
            head = self.s3.client.head_object(Bucket=self.s3.bucket, Key=item.key, ChecksumMode="ENABLED")
        except Exception as exc:  # noqa: BLE001
            if is_missing(exc):
                return None
            raise
        stored = head.get("ChecksumSHA256") or ""
        if head.get("Metadata", {}).get("sha256") == item.sha256 and head.get("ContentLength") == item.size:
            if not stored:  # a server that keeps no checksums: `verify` will say so
                checksum = b64_sha256(item.sha256)
            elif item.size <= self.b.multipart_threshold and stored == b64_sha256(item.sha256):
                checksum = stored
            elif item.size > self.b.multipart_threshold and stored:
                # a multipart object; servers that leave out the part count get it added
                checksum = stored if "-" in stored else f"{stored}-{len(parts_of(item.size, self.b.part_size))}"
            else:
                checksum = ""
            if checksum:
                return {"checksum": checksum, "class": head.get("StorageClass") or "STANDARD", "sent": 0,
                        "found": True}
        return {"problem": f"{item.key}: another object is already at this key; left as it is (not overwritten)"}

    def _put(self, item: Item, path: Path) -> dict[str, Any]:
        checksum = b64_sha256(item.sha256)
        with open(path, "rb") as f:
            body = ThrottledReader(f, 0, item.size, self.throttle) if self.b.bandwidth_limit else f
            self.s3.client.put_object(
                Bucket=self.s3.bucket, Key=item.key, Body=body, ContentLength=item.size,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, Metadata={"sha256": item.sha256},
                StorageClass=self.b.frames_class,
            )
        return {"checksum": checksum, "class": self.b.frames_class, "sent": item.size}

    def _multipart(self, item: Item, path: Path) -> dict[str, Any]:
        c, bucket = self.s3.client, self.s3.bucket
        upload_id, have = self._resumable(item.key)
        if upload_id is None:
            upload_id = c.create_multipart_upload(
                Bucket=bucket, Key=item.key, ChecksumAlgorithm="SHA256", Metadata={"sha256": item.sha256},
                StorageClass=self.b.frames_class)["UploadId"]
        whole = hashlib.sha256()
        digests, done, sent, reused = [], [], 0, 0
        with open(path, "rb") as f:
            for number, offset, length in parts_of(item.size, self.b.part_size):
                f.seek(offset)
                data = f.read(length)
                whole.update(data)
                digest = hashlib.sha256(data).digest()
                digests.append(digest)
                part_sum = b64_sha256(digest.hex())
                old = have.get(number)
                if old and old["Size"] == length and _same_part(old, part_sum, data):
                    done.append({"PartNumber": number, "ETag": old["ETag"], "ChecksumSHA256": part_sum})
                    reused += 1
                    continue
                self.throttle.take(length)
                r = c.upload_part(Bucket=bucket, Key=item.key, UploadId=upload_id, PartNumber=number, Body=data,
                                  ChecksumAlgorithm="SHA256", ChecksumSHA256=part_sum)
                done.append({"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": part_sum})
                sent += length
        if whole.hexdigest() != item.sha256:
            c.abort_multipart_upload(Bucket=bucket, Key=item.key, UploadId=upload_id)
            return {"problem": "changed while it was read; run `astrocat scan` first"}
        c.complete_multipart_upload(Bucket=bucket, Key=item.key, UploadId=upload_id, MultipartUpload={"Parts": done})
        # S3's checksum of a multipart object: the SHA-256 of the parts' digests, "-" their count
        composite = b64_sha256(hashlib.sha256(b"".join(digests)).hexdigest()) + f"-{len(digests)}"
        return {"checksum": composite, "class": self.b.frames_class, "sent": sent, "reused": reused}

    def _resumable(self, key: str) -> tuple[str | None, dict[int, dict]]:
        """The newest unfinished multipart upload of `key` and its parts, if any."""
        c, bucket = self.s3.client, self.s3.bucket
        uploads = [u for u in c.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
                   if u["Key"] == key]
        if not uploads:
            return None, {}
        upload_id = max(uploads, key=lambda u: u["Initiated"])["UploadId"]
        parts: dict[int, dict] = {}
        marker = 0
        while True:
            r = c.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            for p in r.get("Parts", []):
                parts[p["PartNumber"]] = p
            if not r.get("IsTruncated"):
                return upload_id, parts
            marker = r["NextPartNumberMarker"]


def _same_part(listed: dict[str, Any], part_sum: str, data: bytes) -> bool:
    """A part the server holds is this data: by its SHA-256 when the listing gives it (S3),
    else by its ETag, the MD5 of the part (servers that list no part checksums)."""
    if listed.get("ChecksumSHA256"):
        return listed["ChecksumSHA256"] == part_sum
    return listed.get("ETag", "").strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest()


def upload(db: Any, settings: Settings, s3: S3, session: str | None = None, year: str | None = None,
           dry_run: bool = False, reconcile: bool = False, progress: ProgressFn | None = None) -> UploadResult:
    """Upload what the catalog has not backed up yet; the caller holds the catalog lock."""
    started = time.perf_counter()
    result = UploadResult(dry_run=dry_run)
    if reconcile:
        _reconcile(db, settings, s3, result, dry_run)
    p = plan(db, settings, session, year)
    result.planned, result.already, result.changed = len(p.todo), p.already, p.changed
    if dry_run or not p.todo:
        result.elapsed_s = round(time.perf_counter() - started, 3)
        return result
    assert settings.backup is not None
    from astrocat.rules.backup import object_key

    on_server = None  # a few files: a HEAD each tells whether an interrupted run left them
    if len(p.todo) > LIST_OVER:
        try:  # many: one listing (1000 keys a request) instead of a HEAD per file
            on_server = set(list_keys(s3, object_key(settings.backup.prefix, "frames") + "/"))
        except Exception as exc:  # noqa: BLE001
            raise describe(s3, exc, "list") from None
    sender = _Sender(s3, settings, on_server)
    total, done_bytes, sessions = p.bytes, 0, set()
    with ThreadPoolExecutor(max_workers=settings.backup.concurrency) as pool:
        futures = {pool.submit(sender.send, item): item for item in p.todo}
        try:
            for fut in as_completed(futures):
                item = futures[fut]
                r = fut.result()
                done_bytes += item.size
                if "problem" in r:
                    result.problems.append({"path": item.path, "reason": r["problem"]})
                else:
                    _record(db, item, r)
                    sessions.add(item.session_id)
                    result.found += 1 if r.get("found") else 0
                    result.uploaded += 0 if r.get("found") else 1
                    result.bytes_sent += r["sent"]
                    result.parts_reused += r.get("reused", 0)
                if progress:
                    progress(done_bytes, total, item.path)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    result.manifests = write_manifests(db, settings, s3, {s for s in sessions if s})
    result.elapsed_s = round(time.perf_counter() - started, 3)
    return result


def _record(db: Any, item: Item, r: dict[str, Any]) -> None:
    with db.conn:
        db.execute(
            "INSERT OR REPLACE INTO backups (sha256, key, size, storage_class, checksum, uploaded_at, state) "
            "VALUES (?, ?, ?, ?, ?, ?, 'uploaded')",
            [item.sha256, item.key, item.size, r["class"], r["checksum"], utc_now()],
        )


def manifest(db: Any, settings: Settings, session_id: str) -> dict[str, Any]:
    """What a session's manifest says: every backed-up library file of the session."""
    frames = []
    for row in library_frames(db, settings, session_id):
        got = db.execute("SELECT key, checksum, storage_class FROM backups WHERE sha256 = ?", [row["sha256"]]).fetchone()
        if not got:
            continue
        frames.append({"path": library_rel(settings, row["path"]), "key": got[0], "sha256": row["sha256"],
                       "size": row["size"], "mtime": row["mtime"], "checksum_sha256": got[1], "storage_class": got[2],
                       "header": {k: row[k] for k in MANIFEST_FIELDS if row[k] is not None}})
    return {"astrocat_manifest": 1, "session": session_id, "written_at": utc_now(), "frames": frames}


def write_manifests(db: Any, settings: Settings, s3: S3, sessions: set[str]) -> int:
    b = settings.backup
    assert b is not None
    for sid in sorted(sessions):
        body = json.dumps(manifest(db, settings, sid), indent=1, sort_keys=True).encode()
        key = manifest_key(b.prefix, sid)
        try:
            s3.client.put_object(Bucket=s3.bucket, Key=key, Body=body, ContentType="application/json",
                                 ChecksumAlgorithm="SHA256", StorageClass=b.meta_class)
        except Exception as exc:  # noqa: BLE001
            raise describe(s3, exc, "upload", key) from None
    return len(sessions)


def list_keys(s3: S3, prefix: str) -> dict[str, dict]:
    """Every object under `prefix` -> its listing entry."""
    out = {}
    for page in s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj
    return out


def _reconcile(db: Any, settings: Settings, s3: S3, result: UploadResult, dry_run: bool) -> None:
    """Compare the `backups` table with a bucket listing: records whose object is gone are
    forgotten (so the next upload sends them again); objects without a record are reported."""
    from astrocat.rules.backup import object_key

    assert settings.backup is not None
    try:
        listed = list_keys(s3, object_key(settings.backup.prefix, "frames") + "/")
    except Exception as exc:  # noqa: BLE001
        raise describe(s3, exc, "list") from None
    known = dict(db.execute("SELECT key, sha256 FROM backups").fetchall())
    for key, sha in known.items():
        if key not in listed:
            result.forgotten.append(key)
            if not dry_run:
                with db.conn:
                    db.execute("DELETE FROM backups WHERE sha256 = ?", [sha])
    result.unexpected = sorted(k for k in listed if k not in known)
