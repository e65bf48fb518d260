"""The resolver under load: packager against a bare one-view Django app, same gunicorn.

`make bench-resolve` builds a throwaway database (SQLite, then PostgreSQL with
`--database postgresql` or both with `--database both`) holding one published version of
--entries files, half on an S3 source and half on an Azure source, and an open share of
it. It starts gunicorn twice with the same settings (--workers sync workers): once with
packager, once with bench/bare_app.py, whose one view answers 307 with no database, no
middleware and no signing. Then `wrk` (--connections, --seconds) runs against each in
turn, interleaved round by round, for GET and HEAD on an S3 entry and an Azure entry, the
content-addressed and DVC endpoints, and GET of a random file and of every file in turn.
It prints each median req/s and the ratio packager / bare (goal: at least 50%), and a
password share's key link against the open share's link (goal: within 10%).

Last, it times `direct.txt` and `direct.tsv` of the whole version (one signed URL per
file) to the last byte (goal: 100,000 entries in at most 2 s), --direct-repeats times each.

`--baseline DIR` measures another checkout of packager (a worktree of an earlier commit)
in the same run, with its own database filled by its own bench/resolve.py: a third server
in every round, and a column of packager's figures against it. `--only` keeps the cases
whose label holds one of the words given (`--only "GET S3" --only direct`).

Nothing leaves the machine: the sources point at 127.0.0.1 and are never contacted
(signing is arithmetic, and the resolver only redirects).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import GunicornServer, PostgresServer  # noqa: E402

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def build_database(database_url: str, var_dir: Path, entries: int, code: Path = ROOT) -> str:
    """Migrate and fill the database in a child process (Django is set up once per database),
    with the packager in `code`; returns what its fill() returns (the share token first)."""
    script = f"""
import os, sys
sys.path.insert(0, {str(code)!r})
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from bench.resolve import fill
print(fill({entries}))
"""
    environment = {**os.environ, **server_environment(database_url, var_dir, code)}
    completed = subprocess.run(
        [sys.executable, "-c", script], env=environment, cwd=code, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(completed.stderr)
    return completed.stdout.strip().splitlines()[-1]


def fill(entries: int) -> str:
    """One user, an S3 and an Azure source, a published version of `entries` files, a share."""
    from django.contrib.auth import get_user_model

    from packager import services as packages
    from packager.models import PackageEntry, PackageVersion, VersionEntry
    from shares import services as shares
    from sources import services as sources

    user = get_user_model().objects.create_user("bench")
    s3 = sources.source_create(
        owner=user,
        kind="s3",
        fields={
            "name": "bench s3",
            "bucket": "bench-bucket",
            "endpoint_url": "http://127.0.0.1:9",
            "region": "eu-central-1",
            "addressing_style": "path",
            "presign_ttl": 900,
        },
        credentials={"access_key_id": "AKIDEXAMPLE", "secret_access_key": "bench-secret"},
        check=False,
        index=False,
    )
    azure = sources.source_create(
        owner=user,
        kind="azure",
        fields={
            "name": "bench azure",
            "bucket": "bench",
            "endpoint_url": "http://127.0.0.1:9/devstoreaccount1",
            "presign_ttl": 900,
        },
        credentials={"account_key": AZURITE_KEY},
        check=False,
        index=False,
    )
    package = packages.package_create(owner=user, name="bench")
    version = PackageVersion.objects.create(
        package=package,
        number=1,
        state=PackageVersion.State.PUBLISHED,
        entry_count=entries,
        file_count=entries,
        total_size=entries * 1000,
    )
    batch = []
    for index in range(entries):
        digest = hashlib.sha256(str(index).encode()).hexdigest()
        batch.append(
            VersionEntry(
                package_version=version,
                position=index,
                path=f"data/{index // 1000:03d}/sample {index:06d}.bin",
                parent=f"data/{index // 1000:03d}/",
                kind=PackageEntry.Kind.POINTER,
                size=1000,
                sha256=digest,
                md5=digest[:32],
                source=s3 if index % 2 == 0 else azure,
                key=f"raw/{index // 1000:03d}/sample {index:06d}.bin",
            )
        )
        if len(batch) == 5000:
            VersionEntry.objects.bulk_create(batch)
            batch = []
    VersionEntry.objects.bulk_create(batch)
    # What sealing a version stores for its downloads (every published version has it).
    from packager import exports

    version.exports = exports.version_prepare(version=version)
    version.save(update_fields=["exports"])
    package.latest_version = version
    package.save(update_fields=["latest_version"])
    open_share = shares.share_create(package=package, created_by=user)
    locked = shares.share_create(package=package, created_by=user, password="bench password 1")
    # The open share's token, then the path of the password share's key link below /s/.
    return f"{open_share.token} {locked.token}/k/{locked.link_key}"


def settings_package(code: Path) -> str:
    """Where a checkout keeps its settings and WSGI application (packager/ before config/ existed)."""
    return "config" if (code / "config" / "settings.py").exists() else "packager"


def server_environment(database_url: str, var_dir: Path, code: Path = ROOT) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-only-secret-key-of-a-throwaway-database",
        "PACKAGER_VAR_DIR": str(var_dir),
        "SOURCE_ENDPOINT_ALLOWLIST": "127.0.0.1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(code),
        "DJANGO_SETTINGS_MODULE": f"{settings_package(code)}.settings",
    }


# Every request for another file of the version (even-numbered: the S3 ones), as
# `wget -i urls.txt` does: no lookup is ever reused.
DISTINCT_FILES = """
counter = 0
request = function()
  counter = counter + 1
  local index = (counter * 2 + math.random(0, 499) * 200) % {entries}
  index = index - index % 2
  return wrk.format("GET", string.format("{prefix}data/%03d/sample%%20%06d.bin", math.floor(index / 1000), index))
end
"""


# Every file of the version in turn, S3 and Azure alternately, as `wget -i urls.txt` and
# `git annex get` go (each wrk thread starts at its own random file).
FILES_IN_ORDER = """
counter = -1
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  counter = math.random(0, {entries} - 1)
end
request = function()
  counter = (counter + 1) % {entries}
  return wrk.format("GET", string.format("{prefix}data/%03d/sample%%20%06d.bin", math.floor(counter / 1000), counter))
end
"""


def wrk(url: str, *, method: str, connections: int, seconds: int, script_dir: Path, script_text: str = "") -> float:
    script = script_dir / f"{method.lower()}-{hashlib.sha256(script_text.encode()).hexdigest()[:12]}.lua"
    script.write_text(script_text or f'wrk.method = "{method}"\n')
    completed = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    if "Non-2xx or 3xx responses" in completed.stdout:
        raise SystemExit(f"{url} answered errors under load:\n{completed.stdout}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", completed.stdout)
    if found is None:
        raise SystemExit(completed.stdout + completed.stderr)
    return float(found.group(1))


def time_direct_list(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (127.0.0.1)
        body = response.read()
    return time.perf_counter() - start, body.count(b"\n  out=")


def wanted(label: str, options: argparse.Namespace) -> bool:
    return not options.only or any(word in label for word in options.only)


def bench(database: str, options: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="packager-bench-resolve-"))
    postgres = PostgresServer.start() if database == "postgresql" else None
    servers: dict[str, GunicornServer] = {}
    try:
        database_url = postgres.url if postgres else f"sqlite:///{work / 'bench.sqlite3'}"
        token, key_link = build_database(database_url, work / "var", options.entries).split()
        # The share token each server's database holds (bare Django takes any).
        tokens = {"bare": token, "packager": token}
        environment = server_environment(database_url, work / "var")
        servers["bare"] = GunicornServer.start(
            "bench.bare_app:application", workers=options.workers, environment={"PYTHONPATH": str(ROOT)}, cwd=ROOT
        )
        servers["packager"] = GunicornServer.start(
            "config.wsgi", workers=options.workers, environment=environment, cwd=ROOT
        )
        if options.baseline is not None:
            code = options.baseline.resolve()
            if postgres is not None:
                baseline_url = postgres.url.rsplit("/", 1)[0] + "/bench_baseline"
                subprocess.run(
                    [str(postgres.bin_dir / "psql"), postgres.url, "-c", "CREATE DATABASE bench_baseline"],
                    check=True,
                    capture_output=True,
                )
            else:
                baseline_url = f"sqlite:///{work / 'baseline.sqlite3'}"
            tokens["baseline"] = build_database(baseline_url, work / "baseline-var", options.entries, code).split()[0]
            servers["baseline"] = GunicornServer.start(
                f"{settings_package(code)}.wsgi",
                workers=options.workers,
                environment=server_environment(baseline_url, work / "baseline-var", code),
                cwd=code,
            )
        try:
            first = "r/" + urllib.parse.quote("data/000/sample 000000.bin")
            second = "r/" + urllib.parse.quote("data/000/sample 000001.bin")
            digest = hashlib.sha256(b"0").hexdigest()  # the first file's, as fill() made it
            md5 = digest[:32]
            # Paths below /s/<token>/: r/<path>, then the content-addressed lookup and the
            # DVC remote, which git-annex and DVC use.
            cases = {
                ("GET", "S3"): first,
                ("GET", "Azure"): second,
                ("HEAD", "S3"): first,
                ("HEAD", "Azure"): second,
                ("GET", "sha256/<hex>"): f"sha256/{digest}",
                ("GET", "dvc/files/md5/…"): f"dvc/files/md5/{md5[:2]}/{md5[2:]}",
                ("HEAD", "dvc/files/md5/…"): f"dvc/files/md5/{md5[:2]}/{md5[2:]}",
            }
            cases = {case: path for case, path in cases.items() if wanted(" ".join(case), options)}
            patterns = {
                "GET, a random file each time": DISTINCT_FILES,
                "GET, each file in turn": FILES_IN_ORDER,
            }
            patterns = {name: script for name, script in patterns.items() if wanted(name, options)}
            runs: dict[tuple[str, str, str], list[float]] = {}
            # Warm up: each worker builds a source's storage client on its first request
            # (seconds on a loaded machine), so every worker must see every source first.
            for name, server in servers.items():
                for path in (first, second) if cases or patterns else ():
                    url = f"{server.url}/s/{tokens[name]}/{path}"
                    subprocess.run(
                        ["wrk", "-t", "2", "-c", "4", "-d", "8s", "--timeout", "60s", url],
                        capture_output=True,
                        check=True,
                    )
            for _ in range(options.rounds):
                for (method, store), path in cases.items():
                    for name, server in servers.items():
                        url = f"{server.url}/s/{tokens[name]}/{path}"
                        rate = wrk(
                            url,
                            method=method,
                            connections=options.connections,
                            seconds=options.seconds,
                            script_dir=work,
                        )
                        runs.setdefault((method, store, name), []).append(rate)
                for pattern, script_text in patterns.items():
                    for name, server in servers.items():
                        script = script_text.replace("{entries}", str(options.entries)).replace(
                            "{prefix}", f"/s/{tokens[name]}/r/"
                        )
                        rate = wrk(
                            f"{server.url}/",
                            method="GET",
                            connections=options.connections,
                            seconds=options.seconds,
                            script_dir=work,
                            script_text=script,
                        )
                        runs.setdefault((pattern, "", name), []).append(rate)
            print(
                f"\n{database}: gunicorn {options.workers} sync workers, wrk {options.connections} connections, "
                f"{options.rounds} interleaved rounds of {options.seconds}s (median req/s)"
            )
            baseline = "baseline" in servers
            if cases or patterns:
                print(
                    f"{'request':30} {'bare Django':>12} {'packager':>10} {'ratio':>7}"
                    + (f" {'baseline':>10} {'ratio':>7} {'vs baseline':>12}" if baseline else "")
                )
            for method, store in [*cases, *((pattern, "") for pattern in patterns)]:
                bare_rate = statistics.median(runs[(method, store, "bare")])
                ours = statistics.median(runs[(method, store, "packager")])
                label = f"{method} {store}".strip()
                line = f"{label:30} {bare_rate:12,.0f} {ours:10,.0f} {ours / bare_rate:6.0%}"
                if baseline:
                    theirs = statistics.median(runs[(method, store, "baseline")])
                    line += f" {theirs:10,.0f} {theirs / bare_rate:6.0%} {ours / theirs:11.0%}"
                print(line)
            if wanted("key link", options):
                key_links(servers["packager"], token, key_link, first, work, options)
            if wanted("direct", options):
                direct_lists(servers, tokens, options)
        finally:
            for server in servers.values():
                server.stop()
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def key_links(
    packager: GunicornServer, token: str, key_link: str, first: str, work: Path, options: argparse.Namespace
) -> None:
    """A password share's key link against the open share's link, same file, same server."""
    links = {"open share": f"/s/{token}/{first}", "key link": f"/s/{key_link}/{first}"}
    for path in links.values():  # each worker looks the share up once
        subprocess.run(
            ["wrk", "-t", "2", "-c", "4", "-d", "2s", f"{packager.url}{path}"], check=True, capture_output=True
        )
    keyed: dict[str, list[float]] = {}
    for _ in range(options.rounds):
        for name, path in links.items():
            rate = wrk(
                f"{packager.url}{path}",
                method="GET",
                connections=options.connections,
                seconds=options.seconds,
                script_dir=work,
            )
            keyed.setdefault(name, []).append(rate)
    open_rate, key_rate = (statistics.median(keyed[name]) for name in links)
    print(
        f"{'GET S3, open share':30} {open_rate:12,.0f}\n{'GET S3, key link':30} {key_rate:12,.0f} "
        f"{key_rate / open_rate:17.0%} of the open share's (goal: at least 90%)"
    )


def direct_lists(servers: dict[str, GunicornServer], tokens: dict[str, str], options: argparse.Namespace) -> None:
    """direct.txt and direct.tsv of the whole version, to the last byte: the median of
    --direct-repeats downloads each, packager and the baseline in turn."""
    timed: dict[tuple[str, str], list[float]] = {}
    counts: dict[str, int] = {}
    names = [name for name in ("packager", "baseline") if name in servers]
    for _ in range(options.direct_repeats):
        for kind in ("txt", "tsv"):
            for name in names:
                seconds, count = time_direct_list(f"{servers[name].url}/s/{tokens[name]}/direct.{kind}")
                timed.setdefault((name, kind), []).append(seconds)
                counts[name] = count if kind == "txt" else counts.get(name, 0)
    for name in names:
        txt, tsv = (statistics.median(timed[(name, kind)]) for kind in ("txt", "tsv"))
        print(
            f"{name}: direct.txt of {options.entries:,} entries ({counts[name]:,} URLs): {txt:.2f} s to the last byte; "
            f"direct.tsv: {tsv:.2f} s (goal: 100,000 in at most 2 s; median of {options.direct_repeats})"
        )
    if "baseline" in servers:
        for kind in ("txt", "tsv"):
            ours, theirs = (statistics.median(timed[(name, kind)]) for name in ("packager", "baseline"))
            print(f"direct.{kind}: packager takes {ours / theirs:.2f}× the baseline's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--direct-repeats", type=int, default=1, help="downloads of each direct list (median)")
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR", help="another checkout of packager, measured in the same run"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="WORD", help="only the cases whose label holds WORD (repeatable)"
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench-resolve does).")
    for database in ("sqlite", "postgresql") if options.database == "both" else (options.database,):
        bench(database, options)


if __name__ == "__main__":
    main()
