"""A fleet under load: do perfkit's totals stay exact across processes and a Redis restart?

Run from the repository root (PostgreSQL on 127.0.0.1:5432 as ``postgres``
with trust auth, RabbitMQ on 127.0.0.1:5672, ``redis-server`` on the PATH;
see benchmarks/README.md)::

    .venv/bin/python benchmarks/fleet.py                   # 60 s of load per configuration
    .venv/bin/python benchmarks/fleet.py --duration 20     # shorter

Two fleets serve the benchmark project (``overhead_project/``) at once, one
``bare`` (no perfkit) and one ``perfkit-redis`` (``PerfMiddleware``,
``RECORDER="redis"``): each is gunicorn with 4 gthread workers and a Celery
worker with 2 prefork processes on a queue of its own (RabbitMQ). perfkit's
recorder writes to a Redis server this script starts (its own port, AOF with
``appendfsync always``) and kills and restarts once in the middle of the load;
a child process runs ``perfkit_drain`` every few seconds. The load generator
(processes of threads, ``http.client``, keep-alive) alternates between the
fleets in short slots, so both see the same machine; a fifth of its requests
enqueue a task, which writes one row when it runs.

Afterwards both fleets stop gracefully (SIGTERM: gunicorn's workers and
Celery's processes flush at exit), the drain runs a last time, and the
script compares the rollups' totals with the responses the load generator
received and the task rows, exactly, and checks what every perfkit process
said about its flush thread as it exited. Exit status 1 if anything differs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Child, ensure_database, log  # noqa: E402
from benchmarks.overhead_project import common, fleetside  # noqa: E402

BARE, PERFKIT = "bare", "perfkit-redis"
CONFIGS = (BARE, PERFKIT)
DATABASE = "perfkit_bench_fleet"
QUEUE = "perfkit-bench-fleet-{config}"
TASK_ENDPOINT = "task fleet.note_run"
FLUSH_INTERVAL = 1.0  # PERFKIT["RECORDER_FLUSH_INTERVAL"] in the project's settings


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load per fleet")
    parser.add_argument("--slot", type=float, default=5, help="seconds per load slot")
    parser.add_argument("--loaders", type=int, default=2, help="load generator processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per load process")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per fleet")
    parser.add_argument("--celery", type=int, default=2, help="Celery processes per fleet")
    parser.add_argument("--drain-every", type=float, default=3, help="seconds between drains")
    parser.add_argument(
        "--restart",
        choices=("kill", "shutdown", "none"),
        default="kill",
        help="how Redis goes down mid-run: SIGKILL (default) or SHUTDOWN",
    )
    parser.add_argument("--redis-down", type=float, default=3, help="seconds Redis stays down")
    parser.add_argument(
        "--persistence",
        choices=("always", "everysec", "off"),
        default="always",
        help="Redis AOF: appendfsync always (default), everysec, or no persistence at all",
    )
    parser.add_argument("--redis-port", type=int, default=6393)
    parser.add_argument("--ports", default="8391,8392", help="gunicorn ports: bare,perfkit")
    return parser.parse_args()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# Processes ----------------------------------------------------------------


class Redis:
    """perfkit's own Redis: started, killed and restarted by this script only."""

    def __init__(self, port: int, directory: Path, persistence: str) -> None:
        self.port = port
        self.directory = directory
        self.persistence = persistence
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts: list[dict[str, Any]] = []

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.directory), "--save", ""]
        command += ["--logfile", str(self.directory / "redis.log")]
        if self.persistence == "off":
            command += ["--appendonly", "no"]
        else:
            command += ["--appendonly", "yes", "--appendfsync", self.persistence]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 20
        while not self.ping():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, how: str = "shutdown") -> None:
        if self.process is None:
            return
        if how == "kill":
            self.process.kill()
        else:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"SHUTDOWN\r\n")
        self.process.wait(30)
        self.process = None

    def restart(self, how: str, down: float) -> None:
        started = time.monotonic()
        self.stop(how)
        time.sleep(down)
        self.start()
        down = round(time.monotonic() - started, 1)
        self.restarts.append({"how": how, "down_seconds": down})


class Fleet:
    """One configuration's gunicorn and Celery worker, with their logs."""

    def __init__(self, config: str, port: int, args: argparse.Namespace, env: dict[str, str]):
        self.config = config
        self.port = port
        self.logs = Path(env["PERFKIT_BENCH_FIGURES"]).parent
        env = {**env, "PERFKIT_BENCH_CONFIG": config, "PERFKIT_BENCH_QUEUE": queue(config)}
        logs = self.logs
        self.gunicorn = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "benchmarks.overhead_project.wsgi:application"),
                *("--config", "python:benchmarks.overhead_project.gunicorn_conf"),
                *("--workers", str(args.workers), "--worker-class", "gthread", "--threads", "4"),
                *("--bind", f"127.0.0.1:{port}", "--keep-alive", "5", "--graceful-timeout", "60"),
                *("--error-logfile", str(logs / f"gunicorn-{config}.log")),
            ],
            cwd=ROOT,
            env=env,
        )
        self.celery = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "benchmarks.overhead_project.celery_app"),
                *("worker", "--concurrency", str(args.celery), "--pool", "prefork"),
                *("-Q", queue(config), "-n", f"fleet-{config}@%h", "--without-gossip"),
                *("--without-mingle", "--without-heartbeat", "--loglevel", "warning"),
                *("--logfile", str(logs / f"celery-{config}.log")),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,  # its banner; warnings and errors go to the log file
        )

    def stop(self) -> dict[str, int | None]:
        """Graceful stop (SIGTERM: gunicorn's and Celery's warm shutdown); exit codes."""
        for process in (self.gunicorn, self.celery):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in (("gunicorn", self.gunicorn), ("celery", self.celery)):
            try:
                codes[name] = process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = None
        return codes


def queue(config: str) -> str:
    return QUEUE.format(config=config)


# Load ---------------------------------------------------------------------


class Load:
    """The load generator processes, and everything they got back, per configuration."""

    def __init__(self, ctx: Any, loaders: int, threads: int) -> None:
        self.children = [Child(ctx, fleetside.loader) for _ in range(loaders)]
        for child in self.children:
            child.receive("loader start")
        self.threads = threads
        self.responses: dict[str, Counter[str]] = {c: Counter() for c in CONFIGS}
        self.statuses: dict[str, Counter[int]] = {c: Counter() for c in CONFIGS}
        self.failures: dict[str, Counter[str]] = {c: Counter() for c in CONFIGS}
        self.slots: dict[str, list[tuple[int, float]]] = {c: [] for c in CONFIGS}

    def slot(self, config: str, port: int, seconds: float, measured: bool = True) -> int:
        for child in self.children:
            child.conn.send(("slot", (port, seconds, self.threads)))
        results = [child.receive("slot") for child in self.children]
        count = 0
        for result in results:
            self.responses[config].update(result["responses"])
            self.statuses[config].update({int(k): v for k, v in result["statuses"].items()})
            self.failures[config].update(result["failures"])
            count += sum(result["responses"].values())
        if measured:
            elapsed = max(result["elapsed"] for result in results)
            self.slots[config].append((count, elapsed))
        return count

    def rps(self, config: str) -> tuple[float, float]:
        """Requests per second over all measured slots, and the median slot's."""
        slots = self.slots[config]
        total = sum(count for count, _ in slots) / sum(elapsed for _, elapsed in slots)
        return total, statistics.median(count / elapsed for count, elapsed in slots)

    def paired_ratio(self) -> float:
        """Median over slot pairs of perfkit's req/s over bare's (the machine drifts)."""
        pairs = zip(self.slots[PERFKIT], self.slots[BARE], strict=True)
        return statistics.median((p[0] / p[1]) / (b[0] / b[1]) for p, b in pairs)

    def stop(self) -> None:
        for child in self.children:
            child.stop()


# Checks -------------------------------------------------------------------


def endpoint_of(key: str) -> str:
    """``GET /books/`` -> ``/books/`` (the route pattern, as perfkit names the endpoint)."""
    return "/" + key.split(" ", 1)[1].strip("^$/") + "/"


def compare(load: Load, final: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(what, made, in the database) for every path, the tasks and the sum of requests."""
    stored: Counter[str] = Counter()
    tasks_stored = 0
    for key, count in final["endpoints"].items():
        if key == TASK_ENDPOINT:
            tasks_stored += count
        elif key.startswith("task "):
            stored[key] += count
        else:
            stored[endpoint_of(key)] += count
    made = load.responses[PERFKIT]
    rows = [(f"GET {path}", made[path], stored[path]) for path in sorted(made)]
    rows += [(path, 0, stored[path]) for path in sorted(set(stored) - set(made))]
    rows.append(("requests (sum)", sum(made.values()), sum(stored.values())))
    rows.append(("tasks run (rows)", final["task_runs"].get(PERFKIT, 0), tasks_stored))
    return rows


def flush_threads(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every perfkit process's exit figures, and what is wrong with them."""
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    perfkit = [line for line in lines if "recorder" in line]
    problems = []
    for line in perfkit:
        recorder = line["recorder"]
        name = f"{line['role']} pid {line['pid']}"
        if not recorder["flush_thread"]:
            problems.append(f"{name}: no live flush thread")
        if recorder["thread_restarts"]:
            problems.append(f"{name}: flush thread restarted {recorder['thread_restarts']} times")
        if recorder["flush_stale"] or recorder["flush_age_seconds"] is None:
            problems.append(f"{name}: last flush {recorder['flush_age_seconds']} s ago")
    return perfkit, problems


# Main ---------------------------------------------------------------------


def run_slots(args: argparse.Namespace, load: Load, ports: dict[str, int], redis: Redis) -> None:
    """Alternate the fleets in slots; Redis goes down in the middle perfkit slot."""
    pairs = max(1, round(args.duration / args.slot))
    restarter: threading.Thread | None = None

    def restart() -> None:
        time.sleep(min(1.0, args.slot / 4))
        log(f"redis: {args.restart}")
        redis.restart(args.restart, args.redis_down)
        log("redis: back")

    started = time.monotonic()
    for index in range(pairs):
        for config in CONFIGS if index % 2 == 0 else CONFIGS[::-1]:
            if config == PERFKIT and index == pairs // 2 and args.restart != "none":
                restarter = threading.Thread(target=restart)
                restarter.start()
            count = load.slot(config, ports[config], args.slot)
            log(f"slot {index + 1}/{pairs} {config}: {count / args.slot:.0f} req/s")
    if restarter is not None:
        restarter.join()
    log(f"load done in {time.monotonic() - started:.0f} s")


def wait_for_tasks(load: Load, drainer: Child) -> None:
    """Every enqueued task runs before the workers stop (or three minutes pass)."""
    made = {c: load.responses[c]["/enqueue/"] for c in CONFIGS}
    deadline = time.monotonic() + 180
    runs = drainer.call("task_runs")
    while any(runs.get(c, 0) < made[c] for c in CONFIGS) and time.monotonic() < deadline:
        time.sleep(1)
        runs = drainer.call("task_runs")
    log(f"tasks run {runs} of {made} enqueued")


def main() -> int:
    args = parse_args()
    ports = dict(zip(CONFIGS, (int(port) for port in args.ports.split(",")), strict=True))
    for port in (args.redis_port, *ports.values()):
        if not port_free(port):
            raise SystemExit(f"port {port} is in use; pick others (--redis-port, --ports)")
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="perfkit-fleet-"))
    log(f"logs and Redis files in {workdir}")
    figures = workdir / "figures.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PERFKIT_BENCH_DATABASE": DATABASE,
        "PERFKIT_BENCH_REDIS_URL": f"redis://127.0.0.1:{args.redis_port}/0",
        "PERFKIT_BENCH_FIGURES": str(figures),
    }
    os.environ.update(env)  # the spawned children read the same settings

    redis = Redis(args.redis_port, workdir, args.persistence)
    redis.start()
    fleets: dict[str, Fleet] = {}
    ctx = multiprocessing.get_context("spawn")
    drainer: Child | None = None
    load: Load | None = None
    try:
        ensure_database(SimpleNamespace(**{**vars(common), "PG_DATABASE": DATABASE}))
        setup = Child(ctx, fleetside.prepare, ",".join(queue(c) for c in CONFIGS))
        log(f"prepared: {setup.receive('prepare')}")
        setup.process.join(60)

        fleets = {config: Fleet(config, ports[config], args, env) for config in CONFIGS}
        drainer = Child(ctx, fleetside.drainer, str(args.drain_every))
        drainer.receive("drainer start")
        load = Load(ctx, args.loaders, args.threads)
        for config in CONFIGS:  # warm-up, counted like every other request
            log(f"warm-up {config}: {load.slot(config, ports[config], 3, measured=False)}")
        run_slots(args, load, ports, redis)
        load_after = os.getloadavg()
        wait_for_tasks(load, drainer)
        codes = {config: fleet.stop() for config, fleet in fleets.items()}
        log(f"fleets stopped: {codes}")
        final = drainer.call("final")
        drainer.stop()
        drainer = None
    finally:
        if load is not None:
            load.stop()
        if drainer is not None:
            drainer.process.kill()
        for fleet in fleets.values():
            fleet.stop()
        redis.stop("shutdown")

    return report(args, load, final, codes, figures, redis, load_before, load_after)


def report(
    args: argparse.Namespace,
    load: Load,
    final: dict[str, Any],
    codes: dict[str, Any],
    figures: Path,
    redis: Redis,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> int:
    ok = True
    print(f"# Fleet load test: {args.duration:.0f} s of load per fleet, {args.slot:.0f} s slots")
    print(
        f"gunicorn {args.workers} gthread workers x 4 threads and Celery {args.celery} prefork "
        f"processes per fleet; {args.loaders} load processes x {args.threads} threads "
        f"(keep-alive); perfkit_drain every {args.drain_every:.0f} s; Redis restarts: "
        f"{redis.restarts or 'none'} (persistence: {args.persistence})"
    )
    print(f"load average before {load_before}, after {load_after}\n")

    print("| what | made | in the database | equal |")
    print("|---|---:|---:|---|")
    for what, made, stored in compare(load, final):
        equal = made == stored
        ok = ok and equal
        print(f"| {what} | {made:,} | {stored:,} | {'yes' if equal else 'NO'} |")
    failed = sum(load.failures[PERFKIT].values())
    print(f"\nrequests without a response (perfkit fleet): {failed} {dict(load.failures[PERFKIT])}")
    print(f"statuses: {dict(load.statuses[PERFKIT])}; bare fleet: {dict(load.statuses[BARE])}")
    enqueued = load.responses[PERFKIT]["/enqueue/"]
    ran = final["task_runs"].get(PERFKIT, 0)
    print(
        f"tasks enqueued {enqueued:,}, ran {ran:,} (bare fleet: "
        f"{load.responses[BARE]['/enqueue/']:,} / {final['task_runs'].get(BARE, 0):,})"
    )
    ok = ok and failed == 0 and enqueued == ran and not final["redis_left"]
    print(f"drains: {final['drains']}, failed: {final['drain_failures']}")
    print(f"left in Redis after the final drain: {final['redis_left']}")
    print(f"exit codes: {codes}")

    processes, problems = flush_threads(figures)
    print(f"\nflush threads at exit ({len(processes)} perfkit processes):")
    for line in processes:
        recorder = line["recorder"]
        print(
            f"  {line['role']:8} pid {line['pid']}: thread alive {recorder['flush_thread']}, "
            f"restarts {recorder['thread_restarts']}, last flush {recorder['flush_age_seconds']} s "
            f"ago, buffered {recorder['buffered']}, dropped {recorder['dropped']}, "
            f"errors {line['errors']}"
        )
    expected = args.workers + args.celery
    if len(processes) != expected:
        problems.append(f"{len(processes)} processes reported, {expected} expected")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    ok = ok and not problems

    bare_total, bare_median = load.rps(BARE)
    perfkit_total, perfkit_median = load.rps(PERFKIT)
    print("\n| fleet | req/s (all slots) | req/s (median slot) |")
    print("|---|---:|---:|")
    print(f"| bare | {bare_total:,.0f} | {bare_median:,.0f} |")
    print(f"| perfkit (Redis recorder) | {perfkit_total:,.0f} | {perfkit_median:,.0f} |")
    print(
        f"| perfkit / bare | {perfkit_total / bare_total:.3f} | "
        f"{perfkit_median / bare_median:.3f} |"
    )
    print(
        f"| perfkit / bare, median of the {len(load.slots[BARE])} slot pairs | "
        f"{load.paired_ratio():.3f} | |"
    )
    print(f"\nresult: {'EXACT' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
