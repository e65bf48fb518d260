"""README and notebook rendering for package entries: cached by content hash, bounded.

The notebook renderer itself lives in web.notebooks (source previews use it too).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable

from django.core.cache import cache

from web import isolation
from web.notebooks import notebook_to_html
from web.sanitize import markdown_to_html

__all__ = ["markdown_to_html", "markdown_to_html_cached", "notebook_to_html", "render_text", "render_text_cached"]


def render_text(path: str, text: str) -> tuple[str, str]:
    """("markdown" | "notebook" | "plain", safe HTML) for a text entry."""
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        return "markdown", markdown_to_html(text)
    if lower.endswith(".ipynb"):
        return "notebook", notebook_to_html(text)
    return "plain", _plain(text)


# Rendered HTML is kept by content hash: the same bytes always render the same way, so a
# README read by every visitor of a share is read from storage and rendered once (and a
# published version, whose text never changes, once for its life). Bump the version when
# the renderer or the sanitizer's rules change.
RENDER_CACHE_VERSION = 3
RENDER_CACHE_SECONDS = 30 * 24 * 3600


# A render that went past its limits is kept for less time: the machine may have been busy.
TOO_COSTLY_CACHE_SECONDS = 3600


def _too_costly(kind: str, text: str) -> str:
    if kind == "notebook":
        return (
            '<p class="error">This notebook is too large or too slow to render here: download it to open it '
            "in Jupyter.</p>"
        )
    return (
        '<p class="nb-warning">This text is too large or too slow to render, so it is shown as written.</p>'
        f"<pre>{html.escape(text)}</pre>"
    )


def _cached(
    kind: str, sha256: str, read: Callable[[], str], render: Callable[[str], str], *, isolated: bool = True
) -> str:
    """render(read()) once per content hash, in a worker process with a time and a memory
    limit (web.isolation) unless its cost is linear in the text's length (`isolated`)."""
    key = f"packager:render:{RENDER_CACHE_VERSION}:{kind}:{sha256}" if sha256 else ""
    rendered: str | None = cache.get(key) if key else None
    if rendered is None:
        text = read()
        timeout = RENDER_CACHE_SECONDS
        try:
            rendered = str(isolation.run(render, text)) if isolated else render(text)
        except isolation.TooCostly:
            rendered, timeout = _too_costly(kind, text), TOO_COSTLY_CACHE_SECONDS
        if key:
            cache.set(key, rendered, timeout)
    return rendered


def markdown_to_html_cached(*, sha256: str, read: Callable[[], str]) -> str:
    """markdown_to_html of the text `read` returns, read and rendered once per content hash."""
    return _cached("markdown", sha256, read, markdown_to_html)


def description_html(text: str) -> str:
    """A package description as HTML (hashed here: descriptions live in the database)."""
    return markdown_to_html_cached(sha256=hashlib.sha256(text.encode()).hexdigest(), read=lambda: text)


def _plain(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def render_text_cached(path: str, *, sha256: str, read: Callable[[], str]) -> tuple[str, str]:
    """render_text of a text entry, read and rendered once per content hash."""
    kind = render_text(path, "")[0]
    if kind == "plain":  # escaping costs what the text's length does: no worker needed
        return kind, _cached(kind, sha256, read, _plain, isolated=False)
    return kind, _cached(kind, sha256, read, markdown_to_html if kind == "markdown" else notebook_to_html)
