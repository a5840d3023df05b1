"""The S3 client for `[backup]`, and one clear line for whatever S3 or the network says.

Credentials come only from the standard AWS chain (environment, profile, instance role);
astrocat never reads, prints, logs or stores them, and every error text is scrubbed of
them before anyone sees it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from astrocat.config import BackupSettings

RETRIES = 6  # attempts in all; botocore's "standard" mode backs off exponentially, with jitter


class BackupError(Exception):
    """A backup failed in a way the user must fix; `config` errors exit with 2, others 1."""

    def __init__(self, message: str, config: bool = False):
        super().__init__(message)
        self.config = config


@dataclass
class S3:
    client: Any
    bucket: str
    secrets: tuple[str, ...]  # only to scrub them from error text

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s:
                text = text.replace(s, "***")
        return text


def connect(b: BackupSettings) -> S3:
    """A client for the configured bucket (nothing is sent yet)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    extra: dict[str, Any] = {}
    if b.endpoint_url:
        # boto3 1.36+ sends CRC checksums on every request by default, which several
        # S3-compatible servers reject: only when an operation needs one (our SHA256s are
        # always sent explicitly).
        extra = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    config = Config(retries={"total_max_attempts": RETRIES, "mode": "standard"},
                    max_pool_connections=max(10, b.concurrency * 2), connect_timeout=10, read_timeout=120, **extra)
    try:
        session = boto3.session.Session(profile_name=b.profile, region_name=b.region)
        client = session.client("s3", endpoint_url=b.endpoint_url, config=config)
        creds = session.get_credentials()
    except ProfileNotFound:
        raise BackupError(f"AWS profile {b.profile!r} (backup.profile) is not in your AWS config", config=True) from None
    except BotoCoreError as exc:
        raise BackupError(f"cannot set up the S3 client: {type(exc).__name__}", config=True) from None
    if creds is None:
        raise BackupError("no AWS credentials found: set them in the environment (AWS_ACCESS_KEY_ID ...), "
                          "in ~/.aws/credentials, or name a profile in backup.profile", config=True)
    frozen = creds.get_frozen_credentials()
    secrets = tuple(s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s)
    return S3(client, b.bucket, secrets)


_CONFIG_CODES = {
    "InvalidAccessKeyId": "the AWS access key is not known to the server: check your AWS credentials",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key: check your AWS credentials",
    "ExpiredToken": "the AWS session token has expired: log in again (e.g. aws sso login)",
    "InvalidToken": "the AWS session token is not valid: log in again",
    "AccessDenied": "access denied: your AWS credentials may not {op} in bucket {bucket}",
    "AllAccessDisabled": "access to bucket {bucket} is disabled",
    "NoSuchBucket": "bucket {bucket} does not exist (backup.bucket): create it first",
    "PermanentRedirect": "bucket {bucket} is in another region: set backup.region to the bucket's region",
    "AuthorizationHeaderMalformed": "bucket {bucket} is in another region: set backup.region to the bucket's region",
    "IllegalLocationConstraintException": "bucket {bucket} is in another region: set backup.region",
    "QuotaExceeded": "the storage quota of the account is full",
    "ServiceQuotaExceeded": "the storage quota of the account is full",
}


def describe(s3: S3 | None, exc: BaseException, op: str = "use", key: str | None = None) -> BackupError:
    """One scrubbed line for an S3 or network failure."""
    from botocore.exceptions import (
        ClientError, ConnectionClosedError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError,
    )

    bucket = s3.bucket if s3 else "?"
    where = f"{key}: " if key else ""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _CONFIG_CODES:
            msg = BackupError(where + _CONFIG_CODES[code].format(op=op, bucket=bucket), config=True)
        elif code == "301" or status == 301:
            msg = BackupError(f"bucket {bucket} is in another region: set backup.region to the bucket's region",
                              config=True)
        elif code in ("403",) or status == 403:
            msg = BackupError(where + _CONFIG_CODES["AccessDenied"].format(op=op, bucket=bucket), config=True)
        else:
            text = str(err.get("Message") or code or status)
            msg = BackupError(f"{where}S3 refused to {op}: {code} {text}".strip())
    elif isinstance(exc, NoCredentialsError):
        msg = BackupError("no AWS credentials found: set them in the environment or ~/.aws/credentials", config=True)
    elif isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        msg = BackupError(f"{where}cannot reach S3 ({type(exc).__name__}) after {RETRIES} attempts: "
                          "check the network and backup.endpoint_url; run again to resume")
    else:
        msg = BackupError(f"{where}{op} failed: {type(exc).__name__}: {exc}")
    if s3 is not None:
        msg = BackupError(s3.scrub(str(msg)), config=msg.config)
    return msg


def check_bucket(s3: S3) -> None:
    """One request that tells a missing bucket, a wrong region and bad credentials apart."""
    try:
        s3.client.head_bucket(Bucket=s3.bucket)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if status == 404 or code in ("404", "NoSuchBucket"):
                raise BackupError(f"bucket {s3.bucket} does not exist (backup.bucket): create it first",
                                  config=True) from None
        raise describe(s3, exc, "read") from None


def ensure_bucket(s3: S3, region: str | None) -> bool:
    """Create the bucket unless it exists (the demo's local server); True when created."""
    try:
        check_bucket(s3)
        return False
    except BackupError as exc:
        if "does not exist" not in str(exc):
            raise
    extra = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region and region != "us-east-1" else {}
    try:
        s3.client.create_bucket(Bucket=s3.bucket, **extra)
    except Exception as exc:  # noqa: BLE001
        raise describe(s3, exc, "create") from None
    return True


def is_missing(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404


class Throttle:
    """A shared byte budget per second for all transfers (None: no limit)."""

    def __init__(self, rate: int | None):
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int) -> None:
        if not self.rate or n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
            wait = start - now
        if wait > 0:
            time.sleep(wait)


class ThrottledReader:
    """A seekable file view of [offset, offset + length) that draws from a Throttle."""

    def __init__(self, f: Any, offset: int, length: int, throttle: Throttle):
        self._f, self._start, self._len, self._t = f, offset, length, throttle
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        left = self._len - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        self._t.take(len(data))
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else self._len + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._len
