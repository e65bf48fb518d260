"""README and notebook rendering. Everything that reaches a page passes through nh3."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable
from typing import Any

import markdown
import nh3
from django.core.cache import cache

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
    "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "pre": {"class"},
}
# Images may come inline from notebook outputs (data: URIs), never as a script vector.
_SAFE_DATA_IMAGES = ("data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,")


# Classes that the notebook renderer and Markdown's code blocks set; any other class could
# dress text up as packager's own interface (a "ready" badge, an error banner).
_CLASS_PATTERN = re.compile(r"nb-(?:markdown|code|output|count|stdout|stderr)|language-[A-Za-z0-9_+#.-]{1,40}")


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


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _render_output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        css = "nb-stderr" if output.get("name") == "stderr" else "nb-stdout"
        return f'<pre class="{css}">{html.escape(_joined(output.get("text")))}</pre>'
    if kind == "error":
        message = f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return f'<pre class="nb-stderr">{html.escape(message)}</pre>'
    data = output.get("data") or {}
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            payload = _joined(data[mime]).replace("\n", "")
            return f'<img alt="output" src="data:{mime};base64,{payload}">'
    if "text/markdown" in data:
        return markdown.markdown(_joined(data["text/markdown"]))
    if "text/html" in data:
        return _joined(data["text/html"])
    if "text/plain" in data:
        return f"<pre>{html.escape(_joined(data['text/plain']))}</pre>"
    return ""


def notebook_to_html(text: str) -> str:
    """A read-only rendering of a Jupyter notebook: markdown cells, code, and outputs."""
    try:
        notebook = json.loads(text)
        cells = notebook["cells"]
    except (ValueError, KeyError, TypeError):
        return '<p class="error">This notebook could not be read: it is not valid notebook JSON.</p>'
    language = (notebook.get("metadata", {}).get("kernelspec") or {}).get("language", "python")
    parts: list[str] = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = _joined(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            parts.append(
                f'<div class="nb-markdown">{markdown.markdown(source, extensions=["fenced_code", "tables"])}</div>'
            )
        elif cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            label = f"[{count}]" if count else "[ ]"
            parts.append(
                f'<div class="nb-code"><span class="nb-count">{label}</span>'
                f'<pre><code class="language-{html.escape(str(language))}">{html.escape(source)}</code></pre></div>'
            )
            outputs = "".join(_render_output(output) for output in cell.get("outputs", []) if isinstance(output, dict))
            if outputs:
                parts.append(f'<div class="nb-output">{outputs}</div>')
        else:
            parts.append(f"<pre>{html.escape(source)}</pre>")
    return sanitize("".join(parts))


def render_text(path: str, text: str) -> tuple[str, str]:
    """("markdown" | "notebook" | "plain", safe HTML) for a text entry."""
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        return "markdown", markdown_to_html(text)
    if lower.endswith(".ipynb"):
        return "notebook", notebook_to_html(text)
    return "plain", f"<pre>{html.escape(text)}</pre>"


# Rendered HTML is kept by content hash: the same bytes always render the same way, so a
# README read by every visitor of a share is read from storage and rendered once (and a
# published version, whose text never changes, once for its life). Bump the version when
# the renderer or the sanitizer's rules change.
RENDER_CACHE_VERSION = 1
RENDER_CACHE_SECONDS = 30 * 24 * 3600


def _cached(kind: str, sha256: str, render: Callable[[], str]) -> str:
    if not sha256:
        return render()
    key = f"packager:render:{RENDER_CACHE_VERSION}:{kind}:{sha256}"
    rendered: str | None = cache.get(key)
    if rendered is None:
        rendered = render()
        cache.set(key, rendered, RENDER_CACHE_SECONDS)
    return rendered


def markdown_to_html_cached(*, sha256: str, read: Callable[[], str]) -> str:
    """markdown_to_html of the text `read` returns, read and rendered once per content hash."""
    return _cached("markdown", sha256, lambda: markdown_to_html(read()))


def description_html(text: str) -> str:
    """A package description as HTML (hashed here: descriptions live in the database)."""
    return markdown_to_html_cached(sha256=hashlib.sha256(text.encode()).hexdigest(), read=lambda: text)


def render_text_cached(path: str, *, sha256: str, read: Callable[[], str]) -> tuple[str, str]:
    """render_text of a text entry, read and rendered once per content hash."""
    kind = render_text(path, "")[0]
    return kind, _cached(kind, sha256, lambda: render_text(path, read())[1])
