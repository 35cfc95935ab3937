"""Which Celery app perfkit's tasks are sent through, and whether it reaches a worker.

perfkit never creates a Celery app: it sends through ``celery.current_app``,
the project's app once the project imports it (the ``from .celery import app
as celery_app`` line of its package's ``__init__.py``). Without that import,
Celery makes up a fallback app on first use, named ``"default"``, with no
configuration: tasks go to ``amqp://localhost``, where no worker of the
project listens, and export jobs stay pending forever.
"""

from __future__ import annotations

from typing import Any

IMPORT_LINE = "from .celery import app as celery_app"
PROBLEM = (
    "perfkit sends its tasks through Celery's default app, which has no configuration "
    "(broker amqp://localhost): the project never imported its own Celery app, so export "
    "jobs reach no worker and stay pending."
)
HINT = (
    f"Add '{IMPORT_LINE}' to your project package's __init__.py, next to settings.py "
    "(see docs/getting-started.md)."
)


def _apps() -> tuple[Any, Any] | None:
    """(this thread's current app, the default app), or None without Celery; never creates one."""
    try:
        from celery import _state
    except ImportError:  # Celery is an optional extra
        return None
    state: Any = _state  # internal module, not in celery-types' stubs
    default = state.default_app
    return state._tls.current_app or default, default


def broker_url() -> str:
    """The broker URL of the app a task sent now would use ("" without an app or a broker).

    Covers a broker set on the project's app itself (``Celery("proj", broker=...)``)
    as well as ``CELERY_BROKER_URL`` in settings or the environment.
    """
    found = _apps()
    if found is None or found[0] is None:
        return ""
    return str(found[0].conf.broker_url or "")


def sends_through_default_app() -> bool:
    """True when a task sent now, or from a new thread, would use the unconfigured fallback.

    Reads Celery's state without touching ``current_app``, which would create the
    fallback app (and keep the project's app from becoming the default later).
    A request thread of a threaded server sees only the default app, so an app
    that is current in this thread alone counts as missing there.
    """
    found = _apps()
    if found is None:
        return False
    return any(app is None or _unconfigured_fallback(app) for app in found)


def _unconfigured_fallback(app: Any) -> bool:
    """Celery's own fallback app (``Celery("default", fixups=[])``) with no broker set."""
    if app.main != "default" or app.fixups:
        return False
    return not app.conf.broker_url  # a celeryconfig module or CELERY_BROKER_URL env sets it
