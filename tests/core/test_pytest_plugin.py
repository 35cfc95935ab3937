"""perfkit's pytest plugin: no flush thread, a flush after each db test (issue #12, item 9)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest_plugins = ["pytester"]

USERS_TESTS = '''
import json
import os
import time

import pytest
from django.conf import settings
from django.test import Client

from perfkit.conf import perfkit_settings
from perfkit.models import Rollup
from perfkit.recording.backends.base import Recorder
from perfkit.recording.pipeline import pipeline


class FileRecorder(Recorder):
    """Writes what it is given to a file, after a query (refused without db access)."""

    def write(self, batch, batch_id=None):
        Rollup.objects.count()
        with open(os.environ["FLUSHED_TO"], "a") as out:
            for (kind, key, _), aggregate in batch.items():
                out.write(json.dumps([kind, key, aggregate.counters]) + "\\n")


settings.PERFKIT["RECORDER"] = "test_users.FileRecorder"
perfkit_settings.clear_cache()


def test_without_database_access():
    Client().get("/ping/")
    pipeline.record("test", "no db", {"count": 1})
    time.sleep(0.5)  # a flush thread would flush meanwhile, into the db blocker


def test_another_without_database_access():
    time.sleep(0.3)


@pytest.mark.django_db
def test_with_database_access():
    for _ in range(3):
        pipeline.record("test", "db", {"count": 1})


@pytest.mark.django_db(transaction=True)
def test_with_transactions(client):
    client.get("/ping/")
    time.sleep(0.3)
'''


def test_users_suites_never_flush_from_a_thread_and_flush_after_each_db_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flushed = tmp_path / "flushed.jsonl"
    pytester.makepyfile(test_users=USERS_TESTS)
    pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FLUSHED_TO", str(flushed))
    monkeypatch.setenv("PERFKIT_TEST_FLUSH_INTERVAL", "0.05")  # a flush thread would run
    monkeypatch.delenv("PERFKIT_TEST_RUN_DIR")  # its own test database
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=true",
        "--log-cli-level=WARNING",
        "-o",
        "python_files=test_users.py",
        "-W",
        "ignore::DeprecationWarning",
        timeout=120,
    )
    output = result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=4)
    assert "recorder failed" not in output, output
    assert "failures so far" not in output, output  # no perfkit error at all, exit included
    counts: dict[tuple[str, str], int] = {}
    for line in flushed.read_text().splitlines():
        kind, key, counters = json.loads(line)
        if kind in ("test", "endpoint"):
            counts[kind, key] = counts.get((kind, key), 0) + counters["count"]
    # pytest-django runs db tests first; the others' counts wait for a db test.
    assert counts == {("test", "db"): 3, ("endpoint", "GET ping/"): 1}
