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
    """Every file under perfkit's folder of the storage."""
    storage = export_storage()
    found: list[str] = []
    try:
        folders, _ = storage.listdir(ROOT)
    except (FileNotFoundError, NotImplementedError, OSError):
        return found
    for folder in folders:
        try:
            _, files = storage.listdir(f"{ROOT}/{folder}")
        except (FileNotFoundError, OSError):
            continue
        found.extend(f"{ROOT}/{folder}/{name}" for name in files)
    return found
