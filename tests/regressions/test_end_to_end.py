"""Issue #15, acceptance 1 in one test: real requests through PerfMiddleware go slow,
the command finds it, the page lists it, each target gets exactly one alert,
acknowledging stops repeats."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client

from perfkit import api as core_api
from perfkit.models import Resolution, Rollup
from perfkit.regressions import api
from perfkit.regressions.models import Regression
from tests.regressions.history import write
from tests.regressions.receiver import Receiver
from tests.testapp.models import Author, Book
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

ENDPOINT = "GET n-plus-one/"
REQUESTS = 30
HOUR = timedelta(hours=1)


def slow_queries(delay: float) -> Callable[..., Any]:
    """An execute wrapper making every query take ``delay`` seconds longer (the "slow" release)."""

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, *args: Any) -> Any:
        time.sleep(delay)
        return execute(sql, params, *args)

    return wrapper


def test_a_slowed_view_is_listed_alerted_once_and_acknowledged(
    client: Client, django_user_model: type[User]
) -> None:
    author = Author.objects.create(name="a")
    Book.objects.bulk_create(Book(title=str(i), author=author) for i in range(6))
    # The slow version: seven queries of at least 10 ms each, so p95 >= 70 ms.
    with connection.execute_wrapper(slow_queries(0.01)):
        for _ in range(REQUESTS):
            assert client.get("/n-plus-one/").status_code == 200
    assert core_api.flush()
    core_api.drain(include_current=True)
    recorded = Rollup.objects.get(kind="endpoint", key=ENDPOINT, resolution=Resolution.TOTAL)
    queries = recorded.counters["queries"] // REQUESTS
    # The same endpoint a day earlier, at 20 ms and the same queries per request.
    now = datetime.now(tz=UTC)
    write(now - timedelta(days=1) - HOUR, 60, ms=20, queries=queries, endpoint=ENDPOINT)

    settings = {
        "REGRESSIONS_MIN_REQUESTS": REQUESTS,
        "REGRESSIONS_REMIND_HOURS": 1,
        "REGRESSIONS_BASELINE": "day",
    }
    with Receiver() as receiver:
        alerts: list[dict[str, Any]] = [
            {"type": "email", "to": ["ops@example.com"]},
            {"type": "webhook", "url": receiver.url, "format": "slack"},
        ]
        with override_perfkit({**settings, "REGRESSIONS_ALERTS": alerts}):
            out = StringIO()
            call_command("perfkit_regressions", stdout=out)
            assert "1 opened" in out.getvalue() and "alerts: 1 sent" in out.getvalue()
            call_command("perfkit_regressions", stdout=StringIO())  # the next beat run

            oncall = django_user_model.objects.create_user("oncall", password="x", is_staff=True)
            for codename in ("view_regression", "change_regression"):
                oncall.user_permissions.add(Permission.objects.get(codename=codename))
            client.force_login(oncall)
            page = client.get("/admin/perfkit_regressions/regression/").content.decode()
            regression = Regression.objects.get()
            assert ENDPOINT in page and f"{regression.after:.1f}</strong> ms" in page
            assert regression.metric == "p95" and regression.after >= 70
            assert regression.after / regression.before >= 2

            assert len(mail.outbox) == 1 and len(receiver.bodies) == 1
            assert receiver.bodies[0]["text"].startswith(f"[perfkit] Regression: {ENDPOINT}: p95")

            client.post(
                "/admin/perfkit_regressions/regression/acknowledge/", {"regression": regression.pk}
            )
            later = datetime.now(tz=UTC) + 2 * HOUR  # past the reminder interval, still slow
            write(later - timedelta(days=1) - HOUR, 60, ms=20, queries=queries, endpoint=ENDPOINT)
            write(later - HOUR, 60, ms=80, queries=queries, endpoint=ENDPOINT)
            api.detect(later)
            api.deliver_alerts(later)
        assert len(mail.outbox) == 1 and len(receiver.bodies) == 1
    regression.refresh_from_db()
    assert regression.acknowledged_by == "oncall" and regression.resolved_at is None
