"""Core's public functions: flush, drain, prune. Tasks and commands call these."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from perfkit import observe
from perfkit.conf import perfkit_settings
from perfkit.models import DrainedBatch, DrainToken, Resolution, Rollup
from perfkit.recording.backends.redis import resend_ttl
from perfkit.recording.pipeline import count_task_run, pipeline

DRAIN_TOKEN_DAYS = 2


def flush() -> bool:
    """Write this process's buffered counters now; False if the recorder failed."""
    return pipeline.flush()


def drain(*, include_current: bool = False) -> int:
    """Move counts from the recorder's shared store (Redis) into the rollups.

    A no-op for the database recorder. ``include_current`` also drains the
    minute still being written (the next drain picks up what arrives later).
    """
    with observe.quiet():
        drained = pipeline.recorder.drain(include_current=include_current)
    count_task_run("drain")
    return drained


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete rollups past their resolution's retention; totals are kept forever.

    Also drain tokens older than two days and drained-batch rows older than
    twice the time a resent batch may wait in Redis.
    """
    now = now or datetime.now(tz=UTC)
    using = perfkit_settings.DATABASE_ALIAS
    limits = {
        Resolution.MINUTE: now - timedelta(hours=perfkit_settings.RETENTION_MINUTE_HOURS),
        Resolution.TEN_MINUTES: now - timedelta(hours=perfkit_settings.RETENTION_MINUTE_HOURS),
        Resolution.HOUR: now - timedelta(days=perfkit_settings.RETENTION_HOUR_DAYS),
        Resolution.DAY: now - timedelta(days=perfkit_settings.RETENTION_DAY_DAYS),
    }
    deleted: dict[str, int] = {}
    with observe.quiet():
        for resolution, before in limits.items():
            rollups = Rollup.objects.using(using)
            count, _ = rollups.filter(resolution=resolution, bucket__lt=before).delete()
            deleted[resolution.label] = count
        count, _ = (
            DrainToken.objects.using(using)
            .filter(drained_at__lt=now - timedelta(days=DRAIN_TOKEN_DAYS))
            .delete()
        )
    deleted["drain tokens"] = count
    # Kept while a resend of their batch may still wait in Redis (twice its TTL).
    with observe.quiet():
        count, _ = (
            DrainedBatch.objects.using(using)
            .filter(drained_at__lt=now - timedelta(seconds=2 * resend_ttl()))
            .delete()
        )
    deleted["drained batches"] = count
    count_task_run("prune")
    return deleted
