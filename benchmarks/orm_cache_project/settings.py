"""Settings of the ORM cache benchmark; ``ORM_CACHE_BENCH_TOOL`` picks the setup.

Every setup shares the database (PostgreSQL, persistent connections), the
cache (django-redis on Redis database 8, pickle, no compression) and the
models. They differ only in the tool under test: its app and its own
settings. django-cachalot and django-cacheops patch the ORM for the whole
process once installed, so no process ever has two of them.
"""

from __future__ import annotations

import os

from benchmarks.orm_cache_project.common import (
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_URL,
    TIMEOUT,
    TOOLS,
)

TOOL = os.environ.get("ORM_CACHE_BENCH_TOOL", "setup")

SECRET_KEY = "perfkit-benchmark-not-secret"
# DEBUG must stay off: with it on, every cursor records its queries.
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "benchmarks.orm_cache_project",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": PG_DATABASE,
        "USER": PG_USER,
        "PASSWORD": "",
        "HOST": PG_HOST,
        "PORT": str(PG_PORT),
        # Persistent connections, as any production deployment has.
        "CONN_MAX_AGE": 600,
    }
}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # One prefix per setup: no tool can ever read another's entries.
        "KEY_PREFIX": f"orm-bench-{TOOL}",
        "TIMEOUT": TIMEOUT,
    }
}

if TOOL == "perfkit":
    INSTALLED_APPS += ["perfkit", "perfkit.cache"]
    # Metrics off and no flush thread: nothing but the cache runs. perfkit.cache
    # still counts hits and misses into the in-process buffer; that is part of
    # its cost. The buffer is written to the database at process exit.
    PERFKIT = {
        "METRICS_ENABLED": False,
        "RECORDER": "db",
        "RECORDER_FLUSH_INTERVAL": 0,
        "CACHE_ALIAS": "default",
        "CACHE_DEFAULT_TIMEOUT": TIMEOUT,
    }
elif TOOL == "cachalot":
    INSTALLED_APPS += ["cachalot"]
    # Defaults otherwise: every SELECT of every table is cached (what its users
    # get), in the "default" cache, until a write to one of its tables.
    CACHALOT_CACHE = "default"
    CACHALOT_TIMEOUT = TIMEOUT
elif TOOL == "cacheops":
    INSTALLED_APPS += ["cacheops"]
    # cacheops talks to Redis with its own client, not through Django's cache.
    CACHEOPS_REDIS = REDIS_URL
    # ops=() : nothing is cached implicitly; the benchmark opts in with
    # ``.cache()`` per queryset, the way perfkit's ``.cached()`` works. The
    # profile still installs cacheops' invalidation on the models.
    CACHEOPS = {"orm_cache_project.*": {"ops": (), "timeout": TIMEOUT}}
elif TOOL == "setup":
    # Migrations and seeding: every app whose tables any setup uses.
    INSTALLED_APPS += ["perfkit", "perfkit.cache"]
    PERFKIT = {"METRICS_ENABLED": False, "RECORDER": "db", "RECORDER_FLUSH_INTERVAL": 0}
elif TOOL != "bare":
    raise ValueError(f"ORM_CACHE_BENCH_TOOL={TOOL!r}: expected 'setup' or one of {TOOLS}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
