"""docs/getting-started.md, followed to the letter, gives a project that works.

A fresh ``django-admin startproject myproject`` gets exactly the marked snippets
of the page (the convention is in the comment at its top), nothing from this
repository's test settings. Then, each in its own process as a user runs them:
``check`` (no warning), ``migrate``, requests through the metrics middleware to
a page using the query cache (recorded: endpoint counts, a miss then a hit),
and the page's export typed into ``manage.py shell``, run by a real
``celery -A myproject worker`` until its CSV is in the export storage.

The only thing added to the page's settings is the broker: the page's Redis
URL is swapped for Celery's filesystem transport in a temporary folder, so the
test needs no service and shares no queue. Everything else (the Celery app,
its loading from ``__init__.py``, the storage, the middleware) is the page's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "getting-started.md"
BIN = Path(sys.executable).parent
PROJECT = "myproject"
MARKER = re.compile(r"^<!--\s*(write|append)\s+(\S+)\s*-->\s*$|^<!--\s*(shell)\s*-->\s*$")
FENCE = re.compile(r"^(```|~~~)")
# One process, and no chatter with other workers: only the start is quicker.
WORKER_FLAGS = ["-P", "solo", "--without-mingle", "--without-gossip", "--without-heartbeat"]
WORKER_WAIT = 90  # seconds for the worker to come up and the export to finish

pytestmark = [
    pytest.mark.worker,
    # The fresh project has its own SQLite database whatever the pass: once is enough.
    pytest.mark.skipif(
        bool(os.environ.get("PERFKIT_TEST_DATABASE_URL")),
        reason="runs in the SQLite pass (the fresh project's database is its own SQLite)",
    ),
]


@dataclass
class Snippet:
    action: str  # "write", "append" or "shell"
    path: str  # relative to the project directory; "" for shell
    code: str
    line: int  # of the fence in the page, for messages


def snippets(text: str) -> list[Snippet]:
    """The marked fenced blocks of a Markdown page, in order."""
    found: list[Snippet] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = MARKER.match(lines[i].strip())
        if not match:
            i += 1
            continue
        fence = i + 1
        assert fence < len(lines) and FENCE.match(lines[fence]), (
            f"{PAGE.name}:{i + 1}: a snippet marker must be followed by a fence"
        )
        body, j = [], fence + 1
        while j < len(lines) and not FENCE.match(lines[j]):
            body.append(lines[j])
            j += 1
        action = match.group(1) or match.group(3)
        found.append(Snippet(action, match.group(2) or "", "\n".join(body) + "\n", fence + 1))
        i = j + 1
    return found


def test_the_page_has_snippets_for_every_step() -> None:
    lines = PAGE.read_text().splitlines()
    misspelt = [
        f"{PAGE.name}:{n + 1}: {line}"
        for n, line in enumerate(lines[:-1])
        if line.startswith("<!--") and FENCE.match(lines[n + 1]) and not MARKER.match(line)
    ]
    assert not misspelt, "comments before a fence that are not snippet markers:\n" + "\n".join(
        misspelt
    )
    marked = {(s.action, s.path) for s in snippets(PAGE.read_text())}
    for needed in [
        ("append", f"{PROJECT}/settings.py"),
        ("write", f"{PROJECT}/urls.py"),
        ("write", f"{PROJECT}/celery.py"),
        ("append", f"{PROJECT}/__init__.py"),
        ("shell", ""),
    ]:
        assert needed in marked, f"{PAGE.name} has no snippet marked {needed}"


def clean_env(site: Path) -> dict[str, str]:
    """The environment of a user's shell: nothing of this repository's test setup."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PERFKIT_", "DJANGO_", "CELERY_", "COV_", "PYTEST_"))
        and key not in {"PYTHONPATH", "DATABASE_URL", "REDIS_URL"}
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Site:
    """The fresh project and the commands a user runs in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = clean_env(root)

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        done = subprocess.run(
            args,
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (
            f"{' '.join(args)} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        return done.stdout + done.stderr

    def manage(self, *args: str, stdin: str | None = None) -> str:
        return self.run(str(BIN / "python"), "manage.py", *args, stdin=stdin)

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-startup", "--interface", "python", stdin=code)

    def shell_json(self, code: str) -> dict[str, object]:
        """Run ``code`` in ``manage.py shell``; it prints one JSON line starting ``RESULT``."""
        out = self.shell(code)
        found = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert found, f"no RESULT line in:\n{out}"
        result: dict[str, object] = json.loads(found[-1].removeprefix("RESULT "))
        return result


def make_site(root: Path, page: str) -> tuple[Site, list[Snippet]]:
    """startproject, then the page's write/append snippets; returns the shell ones."""
    root.mkdir()
    site = Site(root)
    site.run(str(BIN / "django-admin"), "startproject", PROJECT, str(root))
    shell_snippets = []
    for snippet in snippets(page):
        if snippet.action == "shell":
            shell_snippets.append(snippet)
            continue
        target = root / snippet.path
        if snippet.action == "append":
            assert target.exists(), f"{PAGE.name}:{snippet.line}: appends to a missing {target}"
            target.write_text(target.read_text() + "\n" + snippet.code)
        else:
            target.write_text(snippet.code)
    # The broker, and only it, differs from the page: no service, no shared queue.
    broker = root.parent / "broker"
    folders = {name: broker / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    with (root / PROJECT / "settings.py").open("a") as settings:
        settings.write(
            "\n# tests/test_getting_started.py: a filesystem broker instead of Redis.\n"
            'CELERY_BROKER_URL = "filesystem://"\n'
            "CELERY_BROKER_TRANSPORT_OPTIONS = {\n"
            f'    "data_folder_in": {str(folders["queue"])!r},\n'
            f'    "data_folder_out": {str(folders["queue"])!r},\n'
            f'    "data_folder_processed": {str(folders["processed"])!r},\n'
            f'    "control_folder": {str(folders["control"])!r},\n'
            "}\n"
        )
    return site, shell_snippets


@contextmanager
def celery_worker(site: Site, log: Path) -> Iterator[None]:
    """``celery -A myproject worker`` (the page's command, one process), ready."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", PROJECT, "worker", "--loglevel=INFO", *WORKER_FLAGS],
            cwd=site.root,
            env=site.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + WORKER_WAIT
        while " ready." not in log.read_text():
            assert process.poll() is None, f"the worker exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the worker is not ready:\n{log.read_text()}"
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


REQUESTS = """
import json

from django.test import Client

from perfkit import api
from perfkit.recording import errors
from perfkit.recording.query import totals

client = Client(HTTP_HOST="localhost")
statuses = [client.get("/groups/").status_code for _ in range(3)]
# A failed flush keeps its rows for the next one (seen once, unexplained: retry).
flushed = any(api.flush() for _ in range(3))
endpoints = {key: agg.counters for key, agg in totals("endpoint")}
cache = {key: agg.counters for key, agg in totals("cache")}
problems = {name: repr(stat) for name, stat in errors.snapshot().items()}
print("RESULT " + json.dumps({
    "statuses": statuses, "flushed": flushed, "problems": problems,
    "endpoints": endpoints, "cache": cache,
}))
"""

AWAIT_EXPORT = f"""
import json
import time

from django.conf import settings
from django.core.files.storage import storages

deadline = time.monotonic() + {WORKER_WAIT}
while job.status in ("pending", "running") and time.monotonic() < deadline:
    time.sleep(0.2)
    job.refresh_from_db()
storage = storages[settings.PERFKIT["EXPORTS_STORAGE"]]
found = bool(job.file) and storage.exists(job.file)
print("RESULT " + json.dumps({{
    "status": job.status,
    "error": job.error,
    "queued": job.queued,
    "path": storage.path(job.file) if found else None,
    "content": storage.open(job.file).read().decode() if found else None,
}}))
"""


def test_a_fresh_project_following_the_page_works(tmp_path: Path) -> None:
    site, shell_snippets = make_site(tmp_path / "site", PAGE.read_text())

    checked = site.manage("check")
    assert "System check identified no issues" in checked, checked
    site.manage("migrate", "--noinput")

    # Metrics and cache: the page's view, through PerfMiddleware.
    seen = site.shell_json(REQUESTS)
    assert seen["statuses"] == [200, 200, 200]
    assert seen["flushed"] is True, seen["problems"]
    endpoints = seen["endpoints"]
    assert isinstance(endpoints, dict)
    assert endpoints.get("GET groups/", {}).get("count") == 3, endpoints
    cache = seen["cache"]
    assert isinstance(cache, dict)
    assert cache.get("groups", {}).get("misses") == 1, cache
    assert cache.get("groups", {}).get("hits") == 2, cache

    # Exports: the page's shell snippet, run by the page's worker command.
    assert shell_snippets, f"{PAGE.name} has no shell snippet (the export)"
    with celery_worker(site, tmp_path / "worker.log"):
        code = "".join(snippet.code for snippet in shell_snippets)
        export = site.shell_json(code + AWAIT_EXPORT)
    log = (tmp_path / "worker.log").read_text()
    assert export["status"] == "succeeded", f"{export}\n--- worker log\n{log}"
    assert export["queued"] is True, export
    path = Path(str(export["path"]))
    assert path.is_file() and path.is_relative_to(site.root / "exports"), export
    content = str(export["content"])
    assert content.splitlines()[0].lower().replace('"', "") == "id,name", content
    assert "editors" in content, content
