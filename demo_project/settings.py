"""Settings of the perfkit demo shop, driven by environment variables.

DATABASE_URL       unset: an SQLite file in WAL mode under var/
REDIS_URL          unset: a file-based cache under var/ (shared by web and worker)
CELERY_BROKER_URL  unset: kombu's filesystem:// transport under var/
PERFKIT_RELEASE    the running release (demo_project/run.py sets one when unset)
PERFKIT_DEMO_WEBHOOK_URL  also send regression alerts to this webhook (JSON)
PERFKIT_DEMO_REGRESSIONS_INTERVAL  seconds between regression detections (60)
PERFKIT_DEMO_REGRESSIONS_MIN_REQUESTS  requests on each side before comparing (50)
PERFKIT_DEMO_REMIND_HOURS  hours before an unacknowledged regression is alerted again (24)
"""

from __future__ import annotations

import os
from pathlib import Path

from demo_project.env import cache_from_url, database_from_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PERFKIT_DEMO_VAR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",")

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
    "demo_project.shop",
]

MIDDLEWARE = [
    "perfkit.metrics.middleware.PerfMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"
ASGI_APPLICATION = "demo_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"), VAR_DIR / "demo.sqlite3")}
CACHES = {"default": cache_from_url(os.environ.get("REDIS_URL"), VAR_DIR / "cache")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Export files: outside MEDIA_ROOT, served only by perfkit's permission-checked view.
    "perfkit_exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "exports"), "base_url": None},
    },
}

# Celery: the demo project owns the Celery app (demo_project/celery.py).
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    for _sub in ("out", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or (f"file://{VAR_DIR / 'results'}")
(VAR_DIR / "results").mkdir(parents=True, exist_ok=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Regression alerts by email are printed by the worker (it sends them).
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "perfkit-demo@example.com"

_alerts: list[dict[str, str | list[str]]] = [{"type": "email", "to": ["oncall@example.com"]}]
if _webhook := os.environ.get("PERFKIT_DEMO_WEBHOOK_URL"):
    _alerts.append({"type": "webhook", "url": _webhook})

PERFKIT: dict[str, object] = {
    "METRICS_SERVER_TIMING": "on",
    "METRICS_SLOW_MS": 200,
    "EXPORTS_STORAGE": "perfkit_exports",
    # perfkit.cache (the catalogue pages): the cache every demo process shares.
    "CACHE_ALIAS": "default",
    "CACHE_DEFAULT_TIMEOUT": 300,
    # perfkit.regressions: the release comes from PERFKIT_RELEASE. Detection runs
    # every minute rather than every five, so a bad deploy (manage.py
    # demo_release demo-2 --slow) shows on the Regressions page within minutes.
    "REGRESSIONS_INTERVAL_SECONDS": float(
        os.environ.get("PERFKIT_DEMO_REGRESSIONS_INTERVAL", "60")
    ),
    "REGRESSIONS_MIN_REQUESTS": int(os.environ.get("PERFKIT_DEMO_REGRESSIONS_MIN_REQUESTS", "50")),
    "REGRESSIONS_REMIND_HOURS": float(os.environ.get("PERFKIT_DEMO_REMIND_HOURS", "24")),
    "REGRESSIONS_ALERTS": _alerts,
    "REGRESSIONS_BASE_URL": os.environ.get("PERFKIT_DEMO_BASE_URL", ""),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"perfkit": {"handlers": ["console"], "level": "INFO"}},
}
