"""The rules kept once in web/: errors and their statuses, Range headers, the folder of a path."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from packager.services import OutOfSpace, PackageError, PathConflict
from packager.versions import VersionError
from shares.services import ShareError
from sources.backends.errors import ObjectNotFound, SigningUnsupported, StorageError
from web.error_pages import ApplicationErrorMiddleware
from web.errors import ApplicationError
from web.paths import folder_of, name_of
from web.ranges import byte_ranges, range_is_unsatisfiable, single_range


def test_it_gives_every_error_of_the_family_its_status() -> None:
    assert PackageError("no").status == 422
    assert PathConflict("taken").status == 409
    assert OutOfSpace("full").status == 507
    assert VersionError("not waiting", status=409).status == 409
    assert ShareError("past").status == 422
    # What the user can fix is refused (422); a storage service failing is a bad gateway.
    assert StorageError("denied", reason="auth").status == 422
    assert ObjectNotFound("gone").status == 422
    assert SigningUnsupported("no signing").status == 422
    assert StorageError("slow", reason="timeout").status == 502
    assert StorageError("down", reason="unreachable").status == 502
    assert StorageError("odd").status == 502
    assert all(isinstance(error, ApplicationError) for error in (PackageError("x"), StorageError("x"), ShareError("x")))


def _answer(path: str, error: Exception) -> object:
    middleware = ApplicationErrorMiddleware(lambda request: pytest.fail("no view runs"))
    return middleware.process_exception(RequestFactory().get(path), error)


def test_it_answers_an_application_error_a_page_did_not_catch_with_its_status_and_message() -> None:
    page = _answer("/packages/", PathConflict("“a.csv” is taken."))
    assert page.status_code == 409
    assert "“a.csv” is taken." in page.content.decode()
    failed = _answer("/sources/", StorageError("The storage endpoint did not answer in time.", reason="timeout"))
    assert failed.status_code == 502
    assert "did not answer in time" in failed.content.decode()


def test_it_answers_an_application_error_under_the_api_as_json() -> None:
    answer = _answer("/api/v1/packages", OutOfSpace("The server is out of disk space."))
    assert answer.status_code == 507
    assert json.loads(answer.content) == {"detail": "The server is out of disk space."}


def test_it_leaves_other_exceptions_to_django() -> None:
    assert _answer("/packages/", ValueError("a bug")) is None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("", 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-100", 10, (0, 9)),
        ("Bytes = 2-3", 10, (2, 3)),  # the unit is case-insensitive (RFC 9110)
        ("bytes=10-", 10, "unsatisfiable"),
        ("bytes=-0", 10, "unsatisfiable"),
        ("bytes=-3", 0, "unsatisfiable"),  # no last bytes of an empty file
        ("bytes=3-2", 10, None),  # not valid: ignored, the whole file
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file is a valid answer
        ("items=0-4", 10, None),
        ("bytes=x-4", 10, None),
        ("bytes=-", 10, None),
    ],
)
def test_it_reads_a_single_range(header: str, size: int, expected: object) -> None:
    assert single_range(header, size) == expected


def test_it_says_a_range_is_unsatisfiable_only_when_every_range_starts_past_the_end() -> None:
    assert range_is_unsatisfiable("bytes=10-", 10)
    assert range_is_unsatisfiable("bytes=10-,20-30", 10)
    assert not range_is_unsatisfiable("bytes=10-,0-1", 10)
    assert not range_is_unsatisfiable("bytes=2-", 10)
    assert not range_is_unsatisfiable("bytes=3-2", 10)  # malformed: left to the store
    assert not range_is_unsatisfiable("", 10)
    assert byte_ranges("bytes=1-2, -5") == [(1, 2), (None, 5)]


@pytest.mark.parametrize(
    ("path", "folder"),
    [("a/b/c.csv", "a/b/"), ("a/b/c/", "a/b/"), ("c.csv", ""), ("c/", ""), ("", "")],
)
def test_it_finds_the_folder_of_a_path(path: str, folder: str) -> None:
    assert folder_of(path) == folder


@pytest.mark.parametrize(("path", "name"), [("a/b/c.csv", "c.csv"), ("a/b/c/", "c"), ("c.csv", "c.csv"), ("", "")])
def test_it_finds_the_name_of_a_path(path: str, name: str) -> None:
    assert name_of(path) == name
    assert folder_of(path) + name + ("/" if path.endswith("/") else "") == path
