"""Core's periodic Celery tasks, and the schedule a project merges into its own."""

from __future__ import annotations

from celery import shared_task

from perfkit import api


@shared_task(name="perfkit.drain", ignore_result=True)
def drain() -> int:
    """Drain the Redis recorder into the rollup tables (no-op for the database one)."""
    return api.drain()


@shared_task(name="perfkit.prune", ignore_result=True)
def prune() -> dict[str, int]:
    """Delete rollups past retention."""
    return api.prune()
