"""The one Markdown renderer (astrocat.markdown): safe HTML from the user's note text."""

from astrocat import markdown
from sitekit import HOSTILE_NOTE


def test_user_html_has_no_raw_html_and_no_private_comments():
    text = ("Great night <script>alert(1)</script> **sharp**\n\n%% private: sold the mount %%\n\n"
            "```\n%% kept in code %%\n```\n\nSee [[M31]] and [[2024-10-03_X|that night]].\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    html = markdown.render(text, href=lambda n: "../targets/m31.html" if n == "M31" else None)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>sharp</strong>" in html
    assert "sold the mount" not in html and "%% kept in code %%" in html
    assert '<a href="../targets/m31.html" class="wikilink">M31</a>' in html
    assert "that night" in html and "[[" not in html
    assert "<table>" in html
    assert markdown.render("") == "" and markdown.render(None) == ""


def test_markdown_has_raw_html_off_and_no_remote_images():
    out = markdown.render((HOSTILE_NOTE))
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;" in out
    assert 'href="javascript:' not in out
    assert 'href="https://example.com/tracker.png"' in out  # the user's link stays a link, never a fetch
    local = markdown.render(("![stack](thumbs/x.png) **bold**"))
    assert '<img src="thumbs/x.png"' in local and "<strong>bold</strong>" in local
