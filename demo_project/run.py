"""Start the demo: web server, Celery worker, Celery beat and a traffic generator.

``make demo`` runs this after migrating and seeding. Ctrl-C (or SIGTERM)
stops every process it started, whole process groups included.
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


def commands(port: int, traffic: bool) -> dict[str, list[str]]:
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
        ]
    return found


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
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    os.chdir(ROOT)
    ensure_admin()
    enable_statement_stats()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for name, argv in commands(args.port, not args.no_traffic).items():
        # Own process group, so Ctrl-C reaches them only through stop().
        processes[name] = subprocess.Popen(argv, start_new_session=True)
        print(f"[demo] started {name} (pid {processes[name].pid})", flush=True)
    print(
        f"\n[demo] Shop:  http://127.0.0.1:{args.port}/\n"
        f"[demo] Admin: http://127.0.0.1:{args.port}/admin/  "
        f"(user {ADMIN_USER!r}, password {ADMIN_PASSWORD!r})\n"
        "[demo] Ctrl-C stops everything.\n",
        flush=True,
    )
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"[demo] {name} exited with {process.returncode}; stopping", flush=True)
                stopping, exit_code = True, 1
        time.sleep(0.5)
    print("[demo] stopping...", flush=True)
    stop(processes)
    print("[demo] all processes stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
