"""A signal to ``make demo``'s own process stops every process of the demo.

IDEs and process managers signal the process they started (make), not its
process group: make passes SIGTERM on to its recipe but not SIGINT, and
nothing at all when it is SIGKILLed. Each way, nothing of the demo may be left.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.demo_process import (
    ROOT,
    demo_env,
    free_port,
    kill_leftovers,
    needs_proc,
    seeded_demo_var,
    sqlite_pass_only,
    wait_until_up,
)
from tests.utils import wait_for

__all__ = ["seeded_demo_var"]  # the fixture, imported for the tests below

pytestmark = [needs_proc, sqlite_pass_only, pytest.mark.worker]

STOP_SECONDS = 60.0  # the supervisor gives each process 20 s before SIGKILL


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_a_signal_to_make_alone_stops_every_demo_process(
    signum: signal.Signals, seeded_demo_var: Path
) -> None:
    port = free_port()
    # -o: the venv counts as up to date (make would otherwise reinstall it here).
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "demo", f"PORT={port}"],
        cwd=ROOT,
        env=demo_env(seeded_demo_var),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a process group of its own, as under an IDE
    )
    procs = []
    try:
        procs = wait_until_up(make.pid, port)
        os.kill(make.pid, signum)  # make's pid only, not its process group
        stopped = wait_for(lambda: not any(p.alive for p in procs), STOP_SECONDS)
        left = [f"{p.pid} {p.cmdline}" for p in procs if p.alive]
        assert stopped, f"{signum.name} to make left {left} running"
        make.wait(timeout=STOP_SECONDS)
    finally:
        kill_leftovers(procs)
        if make.poll() is None:
            make.kill()
            make.wait()
