"""The worst inputs found for each render and preview: wall seconds and peak memory.

    SECRET_KEY=x python bench/render_worst.py [--direct] [--cap SECONDS]

Each case runs in a fresh process. --direct calls the renderer or preview reader in that
process (what packager did before web.isolation); without it the case goes through
web.isolation as the web process does now. Prints the wall seconds, the peak RSS of the
process that stands for the web worker, and (isolated) the peak RSS of the worker process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CASES = [
    "readme_brackets",
    "description_brackets",
    "notebook_brackets",
    "markdown_preview",
    "csv_sniffer",
    "parquet_decoded",
    "json_deep",
]


def _input(case: str) -> tuple[str, bytes]:
    if case == "readme_brackets":
        return "markdown", b"[" * 16384
    if case == "description_brackets":
        return "markdown", b"[" * 6000
    if case == "notebook_brackets":
        cell = {"cell_type": "markdown", "metadata": {}, "source": "[" * 16384}
        return "notebook", json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}).encode()
    if case == "markdown_preview":
        return "preview:x.md", b"[" * 262144
    if case == "csv_sniffer":
        return "preview:x.csv", b"'," * 32768
    if case == "json_deep":
        return "preview:x.json", b"[" * 10000 + b"]" * 10000
    with open(PARQUET_INPUT, "rb") as handle:
        return "preview:x.parquet", handle.read()


PARQUET_INPUT = os.path.join(tempfile.gettempdir(), "packager-bench-decoded.parquet")


def _write_parquet_input() -> None:
    """A Parquet file of a few KB holding one value of 1 GB (written once, in its own process)."""
    if os.path.exists(PARQUET_INPUT):
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"blob": ["0" * (1024 * 1024 * 1024)]}), PARQUET_INPUT, compression="zstd")


class _Bytes(io.BytesIO):
    """In-memory bytes with the `size` previews read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)


def _run_case(case: str, direct: bool) -> None:
    import django

    django.setup()
    from packager import render
    from sources import previews
    from web.sanitize import markdown_to_html

    try:
        from web import isolation
    except ImportError:  # before web.isolation: only --direct runs
        isolation = None  # type: ignore[assignment]
    too_costly = isolation.TooCostly if isolation is not None else ()

    kind, data = _input(case)
    started = time.monotonic()
    outcome = ""
    try:
        if kind.startswith("preview:"):
            name = kind.partition(":")[2]
            preview = previews.Preview(kind=previews.preview_kind(name), name=name, size=len(data))
            if direct:
                file = _Bytes(data)
                previews._READERS[preview.kind](preview, file)
            else:
                preview = isolation.run(
                    previews._read_isolated,
                    preview,
                    seconds=previews.PREVIEW_SECONDS,
                    reader=lambda offset, length: data[offset : offset + length],
                    size=len(data),
                )
            outcome = preview.kind
        else:
            function = markdown_to_html if kind == "markdown" else render.notebook_to_html
            text = data.decode()
            outcome = f"{len(function(text) if direct else isolation.run(function, text))} chars of HTML"
    except too_costly as refused:  # type: ignore[misc]
        outcome = f"too costly ({refused.message})"
    except Exception as error:
        outcome = f"{type(error).__name__}"
    seconds = time.monotonic() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(json.dumps({"seconds": round(seconds, 2), "web_rss_mb": own, "worker_rss_mb": children, "outcome": outcome}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--cap", type=float, default=60)
    parser.add_argument("--case")
    parser.add_argument("--prepare", action="store_true")
    args = parser.parse_args()
    if args.prepare:
        _write_parquet_input()
        return
    if args.case:
        _run_case(args.case, args.direct)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    subprocess.run([sys.executable, __file__, "--prepare"], check=True)
    for case in CASES:
        command = [sys.executable, __file__, "--case", case, *(["--direct"] if args.direct else [])]
        started = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.cap)
            line = (done.stdout.strip().splitlines() or [done.stderr.strip()[-200:]])[-1]
        except subprocess.TimeoutExpired:
            line = f"killed after {time.monotonic() - started:.0f} s (still running)"
        print(f"{case:22} {line}", flush=True)


if __name__ == "__main__":
    main()
