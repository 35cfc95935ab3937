"""Local temporary files of running exports: one folder per job, swept when its writer is gone.

A job writes under ``<EXPORTS_TEMP_DIR>/<job id>/`` (by default
``<tempdir>/perfkit-exports/<job id>/``) and removes the folder when it ends.
A worker killed mid-export cannot, so the folder holds a lock (``flock``) for
as long as its process lives: the kernel drops it when the process dies, and
:func:`sweep` (run by the reaper) removes every folder whose lock it can take.
Where ``flock`` is missing (Windows), folders of jobs not running are removed.
Temporary files are local: each host's reaper sweeps its own.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.core.exceptions import ValidationError

from perfkit.conf import perfkit_settings
from perfkit.exports.models import ExportJob

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

ROOT_NAME = "perfkit-exports"
LOCK_NAME = ".lock"


def temp_root() -> Path:
    """The folder perfkit owns for temporary export files."""
    configured = perfkit_settings.EXPORTS_TEMP_DIR
    return Path(configured) if configured else Path(tempfile.gettempdir()) / ROOT_NAME


@contextmanager
def job_temp_dir(job_id: str) -> Iterator[Path]:
    """A folder for ``job_id``'s temporary files, locked while in use, removed after."""
    folder = temp_root() / str(job_id)
    lock = _lock(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)


def _lock(folder: Path) -> int:
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        lock = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is None:  # pragma: no cover - Windows
            return lock
        # A sweep holds the lock only while it deletes the folder of a dead writer;
        # if it did, our lock file is gone with it: make the folder again.
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.fstat(lock).st_ino == os.stat(folder / LOCK_NAME).st_ino:
                return lock
        except FileNotFoundError:
            pass
        os.close(lock)


def sweep() -> int:
    """Remove the temporary folders no live process writes to; returns how many."""
    root = temp_root()
    try:
        folders = [path for path in root.iterdir() if path.is_dir()]
    except FileNotFoundError:
        return 0
    removed = 0
    for folder in folders:
        if fcntl is None:  # pragma: no cover - Windows: trust the job's status
            if not _running(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
            continue
        try:
            lock = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # removed meanwhile
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue  # its writer is alive
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            logger.info(
                "Removed the temporary files of export %s (its writer is gone)", folder.name
            )
        finally:
            os.close(lock)
    return removed


def _running(name: str) -> bool:  # pragma: no cover - Windows
    jobs = ExportJob.objects.using(perfkit_settings.DATABASE_ALIAS)
    with suppress(ValueError, ValidationError):
        return jobs.filter(pk=name, status=ExportJob.Status.RUNNING).exists()
    return False
