"""Notebook rendering: packager's renderer against nbconvert's HTML exporter, on a 5 MB notebook.

Prints the median time of each, the size of what each produces, and whether each lets
script through from an HTML output. The baseline is nbconvert (the exporter Jupyter
itself uses); a ratio above 1 means packager's renderer is that many times faster.
Run with `make bench-notebook` (nbconvert lives in the bench virtualenv only).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nbformat
from nbconvert import HTMLExporter

from bench.timing import median_seconds
from packager.render import notebook_to_html

HOSTILE = '<img src="x" onerror="steal()"><script>steal()</script>'
TRACEBACK = [
    "\x1b[0;31mValueError\x1b[0m                                Traceback (most recent call last)",
    "Cell \x1b[0;32mIn[7], line 3\x1b[0m\n\x1b[0;32m----> 3\x1b[0m \x1b[43mcheck\x1b[49m(values)",
    "\x1b[0;31mValueError\x1b[0m: values out of range",
]


def make_notebook(target_bytes: int) -> str:
    """Cells as analyses have them: code, printed text, tables, figures and an error."""
    png = base64.b64encode(os.urandom(24_000)).decode()  # incompressible, like a real figure
    table = "<table><thead><tr>" + "".join(f"<th>col {i}</th>" for i in range(8)) + "</tr></thead><tbody>"
    table += "".join("<tr>" + "".join(f"<td>{r * i}</td>" for i in range(8)) + "</tr>" for r in range(40))
    table += "</tbody></table>"
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
        + "".join(f'<circle cx="{i * 2}" cy="{i % 100}" r="2"/>' for i in range(100))
        + "</svg>"
    )
    cells: list[dict[str, Any]] = []
    index = 0
    while len(json.dumps(cells)) < target_bytes:
        index += 1
        source = "\n".join(
            [
                "import numpy as np",
                "import pandas as pd",
                f"frame = pd.read_csv('data/part-{index}.csv')",
                "summary = frame.groupby('station').agg({'reading': ['mean', 'std']})",
                "for name, group in frame.groupby('station'):",
                "    print(name, group['reading'].mean())",
                "summary",
            ]
        )
        outputs: list[dict[str, Any]] = [
            {"output_type": "stream", "name": "stdout", "text": [f"station-{i} {i / 3:.4f}\n" for i in range(60)]},
            {
                "output_type": "execute_result",
                "execution_count": index,
                "metadata": {},
                "data": {"text/html": table + (HOSTILE if index == 1 else ""), "text/plain": "frame"},
            },
        ]
        if index % 3 == 0:
            outputs.append(
                {"output_type": "display_data", "metadata": {}, "data": {"image/png": png, "text/plain": "<Figure>"}}
            )
        if index % 5 == 0:
            outputs.append(
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"image/svg+xml": svg, "text/plain": "<Figure>"},
                }
            )
        if index % 7 == 0:
            outputs.append(
                {"output_type": "error", "ename": "ValueError", "evalue": "values out of range", "traceback": TRACEBACK}
            )
        cells.append(
            {
                "cell_type": "markdown",
                "id": f"m{index}",
                "metadata": {},
                "source": f"## Part {index}\n\nThe mean $\\bar x$ per *station*.",
            }
        )
        cells.append(
            {
                "cell_type": "code",
                "id": f"c{index}",
                "execution_count": index,
                "metadata": {},
                "source": source,
                "outputs": outputs,
            }
        )
    document = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    text = json.dumps(document)
    nbformat.validate(nbformat.reads(text, as_version=4))
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text = make_notebook(int(args.megabytes * 1_000_000))

    exporter = HTMLExporter(template_name="lab")
    exporter_sanitizing = HTMLExporter(template_name="lab", sanitize_html=True)

    def nbconvert_full(chosen: HTMLExporter = exporter) -> str:
        body, _ = chosen.from_notebook_node(nbformat.reads(text, as_version=4))
        return str(body)

    ours = notebook_to_html(text)
    theirs = nbconvert_full()
    theirs_sanitized = nbconvert_full(exporter_sanitizing)
    ours_seconds = median_seconds(lambda: notebook_to_html(text), args.repeat)
    theirs_seconds = median_seconds(nbconvert_full, args.repeat)
    sanitized_seconds = median_seconds(lambda: nbconvert_full(exporter_sanitizing), args.repeat)

    def unsafe(html: str) -> str:
        """Markup that a browser would run: a script element, or an event handler inside a tag
        (escaped text such as "&lt;script&gt;" is harmless and not counted)."""
        found = [
            name
            for name, pattern in (("<script>", r"<script\b"), ("onerror=", r"<[a-z][^>]*\sonerror\s*="))
            if re.search(pattern, html, re.IGNORECASE)
        ]
        return ", ".join(found) or "none"

    print(f"notebook: {len(text) / 1e6:.1f} MB, {text.count('cell_type')} cells; median of {args.repeat} runs")
    rows = (
        ("packager (nbformat + Pygments + ansi2html + nh3)", ours_seconds, ours),
        ("nbconvert HTMLExporter (lab)", theirs_seconds, theirs),
        ("nbconvert HTMLExporter (lab, sanitize_html)", sanitized_seconds, theirs_sanitized),
    )
    for label, seconds, html in rows:
        print(f"{label:50} {seconds * 1000:8.0f} ms  {len(html) / 1e6:6.2f} MB of HTML  hostile left: {unsafe(html)}")
    print(f"ratio nbconvert / packager, time:                  {theirs_seconds / ours_seconds:8.2f}x")
    print(f"ratio nbconvert (sanitizing) / packager, time:     {sanitized_seconds / ours_seconds:8.2f}x")


if __name__ == "__main__":
    main()
