from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings

from perfkit import api
from perfkit.recording import errors

pytestmark = pytest.mark.django_db

URL = "/admin/perfkit/perfkitstatus/"


def test_status_page_shows_errors_from_the_rollups_and_periodic_jobs(
    client: Client, admin_user: User
) -> None:
    errors.report("cache read", ConnectionError("redis is down"))
    errors.report("cache read", ConnectionError("redis is down"))
    api.prune()
    api.flush()
    api.drain(include_current=True)
    client.force_login(admin_user)
    response = client.get(URL)
    assert response.status_code == 200
    rows = {row.source: row for row in response.context["errors"]}
    assert rows["cache read"].last_day == 2 and rows["cache read"].last_hour == 2
    assert "redis is down" in rows["cache read"].last_message
    assert "prune" in dict(response.context["jobs"])
    assert "Recorder" in response.content.decode()


def test_status_page_needs_its_permission(client: Client, django_user_model: type[User]) -> None:
    staff = django_user_model.objects.create_user("s", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_perfkitstatus"))
    assert client.get(URL).status_code == 200
    assert Client().get(URL).status_code == 302


def test_an_error_while_flushing_does_not_deadlock() -> None:
    closed = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    from perfkit.recording.pipeline import pipeline, record

    with override_settings(
        CACHES=closed, PERFKIT={"RECORDER": "redis", "RECORDER_FLUSH_INTERVAL": 30}
    ):
        record("test", "k", {"count": 1})
        assert not api.flush()  # its own error is recorded while the flush lock is held
    pipeline.stop_thread()
    assert pipeline._thread is None
