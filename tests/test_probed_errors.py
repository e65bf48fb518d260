"""Inputs that probing turned into 500s, and previews of bytes a verify found changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from packager import services as packages
from packager.models import VersionEntry
from packager.render import notebook_to_html
from shares import resolver
from shares import services as shares
from sources.previews import object_preview
from tests.factories import make_local_source, publish, write_files
from web.ranges import range_is_unsatisfiable, single_range

pytestmark = pytest.mark.django_db


def _share(owner: Any, tmp_path: Path, files: dict[str, bytes]) -> Any:
    write_files(tmp_path, files)
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="Probed")
    packages.package_add_objects(package=package, source=source, paths=list(files))
    version = publish(package)
    return shares.share_create(package=package, created_by=owner), version


@pytest.mark.parametrize("header", ["bytes=\u00b9-\u00b2", "bytes=\u00b9-", "bytes=-\u00b2", "bytes=\u0663-"])
def test_a_range_with_digits_that_are_not_ascii_is_no_500(owner: Any, tmp_path: Path, header: str) -> None:
    share, _ = _share(owner, tmp_path, {"a.bin": b"0123456789"})
    response = Client().get(reverse("share_resolve", args=[share.token, "a.bin"]), HTTP_RANGE=header)
    assert response.status_code in {302, 307}
    assert not range_is_unsatisfiable(header, 10)
    assert single_range(header, 10) is None  # the local-file view sends the whole file


def test_a_json_file_nested_10000_deep_is_previewed(owner: Any, tmp_path: Path) -> None:
    body = b"[" * 10000 + b"]" * 10000
    write_files(tmp_path, {"deep.json": body})
    source = make_local_source(owner, tmp_path)
    preview = object_preview(source=source, key="deep.json", size=len(body))
    assert preview.kind == "json"
    assert len(preview.text) < 3 * 1024 * 1024  # indentation stops growing


NOTEBOOKS = {
    "own marker": {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "PACKAGERMATH7X then $x$"}],
    },
    "cells in a list": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [[{"cell_type": "code"}]]},
    "lines that are lists": {"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "markdown", "source": [["a"]]}]},
    "worksheets in a list": {"worksheets": [[{"cells": []}]]},
}


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_odd_notebooks_render_to_a_page_that_says_what_it_left_out(owner: Any, name: str) -> None:
    rendered = notebook_to_html(json.dumps(NOTEBOOKS[name]))
    assert rendered
    package = packages.package_create(owner=owner, name="N")
    try:
        packages.package_write_text(package=package, path="x.ipynb", content=json.dumps(NOTEBOOKS[name]))
    except packages.PackageError as refused:  # refused when written: a clear message, no page to show
        assert "not a valid notebook" in refused.message
        return
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    assert Client().get(reverse("share_view_entry", args=[share.token, "x.ipynb"])).status_code == 200


def test_the_marker_written_in_a_notebook_stays_as_written() -> None:
    rendered = notebook_to_html(json.dumps(NOTEBOOKS["own marker"]))
    assert "PACKAGERMATH7X" in rendered and '<span class="math">$x$</span>' in rendered


def test_a_long_path_or_token_is_kept_by_a_bounded_key(owner: Any, tmp_path: Path) -> None:
    share, _ = _share(owner, tmp_path, {"a.bin": b"0"})
    visitor = Client()
    long_path = "x/" * 5000 + "y"
    assert visitor.get(reverse("share_resolve", args=[share.token, long_path])).status_code == 404
    assert visitor.get(reverse("share_resolve", args=["t" * 5000, "a.bin"])).status_code == 404
    assert all(len(key[3]) <= 128 for key in resolver._entries)
    assert all(len(token) <= 128 for token in resolver._shares)


@pytest.mark.parametrize("drift", [VersionEntry.Drift.CHANGED, VersionEntry.Drift.MISSING])
def test_a_file_a_verify_found_changed_is_not_previewed(owner: Any, tmp_path: Path, drift: str) -> None:
    share, version = _share(owner, tmp_path, {"table.csv": b"a,b\n1,2\n"})
    (tmp_path / "table.csv").write_bytes(b"a,b\nother,bytes\n")
    VersionEntry.objects.filter(package_version=version, path="table.csv").update(drift=drift)
    page = Client().get(reverse("share_view_entry", args=[share.token, "table.csv"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "since version 1 was published, so there is no preview" in text
    assert "other" not in text
