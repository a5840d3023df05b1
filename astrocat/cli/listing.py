"""`astrocat list ...`: frames, sessions, targets, equipment, duplicates and rejects."""

from __future__ import annotations

from typing import Optional

from astrocat import catalog
from astrocat.config import Settings
from astrocat.cli import output
from astrocat.cli.app import app, group, open_db, settings
from astrocat.rules.sessions import targets_label
from astrocat.cli.options import JSON, LIMIT, FILTERS, Filters, with_filters

list_app = group("List files, sessions, targets, equipment, duplicates and rejects, with filters.")
app.add_typer(list_app, name="list")

FILE_COLUMNS = [
    ("path", "path"), ("frame_type", "type"), ("target", "target"), ("filter", "filter"),
    ("exposure_s", "exp s"), ("night", "night"), ("camera", "camera"), ("telescope", "telescope"),
]


@list_app.command("files")
@with_filters()
def list_files(
    filters: Filters = FILTERS, limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Cataloged frames. `--json` prints every field of each frame (docs/data-model.md).

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session`, plus `--limit` and `--json`.

    Examples: `astrocat list files --target M31 --filter Ha` ·
    `astrocat list files --type flat --night 2024-11-01 --json`
    """
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        # streamed from the cursor: constant memory whatever the size of the catalog
        if as_json:
            output.print_json_array(catalog.iter_frames(db, flt, limit))
        else:
            # narrow terminals: equipment goes first, then the night; the path keeps its file name
            output.print_table_stream(lambda: catalog.iter_frames(db, flt, limit), FILE_COLUMNS,
                                      title=lambda n: output.plural(n, "frame"),
                                      drop=("telescope", "camera", "night", "exposure_s"), shrink=("path",))


@list_app.command("sessions")
@with_filters()
def list_sessions(
    filters: Filters = FILTERS, limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Imaging sessions (night + camera + telescope), newest first.

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session` (a session is listed when some of its frames match), plus
    `--limit` and `--json`.

    Example: `astrocat list sessions --year 2024 --target M31`
    """
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        rows = catalog.list_sessions(db, flt, limit)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["integration"] = output.hours(r["integration_s"])
        r["targets"] = targets_label(r["targets"], r["lights"])
        r["temp"] = "" if r.get("ccd_temp_mean") is None else f"{r['ccd_temp_mean']:.0f}"
    # the session id stays whole (it is what --session takes); calibration counts go first
    output.print_table(
        rows,
        [("id", "session"), ("targets", "targets"), ("lights", "lights"), ("integration", "integration"),
         ("filters", "filters"), ("darks", "darks"), ("flats", "flats"), ("biases", "bias"),
         ("darkflats", "dark-flats"), ("temp", "°C")],
        title=output.plural(len(rows), "session"),
        drop=("temp", "darkflats", "biases", "flats", "darks", "filters", "lights"), clip=("targets", "filters"),
    )


@list_app.command("targets")
@with_filters(types=False)
def list_targets(
    filters: Filters = FILTERS,
    limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Targets with total integration (light frames), filters and first/last night.

    Takes every filter but `--type` (a target's totals are of its light frames):
    `--target --filter --night --from --to --year --camera --telescope --session`,
    plus `--limit` and `--json`.

    Example: `astrocat list targets --year 2024`
    """
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        rows = catalog.list_targets(db, flt, limit)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["integration"] = output.hours(r["integration_s"])
    output.print_table(
        rows,
        [("name", "target"), ("common_name", "common name"), ("integration", "integration"), ("frames", "lights"),
         ("filters", "filters"), ("nights", "nights"), ("first_night", "first"), ("last_night", "last")],
        title=output.plural(len(rows), "target"), drop=("first_night", "nights", "last_night", "common_name"),
        clip=("filters",),
    )


def _list_values(column: str, title: str, limit: Optional[int], as_json: bool, filters: Filters) -> None:
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        rows = catalog.list_values(db, column, flt, limit)
        raw = catalog.raw_names(db, column, flt) if column in ("camera", "telescope") else []
    if column in ("camera", "telescope"):
        _equipment(s, column, rows, raw, as_json)
        return
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["integration"] = output.hours(r["integration_s"])
    output.print_table(
        rows,
        [("name", column), ("frames", "frames"), ("integration", "light integration"), ("nights", "nights"),
         ("first_night", "first"), ("last_night", "last")],
        title=title, drop=("first_night", "last_night", "nights"),
    )


def _equipment(s: Settings, column: str, rows: list[dict], raw: list[dict], as_json: bool) -> None:
    """Cameras or telescopes with the raw header names behind each and its profile (`[equipment]`)."""
    find = s.equipment.camera if column == "camera" else s.equipment.telescope
    mounts = sorted({r["raw"] for r in raw if r["name"] is None and r["mount"]})
    for r in rows:
        r["raw_names"] = sorted({x["raw"] for x in raw if x["name"] == r["name"]})
        p = find(r["name"])
        if column == "camera":
            r["profile"] = None if p is None else {
                "name": p.name, "pixel_um": p.pixel_um, "width_px": p.width_px, "height_px": p.height_px,
                "sensor_mm": None if p.sensor_mm is None else [round(x, 2) for x in p.sensor_mm]}
        else:
            r["profile"] = None if p is None else {
                "name": p.name, "aperture_mm": p.aperture_mm, "focal_length_mm": p.focal_length_mm,
                "f_ratio": None if p.f_ratio is None else round(p.f_ratio, 2)}
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["integration"] = output.hours(r["integration_s"])
        r["raw"] = ", ".join(n for n in r["raw_names"] if n != r["name"]) or "(same)"
        p = r["profile"]
        if p is None:
            r["spec"] = "no profile"
        elif column == "camera":
            size = f" · {p['width_px']}x{p['height_px']} px" if p["width_px"] and p["height_px"] else ""
            r["spec"] = (f"{p['pixel_um']:g} µm" if p["pixel_um"] else "?") + size
        else:
            parts = [f"{p['aperture_mm']:g} mm" if p["aperture_mm"] else None,
                     f"{p['focal_length_mm']:g} mm FL" if p["focal_length_mm"] else None,
                     f"f/{p['f_ratio']:g}" if p["f_ratio"] else None]
            r["spec"] = " · ".join(x for x in parts if x) or "?"
    output.print_table(
        rows,
        [("name", column), ("raw", "header names"), ("spec", "profile"), ("frames", "frames"),
         ("integration", "light integration"), ("nights", "nights")],
        title=f"{column}s", drop=("nights", "raw"),
    )
    if column == "telescope" and mounts:
        output.info(f"TELESCOP values that name a mount, not a telescope: {', '.join(mounts)}")


@list_app.command("cameras")
@with_filters()
def list_cameras(
    filters: Filters = FILTERS, limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Cameras (INSTRUME, after your aliases and profiles) with frame counts, for the frames the filters select.

    Each shows the raw header names behind it and its `[equipment.camera]` profile
    (pixel size, sensor size), or "no profile".

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session`, plus `--limit` and `--json`.

    Examples: `astrocat list cameras` · `astrocat list cameras --target M31 --year 2024`
    """
    _list_values("camera", "cameras", limit, as_json, filters)


@list_app.command("telescopes")
@with_filters()
def list_telescopes(
    filters: Filters = FILTERS, limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Telescopes (TELESCOP, mounts excluded, after your aliases and profiles), for the frames the filters select.

    Each shows the raw header names behind it and its `[equipment.telescope]` profile
    (aperture, focal length, focal ratio); TELESCOP values that name a mount are listed apart.

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session`, plus `--limit` and `--json`.

    Examples: `astrocat list telescopes` · `astrocat list telescopes --camera ASI2600MM --type light`
    """
    _list_values("telescope", "telescopes", limit, as_json, filters)


@list_app.command("filters")
@with_filters()
def list_filter_names(
    filters: Filters = FILTERS, limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Filters (canonical names) with frame counts, for the frames the filters select.

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session`, plus `--limit` and `--json`.

    Examples: `astrocat list filters --target M31` · `astrocat list filters --type flat --night 2024-10-03`
    """
    _list_values("filter", "filters", limit, as_json, filters)


@list_app.command("duplicates")
@with_filters()
def list_duplicates(
    filters: Filters = FILTERS, limit: Optional[int] = LIMIT, as_json: bool = JSON,
) -> None:
    """Identical content (same sha256) cataloged at more than one path.

    Takes every filter: `--target --filter --type --night --from --to --year --camera
    --telescope --session` (matched against the copies' headers, which are the same
    for every copy), plus `--limit` and `--json`.

    Examples: `astrocat list duplicates --json` · `astrocat list duplicates --night 2024-10-03`
    """
    s = settings()
    flt = filters.of(s)
    with open_db(s, readonly=True) as db:
        rows = catalog.list_duplicates(db, limit, flt)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["sha"] = r["sha256"][:12]
        r["bytes"] = output.human_bytes(r["size"])
        r["where"] = "\n".join(r["paths"])
    output.print_table(rows, [("sha", "sha256"), ("copies", "copies"), ("bytes", "size"), ("where", "paths")],
                       title=output.plural(len(rows), "duplicated content"), shrink=("where",))


@list_app.command("rejects")
def list_rejects(limit: Optional[int] = LIMIT, as_json: bool = JSON) -> None:
    """Files the scan could not catalog, with the reason.

    Takes only `--limit` and `--json`: a rejected file has no header values (target,
    night, camera, ...) for the other filters to match.

    Example: `astrocat list rejects`
    """
    s = settings()
    with open_db(s, readonly=True) as db:
        rows = catalog.list_rejects(db, limit)
    if as_json:
        output.print_json(rows)
        return
    for r in rows:
        r["bytes"] = output.human_bytes(r["size"])
    output.print_table(rows, [("path", "path"), ("bytes", "size"), ("reason", "reason")],
                       title=output.plural(len(rows), "rejected file"), shrink=("path",), wrap=("reason",))
