"""Running one export job: stream rows to a local file, publish it, then succeed.

A job is claimed with a conditional update (pending -> running), so a
redelivered or duplicated task does nothing. While it runs, a heartbeat
thread stamps the job row; :func:`perfkit.exports.maintenance.reap_stale`
re-queues jobs whose heartbeat stopped. The job names its file and becomes
"succeeded" only after the storage's save returned: a killed worker never
leaves a succeeded job with a partial file.

Every read and write of the engine is short, so SQLite (one writer at a
time) never sees a read held open across a progress write: outside
PostgreSQL, rows are read in key-ordered chunks (:func:`read_chunks`), each
its own statement, and bookkeeping statements are retried while the database
is locked (:mod:`perfkit.exports.dbretry`). A transient error that outlasts
the retries gives the job back (pending, for the task's retry); it never
stays "running" with nobody running it.
"""

from __future__ import annotations

import itertools
import logging
import pickle
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
from perfkit.exports.dbretry import retry_locked
from perfkit.exports.models import ExportJob
from perfkit.exports.signing import UnverifiedQuery, verified_query
from perfkit.exports.sqlcells import formatted_values
from perfkit.exports.storage import delete_file, publish
from perfkit.exports.tempfiles import job_temp_dir
from perfkit.exports.writers import get_writer

Status = ExportJob.Status
KEY_ALIAS = "_perfkit_key"
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
                try:
                    retry_locked(self._beat)
                except TRANSIENT as exc:
                    # A missed beat is harmless; a dead thread would get the job reaped.
                    logger.warning("Export job %s: heartbeat not written: %s", self.job_id, exc)
                    connections[perfkit_settings.DATABASE_ALIAS].close()
        finally:
            connections[perfkit_settings.DATABASE_ALIAS].close()

    def _beat(self) -> int:
        return (
            _jobs()
            .filter(pk=self.job_id, status=Status.RUNNING)
            .update(heartbeat_at=timezone.now())
        )


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
    claimed = _move(
        job_id,
        Status.PENDING,
        status=Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        rows_done=0,
        attempts=F("attempts") + 1,
        error="",
    )
    if not claimed:
        return _status(job_id)
    try:
        job = retry_locked(lambda: _jobs().get(pk=job_id))
    except TRANSIENT as exc:
        _give_back(job_id, exc)
        raise
    try:
        with job_temp_dir(job_id) as folder, Heartbeat(job_id):
            local = folder / f"export.{job.format}"
            rows = _write(job, local)
            published = publish(local, job_id, job.download_name)
            size = local.stat().st_size
        succeeded = _move(
            job_id,
            Status.RUNNING,
            status=Status.SUCCEEDED,
            file=published,
            size=size,
            rows_done=rows,
            rows_total=rows,
            finished_at=timezone.now(),
        )
        if not succeeded:  # cancelled (or reaped) meanwhile: the file is nobody's
            delete_file(published)
    except Cancelled:
        pass
    except UnverifiedQuery as exc:
        logger.warning("Export job %s refused: %s", job_id, exc)
        _fail(job_id, str(exc))
    except TRANSIENT as exc:
        _give_back(job_id, exc)
        raise
    except Exception as exc:
        _fail(job_id, f"{type(exc).__name__}: {exc}")
    return _status(job_id)


def _move(job_id: Any, current: str, *, tries: int | None = None, **fields: Any) -> int:
    """Update the job's ``fields`` if it is still in status ``current``; rows changed."""
    query = lambda: _jobs().filter(pk=job_id, status=current).update(**fields)  # noqa: E731
    return retry_locked(query) if tries is None else retry_locked(query, tries=tries)


def _status(job_id: str) -> str:
    found = retry_locked(lambda: _jobs().filter(pk=job_id).values_list("status", flat=True).first())
    return str(found or "missing")


def _fresh_connection() -> None:
    """Drop a connection a database error may have left unusable (or mid-statement).

    Not inside an atomic block: that belongs to the caller (a test, a command).
    """
    connection = connections[perfkit_settings.DATABASE_ALIAS]
    if not connection.in_atomic_block:
        connection.close()


def _fail(job_id: str, error: str) -> None:
    _fresh_connection()
    _move(
        job_id,
        Status.RUNNING,
        tries=12,
        status=Status.FAILED,
        finished_at=timezone.now(),
        error=error[:2000],
    )


def _give_back(job_id: str, exc: Exception) -> None:
    """Back to pending after a transient error, so the task's retry can claim it again.

    If even that cannot be written, the job keeps "running" with no heartbeat
    and the reaper re-queues it: either way somebody moves it.
    """
    logger.warning("Export job %s: transient database error, retrying: %s", job_id, exc)
    _fresh_connection()
    try:
        _move(
            job_id,
            Status.RUNNING,
            tries=12,
            status=Status.PENDING,
            error=f"Will retry after a transient error: {type(exc).__name__}: {exc}"[:2000],
        )
    except TRANSIENT:
        logger.exception("Export job %s could not be given back; the reaper will", job_id)


def _write(job: ExportJob, local: Path) -> int:
    queryset = rebuild_queryset(job)
    columns = resolve_columns(queryset.model, list(job.fields))
    total = retry_locked(queryset.count)
    retry_locked(lambda: _jobs().filter(pk=job.pk).update(rows_total=total))

    def save_progress(done: int) -> None:
        saved = _move(job.pk, Status.RUNNING, rows_done=done, heartbeat_at=timezone.now())
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
    streams through :func:`read_chunks`, calling ``on_progress(rows_done)``
    every ``EXPORTS_PROGRESS_SECONDS`` (it may raise to stop the export).
    """
    if fmt == "csv" and can_copy(queryset, columns):
        return copy_csv(queryset, columns, local)
    values, columns = formatted_values(queryset, columns, fmt)
    writer = get_writer(fmt)(local, columns)
    done = 0
    last = time.monotonic()
    try:
        writer.write_header()
        for chunk in read_chunks(values):
            done += writer.write_rows(chunk)
            if on_progress is not None and (
                time.monotonic() - last >= perfkit_settings.EXPORTS_PROGRESS_SECONDS
            ):
                last = time.monotonic()
                on_progress(done)
    finally:
        writer.close()
    return done


def read_chunks(values: models.QuerySet[Any]) -> Iterator[list[Any]]:
    """The rows of the ``values_list()`` queryset ``values``, in its order, in chunks.

    PostgreSQL streams from one server-side cursor (``.iterator()``): its
    readers never block writers. Elsewhere each chunk is its own short
    statement, read in full, so no read stays open across the engine's
    writes: SQLite cannot upgrade a connection that holds a read to a writer
    while another one waits to commit, and refuses at once. Chunks follow
    the primary key (keyset pagination) when the ordering starts with it (or
    there is none); any other ordering pages by offset, with the primary key
    as a tie-breaker, each page its own statement.
    """
    size = perfkit_settings.EXPORTS_CHUNK_SIZE
    if connections[values.db].vendor == "postgresql":
        rows = values.iterator(chunk_size=size)
        while chunk := list(itertools.islice(rows, size)):
            yield chunk
        return
    descending = _pk_ordering(values)
    if descending is None:
        yield from _offset_chunks(values, size)
    else:
        yield from _keyset_chunks(values, size, descending)


def _pk_ordering(queryset: models.QuerySet[Any]) -> bool | None:
    """``False``/``True`` when rows can be paged by ascending/descending pk, else ``None``."""
    query = queryset.query
    if query.is_sliced or query.combinator or query.distinct_fields or query.group_by is not None:
        return None
    if query.extra_order_by:
        return None
    ordering = _ordering(queryset)
    if not ordering:
        return False  # no order asked for: the primary key's is as good as any
    first = ordering[0]
    if not isinstance(first, str):
        return None
    meta = queryset.model._meta
    if first.lstrip("-") in {"pk", meta.pk.name, meta.pk.attname}:
        return first.startswith("-")
    return None


def _ordering(queryset: models.QuerySet[Any]) -> list[Any]:
    query = queryset.query
    if query.order_by:
        return list(query.order_by)
    return list(queryset.model._meta.ordering) if query.default_ordering else []


def _keyset_chunks(
    values: models.QuerySet[Any], size: int, descending: bool
) -> Iterator[list[Any]]:
    # The key rides along as a last annotation (after the values_list() fields).
    ordered = values.annotate(**{KEY_ALIAS: F("pk")}).order_by("-pk" if descending else "pk")
    after = "pk__lt" if descending else "pk__gt"
    last: Any = None
    while True:
        page = ordered if last is None else ordered.filter(**{after: last})
        rows = retry_locked(lambda: list(page[:size]))  # noqa: B023
        if not rows:
            return
        last = rows[-1][-1]
        yield [row[:-1] for row in rows]
        if len(rows) < size:
            return


def _offset_chunks(values: models.QuerySet[Any], size: int) -> Iterator[list[Any]]:
    query = values.query
    ordered = values
    if not (query.is_sliced or query.combinator or query.group_by is not None):
        ordered = values.order_by(*_ordering(values), "pk")
    offset = 0
    while True:
        rows = retry_locked(lambda: list(ordered[offset : offset + size]))  # noqa: B023
        if rows:
            yield rows
        if len(rows) < size:
            return
        offset += size
