"""perfkit.cache's Celery tasks."""

from __future__ import annotations

from celery import shared_task

from perfkit.cache import warming


@shared_task(name="perfkit_cache.warm", ignore_result=True)
def warm() -> dict[str, bool]:
    """Run every registered cache warmer."""
    return {result.name: result.ok for result in warming.warm()}
