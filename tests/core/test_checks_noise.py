"""Trap 7 of issue 14: perfkit speaks only about what is installed and used.

Slow samples show cache figures only for requests that looked something up in
perfkit.cache; the checks' silence in projects without a sub-app is tested in
``test_checks_projects.py`` (real projects in subprocesses).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from perfkit.metrics.models import SlowRequest
from tests.metrics.helpers import endpoint_counters
from tests.testapp.models import Author
from tests.utils import override_perfkit

# Transactional: perfkit.cache counts invalidations on commit, and bypasses reads
# inside a transaction that wrote (a test transaction would hide both).
pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "POST admin/testapp/author/add/"


def test_a_sample_without_cache_lookups_shows_no_cache_figures(
    client: Client, admin_user: User
) -> None:
    """A write invalidates perfkit.cache's tables, but no lookup happened: no "0 hits"."""
    client.force_login(admin_user)
    with override_perfkit({"METRICS_SLOW_MS": 0.001}):
        response = client.post("/admin/testapp/author/add/", {"name": "Ada"})
    assert response.status_code == 302 and Author.objects.filter(name="Ada").exists()
    endpoint_counters(ENDPOINT)
    sample = SlowRequest.objects.get(endpoint=ENDPOINT)
    assert sample.cache.get("invalidations") and not sample.cache.get("hits")
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    body = client.get(url, {"key": ENDPOINT, "window": "1h"}).content.decode()
    assert "POST /admin/testapp/author/add/" in body  # the sample is listed
    assert "cache:" not in body and "0 hits" not in body


def test_a_sample_with_cache_lookups_shows_them(client: Client, admin_user: User) -> None:
    Author.objects.create(name="a")
    with override_perfkit({"METRICS_SLOW_MS": 0.001}):
        assert client.get("/cached-count/").status_code == 200
    endpoint_counters("GET cached-count/")
    client.force_login(admin_user)
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    body = client.get(url, {"key": "GET cached-count/", "window": "1h"}).content.decode()
    assert "cache: 1 hits, 1 misses" in body
