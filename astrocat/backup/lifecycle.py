"""Bucket lifecycle rules: astrocat's own rules set or read back; the user's others kept."""

from __future__ import annotations

from typing import Any

from astrocat.backup.client import S3, describe
from astrocat.config import Settings
from astrocat.rules.backup import lifecycle_rules, merge_lifecycle

# database snapshots older than this expire (backup-database also keeps only N versions)
DATABASE_KEEP_DAYS = 365


def current(s3: S3) -> list[dict[str, Any]]:
    from botocore.exceptions import ClientError

    try:
        return s3.client.get_bucket_lifecycle_configuration(Bucket=s3.bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise describe(s3, exc, "read the lifecycle of") from None
    except Exception as exc:  # noqa: BLE001
        raise describe(s3, exc, "read the lifecycle of") from None


def wanted(settings: Settings, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    b = settings.backup
    assert b is not None
    return merge_lifecycle(existing, lifecycle_rules(b.prefix, b.frames_class, b.transition_days, DATABASE_KEEP_DAYS))


def configure(settings: Settings, s3: S3, dry_run: bool = False) -> list[dict[str, Any]]:
    rules = wanted(settings, current(s3))
    if not dry_run:
        try:
            s3.client.put_bucket_lifecycle_configuration(Bucket=s3.bucket, LifecycleConfiguration={"Rules": rules})
        except Exception as exc:  # noqa: BLE001
            raise describe(s3, exc, "set the lifecycle of") from None
    return rules
