"""Notebooks and Markdown found in a source: rendered (sanitized, bounded) in the source browser and on the share page."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from packager import services as packages
from shares import services as shares
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"language_info": {"name": "python"}},
    "cells": [
        {"id": "a", "cell_type": "markdown", "metadata": {}, "source": "# Lake overview\n<script>alert(1)</script>"},
        {
            "id": "b",
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": "mean = 4.5",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "4.5\n"}],
        },
    ],
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_files(
        tmp_path / "data",
        {
            "nb/overview.ipynb": json.dumps(NOTEBOOK).encode(),
            "docs/NOTES.md": b"# Notes\n\n**bold** <img src=x onerror=alert(1)>",
        },
    )
    return tmp_path / "data"


def test_the_source_browser_renders_a_notebook_not_hex(owner: Any, owner_client: Any, folder: Path) -> None:
    source = make_local_source(owner, folder)
    body = owner_client.get(f"/sources/{source.public_id}/object/nb/overview.ipynb").content.decode()
    assert 'data-preview="notebook"' in body
    assert "<h1>Lake overview</h1>" in body
    assert "mean" in body and "4.5" in body
    assert "<script>alert(1)" not in body
    markdown = owner_client.get(f"/sources/{source.public_id}/object/docs/NOTES.md").content.decode()
    assert "<strong>bold</strong>" in markdown and "onerror" not in markdown


def test_the_share_page_renders_a_notebook_kept_in_the_bucket(owner: Any, client: Any, folder: Path) -> None:
    source = make_local_source(owner, folder)
    package = packages.package_create(owner=owner, name="Lake")
    packages.package_add_objects(package=package, source=source, paths=["nb/overview.ipynb"])
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    body = client.get(f"/s/{share.token}/view/overview.ipynb").content.decode()
    assert "<h1>Lake overview</h1>" in body
    assert "<script>alert(1)" not in body


def test_a_notebook_too_large_to_preview_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from sources import previews

    class Reader(io.BytesIO):
        size = 10_000

    monkeypatch.setattr(previews, "NOTEBOOK_BYTES", 100)
    preview = previews.Preview(kind="notebook", name="big.ipynb", size=Reader.size)
    with pytest.raises(previews.PreviewFailed, match="download it to open it in Jupyter"):
        previews._read_notebook(preview, Reader(b"{" * 10_000))  # type: ignore[arg-type]
