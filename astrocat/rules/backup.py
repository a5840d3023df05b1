"""Backup rules from plain values: object keys, restore tiers, lifecycle rules, costs."""

from __future__ import annotations

import base64
from typing import Any

ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
TIERS = ("Bulk", "Standard", "Expedited")
# Hours until a restore request is readable (AWS's published typical times).
RESTORE_HOURS = {
    ("DEEP_ARCHIVE", "Standard"): 12, ("DEEP_ARCHIVE", "Bulk"): 48,
    ("GLACIER", "Expedited"): 0.1, ("GLACIER", "Standard"): 5, ("GLACIER", "Bulk"): 12,
}
# Days an object is billed at least, even when deleted or overwritten sooner.
MINIMUM_DAYS = {"DEEP_ARCHIVE": 180, "GLACIER": 90, "GLACIER_IR": 90, "STANDARD_IA": 30, "ONEZONE_IA": 30}
# What AWS adds to each archived object: 32 KB at the archive rate, 8 KB at STANDARD.
OVERHEAD_ARCHIVE_BYTES, OVERHEAD_STANDARD_BYTES = 32 * 1024, 8 * 1024
LIFECYCLE_ID = "astrocat-"  # the rules astrocat owns start with this; the user's others are kept

# S3 us-east-1 list prices in USD, as published on the date below. Override any of them in
# [backup.prices] of astrocat.toml (same names) for another region or a newer table.
PRICES_DATE = "2025-06 (AWS S3 us-east-1)"
PRICES: dict[str, float] = {
    # storage per GB-month
    "storage_STANDARD": 0.023, "storage_STANDARD_IA": 0.0125, "storage_ONEZONE_IA": 0.01,
    "storage_INTELLIGENT_TIERING": 0.023, "storage_GLACIER_IR": 0.004, "storage_GLACIER": 0.0036,
    "storage_DEEP_ARCHIVE": 0.00099,
    # PUT (and lifecycle transition) requests per 1000
    "put_STANDARD": 0.005, "put_STANDARD_IA": 0.01, "put_ONEZONE_IA": 0.01, "put_INTELLIGENT_TIERING": 0.005,
    "put_GLACIER_IR": 0.02, "put_GLACIER": 0.03, "put_DEEP_ARCHIVE": 0.05, "transition_DEEP_ARCHIVE": 0.05,
    # restores: per GB retrieved and per 1000 requests, by class and tier
    "restore_gb_DEEP_ARCHIVE_Standard": 0.02, "restore_req_DEEP_ARCHIVE_Standard": 0.10,
    "restore_gb_DEEP_ARCHIVE_Bulk": 0.0025, "restore_req_DEEP_ARCHIVE_Bulk": 0.025,
    "restore_gb_GLACIER_Expedited": 0.03, "restore_req_GLACIER_Expedited": 10.0,
    "restore_gb_GLACIER_Standard": 0.01, "restore_req_GLACIER_Standard": 0.05,
    "restore_gb_GLACIER_Bulk": 0.0, "restore_req_GLACIER_Bulk": 0.0,
    # reading the restored copies out of AWS
    "get_per_1000": 0.0004, "transfer_out_gb": 0.09,
}
GB = 1024**3


def object_key(prefix: str, *parts: str) -> str:
    """`prefix/part/...`, with no empty or doubled separators."""
    return "/".join(p.strip("/") for p in (prefix, *parts) if p and p.strip("/"))


def frame_key(prefix: str, library_rel: str) -> str:
    """The browsable key of a library file: `prefix/frames/<library relative path>`."""
    return object_key(prefix, "frames", library_rel)


def alternate_key(key: str, sha256: str) -> str:
    """Another key for a content whose path now names an object of other content that is
    still in the library (a relayout gave its old name to another frame): the content's
    short sha256 before the extension."""
    folder, _, name = key.rpartition("/")
    stem, dot, ext = name.partition(".")
    return f"{folder}/{stem}.{sha256[:12]}{dot}{ext}" if folder else f"{stem}.{sha256[:12]}{dot}{ext}"


def manifest_key(prefix: str, session_id: str) -> str:
    return object_key(prefix, "manifests", f"{session_id}.json")


def database_prefix(prefix: str) -> str:
    return object_key(prefix, "database") + "/"


def b64_sha256(hex_digest: str) -> str:
    """S3's ChecksumSHA256 form (base64 of the raw digest) of a hex sha256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def parts_of(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """(part number from 1, offset, length) covering `size` bytes."""
    n = max(1, -(-size // part_size))
    return [(i + 1, i * part_size, min(part_size, size - i * part_size)) for i in range(n)]


def tier_refusal(storage_class: str, tier: str) -> str | None:
    """Why a restore tier cannot be used for a storage class, or None when it can."""
    if tier not in TIERS:
        return f"unknown restore tier {tier!r}: use Bulk, Standard or Expedited"
    if storage_class == "DEEP_ARCHIVE" and tier == "Expedited":
        return ("Glacier Deep Archive has no Expedited retrieval: use --tier Standard (about 12 hours) "
                "or --tier Bulk (about 48 hours, cheapest)")
    return None


def restore_state(header: str | None) -> str:
    """The `x-amz-restore` header -> none | pending | restored."""
    if not header:
        return "none"
    return "pending" if 'ongoing-request="true"' in header else "restored"


def lifecycle_rules(prefix: str, frames_class: str, transition_days: int, database_keep_days: int) -> list[dict]:
    """The rules astrocat owns: archive frames uploaded as another class, abort stale
    multipart uploads after 3 days, expire old database snapshots."""
    root = object_key(prefix) + "/" if prefix else ""
    rules: list[dict[str, Any]] = []
    if frames_class != "DEEP_ARCHIVE":
        rules.append({
            "ID": LIFECYCLE_ID + "frames-to-deep-archive", "Status": "Enabled",
            "Filter": {"Prefix": object_key(prefix, "frames") + "/"},
            "Transitions": [{"Days": transition_days, "StorageClass": "DEEP_ARCHIVE"}],
        })
    rules.append({
        "ID": LIFECYCLE_ID + "abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": root},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
    })
    rules.append({
        "ID": LIFECYCLE_ID + "expire-database-snapshots", "Status": "Enabled",
        "Filter": {"Prefix": database_prefix(prefix)}, "Expiration": {"Days": database_keep_days},
    })
    return rules


def merge_lifecycle(existing: list[dict], ours: list[dict]) -> list[dict]:
    """The bucket's rules with astrocat's replaced and the user's own kept."""
    return [r for r in existing if not str(r.get("ID", "")).startswith(LIFECYCLE_ID)] + ours


def estimate_costs(objects: int, size: int, frames_class: str, meta_bytes: int = 0,
                   overrides: dict[str, float] | None = None) -> dict[str, Any]:
    """Monthly and yearly cost of keeping `objects` frames of `size` bytes in all, the saving
    against STANDARD, the one-off upload cost and the cost of restoring everything."""
    p = {**PRICES, **(overrides or {})}
    gb = size / GB
    archived = frames_class in ARCHIVE_CLASSES
    overhead_archive = objects * OVERHEAD_ARCHIVE_BYTES / GB if archived else 0.0
    overhead_standard = objects * OVERHEAD_STANDARD_BYTES / GB if archived else 0.0
    monthly = ((gb + overhead_archive) * p[f"storage_{frames_class}"]
               + (overhead_standard + meta_bytes / GB) * p["storage_STANDARD"])
    standard_monthly = (gb + meta_bytes / GB) * p["storage_STANDARD"]
    minimum_days = MINIMUM_DAYS.get(frames_class, 0)
    restores = {}
    for (cls, tier), hours_ in RESTORE_HOURS.items():
        if cls != frames_class:
            continue
        retrieval = gb * p[f"restore_gb_{cls}_{tier}"] + objects / 1000 * p[f"restore_req_{cls}_{tier}"]
        restores[tier] = {"hours": hours_, "retrieval_usd": round(retrieval, 2),
                          "with_download_usd": round(retrieval + gb * p["transfer_out_gb"]
                                                     + objects / 1000 * p["get_per_1000"], 2)}
    if not archived:
        restores["Direct"] = {"hours": 0, "retrieval_usd": 0.0,
                              "with_download_usd": round(gb * p["transfer_out_gb"] + objects / 1000 * p["get_per_1000"], 2)}
    return {
        "prices_date": PRICES_DATE,
        "objects": objects, "bytes": size, "storage_class": frames_class,
        "monthly_usd": round(monthly, 2), "yearly_usd": round(monthly * 12, 2),
        "standard_monthly_usd": round(standard_monthly, 2),
        "saving_yearly_usd": round((standard_monthly - monthly) * 12, 2),
        "upload_usd": round(objects / 1000 * p[f"put_{frames_class}"], 2),
        "minimum_days": minimum_days,
        "minimum_charge_usd": round(monthly * minimum_days / 30, 2),
        "overhead_bytes_per_object": (OVERHEAD_ARCHIVE_BYTES + OVERHEAD_STANDARD_BYTES) if archived else 0,
        "restore": restores,
    }
