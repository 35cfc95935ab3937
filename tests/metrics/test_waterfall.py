"""The query waterfall of slow samples: what it stores, bounded, and how it draws."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.urls import reverse

from perfkit import api
from perfkit.metrics import waterfall
from perfkit.metrics.models import SlowRequest
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

RECORD_ALL = {"RECORDER_FLUSH_INTERVAL": 0, "METRICS_SLOW_MS": 0.001}


def sample_of(client: Client, path: str) -> SlowRequest:
    with override_perfkit(RECORD_ALL):
        assert client.get(path).status_code == 200
    assert api.flush()
    return SlowRequest.objects.get(path=path)


def test_an_n_plus_one_sample_keeps_each_statement_in_order(client: Client) -> None:
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=str(i), author=author) for i in range(8))
    sample = sample_of(client, "/n-plus-one/")
    timeline = sample.timeline
    statements, spans = timeline["statements"], timeline["spans"]
    assert [s["count"] for s in statements] == [1, 8]  # the books, then one author per book
    assert "testapp_book" in statements[0]["sql"] and "testapp_author" in statements[1]["sql"]
    assert statements[1]["alias"] == "default"
    assert [index for _, _, index in spans] == [0] + [1] * 8
    starts = [start for start, _, _ in spans]
    assert starts == sorted(starts)
    assert all(0 <= start <= sample.duration_ms for start in starts)
    assert all(0 <= start + length <= sample.duration_ms + 1 for start, length, _ in spans)
    assert timeline["not_shown"] == 0


def test_storage_is_bounded_whatever_the_request_ran(client: Client) -> None:
    sample = sample_of(client, "/many-shapes/")
    timeline = sample.timeline
    assert len(timeline["spans"]) == waterfall.MAX_SPANS
    assert len(timeline["statements"]) == waterfall.MAX_SHAPES
    assert timeline["not_shown"] == 300 - waterfall.MAX_SPANS
    assert {index for _, _, index in timeline["spans"]} >= {waterfall.OTHER}
    assert len(json.dumps(timeline)) < 40_000


def test_sample_page_draws_the_waterfall(client: Client, admin_user: User) -> None:
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=str(i), author=author) for i in range(8))
    sample = sample_of(client, "/n-plus-one/")
    client.force_login(admin_user)
    body = client.get(
        reverse("admin:perfkit_metrics_slowrequest_change", args=[sample.pk])
    ).content.decode()
    assert 'class="perfkit-waterfall"' in body
    assert body.count(f'fill="{waterfall.N_PLUS_ONE_COLOR}"') == 2 * 8  # lane and request bar
    assert "outside the database" in body
    explain = reverse("admin:perfkit_metrics_slowrequest_explain", args=[sample.pk, "timeline", 1])
    assert explain in body
    assert client.post(explain, {"analyze": "0"}).context["plan"] is not None


@pytest.mark.parametrize(
    "timeline",
    [{}, {"spans": "nope"}, {"spans": [[1, 2]], "statements": "x"}, {"spans": [[0, 1, 7]]}, []],
)
def test_malformed_timelines_draw_nothing_or_what_is_readable(
    client: Client, admin_user: User, timeline: object
) -> None:
    sample = SlowRequest.objects.create(
        endpoint="GET x/",
        duration_ms=10,
        timeline=timeline,
        hour="2026-01-01T00:00:00Z",
        created_at="2026-01-01T00:00:00Z",
    )
    client.force_login(admin_user)
    url = reverse("admin:perfkit_metrics_slowrequest_change", args=[sample.pk])
    assert client.get(url).status_code == 200


@pytest.mark.django_db(databases=["default", "other"])
def test_statements_keep_the_alias_they_ran_on(client: Client) -> None:
    """EXPLAIN runs a stored statement on the database that ran it."""
    try:
        sample = sample_of(client, "/repeated-on-other/")
    finally:
        connections["other"].close()  # its own session would keep the test database open
    (repeated,) = sample.repeated
    assert repeated["count"] == 6 and repeated["alias"] == "other"
    assert sample.timeline["statements"][0]["alias"] == "other"
