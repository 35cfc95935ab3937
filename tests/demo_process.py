"""Run the real demo (``make demo`` or its supervisor) from tests, and watch its processes.

The demo runs on SQLite under a temporary ``PERFKIT_DEMO_VAR`` and a free port,
so it never touches a developer's ``var/`` or a running demo.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.utils import wait_for

ROOT = Path(__file__).resolve().parent.parent
PROC = Path("/proc")
# Settings the demo reads from the environment that must not leak in from the test run.
DEMO_ENV_VARS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
SEED_SCALE = "0.05"  # a few hundred books: every page has rows, seeding takes a second

needs_proc = pytest.mark.skipif(
    not (PROC / "self" / "stat").exists(), reason="needs Linux /proc to list the demo's processes"
)
# The demo runs on its own SQLite and file cache whatever the test database is:
# one pass (the SQLite one) is enough.
sqlite_pass_only = pytest.mark.skipif(
    bool(os.environ.get("PERFKIT_TEST_DATABASE_URL")),
    reason="the demo runs on its own SQLite database: tested in the SQLite pass",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env(var_dir: Path) -> dict[str, str]:
    """The environment of a demo under ``var_dir``: SQLite, file cache, filesystem broker."""
    env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV_VARS}
    env["DJANGO_SETTINGS_MODULE"] = "demo_project.settings"
    env["PERFKIT_DEMO_VAR"] = str(var_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(var_dir: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=demo_env(var_dir),
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def seeded_demo_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo ``var/`` directory, migrated and seeded small, shared by the session's demos."""
    var_dir = tmp_path_factory.mktemp("demo-var")
    manage(var_dir, "migrate", "--noinput")
    manage(var_dir, "seed_demo", "--scale", SEED_SCALE, "--if-empty")
    return var_dir


@dataclass(frozen=True)
class Proc:
    """A process as /proc shows it; its start time tells it from a later one with its pid."""

    pid: int
    ppid: int
    start: int
    state: str
    cmdline: str

    @property
    def alive(self) -> bool:
        now = read_proc(self.pid)
        return now is not None and now.start == self.start and now.state not in {"Z", "X"}


def read_proc(pid: int) -> Proc | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid ..." where comm may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return Proc(pid, int(fields[1]), int(fields[19]), fields[0], cmdline)


def descendants(root: int) -> list[Proc]:
    """Every living process below ``root``, however deep."""
    by_parent: dict[int, list[Proc]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (proc := read_proc(int(entry.name))) is not None:
            by_parent.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    todo = [root]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            if child.state not in {"Z", "X"}:
                found.append(child)
                todo.append(child.pid)
    return found


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


# The supervisor's children once the demo is fully up (the traffic generator included).
DEMO_PARTS = ("runserver", "worker", "beat", "demo_traffic")


WORKER_PROCESSES = 3  # the worker's main process and its two pool children


def has_every_part(procs: list[Proc]) -> bool:
    workers = sum(" worker " in p.cmdline for p in procs)
    parts = all(any(part in p.cmdline for p in procs) for part in DEMO_PARTS)
    return parts and workers >= WORKER_PROCESSES


def kill_leftovers(procs: list[Proc]) -> None:
    """SIGKILL whatever of ``procs`` still runs (cleanup after a failed test)."""
    for proc in procs:
        if proc.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


def wait_until_up(root: int, port: int, timeout: float = 120.0) -> list[Proc]:
    """The processes below ``root`` once the shop answers and every part of the demo runs."""
    url = f"http://127.0.0.1:{port}/ping/"
    up = wait_for(lambda: answers(url) and has_every_part(descendants(root)), timeout)
    procs = descendants(root)
    assert up, f"the demo did not come up within {timeout:g}s: {[p.cmdline for p in procs]}"
    return procs


@contextlib.contextmanager
def fast_demo(port: int, env: dict[str, str], output: Any = subprocess.DEVNULL) -> Iterator[None]:
    """The demo's supervisor on ``port`` with its traffic at full pace, up until the block ends.

    Its processes are stopped through the supervisor, and any left after a minute killed.
    """
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo_project.run",
            f"--port={port}",
            "--traffic-concurrency=4",
            "--traffic-delay=0",
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
    )
    procs: list[Proc] = []
    try:
        procs = [*wait_until_up(supervisor.pid, port)]
        yield
    finally:
        procs += descendants(supervisor.pid)
        supervisor.terminate()
        try:
            supervisor.wait(timeout=60)
        finally:
            kill_leftovers(procs)
