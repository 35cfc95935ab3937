"""Where perfkit's per-SQL-query time goes on ``/selects/`` (200 x ``SELECT 1``).

```sh
.venv/bin/python benchmarks/profile_queries.py              # both recorders, ~1 minute
.venv/bin/python benchmarks/profile_queries.py --config perfkit-db --rounds 40
```

Uses ``middleware_overhead.py``'s project, database and Redis (run that once
first: it creates, migrates and seeds ``perfkit_bench``). One child process
per recorder serves ``/selects/`` in-process through two ``WSGIHandler``
objects: one with ``PerfMiddleware`` and perfkit's execute wrapper on the
connection, one with Django's default middleware and the wrapper taken off
the connection (perfkit "not installed"). The same process, connection and
PostgreSQL backend serve both, in short alternating batches, so the
comparison is paired and free of the process-to-process spread that
dominates ``middleware_overhead.py``'s ``/selects/`` figures on a shared
machine.

It prints, per recorder:

- ``paired``: per query, the median over rounds of (perfkit batch median -
  bare batch median) / 200 for wall-clock time and for the serving thread's
  CPU time;
- ``isolated``: perfkit's execute wrapper and observer around a stub
  executor (no database), per statement, against the stub alone (CPU time,
  warm caches);
- ``layers``: the serving thread's CPU time per real statement (raw
  cursor, no request) with each layer of perfkit's path added in turn:
  Django's call of a pass-through wrapper, perfkit's wrapper without an
  observer, with the clocks and a no-op observer, with the request's
  Capture (the cold cost of each layer, between two round trips);
- ``placement``: the bare statement's time when PostgreSQL's backend last ran
  on this process's CPU or on another (the noise between processes);
- a cProfile of the same number of requests with and without perfkit: the
  total profiled time per query, and the top entries by own time and perfkit's
  entries by cumulative time, in µs per query (cProfile's own overhead
  inflates every call; compare the two columns, not absolute values).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUERIES = 200


class _Bench:
    """``/selects/`` served with perfkit on or off, in this process, on one connection."""

    def __init__(self) -> None:
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connections

        from benchmarks.overhead_project import worker
        from benchmarks.overhead_project.settings import DJANGO_MIDDLEWARE

        self.connection = connections["default"]  # the wrapper object, as Django passes it
        self.on_handler = WSGIHandler()
        perfkit_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = list(DJANGO_MIDDLEWARE)
        self.off_handler = WSGIHandler()
        settings.MIDDLEWARE = perfkit_middleware
        self.base = worker.environ_for("/selects/")
        self.status = ""

    def _start_response(self, status: str, headers: Any, *exc: Any) -> Any:
        self.status = status

    def set_mode(self, on: bool) -> Any:
        """perfkit on (its middleware, its wrapper on the connection) or off; the handler."""
        from perfkit import observe

        self.connection.ensure_connection()
        wrappers = self.connection.execute_wrappers
        if on and observe.observe_statement not in wrappers:
            wrappers.insert(0, observe.observe_statement)
        elif not on and observe.observe_statement in wrappers:
            wrappers.remove(observe.observe_statement)
        return self.on_handler if on else self.off_handler

    def serve(self, handler: Any) -> None:
        environ = self.base.copy()
        environ["wsgi.input"] = io.BytesIO(b"")
        result = handler(environ, self._start_response)
        try:
            for _ in result:
                pass
        finally:
            result.close()
        if not self.status.startswith("200"):
            raise RuntimeError(f"HTTP {self.status}")

    def batch(self, on: bool, count: int) -> tuple[list[int], list[int]]:
        """Per-request wall-clock and thread CPU nanoseconds of ``count`` requests."""
        handler = self.set_mode(on)
        self.serve(handler)  # untimed
        walls, cpus = [], []
        for _ in range(count):
            cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
            self.serve(handler)
            walls.append(time.perf_counter_ns() - wall)
            cpus.append(time.thread_time_ns() - cpu)
        return walls, cpus


def _child(config: str, rounds: int, batch: int, profiled: int, ladder: int) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.overhead_project import worker

    worker._setup_django(config)
    bench = _Bench()
    for on in (True, False, True, False):
        bench.batch(on, 10)
    # Paired, interleaved batches in a shuffled order.
    diffs: dict[str, list[float]] = {"wall": [], "cpu": []}
    pooled: dict[tuple[bool, int], list[int]] = {
        (on, i): [] for on in (True, False) for i in (0, 1)
    }
    for _ in range(rounds):
        order = [True, False]
        random.shuffle(order)
        got = {on: bench.batch(on, batch) for on in order}
        for index, name in enumerate(("wall", "cpu")):
            on_median = statistics.median(got[True][index])
            diffs[name].append((on_median - statistics.median(got[False][index])) / QUERIES / 1000)
            for on in (True, False):
                pooled[on, index] += got[on][index]
    print(f"== {config}  (pid {os.getpid()}, load average {os.getloadavg()[0]:.2f})")
    print(
        f"requests: {rounds} rounds x {batch} per mode; bare /selects/ median "
        f"{statistics.median(pooled[False, 0]) / 1000:.0f} µs wall, "
        f"{statistics.median(pooled[False, 1]) / 1000:.0f} µs CPU"
    )
    print("paired per query (median over rounds of the batch medians' difference / 200):")
    for name, values in diffs.items():
        print(
            f"  {name:4} {statistics.median(values):+6.2f} µs "
            f"(IQR {_quantile(values, 0.25):+.2f}..{_quantile(values, 0.75):+.2f})"
        )
    for index, name in enumerate(("wall", "cpu")):
        on_median = statistics.median(pooled[True, index])
        added = (on_median - statistics.median(pooled[False, index])) / QUERIES / 1000
        print(f"  pooled {name} medians: {added:+.2f} µs")
    bench.set_mode(True)
    wrappers = [getattr(w, "__qualname__", repr(w)) for w in bench.connection.execute_wrappers]
    with bench.connection.cursor() as cursor:
        print(f"execute wrappers: {wrappers}; cursor class {type(cursor).__name__}")
    _isolated(bench.connection)
    if ladder:
        _ladder(bench.connection, ladder)
        _placement(bench.connection, ladder // 5)
    if profiled:
        _profile(bench, profiled)
    bench.set_mode(True)


def _isolated(connection: Any) -> None:
    """The wrapper and observer around a stub executor, per statement (no database)."""
    from perfkit import observe
    from perfkit.metrics.run import Run

    def stub(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
        return None

    context = {"connection": connection, "cursor": None}
    n = 20_000

    def loop(wrapped: bool) -> float:
        import functools

        best = float("inf")
        for _ in range(5):
            run = Run()  # a fresh capture, as per request
            call = functools.partial(observe.observe_statement, stub) if wrapped else stub
            start = time.thread_time_ns()
            for _ in range(n):
                call("SELECT 1", None, False, context)
            best = min(best, (time.thread_time_ns() - start) / n / 1000)
            run.stop_observing()
            from perfkit.recording import scope

            scope.end(run.counters)
        return best

    bare, wrapped = loop(False), loop(True)
    print(
        f"isolated per statement (stub executor, CPU time, best of 5 x {n}): "
        f"{wrapped:.2f} µs with perfkit, {bare:.2f} µs without: {wrapped - bare:+.2f} µs"
    )


def _ladder(connection: Any, rounds: int) -> None:
    """Each layer of perfkit's per-statement path, added one at a time, on real statements.

    ``SELECT 1`` through a raw cursor on the PostgreSQL connection, with the
    execute wrappers of one step at a time, steps interleaved in a shuffled
    order each round; per step the median over rounds of the serving thread's
    CPU time per statement minus the step without wrapper's. This is the
    cold cost (between two database round trips), next to the isolated
    (warm) figure above.
    """
    from perfkit import observe
    from perfkit.capture import Capture

    def passthrough(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        return execute(sql, params, many, context)

    class NoOp:
        def query(self, *args: Any) -> None:
            pass

    steps: dict[str, tuple[list[Any], Any]] = {
        "no wrapper": ([], None),
        "Django's call of a pass-through wrapper": ([passthrough], None),
        "perfkit's wrapper, no observer": ([observe.observe_statement], None),
        "+ clocks and a no-op observer": ([observe.observe_statement], NoOp),
        "+ perfkit's Capture (counts, duplicates, N+1)": ([observe.observe_statement], Capture),
    }
    statements = 200
    found: dict[str, list[float]] = {name: [] for name in steps}
    saved = list(connection.execute_wrappers)
    try:
        for _ in range(rounds + 2):
            order = list(steps)
            random.shuffle(order)
            for name in order:
                wrappers, observer = steps[name]
                connection.execute_wrappers[:] = wrappers
                token = observe.push(observer()) if observer else None
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    cpu = time.thread_time_ns()
                    for _ in range(statements):
                        cursor.execute("SELECT 1")
                        cursor.fetchone()
                    found[name].append((time.thread_time_ns() - cpu) / statements / 1000)
                if token is not None:
                    observe._observers.reset(token)
    finally:
        connection.execute_wrappers[:] = saved
    base = found["no wrapper"]
    print(f"layers, CPU µs per statement over {rounds} rounds (median of paired differences):")
    print(f"  {'no wrapper':48} {statistics.median(base[2:]):6.2f} µs")
    previous = base
    for name in list(steps)[1:]:
        total = statistics.median(a - b for a, b in zip(found[name][2:], base[2:], strict=True))
        step = statistics.median(a - b for a, b in zip(found[name][2:], previous[2:], strict=True))
        print(f"  {name:48} {total:+6.2f} µs in all, {step:+6.2f} µs this step")
        previous = found[name]


def _placement(connection: Any, rounds: int) -> None:
    """Per-statement time by where PostgreSQL's backend ran: this process's CPU or another.

    This process is pinned to each CPU in turn; after 200 ``SELECT 1`` the
    backend's last CPU (``/proc/<pid>/stat``) tells whether the two shared
    it. Different processes of one configuration land differently, and keep
    it for a while: that is the process-to-process spread of
    ``middleware_overhead.py``'s ``/selects/``.
    """
    from perfkit import observe

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return
    saved = list(connection.execute_wrappers)
    connection.execute_wrappers[:] = [w for w in saved if w is not observe.observe_statement]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    found: dict[str, list[tuple[float, float]]] = {"same CPU": [], "other CPU": []}
    try:
        for _ in range(rounds):
            for cpu in cpus:
                os.sched_setaffinity(0, {cpu})
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    wall, used = time.perf_counter_ns(), time.thread_time_ns()
                    for _ in range(QUERIES):
                        cursor.execute("SELECT 1")
                        cursor.fetchone()
                    wall, used = time.perf_counter_ns() - wall, time.thread_time_ns() - used
                with open(f"/proc/{backend}/stat", encoding="ascii") as stat:
                    last = int(stat.read().rsplit(")", 1)[1].split()[36])
                key = "same CPU" if last == cpu else "other CPU"
                found[key].append((wall / QUERIES / 1000, used / QUERIES / 1000))
    except OSError as exc:  # no /proc access to the backend (another host, another user)
        print(f"placement: {exc}")
    finally:
        os.sched_setaffinity(0, cpus)
        connection.execute_wrappers[:] = saved
    print(
        "placement, no perfkit, µs per statement (PostgreSQL backend on this process's CPU or not):"
    )
    for key, values in found.items():
        if values:
            wall_us = statistics.median(v[0] for v in values)
            cpu_us = statistics.median(v[1] for v in values)
            print(f"  {key:9}  {len(values):3} batches  wall {wall_us:6.1f}  CPU {cpu_us:6.1f}")


def _profile(bench: _Bench, count: int) -> None:
    results = {}
    for on in (False, True):
        handler = bench.set_mode(on)
        for _ in range(5):
            bench.serve(handler)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(count):
            bench.serve(handler)
        profile.disable()
        results[on] = pstats.Stats(profile)
    per = count * QUERIES
    total_off = results[False].total_tt / per * 1e6  # type: ignore[attr-defined]
    total_on = results[True].total_tt / per * 1e6  # type: ignore[attr-defined]
    print(
        f"cProfile over {count} requests each: {total_on:.2f} µs per query with perfkit, "
        f"{total_off:.2f} without ({total_on - total_off:+.2f}; profiler overhead included)"
    )
    stats_on = results[True].stats  # type: ignore[attr-defined]
    stats_off = results[False].stats  # type: ignore[attr-defined]
    rows = []
    for func, (_cc, nc, tt, ct, _callers) in stats_on.items():
        off = stats_off.get(func)
        rows.append((func, nc, tt, ct, off[2] if off else 0.0, off[1] if off else 0))
    print("top own time, µs per query (with perfkit | without), calls per query:")
    for func, nc, tt, _ct, tt_off, nc_off in sorted(rows, key=lambda r: -r[2])[:18]:
        print(
            f"  {tt / per * 1e6:7.3f} | {tt_off / per * 1e6:7.3f}   "
            f"{nc / per:6.2f} | {nc_off / per:6.2f}  {_name(func)}"
        )
    print("perfkit's code and what it calls, cumulative µs per query:")
    for func, nc, tt, ct, _tt_off, _nc_off in sorted(rows, key=lambda r: -r[3]):
        if "perfkit" in func[0] and "benchmarks" not in func[0] and ct / per * 1e6 >= 0.005:
            cum, own = ct / per * 1e6, tt / per * 1e6
            print(f"  {cum:7.3f} cum {own:7.3f} own  {nc / per:6.2f} calls  {_name(func)}")


def _name(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
    return f"{short}:{line}({name})"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("perfkit-redis", "perfkit-db"), action="append")
    parser.add_argument("--rounds", type=int, default=30, help="paired rounds (default 30)")
    parser.add_argument("--batch", type=int, default=7, help="requests per mode and round")
    parser.add_argument(
        "--profiled", type=int, default=100, help="requests under cProfile (0: off)"
    )
    parser.add_argument(
        "--ladder", type=int, default=60, help="rounds of the per-layer costs (0: off)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.rounds, args.batch, args.profiled, args.ladder)
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for config in args.config or ["perfkit-redis", "perfkit-db"]:
        command = [sys.executable, __file__, "--child", config, "--rounds", str(args.rounds)]
        command += ["--batch", str(args.batch), "--profiled", str(args.profiled)]
        command += ["--ladder", str(args.ladder)]
        subprocess.run(command, check=True, cwd=ROOT)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
