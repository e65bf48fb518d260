# packager: one image for the web app and the Celery worker.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PACKAGER_VAR_DIR=/data
WORKDIR /app
# git builds the shares' git-annex and DVC repositories (git fast-import).
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY packager packager
COPY sources sources
COPY shares shares
COPY web web
RUN pip install --no-cache-dir .
COPY . .
RUN SECRET_KEY=build python manage.py collectstatic --noinput --verbosity 0
RUN useradd --system --home /app packager && mkdir -p /data && chown packager /data
USER packager
EXPOSE 8000
# Threaded workers: a long download (a ZIP of a big version to a slow client) holds one
# thread, not a whole worker.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "8", "--timeout", "120"]
