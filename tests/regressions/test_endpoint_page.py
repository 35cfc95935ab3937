from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from perfkit import charts
from perfkit.regressions import api
from tests.regressions.history import ENDPOINT, write

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DETAIL = "/admin/perfkit_metrics/endpointstats/endpoint/"


def test_the_endpoint_page_marks_releases_and_compares_them(
    client: Client, admin_user: User
) -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    api.record_release("1.0", at=now - 6 * HOUR)
    api.record_release("1.1", at=now - 2 * HOUR)
    api.record_release("ancient", at=now - 72 * HOUR)  # outside the 24 h window: no marker
    write(now - 6 * HOUR, 240, per_minute=2, ms=40, queries=3)
    write(now - 2 * HOUR, 120, per_minute=2, ms=90, queries=9, n_plus_one=True)
    client.force_login(admin_user)
    page = client.get(DETAIL, {"key": ENDPOINT, "window": "24h"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Release 1.1 against 1.0" in html
    assert '<table id="perfkit-release-comparison">' in html
    assert '<tr><th scope="row">Requests</th><td class="perfkit-num">480</td>' in html
    assert '<td class="perfkit-num">3.0</td><td class="perfkit-num">9.0</td>' in html
    assert '<td class="perfkit-num">0%</td><td class="perfkit-num">100%</td>' in html
    # Both line charts carry a dashed marker per release started in the window.
    assert html.count('<g class="perfkit-marker"><title>1.1</title>') == 2
    assert html.count('<g class="perfkit-marker"><title>1.0</title>') == 2
    assert "<title>ancient</title>" not in html


def test_without_two_releases_the_page_has_no_comparison(client: Client, admin_user: User) -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    write(now - HOUR, 60, ms=40)
    client.force_login(admin_user)
    html = client.get(DETAIL, {"key": ENDPOINT, "window": "24h"}).content.decode()
    assert "perfkit-release-comparison" not in html and "perfkit-marker" not in html


def test_a_marker_sits_at_its_place_on_the_time_axis() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    svg = charts.line_chart([charts.Series("p95", values)], ["a", "e"], "ms", markers=[(2.0, "v2")])
    # 720 wide, 60 for the axis, 10 padding: x = 10 + 2 * (650 - 20) / 4.
    assert '<line x1="325.0" x2="325.0"' in svg and ">v2</text>" in svg
