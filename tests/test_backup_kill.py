"""An upload killed mid-run (SIGKILL of the real process) resumes without sending finished
objects again, and a multipart upload continues from the parts the server holds."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import backupkit
from backupkit import cli_json, client, configure, no_secrets
from conftest import ROOT
from organize_util import write_frame, write_frames

pytestmark = [pytest.mark.s3, pytest.mark.slow]
s3_endpoint, aws_env = backupkit.s3_endpoint, backupkit.aws_env  # the fixtures

PART = 5 * 1024 * 1024


def test_an_upload_killed_mid_run_resumes_without_resending(library, s3_endpoint):
    root = configure(library, s3_endpoint, "killed", frames_storage_class="STANDARD", concurrency=2,
                     multipart_threshold=PART, part_size=PART, bandwidth_limit=2_000_000)
    write_frames(library.quarantine / "small", 4)
    write_frame(library.quarantine / "big" / "M31_L_180.00s_0100.fits", 100, shape=(2450, 2450))  # 12 MB
    cli_json("scan", cwd=root)
    backupkit.cli("organize", cwd=root)
    s3 = client(s3_endpoint)

    proc = subprocess.Popen([sys.executable, "-m", "astrocat", "backup", "upload", "--quiet"], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            uploads = s3.list_multipart_uploads(Bucket="killed").get("Uploads", [])
            if uploads and s3.list_parts(Bucket="killed", Key=uploads[0]["Key"],
                                         UploadId=uploads[0]["UploadId"]).get("Parts"):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the multipart upload never sent a part")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    no_secrets(out + err)

    listed = {o["Key"]: o["LastModified"]
              for o in s3.list_objects_v2(Bucket="killed", Prefix="astro/frames/").get("Contents", [])}
    (upload,) = s3.list_multipart_uploads(Bucket="killed")["Uploads"]
    parts_before = s3.list_parts(Bucket="killed", Key=upload["Key"], UploadId=upload["UploadId"])["Parts"]
    db = sqlite3.connect(library.catalog)
    recorded = {k for k, in db.execute("SELECT key FROM backups")}
    sizes = dict(db.execute("SELECT path, size FROM frames WHERE location = 'library'").fetchall())
    db.close()
    assert upload["Key"] not in listed and recorded <= set(listed)

    # resume at full speed
    cfg = library.config_path
    cfg.write_text(cfg.read_text().replace("bandwidth_limit = 2000000\n", ""))
    r = cli_json("backup", "upload", cwd=root)
    assert r["problems"] == []
    assert r["already"] == len(recorded)
    assert r["found"] == len(set(listed) - recorded)  # complete but unrecorded: found by HEAD, not sent
    assert r["uploaded"] == 5 - len(listed)  # only what was not complete on the server
    assert r["parts_reused"] == len(parts_before) >= 1
    big = max(sizes, key=sizes.get)
    unsent_small = sum(sizes[p] for p in sizes if p != big
                       and "astro/frames/" + p.removeprefix("library/") not in listed)
    assert r["bytes_sent"] == sizes[big] - sum(p["Size"] for p in parts_before) + unsent_small
    after = {o["Key"]: o["LastModified"]
             for o in s3.list_objects_v2(Bucket="killed", Prefix="astro/frames/")["Contents"]}
    assert len(after) == 5 and all(after[k] == t for k, t in listed.items())
    assert s3.list_multipart_uploads(Bucket="killed").get("Uploads", []) == []
    body = s3.get_object(Bucket="killed", Key=upload["Key"])["Body"].read()
    assert body == (root / big).read_bytes()
    assert cli_json("backup", "verify", "--download", cwd=root)["downloaded"] == 5


@pytest.mark.parametrize("list_over", [20, 0], ids=["head-each", "one-listing"])
def test_an_object_completed_but_not_recorded_is_found_not_sent(library, s3_endpoint, monkeypatch, list_over):
    """The window a kill can leave: the PUT finished, the catalog never heard of it."""
    import base64

    from astrocat.backup import upload

    monkeypatch.setattr(upload, "LIST_OVER", list_over)
    bucket = f"unrecorded-{list_over}"
    root = configure(library, s3_endpoint, bucket, frames_storage_class="STANDARD")
    frames = backupkit.add_frames(library, 2)
    path, sha = sorted(frames.items())[0]
    key = "astro/frames/" + path.removeprefix("library/")
    s3 = client(s3_endpoint)
    s3.put_object(Bucket=bucket, Key=key, Body=(root / path).read_bytes(), Metadata={"sha256": sha},
                  ChecksumSHA256=base64.b64encode(bytes.fromhex(sha)).decode(), ChecksumAlgorithm="SHA256")
    before = s3.head_object(Bucket=bucket, Key=key)
    r = cli_json("backup", "upload", cwd=root)
    assert r["found"] == 1 and r["uploaded"] == 1 and r["bytes_sent"] == (root / sorted(frames)[1]).stat().st_size
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"] == before["ETag"]
    # an object at the key with other content is never overwritten
    other = sorted(frames)[1]
    db = sqlite3.connect(library.catalog)
    with db:
        db.execute("DELETE FROM backups")
    db.close()
    okey = "astro/frames/" + other.removeprefix("library/")
    s3.put_object(Bucket=bucket, Key=okey, Body=b"not the frame", Metadata={"sha256": "0" * 64})
    r = cli_json("backup", "upload", cwd=root, expect=1)
    assert [p["path"] for p in r["problems"]] == [other]
    assert "another object is already at this key" in r["problems"][0]["reason"]
    assert s3.get_object(Bucket=bucket, Key=okey)["Body"].read() == b"not the frame"


def test_upload_shows_a_progress_bar_with_bytes_per_second_in_a_terminal(library, s3_endpoint):
    import re

    from conftest import run_in_terminal

    root = configure(library, s3_endpoint, "progress", frames_storage_class="STANDARD", concurrency=1,
                     bandwidth_limit=2_000_000)
    for i in range(3):
        write_frame(library.quarantine / "p" / f"M31_L_180.00s_{i:04d}.fits", i, shape=(724, 724))  # 1 MB
    backupkit.cli("scan", cwd=root)
    backupkit.cli("organize", cwd=root)
    text = run_in_terminal([sys.executable, "-m", "astrocat", "backup", "upload"], cwd=root, columns=100)
    no_secrets(text)
    assert "Uploading" in text
    assert re.search(r"\d+(\.\d+)? [kM]B/s", text), text  # rich's transfer speed column
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? MB", text), text  # bytes done of total
    assert "uploaded 3 files" in text
