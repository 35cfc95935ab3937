"""System checks of the ``PERFKIT`` settings dict (ids ``perfkit.*``)."""

from __future__ import annotations

import difflib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.urls import URLResolver, get_resolver
from django.utils.module_loading import import_string

from perfkit.conf import SPECS, perfkit_settings
from perfkit.recording.backends.base import Recorder
from perfkit.recording.pipeline import RECORDERS, default_recorder_path

# Message templates are module constants so their ids stay unique and greppable.
E001_NOT_A_DICT = "settings.PERFKIT must be a dict, not {type}."
W001_UNKNOWN_KEY = "Unknown key {key!r} in settings.PERFKIT; it is ignored."
E002_BAD_VALUE = "settings.PERFKIT[{key!r}] {problem} (got {value!r})."
E003_REDIS_RECORDER_CACHE = (
    "PERFKIT['RECORDER'] is {recorder!r} but RECORDER_CACHE_ALIAS {alias!r} {problem}: "
    "every flush fails and counters pile up in each process's memory, never reaching "
    "the database."
)
E003_HINT = (
    "Point RECORDER_CACHE_ALIAS at a django-redis cache "
    "(BACKEND 'django_redis.cache.RedisCache'), or set RECORDER to 'auto' or 'db' "
    "to record into the database."
)
E004_BAD_RECORDER = (
    "PERFKIT['RECORDER'] = {value!r} is not a Recorder class ({problem}): every flush "
    "fails and counters pile up in each process's memory."
)
E004_HINT = (
    "Use 'auto', 'db', 'redis' or the dotted path of a subclass of "
    "perfkit.recording.backends.base.Recorder."
)
W002_NO_RECORDER_CACHE = (
    "PERFKIT['RECORDER_CACHE_ALIAS'] names {alias!r}, which is not in CACHES; "
    "RECORDER 'auto' records into the database."
)
W003_LOCAL_RATE_LIMITS = (
    "django-ratelimit counts perfkit's rate limits ({features}) in cache {alias!r}, "
    "a {kind} cache, while DEBUG is off: each process counts only its own hits, so the "
    "limits multiply with the number of processes."
)
W004_SQLITE_DEFERRED = (
    "perfkit's flush thread writes to the SQLite database {alias!r} while its "
    "transactions begin DEFERRED: a request's transaction that reads and then writes "
    "fails with 'database is locked' whenever a flush holds the write lock, even "
    "with a single request at a time."
)
W004_HINT = (
    "Set DATABASES[{alias!r}]['OPTIONS'] to include 'transaction_mode': 'IMMEDIATE' "
    "and a 'timeout' (e.g. 20), ideally with 'init_command': 'PRAGMA journal_mode=WAL;' "
    "(see docs/deployment.md), or set RECORDER_FLUSH_INTERVAL to 0."
)

ALL_IDS = (
    "perfkit.E001",
    "perfkit.W001",
    "perfkit.E002",
    "perfkit.E003",
    "perfkit.E004",
    "perfkit.W002",
    "perfkit.W003",
    "perfkit.W004",
)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Validate ``settings.PERFKIT``: unknown keys warn, bad values are errors.

    Values that are each valid must also work together: see :func:`check_recorder`.
    """
    user = getattr(settings, "PERFKIT", None)
    if user is None:
        return []
    if not isinstance(user, dict):
        return [checks.Error(E001_NOT_A_DICT.format(type=type(user).__name__), id="perfkit.E001")]
    messages: list[checks.CheckMessage] = []
    invalid: set[str] = set()
    for key, value in user.items():
        spec = SPECS.get(key)
        if spec is None:
            close = difflib.get_close_matches(str(key), SPECS, n=1, cutoff=0.6)
            hint = f"Did you mean {close[0]!r}?" if close else "See perfkit's settings docs."
            messages.append(
                checks.Warning(W001_UNKNOWN_KEY.format(key=key), hint=hint, id="perfkit.W001")
            )
            continue
        problem = spec.problem(value)
        if problem:
            invalid.add(key)
            messages.append(
                checks.Error(
                    E002_BAD_VALUE.format(key=key, problem=problem, value=value),
                    hint=f"{key}: {spec.doc} Default: {spec.default!r}.",
                    id="perfkit.E002",
                )
            )
    if not invalid & {"RECORDER", "RECORDER_CACHE_ALIAS"}:
        messages += check_recorder()
    return messages


def check_recorder() -> list[checks.CheckMessage]:
    """The recorder the pipeline would build can be built.

    A recorder that fails to build fails every flush, and the pipeline keeps
    each failed batch for the next attempt: counts stay in the memory of each
    process and never reach the rollups, with one log line per interval.
    ``RECORDER="auto"`` only picks Redis for a django-redis cache, so it never
    fails this way (a local-memory alias simply means the database recorder).
    """
    choice = perfkit_settings.RECORDER
    alias = perfkit_settings.RECORDER_CACHE_ALIAS
    path = default_recorder_path()
    try:
        recorder_class = import_string(path)
    except ImportError as exc:
        return [_bad_recorder(choice, str(exc))]
    if not (isinstance(recorder_class, type) and issubclass(recorder_class, Recorder)):
        return [_bad_recorder(choice, f"{path} is not a subclass of Recorder")]
    config: dict[str, Any] | None = settings.CACHES.get(alias)
    if choice == "auto":
        if config is None:
            return [
                checks.Warning(
                    W002_NO_RECORDER_CACHE.format(alias=alias),
                    hint="Name a cache of CACHES, or remove the key.",
                    id="perfkit.W002",
                )
            ]
        return []
    if not issubclass(recorder_class, import_string(RECORDERS["redis"])):
        return []
    if config is None:
        problem = "is not in CACHES"
    else:
        backend = str(config.get("BACKEND", ""))
        if backend.startswith("django_redis."):
            return []
        problem = f"is {backend!r}, not a django-redis cache"
    return [
        checks.Error(
            E003_REDIS_RECORDER_CACHE.format(recorder=choice, alias=alias, problem=problem),
            hint=E003_HINT,
            id="perfkit.E003",
        )
    ]


def _bad_recorder(value: str, problem: str) -> checks.CheckMessage:
    return checks.Error(
        E004_BAD_RECORDER.format(value=value, problem=problem), hint=E004_HINT, id="perfkit.E004"
    )


_PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache": "local-memory",
    "django.core.cache.backends.dummy.DummyCache": "dummy",
}


def check_rate_limit_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The cache django-ratelimit counts in is shared by every process (DEBUG off).

    Only a project that routes ``health/`` or installs perfkit.exports has a
    perfkit rate limit; any other hears nothing.
    """
    if settings.DEBUG:
        return []
    features = rate_limited_features()
    if not features:
        return []
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    backend = str(settings.CACHES.get(alias, {}).get("BACKEND", ""))
    kind = _PER_PROCESS_CACHES.get(backend)
    if kind is None:
        return []
    return [
        checks.Warning(
            W003_LOCAL_RATE_LIMITS.format(features=", ".join(features), alias=alias, kind=kind),
            hint="Point RATELIMIT_USE_CACHE at a shared cache (Redis, Memcached, database).",
            id="perfkit.W003",
        )
    ]


def rate_limited_features() -> list[str]:
    """perfkit's rate-limited features this project has: ``health/``, ``exports``."""
    features = ["health/"] if routes_health_view() else []
    if apps.is_installed("perfkit.exports"):
        features.append("exports")
    return features


def routes_health_view() -> bool:
    """Whether the root URLconf reaches perfkit's health view (by include or on its own).

    A URLconf that fails to import is Django's own check to report: here it routes nothing.
    """
    from perfkit.operations.views import health_view

    try:
        pending: list[Any] = list(get_resolver().url_patterns)
        while pending:
            pattern = pending.pop()
            if isinstance(pattern, URLResolver):
                pending.extend(pattern.url_patterns)
            elif getattr(pattern, "callback", None) is health_view:
                return True
    except Exception:
        return False
    return False


def check_sqlite_flush_thread(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A flush thread writing to a SQLite file needs IMMEDIATE transactions beside it."""
    if perfkit_settings.RECORDER_FLUSH_INTERVAL <= 0 or default_recorder_path() != RECORDERS["db"]:
        return []
    alias = perfkit_settings.DATABASE_ALIAS
    database: dict[str, Any] = settings.DATABASES.get(alias, {})
    if not str(database.get("ENGINE", "")).endswith("sqlite3"):
        return []
    if "memory" in str(database.get("NAME", "")):  # no flush thread on an in-memory database
        return []
    options: dict[str, Any] = database.get("OPTIONS") or {}
    mode = str(options.get("transaction_mode") or "DEFERRED").upper()
    if mode != "DEFERRED":
        return []
    return [
        checks.Warning(
            W004_SQLITE_DEFERRED.format(alias=alias),
            hint=W004_HINT.format(alias=alias),
            id="perfkit.W004",
        )
    ]
