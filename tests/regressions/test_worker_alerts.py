"""Alerts sent by a real Celery worker process: a failing webhook is retried with backoff."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from perfkit.regressions import api, tasks
from perfkit.regressions.models import Alert, AlertDelivery
from tests.conftest import WorkerProcess
from tests.regressions.history import write
from tests.regressions.receiver import Receiver
from tests.utils import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

HOUR = timedelta(hours=1)


def test_the_worker_retries_a_failing_webhook_until_it_answers() -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0)
    write(now - timedelta(days=1) - HOUR, 60, ms=50)
    write(now - HOUR, 60, ms=120)
    assert len(api.detect(now).opened) == 1
    queue = f"perfkit-tests-alerts-{uuid.uuid4().hex[:8]}"
    with Receiver(fail_first=1) as receiver:
        worker = WorkerProcess(
            connection.settings_dict["NAME"],
            Path(settings.RUN_DIR) / f"{queue}.log",
            queue=queue,
            extra_env={
                "DJANGO_SETTINGS_MODULE": "tests.regressions.worker_settings",
                "PERFKIT_TEST_ALERT_WEBHOOK": receiver.url,
            },
        )
        try:
            worker.wait_ready()
            tasks.send_alerts.apply_async(queue=queue)
            # The first POST fails (500); the task's retry, after a backoff, gets through.
            assert wait_for(lambda: len(receiver.bodies) == 1, timeout=60), worker.log()
            assert wait_for(lambda: Alert.objects.get().sent_at is not None), worker.log()
        finally:
            worker.stop()
    delivery = AlertDelivery.objects.get()
    assert delivery.attempts == 2 and delivery.sent_at is not None
    assert "HTTP Error 500" in delivery.last_error
    log = worker.log()
    assert "Retry in" in log, log
    assert receiver.attempts == 2 and receiver.bodies[0]["event"] == "opened"
