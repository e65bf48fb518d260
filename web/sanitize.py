"""HTML that reaches a page from content (READMEs, previews, notebook outputs) passes through here.

Every app renders user content with these helpers (packager's README and notebook rendering,
sources' Markdown previews), so they live with the other web helpers.
"""

from __future__ import annotations

import re

import markdown
import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
    "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "pre": {"class"},
}
# Images may come inline from notebook outputs (data: URIs), never as a script vector: an SVG
# is allowed only here, in an <img>, where a browser runs none of its scripts.
_SAFE_DATA_IMAGES = (
    "data:image/png;base64,",
    "data:image/jpeg;base64,",
    "data:image/gif;base64,",
    "data:image/svg+xml;base64,",
)


# Classes that the notebook renderer and Markdown's code blocks set; any other class could
# dress text up as packager's own interface (a "ready" badge, an error banner).
# ("math" and "display" mark LaTeX kept as written, "ansiNN" the colours of notebook output.)
_CLASS_PATTERN = re.compile(
    r"nb-(?:markdown|code|output|count|stdout|stderr|error|html|warning)|language-[A-Za-z0-9_+#.-]{1,40}"
    r"|math|display|ansi\d{1,3}(?:-\d{1,9})?"
)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if value.lstrip().lower().startswith("data:"):
        # data: only for images (notebook outputs), never a link that opens a document.
        return value if tag == "img" and attribute == "src" and value.startswith(_SAFE_DATA_IMAGES) else None
    if attribute == "class":
        kept = [name for name in value.split() if _CLASS_PATTERN.fullmatch(name)]
        return " ".join(kept) or None
    return value


def sanitize(raw_html: str) -> str:
    return nh3.clean(
        raw_html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data"},
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer nofollow",
    )


def markdown_to_html(text: str) -> str:
    return sanitize(markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"]))
