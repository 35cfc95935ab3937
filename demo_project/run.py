"""Start the demo: web server, Celery worker, Celery beat and a traffic generator.

``make demo`` runs this after migrating and seeding. Ctrl-C (or SIGTERM)
stops every process it started, whole process groups included. So does the
end of the process that started it: IDEs and process managers signal only
make's pid, and make passes SIGTERM on to its recipe, but on SIGINT it just
waits for the recipe, and a SIGKILLed make passes nothing on (see ParentWatch).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_USER = os.environ.get("PERFKIT_DEMO_ADMIN", "admin")
ADMIN_PASSWORD = os.environ.get("PERFKIT_DEMO_PASSWORD", "admin")


def ensure_admin() -> None:
    """Create the demo superuser once."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    if not users.filter(username=ADMIN_USER).exists():
        users.create_superuser(ADMIN_USER, f"{ADMIN_USER}@example.com", ADMIN_PASSWORD)


DEFAULT_RELEASE = "demo-1"


def choose_release() -> None:
    """Name the processes' release: PERFKIT_RELEASE, else the last one recorded, else demo-1.

    ``manage.py demo_release NAME`` records later releases while the demo runs;
    a restarted demo carries on as the last of them.
    """
    if os.environ.get("PERFKIT_RELEASE"):
        return
    from perfkit.regressions.api import current_and_previous

    current, _ = current_and_previous()
    os.environ["PERFKIT_RELEASE"] = current.name if current else DEFAULT_RELEASE


def enable_statement_stats() -> None:
    """On PostgreSQL, create pg_stat_statements when the server preloads it.

    The admin's Database page then lists the top statements; without the
    library preloaded the page says how to enable it instead.
    """
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW shared_preload_libraries")
            if "pg_stat_statements" in cursor.fetchone()[0]:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                return
    except DatabaseError as exc:
        print(f"[demo] pg_stat_statements not enabled: {exc}", flush=True)
        return
    print("[demo] pg_stat_statements is not preloaded: the Database page will say how", flush=True)


def commands(
    port: int, traffic: bool, traffic_options: list[str] | None = None
) -> dict[str, list[str]]:
    py = sys.executable
    var = Path(os.environ.get("PERFKIT_DEMO_VAR", ROOT / "var"))
    found = {
        "web": [py, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": [
            py,
            "-m",
            "celery",
            "-A",
            "demo_project",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
        ],
        "beat": [
            py,
            "-m",
            "celery",
            "-A",
            "demo_project",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(var / "celerybeat-schedule"),
        ],
    }
    if traffic:
        found["traffic"] = [
            py,
            "manage.py",
            "demo_traffic",
            "--base-url",
            f"http://127.0.0.1:{port}",
            *(traffic_options or []),
        ]
    return found


FATAL_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM})


def blocked_signals(pid: int) -> frozenset[int]:
    """The signals ``pid`` blocks now, from Linux's /proc; empty elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return frozenset()
    for line in status.splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return frozenset(n for n in range(1, 65) if mask & (1 << (n - 1)))
    return frozenset()


class ParentWatch:
    """Tells when the supervisor's parent has gone, or is dying of a signal.

    A parent that exits (or is SIGKILLed) leaves us with a new parent pid. GNU
    make, on SIGINT, SIGHUP or SIGQUIT sent to it alone, waits inside its signal
    handler for the recipe to end without passing the signal on; a handler runs
    with its signal blocked, so a fatal signal newly blocked in the parent means
    the parent is waiting for us to stop.
    """

    def __init__(self) -> None:
        self.pid = os.getppid()
        self.blocked_at_start = blocked_signals(self.pid)

    def reason(self) -> str | None:
        """Why to stop now, or None while the parent runs as before."""
        if os.getppid() != self.pid:
            return f"parent process {self.pid} exited"
        handling = (blocked_signals(self.pid) - self.blocked_at_start) & FATAL_SIGNALS
        if handling:
            names = ", ".join(sorted(signal.Signals(n).name for n in handling))
            return f"parent process {self.pid} got {names}"
        return None


def stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process (it stops its own children), SIGKILL what is left after 20 s."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 20
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"[demo] {name} did not stop; killing it", flush=True)
        # Anything left in its process group (e.g. pool children of a killed worker).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-traffic", action="store_true")
    parser.add_argument(
        "--traffic-concurrency", type=int, default=2, help="Traffic threads (default 2)."
    )
    parser.add_argument(
        "--traffic-delay",
        type=float,
        default=0.05,
        help="Pause of each traffic thread between requests, in seconds (default 0.05).",
    )
    args = parser.parse_args()
    traffic_options = [
        f"--concurrency={args.traffic_concurrency}",
        f"--delay={args.traffic_delay}",
    ]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    os.chdir(ROOT)
    # Links in regression alerts point at this demo's admin.
    os.environ.setdefault("PERFKIT_DEMO_BASE_URL", f"http://127.0.0.1:{args.port}")
    ensure_admin()
    choose_release()
    enable_statement_stats()
    parent = ParentWatch()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for name, argv in commands(args.port, not args.no_traffic, traffic_options).items():
        # Own process group, so Ctrl-C reaches them only through stop().
        processes[name] = subprocess.Popen(argv, start_new_session=True)
        print(f"[demo] started {name} (pid {processes[name].pid})", flush=True)
    print(
        f"\n[demo] Shop:  http://127.0.0.1:{args.port}/\n"
        f"[demo] Admin: http://127.0.0.1:{args.port}/admin/  "
        f"(user {ADMIN_USER!r}, password {ADMIN_PASSWORD!r})\n"
        f"[demo] Release {os.environ['PERFKIT_RELEASE']!r}; a bad deploy: "
        "python manage.py demo_release demo-2 --slow\n"
        "[demo] Ctrl-C stops everything.\n",
        flush=True,
    )
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"[demo] {name} exited with {process.returncode}; stopping", flush=True)
                stopping, exit_code = True, 1
        if not stopping and (reason := parent.reason()):
            print(f"[demo] {reason}; stopping", flush=True)
            stopping = True
        time.sleep(0.5)
    print("[demo] stopping...", flush=True)
    stop(processes)
    print("[demo] all processes stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
