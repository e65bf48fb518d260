# packager: one image for the web app, the Celery worker and beat, and the migrations.
# Stage 1 installs the locked dependencies (every file checked against its hash) and
# collects the static files; stage 2 is the runtime, without compilers or pip's caches.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt
COPY . .
RUN pip install --no-deps -e . \
 && SECRET_KEY=collectstatic-only PACKAGER_VAR_DIR=/tmp/var python manage.py collectstatic --noinput --verbosity 0

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    PACKAGER_VAR_DIR=/data PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
# git builds the shares' git-annex and DVC repositories (git fast-import).
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 packager \
 && useradd --system --uid 10001 --gid packager --home-dir /data --shell /usr/sbin/nologin packager \
 && mkdir -p /data && chown packager:packager /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The process answers (no database, cache or broker involved: /readyz checks those).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
# Threaded workers (config/gunicorn.py): a long download holds one thread, not a worker.
CMD ["gunicorn", "config.wsgi", "--config", "config/gunicorn.py", "--bind", "0.0.0.0:8000"]
