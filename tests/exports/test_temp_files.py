"""A worker killed mid-export leaves no temporary file behind for long (issue #13, item 5).

Temporary files live under ``<tempdir>/perfkit-exports/<job id>/``; the
reaper removes the folders no live process is writing.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from perfkit.exports import api, engine, tasks, tempfiles
from perfkit.exports.models import ExportJob
from perfkit.exports.queue import RUN_TASK
from tests.conftest import WorkerProcess
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(transaction=True)

Status = ExportJob.Status


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def test_the_default_folder_is_perfkit_exports_in_the_temp_dir(tmp_path: Path) -> None:
    with (
        override_perfkit({"EXPORTS_TEMP_DIR": None}),
        mock.patch("tempfile.tempdir", str(tmp_path)),
    ):
        assert tempfiles.temp_root() == tmp_path / "perfkit-exports"
    with override_perfkit({"EXPORTS_TEMP_DIR": str(tmp_path / "mine")}):
        assert tempfiles.temp_root() == tmp_path / "mine"


def test_a_job_writes_under_its_own_folder_and_removes_it(tmp_path: Path) -> None:
    author = Author.objects.create(name="Ann")
    Book.objects.create(title="t", author=author, pages=1)
    job = api.start(Book.objects.all(), ["title"], "csv")
    seen: list[Path] = []
    real_publish = engine.publish

    def publish(local: Path, job_id: str, filename: str) -> str:
        seen.append(local)
        return real_publish(local, job_id, filename)

    with (
        override_perfkit({"EXPORTS_TEMP_DIR": str(tmp_path)}),
        mock.patch.object(engine, "publish", publish),
    ):
        assert engine.run(str(job.pk)) == Status.SUCCEEDED
    assert seen and seen[0].parent == tmp_path / str(job.pk)
    assert not (tmp_path / str(job.pk)).exists()


def test_the_sweep_keeps_live_folders_and_removes_dead_ones(tmp_path: Path) -> None:
    with override_perfkit({"EXPORTS_TEMP_DIR": str(tmp_path)}):
        dead = tmp_path / "dead-job"
        dead.mkdir()
        (dead / "export.csv").write_text("partial")
        with tempfiles.job_temp_dir("live-job") as live:
            (live / "export.csv").write_text("in progress")
            assert tempfiles.sweep() == 1
            assert (live / "export.csv").exists()
        assert not dead.exists() and not live.exists()


def slow(queryset: Any) -> Any:
    """Each row costs a few milliseconds of database time: the export takes seconds."""
    table = Book._meta.db_table
    if connection.vendor == "postgresql":
        return queryset.extra(where=["pg_sleep(0.003) IS NOT NULL"])
    return queryset.extra(where=[f'length(hex(zeroblob(300000 + "{table}"."id" % 2))) > 0'])


@pytest.mark.worker
def test_a_killed_workers_temp_files_are_removed_by_the_reaper(tmp_path: Path) -> None:
    author = Author.objects.create(name="Ann")
    Book.objects.bulk_create(Book(title=f"b{i}", author=author, pages=i) for i in range(1500))
    temp = tmp_path / "tmp"
    temp.mkdir()
    queue = f"perfkit-kill-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        connection.settings_dict["NAME"],
        Path(settings.RUN_DIR) / f"{queue}.log",
        queue=queue,
        extra_env={"TMPDIR": str(temp)},
    )
    try:
        worker.wait_ready()
        with mock.patch("perfkit.exports.api.enqueue"):  # not to the session's worker
            job = api.start(slow(Book.objects.all()), ["title", "pages"], "jsonl")
        current_app.send_task(RUN_TASK, args=[str(job.pk)], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = ExportJob.objects.get(pk=job.pk).status == Status.RUNNING
            if running and files_under(temp):
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the export never started writing:\n{worker.log()}")
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == Status.RUNNING, "the export finished before the kill: make it slower"
    assert files_under(temp), "the killed worker's partial file is gone already"

    # Its heartbeat stops; the reaper fails it (no more attempts) and sweeps its folder.
    old = timezone.now() - timedelta(minutes=10)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=old, attempts=3)
    with override_perfkit({"EXPORTS_TEMP_DIR": str(temp / "perfkit-exports")}):
        result = tasks.reap_stale()
    assert result["failed"] == 1
    assert files_under(temp) == []
    assert not (temp / "perfkit-exports" / str(job.pk)).exists()
