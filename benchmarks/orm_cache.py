"""perfkit's cached querysets next to django-cachalot, django-cacheops and a hand-written cache.get.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as ``postgres``
with trust auth, Redis on 127.0.0.1:6379; see benchmarks/README.md)::

    .venv/bin/python benchmarks/orm_cache.py             # 2.5 to 4 minutes
    .venv/bin/python benchmarks/orm_cache.py --quick     # smoke run
    .venv/bin/python benchmarks/orm_cache.py --profile   # adds cProfile of perfkit's hits

Operations, on 20 publishers, 100 authors and 1,000 books:

(a) ``list``: the 50 books of one publisher with ``select_related("author",
    "publisher")``, evaluated with ``list()``;
(b) ``count``: ``count()`` of the same filter;
(c) ``get``: ``get(pk=...)`` of one book;
(d) ``save+get``: ``instance.save()`` of a new title, then ``get(pk=...)`` of
    that book; ``update+list``: ``QuerySet.update()`` of a new title, then the
    list of (a), which holds that book. After every write the read must
    return the new title: a read that does not is counted as stale.

How it is made fair. django-cachalot and django-cacheops patch the ORM of the
whole process once installed, so every tool runs in a child process of its
own, with settings that install only that tool (``bare`` installs none and
runs the hand-written ``cache.get``/``cache.set`` of the evaluated result,
deleting its keys after a write). Every process measures its own
``uncached`` baseline: the same queryset, the tool installed but not asked to
cache (perfkit without ``.cached()``, cacheops without ``.cache()``,
cachalot inside ``cachalot_disabled()``), so a tool's ratio compares its hit
with a query that pays whatever the tool adds to every query; the report also
gives every median against the bare process's uncached query, which pays
nothing. The parent interleaves everything: each round visits the operations
in a shuffled order and, for each, every (process, variant) pair in a shuffled
order for a batch of calls, so drift of the machine (frequency, other load,
PostgreSQL's and Redis' state) hits all alike; ratios are taken of medians
over all rounds. Before each batch one untimed call fills the entry (a write
batch before it has outdated the tables), so a cached batch measures hits
only; the SQL statements and Redis round trips of every batch are counted
(outside the tools) to prove it. All caches live in Redis database 8 (flushed
at the start), each tool under its own key prefix; perfkit and cachalot use
the django-redis cache ``default``, cacheops its own redis-py client.
"""

from __future__ import annotations

import argparse
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
from benchmarks.orm_cache_project import common, worker  # noqa: E402

TOOLS = common.TOOLS
BASELINE = "bare"
OPERATIONS = {
    "list": "(a) 50 rows, select_related(author, publisher), list()",
    "count": "(b) count() of the same 50 rows",
    "get": "(c) get(pk=...)",
    "save+get": "(d) instance.save() of a new title, then get(pk=...) of it",
    "update+list": "(d) QuerySet.update() of a new title, then the 50-row list",
}
CACHED = {"bare": "manual", "perfkit": "cached", "cachalot": "cached", "cacheops": "cached"}
LABELS = {
    "bare": "hand-written",
    "perfkit": "perfkit",
    "cachalot": "cachalot",
    "cacheops": "cacheops",
}

TARGET_LIST_RATIO = 0.4


# Child processes ----------------------------------------------------------


def flush_redis() -> int:
    """Empty the benchmark's Redis database; returns how many keys it held."""
    import redis

    client = redis.Redis.from_url(common.REDIS_URL)
    try:
        keys = int(client.dbsize())
        client.flushdb()
    finally:
        client.close()
    return keys


# Measurement --------------------------------------------------------------


@dataclass
class Cell:
    """Every measured call of one operation in one variant of one process."""

    times: array = field(default_factory=lambda: array("q"))
    write_times: array = field(default_factory=lambda: array("q"))
    round_medians: list[float] = field(default_factory=list)
    cpu_ns: int = 0
    queries: int = 0
    round_trips: int = 0
    stale: int = 0
    checked: int = 0

    def add(self, result: dict[str, Any]) -> None:
        batch = array("q")
        batch.frombytes(result["times"])
        self.times.extend(batch)
        self.round_medians.append(statistics.median(batch) / 1000)
        if "write_times" in result:
            self.write_times.frombytes(result["write_times"])
        self.cpu_ns += result["cpu_ns"]
        self.queries += result["queries"]
        self.round_trips += result["round_trips"]
        self.stale += result["stale"]
        self.checked += result["checked"]

    @property
    def calls(self) -> int:
        return len(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times) / 1000

    def quantile(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    @property
    def write_median(self) -> float:
        return statistics.median(self.write_times) / 1000 if self.write_times else 0.0

    @property
    def read_median(self) -> float:
        """Median of the read half of write+read calls (each call's total minus its write)."""
        reads = [total - write for total, write in zip(self.times, self.write_times, strict=True)]
        return statistics.median(reads) / 1000

    @property
    def cpu(self) -> float:
        return self.cpu_ns / self.calls / 1000

    def per_call(self, count: int) -> float:
        return count / self.calls


Cells = dict[tuple[str, str, str], Cell]  # (operation, tool, variant)


def round_ratios(cells: Cells, operation: str, tool: str, variant: str, base: str) -> list[float]:
    """Per-round ratios of ``variant``'s batch median to ``base``'s batch median."""
    top = cells[operation, tool, variant].round_medians
    bottom = cells[operation, tool, base].round_medians
    return [a / b for a, b in zip(top, bottom, strict=True)]


def quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], q[2]


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()
    ctx = multiprocessing.get_context("spawn")
    ensure_database(common)
    flushed = flush_redis()
    log(f"flushed Redis {common.REDIS_URL} ({flushed} keys)")
    setup = Child(ctx, worker.prepare)
    log(f"prepared: {setup.receive('prepare')}")
    setup.process.join(60)

    children = {tool: Child(ctx, worker.serve, tool) for tool in TOOLS}
    infos = {}
    for tool, child in children.items():
        infos[tool] = child.receive(f"start {tool}")
        extra = [app for app in infos[tool]["apps"] if not app.startswith(("django.", "bench"))]
        log(f"{tool:9} pid {infos[tool]['pid']}: tool apps {extra or 'none'}")

    pairs = [(tool, variant) for tool in TOOLS for variant in worker.VARIANTS[tool]]
    rng = random.Random(args.seed)
    for operation in OPERATIONS:
        for tool, variant in rng.sample(pairs, len(pairs)):
            children[tool].call("run", operation, variant, args.warmup)
    log(f"warmed up ({args.warmup} calls per operation, tool and variant)")

    cells: Cells = {
        (operation, tool, variant): Cell() for operation in OPERATIONS for tool, variant in pairs
    }
    operations = list(OPERATIONS)
    measure_started = time.perf_counter()
    for round_index in range(args.rounds):
        rng.shuffle(operations)
        for operation in operations:
            for tool, variant in rng.sample(pairs, len(pairs)):
                result = children[tool].call("run", operation, variant, args.calls)
                cells[operation, tool, variant].add(result)
        if (round_index + 1) % 10 == 0 or round_index + 1 == args.rounds:
            elapsed = time.perf_counter() - measure_started
            log(f"round {round_index + 1}/{args.rounds} done, {elapsed:.0f} s")
    measured_seconds = time.perf_counter() - measure_started

    log("perfkit hit breakdown...")
    breakdown = children["perfkit"].call("breakdown", args.breakdown)
    profile = ""
    if args.profile:
        log("profiling perfkit's hits...")
        profile = "".join(
            f"\n== cProfile of perfkit's {operation} hit\n"
            + children["perfkit"].call("profile", operation, "cached", args.profile_calls, 25)
            for operation in ("list", "count", "get")
        )
    perfkit_errors = children["perfkit"].call("errors")
    for child in children.values():
        child.stop()
    args.load = (load_before, os.getloadavg())
    report(args, infos, cells, breakdown, perfkit_errors, measured_seconds)
    if profile:
        print(profile)
    total = time.perf_counter() - started
    print(f"total run time {total:.0f} s (measuring {measured_seconds:.0f} s)")


# Report -------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(
    args: argparse.Namespace,
    infos: dict[str, dict[str, Any]],
    cells: Cells,
    breakdown: dict[str, Any],
    perfkit_errors: dict[str, Any],
    measured_seconds: float,
) -> None:
    versions = infos[BASELINE]["versions"]
    print(
        "\nORM cache benchmark: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f", Python {sys.version.split()[0]}"
    )
    print(
        f"PostgreSQL {common.PG_HOST}:{common.PG_PORT}/{common.PG_DATABASE} (persistent "
        f"connection), Redis {common.REDIS_URL} (django-redis, pickle); {common.BOOKS} books, "
        f"{common.AUTHORS} authors, {common.PUBLISHERS} publishers; DEBUG=False"
    )
    print(
        f"{args.rounds} interleaved rounds x {args.calls} calls per operation, tool and variant "
        f"({args.rounds * args.calls} calls per cell) after {args.warmup} warm-up calls; "
        f"measuring took {measured_seconds:.0f} s"
    )
    before, after = args.load
    print(
        f"machine: {os.cpu_count()} CPUs, load average {before[0]:.2f}/{before[1]:.2f} (1/5 min) "
        f"before, {after[0]:.2f}/{after[1]:.2f} after (the benchmark keeps about one CPU busy)"
    )
    print(
        "One process per tool. 'own' ratios divide by the uncached median of the same process "
        "(the tool installed, not asked\nto cache); 'bare' ratios by the uncached median of the "
        "process with no tool. Times are wall-clock medians in µs per call."
    )

    print("\n== summary: median µs per call (ratio to the tool's own uncached median)")
    header = f"{'operation':13} {'uncached':>9} " + " ".join(
        f"{LABELS[tool]:>18}" for tool in (*TOOLS[1:], BASELINE)
    )
    print(header)
    for operation in OPERATIONS:
        base = cells[operation, BASELINE, "uncached"].median
        parts = [f"{operation:13} {base:9.0f}"]
        for tool in (*TOOLS[1:], BASELINE):
            cell = cells[operation, tool, CACHED[tool]]
            own = cell.median / cells[operation, tool, "uncached"].median
            parts.append(f"{cell.median:9.0f} ({own:5.2f}x)")
        print(" ".join(parts))
    print(
        "'uncached' is the bare process's plain query; hand-written = cache.get of the evaluated "
        "result in the bare process."
    )

    for operation, description in OPERATIONS.items():
        print_operation(cells, operation, description)
    print_checks(cells)
    print_targets(cells)
    print_breakdown(breakdown)
    if perfkit_errors:
        print(f"\nperfkit reported errors: {perfkit_errors}")
    else:
        print("\nperfkit reported no errors (cache reads, stores, bumps, recorder).")


def print_operation(cells: Cells, operation: str, description: str) -> None:
    writes = operation in worker.WRITES
    bare = cells[operation, BASELINE, "uncached"].median
    print(f"\n== {operation}: {description}")
    header = (
        f"{'tool':9} {'variant':9} {'median':>8} {'p90':>8} {'own':>6} {'(IQR of rounds)':>15} "
        f"{'bare':>6} {'cpu':>7} {'SQL':>5} {'Redis':>5}"
    )
    if writes:
        header += f" {'write':>7} {'read':>7} {'stale':>9}"
    print(header)
    for tool in TOOLS:
        for variant in worker.VARIANTS[tool]:
            cell = cells[operation, tool, variant]
            own = cell.median / cells[operation, tool, "uncached"].median
            if variant == "uncached":
                spread = f"{'':15}"
            else:
                low, high = quartiles(round_ratios(cells, operation, tool, variant, "uncached"))
                spread = f"{f'({low:.2f}-{high:.2f})':>15}"
            line = (
                f"{tool:9} {variant:9} {cell.median:8.0f} {cell.quantile(0.9):8.0f} {own:5.2f}x "
                f"{spread} {cell.median / bare:5.2f}x {cell.cpu:7.0f} "
                f"{cell.per_call(cell.queries):5.2f} {cell.per_call(cell.round_trips):5.2f}"
            )
            if writes:
                line += (
                    f" {cell.write_median:7.0f} {cell.read_median:7.0f} "
                    f"{f'{cell.stale}/{cell.checked}':>9}"
                )
            print(line)
    print(
        "columns: median/p90 µs; own = ratio to this process's uncached median, with the "
        "interquartile range of per-round ratios;\n  bare = ratio to the bare process's "
        "uncached median; cpu = µs of CPU per call in the serving thread (excludes waiting);\n"
        "  SQL / Redis = statements / round trips per call (counted in the child, outside the "
        "tools)"
        + ("; write/read = medians of each half; stale = reads missing the write" if writes else "")
    )


def print_checks(cells: Cells) -> None:
    print("\n== correctness")
    for tool in TOOLS:
        parts = []
        for operation in worker.WRITES:
            for variant in worker.VARIANTS[tool]:
                cell = cells[operation, tool, variant]
                parts.append(f"{operation} {variant} {cell.stale}/{cell.checked}")
        stale = sum(cells[op, tool, CACHED[tool]].stale for op in worker.WRITES)
        print(f"{LABELS[tool]:12} stale reads: {stale}   ({', '.join(parts)})")
    cacheops = cells["update+list", "cacheops", "cached"]
    if cacheops.stale:
        print(
            "  cacheops: QuerySet.update() does not invalidate (its documented limitation; "
            "it offers invalidated_update())."
        )
    misses = [
        f"{tool} {operation} ({cells[operation, tool, CACHED[tool]].queries} statements)"
        for tool in TOOLS
        for operation in worker.READS
        if cells[operation, tool, CACHED[tool]].queries
    ]
    if misses:
        print(f"NOT ALL HITS: cached read batches ran SQL: {', '.join(misses)}")
    else:
        print("every cached read batch ran no SQL: all measured cached reads were hits")


def print_targets(cells: Cells) -> None:
    print("\n== targets")
    hit = cells["list", "perfkit", "cached"]
    own = hit.median / cells["list", "perfkit", "uncached"].median
    bare = hit.median / cells["list", BASELINE, "uncached"].median
    cpu = hit.cpu / cells["list", "perfkit", "uncached"].cpu
    print(
        f"perfkit list hit <= {TARGET_LIST_RATIO}x uncached: {own:.3f}x own uncached, "
        f"{bare:.3f}x bare uncached ({hit.median:.0f} µs)   {verdict(own <= TARGET_LIST_RATIO)}"
    )
    print(
        f"  (by CPU time per call, which a busy machine disturbs less: {cpu:.3f}x; the hit "
        f"spends CPU where the query waits for PostgreSQL)"
    )
    for operation in ("count", "get"):
        mine = cells[operation, "perfkit", "cached"]
        theirs = cells[operation, "cachalot", "cached"]
        mine_own = mine.median / cells[operation, "perfkit", "uncached"].median
        theirs_own = theirs.median / cells[operation, "cachalot", "uncached"].median
        print(
            f"perfkit {operation}() hit no slower than cachalot's: {mine.median:.0f} µs vs "
            f"{theirs.median:.0f} µs ({mine.median / theirs.median:.2f}x; own ratios "
            f"{mine_own:.2f}x vs {theirs_own:.2f}x)   {verdict(mine.median <= theirs.median)}"
        )
    stale = sum(cells[operation, "perfkit", "cached"].stale for operation in worker.WRITES)
    print(f"perfkit stale reads after writes: {stale}   {verdict(stale == 0)}")


def print_breakdown(breakdown: dict[str, Any]) -> None:
    print(
        "\n== perfkit's hits part by part (in the perfkit process, each part timed in turn, "
        "median µs)"
    )
    if "error" in breakdown:
        print(f"unavailable (perfkit's internals changed?): {breakdown['error']}")
        return
    sql_chars, entry_bytes, keys_fetched = breakdown.pop("sizes")
    for name, value in breakdown.items():
        if not name.endswith(("memoized", "(median of pairs)")):
            print(f"  {name:42} {value:8.1f}")
    print(
        f"  (the list's SQL has {sql_chars} characters; its entry is {entry_bytes} bytes "
        f"pickled; a hit fetches {keys_fetched} keys)"
    )
    print(
        "proposal 1: memoize the volatile-function check per SQL string (as tables_in_sql "
        "already is); measured by swapping it in:"
    )
    for operation in ("list", "count", "get"):
        now = breakdown[f"{operation} hit"]
        then = breakdown[f"{operation} hit, volatile check memoized"]
        saved = breakdown[f"{operation} hit, saved (median of pairs)"]
        uncached = breakdown[f"{operation} uncached"]
        print(
            f"  {operation:6} hit {now:7.0f} -> {then:7.0f} µs ({saved:+5.0f} µs saved, median "
            f"of paired calls); ratio to uncached {now / uncached:.2f}x -> {then / uncached:.2f}x"
        )
    full = breakdown["list: cache.get_many (entry + tokens)"]
    nested = breakdown["list: get_many, value pickled apart"]
    loads = breakdown["list: pickle.loads of the entry"]
    print(
        "proposal 2: pickle the entry's value apart (Entry.value as bytes), unpickled only when "
        "the versions match.\n  Every read after a write fetches the outdated entry: its "
        f"get_many costs {full:.0f} µs now, {nested:.0f} µs then ({full - nested:+.0f} µs per "
        f"post-write miss);\n  a hit does the same work (get_many {nested:.0f} + loads of the "
        f"value, ~{loads:.0f} µs)."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=60, help="interleaved rounds (default 60: 2.5 to 4 minutes)"
    )
    parser.add_argument(
        "--calls", type=int, default=12, help="calls per batch (operation, tool, variant)"
    )
    parser.add_argument("--warmup", type=int, default=30, help="warm-up calls per cell")
    parser.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    parser.add_argument(
        "--breakdown", type=int, default=300, help="samples per part of the hit breakdown"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile of perfkit's hits"
    )
    parser.add_argument("--profile-calls", type=int, default=500, help="calls per profile")
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 rounds of 5 calls")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.warmup, args.breakdown = 4, 5, 5, 50
    run(args)


if __name__ == "__main__":
    main()
