"""What perfkit's middleware adds to a request, next to django-silk and django-prometheus.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as ``postgres``
with trust auth, Redis on 127.0.0.1:6379; see benchmarks/README.md)::

    .venv/bin/python benchmarks/middleware_overhead.py            # under 3 minutes
    .venv/bin/python benchmarks/middleware_overhead.py --quick    # smoke run

Each configuration runs in child processes of its own, with its own settings
(so the bare project has no trace of any tool installed), and serves requests
in-process through Django's ``WSGIHandler``, timed with
``time.perf_counter_ns`` from the handler call to the response's ``close()``.
The parent interleaves them in short slots: each slot runs one batch (about
150 ms, after one untimed request) of one view in every configuration, in a shuffled order, so the
drift of the machine (CPU speed, other load, PostgreSQL's state) is shared
by all of them, and differences can also be taken slot by slot. Every
configuration has ``--replicas`` processes, used in turn, because two
processes running the same code can differ by a few percent (memory layout,
hash seeds); the two bare processes show how large that is.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import statistics
import sys
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Child, ensure_database, log  # noqa: E402
from benchmarks.overhead_project import common, worker  # noqa: E402

CONFIGS = common.CONFIGS
BASELINE = "bare"
PERFKIT = ("perfkit-redis", "perfkit-db")
VIEWS = {
    "books": "catalogue: 12 queries (an N+1 over 10 rows), 50-row template",
    "selects": "200 x SELECT 1 through a raw cursor",
    "ping": "no queries, no template",
}
SELECTS = 200
INTERVAL = 1.0  # PERFKIT["RECORDER_FLUSH_INTERVAL"] in the benchmark's settings

MIN_BATCHES = 40  # per view, however fast its requests are

TARGET_PERCENT = 5.0
TARGET_SILK_RATIO = 0.1
TARGET_PER_QUERY_US = 5.0


# Child processes ----------------------------------------------------------


# Measurement --------------------------------------------------------------


def new_times() -> array:
    return array("q")


@dataclass
class Cell:
    """All measured requests of one view under one configuration."""

    times: array = field(default_factory=new_times)
    by_replica: dict[int, array] = field(default_factory=dict)
    batch_medians: list[float] = field(default_factory=list)
    cpu_ns: int = 0
    size: int = 0

    def add(self, replica: int, raw: bytes, size: int, cpu_ns: int) -> None:
        batch = array("q")
        batch.frombytes(raw)
        self.times.extend(batch)
        self.by_replica.setdefault(replica, array("q")).extend(batch)
        self.batch_medians.append(statistics.median(batch) / 1000)
        self.cpu_ns += cpu_ns
        self.size = size

    @property
    def median(self) -> float:
        return statistics.median(self.times) / 1000

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times) / 1000

    @property
    def cpu(self) -> float:
        """Mean CPU time of the serving thread per request (µs)."""
        return self.cpu_ns / len(self.times) / 1000

    def quantile(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] / 1000

    def replica_medians(self) -> list[float]:
        return [statistics.median(times) / 1000 for _, times in sorted(self.by_replica.items())]


Cells = dict[str, dict[str, Cell]]


def batches(total: int, count: int) -> list[int]:
    """Split ``total`` requests into ``count`` nearly equal batches."""
    base, extra = divmod(total, count)
    return [base + (1 if index < extra else 0) for index in range(count)]


def batch_size(median_us: float, args: argparse.Namespace) -> int:
    """Requests per batch: about ``--batch-ms`` of work, and at least MIN_BATCHES batches."""
    by_time = max(1, round(args.batch_ms * 1000 / median_us))
    return max(1, min(by_time, math.ceil(args.requests / MIN_BATCHES)))


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    ctx = multiprocessing.get_context("spawn")
    ensure_database(common)
    setup = Child(ctx, worker.prepare)
    log(f"prepared: {setup.receive('prepare')}")
    setup.process.join(60)

    children = {
        config: [Child(ctx, worker.serve, config) for _ in range(args.replicas)]
        for config in CONFIGS
    }
    for config, replicas in children.items():
        for child in replicas:
            details = child.receive(f"start {config}")
            log(f"{config:14} pid {details['pid']}: {' > '.join(details['middleware'])}")

    rng = random.Random(args.seed)
    processes = [(config, replica) for config in CONFIGS for replica in range(args.replicas)]
    # Warm up every process on every view before anything is measured (imports,
    # template and URL caches, connections, perfkit's flush thread); bare's
    # warm-up times size the batches.
    sizes: dict[str, list[int]] = {}
    for view in VIEWS:
        for config, replica in rng.sample(processes, len(processes)):
            raw, _, _ = children[config][replica].call("run", view, args.warmup, False)
            if (config, replica) == (BASELINE, 0):
                warm = array("q")
                warm.frombytes(raw)
                size = batch_size(statistics.median(warm) / 1000, args)
                sizes[view] = batches(args.requests, math.ceil(args.requests / size))
    log(f"warmed up ({args.warmup} requests per view and process)")
    log("batches per view: " + ", ".join(f"{v} {len(b)} x ~{b[0]}" for v, b in sizes.items()))

    # The schedule: every batch of every view, shuffled; each slot runs one batch
    # of its view in every configuration, in a shuffled order, on the view's next
    # replica. The CPU's speed drifts by tens of percent over seconds on shared
    # machines, so slots are short and configurations compared slot by slot.
    slots = [(view, size) for view, view_sizes in sizes.items() for size in view_sizes]
    rng.shuffle(slots)
    cells: Cells = {view: {config: Cell() for config in CONFIGS} for view in VIEWS}
    done = dict.fromkeys(VIEWS, 0)
    measure_started = time.perf_counter()
    next_log = 0.0
    for index, (view, size) in enumerate(slots):
        replica = done[view] % args.replicas
        done[view] += 1
        for config in rng.sample(CONFIGS, len(CONFIGS)):
            result = children[config][replica].call("run", view, size, True, args.batch_warmup)
            cells[view][config].add(replica, *result)
        elapsed = time.perf_counter() - measure_started
        if elapsed >= next_log or index == len(slots) - 1:
            log(f"{index + 1}/{len(slots)} slots done, {elapsed:.0f} s")
            next_log = elapsed + 15
    measured_seconds = time.perf_counter() - measure_started

    stats = {
        config: merge_stats([child.call("stats") for child in replicas])
        for config, replicas in children.items()
    }
    for replicas in children.values():
        for child in replicas:
            child.stop()
    args.load = (load_before, os.getloadavg()[0])
    args.sizes = sizes
    report(args, cells, stats, measured_seconds, time.perf_counter() - started)


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's statistics from its replicas.

    Per-process numbers add up; numbers read back from shared storage (the
    database, Redis) are totals already, and the last replica asked, after
    every replica's final flush, saw the most.
    """
    merged: dict[str, Any] = {"served": 0, "logged": {}, "flushes": [], "errors": {}}
    for part in parts:
        merged["served"] += sum(part["served"].values())
        for name, count in part["logged"].items():
            merged["logged"][name] = merged["logged"].get(name, 0) + count
        merged["flushes"].extend(part.get("flushes", []))
        merged["errors"].update(part.get("errors", {}))
        merged["final_flush_ok"] = merged.get("final_flush_ok", True) and part.get(
            "final_flush_ok", True
        )
        for name in ("prometheus_requests", "prometheus_executes"):
            if name in part:
                merged[name] = merged.get(name, 0) + part[name]
        for name in ("stored_requests", "samples_in_db", "silk_requests", "silk_queries"):
            if name in part:
                merged[name] = max(merged.get(name, 0), part[name])
    return merged


# Report -------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    cells: Cells,
    stats: dict[str, dict[str, Any]],
    measured_seconds: float,
    total_seconds: float,
) -> None:
    import django

    print(
        f"\nperfkit middleware overhead: Django {django.get_version()}, Python "
        f"{sys.version.split()[0]}, PostgreSQL {common.PG_HOST}:{common.PG_PORT}"
        f"/{common.PG_DATABASE}, Redis {common.REDIS_URL}"
    )
    print(
        f"{args.requests} measured requests per view and configuration in interleaved batches "
        f"({', '.join(f'/{v}/ {len(b)} x ~{b[0]}' for v, b in args.sizes.items())})\nover "
        f"{args.replicas} processes per configuration, after {args.warmup} warm-up requests "
        f"per view and process and {args.batch_warmup} untimed request(s) before each batch;"
        f"\nDEBUG=False, persistent DB connections, "
        f"RECORDER_FLUSH_INTERVAL=1.0 s. Times in µs per request (handler call to close())."
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average {args.load[0]:.2f} before the run and "
        f"{args.load[1]:.2f} after (the benchmark itself keeps about 1 CPU busy)"
    )
    print(
        "configurations: bare = Django's default middleware; perfkit-* = PerfMiddleware first; "
        "silk = SilkyMiddleware first,\n  defaults, profiler off; prometheus = Before/After "
        "middleware + its instrumented PostgreSQL engine (counts and times every execute)."
    )
    print(
        "Columns: wall-clock median, mean and p99; added median and mean vs bare; median ratio "
        "to bare;\n  'cpu' is the serving thread's mean CPU time per request (excludes waiting "
        "for PostgreSQL/Redis,\n  other processes and perfkit's flush thread), less disturbed "
        "by a busy machine than wall-clock."
    )
    header = (
        f"{'configuration':14} {'median':>9} {'mean':>9} {'p99':>9} "
        f"{'+median':>9} {'+mean':>9} {'ratio':>7} {'cpu':>9} {'+cpu':>8}"
    )
    for view, description in VIEWS.items():
        row = cells[view]
        bare = row[BASELINE]
        print(f"\n== /{view}/  ({description}; response {bare.size} bytes)")
        print(header)
        for config in CONFIGS:
            cell = row[config]
            if config == BASELINE:
                added = f"{'-':>9} {'-':>9} {'1.000':>7} {cell.cpu:9.1f} {'-':>8}"
            else:
                added = (
                    f"{cell.median - bare.median:+9.1f} {cell.mean - bare.mean:+9.1f} "
                    f"{cell.median / bare.median:7.3f} {cell.cpu:9.1f} {cell.cpu - bare.cpu:+8.1f}"
                )
            p99 = cell.quantile(0.99)
            print(f"{config:14} {cell.median:9.1f} {cell.mean:9.1f} {p99:9.1f} {added}")

    print_noise(cells, args.replicas)
    print_targets(cells)
    print_tool_stats(stats, cells, total_seconds)
    print(f"\ntotal run time {total_seconds:.0f} s (measuring {measured_seconds:.0f} s)")


def print_noise(cells: Cells, replicas: int) -> None:
    if replicas < 2:
        return
    print("\n== noise floor: median of each process of the same configuration (µs)")
    for view in VIEWS:
        parts = []
        for config in CONFIGS:
            medians = cells[view][config].replica_medians()
            parts.append(f"{config} " + "/".join(f"{median:.0f}" for median in medians))
        print(f"/{view}/: " + ", ".join(parts))
    bare = cells["selects"][BASELINE].replica_medians()
    spread = (max(bare) - min(bare)) / SELECTS
    print(f"(the bare processes' spread on /selects/ is {spread:.2f} µs per query)")


def added(cells: Cells, view: str, config: str) -> tuple[float, float]:
    """Added median and mean (µs) of ``config`` over bare on ``view``."""
    cell, bare = cells[view][config], cells[view][BASELINE]
    return cell.median - bare.median, cell.mean - bare.mean


def paired(cells: Cells, view: str, config: str) -> str:
    """Added median estimated slot by slot, which cancels the machine's drift.

    The median over slots of (this configuration's batch median - bare's batch
    median in the same slot), with the interquartile range of those differences.
    """
    deltas = [
        mine - bare
        for mine, bare in zip(
            cells[view][config].batch_medians, cells[view][BASELINE].batch_medians, strict=True
        )
    ]
    if len(deltas) < 4:
        return f"paired +median {statistics.median(deltas):.1f} µs"
    low, middle, high = statistics.quantiles(deltas, n=4, method="inclusive")
    return f"paired +median {middle:.1f} µs, IQR {low:.1f}..{high:.1f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_targets(cells: Cells) -> None:
    print("\n== targets")
    bare_books = cells["books"][BASELINE]
    print(f"perfkit added cost on /books/, % of bare (target <= {TARGET_PERCENT:g}%):")
    for config in PERFKIT:
        med, mean = added(cells, "books", config)
        pct_med, pct_mean = 100 * med / bare_books.median, 100 * mean / bare_books.mean
        print(
            f"  {config:14} median {med:+7.1f} µs = {pct_med:5.2f}%   mean {mean:+7.1f} µs = "
            f"{pct_mean:5.2f}%   ({paired(cells, 'books', config)})  "
            f"{verdict(max(pct_med, pct_mean) <= TARGET_PERCENT)}"
        )
    silk_med, silk_mean = added(cells, "books", "silk")
    print(
        f"perfkit added / silk added on /books/ (target <= {TARGET_SILK_RATIO:g}); "
        f"silk adds {silk_med:+.1f} µs median, {silk_mean:+.1f} µs mean:"
    )
    for config in PERFKIT:
        med, mean = added(cells, "books", config)
        r_med, r_mean = med / silk_med, mean / silk_mean
        print(
            f"  {config:14} median {r_med:6.3f}   mean {r_mean:6.3f}   "
            f"{verdict(max(r_med, r_mean) <= TARGET_SILK_RATIO)}"
        )
    print(
        f"per-SQL-query added cost on /selects/ = (t - t_bare) / {SELECTS} "
        f"(target <= {TARGET_PER_QUERY_US:g} µs median); 'net' also subtracts the ping fixed cost:"
    )
    for config in (*PERFKIT, "silk", "prometheus"):
        med, mean = added(cells, "selects", config)
        fixed, _ = added(cells, "ping", config)
        cpu = (cells["selects"][config].cpu - cells["selects"][BASELINE].cpu) / SELECTS
        line = (
            f"  {config:14} median {med / SELECTS:5.2f} µs   mean {mean / SELECTS:5.2f} µs   "
            f"net median {(med - fixed) / SELECTS:5.2f} µs   cpu {cpu:5.2f} µs"
        )
        if config in PERFKIT:
            line += f"   {verdict(med / SELECTS <= TARGET_PER_QUERY_US)}"
        elif config == "silk":
            line += "   (silk sees ORM queries only, not raw cursor SQL)"
        print(line)
    prom_med, prom_mean = added(cells, "ping", "prometheus")
    print(
        f"fixed cost on /ping/ (no queries): prometheus adds {prom_med:+.1f} µs median, "
        f"{prom_mean:+.1f} µs mean ({paired(cells, 'ping', 'prometheus')})"
    )
    for config in PERFKIT:
        med, mean = added(cells, "ping", config)
        print(
            f"  {config:14} median {med:+6.1f} µs ({med / prom_med:4.2f}x prometheus)   "
            f"mean {mean:+6.1f} µs ({mean / prom_mean:4.2f}x)   "
            f"({paired(cells, 'ping', config)})"
        )


def print_tool_stats(stats: dict[str, dict[str, Any]], cells: Cells, total_seconds: float) -> None:
    print("\n== what each tool recorded (sanity) and perfkit's background flushes")
    for config in CONFIGS:
        data = stats[config]
        logged = ", ".join(f"{name}: {count}" for name, count in sorted(data["logged"].items()))
        line = f"{config:14} served {data['served']} requests; warnings logged: {logged or 'none'}"
        if config == "silk":
            line += (
                f"; silk stored {data['silk_requests']} requests, {data['silk_queries']} queries"
            )
        elif config == "prometheus":
            line += (
                f"; prometheus counted {data['prometheus_requests']} requests, "
                f"{data['prometheus_executes']} executes"
            )
        elif config in PERFKIT:
            line += (
                f"; stored {data['stored_requests']} requests "
                f"({'redis hashes' if config == 'perfkit-redis' else 'rollup rows'}), "
                f"{data['samples_in_db']} slow samples in the database (both perfkit configs)"
            )
        print(line)
    for config in PERFKIT:
        data = stats[config]
        flushes = data["flushes"]
        writing = [flush for flush in flushes if flush[0]]
        if not writing:
            print(f"{config:14} NO background flush wrote anything: the flush thread did not work")
            continue
        overlapped = sum(1 for flush in flushes if flush[1])
        wall = statistics.fmean(flush[2] for flush in writing) / 1e6
        cpu = statistics.fmean(flush[3] for flush in writing) / 1e6
        longest = max(flush[2] for flush in writing) / 1e6
        print(
            f"{config:14} {len(flushes)} background flushes in {total_seconds:.0f} s, "
            f"{len(writing)} with data, {overlapped} overlapping a measured batch (their cost is "
            f"in the means above);\n{'':14} per flush with data: {wall:.1f} ms wall (max "
            f"{longest:.0f}), {cpu:.2f} ms CPU of the flush thread"
        )
        # A worker kept busy flushes once per interval; the flush thread's CPU
        # (it holds the GIL for most of it) is then taken from the requests.
        share = cpu / 1000 / INTERVAL
        costs = ", ".join(f"/{view}/ {share * cells[view][config].mean:.1f} µs" for view in cells)
        print(
            f"{'':14} a saturated worker would spend {100 * share:.2f}% of its time flushing, "
            f"per request: {costs}"
        )
        if data["errors"] or not data["final_flush_ok"]:
            ok = data["final_flush_ok"]
            print(f"{'':14} perfkit errors: {data['errors']}, final flush ok: {ok}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        help="measured requests per view and configuration "
        "(default 300: under 3 minutes on a quiet machine)",
    )
    parser.add_argument(
        "--batch-ms",
        type=float,
        default=150.0,
        help="target duration of one batch (default 150 ms)",
    )
    parser.add_argument(
        "--batch-warmup",
        type=int,
        default=1,
        help="untimed requests before each batch, so that the timed ones do not start "
        "with the caches of the process that ran before (default 1)",
    )
    parser.add_argument(
        "--replicas", type=int, default=2, help="processes per configuration (default 2)"
    )
    parser.add_argument(
        "--warmup", type=int, default=30, help="warm-up requests per view and process"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 requests per view")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup = 60, 10
    args.replicas = max(1, args.replicas)
    args.requests = max(1, args.requests)
    run(args)


if __name__ == "__main__":
    main()
