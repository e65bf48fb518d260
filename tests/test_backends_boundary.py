"""Storage kinds stay inside sources/backends: everything else asks a backend class
(`BACKENDS[source.kind]`) what it can do, and never tests which kind a source is."""

from __future__ import annotations

import re
from pathlib import Path

from sources.backends import BACKENDS, Backend, writable_kinds
from sources.models import Source

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("config", "packager", "shares", "sources", "web")
# A kind's name or a backend class's name, where code would branch on it.
KIND_TEST = re.compile(r"\bKind\.(S3|AZURE|LOCAL)\b|\b(LocalBackend|S3Backend|AzureBackend)\b")
# Models, forms, migrations and the admin may speak of the kinds as fields and choices.
ALLOWED_NAMES = {"models.py", "forms.py", "admin.py"}
ALLOWED_FILES = {
    # Creates the demo's folder source: it names a kind to make one, it does not branch on it.
    "shares/demo.py",
}


def offending_lines() -> list[str]:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if (
                relative.startswith("sources/backends/")
                or "/migrations/" in relative
                or path.name in ALLOWED_NAMES
                or relative in ALLOWED_FILES
            ):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if KIND_TEST.search(line):
                    found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_module_outside_the_backends_branches_on_a_storage_kind() -> None:
    assert offending_lines() == []


def test_the_scan_sees_a_kind_test_where_there_is_one() -> None:
    """The pattern catches what it is there to catch (and nothing that merely looks alike)."""
    assert KIND_TEST.search("if source.kind == Source.Kind.S3:")
    assert KIND_TEST.search("if isinstance(backend, LocalBackend):")
    assert not KIND_TEST.search("if repository.kind == ShareRepository.Kind.ANNEX:")
    assert not KIND_TEST.search("from sources.backends.local import load_link")


def test_every_kind_of_source_has_a_backend_and_every_backend_a_kind() -> None:
    assert set(BACKENDS) == set(Source.Kind.values)
    for kind, backend in BACKENDS.items():
        assert issubclass(backend, Backend) and backend.kind == kind


def test_the_capabilities_say_what_each_kind_can_do() -> None:
    assert writable_kinds() == ["s3", "azure"]
    assert [kind for kind, backend in BACKENDS.items() if backend.serves_own_links] == ["local"]
    assert [kind for kind, backend in BACKENDS.items() if backend.vouches_for_checksums] == ["s3"]
    assert [kind for kind, backend in BACKENDS.items() if backend.administrators_only] == ["local"]
    assert BACKENDS["local"].credential_fields == ()
