# packager: `make run` serves the demo, `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
CLIENTS ?= .venv-clients
PYTHON := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test test-fast install install-test lock system-test-deps fast-test-deps lint typecheck pytest pytest-sqlite pytest-postgres bench bench-browse bench-index bench-publish bench-export bench-pages bench-catalog bench-sign bench-resolve bench-preview bench-notebook bench-repos bench-clients clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

# Dependencies come from the lock files (exact versions, every file's hash: `make lock`
# writes them from pyproject.toml); packager itself is installed on top, without deps. The lock
# files are complete, so they are installed as they are (--no-deps): cffconvert's own metadata
# still asks for jsonschema<4, which the lock overrides (pyproject's [tool.uv]) and its tests pass on.
#
# uv, the lock files' own tool, installs them: in parallel and from its cache, byte-compiled as
# pip does, in seconds where pip takes about a minute. uv itself comes from the lock (pip
# installs it, its hash checked); should uv fail, pip installs the same lock file.
UV := $(VENV)/bin/uv
locked_install = $(UV) pip install --quiet --compile-bytecode --python $(PYTHON) --require-hashes --no-deps -r $(1) \
	|| $(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(1)

$(UV): requirements/test.txt | $(VENV)/bin/python
	awk '/^uv==/ {found = 1} found {print} found && !/\\$$/ {exit}' requirements/test.txt > $(VENV)/uv-lock.txt
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(VENV)/uv-lock.txt
	touch $@

$(VENV)/.installed: requirements/runtime.txt pyproject.toml $(UV)
	$(call locked_install,requirements/runtime.txt)
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements/test.txt $(VENV)/.installed
	$(call locked_install,requirements/test.txt)
	touch $@

# Re-resolve the lock files from pyproject.toml: for Python 3.11 on every platform (the
# Docker image's and the developers'), keeping the locked versions that still fit.
# `make lock UPGRADE=1` moves everything to the newest versions allowed.
lock: $(VENV)/.installed-test
	$(VENV)/bin/uv pip compile pyproject.toml --quiet --generate-hashes --universal --python-version 3.11 \
	  $(if $(UPGRADE),--upgrade) -o requirements/runtime.txt
	$(VENV)/bin/uv pip compile pyproject.toml --quiet --extra test --generate-hashes --universal --python-version 3.11 \
	  $(if $(UPGRADE),--upgrade) -o requirements/test.txt

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test node_modules/.installed system-test-deps $(CLIENTS)/.installed

# The clients collaborators use, driven for real by the tests (tests/test_clients.py):
# git-annex (its PyPI package ships the binary), DataLad, DVC (with its S3 remote for
# bench-clients), pandas with pyarrow, DuckDB with its httpfs extension from PyPI (loaded
# offline; duckdb-ext-httpfs pins the duckdb it fits) and fsspec over aiohttp. They get a
# venv of their own so their many pins never constrain the app's dependencies.
CLIENT_PACKAGES := "git-annex>=10.20250605" "dvc[s3]>=3.50,<4" "datalad>=1.1" \
	"pandas>=2.2" "pyarrow>=15" "duckdb-ext-httpfs" "fsspec[http]>=2024.6" "aiohttp>=3.9"
$(CLIENTS)/.installed: Makefile | $(UV)
	python3 -m venv $(CLIENTS)
	$(UV) pip install --quiet --compile-bytecode --python $(CLIENTS)/bin/python $(CLIENT_PACKAGES) \
	  || ($(CLIENTS)/bin/pip install --quiet --upgrade pip && $(CLIENTS)/bin/pip install --quiet $(CLIENT_PACKAGES))
	touch $@

# Debian packages the tests drive for real: wget, curl, git, aria2c, rclone, unzip, jq, chromium,
# Redis and PostgreSQL.
system-test-deps:
	@missing=""; \
	command -v wget >/dev/null || missing="$$missing wget"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v rclone >/dev/null || missing="$$missing rclone"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v unzip >/dev/null || missing="$$missing unzip"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v aria2c >/dev/null || missing="$$missing aria2"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# `make run` keeps one random secret key per checkout under var/ (production sets SECRET_KEY).
var/secret-key:
	@mkdir -p var
	@umask 077 && python3 -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# Served as in production: gunicorn with threaded workers (config/gunicorn.py), static
# files by whitenoise, metrics shared by the workers through PROMETHEUS_MULTIPROC_DIR.
run: export SECRET_KEY_FILE ?= $(CURDIR)/var/secret-key
run: install var/secret-key
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py collectstatic --noinput --verbosity 0
	$(PYTHON) manage.py seed_demo
	@trap 'kill 0' EXIT; \
	$(VENV)/bin/celery --app config worker --pool solo --loglevel INFO & \
	$(VENV)/bin/celery --app config beat --loglevel INFO & \
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus \
	  $(VENV)/bin/gunicorn config.wsgi --config config/gunicorn.py --bind 127.0.0.1:$(PORT)

lint: $(VENV)/.installed-test
	$(call timed,lint,$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports)

# django-stubs loads the settings, which want a secret key; mypy signs nothing with it.
typecheck: $(VENV)/.installed-test
	$(call timed,typecheck,SECRET_KEY=$${SECRET_KEY:-mypy-only-not-a-secret} $(VENV)/bin/mypy)

# Tests run in parallel (pytest-xdist), each worker on a database of its own; work stealing
# keeps both cores busy to the end. Override with e.g. `make test-fast PYTEST_WORKERS=1`.
PYTEST_WORKERS ?= auto
PYTEST := $(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist worksteal
# Runs a phase, then prints its wall time; the phase's exit status is kept.
timed = @echo '$(2)'; SECONDS=0; $(2); status=$$?; echo "== $(1): $${SECONDS} s"; exit $$status

# Two passes. SQLite: every test but the system tests (load, fuzzing, real command-line
# clients, several processes, the browser). PostgreSQL, on servers the pass starts and stops
# itself (one per worker): the system tests, run once, and the tests marked postgres, whose
# code differs by database (search and index SQL, collation, upserts, locking, migrations).
pytest: pytest-sqlite pytest-postgres

pytest-sqlite: install-test
	$(call timed,pytest on SQLite,$(PYTEST) -m "not system")

# The system tests spend much of their time waiting on the processes they drive (servers,
# clients, workers, the browser), so twice as many workers as cores keep the cores busy.
PYTEST_SYSTEM_WORKERS ?= 4

pytest-postgres: install-test
	$(call timed,pytest on PostgreSQL,$(PYTHON) -m pytest -n $(PYTEST_SYSTEM_WORKERS) --dist worksteal -p tests.postgres_plugin -m "system or postgres")

# pytest exits non-zero (5) when no test ran, so an empty run fails here too. The installs are
# independent of each other (the app's venv, npm, the clients' venv, Debian packages) and mostly
# wait on disk and network, so they run side by side; the checks then run one after another.
test:
	$(call timed,install,$(MAKE) --no-print-directory --jobs=4 install-test)
	@$(MAKE) --no-print-directory lint typecheck pytest

# The inner loop: SQLite, in parallel, without the system and slow tests; it needs the
# Python and npm (Azurite) dependencies and unzip, none of the clients or servers.
test-fast: $(VENV)/.installed-test node_modules/.installed fast-test-deps
	$(call timed,fast tests on SQLite,$(PYTEST) -m "not system and not slow")

fast-test-deps:
	@command -v unzip >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null)

clean:
	rm -rf $(VENV) .venv-bench $(CLIENTS) node_modules var staticfiles test-output

# Benchmarks print figures. s3fs pins botocore through aiobotocore, so it gets its own venv.
.venv-bench/.installed: pyproject.toml
	python3 -m venv .venv-bench
	.venv-bench/bin/pip install --quiet --upgrade pip
	.venv-bench/bin/pip install --quiet -e ".[bench]" "moto[server]>=5.0"
	touch $@

bench: .venv-bench/.installed
	.venv-bench/bin/python bench/listing.py

bench-browse: install-test
	$(PYTHON) bench/browse.py

# Parquet previews: bytes read through packager's ranged reads against pyarrow over s3fs.
bench-preview: .venv-bench/.installed
	.venv-bench/bin/python bench/preview_parquet.py

# Notebook rendering: packager's renderer against nbconvert's HTML exporter on a 5 MB notebook.
bench-notebook: .venv-bench/.installed
	.venv-bench/bin/python bench/notebook.py

# The index task against a bare paged listing of the same moto bucket.
bench-index: install-test
	$(PYTHON) bench/index.py

bench-publish: install
	$(PYTHON) bench/publish.py

# Exports of 100k and 1M-entry versions through gunicorn, on SQLite then PostgreSQL.
bench-export: install-test
	$(PYTHON) bench/export.py

# Folder pages of a 1,000,000-entry package and version, on SQLite then on PostgreSQL.
bench-pages: install-test
	$(PYTHON) bench/pages.py
	$(PYTHON) bench/pages.py --postgres

# Catalog search (GET /api/v1/packages) over 10,000 packages and 1,000,000 entries, on PostgreSQL.
bench-catalog: install-test
	$(PYTHON) bench/catalog.py

# The git-annex and DVC repositories of a 100k-file version: build, size, clone, requests per file.
bench-repos: install-test
	$(PYTHON) bench/repos.py

bench-sign: install
	$(PYTHON) bench/sign.py

# wrk (Debian) loads the resolver; PostgreSQL comes with the test dependencies.
bench-resolve: install-test
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(PYTHON) bench/resolve.py

# wget, aria2c, git-annex and DVC fetching 10,000 files of 1 KB through a share, each against
# the same client reading straight from SeaweedFS (FILES=1000 for a quicker run).
bench-clients: install-test
	$(PYTHON) bench/clients.py $(if $(FILES),--files $(FILES))
