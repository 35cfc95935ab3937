from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from perfkit.metrics.models import SlowRequest
from perfkit.models import Resolution, Rollup
from perfkit.recording import histogram
from perfkit.recording.query import WINDOWS
from tests.metrics.helpers import endpoint_counters
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/perfkit_metrics/endpointstats/"


def history(endpoints: int, days: int = 30) -> None:
    """Rollups as a month of traffic leaves them (day, hour and minute rows)."""
    now = datetime.now(tz=UTC)
    rows = []
    for e in range(endpoints):
        key = f"GET generated/{e}/<int:pk>/"
        hist = {str(histogram.bucket_of(1000 * (e % 50 + 1))): 10}
        counters = {"count": 10, "errors": e % 3, "queries": 30, "dur_us": 10_000 * (e + 1)}
        maxima = {"dur_us": 20_000 * (e + 1), "queries": 5}
        buckets = [(Resolution.DAY, now - timedelta(days=d)) for d in range(days)]
        buckets += [(Resolution.HOUR, now - timedelta(hours=h)) for h in range(7 * 24)]
        buckets += [(Resolution.MINUTE, now - timedelta(minutes=m)) for m in range(60)]
        for resolution, when in buckets:
            start = int(when.timestamp()) // resolution * resolution
            rows.append(
                Rollup(
                    kind="endpoint",
                    key=key,
                    resolution=resolution,
                    bucket=datetime.fromtimestamp(start, tz=UTC),
                    counters=counters,
                    maxima=maxima,
                    histogram=hist,
                )
            )
    Rollup.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)


@pytest.fixture
def viewer(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_endpointstats"))
    return user


def test_page_lists_recorded_endpoints_sorted_by_p95(client: Client, admin_user: User) -> None:
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=str(i), author=author) for i in range(6))
    client.get("/n-plus-one/")
    client.get("/ping/")
    endpoint_counters("GET ping/")
    client.force_login(admin_user)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "GET n-plus-one/" in body and "GET ping/" in body
    assert "N+1 ×1" in body
    assert "<svg" in body
    rows = [row.endpoint for row, _ in response.context["rows"]]
    assert rows.index("GET n-plus-one/") < rows.index("GET ping/") or (
        response.context["rows"][0][0].p95 >= response.context["rows"][1][0].p95
    )
    searched = client.get(LIST_URL, {"q": "ping"})
    assert [r.endpoint for r, _ in searched.context["rows"]] == ["GET ping/"]


def test_sorting_and_windows(client: Client, admin_user: User) -> None:
    history(5)
    client.force_login(admin_user)
    for window in WINDOWS:
        response = client.get(LIST_URL, {"window": window, "o": "endpoint"})
        names = [r.endpoint for r, _ in response.context["rows"]]
        assert names == sorted(names) and len(names) == 5, window
    by_p95 = client.get(LIST_URL, {"o": "-p95"}).context["rows"]
    p95s = [r.p95 for r, _ in by_p95]
    assert p95s == sorted(p95s, reverse=True)
    # A bad sort or window falls back to the defaults rather than failing.
    assert client.get(LIST_URL, {"o": "password", "window": "nope"}).status_code == 200


def test_detail_page_shows_charts_and_samples(client: Client, admin_user: User) -> None:

    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=str(i), author=author) for i in range(6))
    with override_perfkit({"METRICS_SLOW_MS": 0.001}):
        client.get("/n-plus-one/")
    endpoint_counters("GET n-plus-one/")
    client.force_login(admin_user)
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    response = client.get(url, {"key": "GET n-plus-one/", "window": "1h"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg") >= 3
    assert "views.py" in body and "in <code>n_plus_one</code>" in body
    assert "Fix: <code>Book.objects.select_related(&quot;author&quot;)</code>" in body
    assert client.get(url, {"key": "GET nothing/"}).status_code == 404


def test_only_staff_with_the_view_permission(
    client: Client, viewer: User, django_user_model: type[User]
) -> None:
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    anonymous = client.get(LIST_URL)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(LIST_URL).status_code == 403
    assert client.get(url, {"key": "GET ping/"}).status_code == 403
    client.force_login(viewer)
    assert client.get(LIST_URL).status_code == 200
    index = client.get("/admin/").content.decode()
    assert "Slow endpoints" in index


def test_samples_on_the_detail_page_need_their_own_view_permission(
    client: Client, viewer: User
) -> None:
    """Samples hold paths, user ids and SQL: the endpoint permission alone does not show them."""
    history(1, days=1)
    key = "GET generated/0/<int:pk>/"
    now = datetime.now(tz=UTC)
    SlowRequest.objects.create(
        endpoint=key,
        method="GET",
        path="/generated/0/secret-path-4711/",
        user_id="user-8152",
        duration_ms=950.0,
        queries=12,
        repeated=[{"count": 11, "sql": 'SELECT "secret_column_9034" FROM t', "site": None}],
        hour=now.replace(minute=0, second=0, microsecond=0),
        created_at=now,
    )
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    client.force_login(viewer)
    response = client.get(url, {"key": key, "window": "1h"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Requests" in body and body.count("<svg") >= 3  # the endpoint's figures are there
    for secret in ("secret-path-4711", "user-8152", "secret_column_9034"):
        assert secret not in body
    viewer.user_permissions.add(Permission.objects.get(codename="view_slowrequest"))
    viewer = User.objects.get(pk=viewer.pk)  # permissions are cached on the instance
    client.force_login(viewer)
    body = client.get(url, {"key": key, "window": "1h"}).content.decode()
    for secret in ("secret-path-4711", "user-8152", "secret_column_9034"):
        assert secret in body


def test_query_count_does_not_grow_with_history(
    client: Client, admin_user: User, django_assert_max_num_queries: object
) -> None:
    client.force_login(admin_user)
    url = reverse("admin:perfkit_metrics_endpointstats_endpoint")
    counts = []
    for endpoints in (3, 500):
        Rollup.objects.all().delete()
        history(endpoints if endpoints < 500 else 500, days=30)
        for window in WINDOWS:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as listing:
                assert client.get(LIST_URL, {"window": window}).status_code == 200
            with CaptureQueriesContext(connection) as detail:
                response = client.get(url, {"key": "GET generated/1/<int:pk>/", "window": window})
                assert response.status_code == 200
            counts.append((len(listing.captured_queries), len(detail.captured_queries)))
    assert len(set(counts)) == 1, counts  # the same for 3 and 500 endpoints, every window
    listing_queries, detail_queries = counts[0]
    assert listing_queries <= 4 and detail_queries <= 5
