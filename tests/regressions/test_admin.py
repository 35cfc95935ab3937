from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from perfkit.regressions import api
from perfkit.regressions.models import Alert, Regression
from tests.regressions.history import ENDPOINT, write

pytestmark = pytest.mark.django_db

PAGE = "/admin/perfkit_regressions/regression/"
ACK = PAGE + "acknowledge/"
HOUR = timedelta(hours=1)


def staff(django_user_model: type[User], name: str, *codenames: str) -> User:
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def regression() -> Regression:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    api.record_release("1.0", at=now - 5 * HOUR)
    api.record_release("1.1", at=now - HOUR)
    write(now - 5 * HOUR, 240, per_minute=2, ms=40)
    write(now - HOUR, 60, per_minute=2, ms=100)
    api.detect(now)
    return Regression.objects.get()


def test_the_page_lists_open_regressions_with_before_and_after(
    client: Client, regression: Regression, django_user_model: type[User]
) -> None:
    client.force_login(staff(django_user_model, "viewer", "view_regression"))
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert ENDPOINT in html and "p95 latency (ms)" in html
    assert f"{regression.before:.1f} &rarr; <strong>{regression.after:.1f}</strong> ms" in html
    assert (
        "release 1.0" in html and '<td class="perfkit-release">1.1</td>' in html
    )  # baseline and release
    assert "Running release: <strong>1.1</strong>" in html
    assert "Acknowledge selected" not in html  # viewing only
    assert "/admin/perfkit_metrics/endpointstats/endpoint/?key=GET+shop%2Fbooks%2F" in html


def test_staff_without_the_view_permission_is_refused(
    client: Client, regression: Regression, django_user_model: type[User]
) -> None:
    client.force_login(staff(django_user_model, "nobody"))
    assert client.get(PAGE).status_code == 403
    assert client.post(ACK, {"regression": regression.pk}).status_code == 403


def test_acknowledging_needs_the_change_permission(
    client: Client, regression: Regression, django_user_model: type[User]
) -> None:
    client.force_login(staff(django_user_model, "viewer", "view_regression"))
    assert client.post(ACK, {"regression": regression.pk}).status_code == 403
    regression.refresh_from_db()
    assert regression.acknowledged_at is None


def test_acknowledging_moves_it_to_the_acknowledged_list(
    client: Client, regression: Regression, django_user_model: type[User]
) -> None:
    client.force_login(staff(django_user_model, "oncall", "view_regression", "change_regression"))
    page = client.get(PAGE).content.decode()
    assert "Acknowledge selected" in page
    response = client.post(ACK, {"regression": [regression.pk]}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acknowledged 1 regression: no more reminders." in html
    assert "No open regressions." in html and "Acknowledged, still open" in html
    regression.refresh_from_db()
    assert regression.acknowledged_by == "oncall" and regression.acknowledged_at is not None
    # Its alert had not gone out yet: it never will.
    assert Alert.objects.get().cancelled


def test_acknowledging_is_csrf_protected_and_post_only(
    regression: Regression, django_user_model: type[User]
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff(django_user_model, "oncall", "view_regression", "change_regression"))
    assert client.post(ACK, {"regression": regression.pk}).status_code == 403
    assert client.get(ACK).status_code == 405
    regression.refresh_from_db()
    assert regression.acknowledged_at is None


def test_search_filters_by_endpoint(
    client: Client, regression: Regression, admin_user: User
) -> None:
    client.force_login(admin_user)
    assert ENDPOINT in client.get(PAGE, {"q": "books"}).content.decode()
    assert "No open regressions." in client.get(PAGE, {"q": "authors"}).content.decode()


def test_a_regression_page_is_read_only(
    client: Client, regression: Regression, django_user_model: type[User]
) -> None:
    client.force_login(staff(django_user_model, "oncall", "view_regression", "change_regression"))
    url = f"{PAGE}{regression.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    # Nothing on the page can be saved: no Save buttons, and it says it is a view.
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "<h1>View regression</h1>" in html
    client.post(url, {"endpoint": "GET other/", "after": "1", "before": "1"})
    regression.refresh_from_db()
    assert regression.endpoint == ENDPOINT
