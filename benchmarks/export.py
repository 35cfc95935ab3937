"""perfkit's CSV export paths next to a naive export, django-import-export and raw COPY.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as ``postgres``
with trust auth; see benchmarks/README.md)::

    .venv/bin/python benchmarks/export.py                      # ~5 minutes
    .venv/bin/python benchmarks/export.py --skip-generate      # reuse the table
    .venv/bin/python benchmarks/export.py --rows 200000 --small 20000 \
        --methods perfkit-copy,raw-copy                        # a subset, smaller
    .venv/bin/python benchmarks/export.py --profile            # adds cProfile/tracemalloc

The table (``export_project.Item``): an id, a foreign key to one of 20
categories, an integer (negative for about half the rows), a name and a
nullable note (formula-looking text, accents, CJK and emoji, commas, quotes,
line breaks, empty strings and NULLs), a ``decimal(10,2)``, a boolean and an
aware timestamp. PostgreSQL generates it (``INSERT ... SELECT`` over
``generate_series``) into the database ``perfkit_bench_export``, created if
missing.

Methods, each measured in a fresh interpreter of its own (a child process,
``python -m benchmarks.export_project.worker``), so its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``, read when the file is closed) is its
own; every export writes a file on local disk, and the time is the wall time
from the first call to the closed file:

- ``perfkit-copy``: ``write_export(queryset, columns, "csv", path)``, which
  must take the COPY path (checked: ``can_copy`` is true and ``copy_csv`` was
  called);
- ``perfkit-iter``: the same call with ``can_copy`` patched to answer no, so
  ``write_export`` runs its own iterator path (``values_list().iterator()``
  into ``CsvWriter``) on the same columns, for the same file: both paths must
  produce the same bytes, and the report checks that they do;
- ``naive``: ``list(queryset)`` then ``csv.writer``;
- ``import-export``: django-import-export's documented way, a ``ModelResource``
  and ``.export(queryset).csv`` (it builds the whole dataset in memory);
- ``raw-copy``: ``COPY (SELECT <the plain columns> ... ORDER BY id) TO STDOUT
  WITH (FORMAT csv)`` through psycopg: the limit;
- ``raw-copy-perfkit``: perfkit's own statement (``copy_sql``) run by hand.

Each method runs at ``--rows`` (default 1,000,000) and ``--small`` (default
100,000) rows (``id <= N``, ordered by id, as ``perfkit_export`` orders), to
give the peak-RSS growth between the two. django-import-export runs at
``--small`` and a tenth of it only: at a million rows it would take several
minutes and about a gigabyte (the report extrapolates from the two sizes).
Runs are interleaved: each round runs every (method, size) left, in a shuffled
order, so drift of a shared machine hits all methods alike; the COPY methods
run ``--repeat`` times, the slow Python ones ``--slow-repeat`` times, and the
report takes the median time and the largest peak RSS.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.export_project import common  # noqa: E402
from benchmarks.harness import ensure_database, log  # noqa: E402

METHODS = common.METHODS
PERFKIT = ("perfkit-copy", "perfkit-iter")
SLOW = ("perfkit-iter", "naive", "import-export")
COPY_METHODS = ("perfkit-copy", "raw-copy", "raw-copy-perfkit")
# Methods that write the same bytes: perfkit's two paths and its COPY statement by hand.
SAME_BYTES = ("perfkit-copy", "perfkit-iter", "raw-copy-perfkit")
WORKER = "benchmarks.export_project.worker"

TARGET_COPY_VS_PLAIN = 0.5
TARGET_COPY_VS_OWN = 0.9
TARGET_ITER_VS_IMPORT_EXPORT = 3.0
TARGET_RSS_GROWTH_MB = 30.0


def child(*args: str) -> dict[str, Any]:
    """Run one worker command in a fresh interpreter; its last stdout line is JSON."""
    done = subprocess.run(
        [sys.executable, "-m", WORKER, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {' '.join(args)} failed with exit code {done.returncode}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# Planning -----------------------------------------------------------------


def sizes_of(method: str, full: int, small: int) -> tuple[int, ...]:
    """The row counts ``method`` is measured at, largest first."""
    if method == "import-export":
        return (small, max(1, small // 10))
    return (full, small)


def plan(args: argparse.Namespace, full: int) -> list[list[tuple[str, int]]]:
    """Rounds of (method, size) runs.

    In every round the COPY methods of one size run back to back (in a
    shuffled order), so their ratios can also be taken round by round; those
    groups and the slow runs are shuffled.
    """
    wanted: dict[tuple[str, int], int] = {}
    for method in args.methods:
        for size in sizes_of(method, full, args.small):
            wanted[(method, size)] = args.slow_repeat if method in SLOW else args.repeat
    if "raw-copy" in args.methods:
        # The ratio column needs raw COPY at every size any method uses.
        for size in {size for _, size in wanted}:
            wanted.setdefault(("raw-copy", size), args.repeat)
    rng = random.Random(args.seed)
    rounds = []
    for index in range(max(wanted.values(), default=0)):
        groups: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for (method, size), count in wanted.items():
            if count > index:
                key = ("copy", size) if method in COPY_METHODS else (method, size)
                groups.setdefault(key, []).append((method, size))
        ordered = list(groups.values())
        rng.shuffle(ordered)
        for group in ordered:
            rng.shuffle(group)
        rounds.append([run for group in ordered for run in group])
    return rounds


# Report -------------------------------------------------------------------


Results = dict[tuple[str, int], list[dict[str, Any]]]


def median_seconds(runs: list[dict[str, Any]]) -> float:
    return statistics.median(run["seconds"] for run in runs)


def peak(runs: list[dict[str, Any]]) -> float:
    return max(run["peak_rss_mb"] for run in runs)


def server_cpu(runs: list[dict[str, Any]]) -> float | None:
    """Median CPU seconds of the PostgreSQL backend (None when it is not on this machine)."""
    spent = [run["server_cpu_seconds"] for run in runs]
    return None if None in spent else statistics.median(spent)


def fmt(value: float | None, width: int, spec: str = ".2f") -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"


def paired(results: Results, method: str, other: str, size: int) -> list[float]:
    """Per round, ``method``'s throughput over ``other``'s (both ran back to back)."""
    times = {run["round"]: run["seconds"] for run in results.get((other, size), [])}
    return sorted(
        times[run["round"]] / run["seconds"]
        for run in results.get((method, size), [])
        if run["round"] in times
    )


def total_cpu_ratio(results: Results, method: str, other: str, size: int) -> float | None:
    """``other``'s median CPU (child and PostgreSQL backend) over ``method``'s."""
    mine, theirs = results.get((method, size)), results.get((other, size))
    if not mine or not theirs or server_cpu(mine) is None or server_cpu(theirs) is None:
        return None

    def cpu(runs: list[dict[str, Any]]) -> float:
        return statistics.median(run["cpu_seconds"] + run["server_cpu_seconds"] for run in runs)

    return cpu(theirs) / cpu(mine)


def throughput(results: Results, method: str, size: int) -> float | None:
    runs = results.get((method, size))
    return size / median_seconds(runs) if runs else None


def report(args: argparse.Namespace, results: Results, prepared: dict[str, Any]) -> None:
    full = prepared["full"]
    print(
        f"\nexport benchmark: {prepared['rows']:,} rows in the table "
        f"({prepared['table_mb']:.0f} MB with its index), 8 columns; "
        f"PostgreSQL {prepared['server']}, Python {sys.version.split()[0]}, "
        f"django-import-export {prepared['import_export']}"
    )
    print(
        f"load average {args.load[0]:.2f} before, {args.load[1]:.2f} after "
        f"({os.cpu_count()} CPUs); times are medians of the runs, wall clock; "
        "CPU is the child's own (PostgreSQL's work is not in it)"
    )
    header = (
        f"{'method':17} {'rows':>9} {'runs':>4} {'seconds':>8} {'rows/s':>10} "
        f"{'x raw COPY':>10} {'CPU s':>7} {'PG CPU s':>8} {'RSS start':>9} {'RSS peak':>9}"
    )
    for size in sorted({size for _, size in results}, reverse=True):
        print(f"\n== {size:,} rows")
        print(header)
        raw = throughput(results, "raw-copy", size)
        for method in METHODS:
            runs = results.get((method, size))
            if not runs:
                continue
            rate = size / median_seconds(runs)
            ratio = f"{rate / raw:10.2f}" if raw else f"{'-':>10}"
            print(
                f"{method:17} {size:9,} {len(runs):4} {median_seconds(runs):8.2f} {rate:10,.0f} "
                f"{ratio} {statistics.median(run['cpu_seconds'] for run in runs):7.2f} "
                f"{fmt(server_cpu(runs), 8)} "
                f"{max(run['start_rss_mb'] for run in runs):9.1f} {peak(runs):9.1f}"
            )
    print_memory(results, full, args.small)
    print_checks(results)
    print_targets(results, full, args.small)
    import_export = results.get(("import-export", args.small))
    if import_export:
        minutes = median_seconds(import_export) * full / args.small / 60
        print(
            f"\nnote: django-import-export was measured at {args.small:,} and "
            f"{max(1, args.small // 10):,} rows only, not at {full:,}: at its speed here a "
            f"full-size run would take about {minutes:.1f} minutes on its own, and it builds "
            "the whole dataset in memory (the table above extrapolates its peak RSS)."
        )


def print_memory(results: Results, full: int, small: int) -> None:
    print("\n== peak RSS growth with the row count (largest peak of the runs, MB)")
    print(f"{'method':17} {'big rows':>9} {'small rows':>10} {'big':>8} {'small':>8} {'growth':>8}")
    for method in METHODS:
        big_size, small_size = sizes_of(method, full, small)
        big, little = results.get((method, big_size)), results.get((method, small_size))
        if not big or not little:
            continue
        growth = peak(big) - peak(little)
        line = (
            f"{method:17} {big_size:9,} {small_size:10,} {peak(big):8.1f} {peak(little):8.1f} "
            f"{growth:+8.1f}"
        )
        if big_size != full and big_size > small_size:
            per_row = growth / (big_size - small_size)
            line += f"   (~{peak(little) + per_row * (full - small_size):,.0f} MB at {full:,})"
        print(line)


def print_checks(results: Results) -> None:
    print("\n== checks")
    wrong = [
        f"{method} at {size:,} wrote {run['rows']:,}"
        for (method, size), runs in sorted(results.items())
        for run in runs
        if run["rows"] != size
    ]
    if wrong:
        print(f"FAIL rows: {'; '.join(wrong)}")
    else:
        print("ok   every run wrote the rows it was asked for")
    for (method, size), runs in sorted(results.items()):
        if method == "perfkit-copy":
            ok = all(run["can_copy"] and run["path"] == "copy" for run in runs)
            print(
                f"{'ok  ' if ok else 'FAIL'} perfkit-copy at {size:,}: can_copy() "
                f"{'true, copy_csv called' if ok else 'false or copy_csv not called'}"
            )
        if method == "perfkit-iter":
            ok = all(run["path"] == "iterator" for run in runs)
            calls = max(run["progress_calls"] for run in runs)
            print(
                f"{'ok  ' if ok else 'FAIL'} perfkit-iter at {size:,}: iterator path "
                f"(copy_csv not called; {calls} on_progress calls)"
            )
    sizes = sorted({size for method, size in results if method in SAME_BYTES}, reverse=True)
    for size in sizes:
        digests = {
            method: {run["sha256"] for run in results[(method, size)]}
            for method in SAME_BYTES
            if (method, size) in results
        }
        if len(digests) < 2:
            continue
        same = len(set().union(*digests.values())) == 1
        names = ", ".join(digests)
        print(
            f"{'ok  ' if same else 'FAIL'} {size:,} rows: {names} wrote "
            f"{'the same bytes' if same else 'different bytes'}"
        )


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")


def print_targets(results: Results, full: int, small: int) -> None:
    print("\n== targets (throughput ratios of the median times; then, as a cross-check,")
    print("   the same ratio run by run within each round, and the ratio of CPU seconds")
    print("   of the child and its PostgreSQL backend together)")
    copy = throughput(results, "perfkit-copy", full)
    for limit, target, label in (
        ("raw-copy", TARGET_COPY_VS_PLAIN, "raw COPY of the plain columns"),
        ("raw-copy-perfkit", TARGET_COPY_VS_OWN, "raw COPY of perfkit's own SELECT"),
    ):
        other = throughput(results, limit, full)
        ratio = copy / other if copy and other else None
        shown = f"{ratio:.2f}x of" if ratio is not None else "not measured against"
        print(
            f"{verdict(None if ratio is None else ratio >= target)} COPY path at {full:,} rows: "
            f"{shown} {label} (target >= {target:g}x)"
        )
        rounds = paired(results, "perfkit-copy", limit, full)
        if rounds:
            cpu = total_cpu_ratio(results, "perfkit-copy", limit, full)
            print(
                f"     per round: median {statistics.median(rounds):.2f}x, "
                f"range {rounds[0]:.2f}x-{rounds[-1]:.2f}x ({len(rounds)} rounds); "
                f"CPU: {fmt(cpu, 0)}x"
            )
    iterator = throughput(results, "perfkit-iter", small)
    import_export = throughput(results, "import-export", small)
    ratio = iterator / import_export if iterator and import_export else None
    shown = f"{ratio:.1f}x" if ratio is not None else "not measured against"
    print(
        f"{verdict(None if ratio is None else ratio >= TARGET_ITER_VS_IMPORT_EXPORT)} iterator "
        f"path at {small:,} rows: {shown} django-import-export's throughput "
        f"(target >= {TARGET_ITER_VS_IMPORT_EXPORT:g}x)"
    )
    for method in PERFKIT:
        big, little = results.get((method, full)), results.get((method, small))
        growth = peak(big) - peak(little) if big and little else None
        shown = f"{growth:+.1f} MB" if growth is not None else "not measured"
        print(
            f"{verdict(None if growth is None else growth <= TARGET_RSS_GROWTH_MB)} {method}: "
            f"peak RSS at {full:,} rows vs {small:,}: {shown} (target <= "
            f"{TARGET_RSS_GROWTH_MB:g} MB)"
        )


def print_profile(profile: dict[str, Any], small: int) -> None:
    print(f"\n== profile: perfkit's iterator path over {small:,} rows (cProfile, by tottime)")
    print(profile["cprofile"])
    print(
        f"\ntracemalloc of the same export: peak {profile['traced_peak_mb']:.1f} MB traced, "
        f"{profile['traced_current_mb']:.2f} MB still allocated after it"
    )
    print(f"\nCPU seconds to only fetch the {small:,} rows the iterator path reads (best of 3):")
    costs = profile["fetch_cpu"]
    for label, seconds in costs.items():
        print(f"  {label:20} {seconds:6.2f} s")


# Main ---------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    ensure_database(common)
    log(
        "reusing the table"
        if args.skip_generate
        else f"generating {args.rows:,} rows in {common.PG_DATABASE} ..."
    )
    prepare_args = ["prepare", str(args.rows)]
    if args.skip_generate:
        prepare_args.append("--skip-generate")
    prepared = child(*prepare_args)
    if prepared["generated"]:
        log(f"generated in {prepared['seconds']:.1f} s")
    if prepared["max_id"] != prepared["rows"]:
        raise SystemExit("the items table's ids are not 1..N: run without --skip-generate")
    full = min(args.rows, prepared["rows"])
    if full < args.rows:
        log(f"the table has {prepared['rows']:,} rows: measuring {full:,}, not {args.rows:,}")
    if args.small >= full:
        raise SystemExit(f"--small ({args.small:,}) must be below the row count ({full:,})")
    prepared.update(full=full, **versions())

    rounds = plan(args, full)
    total = sum(len(runs) for runs in rounds)
    results: Results = defaultdict(list)
    done = 0
    with tempfile.TemporaryDirectory(prefix="perfkit-export-bench-") as directory:
        for runs in rounds:
            for method, size in runs:
                result = child("run", method, str(size), directory)
                result["round"] = len(results[(method, size)])
                results[(method, size)].append(result)
                done += 1
                log(
                    f"[{done}/{total}] {method:17} {size:>9,} rows {result['seconds']:7.2f} s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB"
                )
        profile = child("profile", str(args.small), directory) if args.profile else None
    args.load = (load_before, os.getloadavg()[0])
    report(args, results, prepared)
    if profile is not None:
        print_profile(profile, args.small)
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


def versions() -> dict[str, str]:
    """Versions for the report, read without importing Django here."""
    from importlib import metadata

    import psycopg

    try:
        import_export = metadata.version("django-import-export")
    except metadata.PackageNotFoundError:
        import_export = "not installed"
    with psycopg.connect(
        host=common.PG_HOST, port=common.PG_PORT, user=common.PG_USER, dbname=common.PG_DATABASE
    ) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {"server": row[0] if row else "?", "import_export": import_export}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="table size (full export)")
    parser.add_argument(
        "--small", type=int, default=100_000, help="the smaller export, for the RSS growth"
    )
    parser.add_argument(
        "--skip-generate", action="store_true", help="reuse the table of an earlier run"
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of: {', '.join(METHODS)}",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each COPY method")
    parser.add_argument(
        "--slow-repeat", type=int, default=1, help="runs of perfkit-iter, naive, import-export"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="add cProfile and tracemalloc of the iterator path at --small rows",
    )
    args = parser.parse_args(argv)
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    args.methods = [name for name in METHODS if name in methods]
    if "import-export" in args.methods and importlib.util.find_spec("import_export") is None:
        parser.error("import-export needs django-import-export (pip install django-import-export)")
    if args.rows < 2 or args.small < 1 or args.repeat < 1 or args.slow_repeat < 1:
        parser.error("--rows, --small, --repeat and --slow-repeat must be positive")
    return args


if __name__ == "__main__":
    run(parse_args())
