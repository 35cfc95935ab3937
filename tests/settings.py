"""Test settings: SQLite + local memory by default, PostgreSQL + Redis by env var.

PERFKIT_TEST_DATABASE_URL  e.g. postgres://postgres@127.0.0.1:5432/test
PERFKIT_TEST_REDIS_URL     e.g. redis://127.0.0.1:6379/15
PERFKIT_TEST_WORKER_DB     set by the worker fixture: the test database's name,
                           so a Celery worker process uses the same database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

DATABASE_URL = os.environ.get("PERFKIT_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PERFKIT_TEST_REDIS_URL", "")
WORKER_DB = os.environ.get("PERFKIT_TEST_WORKER_DB", "")
RUN_DIR = Path(os.environ.get("PERFKIT_TEST_RUN_DIR") or tempfile.mkdtemp(prefix="perfkit-tests-"))
os.environ["PERFKIT_TEST_RUN_DIR"] = str(RUN_DIR)  # worker processes share it

SECRET_KEY = "perfkit-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.testapp.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "perfkit",
    "perfkit.metrics",
    "perfkit.cache",
    "perfkit.exports",
    "perfkit.regressions",
    "perfkit.contrib.debug_toolbar",
    "debug_toolbar",
    "tests.testapp",
]

MIDDLEWARE = [
    "perfkit.metrics.middleware.PerfMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "static/"
MEDIA_ROOT = str(RUN_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "perfkit_exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(RUN_DIR / "exports")},
    },
}


def _database() -> dict[str, object]:
    if not DATABASE_URL:
        # A file, not :memory:, so worker processes can share the test database.
        name = WORKER_DB or str(RUN_DIR / "perfkit.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {"timeout": 20},
            "TEST": {"NAME": str(RUN_DIR / "test_perfkit.sqlite3")},
        }
    parts = urlsplit(DATABASE_URL)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": WORKER_DB or unquote(parts.path.lstrip("/")) or "test",
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        # Unique per run: concurrent runs on one server never drop each other's database.
        "TEST": {"NAME": "test_perfkit_" + RUN_DIR.name.rsplit("-", 1)[-1].lower()},
    }


DATABASES = {"default": _database()}
DATABASES["other"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"perfkit-tests-{RUN_DIR.name}",
        }
    }
    # The broker gets its own database: cache.clear() flushes the cache's one.
    _redis = urlsplit(REDIS_URL)
    _broker_db = (int(_redis.path.lstrip("/") or 0) + 1) % 16
    CELERY_BROKER_URL = _redis._replace(path=f"/{_broker_db}").geturl()
    CELERY_RESULT_BACKEND = CELERY_BROKER_URL
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _broker = RUN_DIR / "broker"
    for _sub in ("queue", "processed"):
        (_broker / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "data_folder_processed": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
    }
    CELERY_RESULT_BACKEND = f"file://{RUN_DIR / 'results'}"
    (RUN_DIR / "results").mkdir(exist_ok=True)

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = f"perfkit-tests-{RUN_DIR.name}"

PERFKIT = {
    "EXPORTS_STORAGE": "perfkit_exports",
    # Tests flush explicitly; a background thread would write between tests.
    "RECORDER_FLUSH_INTERVAL": float(os.environ.get("PERFKIT_TEST_FLUSH_INTERVAL", "0")),
    "RECORDER_REDIS_PREFIX": f"perfkit-tests-{RUN_DIR.name}",
    # The worker fixture saves progress often, in small chunks, so its exports
    # write to the database while tests write too.
    "EXPORTS_PROGRESS_SECONDS": float(os.environ.get("PERFKIT_TEST_EXPORTS_PROGRESS", "1.0")),
    "EXPORTS_CHUNK_SIZE": int(os.environ.get("PERFKIT_TEST_EXPORTS_CHUNK", "2000")),
}
