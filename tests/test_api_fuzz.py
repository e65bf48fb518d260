"""schemathesis against the running app: every check, no failure.

The live server (pytest-django's, multi-threaded, on 127.0.0.1) serves the test database;
schemathesis reads /api/v1/openapi.json, sends generated requests with an API token (valid
and invalid data, and stateful sequences that create, read, change and delete), and checks
every answer against the document: no 5xx, every status and content type documented,
invalid bodies refused, valid ones accepted. Bounded examples keep it to about a minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config.api import api
from packager import services
from shares import services as share_services
from tests.conftest import ROOT
from tests.factories import make_local_source, write_files

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

# Five generated examples per operation in the fuzzing phase (the coverage phase sends its own
# boundary cases, however many the schema asks for).
EXAMPLES_PER_OPERATION = 5
# Fixed, so that a failure reproduces; SCHEMATHESIS_SEED=<n> explores further.
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261121"))
# The same phases on the same operations as one run, cut into runs that the test workers take
# in parallel: the coverage phase (most of the time) per group of tags, then the generated
# examples and the stateful sequences over every operation. The examples phase has nothing to
# send (the document carries no examples) and rides along with fuzzing.
RUNS: list[tuple[str, tuple[str, ...]]] = [
    ("coverage", ("packages",)),
    ("coverage", ("sources",)),
    ("coverage", ("teams", "shares")),
    ("examples,fuzzing,stateful", ()),
]


@pytest.mark.parametrize(("phases", "tags"), RUNS, ids=[f"{phases}-{'-'.join(tags) or 'all'}" for phases, tags in RUNS])
def test_schemathesis_finds_nothing(
    live_server: Any, owner: Any, tmp_path: Path, phases: str, tags: tuple[str, ...]
) -> None:
    # Every operation falls in one of the coverage runs' tags.
    document = api.get_openapi_schema()
    document_tags = {
        tag
        for operations in document["paths"].values()
        for operation in operations.values()
        for tag in operation.get("tags", ["(none)"])
    }
    assert document_tags <= {tag for _, run_tags in RUNS for tag in run_tags}, document_tags
    _, token = services.api_token_create(user=owner, name="schemathesis")
    # Something to find, so that the stateful phase reaches beyond 404s.
    package = services.package_create(owner=owner, name="Fuzzed")
    services.package_write_text(package=package, path="README.md", content="# Fuzzed\n")
    # Real ids for the routes that take one id alone (no link in the document leads to them):
    # an indexed source and a share, one each for the deletions, so that those do not take
    # the others away half-way. Routes with two ids get none: schemathesis would count a
    # request whose other id it had spoiled as invalid data accepted.
    config = (ROOT / "schemathesis.toml").read_text()
    for method, suffix in [("GET|POST|PATCH|PUT", ""), ("DELETE", "-deleted")]:
        write_files(
            tmp_path / f"data{suffix}", {"raw/2024/a.csv": b"a,b\n1,2\n", "raw/b.parquet": b"PAR1", "top.txt": b"t"}
        )
        source = make_local_source(owner, tmp_path / f"data{suffix}", name=f"fuzzed{suffix}")
        share = share_services.share_create(package=package, created_by=owner)
        config += (
            f'\n[[operations]]\ninclude-method-regex = "^({method})$"\n'
            f'parameters = {{ "path.source_id" = "{source.public_id}", "path.token" = "{share.token}" }}\n'
        )
    (tmp_path / "schemathesis.toml").write_text(config)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        # One worker: hypothesis inspects lambdas with `ast`, which CPython 3.11 does not
        # support from several threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--phases",
        phases,
        *[option for tag in tags for option in ("--include-tag", tag)],
        "--no-shrink",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    selected = sum(
        1
        for operations in document["paths"].values()
        for operation in operations.values()
        if not tags or set(operation.get("tags", [])) & set(tags)
    )
    assert f"Selected: {selected}/" in output, output[-3000:]
    assert " passed" in output and "failures" not in output.rpartition("Test cases:")[2]
