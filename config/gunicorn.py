"""gunicorn's settings for packager: `gunicorn config.wsgi -c config/gunicorn.py --bind HOST:PORT`.

Threaded workers (gthread): a long download (a ZIP of a big version to a slow client)
holds one thread, not a whole worker. On SIGTERM a worker stops accepting, finishes the
requests it has (up to graceful_timeout) and exits, writing its access-log counts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
# Requests are logged by the application (config.middleware), with their id, as JSON with
# LOG_FORMAT=json; gunicorn's own access log would log them twice.
accesslog = None
# gunicorn's control socket lives in the home folder by default, which a service account
# may not have or may not write to; nothing here uses it.
control_socket_disable = True
# Worker heartbeats in memory rather than on a container's (possibly slow) disk.
if Path("/dev/shm").is_dir():  # noqa: S108 (a folder of the kernel's, not a temporary file)
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# With LOG_FORMAT=json gunicorn's own lines (start, worker exits, timeouts) are JSON too.
if os.environ.get("LOG_FORMAT") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "config.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }

_multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server: Any) -> None:
    """Metrics of a previous run are not this run's: start from an empty folder."""
    if _multiprocess_dir:
        shutil.rmtree(_multiprocess_dir, ignore_errors=True)
        Path(_multiprocess_dir).mkdir(parents=True, exist_ok=True)


def post_worker_init(worker: Any) -> None:
    """Access-log counts are written after ACCESS_LOG_FLUSH_SECONDS even when no request
    comes (a timer thread per worker)."""
    from shares import access_log

    access_log.start_flush_timer()


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stopping (SIGTERM, a restart, max requests) writes the counts it holds."""
    from django.db import connection

    from shares import access_log

    try:
        access_log.access_log_flush()
    finally:
        connection.close()


def child_exit(server: Any, worker: Any) -> None:
    """Forget the live gauges (the access-log backlog) of a worker that exited."""
    if _multiprocess_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
