from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches

import tests.celery_app  # noqa: F401  (makes the test Celery app current)
from perfkit.metrics import run, samples
from perfkit.recording import errors, scope
from perfkit.recording.pipeline import pipeline

ROOT = Path(__file__).resolve().parent.parent
needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs PERFKIT_TEST_REDIS_URL (the PostgreSQL + Redis pass)"
)


@pytest.fixture(autouse=True)
def _clean_recording() -> Iterator[None]:
    """Every test starts with empty in-process buffers and a fresh cache."""
    pipeline.buffer.clear()
    pipeline.reset_recorder()
    assert not scope.is_open(), "a previous test left a recording scope open"
    samples.reset()
    errors.reset()
    run.reset_log_limits()
    for alias in settings.CACHES:
        cache = caches[alias]
        # django-redis' clear() is FLUSHDB: it would wipe a concurrent run's keys.
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()
    yield
    pipeline.buffer.clear()
    samples.reset()


class WorkerProcess:
    """A real ``celery worker`` process on the test database and broker."""

    def __init__(
        self,
        database_name: str,
        log_path: Path,
        *,
        queue: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PERFKIT_TEST_WORKER_DB": database_name,
            "PERFKIT_TEST_FLUSH_INTERVAL": "0.2",
            "PERFKIT_TEST_EXPORTS_PROGRESS": "0.01",
            "PERFKIT_TEST_EXPORTS_CHUNK": "100",
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.celery_app",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"perfkit-tests-{uuid.uuid4().hex[:8]}@%h",
                *(["-Q", queue] if queue else []),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"Celery worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[WorkerProcess]:
    """Start one real worker process for the session, on the test database."""
    from django.db import connection

    database_name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail("worker tests need a file or server database, not in-memory SQLite")
    worker = WorkerProcess(database_name, Path(settings.RUN_DIR) / "worker.log")
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server we can stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
