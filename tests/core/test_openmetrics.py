from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from perfkit import api
from perfkit.recording.pipeline import record
from tests.conftest import ROOT
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token"


def scrape(client: Client) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/perfkit/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return next(v for found, v in samples if all(found.get(k) == x for k, x in labels.items()))


def test_exposition_parses_and_counts_across_the_fleet(client: Client) -> None:
    for duration in (1_500, 3_000, 250_000):  # µs
        record(
            "endpoint",
            'GET odd"path\\<x>/',
            {"count": 1, "dur_us": duration, "queries": 2},
            None,
            duration,
        )
    record("cache", "shop_book", {"hits": 3, "misses": 1, "invalidations": 2})
    api.flush()
    api.drain(include_current=True)
    with override_perfkit({"METRICS_EXPORT_TOKEN": TOKEN}):
        metrics = scrape(client)
    endpoint = 'GET odd"path\\<x>/'
    assert value(metrics["perfkit_requests_total"], endpoint=endpoint) == 3
    assert value(metrics["perfkit_queries_total"], endpoint=endpoint) == 6
    buckets = [
        (s[0]["le"], s[1])
        for s in metrics["perfkit_request_duration_seconds_bucket"]
        if s[0]["endpoint"] == endpoint
    ]
    counts = [count for _, count in buckets]
    assert counts == sorted(counts) and buckets[-1] == ("+Inf", 3)
    assert len(buckets) <= 20  # about one bucket per doubling
    assert (
        value(metrics["perfkit_request_duration_seconds_bucket"], endpoint=endpoint, le="0.004")
        == 2
    )
    assert value(metrics["perfkit_cache_hits_total"], label="shop_book") == 3
    assert value(metrics["perfkit_export_jobs"], status="succeeded") == 0


def test_pruning_never_makes_a_counter_go_backwards(client: Client) -> None:
    record("endpoint", "GET a/", {"count": 5})
    api.flush()
    api.drain(include_current=True)
    api.prune(now=datetime.now(tz=UTC) + timedelta(days=3650))
    with override_perfkit({"METRICS_EXPORT_TOKEN": TOKEN}):
        assert value(scrape(client)["perfkit_requests_total"], endpoint="GET a/") == 5


def test_needs_the_token_or_staff(client: Client, admin_user: User) -> None:
    with override_perfkit({"METRICS_EXPORT_TOKEN": TOKEN}):
        assert client.get("/perfkit/metrics/").status_code == 401
        wrong = client.get("/perfkit/metrics/", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
        odd = client.get("/perfkit/metrics/", HTTP_AUTHORIZATION="Bearer t\u00f6ken\u2603")
        assert odd.status_code == 401  # non-ASCII: refused, never a 500
    assert client.get("/perfkit/metrics/", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    client.force_login(admin_user)
    assert client.get("/perfkit/metrics/").status_code == 200


def test_a_staff_session_needs_the_status_permission(client: Client) -> None:
    from django.contrib.auth.models import Permission

    staff = User.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/perfkit/metrics/").status_code == 401
    staff.user_permissions.add(Permission.objects.get(codename="view_perfkitstatus"))
    client.force_login(User.objects.get(pk=staff.pk))  # a fresh permission cache
    assert client.get("/perfkit/metrics/").status_code == 200


def _fleet_process(database_name: str, path: str, count: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PERFKIT_TEST_WORKER_DB": database_name,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "tests.metrics.fleet_client", path, str(count)]
    return subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE)


@pytest.mark.django_db(transaction=True)  # the other processes must see committed rows
def test_one_scrape_counts_the_requests_of_every_process(client: Client) -> None:
    database_name = connection.settings_dict["NAME"]
    others = [_fleet_process(database_name, "/ping/", n) for n in (3, 4)]
    for other in others:
        _, stderr = other.communicate(timeout=120)
        assert other.returncode == 0, stderr.decode()
    api.flush()
    api.drain(include_current=True)
    with override_perfkit({"METRICS_EXPORT_TOKEN": TOKEN}):
        metrics = scrape(client)
    assert value(metrics["perfkit_requests_total"], endpoint="GET ping/") == 7
