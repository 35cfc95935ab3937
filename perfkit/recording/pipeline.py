"""The process-wide recording pipeline: buffer in memory, flush off the request path.

``record()`` is all the request path does: it adds to an in-memory
aggregate under a lock. A daemon thread, started lazily in each process (and
again after a fork), hands the buffer to the recorder every
``RECORDER_FLUSH_INTERVAL`` seconds; process exit and Celery's
``worker_process_shutdown`` flush what is left. A failed flush keeps the batch
for the next attempt and is counted in :mod:`perfkit.recording.errors`.

Every batch has an id. A write that failed without saying it wrote nothing
(a lost reply) is resent as it was, under the same id, before anything
newer, so an idempotent recorder applies it at most once; a batch split for
bad rows gives each part its own id. A flush with nothing to write calls
the recorder's ``idle_check`` instead (the Redis recorder looks whether Redis
lost what it wrote recently).

The thread never writes to an in-memory SQLite database (tests): its
shared-cache locking would fail the test's own writes. There, counts wait
until :func:`flush` is called on the calling thread.

An error in a flush never ends the thread; should it end anyway (a
``BaseException``), ``record()`` notices within ``THREAD_CHECK_SECONDS``
(one clock read per call) and starts a new one, counted in
``thread_restarts``.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string

from perfkit import observe
from perfkit.conf import perfkit_settings
from perfkit.recording import errors, split
from perfkit.recording.backends.base import Recorder
from perfkit.recording.buffer import Aggregate, BucketKey, Buffer, Part

RECORDERS = {
    "db": "perfkit.recording.backends.db.DatabaseRecorder",
    "redis": "perfkit.recording.backends.redis.RedisRecorder",
}

FlushHook = Callable[[], None]

# How often record() looks whether the flush thread is still alive.
THREAD_CHECK_SECONDS = 1.0


def default_recorder_path() -> str:
    """The recorder ``RECORDER="auto"`` picks from the cache configuration."""
    choice = perfkit_settings.RECORDER
    if choice != "auto":
        return RECORDERS.get(choice, choice)
    cache = settings.CACHES.get(perfkit_settings.RECORDER_CACHE_ALIAS, {})
    if str(cache.get("BACKEND", "")).startswith("django_redis."):
        return RECORDERS["redis"]
    return RECORDERS["db"]


class Pipeline:
    """Owns the buffer, the recorder and the flush thread of one process."""

    def __init__(self) -> None:
        self.buffer = Buffer()
        self._recorder: Recorder | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        # Separate from the flush lock: a flush's own errors are recorded (and
        # may start the thread) while that lock is held.
        self._thread_lock = threading.Lock()
        self._hooks: dict[str, FlushHook] = {}
        self.last_flush_at: float | None = None
        # Rows (recorder buckets, samples) the database refused for their data.
        self.bad_rows_dropped = 0
        self.thread_restarts = 0
        self._next_check = 0.0
        self._retry_at = 0.0  # after a failed start, when to try again
        self._checking = threading.local()
        self._target: object = None
        # While migrate runs, perfkit's own tables may not exist yet.
        self.paused = False
        # Under pytest (perfkit's plugin) nothing flushes from a thread.
        self.threads_disabled = False

    # The request path -------------------------------------------------------

    def record(
        self,
        kind: str,
        key: str,
        counters: Mapping[str, int],
        maxima: Mapping[str, int] | None = None,
        duration_us: float | None = None,
    ) -> None:
        """Add one event to the in-memory buffer (no I/O)."""
        if self.paused:
            return
        if not len(self.buffer):
            self._target = _database_name()
        self.buffer.add(kind, key, counters, maxima, duration_us)
        if self._thread is None or self._pid != os.getpid():
            if not self._retry_at or time.monotonic() >= self._retry_at:
                self._check_thread()
        elif time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + THREAD_CHECK_SECONDS
            if not self._thread.is_alive():
                self._check_thread()

    # Flushing ---------------------------------------------------------------

    def add_flush_hook(self, name: str, hook: FlushHook) -> None:
        """Run ``hook`` at every flush (e.g. metrics writing its samples)."""
        self._hooks[name] = hook

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            self._recorder = import_string(default_recorder_path())()
        return self._recorder

    def reset_recorder(self) -> None:
        """Forget the recorder instance; the next flush builds it from settings."""
        self._recorder = None

    def flush(self) -> bool:
        """Write everything buffered; returns False if the recorder failed.

        Its statements are perfkit's own: never observed, never invalidating.
        """
        with self._flush_lock, observe.quiet():
            parts = self.buffer.take_resends()
            batch = self.buffer.take()
            if (batch or parts) and self._target != _database_name():
                # Recorded against another database (a test database since torn
                # down): writing it here would put test traffic in real tables.
                self.buffer.dropped += len(batch) + sum(len(part.rows) for part in parts)
                batch, parts = {}, []
            if batch:
                parts.append(Part.new(batch))
            ok = self._write_parts(parts) if parts else self._idle_check()
            for name, hook in list(self._hooks.items()):
                try:
                    hook()
                except Exception as exc:
                    errors.report(f"flush hook {name}", exc)
                    ok = False
            if ok:
                self.last_flush_at = time.time()
            return ok

    def _idle_check(self) -> bool:
        """Let a recorder that wrote before look after its store; False if it failed."""
        recorder = self._recorder
        if recorder is None:
            return True
        try:
            recorder.idle_check()
        except Exception as exc:
            errors.report("recorder", exc)
            return False
        return True

    def _write_parts(self, parts: list[Part]) -> bool:
        """Write parts in order, stopping at the first failure; False if one failed.

        A part that may have been applied (its write failed without saying
        it wrote nothing) is kept with its id and resent first next time; an
        idempotent recorder then knows it. Rows never sent go back to the
        buffer, where newer counts merge into them.
        """
        for index, part in enumerate(parts):
            part.sent = True
            outcome: split.Outcome[tuple[BucketKey, Aggregate]] = split.Outcome()
            try:
                split.write_in_parts(part.rows, partial(self._write_rows, part), outcome)
            except BaseException:  # ends the flush thread; keep the rows for the next one
                self._keep(part, outcome, parts[index + 1 :])
                raise
            count_bad_rows(len(outcome.dropped), outcome.data_error)
            if outcome.error is not None:
                self._keep(part, outcome, parts[index + 1 :])
                errors.report("recorder", outcome.error)
                return False
        return True

    def _write_rows(
        self, part: Part, start: int, rows: Sequence[tuple[BucketKey, Aggregate]]
    ) -> None:
        recorder = self.recorder
        if recorder.idempotent:
            recorder.write(dict(rows), batch_id=part.piece_id(start, start + len(rows)))
        else:
            recorder.write(dict(rows))

    def _keep(self, part: Part, outcome: split.Outcome[Any], later: list[Part]) -> None:
        resend = [part.piece(*outcome.failed)] if outcome.failed is not None else []
        unsent = [part.rows[start:stop] for start, stop in outcome.untried]
        for other in later:
            if other.sent:
                resend.append(other)
            else:
                unsent.append(other.rows)
        self.buffer.keep_for_resend(resend)
        for rows in unsent:
            self.buffer.restore(dict(rows))

    def _check_thread(self) -> None:
        """Start the flush thread, or a new one if it died; never raises into ``record()``."""
        if getattr(self._checking, "active", False):
            return  # reporting a failure here records, which would check again
        self._checking.active = True
        try:
            self._start_thread()
            self._retry_at = 0.0
        except Exception as exc:
            self._retry_at = time.monotonic() + THREAD_CHECK_SECONDS
            errors.report("flush thread start", exc)
        finally:
            self._checking.active = False

    def _start_thread(self) -> None:
        if (
            self.threads_disabled
            or perfkit_settings.RECORDER_FLUSH_INTERVAL <= 0
            or _uses_memory_sqlite()
        ):
            return
        with self._thread_lock:
            thread = self._thread
            if thread is not None and self._pid == os.getpid():
                if thread.is_alive():
                    return
                self.thread_restarts += 1
            self._pid = os.getpid()
            self._recorder = None  # connections of a parent process are not ours
            self._thread = threading.Thread(target=self._run, name="perfkit-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while self._run_once():
                pass
        except BaseException as exc:
            # Ends the thread (SystemExit and the like); record() starts a new one.
            errors.report("flush thread", exc)

    def _run_once(self) -> bool:
        """Wait an interval and flush; False when flushing was turned off."""
        try:
            interval = perfkit_settings.RECORDER_FLUSH_INTERVAL
            if interval > 0:
                self._wake.wait(interval)
                self._wake.clear()
            if perfkit_settings.RECORDER_FLUSH_INTERVAL <= 0 or self.threads_disabled:
                with self._thread_lock:
                    if self._thread is threading.current_thread():
                        self._thread = None
                return False
            self.flush()
        except Exception as exc:  # e.g. settings naming a missing database alias
            errors.report("flush thread", exc)
            self._wake.wait(perfkit_settings.RECORDER_FLUSH_INTERVAL or 1.0)
        self._close_connection()
        return True

    def stop_thread(self, timeout: float = 5.0) -> None:
        """Wake the flush thread so it sees a zero interval and ends (tests)."""
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout)

    def _close_connection(self) -> None:
        """The flush thread holds no connection between flushes."""
        try:
            connections[perfkit_settings.DATABASE_ALIAS].close()
        except Exception as exc:
            errors.report("recorder close", exc)

    def flush_at_exit(self) -> None:
        """Final flush at process exit (atexit, Celery worker shutdown)."""
        if len(self.buffer) or self._hooks:
            self.flush()


def _database_name() -> object:
    try:
        return connections[perfkit_settings.DATABASE_ALIAS].settings_dict.get("NAME")
    except Exception:  # a missing alias: the flush reports it, record() must not raise
        return None


def _uses_memory_sqlite() -> bool:
    connection = connections[perfkit_settings.DATABASE_ALIAS]
    return connection.vendor == "sqlite" and bool(connection.is_in_memory_db())  # type: ignore[attr-defined]


pipeline = Pipeline()


def record(
    kind: str,
    key: str,
    counters: Mapping[str, int],
    maxima: Mapping[str, int] | None = None,
    duration_us: float | None = None,
) -> None:
    """Record one event of ``kind``/``key`` (the public entry point of core)."""
    pipeline.record(kind, key, counters, maxima, duration_us)


def flush() -> bool:
    """Flush this process's buffer on the calling thread."""
    return pipeline.flush()


def _flush_at_exit() -> None:
    try:
        pipeline.flush_at_exit()
    except Exception as exc:  # pragma: no cover - interpreter shutdown
        errors.report("exit flush", exc)


def install_exit_flush() -> None:
    """Flush at interpreter exit; idempotent (``ready()`` may run again)."""
    atexit.unregister(_flush_at_exit)
    atexit.register(_flush_at_exit)


def remove_exit_flush() -> None:
    """No flush at interpreter exit (a test run, whose databases are gone by then)."""
    atexit.unregister(_flush_at_exit)


ERROR_KIND = "perfkit_error"
TASK_KIND = "perfkit_task"


def count_error(source: str, count: int = 1) -> None:
    """Error sink: count perfkit's own failures in the shared rollups."""
    pipeline.record(ERROR_KIND, source, {"errors": count})


BAD_DATA_SOURCE = "rows dropped for bad data"


def count_bad_rows(count: int, exc: BaseException | None) -> None:
    """Count rows the database refused for their values and that were dropped."""
    if count:
        pipeline.bad_rows_dropped += count
        errors.report(BAD_DATA_SOURCE, exc or ValueError("refused rows"), count)


def count_task_run(name: str) -> None:
    """Note that a periodic job ran (the status page shows when each last did)."""
    pipeline.record(TASK_KIND, name, {"runs": 1})
