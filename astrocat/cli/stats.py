"""`astrocat stats ...`: frames, integration hours and storage, in total and grouped."""

from __future__ import annotations


from astrocat import catalog
from astrocat.cli import output
from astrocat.cli.app import app, group, open_db, settings
from astrocat.cli.options import JSON, FILTERS, Filters, with_filters

stats_app = group("Frames, integration hours and storage: summary, by target, filter, month, equipment.")
app.add_typer(stats_app, name="stats")


@stats_app.command("summary")
@with_filters()
def stats_summary(
    filters: Filters = FILTERS, as_json: bool = JSON,
) -> None:
    """Frames, light frames, integration hours, nights, sessions, targets, storage.

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session`.

    Example ("how many hours of Ha on M31?"): `astrocat stats summary --target M31 --filter Ha`
    """
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        data = catalog.stats_summary(db, flt)
    if as_json:
        output.print_json(data)
        return
    # the names as matched (`--target "M 31"` reads M31)
    scope = " ".join(x for x in (flt.target, flt.filter, str(flt.year) if flt.year else None) if x)
    plural = output.plural
    output.info(
        f"{scope + ': ' if scope else ''}{output.hours(data['integration_s'])} of light in "
        f"{plural(data['light_frames'], 'frame')} over {plural(data['nights'], 'night')}"
    )
    output.info(
        f"{plural(data['frames'], 'frame')} in all "
        f"({', '.join(f'{k} {v}' for k, v in sorted(data['frames_by_type'].items()))}), "
        f"{plural(data['sessions'], 'session')}, {plural(data['targets'], 'target')}, "
        f"{output.human_bytes(data['bytes'])}"
        + (f", {plural(data['rejects'], 'rejected file')}" if data["rejects"] else "")
    )


def _grouped(group_by: str, title: str, as_json: bool, filters: Filters) -> None:
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        rows = catalog.stats_grouped(db, flt, group_by)
    if as_json:
        output.print_json(rows)
        return
    if len(rows) == 1 and group_by != "month":
        r = rows[0]
        output.info(f"{r['name']}: {output.hours(r['integration_s'])} in {output.plural(r['light_frames'], 'light frame')} "
                    f"over {output.plural(r['nights'], 'night')}")
        return
    _print_sized(rows, [("name", title), ("integration", "integration"), ("light_frames", "lights"),
                        ("nights", "nights"), ("size", "size")])


def _print_sized(rows: list[dict], columns: list[tuple[str, str]], drop: tuple[str, ...] = ("size", "nights")) -> None:
    """A stats table with integration as hours and sizes in KB/MB/GB (--json keeps the numbers)."""
    for r in rows:
        r["integration"] = output.hours(r["integration_s"])
        r["size"] = output.human_bytes(r["bytes"])
    output.print_table(rows, columns, drop=drop)


@stats_app.command("by-target")
@with_filters(types=False)
def stats_by_target(
    filters: Filters = FILTERS,
    as_json: bool = JSON,
) -> None:
    """Light integration per target. Example: `astrocat stats by-target --filter Ha`


    Takes every filter but `--type` (it adds up light frames): `--target --filter --night
    --from --to --year --camera --telescope --session`.

    With one target and one filter it answers in one line:
    `astrocat stats by-target --target M31 --filter Ha` -> `M31: 12.50 h in 150 light frames over 4 nights`
    """
    _grouped("target", "target", as_json, filters)


@stats_app.command("by-filter")
@with_filters(types=False)
def stats_by_filter(
    filters: Filters = FILTERS,
    as_json: bool = JSON,
) -> None:
    """Light integration per filter. Example: `astrocat stats by-filter --target M31`

    Takes every filter but `--type` (it adds up light frames): `--target --filter --night
    --from --to --year --camera --telescope --session`.
    """
    _grouped("filter", "filter", as_json, filters)


@stats_app.command("by-month")
@with_filters(types=False)
def stats_by_month(
    filters: Filters = FILTERS,
    as_json: bool = JSON,
) -> None:
    """Light integration per month of the night. Example: `astrocat stats by-month --year 2024`

    Takes every filter but `--type` (it adds up light frames): `--target --filter --night
    --from --to --year --camera --telescope --session`.
    """
    _grouped("month", "month", as_json, filters)


@stats_app.command("equipment")
@with_filters()
def stats_equipment(
    filters: Filters = FILTERS, as_json: bool = JSON,
) -> None:
    """Frames and integration per camera + telescope. Example: `astrocat stats equipment --year 2024`

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session`.
    """
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        rows = catalog.stats_equipment(db, flt)
    if as_json:
        output.print_json(rows)
        return
    _print_sized(rows, [("camera", "camera"), ("telescope", "telescope"), ("frames", "frames"),
                        ("light_frames", "lights"), ("integration", "integration"), ("nights", "nights"),
                        ("size", "size")], drop=("nights", "frames", "size"))
