"""Every setting of neurodrop, read from the environment in this one place.

The embedded defaults put everything under ``INSTANCE_DIR`` so that ``make run``
needs nothing but Python: a SQLite database, kombu's SQL broker, a storage folder
and an outbox of ``.eml`` files. Production sets the variables instead
(``docker-compose.yml``, ``docs/operations.md``); the same code runs on both.
"""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from .dbpool import engine_options

PROJECT_DIR = Path(__file__).resolve().parent.parent

GiB = 1024**3


def env_str(name, default=None):
    """The variable's value, or the default when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return value if value else default


def env_int(name, default):
    """An integer setting; a malformed value fails at start, not mid-request."""
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r}: expected a whole number") from exc


def env_bool(name, default):
    """A yes/no setting: 1/true/yes/on are yes, 0/false/no/off are no."""
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={value!r}: expected true or false")


def env_list(name):
    """A comma-separated setting as a list of its non-empty items."""
    return [item.strip() for item in (env_str(name) or "").split(",") if item.strip()]


#: Names a site on the local machine answers to whichever of them ``BASE_URL`` uses (``make run``).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def trusted_hosts(base_url, allowed):
    """The ``Host`` values requests may carry: ``BASE_URL``'s host, ``ALLOWED_HOSTS``, and loopback aliases.

    Any port is accepted (Flask compares names only). A site whose ``BASE_URL`` is on the loopback
    answers to both loopback names, so ``make run`` works from ``localhost`` and ``127.0.0.1``.
    """
    host = urlsplit(base_url).hostname or ""
    hosts = [host, *allowed]
    if host in LOOPBACK_HOSTS:
        hosts += LOOPBACK_HOSTS
    return list(dict.fromkeys(name.lower() for name in hosts if name))


def instance_dir():
    """The folder that holds every embedded default (database, broker, storage, outbox)."""
    return Path(env_str("INSTANCE_DIR", str(PROJECT_DIR / "instance"))).resolve()


def secret_key_for(folder):
    """A secret key generated once and kept in the instance folder, so sessions survive restarts."""
    path = Path(folder) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


class Config:
    """Settings from the environment; instantiate to read them (tests set the environment first)."""

    def __init__(self):
        folder = instance_dir()
        self.INSTANCE_DIR = str(folder)
        self.ENV_NAME = env_str("NEURODROP_ENV", "development")
        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
        port = env_int("PORT", 5000)
        self.PORT = port
        self.HOST = env_str("HOST", "127.0.0.1")
        self.BASE_URL = env_str("BASE_URL", f"http://localhost:{port}").rstrip("/")
        self.ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
        self.TRUSTED_HOSTS = trusted_hosts(self.BASE_URL, self.ALLOWED_HOSTS)

        self.SECRET_KEY = env_str("SECRET_KEY") or secret_key_for(folder)
        self.SQLALCHEMY_DATABASE_URI = env_str("DATABASE_URL", f"sqlite:///{folder / 'neurodrop.sqlite'}")
        # PostgreSQL's pooled connections are checked by their socket instead of a ping (webapp/dbpool.py)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI, {"pool_pre_ping": True})

        self.STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")
        self.STORAGE_DIR = env_str("STORAGE_DIR", str(folder / "storage"))
        self.S3_BUCKET = env_str("S3_BUCKET")
        self.S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
        self.S3_REGION = env_str("S3_REGION", "us-east-1")
        self.S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
        self.S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")

        self.MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 32 * GiB)
        self.USER_QUOTA_BYTES = env_int("USER_QUOTA_BYTES", 100 * GiB)
        self.MAX_PENDING_IMAGES_PER_USER = env_int("MAX_PENDING_IMAGES_PER_USER", 200)
        self.MAX_DECOMPRESSED_BYTES = env_int("MAX_DECOMPRESSED_BYTES", 64 * GiB)
        self.MAX_ARRAY_BYTES = env_int("MAX_ARRAY_BYTES", 2 * GiB)
        self.VIEWER_BUDGET_BYTES = env_int("VIEWER_BUDGET_BYTES", 64 * 1024 * 1024)
        # slices drawn on demand by the web tier (/images/<id>/slices.png): larger maps are refused,
        # and past this many pictures per image new ones are drawn but no longer kept
        self.SLICES_MAX_ARRAY_BYTES = env_int("SLICES_MAX_ARRAY_BYTES", 256 * 1024**2)
        self.SLICES_KEPT_PER_IMAGE = env_int("SLICES_KEPT_PER_IMAGE", 200)
        self.SLICES_CACHE_BYTES = env_int("SLICES_CACHE_BYTES", 128 * 1024**2)
        # The compare page reads both maps in the web process, so it takes smaller ones than the worker does.
        self.COMPARE_MAX_BYTES = env_int("COMPARE_MAX_BYTES", 512 * 1024 * 1024)
        self.TUS_EXPIRY_HOURS = env_int("TUS_EXPIRY_HOURS", 24)
        self.TUS_IDLE_SECONDS = env_int("TUS_IDLE_SECONDS", 60)
        self.STALE_STAGING_HOURS = env_int("STALE_STAGING_HOURS", 6)
        # archives (issue 20, decision 0022): members, inflated bytes and ratio one archive may hold
        self.ARCHIVE_MAX_MEMBERS = env_int("ARCHIVE_MAX_MEMBERS", 5000)
        self.ARCHIVE_MAX_INFLATED_BYTES = env_int("ARCHIVE_MAX_INFLATED_BYTES", 64 * GiB)
        self.ARCHIVE_MAX_RATIO = env_int("ARCHIVE_MAX_RATIO", 500)
        self.BATCH_WAIT_SECONDS = env_int("BATCH_WAIT_SECONDS", 3600)

        self.MAIL_SERVER = env_str("MAIL_SERVER")
        self.MAIL_PORT = env_int("MAIL_PORT", 25)
        self.MAIL_USERNAME = env_str("MAIL_USERNAME")
        self.MAIL_PASSWORD = env_str("MAIL_PASSWORD")
        self.MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
        self.MAIL_DEFAULT_SENDER = env_str("MAIL_DEFAULT_SENDER", "neurodrop <no-reply@neurodrop.local>")
        self.MAIL_OUTBOX_DIR = None if self.MAIL_SERVER else str(folder / "outbox")
        self.MAIL_SUPPRESS_SEND = self.MAIL_SERVER is None

        self.WTF_CSRF_TIME_LIMIT = None
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PERMANENT_SESSION_LIFETIME = timedelta(days=14)
        self.PREFERRED_URL_SCHEME = "https" if self.SESSION_COOKIE_SECURE else "http"

        self.SECURITY_PASSWORD_SALT = env_str("SECURITY_PASSWORD_SALT") or self.SECRET_KEY
        self.SECURITY_PASSWORD_HASH = "argon2"
        self.SECURITY_URL_PREFIX = "/accounts"
        self.SECURITY_REGISTERABLE = True
        self.SECURITY_CONFIRMABLE = True
        self.SECURITY_RECOVERABLE = True
        self.SECURITY_CHANGEABLE = True
        self.SECURITY_SEND_REGISTER_EMAIL = True
        self.SECURITY_EMAIL_SENDER = self.MAIL_DEFAULT_SENDER
        self.SECURITY_EMAIL_VALIDATOR_ARGS = {"check_deliverability": False}
        self.SECURITY_RETURN_GENERIC_RESPONSES = True
        self.SECURITY_POST_LOGIN_VIEW = "/"
        self.SECURITY_POST_LOGOUT_VIEW = "/"
        self.SECURITY_POST_CONFIRM_VIEW = "/accounts/login"
        self.SECURITY_TOKEN_AUTHENTICATION_HEADER = "X-Neurodrop-Session-Token"
        self.SECURITY_API_ENABLED_METHODS = ["session"]  # its login tokens are refused (webapp/callers.py)
        self.SECURITY_CSRF_IGNORE_UNAUTH_ENDPOINTS = False

        self.PROXY_COUNT = env_int("PROXY_COUNT", 0)
        self.METRICS_ALLOWED_ADDRESSES = env_str("METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1")
        self.METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0)
        self.METRICS_WORKER_HOST = env_str("METRICS_WORKER_HOST", "127.0.0.1")
        self.RATELIMIT_REPORTS = env_str("RATELIMIT_REPORTS", "5/minute;30/day")
        self.WORKER_PING_TIMEOUT = float(env_str("WORKER_PING_TIMEOUT", "1.0"))
        self.WORKER_HEARTBEAT_SECONDS = float(env_str("WORKER_HEARTBEAT_SECONDS", "30"))
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_KEY_PREFIX = env_str("RATELIMIT_KEY_PREFIX", "neurodrop")
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RATELIMIT_LOGIN = env_str("RATELIMIT_LOGIN", "10/minute;100/hour")
        self.RATELIMIT_REGISTER = env_str("RATELIMIT_REGISTER", "5/minute;50/hour")
        self.RATELIMIT_RESET = env_str("RATELIMIT_RESET", "5/minute;50/hour")
        self.RATELIMIT_TOKENS = env_str("RATELIMIT_TOKENS", "10/minute;100/hour")

        # Similar maps (webapp/similarity): the index files of this host, the first pass's pool, search by file.
        self.SIMILARITY_INDEX_DIR = env_str("SIMILARITY_INDEX_DIR", str(folder / "similarity-index"))
        self.SIMILAR_POOL = env_int("SIMILAR_POOL", 200)
        self.SIMILAR_MAX_POOL = env_int("SIMILAR_MAX_POOL", 16000)
        self.SIMILAR_SEARCH_MAX_BYTES = env_int("SIMILAR_SEARCH_MAX_BYTES", 200 * 1024 * 1024)
        self.SIMILAR_SEARCH_KEEP_MINUTES = env_int("SIMILAR_SEARCH_KEEP_MINUTES", 60)
        self.RATELIMIT_SIMILAR_SEARCH = env_str("RATELIMIT_SIMILAR_SEARCH", "10/minute;100/day")
        self.RATELIMIT_SLICES = env_str("RATELIMIT_SLICES", "60/minute;1000/hour")

        self.PAGE_CACHE_URL = env_str("PAGE_CACHE_URL", "")
        self.update_page_cache_settings(folder)

        self.CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{folder / 'broker.sqlite'}")
        self.PROCESSING_SOFT_TIME_LIMIT = env_int("PROCESSING_SOFT_TIME_LIMIT", 600)
        self.PROCESSING_TIME_LIMIT = env_int("PROCESSING_TIME_LIMIT", 660)
        self.PROCESSING_SECONDS_PER_GIB = env_int("PROCESSING_SECONDS_PER_GIB", 300)
        self.WORKER_MAX_MEMORY_KB = env_int("WORKER_MAX_MEMORY_KB", 8 * 1024 * 1024)
        self.WORKER_ADDRESS_SPACE_MB = env_int("WORKER_ADDRESS_SPACE_MB", 0)
        self.MAIL_MAX_RETRIES = env_int("MAIL_MAX_RETRIES", 50)
        self.STUCK_AFTER_SECONDS = env_int("STUCK_AFTER_SECONDS", 900)
        self.SWEEP_INTERVAL_SECONDS = env_int("SWEEP_INTERVAL_SECONDS", 60)
        self.MAX_PROCESSING_ATTEMPTS = env_int("MAX_PROCESSING_ATTEMPTS", 3)
        self.CELERY = self.celery_settings()

    def update_page_cache_settings(self, folder):
        """Where the visitors' page cache keeps its generation (``webapp/pagecache.py``), for Flask-Caching.

        ``PAGE_CACHE_URL``: ``redis://…`` when the site runs on several machines; unset, a folder in
        the instance folder (shared by the processes of one machine); ``memory://`` for one process
        (the tests); ``off`` for none. Each web process keeps up to ``PAGE_CACHE_PAGES`` pages for anonymous
        visitors and ``PAGE_CACHE_VIEWER_PAGES`` for the other callers (``webapp/viewercopies.py``).
        """
        url = self.PAGE_CACHE_URL
        self.CACHE_DEFAULT_TIMEOUT = env_int("PAGE_CACHE_SECONDS", 300)
        self.PAGE_CACHE_PAGES = env_int("PAGE_CACHE_PAGES", 200)
        self.PAGE_CACHE_VIEWER_PAGES = env_int("PAGE_CACHE_VIEWER_PAGES", 1000)
        self.CACHE_KEY_PREFIX = env_str("PAGE_CACHE_PREFIX", "neurodrop:")
        if not url:
            self.CACHE_TYPE = "FileSystemCache"
            self.CACHE_DIR = str(folder / "page-cache")
        elif url.startswith(("redis://", "rediss://", "unix://")):
            self.CACHE_TYPE = "RedisCache"
            self.CACHE_REDIS_URL = url
            # every visitor's page reads the generation: a Redis that hangs must not hang the site
            self.CACHE_OPTIONS = {"socket_timeout": 1, "socket_connect_timeout": 1}
        elif url == "memory://":
            self.CACHE_TYPE = "SimpleCache"
        elif url == "off":
            self.CACHE_TYPE = "NullCache"
            self.CACHE_NO_NULL_WARNING = True
        else:
            raise ValueError(f"PAGE_CACHE_URL={url!r}: expected redis://…, memory://, off, or nothing")

    def celery_settings(self):
        """Celery's own settings, derived from ours so that web and workers agree."""
        settings = {
            "broker_url": self.CELERY_BROKER_URL,
            "task_ignore_result": True,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_soft_time_limit": self.PROCESSING_SOFT_TIME_LIMIT,
            "task_time_limit": self.PROCESSING_TIME_LIMIT,
            "task_default_queue": "neurodrop",
            "broker_connection_retry_on_startup": True,
            "broker_transport_options": self.broker_transport_options(),
            "worker_max_memory_per_child": self.WORKER_MAX_MEMORY_KB,
            "beat_schedule": {
                "sweep-stuck-images": {
                    "task": "webapp.processing.upkeep.sweep_stuck_images",
                    "schedule": float(self.SWEEP_INTERVAL_SECONDS),
                },
                "expire-similarity-searches": {
                    "task": "webapp.processing.upkeep.expire_similarity_searches",
                    "schedule": 600.0,
                },
                "sweep-batches": {
                    "task": "webapp.processing.archives.sweep_batches",
                    "schedule": float(self.SWEEP_INTERVAL_SECONDS),
                },
                "expire-partial-uploads": {
                    "task": "webapp.processing.upkeep.expire_partial_uploads",
                    "schedule": 3600.0,
                },
            },
            "include": ["webapp.processing.tasks", "webapp.processing.emails", "webapp.processing.upkeep",
                        "webapp.processing.archives", "webapp.processing.batch_email"],
        }
        extra = env_str("CELERY_EXTRA_JSON")
        if extra:
            settings.update(json.loads(extra))
        return settings

    def broker_transport_options(self):
        """Redis redelivers an unacknowledged task after the longest run a file may earn (timelimits);
        kombu's SQL transport polls faster (sqlbroker)."""
        if self.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            from .processing.timelimits import longest_run_seconds

            return {"visibility_timeout": longest_run_seconds(vars(self)) + 60}
        if self.CELERY_BROKER_URL.startswith(("sqla+", "sqlalchemy+")):
            from . import sqlbroker

            sqlbroker.use()
            return {"polling_interval": sqlbroker.POLLING_INTERVAL}
        return {}

    def check_production(self):
        """Refuse to start a production site on silent laptop defaults."""
        if self.ENV_NAME != "production":
            return
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL") if not env_str(name)]
        if missing:
            raise RuntimeError(f"NEURODROP_ENV=production needs {', '.join(missing)} set in the environment")


class TestConfig(Config):
    """Settings for the test suite: tasks run eagerly unless a test starts a real worker."""

    __test__ = False

    def __init__(self):
        super().__init__()
        self.TESTING = True
        self.TRUSTED_HOSTS = [*self.TRUSTED_HOSTS, "localhost"]  # the Flask test client's Host
        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", False)
        self.PAGE_CACHE_URL = env_str("PAGE_CACHE_URL", "memory://")
        self.update_page_cache_settings(Path(self.INSTANCE_DIR))
        self.CACHE_KEY_PREFIX = f"test-{secrets.token_hex(6)}:"  # apps of one run may share a Redis
        self.CELERY = dict(self.CELERY, task_always_eager=env_bool("CELERY_EAGER", True), task_eager_propagates=True)
