"""The stored query is signed: the worker never unpickles bytes it did not verify."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from perfkit.exports import api, engine
from perfkit.exports.models import ExportJob
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db

Status = ExportJob.Status
REFUSED = "the stored query's signature does not match"


def write_marker(path: str) -> None:
    """What a forged pickle runs when it is loaded."""
    Path(path).write_text("pwned")


class Forged:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (write_marker, (self.path,))


def test_a_tampered_query_fails_the_job_and_runs_nothing(tmp_path: Path) -> None:
    Author.objects.create(name="Ann")
    job = api.start(Author.objects.all(), ["name"], "csv")
    marker = tmp_path / "marker"
    ExportJob.objects.filter(pk=job.pk).update(query=pickle.dumps(Forged(marker)))
    assert engine.run(str(job.pk)) == Status.FAILED
    job.refresh_from_db()
    assert REFUSED in job.error and "the job was not run" in job.error
    assert job.file == ""
    assert not marker.exists()


def test_a_job_without_a_signature_fails_clearly() -> None:
    job = api.start(Author.objects.all(), ["name"], "csv")
    ExportJob.objects.filter(pk=job.pk).update(query_signature="")
    assert engine.run(str(job.pk)) == Status.FAILED
    job.refresh_from_db()
    assert REFUSED in job.error and "no signature" in job.error


def test_a_signature_is_bound_to_its_job() -> None:
    """Copying another job's query and signature onto a job does not pass."""
    mine = api.start(Author.objects.filter(name="mine"), ["name"], "csv")
    theirs = api.start(Author.objects.all(), ["name"], "csv")
    ExportJob.objects.filter(pk=mine.pk).update(
        query=theirs.query, query_signature=theirs.query_signature
    )
    assert engine.run(str(mine.pk)) == Status.FAILED
    assert engine.run(str(theirs.pk)) == Status.SUCCEEDED


def test_rotation_accepts_fallback_keys_and_fails_removed_ones() -> None:
    Author.objects.create(name="Ann")
    with override_settings(SECRET_KEY="old-key"):
        kept = api.start(Author.objects.all(), ["name"], "csv")
        dropped = api.start(Author.objects.all(), ["name"], "csv")
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        assert engine.run(str(kept.pk)) == Status.SUCCEEDED
    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=[]):
        assert engine.run(str(dropped.pk)) == Status.FAILED
    dropped.refresh_from_db()
    assert REFUSED in dropped.error and "SECRET_KEY" in dropped.error
