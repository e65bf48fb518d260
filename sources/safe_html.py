"""HTML that reaches a page from content (READMEs, previews, notebook outputs) passes through here.

Every app renders user content with these helpers, so they sit in the bottom layer.
"""

from __future__ import annotations

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
    "p": {"class"},
}
# Images may come inline from notebook outputs (data: URIs), never as a script vector: an SVG
# is allowed only here, in an <img>, where a browser runs none of its scripts.
_SAFE_DATA_IMAGES = (
    "data:image/png;base64,",
    "data:image/jpeg;base64,",
    "data:image/gif;base64,",
    "data:image/svg+xml;base64,",
)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and value.startswith("data:"):
        return value if value.startswith(_SAFE_DATA_IMAGES) else None
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
