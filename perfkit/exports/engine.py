"""Running one export job: stream rows to a local file, publish it, then succeed.

A job is claimed with a conditional update (pending -> running), so a
redelivered or duplicated task does nothing. While it runs, a heartbeat
thread stamps the job row; :func:`perfkit.exports.maintenance.reap_stale`
re-queues jobs whose heartbeat stopped. The job names its file and becomes
"succeeded" only after the storage's save returned: a killed worker never
leaves a succeeded job with a partial file.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import InterfaceError, OperationalError, connections, models
from django.db.models import F
from django.utils import timezone

from perfkit.conf import perfkit_settings
from perfkit.exports.columns import Column, resolve_columns
from perfkit.exports.copy import can_copy, copy_csv
from perfkit.exports.models import ExportJob
from perfkit.exports.signing import UnverifiedQuery, verified_query
from perfkit.exports.sqlcells import formatted_values
from perfkit.exports.storage import delete_file, publish
from perfkit.exports.writers import get_writer

Status = ExportJob.Status
logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError)


class Cancelled(Exception):
    """The job was cancelled while it ran."""


def _jobs() -> models.QuerySet[ExportJob]:
    return ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)


class Heartbeat:
    """Stamps ``heartbeat_at`` on the job row from a thread, on its own connection."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="perfkit-export-heartbeat")
        self._thread.daemon = True

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(perfkit_settings.EXPORTS_HEARTBEAT_SECONDS):
                _jobs().filter(pk=self.job_id, status=Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connections[perfkit_settings.DATABASE_ALIAS].close()


def rebuild_queryset(job: ExportJob) -> models.QuerySet[Any]:
    """The job's queryset, from its model label and pickled query.

    The pickle is loaded only once its signature checks out: unpickling runs
    code, and the bytes come from a database row.
    """
    payload = verified_query(job)
    model = apps.get_model(job.model_label)
    queryset: models.QuerySet[Any] = model._default_manager.db_manager(job.database).all()
    queryset.query = pickle.loads(payload)
    return queryset


def run(job_id: str) -> str:
    """Run the job if it is pending; returns its final status."""
    now = timezone.now()
    claimed = (
        _jobs()
        .filter(pk=job_id, status=Status.PENDING)
        .update(
            status=Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            rows_done=0,
            attempts=F("attempts") + 1,
            error="",
        )
    )
    if not claimed:
        found = _jobs().filter(pk=job_id).values_list("status", flat=True).first()
        return found or "missing"
    job = _jobs().get(pk=job_id)
    handle, name = tempfile.mkstemp(prefix="perfkit-export-", suffix=f".{job.format}")
    local = Path(name)
    try:
        with Heartbeat(job_id):
            rows = _write(job, local)
            published = publish(local, job_id, job.download_name)
        succeeded = (
            _jobs()
            .filter(pk=job_id, status=Status.RUNNING)
            .update(
                status=Status.SUCCEEDED,
                file=published,
                size=local.stat().st_size,
                rows_done=rows,
                rows_total=rows,
                finished_at=timezone.now(),
            )
        )
        if not succeeded:  # cancelled (or reaped) meanwhile: the file is nobody's
            delete_file(published)
    except Cancelled:
        pass
    except UnverifiedQuery as exc:
        logger.warning("Export job %s refused: %s", job_id, exc)
        _jobs().filter(pk=job_id, status=Status.RUNNING).update(
            status=Status.FAILED, finished_at=timezone.now(), error=str(exc)
        )
    except TRANSIENT:
        # Back to pending so the task's retry (with backoff) can claim it again.
        _jobs().filter(pk=job_id, status=Status.RUNNING).update(status=Status.PENDING)
        raise
    except Exception as exc:
        _jobs().filter(pk=job_id, status=Status.RUNNING).update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
    finally:
        os.close(handle)
        local.unlink(missing_ok=True)
    return str(_jobs().filter(pk=job_id).values_list("status", flat=True).first())


def _write(job: ExportJob, local: Path) -> int:
    queryset = rebuild_queryset(job)
    columns = resolve_columns(queryset.model, list(job.fields))
    _jobs().filter(pk=job.pk).update(rows_total=queryset.count())

    def save_progress(done: int) -> None:
        saved = (
            _jobs()
            .filter(pk=job.pk, status=Status.RUNNING)
            .update(rows_done=done, heartbeat_at=timezone.now())
        )
        if not saved:
            raise Cancelled

    return write_export(queryset, columns, job.format, local, save_progress)


Progress = Callable[[int], None]


def write_export(
    queryset: models.QuerySet[Any],
    columns: list[Column],
    fmt: str,
    local: Path,
    on_progress: Progress | None = None,
) -> int:
    """Write ``queryset`` to ``local`` as ``fmt``; returns the rows written.

    A plain-column CSV on PostgreSQL goes through ``COPY``; everything else
    streams through ``.iterator()``, calling ``on_progress(rows_done)`` every
    ``EXPORTS_PROGRESS_SECONDS`` (it may raise to stop the export).
    """
    if fmt == "csv" and can_copy(queryset, columns):
        return copy_csv(queryset, columns, local)
    size = perfkit_settings.EXPORTS_CHUNK_SIZE
    values, columns = formatted_values(queryset, columns, fmt)
    writer = get_writer(fmt)(local, columns)
    rows = values.iterator(chunk_size=size)
    done = 0
    last = time.monotonic()
    try:
        writer.write_header()
        for chunk in _chunks(rows, size):
            done += writer.write_rows(chunk)
            if on_progress is not None and (
                time.monotonic() - last >= perfkit_settings.EXPORTS_PROGRESS_SECONDS
            ):
                last = time.monotonic()
                on_progress(done)
    finally:
        writer.close()
    return done


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk
