"""The client recipes (curl, DataLad, DVC import-url, pandas, DuckDB, fsspec, rclone) on the share
page and in HOW-TO-DOWNLOAD.md, with the share's real link; tests/test_clients.py runs them."""

from __future__ import annotations

import html
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from packager import services as packages
from packager.exports import howto
from shares import services
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def package(owner: Any, tmp_path: Path) -> Any:
    write_files(tmp_path / "data", {"a.csv": b"x,y\n1,2\n"})
    package = packages.package_create(owner=owner, name="Recipes set")
    packages.package_add_objects(package=package, source=make_local_source(owner, tmp_path / "data"), paths=["a.csv"])
    publish(package)
    return package


def test_it_shows_every_recipe_with_the_share_link(client: Any, owner: Any, package: Any) -> None:
    share = services.share_create(package=package, created_by=owner)
    link = f"http://testserver/s/{share.token}/"
    page = html.unescape(client.get(f"/s/{share.token}/").content.decode())
    recipes = howto.client_recipes(link=link, folder="recipes-set")
    assert {recipe.client for recipe in recipes} == {
        "curl", "DataLad", "DVC, one file", "pandas", "DuckDB", "fsspec", "rclone"
    }  # fmt: skip
    for recipe in recipes:
        assert recipe.command in page, recipe.client
    assert f"rclone copy --http-url {link}r/ :http: recipes-set" in page
    assert f'pandas.read_csv("{link}r/<path>.csv")' in page

    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"/s/{share.token}/download.zip").streaming_content)))
    guide = archive.read("recipes-set/HOW-TO-DOWNLOAD.md").decode()
    for recipe in recipes:
        assert f"```\n{recipe.command}\n```" in guide, recipe.client


def test_it_gives_no_recipe_that_would_send_a_password_to_storage(client: Any, owner: Any, package: Any) -> None:
    share = services.share_create(package=package, created_by=owner, password="recipes pass 1")
    client.post(f"/s/{share.token}/", {"password": "recipes pass 1"})
    page = client.get(f"/s/{share.token}/").content.decode()
    assert page.count('id="recipes"') == 0 and "read_parquet" not in page
