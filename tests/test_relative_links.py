"""README and notebook links relative to the package lead to the package's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from packager import services as packages
from shares import services as shares
from tests.factories import make_local_source, publish, write_files
from web.links import package_path, rewrite_relative

pytestmark = pytest.mark.django_db

README = "# Lake\n\n![map](figures/map.png)\n\n[the table](data/a.csv#top) · [site](https://example.org/x) · [up](../../etc/passwd)\n"


@pytest.mark.parametrize(
    ("folder", "reference", "expected"),
    [
        ("", "data/a.csv", "data/a.csv"),
        ("docs/", "../data/a.csv", "data/a.csv"),
        ("docs/", "./img%20one.png", "docs/img one.png"),
        ("", "../outside.csv", None),
        ("", "https://example.org/a.csv", None),
        ("", "/absolute.csv", None),
        ("", "#section", None),
        ("", "mailto:someone@example.org", None),
    ],
)
def test_it_resolves_references_inside_the_package_only(folder: str, reference: str, expected: str | None) -> None:
    assert package_path(folder, reference) == expected


def test_it_rewrites_links_and_images_and_leaves_the_rest() -> None:
    rendered = '<p><a href="data/a.csv">t</a> <img src="fig/m.png" alt=""> <a href="https://example.org/">x</a></p>'
    out = rewrite_relative(rendered, folder="", link_prefix="/s/T/view/", image_prefix="/s/T/r/")
    assert '<a href="/s/T/view/data/a.csv">' in out
    assert '<img src="/s/T/r/fig/m.png"' in out
    assert '<a href="https://example.org/">' in out


@pytest.fixture
def package(owner: Any, tmp_path: Path) -> Any:
    write_files(tmp_path / "d", {"figures/map.png": b"\x89PNG\r\n\x1a\n" + b"0" * 50, "data/a.csv": b"a,b\n1,2\n"})
    source = make_local_source(owner, tmp_path / "d")
    package = packages.package_create(owner=owner, name="Lake")
    packages.package_add_objects(package=package, source=source, paths=["figures/", "data/"])
    packages.package_write_text(package=package, path="README.md", content=README)
    return package


def test_the_share_page_points_them_at_the_share(package: Any, owner: Any, client: Any) -> None:
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    page = client.get(f"/s/{share.token}/").content.decode()
    assert f'<img alt="map" src="/s/{share.token}/r/figures/map.png"' in page or (
        f'src="/s/{share.token}/r/figures/map.png"' in page
    )
    assert f'href="/s/{share.token}/view/data/a.csv#top"' in page
    assert 'href="https://example.org/x"' in page
    assert "etc/passwd" in page and f"/s/{share.token}/view/etc" not in page
    image = client.get(f"/s/{share.token}/r/figures/map.png")
    assert image.status_code in {302, 307}  # on to the bytes (a signed URL)
    viewed = client.get(f"/s/{share.token}/view/README.md").content.decode()
    assert f'href="/s/{share.token}/view/data/a.csv#top"' in viewed


def test_the_curator_page_points_them_at_the_draft(package: Any, owner_client: Any, outsider: Any) -> None:
    base = f"/packages/{package.public_id}/"
    page = owner_client.get(base).content.decode()
    assert f'src="{base}file/figures/map.png"' in page
    assert f'href="{base}view/data/a.csv#top"' in page
    image = owner_client.get(f"{base}file/figures/map.png")
    assert image.status_code == 302
    text = owner_client.get(f"{base}file/README.md")
    assert text.status_code == 200 and text.content.decode() == README
    owner_client.force_login(outsider)
    assert owner_client.get(f"{base}file/figures/map.png").status_code == 404
