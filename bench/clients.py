"""Download clients through a share against the same clients straight from storage, in one run.

`make bench-clients` puts --files files of 1 KB (10,000 by default) in a SeaweedFS bucket
behind the tests' strict proxy (storage on `localhost`, as in the tests), publishes them as a
package on a throwaway SQLite database and shares it, served by gunicorn with the production
settings (config/gunicorn.py: threaded workers, kept-alive connections) on 127.0.0.1. Then each
client fetches every file twice, in a fresh folder each time, through the share and straight
from the bucket:

| client | through the share | straight from storage |
| --- | --- | --- |
| wget | `wget -c -x -i urls.txt` (a 307 per file) | `wget -x -i` a list of boto3-presigned URLs |
| aria2c | `direct.txt` fetched, then `aria2c -i direct.txt` | `aria2c -i` the same list made by boto3 |
| git-annex | `git annex get .` in a clone of annex.git | `git annex get --from s3` (an S3 special remote) |
| DVC | `dvc pull` in a clone of dvc.git (HTTP remote) | `dvc pull -r s3` (an S3 remote) |

The git-annex and DVC baselines read the same bytes, stored a second time under the keys each
tool's S3 remote uses (`<annex key>`, `files/md5/<2>/<30>`), from clones of the share's own
repositories, so only the remote differs. Every file fetched through the share is checked
against the manifest's sha256. It prints wall times and the ratio share / direct (goal: at
most 1.3 for each) and the time per file, which shows where a client's own overhead per file
dominates.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="packager-bench-clients-"))
DATABASE = f"sqlite:///{WORK / 'bench.sqlite3'}"
SERVER_ENVIRONMENT = {
    "DATABASE_URL": DATABASE,
    "SECRET_KEY": "bench-only-secret-key-of-a-throwaway-database",
    "PACKAGER_VAR_DIR": str(WORK / "var"),
    "SOURCE_ENDPOINT_ALLOWLIST": "127.0.0.1,localhost",
    "ALLOWED_HOSTS": "127.0.0.1",
    "DEBUG": "0",
    "LOG_LEVEL": "WARNING",
    "CELERY_TASK_ALWAYS_EAGER": "1",
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "PYTHONPATH": str(ROOT),
}
os.environ.update(SERVER_ENVIRONMENT)

import logging  # noqa: E402

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from packager import checksumming, versions  # noqa: E402
from packager import services as packages  # noqa: E402
from packager.models import Package  # noqa: E402
from shares import services as shares  # noqa: E402
from shares.models import ShareRepository  # noqa: E402
from sources import indexing  # noqa: E402
from sources import services as sources  # noqa: E402
from tests.s3_servers import S3Server, _wait_until_writable  # noqa: E402
from tests.servers import SeaweedServer, ServerProcess  # noqa: E402
from tests.strict_proxy import StrictProxy  # noqa: E402

CLIENTS_BIN = ROOT / ".venv-clients" / "bin"
BUCKET = "bench-clients"
ANNEX_PREFIX = "annex/"
DVC_PREFIX = "dvc/"


def content(index: int) -> bytes:
    """1 KB, different for every file."""
    return (f"{index:08d}".encode() * 128)[:1024]


def key_of(index: int) -> str:
    return f"data/{index // 1000:03d}/sample {index:06d}.csv"


def fill_bucket(server: S3Server, count: int) -> None:
    """The files at their keys, and again under the keys of git-annex's and DVC's S3 remotes."""
    client = server.client()
    client.create_bucket(Bucket=BUCKET)

    def put(index: int) -> None:
        data = content(index)
        sha256 = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        client.put_object(Bucket=BUCKET, Key=key_of(index), Body=data)
        client.put_object(Bucket=BUCKET, Key=f"{ANNEX_PREFIX}SHA256E-s{len(data)}--{sha256}.csv", Body=data)
        client.put_object(Bucket=BUCKET, Key=f"{DVC_PREFIX}files/md5/{md5[:2]}/{md5[2:]}", Body=data)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def share_package(server: S3Server, count: int) -> tuple[str, Any]:
    """Index the bucket's data/ folder, publish it as a package (packager reads every file
    for its sha256, as for any S3 source) and share it; returns the token and the share."""
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    source = sources.source_create(
        owner=user,
        kind="s3",
        fields={
            "name": "bench",
            "bucket": BUCKET,
            "endpoint_url": server.endpoint_url,
            "region": server.region,
            "addressing_style": "path",
        },
        credentials={"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key},
        index=False,
        trusted=True,
    )
    indexing.source_index(source_pk=source.pk)
    package = packages.package_create(owner=user, name="Bench clients")
    packages.package_add_objects(package=package, source=source, paths=["data/"], keep_folder_names=False)
    version = versions.package_publish(package=package)
    checksumming.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == "published" and version.file_count == count, (version.state, version.error)
    share = shares.share_create(package=Package.objects.get(pk=package.pk), created_by=user)
    return share.token, share


def build_repositories(share: Any, base_url: str) -> None:
    version = share.package.latest_version
    for kind in ("annex", "dvc"):
        repository = ShareRepository.objects.create(share=share, version=version, kind=kind, base_url=base_url)
        shares.share_repository_build(repository_pk=repository.pk)
        repository.refresh_from_db()
        assert repository.is_ready, repository.error


def start_gunicorn() -> ServerProcess:
    """packager as in production: gunicorn with config/gunicorn.py (threaded workers)."""
    executable = str(Path(sys.executable).with_name("gunicorn"))
    return ServerProcess.spawn(
        "gunicorn",
        lambda port: [executable, "config.wsgi", "--config", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}"],
        environment=SERVER_ENVIRONMENT,
        cwd=ROOT,
    )


def kept_alive(url: str, paths: list[str]) -> bool:
    """Whether two resolves in a row go over one connection (a 307 framed by its length)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    sockets = []
    for path in paths:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 307, response.status
        sockets.append(connection.sock)
    connection.close()
    return sockets[0] is not None and sockets[0] is sockets[1]


def environment(home: Path, server: S3Server) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    values = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{CLIENTS_BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "DVC_NO_ANALYTICS": "1",
        # git-annex's S3 special remote reads its credentials from these.
        "AWS_ACCESS_KEY_ID": server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
    }
    for name, value in [
        ("user.name", "bench"),
        ("user.email", "bench@localhost"),
        ("init.defaultBranch", "main"),
        ("annex.security.allowed-ip-addresses", "127.0.0.1"),
    ]:
        subprocess.run(["git", "config", "--global", name, value], env=values, check=True)
    return values


def run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(
            f"{' '.join(map(str, command))} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return time.perf_counter() - start


def fetch(url: str) -> bytes:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, (url, response.status, body[:500])
    return body


def check_folder(folder: Path, manifest: dict[str, str]) -> None:
    for path, sha256 in manifest.items():
        assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == sha256, path


def presigned(server: S3Server, count: int) -> list[tuple[str, str]]:
    """(path in the package, presigned URL of its object) for every file, signed by boto3."""
    client = server.client()
    return [
        (
            key_of(index).removeprefix("data/"),
            client.generate_presigned_url(
                "get_object", Params={"Bucket": BUCKET, "Key": key_of(index)}, ExpiresIn=3600
            ),
        )
        for index in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1, help="times each pair runs (the median is shown)")
    options = parser.parse_args()
    for tool in ("wget", "aria2c", "git"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: run `make install-test`.")
    for tool in ("git-annex", "dvc"):
        if not (CLIENTS_BIN / tool).exists():
            raise SystemExit(f"{tool} is not installed: run `make install-test`.")

    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # boto3's pool of 10, 16 threads
    seaweed = SeaweedServer.start(S3Server.access_key_id, S3Server.secret_access_key)
    proxy = StrictProxy.start("127.0.0.1", seaweed.s3_port)
    gunicorn: ServerProcess | None = None
    try:
        storage = S3Server(endpoint_url=f"http://localhost:{proxy.port}")
        _wait_until_writable(storage)
        started = time.perf_counter()
        fill_bucket(storage, options.files)
        print(f"{options.files:,} files of 1 KB stored in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        token, share = share_package(storage, options.files)
        print(f"indexed, published (sha256 of every file) and shared in {time.perf_counter() - started:.0f} s")
        gunicorn = start_gunicorn()
        site = f"http://127.0.0.1:{gunicorn.port}"
        build_repositories(share, site)
        share_url = f"{site}/s/{token}/"
        first, second = (f"/s/{token}/r/" + quote(key_of(index).removeprefix("data/")) for index in (0, 1))
        print(f"gunicorn (config/gunicorn.py) keeps a connection open across 307s: {kept_alive(site, [first, second])}")
        manifest = {
            line["path"]: line["sha256"]
            for line in map(json.loads, fetch(share_url + "manifest.jsonl").decode().splitlines())
            if line["kind"] == "file"
        }
        env = environment(WORK / "home", storage)
        urls_txt = fetch(share_url + "urls.txt")
        signed = presigned(storage, options.files)
        bench_runs = Runs(share_url, urls_txt, signed, manifest, env, storage)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(options.rounds):
            for client in ("wget", "aria2c", "git-annex", "dvc"):
                for way in ("share", "direct"):
                    connections_before = proxy.connections
                    seconds = getattr(bench_runs, f"{client.replace('-', '_')}_{way}")()
                    times.setdefault((client, way), []).append(seconds)
                    opened = proxy.connections - connections_before
                    print(f"  {client:9} {way:6} {seconds:7.1f} s, {opened:,} connections to storage", flush=True)
        print(f"\n{options.files:,} files of 1 KB, {options.rounds} round(s), median wall time")
        print(f"{'client':10} {'share':>9} {'direct':>9} {'ratio':>6} {'ms/file share':>14} {'ms/file direct':>15}")
        for client in ("wget", "aria2c", "git-annex", "dvc"):
            through = sorted(times[(client, "share")])[len(times[(client, "share")]) // 2]
            direct = sorted(times[(client, "direct")])[len(times[(client, "direct")]) // 2]
            print(
                f"{client:10} {through:8.1f}s {direct:8.1f}s {through / direct:5.2f}x "
                f"{through * 1000 / options.files:14.1f} {direct * 1000 / options.files:15.1f}"
            )
        print(f"strict proxy: {proxy.forwarded:,} requests forwarded, {proxy.refused} refused")
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        proxy.stop()
        seaweed.stop()
        shutil.rmtree(WORK, ignore_errors=True)


class Runs:
    """Each client once through the share and once straight from storage, in a new folder."""

    def __init__(
        self,
        share_url: str,
        urls_txt: bytes,
        signed: list[tuple[str, str]],
        manifest: dict[str, str],
        env: dict[str, str],
        storage: S3Server,
    ) -> None:
        self.share_url, self.urls_txt, self.signed, self.manifest = share_url, urls_txt, signed, manifest
        self.env, self.storage = env, storage
        self.count = 0

    def folder(self, name: str) -> Path:
        self.count += 1
        folder = WORK / f"{self.count:02d}-{name}"
        folder.mkdir()
        return folder

    def wget_share(self) -> float:
        folder = self.folder("wget-share")
        (folder / "urls.txt").write_bytes(self.urls_txt)
        seconds = run(["wget", "-q", "-c", "-x", "-nH", "--cut-dirs=3", "-i", "urls.txt"], folder, self.env)
        check_folder(folder, self.manifest)
        return seconds

    def wget_direct(self) -> float:
        folder = self.folder("wget-direct")
        (folder / "presigned.txt").write_text("".join(f"{url}\n" for _, url in self.signed))
        # Saved under the URL's path and query: the names do not matter here, the bytes do.
        seconds = run(["wget", "-q", "-c", "-x", "-nH", "-i", "presigned.txt"], folder, self.env)
        assert sum(1 for path in folder.rglob("*") if path.is_file()) == len(self.signed) + 1
        return seconds

    def aria2c_share(self) -> float:
        folder = self.folder("aria2c-share")
        start = time.perf_counter()
        (folder / "direct.txt").write_bytes(fetch(self.share_url + "direct.txt"))
        run(["aria2c", "-q", "-c", "-i", "direct.txt", "-d", "files"], folder, self.env)
        seconds = time.perf_counter() - start
        check_folder(folder / "files", self.manifest)
        return seconds

    def aria2c_direct(self) -> float:
        folder = self.folder("aria2c-direct")
        (folder / "presigned.txt").write_text("".join(f"{url}\n  out={path}\n" for path, url in self.signed))
        seconds = run(["aria2c", "-q", "-c", "-i", "presigned.txt", "-d", "files"], folder, self.env)
        check_folder(folder / "files", self.manifest)
        return seconds

    def _clone(self, kind: str, name: str) -> Path:
        folder = self.folder(name)
        run(["git", "clone", "-q", self.share_url + f"{kind}.git", "repository"], folder, self.env)
        return folder / "repository"

    def git_annex_share(self) -> float:
        repository = self._clone("annex", "annex-share")
        run(["git", "annex", "init", "-q"], repository, self.env)
        seconds = run(["git", "annex", "get", "-q", "."], repository, self.env)
        check_folder(repository, self.manifest)
        return seconds

    def git_annex_direct(self) -> float:
        repository = self._clone("annex", "annex-direct")
        run(["git", "annex", "init", "-q"], repository, self.env)
        endpoint = urlsplit(self.storage.endpoint_url)
        run(
            [
                "git", "annex", "initremote", "s3", "type=S3", "encryption=none", f"bucket={BUCKET}",
                f"fileprefix={ANNEX_PREFIX}", f"host={endpoint.hostname}", f"port={endpoint.port}",
                "protocol=http", "requeststyle=path", "signature=v2", "autoenable=false",
            ],
            repository,
            self.env,
        )  # fmt: skip
        # signature=v2: git-annex's v4 signatures do not match SeaweedFS's on a non-default port.
        # git-annex gets a key only from a remote its location log says has it: say so, in one batch.
        remote = subprocess.run(
            ["git", "config", "remote.s3.annex-uuid"], cwd=repository, env=self.env, capture_output=True, text=True
        ).stdout.strip()
        keys = subprocess.run(
            ["git", "annex", "find", "--include=*", "--format=${key}\n"],
            cwd=repository,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        subprocess.run(
            ["git", "annex", "setpresentkey", "--batch"],
            input="".join(f"{key} {remote} 1\n" for key in keys),
            cwd=repository,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = run(["git", "annex", "get", "-q", "--from", "s3", "."], repository, self.env)
        check_folder(repository, self.manifest)
        return seconds

    def dvc_share(self) -> float:
        repository = self._clone("dvc", "dvc-share")
        seconds = run([CLIENTS_BIN / "dvc", "pull", "-q"], repository, self.env)
        check_folder(repository, self.manifest)
        return seconds

    def dvc_direct(self) -> float:
        repository = self._clone("dvc", "dvc-direct")
        dvc = CLIENTS_BIN / "dvc"
        for arguments in (
            ["remote", "add", "--local", "s3", f"s3://{BUCKET}/{DVC_PREFIX.rstrip('/')}"],
            ["remote", "modify", "--local", "s3", "endpointurl", self.storage.endpoint_url],
            ["remote", "modify", "--local", "s3", "access_key_id", self.storage.access_key_id],
            ["remote", "modify", "--local", "s3", "secret_access_key", self.storage.secret_access_key],
            ["remote", "modify", "--local", "s3", "region", self.storage.region],
        ):
            run([dvc, *arguments], repository, self.env)
        seconds = run([dvc, "pull", "-q", "-r", "s3"], repository, self.env)
        check_folder(repository, self.manifest)
        return seconds


if __name__ == "__main__":
    main()
