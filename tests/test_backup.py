"""astrocat backup against moto's S3 server over real HTTP: round trip, incremental uploads,
verify without download, the Deep Archive restore flow, lifecycle, errors, credentials."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

import backupkit
from backupkit import (
    ACCESS_KEY, SECRET_KEY, cli, cli_json, client, configure, add_frames, no_secrets, set_transition,
)
from organize_util import write_frame

pytestmark = pytest.mark.s3
s3_endpoint, aws_env = backupkit.s3_endpoint, backupkit.aws_env  # the fixtures


def rows(db_path: Path, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def keys(endpoint: str, bucket: str, prefix: str = "astro/frames/") -> dict[str, dict]:
    r = client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o for o in r.get("Contents", [])}


def test_round_trip_upload_verify_delete_restore_into_the_library(library, s3_endpoint):
    root = configure(library, s3_endpoint, "roundtrip", frames_storage_class="STANDARD")
    frames = add_frames(library, 4)
    originals = {p: (root / p).read_bytes() for p in frames}

    up = cli_json("backup", "upload", cwd=root)
    assert up["uploaded"] == 4 and up["problems"] == []
    s3 = client(s3_endpoint)
    for path, sha in frames.items():
        key = "astro/frames/" + path.removeprefix("library/")
        head = s3.head_object(Bucket="roundtrip", Key=key, ChecksumMode="ENABLED")
        assert head["Metadata"]["sha256"] == sha
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()
        assert s3.get_object(Bucket="roundtrip", Key=key)["Body"].read() == originals[path]
    # one manifest for the session, in STANDARD, listing every frame with its sha256
    man_keys = keys(s3_endpoint, "roundtrip", "astro/manifests/")
    assert len(man_keys) == 1
    manifest = json.loads(s3.get_object(Bucket="roundtrip", Key=next(iter(man_keys)))["Body"].read())
    assert {f["sha256"] for f in manifest["frames"]} == set(frames.values())
    assert all(f["header"]["target"] == "M31" for f in manifest["frames"])

    ver = cli_json("backup", "verify", "--download", cwd=root)
    assert ver["checked"] == 4 and ver["ok"] == 4 and ver["downloaded"] == 4 and ver["clean"]

    for p in frames:
        (root / p).unlink()
    cli("scan", cwd=root)
    assert rows(library.catalog, "SELECT COUNT(*) FROM frames WHERE location = 'missing'")[0][0] == 4
    session = rows(library.catalog, "SELECT DISTINCT session_id FROM frames")[0][0]

    res = cli_json("backup", "restore", "--session", session, "--to", str(library.library), cwd=root)
    assert res["restored"] == 4 and res["complete"] and res["recataloged"] == 4
    for p, data in originals.items():
        assert (root / p).read_bytes() == data
    assert rows(library.catalog, "SELECT COUNT(*) FROM frames WHERE location = 'library'")[0][0] == 4
    assert not list(library.library.rglob("*.astrocat-restore"))


def test_frames_added_later_go_up_and_a_run_with_nothing_new_sends_nothing(library, s3_endpoint):
    root = configure(library, s3_endpoint, "incremental")
    first = add_frames(library, 3)
    assert cli_json("backup", "upload", cwd=root)["uploaded"] == 3
    later = add_frames(library, 2, start=10)  # the same night: the same session
    assert len(rows(library.catalog, "SELECT DISTINCT session_id FROM frames")) == 1
    # the canned Datasette queries see the same: the two later frames, 3 of 5 in the session
    from astrocat.datasette.app import load_metadata

    canned = load_metadata()["databases"]["catalog"]["queries"]
    assert {p for p, *_ in rows(library.catalog, canned["frames_not_backed_up"]["sql"])} == set(later)
    assert [r[1:3] for r in rows(library.catalog, canned["backup_coverage_by_session"]["sql"])] == [(5, 3)]
    dry = cli("backup", "upload", "--dry-run", cwd=root)
    assert "would upload 2 files; 3 already backed up" in dry.stdout
    assert "would upload 0 files" in cli("backup", "upload", "--dry-run", "--year", "2023", cwd=root).stdout
    assert "would upload 2 files" in cli("backup", "upload", "--dry-run", "--year", "2024", cwd=root).stdout
    assert "would upload 0 files" in cli("backup", "upload", "--dry-run", "--session", "other", cwd=root).stdout
    assert [r["session"] for r in cli_json("backup", "list-sessions", "--not-backed-up", cwd=root)] == [
        rows(library.catalog, "SELECT session_id FROM frames LIMIT 1")[0][0]]
    up = cli_json("backup", "upload", cwd=root)
    assert up["uploaded"] == 2 and up["already"] == 3 and up["bytes_sent"] == sum(
        (root / p).stat().st_size for p in later)
    (manifest,) = keys(s3_endpoint, "incremental", "astro/manifests/")  # the session's, rewritten
    body = json.loads(client(s3_endpoint).get_object(Bucket="incremental", Key=manifest)["Body"].read())
    assert {f["sha256"] for f in body["frames"]} == set(first.values()) | set(later.values())
    assert set(keys(s3_endpoint, "incremental")) == {"astro/frames/" + p.removeprefix("library/")
                                                     for p in {**first, **later}}
    again = cli_json("backup", "upload", cwd=root)
    assert again["uploaded"] == 0 and again["bytes_sent"] == 0 and again["already"] == 5
    assert again["manifests"] == 0
    st = cli_json("backup", "status", cwd=root)
    assert st["backed_up"] == 5 and st["not_backed_up"] == 0
    assert st["by_storage_class"] == {"DEEP_ARCHIVE": {"objects": 5, "bytes": st["bytes"]}}

    # a relayout moves every file: nothing is sent again (the catalog maps sha256 to key)
    cfg = library.config_path
    cfg.write_text(cfg.read_text().replace("{year}/{night}_{target}/", "{target}/{night}/"))
    cli("organize", "--relayout", cwd=root)
    moved = rows(library.catalog, "SELECT path FROM frames WHERE location = 'library'")
    assert all(p.startswith("library/M31/") for p, in moved)
    after = cli_json("backup", "upload", cwd=root)
    assert after["uploaded"] == 0 and after["already"] == 5 and after["changed"] == []
    assert cli_json("backup", "verify", cwd=root)["clean"]


def test_a_corrupted_remote_object_is_caught_without_download(library, s3_endpoint):
    root = configure(library, s3_endpoint, "corrupt", frames_storage_class="STANDARD")
    frames = add_frames(library, 3)
    cli("backup", "upload", cwd=root)
    path, sha = sorted(frames.items())[0]
    key = "astro/frames/" + path.removeprefix("library/")
    original = (root / path).read_bytes()
    bad = bytes([original[0] ^ 1]) + original[1:]  # same length, one bit different
    # a different body under the original metadata; the SDK computes the body's real SHA-256.
    # (moto is lenient: it would also store a wrong *precomputed* ChecksumSHA256 where real
    # S3 answers BadDigest, so the test cannot show S3 refusing one; what astrocat checks
    # itself is asserted: the stored checksum against the catalog, and below, a local file
    # that no longer matches the catalog is never sent.)
    client(s3_endpoint).put_object(Bucket="corrupt", Key=key, Body=bad, Metadata={"sha256": sha},
                                   ChecksumAlgorithm="SHA256", StorageClass="STANDARD")
    r = cli("backup", "verify", cwd=root, expect=1)
    assert f"{key}: mismatch: stored checksum" in r.stderr
    assert r.stderr.count("mismatch") == 1
    assert rows(library.catalog, "SELECT state FROM backups WHERE sha256 = ?", sha) == [("mismatch",)]
    last = rows(library.catalog, "SELECT checked, ok, mismatched, downloaded FROM backup_verify_runs "
                                 "ORDER BY id DESC LIMIT 1")
    assert last == [(3, 2, 1, 0)]  # found without downloading anything

    # an object nobody uploaded through astrocat is reported as unexpected; a deleted one as missing
    client(s3_endpoint).put_object(Bucket="corrupt", Key="astro/frames/stray.fits", Body=b"x")
    other = "astro/frames/" + sorted(frames)[1].removeprefix("library/")
    client(s3_endpoint).delete_object(Bucket="corrupt", Key=other)
    res = cli_json("backup", "verify", cwd=root, expect=1)
    assert res["unexpected"] == ["astro/frames/stray.fits"]
    assert [m["key"] for m in res["missing"]] == [other]
    assert len(res["mismatched"]) == 1
    # one session's objects only: no listing of the bucket, so nothing is "unexpected"
    session = rows(library.catalog, "SELECT session_id FROM frames LIMIT 1")[0][0]
    one = cli_json("backup", "verify", "--session", session, cwd=root, expect=1)
    assert one["checked"] == 3 and one["unexpected"] == []
    assert cli_json("backup", "verify", "--session", "no-such-session", cwd=root)["checked"] == 0


def test_a_file_changed_since_its_scan_or_its_upload_is_never_sent(library, s3_endpoint):
    root = configure(library, s3_endpoint, "changed", frames_storage_class="STANDARD")
    frames = add_frames(library, 2)
    first, second = sorted(frames)
    # changed after the scan, before any upload: its bytes no longer match the catalog
    data = bytearray((root / first).read_bytes())
    data[-1] ^= 0xFF
    (root / first).write_bytes(bytes(data))
    r = cli_json("backup", "upload", cwd=root, expect=1)
    assert r["uploaded"] == 1 and [p["path"] for p in r["problems"]] == [first]
    assert "changed since the last scan" in r["problems"][0]["reason"]
    assert set(keys(s3_endpoint, "changed")) == {"astro/frames/" + second.removeprefix("library/")}

    # changed after its upload and rescanned: reported, the archived copy stays
    key = "astro/frames/" + second.removeprefix("library/")
    archived = client(s3_endpoint).get_object(Bucket="changed", Key=key)["Body"].read()
    data = bytearray((root / second).read_bytes())
    data[-1] ^= 0xFF
    (root / second).write_bytes(bytes(data))
    cli("scan", cwd=root)
    r = cli_json("backup", "upload", cwd=root, expect=1)
    assert [c["path"] for c in r["changed"]] == [second]
    assert client(s3_endpoint).get_object(Bucket="changed", Key=key)["Body"].read() == archived
    v = cli_json("backup", "verify", cwd=root, expect=1)
    assert [c["path"] for c in v["changed_locally"]] == [second]


def test_deep_archive_restore_is_requested_recorded_pending_then_downloaded(library, s3_endpoint, tmp_path):
    root = configure(library, s3_endpoint, "archive")
    frames = add_frames(library, 2)
    cli("backup", "upload", cwd=root)
    heads = [client(s3_endpoint).head_object(Bucket="archive", Key=k) for k in keys(s3_endpoint, "archive")]
    assert {h["StorageClass"] for h in heads} == {"DEEP_ARCHIVE"}
    (manifest,) = keys(s3_endpoint, "archive", "astro/manifests/")
    # S3 names no class for STANDARD objects: the manifest stays readable without a restore
    assert "StorageClass" not in client(s3_endpoint).head_object(Bucket="archive", Key=manifest)
    # verify reads the checksums of archived objects without a restore
    assert cli_json("backup", "verify", cwd=root)["ok"] == 2
    out = tmp_path / "restored"

    r = cli("backup", "restore", "--path", "*", "--to", str(out), "--tier", "Expedited", cwd=root, expect=2)
    assert "Deep Archive has no Expedited retrieval" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert rows(library.catalog, "SELECT COUNT(*) FROM backup_restores")[0][0] == 0

    # moto's restore model goes None -> IN_PROGRESS -> RESTORED, one step per state read once
    # `times` reads have passed ("manual"): one step to IN_PROGRESS, then held there
    set_transition(s3_endpoint, "manual", times=1)
    try:
        r = cli_json("backup", "restore", "--path", "*", "--to", str(out), "--tier", "Bulk", cwd=root, expect=1)
        assert r["requested"] == 2 and len(r["pending"]) == 2 and r["restored"] == 0
        assert not out.exists() or not any(out.rglob("*.fits"))
        for p in r["pending"]:
            head = client(s3_endpoint).head_object(Bucket="archive", Key=p["key"])
            assert 'ongoing-request="true"' in head["Restore"]
        set_transition(s3_endpoint, "manual", times=1000)  # the archive is still working on them
        text = cli("backup", "restore", "--path", "*", "--to", str(out), cwd=root, expect=1).stdout
        assert "0 restore requests sent, 2 pending" in text and "pending (Bulk, expected by " in text
        assert rows(library.catalog, "SELECT COUNT(*), MIN(state) FROM backup_restores") == [(2, "pending")]
        assert cli_json("backup", "status", cwd=root, expect=0)["pending_restores"] == 2
    finally:
        set_transition(s3_endpoint, "immediate")  # the archive finished the restores
    r = cli_json("backup", "restore", "--path", "*", "--to", str(out), cwd=root)
    assert r["restored"] == 2 and r["requested"] == 0 and r["recataloged"] == 0  # not into the library
    for p in frames:
        assert (out / p.removeprefix("library/")).read_bytes() == (root / p).read_bytes()
    assert rows(library.catalog, "SELECT COUNT(*), MIN(state) FROM backup_restores") == [(2, "done")]
    # run again: the files are there, nothing is downloaded or requested
    again = cli_json("backup", "restore", "--path", "*", "--to", str(out), cwd=root)
    assert again["already_there"] == 2 and again["restored"] == 0


def test_restore_never_overwrites_a_different_existing_file(library, s3_endpoint, tmp_path):
    root = configure(library, s3_endpoint, "nooverwrite", frames_storage_class="STANDARD")
    frames = add_frames(library, 2)
    cli("backup", "upload", cwd=root)
    out = tmp_path / "out"
    first = sorted(frames)[0].removeprefix("library/")
    (out / first).parent.mkdir(parents=True)
    (out / first).write_bytes(b"someone else's file")
    r = cli_json("backup", "restore", "--path", "*", "--to", str(out), cwd=root, expect=1)
    assert r["restored"] == 1 and r["problems"][0]["reason"] == "exists with other content; not overwritten"
    assert (out / first).read_bytes() == b"someone else's file"


def test_multipart_uploads_carry_per_part_sha256_and_verify(library, s3_endpoint):
    root = configure(library, s3_endpoint, "multipart", frames_storage_class="STANDARD",
                     multipart_threshold=5 * 1024 * 1024, part_size=5 * 1024 * 1024)
    big = library.quarantine / "big" / "M31_L_180.00s_0100.fits"
    sha = write_frame(big, 100, shape=(2000, 2000))  # 8 MB: two parts
    cli("scan", cwd=root)
    cli("organize", cwd=root)
    up = cli_json("backup", "upload", cwd=root)
    filed = next(library.library.rglob("*.fits"))
    assert up["uploaded"] == 1 and up["bytes_sent"] == filed.stat().st_size > 5 * 1024 * 1024
    (key,) = keys(s3_endpoint, "multipart")
    head = client(s3_endpoint).head_object(Bucket="multipart", Key=key, ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == sha
    data = filed.read_bytes()
    parts = [hashlib.sha256(data[i:i + 5 * 1024 * 1024]).digest() for i in range(0, len(data), 5 * 1024 * 1024)]
    composite = base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()
    # S3's composite checksum of two parts; real S3 appends "-2", moto leaves the count out
    assert len(parts) == 2 and head["ChecksumSHA256"].partition("-")[0] == composite
    recorded = rows(library.catalog, "SELECT checksum FROM backups")[0][0]
    assert recorded == f"{composite}-2"
    assert cli_json("backup", "verify", "--download", cwd=root)["downloaded"] == 1


def test_lifecycle_rules_are_set_read_back_and_keep_the_users_own(library, s3_endpoint):
    root = configure(library, s3_endpoint, "lifecycle", frames_storage_class="STANDARD", transition_days=30)
    mine = {"ID": "my-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 10}}
    client(s3_endpoint).put_bucket_lifecycle_configuration(Bucket="lifecycle",
                                                           LifecycleConfiguration={"Rules": [mine]})
    dry = json.loads(cli("backup", "configure-lifecycle", "--dry-run", cwd=root).stdout)
    assert [r["ID"] for r in dry["Rules"]] == ["my-logs", "astrocat-frames-to-deep-archive",
                                               "astrocat-abort-incomplete-uploads",
                                               "astrocat-expire-database-snapshots"]
    before = client(s3_endpoint).get_bucket_lifecycle_configuration(Bucket="lifecycle")["Rules"]
    assert [r["ID"] for r in before] == ["my-logs"]  # --dry-run changed nothing
    cli("backup", "configure-lifecycle", cwd=root)
    back = {r["ID"]: r for r in cli_json("backup", "show-lifecycle", cwd=root)["Rules"]}
    assert back["my-logs"]["Expiration"] == {"Days": 10}
    assert back["astrocat-frames-to-deep-archive"]["Transitions"] == [{"Days": 30, "StorageClass": "DEEP_ARCHIVE"}]
    assert back["astrocat-frames-to-deep-archive"]["Filter"] == {"Prefix": "astro/frames/"}
    assert back["astrocat-abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    text = cli("backup", "show-lifecycle", cwd=root).stdout
    assert "astrocat-frames-to-deep-archive [Enabled] astro/frames/: to DEEP_ARCHIVE after 30 days" in text


def test_database_snapshots_are_consistent_and_only_n_versions_are_kept(library, s3_endpoint, tmp_path):
    root = configure(library, s3_endpoint, "dbsnap", database_versions=2)
    add_frames(library, 2)
    (library.notes / "mine.md").write_text("my own words")
    stamps = [cli_json("backup", "backup-database", cwd=root)["stamp"] for _ in range(3)]
    assert stamps == sorted(set(stamps))
    listed = keys(s3_endpoint, "dbsnap", "astro/database/")
    assert sorted({k.split("/")[2] for k in listed}) == stamps[1:]
    snap = tmp_path / "snap.db"
    snap.write_bytes(client(s3_endpoint).get_object(Bucket="dbsnap", Key=f"astro/database/{stamps[-1]}/catalog.db")
                     ["Body"].read())
    assert rows(snap, "PRAGMA integrity_check") == [("ok",)]
    assert rows(snap, "SELECT COUNT(*) FROM frames") == rows(library.catalog, "SELECT COUNT(*) FROM frames")
    import io
    import tarfile

    tar = tarfile.open(fileobj=io.BytesIO(client(s3_endpoint).get_object(
        Bucket="dbsnap", Key=f"astro/database/{stamps[-1]}/notes.tar.gz")["Body"].read()))
    assert tar.extractfile("notes/mine.md").read() == b"my own words"


def test_sync_uploads_when_in_sync_is_set(library, s3_endpoint):
    root = configure(library, s3_endpoint, "insync", in_sync=True)
    write_frame(library.quarantine / "n" / "M31_L_180.00s_0001.fits", 1)
    report = cli_json("sync", cwd=root)
    assert report["steps"][-1] == "backup" and report["backup"]["uploaded"] == 1
    assert len(keys(s3_endpoint, "insync")) == 1


def test_configuration_and_access_errors_are_one_line(library, s3_endpoint, monkeypatch):
    root = library.config_path.parent
    r = cli("backup", "status", cwd=root, expect=2)
    assert "no [backup] section" in r.stderr
    configure(library, s3_endpoint, "exists")
    cfg = library.config_path
    cfg.write_text(cfg.read_text().replace('bucket = "exists"', 'bucket = "no-such-bucket"'))
    r = cli("backup", "upload", cwd=root, expect=2)
    assert r.stderr.strip() == "error: bucket no-such-bucket does not exist (backup.bucket): create it first"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = cli("backup", "verify", cwd=root, expect=2)
    assert "no AWS credentials found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("backup", "restore", "--to", "x", cwd=root, expect=2)
    assert "exactly one of --session, --target or --path" in r.stderr


def test_no_credential_in_any_output_the_catalog_or_the_config(library, s3_endpoint):
    root = configure(library, s3_endpoint, "secrets", frames_storage_class="STANDARD")
    add_frames(library, 2)
    outputs = []
    for args in (["backup", "upload"], ["backup", "status", "--json"], ["backup", "verify", "--all"],
                 ["backup", "list-sessions"], ["backup", "estimate-costs"], ["backup", "show-lifecycle"],
                 ["backup", "configure-lifecycle", "--dry-run"]):
        r = cli(*args, cwd=root, expect=None)
        outputs.append(r.stdout + r.stderr)
    # an S3 error whose text astrocat passes on is scrubbed too
    from astrocat.backup.client import S3, describe
    from botocore.exceptions import ClientError

    err = ClientError({"Error": {"Code": "Weird", "Message": f"key {ACCESS_KEY} secret {SECRET_KEY}"}}, "PutObject")
    outputs.append(str(describe(S3(None, "b", (ACCESS_KEY, SECRET_KEY)), err, "upload")))
    assert "***" in outputs[-1]
    for text in outputs:
        no_secrets(text)
    assert "uploaded 2 files" in outputs[0]  # the commands did run
    for f in [library.catalog, library.config_path, *library.catalog.parent.glob("catalog.db*")]:
        data = f.read_bytes()
        assert ACCESS_KEY.encode() not in data and SECRET_KEY.encode() not in data


def test_the_backups_page_shows_coverage_classes_cost_and_the_last_verify(library, s3_endpoint):
    import re

    root = configure(library, s3_endpoint, "sitepage")
    add_frames(library, 3)
    cli("backup", "upload", cwd=root)
    cli("backup", "verify", cwd=root)
    later = add_frames(library, 1, start=20, **{"DATE-OBS": "2024-12-05T21:00:00"})  # another night
    cli("build", "--no-thumbnails", cwd=root)
    page = (library.site / "backups" / "index.html").read_text()
    coverage = dict(re.findall(r'<tr data-session="([^"]+)">.*?</td><td class="num">\d+</td>'
                               r'<td class="num">(\d+)</td>', page))
    sessions = dict(rows(library.catalog, "SELECT session_id, COUNT(*) FROM frames GROUP BY session_id"))
    new_session = rows(library.catalog, "SELECT session_id FROM frames WHERE path = ?", next(iter(later)))[0][0]
    assert coverage == {sid: ("0" if sid == new_session else str(n)) for sid, n in sessions.items()}
    assert "<td>DEEP_ARCHIVE</td>" in page and "3 of 4 files" in page
    assert re.search(r'id="last-verify">[^<]*\(all\): 3 checked, 3 ok: clean', page)
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert "backups/index.html" in nav
    dashboard = (library.site / "index.html").read_text()
    assert "75%" in dashboard and "3 of 4 files" in dashboard


def test_an_unreachable_server_is_one_line_after_the_retries(library, s3_endpoint, monkeypatch):
    import socket

    from astrocat.backup import client as backup_client

    monkeypatch.setattr(backup_client, "RETRIES", 2)  # the real default backs off for longer
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = configure(library, s3_endpoint, "unreachable")
    cfg = library.config_path
    cfg.write_text(cfg.read_text().replace(s3_endpoint, f"http://127.0.0.1:{port}"))
    add_frames(library, 1)
    r = cli("backup", "upload", cwd=root, expect=1)
    assert r.stderr.strip().splitlines() == [
        "error: cannot reach S3 (EndpointConnectionError) after 2 attempts: check the network and "
        "backup.endpoint_url; run again to resume"]
    assert rows(library.catalog, "SELECT COUNT(*) FROM backups") == [(0,)]


def test_a_lost_catalog_is_restored_from_the_session_manifests(library, s3_endpoint, tmp_path):
    from astrocat.config import load, write_default
    from conftest import set_settle

    root = configure(library, s3_endpoint, "lostcat", frames_storage_class="STANDARD")
    frames = add_frames(library, 3)
    cli("backup", "upload", cwd=root)
    session = rows(library.catalog, "SELECT DISTINCT session_id FROM frames")[0][0]
    # a new computer: a fresh library and catalog with the same [backup] section
    cfg = write_default(tmp_path / "new", timezone="UTC")
    set_settle(cfg, 0)
    backup_section = library.config_path.read_text().split("[backup]", 1)[1]
    cfg.write_text(cfg.read_text() + "\n[backup]" + backup_section)
    new = load(cfg)
    r = cli("backup", "restore", "--session", session, "--to", str(new.library), cwd=cfg.parent)
    assert "restoring from the session manifests" in r.stdout and "3 re-cataloged" in r.stdout
    for p in frames:
        assert (cfg.parent / p).read_bytes() == (root / p).read_bytes()
        assert (cfg.parent / p).stat().st_mtime == (root / p).stat().st_mtime  # kept from the manifest
    assert sorted(rows(new.catalog, "SELECT path, sha256, session_id FROM frames")) == sorted(
        (p, sha, session) for p, sha in frames.items())


@pytest.mark.slow
def test_the_demo_backs_up_to_a_local_server_when_given_one(s3_endpoint, tmp_path):
    d = tmp_path / "demo"
    r = cli("demo", str(d), "--s3-endpoint", s3_endpoint, "--s3-bucket", "demo-bucket", cwd=tmp_path)
    assert "created bucket demo-bucket" in r.stdout and "backup: uploaded" in r.stdout
    contents = rows(d / "catalog.db", "SELECT COUNT(DISTINCT sha256) FROM frames WHERE location = 'library'")[0][0]
    assert contents > 300
    assert len(keys(s3_endpoint, "demo-bucket", "astrocat/frames/")) == contents
    st = cli_json("backup", "status", cwd=d)
    assert st["backed_up"] == contents and st["by_storage_class"]["STANDARD"]["objects"] == contents


def test_reconcile_compares_the_records_with_a_bucket_listing(library, s3_endpoint):
    root = configure(library, s3_endpoint, "reconcile", frames_storage_class="STANDARD")
    frames = add_frames(library, 3)
    cli("backup", "upload", cwd=root)
    gone = "astro/frames/" + sorted(frames)[0].removeprefix("library/")
    s3 = client(s3_endpoint)
    s3.delete_object(Bucket="reconcile", Key=gone)
    s3.put_object(Bucket="reconcile", Key="astro/frames/stray.fits", Body=b"x")
    # without --reconcile the catalog's records decide: nothing to send
    assert cli_json("backup", "upload", cwd=root)["uploaded"] == 0
    dry = cli_json("backup", "upload", "--reconcile", "--dry-run", cwd=root)
    assert dry["forgotten"] == [gone] and dry["planned"] == 0  # a dry run forgets nothing
    r = cli_json("backup", "upload", "--reconcile", cwd=root)
    assert r["forgotten"] == [gone] and r["unexpected"] == ["astro/frames/stray.fits"]
    assert r["uploaded"] == 1 and r["already"] == 2
    assert s3.get_object(Bucket="reconcile", Key=gone)["Body"].read() == (root / sorted(frames)[0]).read_bytes()


def test_a_name_given_to_another_frame_gets_an_alternate_key_and_nothing_is_overwritten(library, s3_endpoint):
    import os

    root = configure(library, s3_endpoint, "renamed", frames_storage_class="STANDARD")
    frames = add_frames(library, 2)
    cli("backup", "upload", cwd=root)
    first, sha_a = sorted(frames.items())[0]
    key = "astro/frames/" + first.removeprefix("library/")
    archived = client(s3_endpoint).get_object(Bucket="renamed", Key=key)["Body"].read()
    # frame A moves on to another name; a new frame C takes its old one
    moved = (root / first).with_name("renamed-by-hand.fits")
    os.rename(root / first, moved)
    sha_c = write_frame(root / first, 50)
    cli("scan", cwd=root)
    r = cli_json("backup", "upload", cwd=root)
    assert r["uploaded"] == 1 and r["changed"] == [] and r["already"] == 2
    alt = key.removesuffix(".fits") + f".{sha_c[:12]}.fits"
    assert client(s3_endpoint).get_object(Bucket="renamed", Key=alt)["Body"].read() == (root / first).read_bytes()
    assert client(s3_endpoint).get_object(Bucket="renamed", Key=key)["Body"].read() == archived
    assert rows(library.catalog, "SELECT key FROM backups WHERE sha256 = ?", sha_a) == [(key,)]
    v = cli_json("backup", "verify", cwd=root)
    assert v["clean"] and v["checked"] == 3


def test_status_reads_a_catalog_older_than_the_backup_tables(library, s3_endpoint):
    root = configure(library, s3_endpoint, "oldschema")
    add_frames(library, 2)
    db = sqlite3.connect(library.catalog)
    with db:  # as an astrocat before migration 10 left it
        for t in ("backups", "backup_restores", "backup_verify_runs"):
            db.execute(f"DROP TABLE {t}")
        db.execute("DELETE FROM schema_version WHERE version = 10")
    db.close()
    st = cli_json("backup", "status", cwd=root, expect=1)
    assert st["frames"] == 2 and st["backed_up"] == 0 and st["last_verify"] is None
    assert [r["backed_up"] for r in cli_json("backup", "list-sessions", cwd=root)] == [0]
    assert cli_json("backup", "estimate-costs", cwd=root)["objects"] == 2
    assert rows(library.catalog, "SELECT MAX(version) FROM schema_version") != [(10,)]  # read-only
    cli("build", "--no-notes", "--no-thumbnails", cwd=root)  # read-only: the page still renders
    page = (library.site / "backups" / "index.html").read_text()
    assert "0 of 2 files" in page and "Never verified." in page
    assert cli_json("backup", "upload", cwd=root)["uploaded"] == 2  # a writing command migrates


def test_a_restore_that_expired_before_its_download_is_asked_for_again(library, s3_endpoint, tmp_path):
    root = configure(library, s3_endpoint, "expired")
    frames = add_frames(library, 1)
    cli("backup", "upload", cwd=root)
    (path, sha), = frames.items()
    key = "astro/frames/" + path.removeprefix("library/")
    db = sqlite3.connect(library.catalog)
    with db:  # a request recorded long ago, whose restored copy the archive has dropped again
        db.execute("INSERT INTO backup_restores (sha256, key, dest, tier, requested_at, ready_by, state) "
                   "VALUES (?, ?, 'x', 'Bulk', '2020-01-01T00:00:00Z', '2020-01-03T00:00:00Z', 'pending')", [sha, key])
    db.close()
    set_transition(s3_endpoint, "manual", times=1000)  # the new request stays in progress
    try:
        r = cli_json("backup", "restore", "--path", "*", "--to", str(tmp_path / "out"), cwd=root, expect=1)
    finally:
        set_transition(s3_endpoint, "immediate")
    assert r["requested"] == 1 and [p["key"] for p in r["pending"]] == [key]
    assert rows(library.catalog, "SELECT state, error IS NOT NULL FROM backup_restores ORDER BY id") == [
        ("failed", 1), ("pending", 0)]
