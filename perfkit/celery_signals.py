"""Celery worker lifecycle hooks of core (imported only when Celery is installed)."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown
from django.db import connections

from perfkit.recording.pipeline import pipeline


def _after_fork(**kwargs: Any) -> None:
    # A connection or psycopg pool inherited from the parent ends in PoolTimeout.
    for connection in connections.all(initialized_only=True):
        connection.close()
        close_pool = getattr(connection, "close_pool", None)  # PostgreSQL with OPTIONS["pool"]
        if close_pool is not None:
            close_pool()
    pipeline.reset_recorder()


def _before_exit(**kwargs: Any) -> None:
    # Prefork children end with os._exit: atexit never runs there.
    pipeline.flush_at_exit()


def connect() -> None:
    worker_process_init.connect(_after_fork, dispatch_uid="perfkit.worker_process_init")
    worker_process_shutdown.connect(_before_exit, dispatch_uid="perfkit.worker_process_shutdown")
