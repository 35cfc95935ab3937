"""Settings of the export benchmark: PostgreSQL, perfkit's exports app, UTC.

django-import-export needs no app of its own for ``ModelResource.export()``,
so it is not installed; nothing else is.
"""

from __future__ import annotations

from benchmarks.export_project.common import PG_DATABASE, PG_HOST, PG_PORT, PG_USER

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
    "perfkit",
    "perfkit.exports",
    "benchmarks.export_project",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": PG_DATABASE,
        "USER": PG_USER,
        "PASSWORD": "",
        "HOST": PG_HOST,
        "PORT": str(PG_PORT),
    }
}

# perfkit's defaults otherwise (EXPORTS_CHUNK_SIZE 2000); no metrics, no flush thread.
PERFKIT = {"METRICS_ENABLED": False, "RECORDER": "db", "RECORDER_FLUSH_INTERVAL": 0}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
