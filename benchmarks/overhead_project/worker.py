"""The child processes of ``middleware_overhead.py``.

:func:`serve` runs one configuration: it sets Django up with that
configuration's settings, builds a ``WSGIHandler`` and then answers the
parent's commands over a pipe (warm up, run a batch of requests, report
statistics, stop). Only one child serves at a time; the others wait on their
pipe. :func:`prepare` migrates, seeds and clears what earlier runs recorded.
"""

from __future__ import annotations

import io
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.harness import answer_calls

SETTINGS_MODULE = "benchmarks.overhead_project.settings"

# View name -> path; the parent refers to views by name.
PATHS = {"books": "/books/", "selects": "/selects/", "ping": "/ping/"}

AUTHORS = 20
BOOKS = 200
FEATURED = 10


def _setup_django(config: str) -> None:
    os.environ["PERFKIT_BENCH_CONFIG"] = config
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup(set_prefix=False)


# Preparation --------------------------------------------------------------


def prepare(conn: Connection) -> None:
    """Migrate, seed once, and forget what earlier runs recorded (run in a child)."""
    try:
        _setup_django("setup")
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
        seeded = _seed()
        _truncate(("perfkit", "perfkit_metrics", "silk"))
        deleted = _clear_redis()
        conn.send(("ok", {"seeded": seeded, "redis_keys_deleted": deleted}))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


def _seed() -> bool:
    from django.db import transaction

    from benchmarks.overhead_project.models import Author, Book

    if Author.objects.count() == AUTHORS and Book.objects.count() == BOOKS:
        return False
    with transaction.atomic():
        Book.objects.all().delete()
        Author.objects.all().delete()
        countries = ["France", "Japan", "Nigeria", "Chile", "Canada"]
        authors = Author.objects.bulk_create(
            Author(name=f"Author {i:02d}", country=countries[i % len(countries)])
            for i in range(AUTHORS)
        )
        start = date(2000, 1, 1)
        Book.objects.bulk_create(
            Book(
                title=f"the collected works, volume {i}",
                author=authors[(i * 7) % AUTHORS],
                isbn=f"978{i:010d}",
                price=Decimal(5 + (i * 37) % 60) + Decimal("0.99"),
                pages=90 + (i * 53) % 700,
                published=start + timedelta(days=(i * 97) % 8000),
                # Ten featured books by ten different authors: ten distinct queries.
                featured=i % (BOOKS // FEATURED) == 0,
            )
            for i in range(BOOKS)
        )
    return True


def _truncate(app_labels: Iterable[str]) -> None:
    from django.apps import apps
    from django.db import connection

    tables = [
        model._meta.db_table
        for label in app_labels
        for model in apps.get_app_config(label).get_models()
        if not model._meta.proxy
    ]
    quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


def _clear_redis() -> int:
    from django.conf import settings
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    keys = list(client.scan_iter(match=f"{settings.REDIS_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


# Serving ------------------------------------------------------------------


def environ_for(path: str) -> dict[str, Any]:
    """A WSGI environ of a plain browser GET (the body stream is added per request)."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "bench.example",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "bench.example",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) perfkit-benchmark",
        "HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8",
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.7",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


class FlushProbe:
    """Times perfkit's background flushes, from outside perfkit.

    The flush thread calls ``pipeline.flush()`` then
    ``pipeline._close_connection()`` through ``self``, so instance attributes
    wrapping both see every background flush (the wrappers add four clock
    reads per flush). Each flush is kept as ``(had_data, overlapped_batch,
    wall_ns, cpu_ns)``, ``cpu_ns`` being the flush thread's own CPU time.
    """

    def __init__(self) -> None:
        from perfkit.recording.pipeline import pipeline

        self.measuring = False
        self.flushes: list[tuple[bool, bool, int, int]] = []
        self._start: tuple[int, int, bool, bool] | None = None
        flush = pipeline.flush
        close = pipeline._close_connection

        def timed_flush() -> bool:
            if threading.current_thread().name != "perfkit-flush":
                return flush()
            had_data = len(pipeline.buffer) > 0
            clocks = (time.perf_counter_ns(), time.thread_time_ns())
            self._start = (*clocks, had_data, self.measuring)
            return flush()

        def timed_close() -> None:
            close()
            if self._start is None:
                return
            wall, cpu, had_data, measuring = self._start
            self._start = None
            self.flushes.append(
                (
                    had_data,
                    measuring or self.measuring,
                    time.perf_counter_ns() - wall,
                    time.thread_time_ns() - cpu,
                )
            )

        pipeline.flush = timed_flush  # type: ignore[method-assign]
        pipeline._close_connection = timed_close  # type: ignore[method-assign]


class Server:
    """One configuration's WSGI application and its bookkeeping."""

    def __init__(self, config: str) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.config = config
        self.handler = WSGIHandler()
        self.served: dict[str, int] = dict.fromkeys(PATHS, 0)
        self.probe = FlushProbe() if config.startswith("perfkit") else None
        self._status = ""

    def _start_response(self, status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
        self._status = status
        return None

    def run(self, view: str, count: int, measuring: bool, warm: int = 0) -> tuple[bytes, int, int]:
        """Serve ``warm`` untimed requests, then ``count`` timed ones.

        Returns the per-request wall-clock nanoseconds, the body size, and the
        CPU nanoseconds this thread used for the timed requests (one clock
        read per batch: a per-request CPU clock costs a system call per read).
        """
        base = environ_for(PATHS[view])
        clock = time.perf_counter_ns
        times = array("q", bytes(8 * count))
        size = 0
        if self.probe is not None:
            self.probe.measuring = measuring
        try:
            for _ in range(warm):
                self._serve(view, base.copy())
            cpu = time.thread_time_ns()
            for index in range(count):
                environ = base.copy()
                start = clock()
                size = self._serve(view, environ)
                times[index] = clock() - start
            cpu = time.thread_time_ns() - cpu
        finally:
            if self.probe is not None:
                self.probe.measuring = False
        self.served[view] += warm + count
        return times.tobytes(), size, cpu

    def _serve(self, view: str, environ: dict[str, Any]) -> int:
        """One request through the WSGI handler, consumed and closed like a server does."""
        environ["wsgi.input"] = io.BytesIO(b"")
        result = self.handler(environ, self._start_response)
        try:
            size = sum(len(chunk) for chunk in result)
        finally:
            result.close()  # request_finished: connection bookkeeping
        if not self._status.startswith("200"):
            raise RuntimeError(f"{self.config} {view}: HTTP {self._status}")
        return size

    def stats(self) -> dict[str, Any]:
        """What the tool recorded, to show that it really worked, and its own costs."""
        from benchmarks.overhead_project import logsink

        result: dict[str, Any] = {"served": dict(self.served), "logged": dict(logsink.counts)}
        if self.probe is not None:
            result["flushes"] = list(self.probe.flushes)
            result.update(_perfkit_stats(self.config))
        elif self.config == "silk":
            from silk.models import Request, SQLQuery

            result["silk_requests"] = Request.objects.count()
            result["silk_queries"] = SQLQuery.objects.count()
        elif self.config == "prometheus":
            from prometheus_client import REGISTRY

            name = "django_http_requests_before_middlewares_total"
            result["prometheus_requests"] = int(REGISTRY.get_sample_value(name) or 0)
            labels = {"alias": "default", "vendor": "postgresql"}
            executes = REGISTRY.get_sample_value("django_db_execute_total", labels)
            result["prometheus_executes"] = int(executes or 0)
        return result


def _perfkit_stats(config: str) -> dict[str, Any]:
    """Flush what is left, then read back what reached storage."""
    from django.conf import settings

    from perfkit.metrics.models import SlowRequest
    from perfkit.models import Resolution, Rollup
    from perfkit.recording import errors
    from perfkit.recording.backends.redis import SEP
    from perfkit.recording.pipeline import flush, pipeline

    result: dict[str, Any] = {"final_flush_ok": flush()}
    if config == "perfkit-db":
        rows = Rollup.objects.filter(kind="endpoint", resolution=Resolution.TOTAL)
        result["stored_requests"] = sum(int(row.counters.get("count", 0)) for row in rows)
    else:
        client = pipeline.recorder.client  # type: ignore[attr-defined]
        stored = 0
        for key in client.scan_iter(match=f"{settings.REDIS_PREFIX}:m:*"):
            if client.type(key) != b"hash":  # a minute's set of applied batch ids
                continue
            for field, value in client.hgetall(key).items():
                if field.decode().startswith(f"endpoint{SEP}") and field.endswith(b"c:count"):
                    stored += int(value)
        result["stored_requests"] = stored
    result["samples_in_db"] = SlowRequest.objects.count()
    result["errors"] = {name: (s.count, s.last_message) for name, s in errors.snapshot().items()}
    return result


def serve(config: str, conn: Connection) -> None:
    """Serve ``config`` on the parent's commands until told to stop."""
    try:
        _setup_django(config)
        from django.conf import settings

        if settings.CONFIG != config:
            raise RuntimeError(f"settings were loaded for {settings.CONFIG!r}, not {config!r}")
        server = Server(config)
        conn.send(("ready", {"pid": os.getpid(), "middleware": list(settings.MIDDLEWARE)}))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    commands: dict[str, Callable[..., Any]] = {
        "run": server.run,
        "stats": server.stats,
    }
    answer_calls(conn, commands)
