"""Notebooks shown as Jupyter shows them: highlighted code, coloured tracebacks, rich outputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.urls import reverse

from packager import services as packages
from packager.render import notebook_to_html
from shares import services as shares
from tests.factories import publish

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>'
TRACEBACK = [
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mZeroDivisionError\x1b[0m                         Traceback (most recent call last)",
    "Cell \x1b[0;32mIn[2], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m \x1b[38;5;241m1\x1b[39m\x1b[38;5;241m/\x1b[39m\x1b[38;5;241m0\x1b[39m",
    "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
]


def cell(source: str, *outputs: dict[str, Any], count: int = 1) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": count,
        "id": f"cell-{count}",
        "metadata": {},
        "source": source,
        "outputs": list(outputs),
    }


def notebook(*cells: dict[str, Any], language: str = "python") -> str:
    return json.dumps(
        {
            "cells": list(cells),
            "metadata": {
                "kernelspec": {"display_name": language, "language": language, "name": language},
                "language_info": {"name": language},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


FULL = notebook(
    {
        "cell_type": "markdown",
        "id": "intro",
        "metadata": {},
        "source": "# Analysis\n\nThe mean is $\\bar{x} = \\frac{1}{n}\\sum_i x_i$ where *n* is the count:\n\n$$a_1 * b_2 = c_3$$",
    },
    cell(
        "import sys\nprint('to stderr', file=sys.stderr)\nprint('hello')",
        {"output_type": "stream", "name": "stderr", "text": ["to stderr\n"]},
        {"output_type": "stream", "name": "stdout", "text": ["hello\n"]},
    ),
    cell(
        "1/0",
        {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": TRACEBACK},
        count=2,
    ),
    cell(
        "plot()",
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": SVG, "text/plain": "<Figure>"}},
        count=3,
    ),
    cell(
        "df",
        {
            "output_type": "execute_result",
            "execution_count": 4,
            "metadata": {},
            "data": {
                "text/html": '<table class="dataframe"><tr><th>a</th></tr><tr><td onclick="steal()">1</td></tr></table>'
                '<script>steal()</script><img src="x" onerror="steal()"><a href="javascript:steal()">x</a>',
                "text/plain": "   a\n0  1",
            },
        },
        count=4,
    ),
    cell(
        "Math(r'\\alpha')",
        {
            "output_type": "execute_result",
            "execution_count": 5,
            "metadata": {},
            "data": {"text/latex": "$\\alpha^2 < \\beta$", "text/plain": "<Math>"},
        },
        count=5,
    ),
)


def test_it_highlights_code_for_the_notebooks_language() -> None:
    python = notebook_to_html(FULL)
    assert (
        '<pre class="highlight"><code><span class="kn">import</span><span class="w"> </span><span class="nn">sys</span>'
        in python
    )
    r_code = notebook_to_html(notebook(cell("x <- c(1, 2)\nmean(x)"), language="R"))
    assert '<span class="o">&lt;-</span>' in r_code and '<span class="nf">c</span>' in r_code
    unknown = notebook_to_html(notebook(cell("anything at all"), language="no-such-language"))
    assert "<code>anything at all\n</code>" in unknown


def test_it_shows_stderr_and_a_coloured_traceback() -> None:
    html = notebook_to_html(FULL)
    assert '<pre class="nb-stderr">to stderr\n</pre>' in html
    assert '<pre class="nb-stdout">hello\n</pre>' in html
    assert '<pre class="nb-stderr"><span class="ansi31">-----' in html
    assert '<span class="ansi31">ZeroDivisionError</span>: division by zero' in html
    assert "\x1b" not in html


def test_it_shows_svg_outputs_as_images_never_inline() -> None:
    html = notebook_to_html(FULL)
    encoded = base64.b64encode(SVG.encode()).decode()
    assert f'<img alt="output" src="data:image/svg+xml;base64,{encoded}">' in html
    assert "<svg" not in html and "&lt;Figure&gt;" not in html


def test_it_sanitizes_html_outputs() -> None:
    html = notebook_to_html(FULL)
    assert '<table class="dataframe">' not in html  # classes of outputs are dropped, the table stays
    assert "<th>a</th>" in html and "<td>1</td>" in html
    for bad in ("<script", "onclick", "onerror", "javascript:"):
        assert bad not in html


def test_it_keeps_latex_readable() -> None:
    html = notebook_to_html(FULL)
    assert '<span class="math">$\\bar{x} = \\frac{1}{n}\\sum_i x_i$</span>' in html
    assert '<span class="math display">$$a_1 * b_2 = c_3$$</span>' in html  # no <em> from the stars
    assert '<div class="math">$\\alpha^2 &lt; \\beta$</div>' in html
    assert "<em>n</em>" in html  # Markdown outside the maths still works


def test_it_validates_with_nbformat_and_says_what_is_wrong() -> None:
    assert "nb-warning" not in notebook_to_html(FULL)
    broken = json.loads(FULL)
    broken["cells"][1]["outputs"][0]["name"] = 7
    html = notebook_to_html(json.dumps(broken))
    assert '<p class="nb-warning">This notebook does not fully follow the Jupyter format (at cells/1/outputs/0' in html
    assert "it is shown as far as it can be read." in html and "hello" in html
    no_version = notebook_to_html(json.dumps({"cells": [{"cell_type": "markdown", "source": "## Plot"}]}))
    assert (
        "<h2>Plot</h2>" in no_version and '<p class="nb-warning">This notebook does not say which version' in no_version
    )
    assert "not valid notebook JSON" in notebook_to_html("{oops")
    assert "not valid notebook JSON" in notebook_to_html('{"cells": 3}')


@pytest.mark.django_db
def test_a_share_page_shows_the_rendered_notebook(client: Any, owner: Any) -> None:
    package = packages.package_create(owner=owner, name="notebooks")
    packages.package_write_text(package=package, path="analysis.ipynb", content=FULL)
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    response = client.get(reverse("share_view_entry", args=[share.token, "analysis.ipynb"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<span class="ansi31">ZeroDivisionError</span>' in body and "pygments.css" in body
