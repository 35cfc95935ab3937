"""Writer and cached-reader *processes* on PostgreSQL + Redis: no read is stale.

The thread test (test_concurrency.py) shares one process: one pickle of the
settings, one Python cache client, one set of in-process state. Here every
writer and reader is its own OS process (``python -m
tests.cache.concurrency_child``) on the test database and the shared Redis
cache, as web workers are in production.

Each writer owns one row whose integer only grows (1, 2, 3 ...), written in
autocommit (``update()``, ``save()``) or inside ``transaction.atomic()``,
and logs the monotonic time after each write returned. Readers loop over
cached reads of several shapes (a list, ``values_list``, ``get``,
``aggregate(Max)``, a ``count`` whose filter the counters cross, some in READ
COMMITTED ``atomic()`` blocks) and log when each read started, what it saw and
whether it ran any SQL. CLOCK_MONOTONIC is one clock for all processes on
Linux, so every read is checked against the last value each writer had
returned before the read started: a smaller value is a stale read.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from perfkit.cache.querysets import CachedQuerySet
from tests.conftest import ROOT, needs_redis
from tests.testapp.models import Author, Book, Plain

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (PERFKIT_TEST_DATABASE_URL): child processes share the "
        "test database, and SQLite transactions never store cached results",
    ),
    needs_redis,  # child processes share the cache: local memory is per process
    pytest.mark.skipif(sys.platform != "linux", reason="compares CLOCK_MONOTONIC across processes"),
    pytest.mark.django_db(transaction=True, available_apps=["tests.testapp"]),
]

BOOK_WRITERS = ["w0", "w1"]
PLAIN_WRITERS = ["p0"]
WRITES_EACH = 60
READERS = ["r0", "r1", "r2"]
READS_EACH = 150
WRITER_PAUSE = 0.04  # seconds, at most, between two writes: spread them over the reads
READER_PAUSE = 0.004
TIMEOUT = 90.0


class Writes:
    """Each writer's (return time, value) log, in order."""

    def __init__(self, logs: dict[str, list[list[float]]]) -> None:
        self.logs = {name: [(at, int(value)) for at, value in log] for name, log in logs.items()}

    def last_before(self, name: str, start: float) -> int:
        """The last value ``name`` had returned before ``start`` (0: none yet)."""
        entries = self.logs[name]
        index = bisect_left(entries, (start, -1))
        return entries[index - 1][1] if index else 0


def stale(read: dict[str, Any], writes: Writes) -> str | None:
    """Why ``read`` is stale, or None."""
    start, seen = read["start"], read["seen"]
    if "values" in seen:
        for name, value in seen["values"].items():
            if value < (expected := writes.last_before(name, start)):
                return f"{read['kind']}: {name}={value} < {expected}"
    elif "max" in seen:
        expected = max(writes.last_before(name, start) for name in BOOK_WRITERS)
        if seen["max"] < expected:
            return f"{read['kind']}: max {seen['max']} < {expected}"
    else:
        threshold, count = seen["count"]
        expected = sum(writes.last_before(n, start) >= threshold for n in BOOK_WRITERS)
        if count < expected:
            return f"{read['kind']}: {count} books >= {threshold} < {expected}"
    return None


def spawn(run_dir: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PERFKIT_TEST_WORKER_DB": connection.settings_dict["NAME"],
        "PYTHONPATH": str(ROOT),
    }
    with (run_dir / f"{name}.log").open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.cache.concurrency_child", str(run_dir), name],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def child_output(run_dir: Path, name: str) -> str:
    return (run_dir / f"{name}.log").read_text(errors="replace")[-3000:]


def run_children(run_dir: Path, names: list[str]) -> float:
    """Start every child, let them go together, wait for all; the seconds from go to done."""
    children = {name: spawn(run_dir, name) for name in names}
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all((run_dir / f"{name}.ready").exists() for name in names):
            for name, child in children.items():
                if child.poll() is not None:
                    pytest.fail(
                        f"{name} exited before it was ready:\n{child_output(run_dir, name)}"
                    )
            assert time.monotonic() < deadline, "the children were not ready in time"
            time.sleep(0.02)
        began = time.monotonic()
        (run_dir / "go").touch()
        for name, child in children.items():
            returncode = child.wait(timeout=max(1.0, deadline - time.monotonic()))
            assert returncode == 0, f"{name} failed ({returncode}):\n{child_output(run_dir, name)}"
        return time.monotonic() - began
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()


def test_no_read_in_another_process_misses_a_returned_write(tmp_path: Path) -> None:
    from tests.cache import concurrency_child

    books = {
        name: Book.objects.create(title=name, author=Author.objects.create(name=name), pages=0).pk
        for name in BOOK_WRITERS
    }
    plain = {name: Plain.objects.create(value=0).pk for name in PLAIN_WRITERS}
    names = [*BOOK_WRITERS, *PLAIN_WRITERS, *READERS]
    plan = {
        "books": books,
        "plain": plain,
        "readers": READERS,
        "writes_each": WRITES_EACH,
        "reads_each": READS_EACH,
        "writer_pause": WRITER_PAUSE,
        "reader_pause": READER_PAUSE,
        "seeds": {name: seed for seed, name in enumerate(names)},
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))

    elapsed = run_children(tmp_path, names)

    logs = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in names}
    writes = Writes({name: logs[name]["writes"] for name in [*BOOK_WRITERS, *PLAIN_WRITERS]})
    reads = [read for name in READERS for read in logs[name]["reads"]]
    totals = {
        event: sum(logs[name]["counters"].get(event, 0) for name in READERS)
        for event in ("hits", "misses", "stores", "bypasses", "errors")
    }
    found = [reason for read in reads if (reason := stale(read, writes)) is not None]
    hits = sum(read["hit"] for read in reads)
    last_write = max(at for log in writes.logs.values() for at, _ in log)
    during = sum(read["start"] < last_write for read in reads)
    print(
        f"\nprocesses: {len(BOOK_WRITERS) + len(PLAIN_WRITERS)} writers x {WRITES_EACH} writes, "
        f"{len(READERS)} readers x {READS_EACH} reads, {elapsed:.2f} s from go: "
        f"reads={len(reads)} ({during} before the last write), hits={hits} (no SQL), "
        f"stale={len(found)}; cache counters: hits {totals['hits']}, misses {totals['misses']}, "
        f"stores {totals['stores']}, bypasses {totals['bypasses']}, errors {totals['errors']}"
    )
    assert all(len(log) == WRITES_EACH for log in writes.logs.values())
    assert len(reads) == len(READERS) * READS_EACH
    assert not found, found[:20]
    assert hits > 0, "no read was served from the cache"
    # The share depends on the machine's load; a quarter is still hundreds of racing reads.
    assert during >= len(reads) // 4, "too few reads overlapped the writes"
    # A read that ran no SQL was a cache hit, and the other way round.
    assert all(read["hit"] == read["counted_hit"] for read in reads)
    assert totals["errors"] == 0

    # Once every writer has returned, this process sees the final values, cached.
    for _, read in concurrency_child.read_shapes(plan, random.Random(0)):
        seen = read()
        assert stale({"start": time.monotonic(), "kind": "final", "seen": seen}, writes) is None
    final = Book.objects.cached().filter(pk__in=books.values()).values_list("pages", flat=True)
    assert list(final) == [WRITES_EACH] * len(books)
    for pk in plain.values():
        assert CachedQuerySet(model=Plain).cached().get(pk=pk).value == WRITES_EACH
