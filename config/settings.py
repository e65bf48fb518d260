"""Settings for packager, read from environment variables.

Every variable has a default that makes `make run` work with nothing set; production
sets at least SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and CELERY_BROKER_URL.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PACKAGER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)


def secret_key() -> str:
    """SECRET_KEY, or the contents of the file SECRET_KEY_FILE names (`make run` keeps one under var/).

    It signs sessions and local-file links and derives the key that encrypts stored
    credentials, so a key anybody can read in the repository is never used: without one,
    only DEBUG mode starts, with a throwaway key of its own.
    """
    key = os.environ.get("SECRET_KEY", "").strip()
    if not key and os.environ.get("SECRET_KEY_FILE"):
        key = Path(os.environ["SECRET_KEY_FILE"]).read_text().strip()
    if key:
        return key
    if DEBUG:
        # One random key per checkout, kept so that the web server and the worker share
        # it and sessions survive a restart.
        kept = VAR_DIR / "secret-key"
        if not kept.exists():
            kept.touch(mode=0o600)
            kept.write_text(secrets.token_urlsafe(50))
        return kept.read_text().strip()
    raise ImproperlyConfigured(
        "Set SECRET_KEY (a long random string, e.g. from `python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))'`) or SECRET_KEY_FILE (a file holding one). packager "
        "refuses to start without it unless DEBUG=1. Keep the same key across restarts: it signs "
        "sessions and links and, unless CREDENTIALS_KEYS is set, encrypts stored credentials."
    )


SECRET_KEY = secret_key()
# Old keys stay here while sessions, signed links and stored credentials move to the new key.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# packager's public origin ("https://data.example.org"), which every link handed out names
# (share links, urls.txt, pointer files, the git repositories). Never taken from a request
# header: needed when DEBUG is off and ALLOWED_HOSTS names more than one host besides the
# loopback names (web.checks refuses to start otherwise). With one allowed host it is
# that host, with https when SECURE_COOKIES is set.
PUBLIC_URL = os.environ.get("PUBLIC_URL", "").strip().rstrip("/")
# Where people read this installation's README (e.g. the repository's README.md page): pages
# link to its sections (share page: "Allowing browser downloads (CORS)"). Empty: they name the section.
DOCS_URL = os.environ.get("DOCS_URL", "").strip()
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Behind a reverse proxy (nginx, a load balancer) that sets X-Forwarded-Host, -Proto and
# -For: links in urls.txt and the ZIP use the public host and scheme, and password
# attempts are counted per client rather than for the proxy.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    USE_X_FORWARDED_HOST = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # its Swagger UI files, served locally
    "teams",
    "sources",
    "packager",
    "shares",
]

MIDDLEWARE = [
    # First: times and logs every request, gives it an id, and answers the health probes
    # and /metrics (before the host check: probes use the node's address as host).
    "config.middleware.RequestObservability",
    "django.middleware.security.SecurityMiddleware",
    # django-csp's, with the header of an ordinary response made once per process.
    "web.csp.ContentSecurityPolicyMiddleware",
    "web.error_pages.RefuseNulMiddleware",
    # Downloads from open shares are answered here, before sessions, CSRF and URL routing
    # (after the security headers and the CSP).
    "shares.middleware.ResolveFastLane",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "web.error_pages.DatabaseUnavailableMiddleware",
    "web.error_pages.ApplicationErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "teams.oidc.sign_in_options",
            ],
        },
    },
]

# Persistent connections are checked before reuse, so a restarted PostgreSQL costs one
# failed request at most, never a run of "connection already closed" errors.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # The web server and the Celery worker write to the same file: wait for locks
            # instead of failing with "database is locked".
            "timeout": 20,
            # A write transaction takes the lock when it begins: one that read first and
            # then tried to write could not wait for it (SQLite answers "locked" at once).
            "transaction_mode": "IMMEDIATE",
            # WAL: readers never wait for the writer (browsing while an index is written);
            # NORMAL syncs at checkpoints, which WAL keeps safe against corruption.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests keep their database in a file too, so a real worker process can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compiling: packager's queries are short (a page, a lookup) and JIT's estimate
    # counts per-row subqueries that never run past a page's LIMIT, so it compiled for
    # 160 ms a catalog search that runs in 40 (bench/catalog.py).
    database_options = DATABASES["default"].setdefault("OPTIONS", {})
    database_options["options"] = f"{database_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_FALLBACK_SECONDS = float(os.environ.get("CACHE_FALLBACK_SECONDS", "5"))
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Redis down: each process serves from its own memory meanwhile (web.cache), trying
    # Redis again after CACHE_FALLBACK_SECONDS; a hung Redis costs at most the timeouts.
    CACHES = {
        "default": {
            "BACKEND": "web.cache.FallbackRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Every login form (the site's, the admin's) counts wrong passwords: LOGIN_ATTEMPTS.
AUTHENTICATION_BACKENDS = ["packager.auth.RateLimitedModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "packages"
LOGOUT_REDIRECT_URL = "login"

# Sign-in with an OpenID Connect provider beside local accounts (teams/oidc.py): off unless
# OIDC_RP_CLIENT_ID is set. The provider's endpoints are in its discovery document
# (<issuer>/.well-known/openid-configuration). The callback to register there is
# <site>/oidc/callback/.
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile")
# A provider whose ID tokens carry no key id ("kid"): false; the key is then chosen by algorithm.
OIDC_VERIFY_KID = env_bool("OIDC_VERIFY_KID", True)
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "your organisation")
# An account is matched by email only when the provider marks it verified (email_verified);
# OIDC_TRUST_EMAIL=1 for a provider that verifies every address but sends no such claim.
OIDC_TRUST_EMAIL = env_bool("OIDC_TRUST_EMAIL", False)
# Teams from a claim: OIDC_TEAM_CLAIM names it ("groups"), OIDC_TEAM_ROLES maps its values,
# "value=<team id>:<role>,…" (e.g. "lake-curators=0b6c…:curator").
OIDC_TEAM_CLAIM = os.environ.get("OIDC_TEAM_CLAIM", "")
OIDC_TEAM_ROLES = env_list("OIDC_TEAM_ROLES")
LOGIN_REDIRECT_URL_FAILURE = "/login/"
if OIDC_RP_CLIENT_ID:
    AUTHENTICATION_BACKENDS.append("teams.oidc.OIDCBackend")

# Team invitations go by email: printed on the console unless an SMTP server is configured
# (EMAIL_HOST etc., Django's own settings); the tests read Django's outbox.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "packager@localhost")
INVITATION_MAX_AGE = dt.timedelta(days=int(os.environ.get("INVITATION_MAX_AGE_DAYS", "14")))

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
# MEDIA_ROOT is a folder every web node and worker mounts (NFS, a shared volume): local text
# storage is then accepted with a database server (see packager.checks).
MEDIA_ROOT_SHARED = env_bool("MEDIA_ROOT_SHARED", False)

# Text files of packages (README.md, notebooks) go through Django's storage API.
# TEXT_STORAGE=s3 or azure moves them to a bucket with django-storages, configured by
# its own AWS_STORAGE_* / AZURE_* variables.
TEXT_STORAGE = os.environ.get("TEXT_STORAGE", "local")
_TEXT_STORAGE_BACKENDS = {
    "local": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "s3": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("TEXT_STORAGE_BUCKET", ""),
            "endpoint_url": os.environ.get("TEXT_STORAGE_ENDPOINT_URL") or None,
            # Keys of the text bucket's own, rather than AWS_* in the environment, which
            # boto3 would also offer to any source connected without credentials.
            "access_key": os.environ.get("TEXT_STORAGE_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("TEXT_STORAGE_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("TEXT_STORAGE_PREFIX", "packager-text"),
            "default_acl": None,
            "file_overwrite": False,
        },
    },
    "azure": {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {
            "azure_container": os.environ.get("TEXT_STORAGE_BUCKET", ""),
            "connection_string": os.environ.get("TEXT_STORAGE_CONNECTION_STRING", ""),
            "location": os.environ.get("TEXT_STORAGE_PREFIX", "packager-text"),
            "overwrite_files": False,
        },
    },
}
STORAGES = {
    "default": _TEXT_STORAGE_BACKENDS[TEXT_STORAGE],
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Served over HTTPS (directly or behind a proxy that says so): cookies travel over HTTPS
# only, and browsers are told to use nothing else for SECURE_HSTS_SECONDS.
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# Django sends Strict-Transport-Security on HTTPS responses only.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600 if SECURE_COOKIES else 0)))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles from packager's own static
# files only, never inline, so that HTML slipping through a README cannot run. Images
# may also be data: URIs (notebook outputs) and come from the storage hosts that a page's
# package links to (added per page, see shares.views and packager.views).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Celery. The default broker keeps messages in files under var/, so `make run` needs no
# server; production points CELERY_BROKER_URL at Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast exchanges (remote control, events); Kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # A request that queues a job while the broker is down fails fast (one connection
    # attempt, not kombu's retries over seconds) and leaves the job to beat (web.jobs).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged once it has run, and a task whose worker process died (killed,
# out of memory) goes back on the queue: every task is idempotent, so a rerun finishes it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Where `celery beat` (started by `make run` with the worker) keeps its last run times.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Storage sources.
# Endpoints that resolve to loopback, private or link-local addresses are refused unless
# they match this comma-separated list of host names, IP addresses or CIDR networks.
SOURCE_ENDPOINT_ALLOWLIST = env_list("SOURCE_ENDPOINT_ALLOWLIST")
# Folders under which admins may add local-folder sources; never "anywhere". By default
# only the demo's data folder (empty: no local-folder sources at all).
LOCAL_SOURCE_ROOTS = env_list("LOCAL_SOURCE_ROOTS", str(BASE_DIR / "demo" / "data"))
SOURCE_CONNECT_TIMEOUT = float(os.environ.get("SOURCE_CONNECT_TIMEOUT", "5"))
SOURCE_READ_TIMEOUT = float(os.environ.get("SOURCE_READ_TIMEOUT", "20"))
DEFAULT_PRESIGN_TTL = int(os.environ.get("DEFAULT_PRESIGN_TTL", "900"))
# An index run that has written nothing for this long was killed; it may be claimed again.
INDEX_STALE_SECONDS = float(os.environ.get("INDEX_STALE_SECONDS", "600"))
# Index rows written per upsert; progress and cancellation are checked after each batch.
# Small enough that a batch holds SQLite's write lock briefly (a 1,000-row upsert into the
# search indexes took up to 2.4 s, 250 rows up to 0.4 s) while requests wait for it.
INDEX_BATCH_SIZE = int(os.environ.get("INDEX_BATCH_SIZE", "250"))
# Index rows of objects that vanished from the bucket are kept (marked) this long.
INDEX_VANISHED_RETENTION = dt.timedelta(days=float(os.environ.get("INDEX_VANISHED_RETENTION_DAYS", "30")))
# "Add all matches to a package": up to this many matches are added in the request; more
# are added by a worker (a job with progress). A running job whose heartbeat is older than
# ADD_MATCHES_STALE_SECONDS was killed and may be claimed again.
ADD_MATCHES_INLINE_LIMIT = int(os.environ.get("ADD_MATCHES_INLINE_LIMIT", "20000"))
ADD_MATCHES_STALE_SECONDS = float(os.environ.get("ADD_MATCHES_STALE_SECONDS", "120"))
# Keys that encrypt source credentials at rest. Empty: derived from SECRET_KEY (and
# SECRET_KEY_FALLBACKS for rotation). The first key encrypts; all of them decrypt.
CREDENTIALS_KEYS = env_list("CREDENTIALS_KEYS")

# Publishing versions: objects read at once when checksumming, and how many bytes may be
# read before the curator is asked to confirm (default 50 GiB).
CHECKSUM_CONCURRENCY = int(os.environ.get("CHECKSUM_CONCURRENCY", "4"))
CHECKSUM_CONFIRM_BYTES = int(os.environ.get("CHECKSUM_CONFIRM_BYTES", str(50 * 1024**3)))
# How often a publishing task records its progress; a task silent for five times this long
# is taken to have died, and beat hands its version to another worker.
PUBLISH_HEARTBEAT_SECONDS = float(os.environ.get("PUBLISH_HEARTBEAT_SECONDS", "2"))

# Shares.
# Wrong share passwords allowed per client (an IPv4 address or an IPv6 /64) per window,
# and per share across all clients per (longer) window.
SHARE_UNLOCK_ATTEMPTS = int(os.environ.get("SHARE_UNLOCK_ATTEMPTS", "5"))
SHARE_UNLOCK_WINDOW = int(os.environ.get("SHARE_UNLOCK_WINDOW", "300"))
# The access log of a share that expired or was revoked is deleted this long after.
SHARE_EVENT_RETENTION = dt.timedelta(days=float(os.environ.get("SHARE_EVENT_RETENTION_DAYS", "90")))
SHARE_UNLOCK_SHARE_ATTEMPTS = int(os.environ.get("SHARE_UNLOCK_SHARE_ATTEMPTS", "50"))
SHARE_UNLOCK_SHARE_WINDOW = int(os.environ.get("SHARE_UNLOCK_SHARE_WINDOW", "3600"))
# A client that gave a share's right password is trusted this long: others' guessing,
# which locks the share for everyone else, never locks it out (see shares.services.share_unlock).
SHARE_UNLOCK_TRUST_SECONDS = int(os.environ.get("SHARE_UNLOCK_TRUST_SECONDS", str(30 * 24 * 3600)))
# Expensive downloads of shares (ZIP, urls.txt, direct lists, manifest, datapackage.json,
# file pages with their previews), counted in the cache (Redis with REDIS_URL) in cost
# units per window of DOWNLOAD_LIMIT_WINDOW seconds: a whole-version download costs 1 unit
# plus 1 per DOWNLOAD_LIMIT_ENTRIES_PER_UNIT entries, a file page DOWNLOAD_LIMIT_PAGE_COST.
# Past a budget: 429 with Retry-After. Resolve links, content addresses and repository
# files are never limited; neither is the package's owner. 0 turns a budget off.
DOWNLOAD_LIMIT_WINDOW = int(os.environ.get("DOWNLOAD_LIMIT_WINDOW", "60"))
DOWNLOAD_LIMIT_PER_CLIENT = int(os.environ.get("DOWNLOAD_LIMIT_PER_CLIENT", "300"))
DOWNLOAD_LIMIT_PER_SHARE = int(os.environ.get("DOWNLOAD_LIMIT_PER_SHARE", "3000"))
DOWNLOAD_LIMIT_ENTRIES_PER_UNIT = int(os.environ.get("DOWNLOAD_LIMIT_ENTRIES_PER_UNIT", "1000"))
DOWNLOAD_LIMIT_PAGE_COST = int(os.environ.get("DOWNLOAD_LIMIT_PAGE_COST", "5"))
# Wrong passwords allowed per account, and per client, per window, at every login form.
LOGIN_ATTEMPTS = int(os.environ.get("LOGIN_ATTEMPTS", "10"))
LOGIN_WINDOW = int(os.environ.get("LOGIN_WINDOW", "900"))
# The access log is counted in memory by each web process and written in batches: after
# this many seconds or this many events, whichever comes first (see shares/access_log.py).
ACCESS_LOG_FLUSH_SECONDS = float(os.environ.get("ACCESS_LOG_FLUSH_SECONDS", "10"))
ACCESS_LOG_FLUSH_EVENTS = int(os.environ.get("ACCESS_LOG_FLUSH_EVENTS", "1000"))
# How long a web process reuses a resolve lookup (share state + entry); a revoked or
# expired share, or a newly published version, is seen within this time. 0: never reused.
# Renders and previews of untrusted bytes run in worker processes (web.isolation): this many
# per web process, each limited to this much address space, each job to this many seconds.
ISOLATION_WORKERS = int(os.environ.get("ISOLATION_WORKERS", "2"))
ISOLATION_MEMORY_BYTES = int(os.environ.get("ISOLATION_MEMORY_BYTES", str(1024**3)))
ISOLATION_SECONDS = float(os.environ.get("ISOLATION_SECONDS", "5"))
RESOLVE_CACHE_SECONDS = float(os.environ.get("RESOLVE_CACHE_SECONDS", "2"))
# Entries of published versions a web process keeps (they never change but for drift,
# which a verify stamps): about 1 KB each.
RESOLVE_CACHE_ENTRIES = int(os.environ.get("RESOLVE_CACHE_ENTRIES", "20000"))
# Background jobs (web.jobs): beat sweeps every kind this often and queues again the jobs
# whose worker went silent; a job claimed this many times without finishing is failed.
JOB_SWEEP_SECONDS = float(os.environ.get("JOB_SWEEP_SECONDS", "60"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "5"))
# A publication to a bucket whose worker has said nothing for this long is taken over.
PUBLICATION_STALE_SECONDS = float(os.environ.get("PUBLICATION_STALE_SECONDS", "600"))
# A share's git repository whose build has waited or run this long (lost task, killed
# worker) or failed this long ago is built again when next asked for.
SHARE_REPOSITORY_STALE_SECONDS = int(os.environ.get("SHARE_REPOSITORY_STALE_SECONDS", "600"))

# Logs go to standard error: `text` for people, `json` (one object per line, with the
# request id) for a log collector. Every request is logged by config.middleware.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # botocore logs request details at DEBUG, including signed headers.
        "botocore": {"level": "WARNING"},
        "azure": {"level": "WARNING"},
    },
}

# With JSON logs, Celery workers log through the handlers above instead of their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# Health and metrics (config.health, config.metrics): /healthz and /readyz answer anybody
# (probes come from the orchestrator, by the node's address); /metrics answers only the
# addresses or CIDR networks listed here, and 404 to anybody else.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_error}") from None
# Each check of /readyz (database, cache, broker, text storage) fails after this long.
READINESS_TIMEOUT_SECONDS = float(os.environ.get("READINESS_TIMEOUT_SECONDS", "2"))

# Periodic work, run by `celery beat` next to the worker.
INDEX_SCHEDULE_SECONDS = float(os.environ.get("INDEX_SCHEDULE_SECONDS", "60"))
# Published versions are re-verified against storage this often (drift: files changed or
# gone), so the owner and the share page know before a collaborator meets it.
DRIFT_VERIFY_HOURS = float(os.environ.get("DRIFT_VERIFY_HOURS", "24"))
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Every background job whose worker died, or whose task was lost, is queued again.
    "resume-stalled-jobs": {"task": "sources.tasks.resume_stalled_jobs", "schedule": JOB_SWEEP_SECONDS},
    # Sources due for a scheduled re-index are queued.
    "index-due-sources": {"task": "sources.tasks.index_due_sources", "schedule": INDEX_SCHEDULE_SECONDS},
    # Published versions whose last drift check is older than DRIFT_VERIFY_HOURS are verified.
    "verify-due-versions": {"task": "packager.tasks.verify_due_versions", "schedule": 3600.0},
    # Expired and revoked shares' access logs are deleted after SHARE_EVENT_RETENTION.
    "purge-share-events": {"task": "shares.tasks.purge_share_events", "schedule": 24 * 3600.0},
}

# Citation: the publisher named in every version's citation files, and, when DATACITE_URL
# is set, the DataCite REST API (https://api.datacite.org, or https://api.test.datacite.org)
# where a version's DOI is registered under DATACITE_PREFIX with the repository's
# DATACITE_USERNAME / DATACITE_PASSWORD (HTTP Basic auth).
SITE_NAME = os.environ.get("SITE_NAME", "packager")
DATACITE_URL = os.environ.get("DATACITE_URL", "").rstrip("/")
DATACITE_PREFIX = os.environ.get("DATACITE_PREFIX", "")
DATACITE_USERNAME = os.environ.get("DATACITE_USERNAME", "")
DATACITE_PASSWORD = os.environ.get("DATACITE_PASSWORD", "")
DATACITE_TIMEOUT_SECONDS = float(os.environ.get("DATACITE_TIMEOUT_SECONDS", "20"))
# The first wait before a DOI task tries DataCite again (doubling up to an hour; packager.tasks).
DATACITE_RETRY_BACKOFF_SECONDS = int(os.environ.get("DATACITE_RETRY_BACKOFF_SECONDS", "30"))
# packager's public origin ("https://data.example.org"): a registered DOI points at a URL on it
# (the version's landing page, /catalog/<package>/<version>/), built where no request is at
# hand (the registration task). Required with DATACITE_URL (system check packager.E002).
SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")
# How many versions a page of the public catalog, and of an OAI-PMH list, holds.
CATALOG_PAGE_SIZE = int(os.environ.get("CATALOG_PAGE_SIZE", "50"))
OAI_PAGE_SIZE = int(os.environ.get("OAI_PAGE_SIZE", "100"))
# Identify's adminEmail (OAI-PMH requires one).
OAI_ADMIN_EMAIL = os.environ.get("OAI_ADMIN_EMAIL", "admin@localhost.localdomain")
