"""The client recipes (curl, DataLad, DVC import-url, pandas, DuckDB, fsspec, rclone) on the share
page and in HOW-TO-DOWNLOAD.md, with the share's real link; tests/test_clients.py runs them."""

from __future__ import annotations

import base64
import html
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

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


def test_a_password_shares_recipes_use_its_key_link(client: Any, owner: Any, package: Any) -> None:
    share = services.share_create(package=package, created_by=owner, password="recipes pass 1")
    assert 'id="recipes"' not in client.get(f"/s/{share.token}/").content.decode()  # not before the password
    client.post(f"/s/{share.token}/", {"password": "recipes pass 1"})
    page = html.unescape(client.get(f"/s/{share.token}/").content.decode())
    key_link = f"http://testserver/s/{share.token}/k/{share.link_key}/"
    for recipe in howto.client_recipes(link=key_link, folder="recipes-set"):
        assert recipe.command in page, recipe.client
    authorization = "Basic " + base64.b64encode(b"x:recipes pass 1").decode()
    response = Client().get(f"/s/{share.token}/download.zip", headers={"Authorization": authorization})
    guide = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("recipes-set/HOW-TO-DOWNLOAD.md")
    assert f"rclone copy --http-url {key_link}r/ :http: recipes-set" in guide.decode()
    assert "recipes pass 1" not in guide.decode()
