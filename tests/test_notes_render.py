"""The pure notes modules: typed frontmatter and tags (notes.yaml), note names
(notes.paths, rules.naming.note_stem), generated blocks (notes.content), and the merge
that keeps the user's text (notes.merge). Plain values in, plain values out."""

from __future__ import annotations

import math
import re
from datetime import date

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from astrocat.notes.content import PROPERTY_TYPES, SESSION_KEYS, processing_note, session_note, target_note
from astrocat.notes.merge import (
    BEGIN,
    DEFAULT_TAIL,
    END,
    PLACEHOLDER,
    frontmatter_entries,
    merge,
    new_note,
    split_note,
    user_text,
)
from astrocat.notes.paths import assign_paths
from astrocat.notes.yaml import Link, make_tag, render_entry, render_frontmatter, yaml_scalar
from astrocat.rules.naming import note_stem

FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str):
    return yaml.load(text, Loader=FAST)


OBSIDIAN_TAG = re.compile(r"[\w\-]+(?:/[\w\-]+)*")


def valid_tag(tag: str) -> bool:
    return bool(OBSIDIAN_TAG.fullmatch(tag)) and bool(re.search(r"[^\d/]", tag)) and " " not in tag


def split(text: str):
    """(frontmatter inner, between frontmatter and block, block, after block)."""
    parts = split_note(text)
    assert parts.problem is None, parts.problem
    t = parts.text
    a, b = parts.fm_inner
    return t[a:b], t[parts.body_start:parts.begin[0]], t[parts.begin[1]:parts.end[0]], t[parts.end[1]:]


# --- YAML values ------------------------------------------------------------------------


@given(st.text())
def test_any_text_property_round_trips_through_yaml(value):
    assert yaml.safe_load(render_entry("k", value)) == {"k": value}


@given(st.lists(st.text(), max_size=4))
def test_any_text_list_round_trips_through_yaml(values):
    assert yaml.safe_load(render_entry("k", values)) == {"k": values}


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_numbers_stay_numbers(x):
    loaded = yaml.safe_load(render_entry("k", x))["k"]
    assert isinstance(loaded, float)
    assert math.isclose(loaded, x, abs_tol=1e-6)


def test_typed_values_are_written_as_obsidian_expects():
    text = render_frontmatter({
        "night": date(2024, 11, 1), "lights": 54, "integration_h": 1.8, "temp": -0.0,
        "targets": [Link("M31"), Link("NGC 7000")], "filters": [], "camera": "ZWO ASI2600MM Pro",
        "answer": "yes", "flag": True, "skipped": None,
    })
    assert 'targets:\n  - "[[M31]]"\n  - "[[NGC 7000]]"\n' in text
    assert "night: 2024-11-01\n" in text and "lights: 54\n" in text and "integration_h: 1.8\n" in text
    assert "camera: ZWO ASI2600MM Pro\n" in text and 'answer: "yes"\n' in text and "filters: []\n" in text
    assert "skipped" not in text
    data = yaml.safe_load(text)
    assert data["night"] == date(2024, 11, 1) and data["answer"] == "yes" and data["flag"] is True
    assert data["temp"] == 0.0 and data["targets"] == ["[[M31]]", "[[NGC 7000]]"]


def test_bad_values_are_refused():
    with pytest.raises(ValueError):
        yaml_scalar(float("nan"))
    with pytest.raises(TypeError):
        yaml_scalar({"a": 1})
    with pytest.raises(ValueError):
        render_entry("not a key", 1)


# --- tags and names ---------------------------------------------------------------------


@given(st.text(), st.text())
def test_tags_are_valid_in_obsidian_or_absent(a, b):
    tag = make_tag(a, b)
    assert tag is None or valid_tag(tag)


@pytest.mark.parametrize("parts,expected", [
    (("target", "M31"), "target/M31"),
    (("target", "NGC 7000"), "target/NGC_7000"),
    (("filter", "Ha 3nm"), "filter/Ha_3nm"),
    (("filter", "L-eXtreme"), "filter/L-eXtreme"),
    (("camera", "ZWO ASI2600MM Pro"), "camera/ZWO_ASI2600MM_Pro"),
    (("2024",), "_2024"),
    (("target", "(none)"), "target/none"),
    (("target", "   "), None),
    (("target", "Sh2-155 / Cave"), "target/Sh2-155_Cave"),
])
def test_tag_examples(parts, expected):
    assert make_tag(*parts) == expected


@given(st.text())
def test_note_stems_are_safe_file_and_link_names(name):
    stem = note_stem(name)
    assert stem and len(stem) <= 150
    assert not re.search(r'[/\\:*?"<>|#^\[\]\x00-\x1f\x7f]', stem)
    assert not stem.startswith(".") and not stem.endswith((".", " "))
    assert note_stem(stem) == stem


def test_note_stem_examples():
    assert note_stem("M31") == "M31"
    assert note_stem("NGC 7000") == "NGC 7000"
    assert note_stem('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert note_stem("CON") == "CON_"
    assert note_stem("..") == "_"


def test_assign_paths_keeps_recorded_paths_and_never_collides():
    wanted = [("target:A/B", "Targets", "A/B"), ("target:A_B", "Targets", "A_B"), ("target:a_b", "Targets", "a_b")]
    paths = assign_paths(wanted, {})
    stems = [p.rsplit("/", 1)[1].lower() for p in paths.values()]
    assert len(set(stems)) == 3
    assert paths["target:A/B"] == "Targets/A_B.md"
    # a path recorded in an earlier run stays, even if the naming rule would now choose another
    again = assign_paths(wanted, {"target:A_B": "Targets/A_B.md"})
    assert again["target:A_B"] == "Targets/A_B.md" and again["target:A/B"] != "Targets/A_B.md"


# --- generated content ------------------------------------------------------------------

SESSION = {
    "id": "2024-10-03_ASI2600MM_Esprit100", "night": "2024-10-03", "camera": "ZWO ASI2600MM Pro",
    "telescope": "Esprit 100", "site_lat": 50.85, "site_lon": 4.35, "targets": '["M31"]',
    "filters": '["Ha", "L"]', "frames": 40, "lights": 30, "darks": 10, "flats": 0, "biases": 0,
    "darkflats": 0, "integration_s": 5400.0, "integration_by_filter": '{"Ha": 3000.0, "L": 2400.0}',
    "frames_by_type": '{"dark": 10, "light": 30}', "ccd_temp_min": -10.2, "ccd_temp_max": -9.8,
    "ccd_temp_mean": -10.0, "first_utc": "2024-10-03T19:00:00Z", "last_utc": "2024-10-04T02:00:00Z", "bytes": 1,
}
DETAIL = [
    {"session_id": SESSION["id"], "frame_type": "light", "is_master": 0, "target": "M31", "filter": "Ha", "exposure_s": 300.0, "frames": 10, "seconds": 3000.0},
    {"session_id": SESSION["id"], "frame_type": "light", "is_master": 0, "target": "M31", "filter": "L", "exposure_s": 120.0, "frames": 20, "seconds": 2400.0},
    {"session_id": SESSION["id"], "frame_type": "dark", "is_master": 0, "target": None, "filter": None, "exposure_s": 300.0, "frames": 10, "seconds": 3000.0},
]
STEMS = {"target:M31": "M31", f"session:{SESSION['id']}": SESSION["id"]}


def test_session_note_says_what_the_catalog_says():
    c = session_note(SESSION, DETAIL, STEMS)
    fm = yaml.safe_load(render_frontmatter(c.frontmatter))
    assert fm["night"] == date(2024, 10, 3) and fm["targets"] == ["[[M31]]"] and fm["lights"] == 30
    assert fm["integration_h"] == 1.5 and fm["filters"] == ["Ha", "L"] and fm["ccd_temp_c"] == -10.0
    assert "target/M31" in fm["tags"] and "filter/Ha" in fm["tags"] and all(valid_tag(t) for t in fm["tags"])
    assert set(fm) <= set(PROPERTY_TYPES) and set(fm) <= c.owned_keys
    # integration in the unit that reads best: 10 x 300 s = 50 min, 20 x 120 s = 40 min, 5400 s = 1.50 h
    assert "| [[M31]] | Ha | 10 | 300 s | 50 min |" in c.block
    assert "| [[M31]] | L | 20 | 120 s | 40 min |" in c.block
    assert "| Light frames | 30 · 1.50 h |" in c.block
    assert "| **Total** |  | **30** |  | **1.50 h** |" in c.block
    assert "| Dark |  | 10 | 300 s |" in c.block
    assert BEGIN not in c.block and END not in c.block


def test_links_only_to_notes_that_exist():
    c = session_note(SESSION, DETAIL, {})  # the M31 note was deleted by the user
    assert "[[" not in c.block
    assert c.frontmatter["targets"] == ["M31"]


def test_header_values_cannot_break_the_markdown():
    evil = {**SESSION, "camera": "Cam | %% astrocat:end %% [[x]] #tag <b>", "targets": '["A|B"]'}
    detail = [{**DETAIL[0], "target": "A|B"}]
    c = session_note(evil, detail, {"target:A|B": "A_B"})
    assert "Cam \\| \\%\\% astrocat:end \\%\\% \\[\\[x\\]\\] \\#tag \\<b\\>" in c.block
    assert "[[A_B\\|A B]]" in c.block  # a link with an alias, pipe escaped inside the table
    assert c.frontmatter["targets"] == ["A_B"] and isinstance(c.frontmatter["targets"][0], Link)
    note = new_note(c.frontmatter, c.block)
    assert split_note(note).problem is None


def test_target_note_sums_and_links_sessions():
    target = {"name": "M31", "frames": 30, "integration_s": 5400.0, "filters": '["Ha", "L"]', "sessions": 1,
              "nights": 1, "first_night": "2024-10-03", "last_night": "2024-10-03", "ra_deg": 10.6847, "dec_deg": 41.269}
    c = target_note(target, DETAIL[:2], [SESSION], STEMS)
    fm = yaml.safe_load(render_frontmatter(c.frontmatter))
    assert fm["sessions"] == [f"[[{SESSION['id']}]]"] and fm["first_night"] == date(2024, 10, 3)
    assert f"| [[{SESSION['id']}]] | 2024-10-03 | Ha, L | 30 | 1.50 h |" in c.block
    assert "| **Total** | **30** | **1.50 h** |" in c.block
    # 10.6847° / 15 = 0h 42m 44.33s; 41.269° = 41° 16′ 08.4″
    assert "RA 00h 42m 44.3s · Dec +41° 16′ 08″" in c.block


def test_target_note_short_integration_and_southern_declination():
    target = {"name": "M42", "frames": 3, "integration_s": 45.0, "filters": '["L"]', "nights": 1,
              "first_night": "2024-12-01", "last_night": "2024-12-01", "ra_deg": 83.8221, "dec_deg": -5.3911}
    detail = [{"session_id": "s1", "filter": "L", "exposure_s": 15.0, "frames": 3, "seconds": 45.0}]
    c = target_note(target, detail, [{"id": "s1", "night": "2024-12-01"}], {})
    assert "| Integration | 45 s in 3 light frames |" in c.block
    assert "| s1 | 2024-12-01 | L | 3 | 45 s |" in c.block
    # 83.8221° / 15 = 5h 35m 17.3s; -5.3911° = −5° 23′ 28″ (a true minus sign)
    assert "RA 05h 35m 17.3s · Dec \u221205° 23′ 28″" in c.block


def test_processing_note_links_both_ways():
    proc = {"id": "M31_2024", "targets": ["M31"], "session_ids": [SESSION["id"]], "created": "2024-12-01T10:00:00Z", "status": "open"}
    stems = {**STEMS, "processing:M31_2024": "M31_2024"}
    c = processing_note(proc, stems)
    fm = yaml.safe_load(render_frontmatter(c.frontmatter))
    assert fm["created"] == date(2024, 12, 1) and fm["sessions"] == [f"[[{SESSION['id']}]]"]
    s = session_note(SESSION, DETAIL, stems, [proc])
    assert s.frontmatter["processing"] == ["M31_2024"] and "[[M31_2024]]" in s.block


# --- merge: the user's text is sacred -----------------------------------------------------

FM = session_note(SESSION, DETAIL, STEMS)


def test_new_note_layout():
    text = new_note(FM.frontmatter, FM.block)
    inner, between, block, after = split(text)
    assert between == "" and block == FM.block and after == DEFAULT_TAIL
    assert user_text(text) == ""
    assert merge(text, FM.frontmatter, FM.owned_keys, FM.block).text == text


def test_merge_keeps_user_keys_and_rewrites_only_owned_ones():
    text = new_note(FM.frontmatter, FM.block)
    text = text.replace("night: 2024-10-03\n", "night: 1999-01-01\nrating: 4   # my own\nseeing:\n- 3\n- 4\n")
    text = text.replace("camera: ZWO ASI2600MM Pro\n", "")  # the user deleted an owned key
    out = merge(text, FM.frontmatter, FM.owned_keys, FM.block).text
    assert "rating: 4   # my own\nseeing:\n- 3\n- 4\n" in out
    assert "night: 2024-10-03\n" in out and "1999" not in out
    assert "filters:\n  - Ha\n  - L\ncamera: ZWO ASI2600MM Pro\ntelescope" in out  # back in its place
    data = yaml.safe_load(split(out)[0])
    assert data["seeing"] == [3, 4] and data["rating"] == 4


def test_merge_removes_owned_keys_no_longer_generated():
    text = new_note(FM.frontmatter, FM.block)
    fm = {**FM.frontmatter, "ccd_temp_c": None}
    out = merge(text, fm, FM.owned_keys, FM.block).text
    assert "ccd_temp_c" not in out and "site_lat" in out


def test_user_tags_survive_in_any_style():
    text = new_note(FM.frontmatter, FM.block)
    start = text.index("tags:\n")
    end = text.index("---\n", start)
    for style in ('tags: [astrocat/session, best-night, "#wind"]\n', "tags: best-night, wind\n",
                  "tags:\n- best-night\n- filter/OldFilter\n"):
        edited = text[:start] + style + text[end:]
        out = merge(edited, FM.frontmatter, FM.owned_keys, FM.block).text
        tags = yaml.safe_load(split(out)[0])["tags"]
        assert tags[: len(FM.frontmatter["tags"])] == FM.frontmatter["tags"]
        assert "best-night" in tags and "filter/OldFilter" not in tags  # astrocat's namespace is its own
        assert merge(out, FM.frontmatter, FM.owned_keys, FM.block).text == out


def test_unreadable_tags_are_left_as_they_are():
    text = new_note(FM.frontmatter, FM.block)
    start = text.index("tags:\n")
    end = text.index("---\n", start)
    edited = text[:start] + "tags: {a: 1}\n" + text[end:]
    merged = merge(edited, FM.frontmatter, FM.owned_keys, FM.block)
    assert "tags: {a: 1}\n" in merged.text and merged.warnings


@pytest.mark.parametrize("edit,why", [
    (lambda t: t.replace(BEGIN + "\n", "").replace(END + "\n", ""), "removed"),
    (lambda t: t.replace(BEGIN + "\n", ""), "0 begin"),
    (lambda t: t + "\n" + BEGIN + "\n", "2 begin"),
    (lambda t: t.replace(BEGIN, "@@").replace(END, BEGIN).replace("@@", END), "before"),
])
def test_broken_markers_leave_the_note_alone(edit, why):
    text = edit(new_note(FM.frontmatter, FM.block))
    merged = merge(text, FM.frontmatter, FM.owned_keys, "new block\n")
    assert merged.text is None and why in merged.warnings[0]
    assert user_text(text) is None


def test_broken_frontmatter_is_not_rewritten():
    text = new_note(FM.frontmatter, FM.block).replace("lights: 30\n", "lights: 30\nmine: [unclosed\n")
    merged = merge(text, {**FM.frontmatter, "lights": 31}, FM.owned_keys, FM.block)
    assert merged.text is None and "not valid YAML" in merged.warnings[0]


def test_note_without_frontmatter_gets_it_back_and_keeps_every_byte():
    body = "My intro\r\n\r\n" + BEGIN + "\r\nold\r\n" + END + "\r\nafter \t\r\n"
    out = merge(body, FM.frontmatter, FM.owned_keys, FM.block).text
    assert out.startswith("---\nkind: imaging-session\n")
    inner, between, block, after = split(out)
    assert between == "My intro\r\n\r\n" and block == FM.block and after == "after \t\r\n"
    assert BEGIN + "\r\n" in out and END + "\r\n" in out  # marker lines kept as they were


def test_bom_and_crlf_frontmatter_are_kept():
    text = "\ufeff" + new_note(FM.frontmatter, FM.block).replace("\n", "\r\n")
    out = merge(text, {**FM.frontmatter, "lights": 31}, FM.owned_keys, FM.block).text
    assert out.startswith("\ufeff---\r\n") and "lights: 31\n" in out
    assert out.endswith(DEFAULT_TAIL.replace("\n", "\r\n"))
    assert yaml.safe_load(split(out)[0])["lights"] == 31


def test_user_text_is_what_the_user_wrote():
    text = new_note(FM.frontmatter, FM.block)
    assert user_text(text) == ""
    text = text.replace("---\n" + BEGIN, "---\nIntro line.\n" + BEGIN)
    text += "Seeing was *great*.\n"
    assert user_text(text) == "Intro line.\n\nSeeing was *great*."
    assert PLACEHOLDER not in user_text(text)


# --- the property: 5 regenerations, every user byte kept, catalog changes shown ------------

OWNED = set(SESSION_KEYS)
TRICKY_LINES = [
    "---", "--- ", "...", "%%", "%% private %%", "%% astrocat:begin", "astrocat:end %%", "# Heading",
    "## Notes", "```", "```python", "~~~", "    indented code", "> quote", "- [ ] task", "| a | b |",
    "tags: [x]", "key: value", "trailing   ", "\t", "", "[[M31]]", "#tag", "ünïcödé ✨ 星雲", "\u2028", "\r",
]
line = st.one_of(st.sampled_from(TRICKY_LINES), st.text(st.characters(blacklist_characters="\n"), max_size=30))


def _no_marker_lines(text: str) -> bool:
    return not re.search(r"^%% astrocat:(begin|end) %%[ \t]*\r?$", text, re.M)


user_text_st = st.lists(line, max_size=8).map("\n".join).filter(_no_marker_lines)
user_key = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(lambda k: k not in OWNED)
user_entry = st.one_of(
    st.tuples(user_key, st.text(max_size=20)).map(lambda kv: f"{kv[0]}: {yaml_scalar(kv[1])}\n"),
    st.tuples(user_key, st.lists(st.integers(), max_size=3)).map(
        lambda kv: f"{kv[0]}:\n" + "".join(f"- {i}\n" for i in kv[1]) if kv[1] else f"{kv[0]}: []\n"),
    st.sampled_from(["# a comment of mine\n", "\n"]),
)
name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def catalog_state(draw):
    """A session as the catalog might describe it after any change."""
    targets = draw(st.lists(name, max_size=3, unique=True))
    filters = draw(st.lists(st.sampled_from(["L", "R", "G", "B", "Ha", "OIII", "SII", "L-eXtreme", "Ha 3nm"]), max_size=4, unique=True))
    detail = []
    for t in targets or [None]:
        for f in filters or [None]:
            n = draw(st.integers(1, 500))
            exp = draw(st.sampled_from([10.0, 60.0, 120.0, 300.0]))
            detail.append({"frame_type": "light", "is_master": 0, "target": t, "filter": f, "exposure_s": exp, "frames": n, "seconds": n * exp})
    integration = sum(d["seconds"] for d in detail)
    temp = draw(st.one_of(st.none(), st.floats(-30, 30)))
    session = {
        "id": "2024-10-03_X_Y", "night": draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))).isoformat(),
        "camera": draw(st.one_of(st.none(), name)), "telescope": draw(st.one_of(st.none(), name)),
        "targets": targets, "filters": filters, "lights": sum(d["frames"] for d in detail),
        "darks": draw(st.integers(0, 50)), "flats": 0, "biases": 0, "darkflats": 0,
        "integration_s": integration, "frames_by_type": {"light": sum(d["frames"] for d in detail)},
        "ccd_temp_mean": temp, "ccd_temp_min": temp, "ccd_temp_max": temp,
        "site_lat": draw(st.one_of(st.none(), st.floats(-90, 90))), "site_lon": draw(st.one_of(st.none(), st.floats(-180, 180))),
    }
    stems = {f"target:{t}": note_stem(t) for t in targets if draw(st.booleans())}
    return session_note(session, detail, stems)


def _expected_yaml(value):
    if isinstance(value, Link):
        return f"[[{value}]]"
    if isinstance(value, list):
        return [_expected_yaml(v) for v in value]
    return value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=catalog_state(),
    changes=st.lists(catalog_state(), min_size=5, max_size=5),
    before=user_text_st,
    after=user_text_st,
    entries=st.lists(st.tuples(st.integers(0, 100), user_entry), max_size=4),
    user_tags=st.lists(st.sampled_from(["best-night", "wind", "#todo", "moon/full"]), max_size=2, unique=True),
)
def test_user_text_survives_five_regenerations(first, changes, before, after, entries, user_tags):
    """User text between the frontmatter and the block, after the block, and user
    frontmatter lines among astrocat's keys: all kept byte for byte through 5
    regenerations with changing catalog data, which does show up inside the markers."""
    text = new_note(first.frontmatter, first.block)
    inner, _, _, _ = split(text)
    # the user edits: own frontmatter entries anywhere between astrocat's, own tags,
    # text above the block, and their own text in place of the default Notes section
    fm_entries = [[k, t] for k, t in frontmatter_entries(inner)]
    used_keys: set[str] = set()
    for pos, entry in entries:
        key = entry.split(":", 1)[0] if not entry.startswith(("#", "\n")) else None
        if key in used_keys:
            continue
        used_keys.add(key) if key else None
        fm_entries.insert(pos % (len(fm_entries) + 1), [key, entry, "user"])
    user_lines = [e[1] for e in fm_entries if len(e) == 3]
    if user_tags:
        for e in fm_entries:
            if e[0] == "tags":
                e[1] = render_entry("tags", list(first.frontmatter["tags"]) + user_tags)
    before_text = before + ("\n" if before and not before.endswith("\n") else "")
    text = "---\n" + "".join(e[1] for e in fm_entries) + "---\n" + before_text + BEGIN + "\n" + first.block + END + "\n" + after
    assume(load(split(text)[0]) is not None)

    for content in changes:
        merged = merge(text, content.frontmatter, content.owned_keys, content.block)
        assert merged.text is not None, merged.warnings
        inner, between, block, tail = split(merged.text)
        assert between == before_text
        assert tail == after
        assert block == content.block  # catalog changes show inside the markers
        kept = [t for k, t in frontmatter_entries(inner) if k not in OWNED and t in user_lines]
        assert kept == user_lines, "user frontmatter lines changed or moved"
        data = load(inner)
        for key, value in content.frontmatter.items():
            if value is None:
                assert key not in data
            elif key == "tags":
                assert data["tags"][: len(value)] == value
                assert all(t in data["tags"] for t in user_tags)
            else:
                assert data[key] == _expected_yaml(value)
        # idempotent: the same data again changes nothing
        assert merge(merged.text, content.frontmatter, content.owned_keys, content.block).text == merged.text
        text = merged.text
