"""Health checks: databases, caches, the Celery app and broker, unapplied migrations.

Each check returns whether it passed and how long it took. Failure details
(messages that may hold hostnames) are shown to staff only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections

from perfkit import celery_state

BROKER_TIMEOUT = 2


@dataclass
class CheckResult:
    name: str
    ok: bool
    ms: float
    detail: str = ""


def _timed(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return CheckResult(name, False, _ms(started), f"{type(exc).__name__}: {exc}"[:300])
    return CheckResult(name, True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _database(alias: str) -> Callable[[], None]:
    def check() -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return check


def _cache(alias: str) -> Callable[[], None]:
    def check() -> None:
        cache = caches[alias]
        key = f"perfkit:health:{uuid.uuid4().hex}"
        cache.set(key, "1", timeout=10)
        value = cache.get(key)
        cache.delete(key)
        if value != "1":  # IGNORE_EXCEPTIONS turns a dead Redis into misses
            raise RuntimeError("the value written could not be read back")

    return check


def _broker() -> None:
    from celery import current_app

    with current_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)


def _migrations() -> None:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} unapplied migration(s)")


def _celery_installed() -> bool:
    try:
        import celery  # noqa: F401
    except ImportError:
        return False
    return True


def broker_configured() -> bool:
    """A broker is set in settings or on the Celery app tasks would be sent through."""
    if not _celery_installed():
        return False
    return bool(getattr(settings, "CELERY_BROKER_URL", None) or celery_state.broker_url())


def _celery_app() -> None:
    if celery_state.sends_through_default_app():
        raise RuntimeError(f"{celery_state.PROBLEM} {celery_state.HINT}")


def run_checks() -> list[CheckResult]:
    """Every check, in a stable order.

    With perfkit.exports installed, ``celery_app`` fails when tasks would go
    through Celery's unconfigured default app; the broker check is left out
    then, as it would test that app's amqp://localhost, not the project's broker.
    """
    results = [_timed(f"database:{alias}", _database(alias)) for alias in connections]
    results += [_timed(f"cache:{alias}", _cache(alias)) for alias in settings.CACHES]
    app_ok = True
    if apps.is_installed("perfkit.exports") and _celery_installed():
        app_result = _timed("celery_app", _celery_app)
        results.append(app_result)
        app_ok = app_result.ok
    if app_ok and broker_configured():
        results.append(_timed("celery_broker", _broker))
    results.append(_timed("migrations", _migrations))
    return results
