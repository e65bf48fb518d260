"""A load run through two web nodes while one of them is restarted, against the same run
without the restart.

`python bench/restart.py` builds a throwaway PostgreSQL database holding one published
version (--entries files) and an open share, starts two gunicorn nodes on it
(config/gunicorn.py, as deployed) and sends --requests GETs from --clients threads through
a round-robin balancer that moves on to the other node when one refuses or drops a
connection (what nginx's proxy_next_upstream does): resolve redirects and urls.txt. The
first run goes undisturbed; during the second, node b is SIGTERMed and started again once
a third of the requests are done. It prints, for each run, the requests, the failed ones
(an error on both nodes or a status other than expected; goal: 0) and req/s, and the ratio
of the two req/s.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.resolve import build_database, server_environment  # noqa: E402
from tests.nodes import Balancer, LoadResult, Node, load_run  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402


def report(name: str, result: LoadResult) -> None:
    print(f"{name:<22} {result.requests:>7} requests {result.failed:>4} failed {result.per_second:>9.1f} req/s")
    for failure in result.failures[:5]:
        print(f"    {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="packager-bench-restart-"))
    postgres = PostgresServer.start()
    nodes: list[Node] = []
    try:
        # The load comes from one address: the per-client download budget is not measured here.
        unlimited = {"DOWNLOAD_LIMIT_PER_CLIENT": "1000000000", "DOWNLOAD_LIMIT_PER_SHARE": "1000000000"}
        environment = {**server_environment(postgres.url, work), **unlimited}
        token = build_database(postgres.url, work, options.entries).split()[0]  # the open share
        nodes = [Node(f"node-{name}", work, environment, workers=options.workers).start() for name in "ab"]
        paths = [(f"/s/{token}/r/data/{index // 1000:03d}/sample%20{index:06d}.bin", 307) for index in range(0, 200, 2)]
        paths.append((f"/s/{token}/urls.txt", 200))

        def restart() -> None:
            nodes[1].stop()
            nodes[1].start()

        balancer = Balancer(nodes)
        load_run(balancer, paths, clients=options.clients, requests=options.requests // 10)  # warm both nodes
        steady = load_run(balancer, paths, clients=options.clients, requests=options.requests)
        restarted = load_run(balancer, paths, clients=options.clients, requests=options.requests, during=restart)
        print(f"two nodes, {options.workers} workers each, {options.clients} clients, PostgreSQL")
        report("without a restart", steady)
        report("node b restarted", restarted)
        print(f"req/s with the restart / without: {restarted.per_second / steady.per_second:.2f}")
    finally:
        for node in nodes:
            node.kill()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
