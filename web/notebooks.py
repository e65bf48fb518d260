"""Notebook rendering, shared by package pages and source previews. Everything that reaches a page passes through nh3.

Notebooks are shown as Jupyter shows them: code highlighted by Pygments for the
notebook's language, ANSI colours of tracebacks kept (ansi2html), rich outputs in
Jupyter's order of preference (HTML sanitized, SVG as an image, LaTeX as readable source),
and the notebook checked against the format's schema with nbformat. Why this and not
nbconvert's HTML exporter: bench/notebook.py and the README's "Notebooks" section.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
import threading
from functools import lru_cache
from typing import Any

import markdown
import nbformat
from ansi2html import Ansi2HTMLConverter
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from web.sanitize import sanitize

# Jupyter's order of preference among the representations of one output (no JavaScript).
_OUTPUT_ORDER = (
    "text/html",
    "text/latex",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/markdown",
    "text/plain",
)
_IMAGE_TYPES = {"image/svg+xml", "image/png", "image/jpeg", "image/gif"}
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# $$…$$, \begin{…}…\end{…} and $…$ (not \$, not across a blank line): kept as written, so
# Markdown does not read their underscores and stars as emphasis.
_MATH = re.compile(
    r"(?P<display>\$\$.+?\$\$|\\begin\{(?P<env>[a-z*]+)\}.+?\\end\{(?P=env)\})|(?P<inline>(?<![\\$])\$[^$\n]+?\$)",
    re.DOTALL,
)
_FORMATTER = HtmlFormatter(nowrap=True)
_local = threading.local()


def _joined(value: Any) -> str:
    if isinstance(value, list):  # the format's list of lines; anything else in it is dropped
        return "".join(item for item in value if isinstance(item, str))
    return str(value or "")


@lru_cache(maxsize=32)
def _lexer(language: str) -> Lexer:
    try:
        return get_lexer_by_name(language or "python")
    except ClassNotFound:
        return TextLexer()


def _ansi(text: str) -> str:
    """Text with its ANSI colour codes as <span class="ansi…">, the rest escaped."""
    if "\x1b[" not in text:
        return html.escape(text)
    # One converter per call: it keeps state between calls.
    return sanitize(str(Ansi2HTMLConverter(inline=False, escaped=True).convert(text, full=False)))


def _markdown() -> markdown.Markdown:
    """A Markdown converter for this thread, reset: building one costs more than converting a cell."""
    converter: markdown.Markdown | None = getattr(_local, "markdown", None)
    if converter is None:
        converter = _local.markdown = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    return converter.reset()


def _markdown_with_math(text: str) -> str:
    """Sanitized HTML of Markdown whose maths stays as written."""
    found: list[str] = []
    # A marker the text cannot hold: a fixed one written in a notebook would be "restored".
    marker = f"PACKAGERMATH{secrets.token_hex(8)}N"

    def keep(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return f"{marker}{len(found) - 1}X"

    converted = _markdown().convert(_MATH.sub(keep, text))

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(found):
            return match.group(0)
        source = found[index]
        css = "math display" if source.startswith(("$$", "\\begin")) else "math"
        return f'<span class="{css}">{html.escape(source)}</span>'

    return sanitize(re.sub(marker + r"([0-9]+)X", restore, converted))


def _image(mime: str, payload: Any) -> str:
    if mime == "image/svg+xml":
        # An SVG is shown only as an <img>: a picture there cannot run a script.
        encoded = base64.b64encode(_joined(payload).encode()).decode()
    else:
        encoded = re.sub(r"\s+", "", _joined(payload))
        if not _BASE64.match(encoded):
            return '<p class="error">This output holds an image that is not valid base64.</p>'
        try:
            base64.b64decode(encoded[:64] + "=" * (-len(encoded[:64]) % 4), validate=True)
        except binascii.Error:
            return '<p class="error">This output holds an image that is not valid base64.</p>'
    return f'<img alt="output" src="data:{mime};base64,{encoded}">'


def _rich_output(data: dict[str, Any]) -> str:
    for mime in _OUTPUT_ORDER:
        if mime not in data:
            continue
        if mime in _IMAGE_TYPES:
            return _image(mime, data[mime])
        if mime == "text/html":
            return f'<div class="nb-html">{sanitize(_joined(data[mime]))}</div>'
        if mime == "text/latex":
            return f'<div class="math">{html.escape(_joined(data[mime]))}</div>'
        if mime == "text/markdown":
            return _markdown_with_math(_joined(data[mime]))
        return f"<pre>{_ansi(_joined(data[mime]))}</pre>"
    return ""


def _render_output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        css = "nb-stderr" if output.get("name") == "stderr" else "nb-stdout"
        return f'<pre class="{css}">{_ansi(_joined(output.get("text")))}</pre>'
    if kind == "error":
        traceback = output.get("traceback")
        text = "\n".join(map(str, traceback)) if isinstance(traceback, list) and traceback else None
        message = text or f"{output.get('ename', '')}: {output.get('evalue', '')}"
        return f'<pre class="nb-stderr">{_ansi(message)}</pre>'
    data = output.get("data")
    return _rich_output(data) if isinstance(data, dict) else ""


def _read_notebook(text: str) -> tuple[Any, str]:
    """The notebook (format 4), and a sentence when it does not follow the format (shown, not refused)."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("not notebook JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise ValueError("no cells")
    worksheets = raw.get("worksheets") or []
    if "cells" not in raw and not all(
        isinstance(sheet, dict) and isinstance(sheet.get("cells"), list) for sheet in worksheets
    ):
        raise ValueError("worksheets without cells")
    if raw.get("nbformat") != 4 and "worksheets" not in raw:
        # Cells in format 4's shape without the version that says so: nbformat would read it as
        # format 1 and lose the cells' sources and outputs.
        unversioned = "This notebook does not say which version of the Jupyter format it follows"
        return raw, unversioned + "; it is shown as far as it can be read."
    try:
        notebook = nbformat.from_dict(raw)
        if raw.get("nbformat") != 4:
            notebook = nbformat.convert(notebook, 4)
    except Exception:  # nbformat's converters raise whatever odd input provokes
        return raw, "This notebook's format version could not be converted; it is shown as far as it can be read."
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as invalid:
        path = "/".join(str(part) for part in invalid.absolute_path)
        first = str(invalid.message).split("\n")[0][:160]
        return notebook, (
            f"This notebook does not fully follow the Jupyter format ({f'at {path}: ' if path else ''}{first}); "
            "it is shown as far as it can be read."
        )
    except Exception:  # nbformat's validator trips over some shapes (a cell that is a list)
        return notebook, "This notebook does not follow the Jupyter format; it is shown as far as it can be read."
    return notebook, ""


def notebook_to_html(text: str) -> str:
    """A read-only rendering of a Jupyter notebook: markdown cells, code, and outputs."""
    try:
        notebook, warning = _read_notebook(text)
    except (ValueError, RecursionError):
        return '<p class="error">This notebook could not be read: it is not valid notebook JSON.</p>'
    if not isinstance(notebook.get("cells"), list):
        return '<p class="error">This notebook could not be read: its cells are not in the Jupyter format.</p>'
    metadata = notebook.get("metadata") or {}
    language = str(
        (metadata.get("language_info") or {}).get("name") or (metadata.get("kernelspec") or {}).get("language") or ""
    )
    lexer = _lexer(language.lower())
    parts: list[str] = [f'<p class="nb-warning">{html.escape(warning)}</p>'] if warning else []
    skipped = sum(1 for cell in notebook["cells"] if not isinstance(cell, dict))
    if skipped:
        parts.append(
            f'<p class="nb-warning">{skipped:,} cell(s) of this notebook are not in the Jupyter format (a cell '
            "is an object); they are left out.</p>"
        )
    for cell in notebook["cells"]:
        if not isinstance(cell, dict):
            continue
        source = _joined(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            parts.append(f'<div class="nb-markdown">{_markdown_with_math(source)}</div>')
        elif cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            label = f"[{count}]" if count else "[ ]"
            parts.append(
                f'<div class="nb-code"><span class="nb-count">{html.escape(label)}</span>'
                f'<pre class="highlight"><code>{highlight(source, lexer, _FORMATTER)}</code></pre></div>'
            )
            outputs = cell.get("outputs") or []
            rendered = "".join(_render_output(output) for output in outputs if isinstance(output, dict))
            if rendered:
                parts.append(f'<div class="nb-output">{rendered}</div>')
        else:
            parts.append(f"<pre>{html.escape(source)}</pre>")
    # Only what the notebook's author wrote as markup (Markdown, HTML outputs) goes through the
    # sanitizer, piece by piece; the rest is built here from escaped text (Pygments, ansi2html,
    # html.escape) and checked base64, so megabytes of figures need not be parsed again.
    return "".join(parts)
