"""Helpers for the backup tests: moto's S3 server over real HTTP on 127.0.0.1, a library
with real FITS frames filed by organize, and a CLI runner that asserts no credential
ever appears in what astrocat prints."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import invoke_cli, need, run_cli
from organize_util import write_frames

# Dummy credentials: distinctive, so that any leak into output is found.
ACCESS_KEY = "AKIAASTROCATTEST7777"
SECRET_KEY = "astrocat/SECRET+never-print-me/0123456789abcdef"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's ThreadedMotoServer on a free loopback port, for the whole module."""
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
    except Exception as exc:  # noqa: BLE001 - any failure to start is the same verdict
        need(False, f"moto's S3 server cannot start: {exc}")
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Only the dummy credentials of the environment: no ~/.aws, no instance metadata."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def no_secrets(text: str) -> None:
    assert ACCESS_KEY not in text and SECRET_KEY not in text, "a credential was printed"
    assert SECRET_KEY.split("/")[1] not in text


def cli(*args: str, cwd: Path, expect: int | None = 0, subprocess: bool = False) -> Any:
    """Run astrocat; check the exit code and that no credential is in its output."""
    r = (run_cli if subprocess else invoke_cli)(*args, cwd=cwd)
    no_secrets(r.stdout + r.stderr)
    if expect is not None:
        assert r.returncode == expect, (args, r.returncode, r.stdout, r.stderr)
    return r


def cli_json(*args: str, cwd: Path, expect: int | None = 0) -> Any:
    return json.loads(cli(*args, "--json", cwd=cwd, expect=expect).stdout)


def configure(settings, endpoint: str, bucket: str, **extra: Any) -> Path:
    """Append a [backup] section to the library's astrocat.toml and create the bucket."""
    client(endpoint).create_bucket(Bucket=bucket)
    values = {"bucket": bucket, "prefix": "astro", "region": REGION, "endpoint_url": endpoint, **extra}
    lines = ["", "[backup]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    cfg = settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")
    return cfg.parent


def add_frames(settings, n: int, start: int = 0, **cards: Any) -> dict[str, str]:
    """n frames into quarantine, scanned and filed into the library: {library path: sha256}."""
    written = write_frames(settings.quarantine / f"batch{start}", n, start=start, **cards)
    root = settings.config_path.parent
    cli("scan", cwd=root)
    cli("organize", cwd=root)
    db = sqlite3.connect(settings.catalog)
    shas = set(written.values())
    rows = db.execute("SELECT path, sha256 FROM frames WHERE location = 'library'").fetchall()
    db.close()
    return {p: s for p, s in rows if s in shas}


def set_transition(endpoint: str, progression: str, **more: Any) -> None:
    """moto's state manager: how restore requests (s3::keyrestore) progress."""
    body = {"model_name": "s3::keyrestore", "transition": {"progression": progression, **more}}
    req = urllib.request.Request(f"{endpoint}/moto-api/state-manager/set-transition",
                                 data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201  # moto answers Created
