"""Settings of the overhead benchmark; ``PERFKIT_BENCH_CONFIG`` picks the configuration.

Every configuration shares the database (PostgreSQL, persistent connections),
the cache (django-redis), the template engine, logging and Django's default
middleware stack (what ``startproject`` generates). They differ only in the
tool under test: its app, its middleware and, for django-prometheus, its
instrumented database engine.
"""

from __future__ import annotations

import os

from benchmarks.overhead_project.common import (
    CONFIGS,
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_PREFIX,
    REDIS_URL,
)

CONFIG = os.environ.get("PERFKIT_BENCH_CONFIG", "setup")
# fleet.py runs the project against its own database, Redis and Celery queue.
DATABASE_NAME = os.environ.get("PERFKIT_BENCH_DATABASE", PG_DATABASE)
CACHE_URL = os.environ.get("PERFKIT_BENCH_REDIS_URL", REDIS_URL)

SECRET_KEY = "perfkit-benchmark-not-secret"
# DEBUG must stay off: with it on, every cursor is a CursorDebugWrapper that
# records every query into connection.queries, in every configuration.
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.overhead_project.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"

DJANGO_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
PERFKIT_MIDDLEWARE = "perfkit.metrics.middleware.PerfMiddleware"
SILK_MIDDLEWARE = "silk.middleware.SilkyMiddleware"
PROMETHEUS_BEFORE = "django_prometheus.middleware.PrometheusBeforeMiddleware"
PROMETHEUS_AFTER = "django_prometheus.middleware.PrometheusAfterMiddleware"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "benchmarks.overhead_project",
]
MIDDLEWARE = list(DJANGO_MIDDLEWARE)
ENGINE = "django.db.backends.postgresql"

PERFKIT_APPS = ["perfkit", "perfkit.metrics"]

if CONFIG in ("perfkit-redis", "perfkit-db"):
    INSTALLED_APPS += PERFKIT_APPS
    MIDDLEWARE = [PERFKIT_MIDDLEWARE, *DJANGO_MIDDLEWARE]  # first, as its docs ask
elif CONFIG == "silk":
    INSTALLED_APPS += ["silk"]
    # Silk's README: before any middleware that could answer early (none here),
    # and before GZipMiddleware. First is the same place perfkit gets.
    MIDDLEWARE = [SILK_MIDDLEWARE, *DJANGO_MIDDLEWARE]
elif CONFIG == "prometheus":
    INSTALLED_APPS += ["django_prometheus"]
    MIDDLEWARE = [PROMETHEUS_BEFORE, *DJANGO_MIDDLEWARE, PROMETHEUS_AFTER]
    # Its database instrumentation is a drop-in engine (counts and times every
    # cursor execute), so this configuration has it, like perfkit's SQL capture.
    ENGINE = "django_prometheus.db.backends.postgresql"
elif CONFIG == "setup":
    # Migrations and seeding: every app whose tables any configuration uses.
    INSTALLED_APPS += [*PERFKIT_APPS, "silk", "django_prometheus"]
elif CONFIG != "bare":
    raise ValueError(f"unknown PERFKIT_BENCH_CONFIG {CONFIG!r}; expected one of {CONFIGS}")

PERFKIT = {
    "RECORDER": "db" if CONFIG == "perfkit-db" else "redis",
    "RECORDER_FLUSH_INTERVAL": 1.0,
    "RECORDER_REDIS_PREFIX": REDIS_PREFIX,
}

# silk: defaults, which is what its users get (every request and ORM query is
# written to the database, each ORM query is EXPLAINed); the profiler stays off.
SILKY_PYTHON_PROFILER = False

DATABASES = {
    "default": {
        "ENGINE": ENGINE,
        "NAME": DATABASE_NAME,
        "USER": PG_USER,
        "PASSWORD": "",
        "HOST": PG_HOST,
        "PORT": str(PG_PORT),
        # Persistent connections, as any production deployment has: without
        # them every request would pay a PostgreSQL connection setup.
        "CONN_MAX_AGE": 600,
    }
}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": REDIS_PREFIX,
    }
}

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

# Warnings (perfkit logs one per request with an N+1 or over its query budget)
# are formatted and written, to /dev/null, and counted: their cost is part of
# what a tool costs, but a terminal must not be part of the measurement.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"sink": {"class": "benchmarks.overhead_project.logsink.CountingSink"}},
    "root": {"handlers": ["sink"], "level": "WARNING"},
}

# Celery (fleet.py): the task the fleet's workers run, on a queue of its own.
CELERY_BROKER_URL = os.environ.get("PERFKIT_BENCH_BROKER_URL", "amqp://guest@127.0.0.1:5672//")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("PERFKIT_BENCH_QUEUE", "perfkit-bench")
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
