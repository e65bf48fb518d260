"""16 parallel requests for direct.txt of a large share, with the download limits off and on.

    SECRET_KEY=x python bench/download_limits.py [--entries 100000] [--parallel 16]

One share of ENTRIES data entries (a local-folder source: signing is an HMAC), served by
gunicorn (2 sync workers) with Redis as the cache, as in production. While PARALLEL clients
ask for direct.txt at once from one address, a probe asks for one file's resolve link (r/,
never limited) every 50 ms; the run prints how many lists were served and refused (429),
the wall time of the burst and the probe's worst wait: first with DOWNLOAD_LIMIT_PER_CLIENT
and DOWNLOAD_LIMIT_PER_SHARE at 0 (no limit: what main did), then with their defaults.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["LOCAL_SOURCE_ROOTS"] = tempfile.gettempdir()  # bench.export's source: signed local links


def request(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.perf_counter() - started


def burst(port: int, token: str, parallel: int) -> None:
    statuses: list[int] = []
    probe_waits: list[float] = []
    done = threading.Event()

    def ask() -> None:
        statuses.append(request(port, f"/s/{token}/direct.txt")[0])

    def probe() -> None:
        while not done.is_set():
            status, seconds = request(port, f"/s/{token}/r/data/f0000001.bin")
            assert status == 307, status
            probe_waits.append(seconds)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=ask) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    done.set()
    prober.join()
    served, refused = statuses.count(200), statuses.count(429)
    assert served + refused == parallel, statuses
    print(
        f"  {parallel} x direct.txt: {served} served, {refused} refused (429) in {wall:.2f} s; "
        f"resolve probe: worst wait {max(probe_waits):.2f} s over {len(probe_waits)} requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--parallel", type=int, default=16)
    args = parser.parse_args()

    from tests.servers import RedisServer

    redis = RedisServer.start()
    os.environ["REDIS_URL"] = redis.url
    import django

    django.setup()
    from django.core.management import call_command

    from bench.export import Gunicorn, make_share

    call_command("migrate", verbosity=0)
    token = make_share(args.entries)
    try:
        for label, limits in (("limits off (DOWNLOAD_LIMIT_PER_CLIENT=0, PER_SHARE=0)", "0"), ("default limits", "")):
            for name in ("DOWNLOAD_LIMIT_PER_CLIENT", "DOWNLOAD_LIMIT_PER_SHARE"):
                if limits:
                    os.environ[name] = limits
                else:
                    os.environ.pop(name, None)
            print(f"{label}:", flush=True)
            with Gunicorn() as server:
                request(server.port, f"/s/{token}/r/data/f0000001.bin")  # load the URL modules first
                request(server.port, f"/s/{token}/r/data/f0000002.bin")
                burst(server.port, token, args.parallel)
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
