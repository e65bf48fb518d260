#!/bin/sh
# Every packager container starts here: refuse to start with settings or keys that would
# break (manage.py check --deploy --database default: text storage only one machine sees,
# secret keys that cannot decrypt the stored credentials), then *exec* the command, so that
# it runs as PID 1 and receives SIGTERM itself (gunicorn and Celery then shut down cleanly).
set -eu
if [ "${PACKAGER_SKIP_START_CHECKS:-0}" != "1" ]; then
    python manage.py check --deploy --database default --fail-level ERROR
fi
exec "$@"
