"""A share as repositories: build time and size of the git-annex and DVC repositories of a
large version, `git clone` time over HTTP, and the requests per file that `git annex get`
and `dvc pull` send to packager. `make bench-repos` runs it on a throwaway SQLite database.

Baselines, measured in the same run:
- build: reading the version's rows the way the builder does (the floor any export pays);
- clone: `git clone` of the same bare repository from a local path (no HTTP);
- requests per file: `wget -i urls.txt` on the same sample (one resolve per file).

The requests are counted on a WSGI server in this process (127.0.0.1 only); the sample's
bytes come from a local-folder source, which packager itself serves under /files/ (counted
apart: with S3 or Azure those go to the store, not to packager).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("LOG_LEVEL", "ERROR")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.utils import timezone  # noqa: E402

from packager import checksumming, versions  # noqa: E402
from packager import services as packages  # noqa: E402
from packager.models import Package, PackageVersion, VersionEntry  # noqa: E402
from shares import services  # noqa: E402
from shares.models import Share, ShareRepository  # noqa: E402
from sources import indexing  # noqa: E402
from sources.models import Source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIENTS_BIN = ROOT / ".venv-clients" / "bin"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class CountingServer:
    """Django on 127.0.0.1, counting requests by kind of path."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        application = get_wsgi_application()

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            kind = (
                "storage (/files/)"
                if path.startswith("/files/")
                else path.split("/")[3]
                if path.startswith("/s/")
                else "other"
            )
            self.counts[kind] += 1
            return application(environ, start_response)

        self.server = make_server("127.0.0.1", 0, counted, server_class=_Server, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> Counter[str]:
        counts, self.counts = self.counts, Counter()
        return counts


def client_environment(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{CLIENTS_BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    for key, value in [
        ("user.name", "bench"),
        ("user.email", "bench@localhost"),
        ("annex.security.allowed-ip-addresses", "127.0.0.1"),
    ]:
        subprocess.run(["git", "config", "--global", key, value], env=environment, check=True)
    return environment


def run(command: list[str], cwd: Path, environment: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return time.perf_counter() - start


def large_version(user: Any, source: Source, count: int) -> PackageVersion:
    """A published version of `count` data files plus a README, written straight as rows."""
    package = Package.objects.create(owner=user, name=f"large {count}", slug=f"large-{count}")
    version = PackageVersion.objects.create(
        package=package, number=1, state=PackageVersion.State.PUBLISHED, published_at=timezone.now()
    )
    readme = default_storage.save("bench/README.md", ContentFile(b"# Large\n"))
    rows = [
        VersionEntry(
            package_version=version,
            position=0,
            path="README.md",
            kind="text",
            size=8,
            sha256=hashlib.sha256(b"# Large\n").hexdigest(),
            md5=hashlib.md5(b"# Large\n", usedforsecurity=False).hexdigest(),
            text_name=readme,
        )
    ]
    for index in range(count):
        seed = str(index).encode()
        folder = f"run {index // 1000:03d}/"
        rows.append(
            VersionEntry(
                package_version=version,
                position=index + 1,
                path=f"{folder}sample {index:06d}.csv",
                parent=folder,
                kind="pointer",
                size=1000 + index,
                sha256=hashlib.sha256(seed).hexdigest(),
                md5=hashlib.md5(seed, usedforsecurity=False).hexdigest(),
                source=source,
                key=f"k/{index}.csv",
            )
        )
    VersionEntry.objects.bulk_create(rows, batch_size=5000)
    package.latest_version = version
    package.save(update_fields=["latest_version"])
    return version


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (git): steadier than wall time
    on a shared, loaded machine."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def build(share: Share, version: PackageVersion, kind: str, base_url: str) -> ShareRepository:
    repository = ShareRepository.objects.create(share=share, version=version, kind=kind, base_url=base_url)
    services.share_repository_build(repository_pk=repository.pk)
    repository.refresh_from_db()
    assert repository.is_ready, repository.error
    return repository


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000, help="data files in the large version")
    parser.add_argument("--sample", type=int, default=200, help="files fetched for the requests-per-file figures")
    args = parser.parse_args()
    for tool in ("git-annex", "dvc"):
        if not (CLIENTS_BIN / tool).exists():
            raise SystemExit(f"{tool} is missing: run `make install-test` first.")

    call_command("migrate", verbosity=0)
    server = CountingServer()
    work = Path(tempfile.mkdtemp(prefix="packager-bench-repos-"))
    environment = client_environment(work / "home")
    user = get_user_model().objects.create_user("bench")
    data = work / "data"
    data.mkdir()
    source = Source.objects.create(owner=user, name="bench", kind="local", local_path=str(data))

    print(f"Large version: {args.files:,} data files")
    version = large_version(user, source, args.files)
    share = services.share_create(package=version.package, created_by=user)

    start, cpu = time.perf_counter(), cpu_seconds()
    rows = sum(
        1
        for _ in VersionEntry.objects.filter(package_version=version)
        .order_by("position")
        .only("path", "kind", "size", "sha256", "md5", "text_name")
        .iterator(chunk_size=2000)
    )
    read_seconds, read_cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"  baseline: reading the {rows:,} rows: {read_seconds:.2f} s wall, {read_cpu:.2f} s CPU")
    for kind in ("annex", "dvc"):
        start, cpu = time.perf_counter(), cpu_seconds()
        repository = build(share, version, kind, server.url)
        seconds, used = time.perf_counter() - start, cpu_seconds() - cpu
        print(
            f"  {kind}: built in {seconds:.2f} s wall, {used:.2f} s CPU with git "
            f"({used / read_cpu:.1f}x the CPU of reading the rows), "
            f"{repository.size / 1024**2:.1f} MiB ({repository.size / args.files:.0f} B per file)"
        )
        bare = work / f"{kind}-local.git"
        start = time.perf_counter()
        run(
            ["git", "clone", "--quiet", "--mirror", f"{server.url}/s/{share.token}/{kind}.git", str(bare)],
            work,
            environment,
        )
        server.take()
        local_seconds = run(["git", "clone", "--quiet", str(bare), str(work / f"{kind}-local")], work, environment)
        http_seconds = run(
            ["git", "clone", "--quiet", f"{server.url}/s/{share.token}/{kind}.git", str(work / f"{kind}-http")],
            work,
            environment,
        )
        requests = sum(server.take().values())
        print(
            f"  {kind}: git clone over HTTP {http_seconds:.2f} s in {requests} requests; "
            f"from a local path {local_seconds:.2f} s (ratio {http_seconds / local_seconds:.2f})"
        )
        shutil.rmtree(work / f"{kind}-local")
        shutil.rmtree(work / f"{kind}-http")

    print(f"Requests per file on a sample of {args.sample} files (a local-folder source):")
    for index in range(args.sample):
        (data / f"part {index // 50}").mkdir(exist_ok=True)
        (data / f"part {index // 50}" / f"file {index}.bin").write_bytes(os.urandom(100 + index))
    indexing.source_index(source_pk=source.pk)
    package = packages.package_create(owner=user, name="sample")
    folders = sorted({f"part {index // 50}/" for index in range(args.sample)})
    packages.package_add_objects(package=package, source=source, paths=folders)
    sample_version = versions.package_publish(package=package)
    checksumming.version_publish_run(version_pk=sample_version.pk)
    sample_share = services.share_create(package=package, created_by=user)
    base = f"{server.url}/s/{sample_share.token}"
    for kind in ("annex", "dvc"):
        build(sample_share, PackageVersion.objects.get(pk=sample_version.pk), kind, server.url)

    urls = work / "urls.txt"
    urls.write_bytes(
        subprocess.run(["wget", "-q", "-O", "-", f"{base}/urls.txt"], check=True, capture_output=True).stdout
    )
    server.take()
    wget_dir = work / "wget"
    wget_dir.mkdir()
    wget_seconds = run(["wget", "-q", "-x", "-nH", "-i", str(urls)], wget_dir, environment)
    wget_counts = server.take()
    wget_per_file = wget_counts["r"] / args.sample
    print(f"  baseline wget -i urls.txt: {wget_per_file:.2f} share requests per file ({wget_seconds:.1f} s)")

    annex_dir = work / "annex-sample"
    run(["git", "clone", "--quiet", f"{base}/annex.git", str(annex_dir)], work, environment)
    server.take()
    annex_seconds = run(["git", "annex", "get", "."], annex_dir, environment)
    counts = server.take()
    share_requests = sum(count for kind, count in counts.items() if kind not in ("storage (/files/)",))
    print(
        f"  git annex get .: {share_requests / args.sample:.2f} share requests per file "
        f"({dict(counts)}; ratio to wget {share_requests / args.sample / wget_per_file:.2f}; {annex_seconds:.1f} s)"
    )

    dvc_dir = work / "dvc-sample"
    run(["git", "clone", "--quiet", f"{base}/dvc.git", str(dvc_dir)], work, environment)
    server.take()
    dvc_seconds = run([str(CLIENTS_BIN / "dvc"), "pull", "--quiet"], dvc_dir, environment)
    counts = server.take()
    share_requests = sum(count for kind, count in counts.items() if kind not in ("storage (/files/)",))
    print(
        f"  dvc pull: {share_requests / args.sample:.2f} share requests per file "
        f"({dict(counts)}; ratio to wget {share_requests / args.sample / wget_per_file:.2f}; {dvc_seconds:.1f} s)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
