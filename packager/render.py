"""README and notebook rendering. Everything that reaches a page passes through nh3."""

from __future__ import annotations

import html
import json
from typing import Any

import markdown

from sources.safe_html import markdown_to_html, sanitize


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
