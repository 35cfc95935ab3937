"""Turn the demo's environment variables into Django settings dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

SQLITE_SCHEMES = {"sqlite", "sqlite3"}
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def database_from_url(url: str | None, default_sqlite: Path) -> dict[str, Any]:
    """A ``DATABASES`` entry for ``url``; an SQLite file in WAL mode when unset."""
    if not url:
        return sqlite_database(default_sqlite)
    parts = urlsplit(url)
    if parts.scheme in SQLITE_SCHEMES:
        # sqlite:///relative.db or sqlite:////absolute/path.db
        return sqlite_database(Path(unquote(parts.path[1:]) or default_sqlite))
    if parts.scheme in POSTGRES_SCHEMES:
        options: dict[str, Any] = dict(parse_qsl(parts.query))
        # Django's psycopg pool; it requires CONN_MAX_AGE = 0.
        options["pool"] = {"min_size": 1, "max_size": 10, "timeout": 10}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 0,
            "OPTIONS": options,
        }
    raise ValueError(f"Unsupported DATABASE_URL scheme {parts.scheme!r} (use sqlite or postgres)")


def sqlite_database(path: Path) -> dict[str, Any]:
    """SQLite shared by the web server, the worker, beat and flush threads."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def cache_from_url(url: str | None, file_cache_dir: Path) -> dict[str, Any]:
    """django-redis when ``url`` is set, else a file cache every process shares."""
    if url:
        return {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(file_cache_dir),
    }
