"""CSV previews guess the header row as a spreadsheet does; names are kept as written."""

from __future__ import annotations

import csv
import io

import pytest

from sources.previews import looks_like_header


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("day,temp\n1,4.5\n2,5.0\n", True),
        ("Station ID,Surface Temp (°C)\nA1,3.5\nB2,4.0\n", True),
        ("time,station\n2024-06-01T10:00Z,A1\n2024-06-01T11:00Z,A1\n", True),
        ("1,4.5\n2,5.0\n3,5.5\n", False),  # numbers from the first row on: no names
        ("2024-06-01,4.5\n2024-06-02,5.0\n", False),
        ("a,,c\n1,2,3\n", False),  # a name missing: data
        ("x,x\n1,2\n", False),  # the same name twice: data
        ("only row\n", False),
    ],
)
def test_it_guesses_the_header_like_a_spreadsheet(text: str, expected: bool) -> None:
    assert looks_like_header(rows(text), sample=text) is expected


def test_the_preview_keeps_names_as_written_and_offers_the_toggle(tmp_path: object, owner_client: object) -> None:
    from pathlib import Path

    from tests.factories import make_local_source, write_files

    folder = Path(str(tmp_path)) / "data"
    write_files(folder, {"t.csv": b"Station ID,temp\nA1,3.5\nB2,4.0\n"})
    owner = owner_client.get("/").wsgi_request.user  # type: ignore[attr-defined]
    source = make_local_source(owner, folder)
    body = owner_client.get(f"/sources/{source.public_id}/object/t.csv").content.decode()  # type: ignore[attr-defined]
    assert '<th scope="col">Station ID</th>' in body
    assert "data-toggle-header" in body
