"""Renders and previews of untrusted bytes cost a bounded time and memory whatever their shape
(web.isolation): the worst inputs found answer fast with "too large or too slow"."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from packager import services as packages
from shares import services as shares
from sources.previews import TOO_COSTLY, object_preview
from tests.factories import make_local_source, publish, write_files
from tests.isolation_jobs import allocate, spin
from web import isolation

pytestmark = pytest.mark.django_db

BRACKETS = "[" * 16384  # python-markdown's link pattern backtracks: minutes on main


@pytest.fixture(autouse=True)
def _short_budget(settings: Any) -> None:
    settings.ISOLATION_SECONDS = 2


def _share(owner: Any, tmp_path: Path, files: dict[str, bytes], texts: dict[str, str], description: str = "") -> Any:
    write_files(tmp_path, files)
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="Worst", description=description)
    if files:
        packages.package_add_objects(package=package, source=source, paths=list(files))
    for path, text in texts.items():
        packages.package_write_text(package=package, path=path, content=text)
    publish(package)
    return shares.share_create(package=package, created_by=owner)


def _timed_get(url: str) -> tuple[float, str]:
    started = time.monotonic()
    response = Client().get(url)
    assert response.status_code == 200
    return time.monotonic() - started, response.content.decode()


def test_a_readme_of_brackets_is_shown_as_written_within_the_budget(
    owner: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = _share(owner, tmp_path, {}, {"README.md": BRACKETS})
    runs: list[object] = []
    run = isolation.run
    monkeypatch.setattr(isolation, "run", lambda *args, **kwargs: runs.append(args[0]) or run(*args, **kwargs))
    seconds, page = _timed_get(reverse("share_page", args=[share.token]))
    assert seconds < 10
    assert "too large or too slow to render" in page and "[[[[[[[[" in page
    assert len(runs) == 1
    _, again = _timed_get(reverse("share_page", args=[share.token]))
    assert "too large or too slow to render" in again
    assert len(runs) == 1  # kept: the same bytes are not rendered again


def test_a_description_of_brackets_is_bounded(owner: Any, tmp_path: Path) -> None:
    share = _share(owner, tmp_path, {}, {"notes.txt": "x"}, description="[" * 6000)
    seconds, page = _timed_get(reverse("share_page", args=[share.token]))
    assert seconds < 10 and "too large or too slow to render" in page


def test_a_notebook_of_brackets_is_bounded(owner: Any, tmp_path: Path) -> None:
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": BRACKETS}],
    }
    share = _share(owner, tmp_path, {}, {"slow.ipynb": json.dumps(notebook)})
    seconds, page = _timed_get(reverse("share_view_entry", args=[share.token, "slow.ipynb"]))
    assert seconds < 10 and "notebook is too large or too slow to render" in page


def _preview(owner: Any, tmp_path: Path, name: str, body: bytes) -> Any:
    write_files(tmp_path, {name: body})
    source = make_local_source(owner, tmp_path, name=f"s-{name}")
    started = time.monotonic()
    preview = object_preview(source=source, key=name, size=len(body))
    return time.monotonic() - started, preview


@pytest.mark.slow
def test_a_markdown_file_of_brackets_previews_within_the_budget(owner: Any, tmp_path: Path, settings: Any) -> None:
    seconds, preview = _preview(owner, tmp_path, "slow.md", b"[" * 200_000)
    assert seconds < 10 + 2
    assert preview.kind == "failed" and preview.error == TOO_COSTLY


def test_a_csv_that_the_sniffer_chews_on_is_bounded(owner: Any, tmp_path: Path) -> None:
    seconds, preview = _preview(owner, tmp_path, "quotes.csv", b"'," * 30_000)  # 7 s of csv.Sniffer on main
    assert seconds < 12
    assert preview.kind in {"table", "failed"}
    if preview.kind == "failed":
        assert preview.error == TOO_COSTLY


def test_a_small_parquet_file_that_decodes_to_much_is_refused_from_its_footer(owner: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"blob": ["0" * (96 * 1024 * 1024)]}), buffer, compression="zstd")
    body = buffer.getvalue()
    assert len(body) < 64 * 1024  # 96 MB once decoded
    seconds, preview = _preview(owner, tmp_path, "bomb.parquet", body)
    assert seconds < 5
    assert preview.kind == "failed" and "once decoded, too many to preview" in preview.error


def test_a_parquet_file_with_too_many_columns_is_refused_from_its_footer(owner: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({f"c{index}": [index] for index in range(2000)}), buffer)
    _, preview = _preview(owner, tmp_path, "wide.parquet", buffer.getvalue())
    assert preview.kind == "failed" and "2,000 columns" in preview.error


def test_a_job_past_the_memory_limit_ends_with_too_costly(settings: Any) -> None:
    settings.ISOLATION_MEMORY_BYTES = 512 * 1024 * 1024
    isolation._pool = None  # a pool with this limit
    try:
        with pytest.raises(isolation.TooCostly):
            isolation.run(allocate, 2048)
        assert isolation.run(allocate, 16) == 16 * 1024 * 1024  # a fresh worker takes the next job
    finally:
        isolation._pool = None


def test_a_job_past_its_time_is_killed_and_its_worker_replaced() -> None:
    started = time.monotonic()
    with pytest.raises(isolation.TooCostly):
        isolation.run(spin, 60, seconds=1)
    assert time.monotonic() - started < 3
    assert isolation.run(allocate, 1) == 1024 * 1024
