from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from perfkit import api as core_api
from perfkit.operations import status
from perfkit.recording import errors
from perfkit.regressions import api, tasks
from perfkit.regressions.alerts.deliver import MAX_ATTEMPTS
from perfkit.regressions.models import Alert, AlertDelivery, Regression
from tests.regressions.history import ENDPOINT, write
from tests.regressions.receiver import Receiver, closed_port_url
from tests.utils import override_perfkit

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EMAIL = {"type": "email", "to": ["ops@example.com"]}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def minute_now() -> datetime:
    return datetime.now(tz=UTC).replace(second=0, microsecond=0)


def slow_then_fast(now: datetime, endpoint: str = ENDPOINT) -> tuple[datetime, datetime]:
    """History that opens a regression at the first time returned and resolves it at the second."""
    opened = now - 3 * HOUR
    write(opened - DAY - HOUR, 60, ms=50, endpoint=endpoint)
    write(opened - HOUR, 60, ms=120, endpoint=endpoint)
    write(now - DAY - HOUR, 60, ms=50, endpoint=endpoint)
    write(now - HOUR, 60, ms=50, endpoint=endpoint)
    return opened, now


def targets(url: str, fmt: str = "json") -> dict[str, Any]:
    return {"REGRESSIONS_ALERTS": [EMAIL, {"type": "webhook", "url": url, "format": fmt}]}


def test_one_email_and_one_webhook_per_new_and_per_resolved_regression(
    receiver: Receiver,
) -> None:
    opened, resolved = slow_then_fast(minute_now())
    with override_perfkit({**targets(receiver.url), "REGRESSIONS_BASE_URL": "https://x.test"}):
        api.detect(opened)
        first = api.deliver_alerts()
        api.detect(opened + timedelta(minutes=5))  # a second beat run
        again = api.deliver_alerts()  # and a retried task
        assert (first.sent, again.sent) == (1, 0)
        assert len(mail.outbox) == 1 and len(receiver.bodies) == 1
        api.detect(resolved)
        api.deliver_alerts()
        api.deliver_alerts()
    assert len(mail.outbox) == 2 and len(receiver.bodies) == 2
    opened_mail, resolved_mail = mail.outbox
    assert opened_mail.to == ["ops@example.com"]
    assert opened_mail.subject.startswith(f"[perfkit] Regression: {ENDPOINT}: p95 ")
    assert "vs a day earlier" in opened_mail.subject
    assert "https://x.test/admin/perfkit_regressions/regression/?q=GET+shop" in opened_mail.body
    assert resolved_mail.subject.startswith(f"[perfkit] Resolved: {ENDPOINT} p95")
    body = receiver.bodies[0]
    assert (body["event"], body["endpoint"], body["metric"]) == ("opened", ENDPOINT, "p95")
    assert body["after"] / body["before"] >= 2 and body["text"].startswith("[perfkit] Regression")
    assert receiver.bodies[1]["event"] == "resolved"


def test_the_slack_preset_posts_a_text_body(receiver: Receiver) -> None:
    opened, _ = slow_then_fast(minute_now())
    with override_perfkit(targets(receiver.url, "slack")):
        api.detect(opened)
        api.deliver_alerts()
    (body,) = receiver.bodies
    assert list(body) == ["text"] and body["text"].startswith(f"[perfkit] Regression: {ENDPOINT}")


def test_alerts_are_rate_limited_and_the_rest_wait(receiver: Receiver) -> None:
    now = minute_now()
    for number in range(3):
        write(now - DAY - HOUR, 60, ms=50, endpoint=f"GET e{number}/")
        write(now - HOUR, 60, ms=150, endpoint=f"GET e{number}/")
    with override_perfkit({**targets(receiver.url), "REGRESSIONS_ALERTS_PER_HOUR": 2}):
        api.detect(now)
        result = api.deliver_alerts(now)
        assert (result.sent, result.deferred) == (2, 1)
        assert api.deliver_alerts(now + timedelta(minutes=10)).sent == 0
        assert api.deliver_alerts(now + HOUR + timedelta(minutes=1)).sent == 1
    assert len(receiver.bodies) == 3 and len(mail.outbox) == 3


@pytest.mark.parametrize("failure", ["refused", "500"])
def test_a_failing_webhook_is_counted_and_retried_never_raised(failure: str) -> None:
    opened, _ = slow_then_fast(minute_now())
    with Receiver(status=500) as failing:
        url = failing.url if failure == "500" else closed_port_url()
        with override_perfkit(targets(url)):
            api.detect(opened)
            outcome = tasks.send_alerts.apply()  # eager: Celery's retries run at once
    # The task retried with backoff until its retries ran out; nothing reached the caller.
    assert outcome.failed()
    attempts = 1 + (tasks.send_alerts.max_retries or 0)
    assert attempts == MAX_ATTEMPTS
    if failure == "500":
        assert failing.attempts == attempts
    webhook = AlertDelivery.objects.get(target=f"webhook:{url}")
    assert webhook.attempts == attempts and webhook.sent_at is None
    assert ("500" in webhook.last_error) if failure == "500" else ("refused" in webhook.last_error)
    # The email went out once, on the first try; the alert is finished (given up on the webhook).
    assert len(mail.outbox) == 1
    assert Alert.objects.get().sent_at is not None
    assert errors.snapshot()["regression alert webhook"].count == attempts
    assert core_api.flush()  # the error counts reach the rollups the status page reads
    core_api.drain(include_current=True)
    rows = {row.source: row for row in status.error_rows()}
    assert rows["regression alert webhook"].last_day == attempts


def test_a_webhook_that_recovers_gets_the_alert_once(receiver: Receiver) -> None:
    opened, _ = slow_then_fast(minute_now())
    receiver.status = 503
    with override_perfkit(targets(receiver.url)):
        api.detect(opened)
        assert api.deliver_alerts().failed == 1
        receiver.status = 200
        assert api.deliver_alerts().sent == 1
        assert api.deliver_alerts().sent == 0
    assert len(receiver.bodies) == 1 and len(mail.outbox) == 1  # email not sent twice


def test_acknowledging_stops_reminders(receiver: Receiver) -> None:
    now = minute_now()
    write(now - DAY - 4 * HOUR, 240, ms=50)
    write(now - 4 * HOUR, 240, ms=150)
    start = now - 3 * HOUR
    with override_perfkit({**targets(receiver.url), "REGRESSIONS_REMIND_HOURS": 1}):
        api.detect(start)
        api.detect(start + HOUR)  # still regressed, unacknowledged, an hour on: a reminder
        api.deliver_alerts(start + HOUR)
        events = [body["event"] for body in receiver.bodies]
        assert events == ["opened", "reminder-1"]
        regression = Regression.objects.get()
        assert api.acknowledge([regression.pk], "alice", start + HOUR) == 1
        api.detect(start + 2 * HOUR)
        api.detect(start + 3 * HOUR)
        api.deliver_alerts(start + 3 * HOUR)
    assert len(receiver.bodies) == 2 and len(mail.outbox) == 2
    regression.refresh_from_db()
    assert regression.acknowledged_by == "alice" and regression.resolved_at is None


def test_the_detect_task_never_sends_alerts_itself(receiver: Receiver) -> None:
    now = minute_now()
    write(now - DAY - HOUR, 60, ms=50)
    write(now - HOUR, 60, ms=120)
    with override_perfkit(targets(receiver.url)):
        counts = tasks.detect.apply().get()
    assert counts["opened"] == 1
    # Sending is another task's work (queued); nothing went out from this one.
    assert receiver.bodies == [] and mail.outbox == []
    assert api.pending_alerts() == 1


def test_bad_targets_are_reported_and_skipped(receiver: Receiver) -> None:
    opened, _ = slow_then_fast(minute_now())
    bad = [{"type": "pager"}, {"type": "webhook", "url": "ftp://x"}, {"type": "email"}]
    with override_perfkit({"REGRESSIONS_ALERTS": [*bad, EMAIL]}):
        api.detect(opened)
        result = api.deliver_alerts()
    assert result.sent == 1 and len(result.problems) == 3 and len(mail.outbox) == 1


def test_the_status_page_shows_failing_alert_deliveries(client: Any, admin_user: Any) -> None:
    opened, _ = slow_then_fast(minute_now())
    with override_perfkit(targets(closed_port_url())):
        api.detect(opened)
        api.deliver_alerts()
    assert core_api.flush()
    core_api.drain(include_current=True)
    client.force_login(admin_user)
    html = client.get("/admin/perfkit/perfkitstatus/").content.decode()
    assert "1 waiting to be sent, 1 target deliveries failing (retried), 0 given up" in html
    assert "regression alert webhook" in html


def test_a_malformed_target_is_a_system_check_error() -> None:
    with override_perfkit({"REGRESSIONS_ALERTS": [{"type": "webhook", "url": "x"}]}):
        with pytest.raises(SystemCheckError, match=r"perfkit_regressions\.E001"):
            call_command("check", "--tag", "perfkit", "--fail-level", "ERROR")
    with override_perfkit({"REGRESSIONS_ALERTS": [EMAIL]}):
        call_command("check", "--tag", "perfkit", "--fail-level", "ERROR")
