"""The feature registry: one place says what each feature adds, and only built features show."""

from __future__ import annotations

import pytest

from astrocat import features
from astrocat.datasette import app as datasette_app


def test_pipelines_run_the_registered_steps_in_order() -> None:
    assert [s.name for s in features.steps("sync")] == ["recover", "scan", "processing-outputs", "organize",
                                                        "processing-links", "notes", "site", "backup"]
    assert [s.name for s in features.steps("demo")] == ["recover", "scan", "processing-outputs", "organize",
                                                        "processing-links", "demo-processing", "notes", "demo-note",
                                                        "site", "backup"]
    assert [s.name for s in features.steps("scan")] == ["recover", "scan", "processing-outputs"]
    assert [s.name for s in features.steps("build")] == ["notes", "site"]
    with pytest.raises(ValueError):
        features.steps("backup")


def test_every_step_and_check_reference_resolves_to_a_function() -> None:
    for f in features.built():
        for step in f.steps:
            assert callable(features.resolve(step.run)), step
    for names, check in features.checks():
        assert names and callable(check)


def test_migrations_are_unique_ordered_and_cover_the_schema() -> None:
    numbers = [n for n, _, _ in features.migrations()]
    assert numbers == sorted(set(numbers)) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert features.latest_migration() == 14


def test_migration_numbers_used_twice_are_refused(monkeypatch) -> None:
    clash = features.Feature("clash", "Clash", migrations=((3, "again", "astrocat.catalog.schema:_m1_initial"),))
    monkeypatch.setattr(features, "FEATURES", features.FEATURES + (clash,))
    with pytest.raises(RuntimeError, match="used twice"):
        features.migrations()


def test_built_features_offer_their_nav_entries_and_commands() -> None:
    hrefs = [href for _, _, href in features.nav()]
    assert hrefs == ["index.html", "sessions/index.html", "targets/index.html", "files.html", "stats.html",
                     "processing/index.html", "calibration/index.html", "backups/index.html"]
    assert features.command_available("astrocat list files --session X")
    assert features.command_available("astrocat build --open")
    assert features.command_available("astrocat processing create --target M31")
    assert features.command_available("astrocat backup upload --dry-run")
    assert not features.command_available("astrocat frobnicate --all")
    assert not features.command_available("rm -rf /")
    assert "processing" in features.note_kinds()


def test_a_feature_not_built_shows_no_nav_entry_command_or_note_kind(monkeypatch) -> None:
    unbuilt = tuple(features.Feature(**{**f.__dict__, "built": False}) if f.name == "processing" else f
                    for f in features.FEATURES)
    monkeypatch.setattr(features, "FEATURES", unbuilt)
    assert ("processing", "Processing", "processing/index.html") not in features.nav()
    assert not features.command_available("astrocat processing create --target M31")
    assert "processing" not in features.note_kinds()
    assert features.command_available("astrocat backup upload --dry-run")


def test_datasette_metadata_fragments_merge_tables_and_queries() -> None:
    base = {"title": "astrocat", "databases": {"catalog": {"tables": {"frames": {"label_column": "path"}},
                                                           "queries": {"a": {"sql": "select 1"}}}}}
    extra = {"title": "ignored", "databases": {"catalog": {"tables": {"backups": {"description": "b"}},
                                                            "queries": {"b": {"sql": "select 2"}}}}}
    merged = datasette_app.merge_fragments([base, extra])
    assert merged["title"] == "astrocat"
    assert merged["databases"]["catalog"]["tables"] == {"frames": {"label_column": "path"},
                                                        "backups": {"description": "b"}}
    assert sorted(merged["databases"]["catalog"]["queries"]) == ["a", "b"]
    assert [p.as_posix().rsplit("/", 2)[-2:] for p in datasette_app.fragment_paths()] == [
        ["datasette", "metadata.yml"], ["processing", "metadata.yml"], ["backup", "datasette.yml"]]


def test_the_cli_registers_the_commands_of_built_features_only() -> None:
    from typer.main import get_command

    from astrocat.cli import app

    names = set(get_command(app).commands)
    owned = {c for f in features.built() for c in f.commands}
    assert names == owned
    assert {"processing", "calibration", "backup"} <= names
    assert features.cli_modules()[0] == "astrocat.cli.init_scan"
