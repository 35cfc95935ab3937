"""A slow sample's page: repeated statements with their fixes, and EXPLAIN on demand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from perfkit.metrics.models import SlowRequest
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

SELECT_BOOKS = (
    'SELECT "testapp_book"."id", "testapp_book"."title" FROM "testapp_book" '
    'WHERE "testapp_book"."author_id" = %s'
)


def make_sample(
    *statements: dict[str, object], cache_events: dict[str, int] | None = None
) -> SlowRequest:
    now = datetime.now(tz=UTC)
    return SlowRequest.objects.create(
        endpoint="GET books/",
        method="GET",
        path="/books/",
        duration_ms=500,
        queries=12,
        repeated=[{"count": 6, "duplicates": 0, "ms": 3.2, "site": None, **s} for s in statements],
        cache=cache_events or {},
        hour=now.replace(minute=0, second=0, microsecond=0),
        created_at=now,
    )


def staff(django_user_model: type[User], *codenames: str) -> User:
    user = django_user_model.objects.create_user("s", password="x", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def change_url(sample: SlowRequest) -> str:
    return reverse("admin:perfkit_metrics_slowrequest_change", args=[sample.pk])


def explain_url(sample: SlowRequest, index: int = 0, part: str = "repeated") -> str:
    return reverse("admin:perfkit_metrics_slowrequest_explain", args=[sample.pk, part, index])


def test_page_shows_statements_and_fixes_not_raw_json(client: Client, admin_user: User) -> None:
    sample = make_sample(
        {"sql": SELECT_BOOKS, "fix": 'Author.objects.prefetch_related("books")', "fix_note": ""},
        cache_events={"invalidations": 3},
    )
    client.force_login(admin_user)
    body = client.get(change_url(sample)).content.decode()
    assert 'id="perfkit-sample-statements"' in body
    assert "Author.objects.prefetch_related(&quot;books&quot;)" in body
    assert "[{&#x27;count&#x27;" not in body and '{"count"' not in body  # no raw JSON field
    # Invalidations alone are no lookup: no cache line.
    assert 'id="perfkit-sample-cache"' not in body
    assert explain_url(sample) in body


def test_explain_needs_its_own_permission(client: Client, django_user_model: type[User]) -> None:
    sample = make_sample({"sql": SELECT_BOOKS})
    viewer = staff(django_user_model, "view_slowrequest")
    client.force_login(viewer)
    assert explain_url(sample) not in client.get(change_url(sample)).content.decode()
    assert client.get(explain_url(sample)).status_code == 403
    assert client.post(explain_url(sample), {"analyze": "0"}).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="explain_slowrequest"))
    viewer = User.objects.get(pk=viewer.pk)  # fresh permission cache
    client.force_login(viewer)
    assert client.get(explain_url(sample)).status_code == 200
    anonymous = Client().get(explain_url(sample))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_plain_explain_shows_the_plan(client: Client, admin_user: User) -> None:
    sample = make_sample({"sql": SELECT_BOOKS})
    client.force_login(admin_user)
    response = client.post(explain_url(sample), {"analyze": "0"})
    assert response.status_code == 200
    plan = response.context["plan"]
    assert plan is not None and "testapp_book" in plan.text
    assert 'id="perfkit-plan"' in response.content.decode()


@pytest.mark.parametrize(
    "sql",
    [
        'UPDATE "testapp_book" SET "title" = %s',
        'WITH gone AS (DELETE FROM "testapp_book" RETURNING "id") SELECT * FROM gone',
        'SELECT 1; DELETE FROM "testapp_book"',
    ],
)
def test_statements_that_write_are_refused(client: Client, admin_user: User, sql: str) -> None:
    author = Author.objects.create(name="a")
    Book.objects.create(title="kept", author=author)
    sample = make_sample({"sql": sql})
    client.force_login(admin_user)
    assert explain_url(sample) not in client.get(change_url(sample)).content.decode()
    for analyze in ("0", "1"):
        response = client.post(explain_url(sample), {"analyze": analyze, "confirm": "yes"})
        assert response.status_code == 200 and response.context["plan"] is None
        assert 'id="perfkit-explain-refused"' in response.content.decode()
    assert Book.objects.filter(title="kept").exists()


def test_a_statement_cut_when_stored_is_not_explained(client: Client, admin_user: User) -> None:
    with override_perfkit({"METRICS_SAMPLE_SQL_CHARS": 40}):
        sample = make_sample({"sql": SELECT_BOOKS[:40]})
        client.force_login(admin_user)
        response = client.post(explain_url(sample), {"analyze": "0"})
    assert response.context["plan"] is None
    assert "cut to METRICS_SAMPLE_SQL_CHARS" in response.context["refused"]


def test_analyze_needs_a_confirmation_and_stored_parameters(
    client: Client, admin_user: User
) -> None:
    client.force_login(admin_user)
    without = make_sample({"sql": SELECT_BOOKS})
    page = client.get(explain_url(without)).content.decode()
    assert "Run EXPLAIN ANALYZE" not in page  # no parameters stored: nothing to run with
    response = client.post(explain_url(without), {"analyze": "1", "confirm": "yes"})
    assert (
        response.context["plan"] is None and "needs its parameters" in response.context["refused"]
    )
    assert "METRICS_CAPTURE_PARAMS" in response.context["refused"]  # the setting that exists
    author = Author.objects.create(name="a")
    stored = make_sample({"sql": SELECT_BOOKS, "params": repr((author.pk,))})
    assert "Run EXPLAIN ANALYZE" in client.get(explain_url(stored)).content.decode()
    unconfirmed = client.post(explain_url(stored), {"analyze": "1"})
    assert unconfirmed.status_code == 400 and unconfirmed.context["plan"] is None
    if connection.vendor == "postgresql":
        analyzed = client.post(explain_url(stored), {"analyze": "1", "confirm": "yes"})
        assert analyzed.status_code == 200 and "actual time" in analyzed.context["plan"].text


def test_unknown_sample_or_statement_is_a_404(client: Client, admin_user: User) -> None:
    sample = make_sample({"sql": SELECT_BOOKS})
    client.force_login(admin_user)
    assert client.get(explain_url(sample, 5)).status_code == 404
    missing = reverse(
        "admin:perfkit_metrics_slowrequest_explain", args=[sample.pk + 1000, "repeated", 0]
    )
    assert client.get(missing).status_code == 404
    assert (
        client.get("/admin/perfkit_metrics/slowrequest/nope/explain/repeated/0/").status_code == 404
    )


def test_explain_is_rate_limited_per_user(client: Client, admin_user: User) -> None:
    cache.clear()
    sample = make_sample({"sql": SELECT_BOOKS})
    client.force_login(admin_user)
    with override_perfkit({"METRICS_EXPLAIN_RATE_LIMIT": "2/m"}):
        codes = [client.post(explain_url(sample), {"analyze": "0"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_explain_posts_need_the_csrf_token(admin_user: User) -> None:
    sample = make_sample({"sql": SELECT_BOOKS})
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(explain_url(sample), {"analyze": "0"}).status_code == 403
