"""Where export files live: the ``STORAGES`` alias named by ``EXPORTS_STORAGE``."""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.files import File
from django.core.files.storage import Storage, storages

from perfkit.conf import perfkit_settings

logger = logging.getLogger("perfkit.exports")

ROOT = "perfkit_exports"


def export_storage() -> Storage:
    return storages[perfkit_settings.EXPORTS_STORAGE]


def publish(local_path: Path, job_id: str, filename: str) -> str:
    """Save a finished local file to the storage; returns the name it was saved under."""
    with local_path.open("rb") as handle:
        return export_storage().save(f"{ROOT}/{job_id}/{filename}", File(handle, name=filename))


def delete_file(name: str) -> None:
    try:
        export_storage().delete(name)
    except Exception:
        logger.exception("Could not delete export file %s", name)


def list_files() -> list[str]:
    """Every file under perfkit's folder of the storage, at any depth.

    Export files sit at ``<root>/<job>/<file>``, report files one level
    deeper (``<root>/reports/<run>/<file>``).
    """
    storage = export_storage()
    found: list[str] = []
    pending = [ROOT]
    while pending:
        folder = pending.pop()
        try:
            folders, files = storage.listdir(folder)
        except (FileNotFoundError, NotImplementedError, OSError):
            continue
        found.extend(f"{folder}/{name}" for name in files)
        pending.extend(f"{folder}/{name}" for name in folders)
    return sorted(found)
