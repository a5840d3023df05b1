"""Datasette over the catalog: metadata, validation, links for the site, the server process.

The catalog is served as a plain (mutable) database: Datasette then reads it through
`?mode=ro` connections, so it can never write, and a scan running meanwhile shows up
on the next page load. `-i` (immutable) is not used: it skips SQLite's locking and WAL
handling, so committed rows still in the catalog's -wal file would be missing.
"""

from __future__ import annotations

import errno
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import yaml


from astrocat import features
from astrocat.config import Settings
from astrocat.links import frames_url, query_url, session_frames_url, table_url  # noqa: F401 (re-exported)
from astrocat.resources import package_path

METADATA_PATH = package_path("astrocat.datasette", "metadata.yml")
# The database key in metadata.yml; replaced by the catalog's own name.
TEMPLATE_DB = "catalog"

# Datasette settings for a catalog of up to a few million frames (docs/datasette.md).
SETTINGS: dict[str, Any] = {
    "sql_time_limit_ms": 5000,  # ad-hoc SQL over 1M frames needs more than the default 1 s
    "facet_time_limit_ms": 1000,  # seven facets on `frames`; 200 ms is too tight at 1M rows
    "max_returned_rows": 5000,  # integration by target and filter: 200 targets x 10 filters
    "suggest_facets": False,  # suggestions probe all 38 columns on every page load
}

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8001

_KNOWN_TOP = {"title", "description", "description_html", "license", "license_url", "source",
              "source_url", "about", "about_url", "databases", "plugins", "allow", "allow_sql"}
_KNOWN_TABLE = {"description", "description_html", "label_column", "sort", "sort_desc", "facets",
                "columns", "hidden", "fts_table", "fts_pk", "searchmode", "size", "title",
                "units", "source", "license", "allow", "sortable_columns", "facet_size"}
_KNOWN_QUERY = {"sql", "title", "description", "description_html", "hide_sql", "params", "fragment"}


class DatasetteError(Exception):
    """Datasette cannot be started: the message names the file or address and the reason."""


# --- metadata ---------------------------------------------------------------------------


def database_name(catalog_path: str | Path) -> str:
    """Datasette's name for the catalog: the file name without its extension."""
    return Path(catalog_path).stem


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetteError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise DatasetteError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetteError(f"{path}: expected a mapping of Datasette metadata")
    return data


def fragment_paths() -> list[Path]:
    """The Datasette metadata fragment of every built feature, in registry order."""
    out = []
    for f in features.built():
        if f.datasette:
            package, _, name = f.datasette.partition(":")
            out.append(package_path(package, name))
    return out


def merge_fragments(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    """One metadata document: top-level keys from the first fragment that has them;
    tables and canned queries of the template database from all of them. Pure."""
    out: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    queries: dict[str, Any] = {}
    for frag in fragments:
        for key, value in frag.items():
            if key != "databases":
                out.setdefault(key, value)
        db = (frag.get("databases") or {}).get(TEMPLATE_DB) or {}
        for key, value in db.items():
            if key == "tables":
                tables.update(value or {})
            elif key == "queries":
                queries.update(value or {})
            else:
                out.setdefault("databases", {}).setdefault(TEMPLATE_DB, {}).setdefault(key, value)
    entry = out.setdefault("databases", {}).setdefault(TEMPLATE_DB, {})
    if tables:
        entry["tables"] = tables
    if queries:
        entry["queries"] = queries
    return out


def load_metadata(db_name: str = TEMPLATE_DB, paths: list[Path] | None = None) -> dict[str, Any]:
    """The built features' metadata fragments, merged, with the database keyed db_name."""
    return for_database(merge_fragments([_read_yaml(p) for p in (paths or fragment_paths())]), db_name)


def for_database(metadata: dict[str, Any], db_name: str) -> dict[str, Any]:
    """A copy of metadata whose template database entry is keyed by db_name. Pure."""
    out = dict(metadata)
    dbs = dict(out.get("databases") or {})
    if TEMPLATE_DB in dbs and db_name != TEMPLATE_DB:
        dbs[db_name] = dbs.pop(TEMPLATE_DB)
    out["databases"] = dbs
    return out


def validate_metadata(metadata: dict[str, Any], conn: sqlite3.Connection, db_name: str) -> list[str]:
    """Problems with metadata against a real catalog: unknown keys, tables, columns; SQL that
    does not compile. A table entry holding only `hidden: true` may be absent (a later
    migration's table). Every visible table's columns must be described."""
    problems: list[str] = []
    for key in sorted(set(metadata) - _KNOWN_TOP):
        problems.append(f"unknown top-level key {key!r}")
    for key in ("title", "description", "source", "license"):
        if not metadata.get(key):
            problems.append(f"missing {key}")
    db_meta = (metadata.get("databases") or {}).get(db_name)
    if not isinstance(db_meta, dict):
        return problems + [f"no entry for database {db_name!r}"]
    existing = {
        name: kind
        for name, kind in conn.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')")
    }
    tables: dict[str, Any] = db_meta.get("tables") or {}
    for table, tmeta in tables.items():
        where = f"table {table}"
        if not isinstance(tmeta, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        for key in sorted(set(tmeta) - _KNOWN_TABLE):
            problems.append(f"{where}: unknown key {key!r}")
        if table not in existing:
            if set(tmeta) != {"hidden"}:
                problems.append(f"{where}: no such table in the catalog")
            continue
        cols = _columns(conn, table)
        named: list[tuple[str, str]] = [(f"column {c}", c) for c in (tmeta.get("columns") or {})]
        for key in ("label_column", "sort", "sort_desc"):
            if key in tmeta:
                named.append((key, tmeta[key]))
        for facet in tmeta.get("facets") or []:
            col = facet if isinstance(facet, str) else next(iter(facet.values()), None)
            named.append(("facet", col))
        for what, col in named:
            if col not in cols:
                problems.append(f"{where}: {what}: no column {col!r}")
        if not tmeta.get("hidden"):
            if not tmeta.get("description"):
                problems.append(f"{where}: no description")
            undescribed = [c for c in cols if c not in (tmeta.get("columns") or {})]
            if undescribed:
                problems.append(f"{where}: columns without a description: {', '.join(undescribed)}")
    hidden_by_datasette = _fts_tables(conn)
    for table, kind in existing.items():
        if kind == "table" and not table.startswith("sqlite_") and table not in tables and not any(
            table.startswith(h) for h in hidden_by_datasette
        ):
            problems.append(f"table {table}: in the catalog but not in the metadata (describe or hide it)")
    for name, qmeta in (db_meta.get("queries") or {}).items():
        where = f"query {name}"
        if not isinstance(qmeta, dict) or not qmeta.get("sql"):
            problems.append(f"{where}: no sql")
            continue
        for key in sorted(set(qmeta) - _KNOWN_QUERY):
            problems.append(f"{where}: unknown key {key!r}")  # `write: true` lands here too
        if not qmeta.get("title") or not qmeta.get("description"):
            problems.append(f"{where}: needs a title and a description")
        sql = qmeta["sql"]
        params = {p: "" for p in query_params(sql)}
        try:
            conn.execute("EXPLAIN " + sql, params).fetchall()
        except sqlite3.Error as exc:
            problems.append(f"{where}: SQL does not compile: {exc}")
        if not re.match(r"\s*(select|with)\b", sql, re.I):
            problems.append(f"{where}: not a SELECT")
    return problems


def query_params(sql: str) -> list[str]:
    """The :named parameters of a canned query, in order of first use. Pure."""
    seen: list[str] = []
    for name in re.findall(r"(?<![:\w]):(\w+)", re.sub(r"'[^']*'", "''", sql)):
        if name not in seen:
            seen.append(name)
    return seen


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    # table_xinfo: generated columns (frames.month) included, as Datasette shows them
    return [r[1] for r in conn.execute(f'PRAGMA table_xinfo("{table}")')]


def _fts_tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE rootpage = 0 AND sql LIKE '%VIRTUAL TABLE%USING FTS%'"
    )]


# --- links for the site -------------------------------------------------------------------

_FACETS = ("frame_type", "target", "filter", "camera", "telescope", "night", "month")


# --- the server ------------------------------------------------------------------------------


def address_from_url(url: str) -> tuple[str, int]:
    """(host, port) of the configured Datasette URL, for the server's defaults. Pure."""
    parts = urlsplit(url)
    return parts.hostname or DEFAULT_HOST, parts.port or (DEFAULT_PORT if parts.scheme != "https" else 443)


def serve_command(catalog_path: Path, metadata_file: Path, host: str, port: int,
                  open_browser: bool = False) -> list[str]:
    """The `python -m datasette serve` command line. Pure."""
    cmd = [sys.executable, "-m", "datasette", "serve", str(catalog_path), "--metadata", str(metadata_file),
           "--host", host, "--port", str(port)]
    for key, value in SETTINGS.items():
        cmd += ["--setting", key, ("on" if value else "off") if isinstance(value, bool) else str(value)]
    if open_browser:
        cmd.append("--open")
    return cmd


def check_port(host: str, port: int) -> None:
    """Raise DatasetteError when host:port cannot be listened on (in use, bad address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DatasetteError(f"{host}: not an address to listen on ({exc.strerror}); pass --host") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(addr)
        except OSError as exc:
            reason = ("already in use; pick another with --port" if exc.errno == errno.EADDRINUSE
                      else f"cannot listen there ({exc.strerror or exc}); pass --host or --port")
            raise DatasetteError(f"{host}:{port}: {reason}") from None


def prepare(catalog_path: Path) -> tuple[str, dict[str, Any]]:
    """(database name, metadata) for the catalog, after checking the metadata against it."""
    name = database_name(catalog_path)
    metadata = load_metadata(name)
    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    try:
        problems = validate_metadata(metadata, conn, name)
    finally:
        conn.close()
    # Undescribed columns and tables (another feature's, not yet documented) must not stop
    # the server; broken references and SQL that does not compile do.
    fatal = [p for p in problems if "without a description" not in p and "not in the metadata" not in p]
    if fatal:
        more = f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""
        raise DatasetteError(f"{METADATA_PATH}: {fatal[0]}{more}")
    return name, metadata


def update_catalog(catalog_path: Path, rebuild_search: bool = False) -> None:
    """Run pending migrations (the search tables), and rebuild the search indexes if asked,
    holding the catalog lock for the rebuild."""
    from astrocat import catalog
    from astrocat.lock import catalog_lock

    if not catalog_path.exists():
        raise catalog.CatalogError(f"{catalog_path}: no catalog yet; run `astrocat scan` first")
    ro = catalog.open_catalog(catalog_path, readonly=True)
    try:
        current = catalog.schema_version(ro)
    except sqlite3.DatabaseError as exc:
        raise catalog.CatalogError(f"{catalog_path}: not a usable catalog: {exc}") from None
    finally:
        ro.conn.close()
    if current >= features.latest_migration() and not rebuild_search:
        return  # nothing to write: a catalog on read-only storage is served as it is
    db = catalog.open_catalog(catalog_path)
    try:
        if rebuild_search:
            with catalog_lock(catalog_path, "datasette --rebuild-search"), db.conn:
                catalog.rebuild_fts(db)
    finally:
        db.conn.close()


def serve(settings: Settings, host: str | None = None, port: int | None = None, open_browser: bool = False,
          rebuild_search: bool = False, echo: Callable[[str], None] = print) -> int:
    """Run Datasette on the catalog until it stops or Ctrl-C; returns its exit code.

    Host and port default to the `[datasette] url` of astrocat.toml, which the site links to.
    Raises CatalogError (no catalog), LockBusy (rebuild while another process writes) or
    DatasetteError (metadata broken, address unusable) before anything starts.
    """
    import json

    url_host, url_port = address_from_url(settings.datasette_url)
    host = host or url_host
    port = port or url_port
    update_catalog(settings.catalog, rebuild_search)
    name, metadata = prepare(settings.catalog)
    check_port(host, port)
    with tempfile.TemporaryDirectory(prefix="astrocat-datasette-") as tmp:
        meta_file = Path(tmp) / "metadata.json"
        meta_file.write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
        shown = f"[{host}]" if ":" in host else host
        echo(f"Datasette on http://{shown}:{port}/{name} (read-only; Ctrl-C stops it)")
        proc = subprocess.Popen(serve_command(settings.catalog, meta_file, host, port, open_browser))
        previous = _on_sigterm_raise_interrupt()
        try:
            return proc.wait()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: never leave Datasette running behind us
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            return 0
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _on_sigterm_raise_interrupt() -> Any:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None
