from __future__ import annotations

import django
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

import perfkit
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db(databases=["default", "other"])

DOWN_CACHE = {
    "BACKEND": "django_redis.cache.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",
    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
}


def test_live_is_cheap_and_never_limited(client: Client) -> None:
    with override_perfkit({"HEALTH_RATE_LIMIT": "1/m"}):
        for _ in range(3):
            response = client.get("/perfkit/live/")
            assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_health_checks_everything(client: Client) -> None:
    response = client.get("/perfkit/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    names = set(body["checks"])
    assert {
        "database:default",
        "database:other",
        "cache:default",
        "celery_broker",
        "migrations",
    } <= names
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())


def test_a_cache_that_is_down_is_named_in_a_503_without_details_for_anonymous(
    client: Client, admin_user: User
) -> None:
    with override_settings(CACHES={**settings.CACHES, "down": DOWN_CACHE}):
        response = client.get("/perfkit/health/")
        assert response.status_code == 503
        body = response.json()
        assert body["failing"] == ["cache:down"]
        text = response.content.decode()
        for secret in (
            "127.0.0.1",
            "redis://",
            settings.SECRET_KEY,
            django.__version__,
            perfkit.__version__,
            "detail",
        ):
            assert secret not in text
        client.force_login(admin_user)
        staff = client.get("/perfkit/health/").json()
        assert "detail" in staff["checks"]["cache:down"]


def test_health_is_rate_limited_per_ip_but_not_for_staff(client: Client, admin_user: User) -> None:
    with override_perfkit({"HEALTH_RATE_LIMIT": "2/m"}):
        codes = [client.get("/perfkit/health/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert "slow down" in client.get("/perfkit/health/").json()["detail"]
        client.force_login(admin_user)
        assert client.get("/perfkit/health/").status_code == 200


def test_rate_limit_fails_open_when_its_cache_is_down(client: Client) -> None:
    with (
        override_settings(
            CACHES={**settings.CACHES, "down": DOWN_CACHE}, RATELIMIT_USE_CACHE="down"
        ),
        override_perfkit({"HEALTH_RATE_LIMIT": "1/m"}),
    ):
        codes = [client.get("/perfkit/health/").status_code for _ in range(3)]
    assert 429 not in codes  # 503 (the cache is down), never limited, never a 500
