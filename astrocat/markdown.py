"""The one Markdown renderer: the user's note text as safe HTML for the site.

CommonMark with raw HTML off, tables and strikethrough; Obsidian `%% comments %%`
(private in Obsidian's reading view) are removed outside code fences; `[[wikilinks]]`
become links where `href(note name)` gives a URL, else their label as plain text;
images from outside the site become plain links (a page never fetches from elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_COMMENT = re.compile(r"%%.*?%%", re.S)
_WIKILINK = re.compile(r"!?\[\[([^\[\]|#^\n]*)(?:[#^][^\[\]|\n]*)?(?:\|([^\[\]\n]*))?\]\]")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)

Href = Callable[[str], "str | None"]


def strip_comments(text: str) -> str:
    """Remove Obsidian %% comments %% outside code fences."""
    out: list[str] = []
    chunk: list[str] = []
    fence: str | None = None
    for line in _LINES.findall(text):
        m = _FENCE.match(line)
        if fence is None:
            if m:
                out.append(_COMMENT.sub("", "".join(chunk)))
                chunk = []
                fence = m.group(1)[0] * len(m.group(1))
                out.append(line)
            else:
                chunk.append(line)
        else:
            out.append(line)
            if m and m.group(1).startswith(fence):
                fence = None
    out.append(_COMMENT.sub("", "".join(chunk)))
    return "".join(out)


def render(text: str | None, href: Href | None = None) -> str:
    """The user's Markdown as HTML (see the module docstring); '' for no text."""
    if not text or not text.strip():
        return ""
    from markdown_it import MarkdownIt  # only builds that show notes pay for it

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")

    def wikilink(state, silent):  # noqa: ANN001 - markdown-it's inline rule signature
        if not state.src.startswith("[[", state.pos) and not state.src.startswith("![[", state.pos):
            return False
        m = _WIKILINK.match(state.src, state.pos)
        if not m:
            return False
        if not silent:
            name = m.group(1).strip()
            label = (m.group(2) or name).strip()
            url = href(name) if href else None
            if url:
                tok = state.push("link_open", "a", 1)
                tok.attrs = {"href": url, "class": "wikilink"}
                state.push("text", "", 0).content = label
                state.push("link_close", "a", -1)
            else:
                state.push("text", "", 0).content = label
        state.pos = m.end()
        return True

    def image(self, tokens, idx, options, env):  # noqa: ANN001 - markdown-it's renderer signature
        token = tokens[idx]
        src = token.attrGet("src") or ""
        if _EXTERNAL.match(src) or src.startswith("//"):
            alt = self.renderInlineAsText(token.children or [], options, env)
            return f'<a href="{escape(src, quote=True)}" rel="noopener noreferrer">{escape(alt or src, quote=True)}</a>'
        return self.image(tokens, idx, options, env)

    md.inline.ruler.before("link", "wikilink", wikilink)
    md.add_render_rule("image", image)
    return md.render(strip_comments(text))
