"""The child processes of ``fleet.py`` that are not the fleet itself.

:func:`prepare` migrates, seeds and forgets earlier runs; :func:`drainer`
runs ``perfkit_drain`` every few seconds until told to do the final drain
and read the totals back; :func:`loader` generates the HTTP load (threads,
``http.client``, keep-alive) in the slots the parent gives it. Each answers
the parent's calls over a pipe (:class:`benchmarks.harness.Child`).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.harness import answer_calls
from benchmarks.overhead_project import worker

# The load's request mix, cycled by every thread (a fifth of the requests enqueue a task).
MIX = ("/books/", "/ping/", "/enqueue/", "/books/", "/ping/")


def _serve(conn: Connection, commands: dict[str, Callable[..., Any]]) -> None:
    """Say ready, then answer the parent's calls until it sends ``stop``."""
    conn.send(("ready", None))
    answer_calls(conn, commands)


# Preparation --------------------------------------------------------------


def prepare(queues: str, conn: Connection) -> None:
    """Migrate, seed, empty perfkit's tables, the task table, the recorder's Redis and queues."""
    try:
        worker._setup_django("setup")
        from django.core.management import call_command

        from benchmarks.overhead_project.celery_app import app
        from benchmarks.overhead_project.models import TaskRun

        call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
        seeded = worker._seed()
        worker._truncate(("perfkit", "perfkit_metrics"))
        TaskRun.objects.all().delete()
        deleted = worker._clear_redis()
        purged = 0
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in queues.split(","):
                channel.queue_declare(queue=queue, durable=True, auto_delete=False)
                purged += channel.queue_purge(queue=queue) or 0
        conn.send(("ok", {"seeded": seeded, "redis_keys_deleted": deleted, "purged": purged}))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


# Drains -------------------------------------------------------------------


class Drainer:
    """``perfkit_drain`` every ``interval`` seconds on a thread; failures counted, never fatal."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.runs = 0
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="fleet-drain", daemon=True)
        self._thread.start()

    def _drain(self, include_current: bool = False) -> None:
        from django.core.management import call_command
        from django.db import connection

        with self._lock:
            try:
                call_command("perfkit_drain", include_current=include_current, stdout=_Null())
                self.runs += 1
            except Exception as exc:  # Redis down: the next drain picks it up
                self.failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
            finally:
                connection.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()

    def final(self) -> dict[str, Any]:
        """Stop the loop, drain everything (the current minute too), read the totals."""
        self._stop.set()
        self._thread.join()
        self._drain(include_current=True)
        self._drain(include_current=True)  # anything a concurrent writer added meanwhile
        return {"drains": self.runs, "drain_failures": dict(self.failures), **totals()}


class _Null:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def totals() -> dict[str, Any]:
    """The total rollup's count per endpoint, tasks counted outside perfkit, Redis left over."""
    from django.conf import settings

    from benchmarks.overhead_project.models import TaskRun
    from perfkit.models import Resolution, Rollup
    from perfkit.recording.pipeline import pipeline

    rows = Rollup.objects.filter(kind="endpoint", resolution=Resolution.TOTAL)
    client = pipeline.recorder.client  # type: ignore[attr-defined]
    left = [key.decode() for key in client.scan_iter(match=f"{settings.REDIS_PREFIX}:[mcpr]*")]
    return {
        "endpoints": {row.key: int(row.counters.get("count", 0)) for row in rows},
        "task_runs": task_runs(),
        "task_rows": TaskRun.objects.count(),
        "redis_left": left,
    }


def task_runs() -> dict[str, int]:
    """Rows the fleet's task wrote, per configuration."""
    from django.db.models import Count

    from benchmarks.overhead_project.models import TaskRun

    rows = TaskRun.objects.values_list("config").annotate(n=Count("id"))
    return {config: n for config, n in rows}


def drainer(interval: str, conn: Connection) -> None:
    """Drain every ``interval`` seconds; ``final`` drains the rest and returns the totals."""
    try:
        worker._setup_django("perfkit-redis")
        loop = Drainer(float(interval))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise

    def runs() -> dict[str, int]:
        from django.db import connection

        try:
            return task_runs()
        finally:
            connection.close()

    _serve(conn, {"final": loop.final, "task_runs": runs})


# Load ---------------------------------------------------------------------


class Tally:
    """What one thread saw: responses by path and status, requests without a response."""

    def __init__(self) -> None:
        self.responses: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()

    def add(self, other: Tally) -> None:
        self.responses.update(other.responses)
        self.statuses.update(other.statuses)
        self.failures.update(other.failures)


def _hammer(port: int, until: float, offset: int, tally: Tally) -> None:
    """Requests over one keep-alive connection (a new one after an error) until ``until``."""
    connection: http.client.HTTPConnection | None = None
    index = offset
    clock = time.monotonic
    try:
        while clock() < until:
            path = MIX[index % len(MIX)]
            index += 1
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                # Sent, maybe served, no response: reported, so totals can be judged.
                tally.failures[f"{path} {type(exc).__name__}"] += 1
                connection.close()
                connection = None
                continue
            tally.responses[path] += 1
            tally.statuses[response.status] += 1
            if response.will_close:
                connection.close()
                connection = None
    finally:
        if connection is not None:
            connection.close()


def run_slot(port: int, seconds: float, threads: int) -> dict[str, Any]:
    """Load ``port`` from ``threads`` threads for ``seconds``; connections closed at the end."""
    until = time.monotonic() + seconds
    tallies = [Tally() for _ in range(threads)]
    workers = [
        threading.Thread(target=_hammer, args=(port, until, i, tally))
        for i, tally in enumerate(tallies)
    ]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.monotonic() - started
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return {
        "elapsed": elapsed,
        "responses": dict(total.responses),
        "statuses": dict(total.statuses),
        "failures": dict(total.failures),
    }


def loader(conn: Connection) -> None:
    """Run load slots on the parent's calls."""
    _serve(conn, {"slot": run_slot})
