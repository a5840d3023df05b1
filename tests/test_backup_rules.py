"""The backup rules with plain values: keys, parts, tiers, lifecycle, costs; and `[backup]` config."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrocat.config import ConfigError, from_dict
from astrocat.rules import backup as rules


def test_keys_are_browsable_and_never_doubled():
    assert rules.frame_key("astro/", "2024/M31/Light/a.fits") == "astro/frames/2024/M31/Light/a.fits"
    assert rules.frame_key("", "a.fits") == "frames/a.fits"
    assert rules.manifest_key("a/b", "2024-11-01_X") == "a/b/manifests/2024-11-01_X.json"
    assert rules.database_prefix("astro") == "astro/database/"
    sha = "0123456789abcdef" * 4
    assert rules.alternate_key("astro/frames/2024/a.fits", sha) == "astro/frames/2024/a.0123456789ab.fits"
    assert rules.alternate_key("a.fits.fz", sha) == "a.0123456789ab.fits.fz"


def test_checksum_form_is_base64_of_the_raw_digest():
    # sha256("") is e3b0...b855; its base64 is the well-known 47DEQ... form
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert rules.b64_sha256(empty) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_parts_cover_the_file_exactly():
    assert rules.parts_of(12, 5) == [(1, 0, 5), (2, 5, 5), (3, 10, 2)]
    assert rules.parts_of(10, 5) == [(1, 0, 5), (2, 5, 5)]
    assert rules.parts_of(0, 5) == [(1, 0, 0)]


def test_deep_archive_refuses_expedited_only():
    assert "no Expedited" in rules.tier_refusal("DEEP_ARCHIVE", "Expedited")
    assert rules.tier_refusal("DEEP_ARCHIVE", "Bulk") is None
    assert rules.tier_refusal("GLACIER", "Expedited") is None
    assert "unknown restore tier" in rules.tier_refusal("GLACIER", "Fast")


def test_restore_header_states():
    assert rules.restore_state(None) == "none"
    assert rules.restore_state('ongoing-request="true"') == "pending"
    assert rules.restore_state('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == "restored"


def test_lifecycle_keeps_the_users_rules_and_replaces_astrocats():
    ours = rules.lifecycle_rules("astro", "STANDARD", 30, 365)
    assert [r["ID"] for r in ours] == ["astrocat-frames-to-deep-archive", "astrocat-abort-incomplete-uploads",
                                       "astrocat-expire-database-snapshots"]
    # frames uploaded straight to Deep Archive need no transition rule
    assert [r["ID"] for r in rules.lifecycle_rules("astro", "DEEP_ARCHIVE", 0, 365)][0] == \
        "astrocat-abort-incomplete-uploads"
    existing = [{"ID": "mine"}, {"ID": "astrocat-old-rule"}]
    assert [r["ID"] for r in rules.merge_lifecycle(existing, ours)][:2] == ["mine", "astrocat-frames-to-deep-archive"]


def test_costs_of_deep_archive_with_overhead_minimum_and_restores():
    gib = 1024**3
    # 1000 frames, 100 GiB, at round prices: archive 0.001 $/GB-month, STANDARD 0.02
    est = rules.estimate_costs(1000, 100 * gib, "DEEP_ARCHIVE", overrides={
        "storage_DEEP_ARCHIVE": 0.001, "storage_STANDARD": 0.02, "put_DEEP_ARCHIVE": 0.05,
        "restore_gb_DEEP_ARCHIVE_Bulk": 0.0025, "restore_req_DEEP_ARCHIVE_Bulk": 0.025,
        "transfer_out_gb": 0.09, "get_per_1000": 0.0004})
    # storage: 100 GiB + 1000 x 32 KiB at 0.001, and 1000 x 8 KiB at 0.02
    overhead_archive = 1000 * 32 / 1024 / 1024  # GiB
    overhead_standard = 1000 * 8 / 1024 / 1024
    monthly = (100 + overhead_archive) * 0.001 + overhead_standard * 0.02
    assert est["monthly_usd"] == round(monthly, 2) == 0.1
    assert est["standard_monthly_usd"] == 2.0
    assert est["saving_yearly_usd"] == round((2.0 - monthly) * 12, 2) == 22.8
    assert est["upload_usd"] == 0.05  # 1000 PUTs at 0.05 per 1000
    assert est["minimum_days"] == 180 and est["overhead_bytes_per_object"] == 40 * 1024
    bulk = est["restore"]["Bulk"]
    assert bulk["hours"] == 48 and bulk["retrieval_usd"] == round(100 * 0.0025 + 0.025, 2)
    assert bulk["with_download_usd"] == round(100 * 0.0025 + 0.025 + 100 * 0.09 + 0.0004, 2)
    assert "Expedited" not in est["restore"]


def _cfg(tmp_path: Path, backup: dict) -> object:
    return from_dict({"backup": backup}, tmp_path / "astrocat.toml")


def test_backup_config_defaults_and_checks(tmp_path):
    s = _cfg(tmp_path, {"bucket": "b"})
    b = s.backup
    assert (b.bucket, b.prefix, b.frames_class, b.meta_class, b.multipart_threshold, b.in_sync) == \
        ("b", "astrocat", "DEEP_ARCHIVE", "STANDARD", 5 * 1024**3, False)
    assert from_dict({}, tmp_path / "astrocat.toml").backup is None
    for bad, message in [({}, "needs bucket"), ({"bucket": "b", "frames_storage_class": "COLD"}, "is not one of"),
                         ({"bucket": "b", "concurrency": 0}, "backup.concurrency"),
                         ({"bucket": "b", "endpoint_url": "minio:9000"}, "backup.endpoint_url"),
                         ({"bucket": "b", "in_sync": "yes"}, "backup.in_sync"),
                         ({"bucket": "b", "part_size": 1024}, "backup.part_size"),
                         ({"bucket": "b", "prices": {"storage_STANDARD": "cheap"}}, "backup.prices"),
                         ({"bucket": "b", "secret_key": "x"}, "unknown key backup.secret_key")]:
        with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
            _cfg(tmp_path, bad)


@pytest.mark.parametrize(("code", "status", "expected", "config"), [
    ("InvalidAccessKeyId", 403, "the AWS access key is not known to the server: check your AWS credentials", True),
    ("SignatureDoesNotMatch", 403, "the AWS secret key does not match the access key", True),
    ("AccessDenied", 403, "access denied: your AWS credentials may not upload in bucket astro-b", True),
    ("NoSuchBucket", 404, "bucket astro-b does not exist (backup.bucket): create it first", True),
    ("PermanentRedirect", 301, "bucket astro-b is in another region: set backup.region", True),
    ("AuthorizationHeaderMalformed", 400, "bucket astro-b is in another region", True),
    ("QuotaExceeded", 403, "the storage quota of the account is full", True),
    ("SlowDown", 503, "S3 refused to upload: SlowDown", False),
])
def test_s3_errors_become_one_clear_line(code, status, expected, config):
    from botocore.exceptions import ClientError

    from astrocat.backup.client import S3, describe

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    err = ClientError({"Error": {"Code": code, "Message": f"details mentioning {secret}"},
                       "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")
    got = describe(S3(None, "astro-b", ("AKIAEXAMPLE", secret)), err, "upload")
    assert expected in str(got) and got.config is config
    assert "\n" not in str(got) and secret not in str(got)


def test_s3_compatible_endpoints_get_checksums_only_when_required(monkeypatch, tmp_path):
    from astrocat.backup.client import connect
    from astrocat.config import BackupSettings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNITTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    other = connect(BackupSettings(bucket="b", region="us-east-1", endpoint_url="http://127.0.0.1:9"))
    assert other.client.meta.config.request_checksum_calculation == "when_required"
    assert other.client.meta.config.response_checksum_validation == "when_required"
    assert other.client.meta.endpoint_url == "http://127.0.0.1:9"
    aws = connect(BackupSettings(bucket="b", region="eu-central-1"))
    assert aws.client.meta.config.request_checksum_calculation == "when_supported"
    assert aws.client.meta.region_name == "eu-central-1"
    assert aws.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}
    # the secrets are kept only to scrub error text
    assert aws.scrub("x AKIAUNITTEST y unit-secret") == "x *** y ***"


def test_estimate_costs_answers_before_a_bucket_is_configured(demo_dir) -> None:
    """`backup estimate-costs` needs no [backup]: the library's files at the default class."""
    import json
    import sqlite3

    from conftest import invoke_cli

    r = invoke_cli("backup", "estimate-costs", "--json", cwd=demo_dir)
    assert r.returncode == 0, r.stderr
    est = json.loads(r.stdout)
    con = sqlite3.connect(demo_dir / "catalog.db")
    n, size = con.execute("SELECT COUNT(*), SUM(size) FROM (SELECT sha256, MAX(size) AS size FROM frames "
                          "WHERE location = 'library' GROUP BY sha256)").fetchone()
    con.close()
    assert (est["objects"], est["bytes"], est["storage_class"]) == (n, size, "DEEP_ARCHIVE")
    assert est["minimum_days"] == 180
